//! Configuration from code ([`Builder`]) and from the environment, with OpenTelemetry's variable
//! names where they exist and `TRACEWELL_*` for the rest.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `OTEL_SERVICE_NAME` | `service.name` of exported spans | `unknown_service` |
//! | `OTEL_TRACES_EXPORTER` | comma-separated: `memory,stdout,file,redis,otlp,zipkin,none` | `memory` |
//! | `OTEL_TRACES_SAMPLER` | `always_on`, `always_off`, `traceidratio`, `parentbased_*` | `parentbased_always_on` |
//! | `OTEL_TRACES_SAMPLER_ARG` | ratio in `[0, 1]` for the ratio samplers | `1.0` |
//! | `OTEL_BSP_MAX_QUEUE_SIZE` | spans each thread may hold before the worker takes them | `2048` |
//! | `OTEL_BSP_SCHEDULED_DELAY` | ms between exports when the queues stay below half full | `5000` |
//! | `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` | spans per exporter call | `512` |
//! | `OTEL_BSP_EXPORT_TIMEOUT` | ms an export (and `flush`) may take | `30000` |
//! | `TRACEWELL_MAX_LEN` | longest captured text, characters | `1000` |
//! | `TRACEWELL_CAPTURE` | `on` / `off`: capture inputs and outputs | `on` |
//! | `TRACEWELL_SCRUB` | `on` / `off`: replace secret-looking values by `[scrubbed]` | `on` |
//! | `TRACEWELL_SECRETS` | extra comma-separated name fragments that mark secrets | |
//! | `TRACEWELL_STDOUT_FORMAT` | `pretty` / `json` for the stdout exporter | `pretty` |
//! | `TRACEWELL_MEMORY_CAPACITY` | spans the memory exporter keeps | `10000` |

use std::time::Duration;

use crate::capture::CapturePolicy;
use crate::context::Sampler;
use crate::export::{Exporter, MemoryExporter, NullExporter, StdoutExporter, StdoutFormat};

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

/// Everything the pipeline is configured with.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `service.name` of exported spans.
    pub service_name: String,
    /// Exporters by name, as `OTEL_TRACES_EXPORTER` lists them (used when none is given in code).
    pub exporter_names: Vec<String>,
    /// The sampler.
    pub sampler: Sampler,
    /// Capacity of each thread's queue of finished spans.
    pub max_queue_size: usize,
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
            service_name: "unknown_service".into(),
            exporter_names: vec!["memory".into()],
            sampler: Sampler::default(),
            max_queue_size: 2048,
            scheduled_delay: Duration::from_millis(5000),
            max_export_batch_size: 512,
            export_timeout: Duration::from_millis(30_000),
            policy: CapturePolicy::default(),
            stdout_format: StdoutFormat::Pretty,
            memory_capacity: crate::export::memory_default_capacity(),
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
    /// assert_eq!(config.max_queue_size, 2048);
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
                let s: Sampler = v
                    .parse()
                    .map_err(|e: crate::context::SamplerError| invalid("OTEL_TRACES_SAMPLER", &v, e.to_string()))?;
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
            take(parse_count("OTEL_BSP_MAX_QUEUE_SIZE", &v).map(|n| c.max_queue_size = n));
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
        if c.max_export_batch_size > c.max_queue_size {
            c.max_export_batch_size = c.max_queue_size;
        }
        (c, errors)
    }

    /// [`Config::from_lookup`] over the process environment.
    pub fn from_env() -> (Config, Vec<ConfigError>) {
        Config::from_lookup(|k| std::env::var(k).ok())
    }

    /// The exporters named in [`Config::exporter_names`].
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for a name whose exporter cannot be built here.
    pub fn build_exporters(&self, memory: &MemoryExporter) -> Result<Vec<Box<dyn Exporter>>, ConfigError> {
        let mut out: Vec<Box<dyn Exporter>> = Vec::new();
        for name in &self.exporter_names {
            match name.as_str() {
                "memory" => out.push(Box::new(memory.clone())),
                "stdout" => out.push(Box::new(
                    StdoutExporter::new(self.stdout_format).with_service_name(self.service_name.clone()),
                )),
                "none" => out.push(Box::new(NullExporter)),
                other => match crate::export::from_name(other, self) {
                    Some(r) => out.push(r?),
                    None => {
                        return Err(invalid(
                            "OTEL_TRACES_EXPORTER",
                            &self.exporter_names.join(","),
                            format!("exporter {other:?} is not available in this build (enable its cargo feature)"),
                        ));
                    }
                },
            }
        }
        Ok(out)
    }
}

/// Builds and installs the pipeline from code. Starts from the environment's configuration;
/// what is set here wins.
///
/// # Examples
///
/// ```
/// use tracewell::{Sampler, export::MemoryExporter};
/// let mem = MemoryExporter::new(100);
/// let guard = tracewell::builder()
///     .service_name("billing")
///     .sampler(Sampler::AlwaysOn)
///     .exporter(mem.clone())
///     .install()
///     .expect("valid configuration");
/// tracewell::in_span("charge", || ());
/// drop(guard); // flushes
/// assert_eq!(mem.spans().len(), 1);
/// ```
#[derive(Debug)]
#[must_use = "call .install() to start the pipeline"]
pub struct Builder {
    config: Config,
    errors: Vec<ConfigError>,
    exporters: Vec<Box<dyn Exporter>>,
}

/// Starts a [`Builder`] from the environment's configuration.
pub fn builder() -> Builder {
    let (config, errors) = Config::from_env();
    Builder { config, errors, exporters: Vec::new() }
}

impl Builder {
    /// Replaces the whole configuration (discarding environment errors).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self.errors.clear();
        self
    }

    /// Sets `service.name`.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.config.service_name = name.into();
        self
    }

    /// Sets the sampler.
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.config.sampler = sampler;
        self
    }

    /// Adds an exporter; once one is added, `OTEL_TRACES_EXPORTER` is not used.
    pub fn exporter(mut self, exporter: impl Exporter) -> Self {
        self.exporters.push(Box::new(exporter));
        self
    }

    /// Sets the per-thread queue capacity.
    pub fn max_queue_size(mut self, n: usize) -> Self {
        self.config.max_queue_size = n.max(1);
        self
    }

    /// Sets the export interval.
    pub fn scheduled_delay(mut self, d: Duration) -> Self {
        self.config.scheduled_delay = d;
        self
    }

    /// Sets the largest batch per exporter call.
    pub fn max_export_batch_size(mut self, n: usize) -> Self {
        self.config.max_export_batch_size = n.max(1);
        self
    }

    /// Sets the export, flush and shutdown time limit.
    pub fn export_timeout(mut self, d: Duration) -> Self {
        self.config.export_timeout = d;
        self
    }

    /// Sets the longest captured text.
    pub fn max_len(mut self, n: usize) -> Self {
        self.config.policy.max_len = n;
        self
    }

    /// Sets the whole capture policy.
    pub fn capture_policy(mut self, policy: CapturePolicy) -> Self {
        self.config.policy = policy;
        self
    }

    /// Installs the pipeline: starts the worker and makes spans record.
    ///
    /// # Errors
    ///
    /// The first bad environment variable, an exporter that cannot be built, or
    /// [`ConfigError::AlreadyInstalled`].
    pub fn install(mut self) -> Result<crate::Guard, ConfigError> {
        if let Some(e) = self.errors.into_iter().next() {
            return Err(e);
        }
        let memory = MemoryExporter::new(self.config.memory_capacity);
        if self.exporters.is_empty() {
            self.exporters = self.config.build_exporters(&memory)?;
        }
        crate::pipeline::install(self.config, self.exporters, memory)
    }
}

/// Installs the pipeline from the environment. A bad variable is reported once on stderr and
/// left at its default; tracewell never makes the program fail to start.
///
/// # Examples
///
/// ```
/// let _tracing = tracewell::init();
/// tracewell::in_span("work", || ());
/// ```
pub fn init() -> crate::Guard {
    let (config, errors) = Config::from_env();
    for e in &errors {
        crate::pipeline::log_error(format_args!("ignoring bad configuration: {e}"));
    }
    let memory = MemoryExporter::new(config.memory_capacity);
    let exporters = match config.build_exporters(&memory) {
        Ok(x) => x,
        Err(e) => {
            crate::pipeline::log_error(format_args!("{e}; using the memory exporter"));
            vec![Box::new(memory.clone()) as Box<dyn Exporter>]
        }
    };
    match crate::pipeline::install(config, exporters, memory) {
        Ok(g) => g,
        Err(e) => {
            crate::pipeline::log_error(format_args!("{e}"));
            crate::Guard::inert()
        }
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
        assert_eq!((c.max_queue_size, c.max_export_batch_size), (100, 50));
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
    fn service_name_falls_back_to_resource_attributes() {
        let (c, _) = Config::from_lookup(lookup(&[("OTEL_RESOURCE_ATTRIBUTES", "team=x, service.name=cart")]));
        assert_eq!(c.service_name, "cart");
    }
}
