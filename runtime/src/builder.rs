//! Putting the pipeline together: the [`Builder`] for code, [`init`] for the environment, and
//! the exporters a [`Config`] names. The one place that knows every layer.

use std::time::Duration;

use crate::capture::CapturePolicy;
use crate::config::{Config, ConfigError, OnFull};
use crate::diag::log_error;
use crate::export::{Exporter, MemoryExporter, NullExporter, StdoutExporter};
use crate::sampler::Sampler;

impl Config {
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
                other => match crate::export::from_name(other, &self.service_name) {
                    Some(r) => out.push(r?),
                    None => {
                        return Err(ConfigError::Invalid {
                            var: "OTEL_TRACES_EXPORTER",
                            value: self.exporter_names.join(","),
                            reason: format!(
                                "exporter {other:?} is not available in this build (enable its cargo feature)"
                            ),
                        });
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

    /// Sets the most spans waiting for export (`OTEL_BSP_MAX_QUEUE_SIZE`), on top of the byte
    /// budget.
    pub fn max_queue_size(mut self, n: usize) -> Self {
        self.config.max_queue_size = Some(n.max(1));
        self
    }

    /// Sets the memory for spans waiting for export, in bytes (`TRACEWELL_BUFFER_BYTES`; at
    /// least 64 KiB).
    pub fn buffer_bytes(mut self, n: usize) -> Self {
        self.config.buffer_bytes = n.max(crate::config::MIN_BUFFER_BYTES);
        self
    }

    /// Sets what a span does when that memory is full (`TRACEWELL_ON_FULL`).
    pub fn on_full(mut self, on_full: OnFull) -> Self {
        self.config.on_full = on_full;
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
        install(self.config, self.exporters, memory)
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
        log_error(format_args!("ignoring bad configuration: {e}"));
    }
    let memory = MemoryExporter::new(config.memory_capacity);
    let exporters = match config.build_exporters(&memory) {
        Ok(x) => x,
        Err(e) => {
            log_error(format_args!("{e}; using the memory exporter"));
            vec![Box::new(memory.clone()) as Box<dyn Exporter>]
        }
    };
    match install(config, exporters, memory) {
        Ok(g) => g,
        Err(e) => {
            log_error(format_args!("{e}"));
            crate::Guard::inert()
        }
    }
}

/// Installs the pipeline, and the panic hook that lets spans record panic messages.
fn install(
    config: Config,
    exporters: Vec<Box<dyn Exporter>>,
    memory: MemoryExporter,
) -> Result<crate::Guard, ConfigError> {
    crate::context::install_panic_hook();
    crate::pipeline::install(config, exporters, memory)
}
