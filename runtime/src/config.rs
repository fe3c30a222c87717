//! Configuration from code ([`Builder`]) and from the environment, with OpenTelemetry's variable
//! names where they exist and `TRACEWELL_*` for the rest.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `OTEL_SERVICE_NAME` | `service.name` of exported spans | `unknown_service` |
//! | `OTEL_TRACES_EXPORTER` | comma-separated: `memory,stdout,file,redis,otlp,zipkin,none` | `memory` |
//! | `OTEL_TRACES_SAMPLER` | `always_on`, `always_off`, `traceidratio`, `parentbased_*` | `parentbased_always_on` |
//! | `OTEL_TRACES_SAMPLER_ARG` | ratio in `[0, 1]` for the ratio samplers | `1.0` |
//! | `OTEL_BSP_MAX_QUEUE_SIZE` | most spans waiting for export (on top of the byte budget) | unset: the byte budget alone |
//! | `OTEL_BSP_SCHEDULED_DELAY` | ms between exports when little is queued | `5000` |
//! | `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` | spans per exporter call | `512` |
//! | `OTEL_BSP_EXPORT_TIMEOUT` | ms an export (and `flush`) may take | `30000` |
//! | `TRACEWELL_BUFFER_BYTES` | memory for spans waiting for export, bytes (`64MiB`, `512K`, `1G` also read) | `64MiB` |
//! | `TRACEWELL_ON_FULL` | `drop` (count and go on) or `wait` when that memory is full | `drop` |
//! | `TRACEWELL_ON_FULL_WAIT_MS` | longest wait for room with `wait`, then the span is dropped | `100` |
//! | `TRACEWELL_MAX_LEN` | longest captured text, characters | `1000` |
//! | `TRACEWELL_CAPTURE` | `on` / `off`: capture inputs and outputs | `on` |
//! | `TRACEWELL_SCRUB` | `on` / `off`: replace secret-looking values by `[scrubbed]` | `on` |
//! | `TRACEWELL_SECRETS` | extra comma-separated name fragments that mark secrets | |
//! | `TRACEWELL_STDOUT_FORMAT` | `pretty` / `json` for the stdout exporter | `pretty` |
//! | `TRACEWELL_MEMORY_CAPACITY` | spans the memory exporter keeps | `10000` |

use std::time::Duration;

use crate::capture::CapturePolicy;
use crate::sampler::{Sampler, SamplerError};

/// A configuration value that could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// An environment variable (or the equivalent builder setting) has a bad value.
    #[error("{var}={value:?}: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// The value found.
        value: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// A pipeline is already installed; drop its guard first.
    #[error("tracewell is already installed; drop the first guard before installing again")]
    AlreadyInstalled,
    /// The worker thread could not be started.
    #[error("could not start the tracewell worker: {0}")]
    Worker(String),
}

/// Names of exporters that `OTEL_TRACES_EXPORTER` may list.
pub const EXPORTER_NAMES: &[&str] = &["memory", "stdout", "file", "redis", "otlp", "zipkin", "none"];

/// How the stdout exporter writes spans.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum StdoutFormat {
    /// `12.3µs add a=1 b=2 -> 3  [trace 4bf9.. span 00f0.. parent ..]`
    #[default]
    Pretty,
    /// One JSON object per line in the NDJSON schema (as the file exporter writes).
    Json,
}

/// `service.name` unless `OTEL_SERVICE_NAME` (or `service.name` in `OTEL_RESOURCE_ATTRIBUTES`) says
/// otherwise, as OpenTelemetry names an unknown service.
pub const DEFAULT_SERVICE_NAME: &str = "unknown_service";

/// How many spans the default memory exporter keeps unless `TRACEWELL_MEMORY_CAPACITY` says
/// otherwise.
pub const DEFAULT_MEMORY_CAPACITY: usize = 10_000;

/// Memory for spans waiting for export unless configured: 64 MiB, about 700,000 spans of a
/// function with two integer arguments and an integer result.
pub const DEFAULT_BUFFER_BYTES: usize = 64 << 20;

/// The smallest span buffer accepted: 64 KiB.
pub const MIN_BUFFER_BYTES: usize = 64 << 10;

/// What a span does when the span buffer is full.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tracewell::OnFull;
/// let _g = tracewell::builder().on_full(OnFull::Wait(Duration::from_millis(50))).install().unwrap();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnFull {
    /// The span is dropped and counted in `Stats::dropped_queue_full`; the caller never waits
    /// (the default, for services where latency matters more than every span).
    #[default]
    Drop,
    /// The calling thread waits for the worker to make room, at most this long, then drops the
    /// span and counts it: for batch and ETL jobs where every span matters more than latency.
    /// A `#[traced] async fn` that waits blocks its runtime worker thread for that time, so keep
    /// the wait short there (or use `Drop`).
    Wait(Duration),
}

/// The wait of [`OnFull::Wait`] unless `TRACEWELL_ON_FULL_WAIT_MS` says otherwise.
pub const DEFAULT_ON_FULL_WAIT: Duration = Duration::from_millis(100);

/// Everything the pipeline is configured with.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `service.name` of exported spans.
    pub service_name: String,
    /// Exporters by name, as `OTEL_TRACES_EXPORTER` lists them (used when none is given in code).
    pub exporter_names: Vec<String>,
    /// The sampler.
    pub sampler: Sampler,
    /// Most spans waiting for export (`OTEL_BSP_MAX_QUEUE_SIZE`); `None`: bounded by
    /// `buffer_bytes` alone.
    pub max_queue_size: Option<usize>,
    /// Memory for spans waiting for export, in bytes (`TRACEWELL_BUFFER_BYTES`).
    pub buffer_bytes: usize,
    /// What a span does when that memory is full (`TRACEWELL_ON_FULL`).
    pub on_full: OnFull,
    /// How long the worker sleeps when the queues stay below their high-water mark.
    pub scheduled_delay: Duration,
    /// Largest batch handed to an exporter.
    pub max_export_batch_size: usize,
    /// Time limit of one export, of `flush()` and of shutdown.
    pub export_timeout: Duration,
    /// Truncation and scrubbing.
    pub policy: CapturePolicy,
    /// Format of the stdout exporter.
    pub stdout_format: StdoutFormat,
    /// Spans kept by the memory exporter.
    pub memory_capacity: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            service_name: DEFAULT_SERVICE_NAME.into(),
            exporter_names: vec!["memory".into()],
            sampler: Sampler::default(),
            max_queue_size: None,
            buffer_bytes: DEFAULT_BUFFER_BYTES,
            on_full: OnFull::Drop,
            scheduled_delay: Duration::from_millis(5000),
            max_export_batch_size: 512,
            export_timeout: Duration::from_millis(30_000),
            policy: CapturePolicy::default(),
            stdout_format: StdoutFormat::Pretty,
            memory_capacity: DEFAULT_MEMORY_CAPACITY,
        }
    }
}

fn invalid(var: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { var, value: value.to_owned(), reason: reason.into() }
}

fn parse_count(var: &'static str, v: &str) -> Result<usize, ConfigError> {
    match v.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(invalid(var, v, "expected a whole number greater than 0")),
    }
}

fn parse_millis(var: &'static str, v: &str) -> Result<Duration, ConfigError> {
    match v.trim().parse::<u64>() {
        Ok(n) => Ok(Duration::from_millis(n)),
        _ => Err(invalid(var, v, "expected milliseconds as a whole number")),
    }
}

/// Bytes, as a whole number with an optional `K`, `M` or `G` (powers of 1024, `KiB`/`KB`/`k`
/// read the same) suffix.
fn parse_bytes(var: &'static str, v: &str) -> Result<usize, ConfigError> {
    let t = v.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let shift = match unit.trim().to_ascii_lowercase().trim_end_matches('b').trim_end_matches('i') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        _ => return Err(invalid(var, v, "expected bytes, such as 67108864, 64MiB or 512K")),
    };
    let n = num.parse::<usize>().ok().and_then(|n| n.checked_mul(1 << shift));
    match n {
        Some(n) if n >= MIN_BUFFER_BYTES => Ok(n),
        Some(_) => Err(invalid(var, v, format!("at least {} KiB are needed", MIN_BUFFER_BYTES >> 10))),
        None => Err(invalid(var, v, "expected bytes, such as 67108864, 64MiB or 512K")),
    }
}

fn parse_switch(var: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" | "all" => Ok(true),
        "off" | "false" | "0" | "no" | "none" => Ok(false),
        _ => Err(invalid(var, v, "expected on or off")),
    }
}

impl Config {
    /// The configuration the environment describes. Each bad variable is reported in the error
    /// list and left at its default.
    ///
    /// # Examples
    ///
    /// ```
    /// use tracewell::Config;
    /// let env = [("OTEL_BSP_MAX_QUEUE_SIZE", "lots"), ("OTEL_SERVICE_NAME", "api")];
    /// let (config, errors) = Config::from_lookup(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()));
    /// assert_eq!(config.service_name, "api");
    /// assert_eq!(config.max_queue_size, None);
    /// assert!(errors[0].to_string().starts_with("OTEL_BSP_MAX_QUEUE_SIZE=\"lots\""));
    /// ```
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> (Config, Vec<ConfigError>) {
        let mut c = Config::default();
        let mut errors = Vec::new();
        let mut take = |r: Result<(), ConfigError>| {
            if let Err(e) = r {
                errors.push(e);
            }
        };
        let non_empty = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        if let Some(v) = non_empty("OTEL_SERVICE_NAME") {
            c.service_name = v.trim().to_owned();
        } else if let Some(attrs) = non_empty("OTEL_RESOURCE_ATTRIBUTES")
            && let Some(name) = attrs.split(',').find_map(|kv| kv.trim().strip_prefix("service.name="))
        {
            c.service_name = name.trim().to_owned();
        }
        if let Some(v) = non_empty("OTEL_TRACES_EXPORTER") {
            take((|| {
                let names: Vec<String> =
                    v.split(',').map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect();
                if let Some(bad) = names.iter().find(|n| !EXPORTER_NAMES.contains(&n.as_str())) {
                    return Err(invalid(
                        "OTEL_TRACES_EXPORTER",
                        &v,
                        format!(
                            "unknown exporter {bad:?}; expected a comma-separated list of {}",
                            EXPORTER_NAMES.join(", ")
                        ),
                    ));
                }
                c.exporter_names = names;
                Ok(())
            })());
        }
        let sampler_arg = non_empty("OTEL_TRACES_SAMPLER_ARG");
        if let Some(v) = non_empty("OTEL_TRACES_SAMPLER") {
            take((|| {
                let s: Sampler =
                    v.parse().map_err(|e: SamplerError| invalid("OTEL_TRACES_SAMPLER", &v, e.to_string()))?;
                c.sampler = s;
                Ok(())
            })());
        }
        if let Some(arg) = sampler_arg {
            take((|| {
                let r: f64 = arg
                    .trim()
                    .parse()
                    .map_err(|_| invalid("OTEL_TRACES_SAMPLER_ARG", &arg, "expected a number in [0, 1]"))?;
                c.sampler = c
                    .sampler
                    .clone()
                    .with_ratio(r)
                    .map_err(|e| invalid("OTEL_TRACES_SAMPLER_ARG", &arg, e.to_string()))?;
                Ok(())
            })());
        }
        if let Some(v) = non_empty("OTEL_BSP_MAX_QUEUE_SIZE") {
            take(parse_count("OTEL_BSP_MAX_QUEUE_SIZE", &v).map(|n| c.max_queue_size = Some(n)));
        }
        if let Some(v) = non_empty("TRACEWELL_BUFFER_BYTES") {
            take(parse_bytes("TRACEWELL_BUFFER_BYTES", &v).map(|n| c.buffer_bytes = n));
        }
        let mut wait = DEFAULT_ON_FULL_WAIT;
        if let Some(v) = non_empty("TRACEWELL_ON_FULL_WAIT_MS") {
            take(parse_millis("TRACEWELL_ON_FULL_WAIT_MS", &v).map(|d| wait = d));
        }
        if let Some(v) = non_empty("TRACEWELL_ON_FULL") {
            take(
                match v.trim().to_ascii_lowercase().as_str() {
                    "drop" => Ok(OnFull::Drop),
                    "wait" => Ok(OnFull::Wait(wait)),
                    _ => Err(invalid("TRACEWELL_ON_FULL", &v, "expected drop or wait")),
                }
                .map(|f| c.on_full = f),
            );
        }
        if let Some(v) = non_empty("OTEL_BSP_SCHEDULED_DELAY") {
            take(parse_millis("OTEL_BSP_SCHEDULED_DELAY", &v).map(|d| c.scheduled_delay = d));
        }
        if let Some(v) = non_empty("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") {
            take(parse_count("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", &v).map(|n| c.max_export_batch_size = n));
        }
        if let Some(v) = non_empty("OTEL_BSP_EXPORT_TIMEOUT") {
            take(parse_millis("OTEL_BSP_EXPORT_TIMEOUT", &v).map(|d| c.export_timeout = d));
        }
        if let Some(v) = non_empty("TRACEWELL_MAX_LEN") {
            take(parse_count("TRACEWELL_MAX_LEN", &v).map(|n| c.policy.max_len = n));
        }
        if let Some(v) = non_empty("TRACEWELL_CAPTURE") {
            take(parse_switch("TRACEWELL_CAPTURE", &v).map(|b| c.policy.capture = b));
        }
        if let Some(v) = non_empty("TRACEWELL_SCRUB") {
            take(parse_switch("TRACEWELL_SCRUB", &v).map(|b| c.policy.scrub = b));
        }
        if let Some(v) = non_empty("TRACEWELL_SECRETS") {
            c.policy.secrets.extend(
                v.split(',')
                    .map(|s| s.trim().replace('-', "_").to_ascii_lowercase())
                    .filter(|s| !s.is_empty())
                    .map(Into::into),
            );
        }
        if let Some(v) = non_empty("TRACEWELL_STDOUT_FORMAT") {
            take(
                match v.trim() {
                    "pretty" => Ok(StdoutFormat::Pretty),
                    "json" => Ok(StdoutFormat::Json),
                    _ => Err(invalid("TRACEWELL_STDOUT_FORMAT", &v, "expected pretty or json")),
                }
                .map(|f| c.stdout_format = f),
            );
        }
        if let Some(v) = non_empty("TRACEWELL_MEMORY_CAPACITY") {
            take(parse_count("TRACEWELL_MEMORY_CAPACITY", &v).map(|n| c.memory_capacity = n));
        }
        if let Some(q) = c.max_queue_size {
            c.max_export_batch_size = c.max_export_batch_size.min(q);
        }
        (c, errors)
    }

    /// [`Config::from_lookup`] over the process environment.
    pub fn from_env() -> (Config, Vec<ConfigError>) {
        Config::from_lookup(|k| std::env::var(k).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn every_variable_is_read() {
        let (c, errors) = Config::from_lookup(lookup(&[
            ("OTEL_SERVICE_NAME", "api"),
            ("OTEL_TRACES_EXPORTER", "stdout, memory"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.5"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
            ("OTEL_BSP_SCHEDULED_DELAY", "250"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "50"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "1000"),
            ("TRACEWELL_MAX_LEN", "64"),
            ("TRACEWELL_CAPTURE", "off"),
            ("TRACEWELL_SCRUB", "off"),
            ("TRACEWELL_SECRETS", "PIN, ssn"),
            ("TRACEWELL_STDOUT_FORMAT", "json"),
        ]));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(c.service_name, "api");
        assert_eq!(c.exporter_names, ["stdout", "memory"]);
        assert_eq!(c.sampler, Sampler::ParentBased(Box::new(Sampler::TraceIdRatio(0.5))));
        assert_eq!((c.max_queue_size, c.max_export_batch_size), (Some(100), 50));
        assert_eq!(c.scheduled_delay, Duration::from_millis(250));
        assert_eq!(c.export_timeout, Duration::from_secs(1));
        assert_eq!(c.policy.max_len, 64);
        assert!(!c.policy.capture && !c.policy.scrub);
        assert!(c.policy.secrets.iter().any(|s| s == "pin"));
        assert_eq!(c.stdout_format, StdoutFormat::Json);
    }

    #[test]
    fn bad_values_name_the_variable_and_keep_defaults() {
        let (c, errors) = Config::from_lookup(lookup(&[
            ("OTEL_TRACES_EXPORTER", "memory,kafka"),
            ("OTEL_TRACES_SAMPLER", "sometimes"),
            ("OTEL_TRACES_SAMPLER_ARG", "2"),
            ("OTEL_BSP_SCHEDULED_DELAY", "-1"),
            ("TRACEWELL_CAPTURE", "maybe"),
        ]));
        assert_eq!(c, Config::default());
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 5, "{text:?}");
        assert!(text[0].starts_with("OTEL_TRACES_EXPORTER=\"memory,kafka\": unknown exporter \"kafka\""));
        assert!(text.iter().any(|t| t.starts_with("OTEL_TRACES_SAMPLER=\"sometimes\"")));
        assert!(text.iter().any(|t| t.starts_with("OTEL_TRACES_SAMPLER_ARG=\"2\"")));
        assert!(text.iter().any(|t| t.starts_with("OTEL_BSP_SCHEDULED_DELAY=\"-1\"")));
        assert!(text.iter().any(|t| t.starts_with("TRACEWELL_CAPTURE=\"maybe\": expected on or off")));
    }

    #[test]
    fn buffer_and_full_policy() {
        let (c, errors) = Config::from_lookup(lookup(&[
            ("TRACEWELL_BUFFER_BYTES", "128MiB"),
            ("TRACEWELL_ON_FULL", "Wait"),
            ("TRACEWELL_ON_FULL_WAIT_MS", "250"),
        ]));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(c.buffer_bytes, 128 << 20);
        assert_eq!(c.on_full, OnFull::Wait(Duration::from_millis(250)));
        for (v, n) in [("1048576", 1 << 20), ("512K", 512 << 10), ("2g", 2 << 30), ("64 MB", 64 << 20)] {
            assert_eq!(parse_bytes("X", v), Ok(n), "{v}");
        }
        let (c, errors) = Config::from_lookup(lookup(&[
            ("TRACEWELL_BUFFER_BYTES", "1K"),
            ("TRACEWELL_ON_FULL", "block"),
            ("TRACEWELL_ON_FULL_WAIT_MS", "soon"),
        ]));
        assert_eq!((c.buffer_bytes, c.on_full), (DEFAULT_BUFFER_BYTES, OnFull::Drop));
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(text.iter().any(|t| t.starts_with("TRACEWELL_BUFFER_BYTES=\"1K\": at least 64 KiB")), "{text:?}");
        assert!(text.iter().any(|t| t.starts_with("TRACEWELL_ON_FULL=\"block\": expected drop or wait")), "{text:?}");
        assert!(text.iter().any(|t| t.starts_with("TRACEWELL_ON_FULL_WAIT_MS=\"soon\"")), "{text:?}");
    }

    #[test]
    fn service_name_falls_back_to_resource_attributes() {
        let (c, _) = Config::from_lookup(lookup(&[("OTEL_RESOURCE_ATTRIBUTES", "team=x, service.name=cart")]));
        assert_eq!(c.service_name, "cart");
    }
}
