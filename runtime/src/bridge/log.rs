//! The `log` bridge: records of the `log` crate become events on the current tracewell span.

use std::borrow::Cow;

use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::context::pending;
use crate::span::{Key, Value, attr};

/// Attribute key of a `log` record's level on its event (`"WARN"`, `"ERROR"`, ...).
///
/// # Examples
///
/// ```
/// let _tracing = tracewell::builder().install().unwrap();
/// let logger = tracewell::bridge::log_logger();
/// tracewell::in_span("load", || {
///     log::Log::log(&logger, &log::Record::builder().args(format_args!("slow")).level(log::Level::Warn).build());
/// });
/// let load = tracewell::collected().into_iter().find(|s| s.name == "load").unwrap();
/// let level = tracewell::Value::from("WARN");
/// assert!(load.events[0].attributes.contains(&(tracewell::bridge::LOG_LEVEL.into(), level)));
/// ```
pub const LOG_LEVEL: &str = "log.level";

/// A [`log::Log`] that turns each record into an event on the span current on the thread that
/// logged it (a `#[traced]` function, a manual span, a future's span, a bridged `tracing` span),
/// and optionally passes every record on to another logger. Made by [`log_logger`].
///
/// A record made while no sampled span is current is not kept by tracewell. The event is named
/// by the message and carries `log.level`, `code.namespace` (the target) and, when the record has
/// them, `code.filepath` and `code.lineno`; an `Error` record sets the span's status to error
/// unless it already has one. Key-value pairs of the `log` crate's `kv` feature are not mapped.
///
/// # Examples
///
/// ```
/// let _tracing = tracewell::builder().install().unwrap();
/// let logger = tracewell::bridge::log_logger().max_level(log::LevelFilter::Debug);
/// tracewell::in_span("load", || {
///     log::Log::log(&logger, &log::Record::builder().args(format_args!("cache miss")).level(log::Level::Debug).build());
/// });
/// let load = tracewell::collected().into_iter().find(|s| s.name == "load").unwrap();
/// assert_eq!(load.events[0].name, "cache miss");
/// ```
pub struct Logger {
    max_level: LevelFilter,
    next: Option<Box<dyn Log>>,
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logger").field("max_level", &self.max_level).field("next", &self.next.is_some()).finish()
    }
}

/// A [`Logger`] that keeps records up to `Info`; install it with [`Logger::try_init`] (or
/// `log::set_boxed_logger`).
///
/// # Examples
///
/// ```
/// let _tracing = tracewell::builder().install().unwrap();
/// tracewell::bridge::log_logger().try_init().expect("no other logger installed");
/// tracewell::in_span("load", || log::warn!("slow disk"));
/// let load = tracewell::collected().into_iter().find(|s| s.name == "load").unwrap();
/// assert_eq!(load.events[0].name, "slow disk");
/// ```
pub fn log_logger() -> Logger {
    Logger { max_level: LevelFilter::Info, next: None }
}

impl Logger {
    /// Keeps records up to `level` (`Info` by default); [`Logger::try_init`] also makes it the
    /// `log` crate's maximum, so more verbose records cost nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let _tracing = tracewell::builder().install().unwrap();
    /// let trace = log::Metadata::builder().level(log::Level::Trace).build();
    /// let verbose = tracewell::bridge::log_logger().max_level(log::LevelFilter::Trace);
    /// let quiet = tracewell::bridge::log_logger();
    /// tracewell::in_span("load", || {
    ///     assert!(log::Log::enabled(&verbose, &trace));
    ///     assert!(!log::Log::enabled(&quiet, &trace));
    /// });
    /// ```
    pub fn max_level(mut self, level: LevelFilter) -> Self {
        self.max_level = level;
        self
    }

    /// Also passes every record up to the maximum level to `next` (e.g. a console logger), which
    /// applies its own filter.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// static SEEN: AtomicUsize = AtomicUsize::new(0);
    /// struct Console;
    /// impl log::Log for Console {
    ///     fn enabled(&self, _: &log::Metadata<'_>) -> bool { true }
    ///     fn log(&self, r: &log::Record<'_>) {
    ///         eprintln!("{} {}", r.level(), r.args());
    ///         SEEN.fetch_add(1, Ordering::Relaxed);
    ///     }
    ///     fn flush(&self) {}
    /// }
    /// let logger = tracewell::bridge::log_logger().and_then(Console);
    /// log::Log::log(&logger, &log::Record::builder().args(format_args!("to stderr")).build());
    /// assert_eq!(SEEN.load(Ordering::Relaxed), 1, "passed on even outside any span");
    /// ```
    pub fn and_then(mut self, next: impl Log + 'static) -> Self {
        self.next = Some(Box::new(next));
        self
    }

    /// Installs this logger as the `log` crate's logger and sets its maximum level.
    ///
    /// # Errors
    ///
    /// [`log::SetLoggerError`] when a logger is already installed (the `log` crate allows one
    /// per process); nothing changes then.
    ///
    /// # Examples
    ///
    /// ```
    /// let _tracing = tracewell::builder().install().unwrap();
    /// if tracewell::bridge::log_logger().try_init().is_err() {
    ///     eprintln!("another logger was installed first");
    /// }
    /// ```
    pub fn try_init(self) -> Result<(), log::SetLoggerError> {
        let level = self.max_level;
        log::set_boxed_logger(Box::new(self))?;
        log::set_max_level(level);
        Ok(())
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.max_level
            && (pending::current_recording().is_some() || self.next.as_ref().is_some_and(|n| n.enabled(metadata)))
    }

    fn log(&self, record: &Record<'_>) {
        if record.level() > self.max_level {
            return;
        }
        if let Some(span_id) = pending::current_recording() {
            let limit = crate::pipeline::with_shared(|s| s.policy.max_len).unwrap_or(0);
            let (event, error) = event_of(record, limit);
            pending::push(span_id, event, error);
        }
        if let Some(next) = &self.next {
            next.log(record);
        }
    }

    fn flush(&self) {
        if let Some(next) = &self.next {
            next.flush();
        }
    }
}

fn event_of(record: &Record<'_>, limit: usize) -> (crate::span::Event, Option<Cow<'static, str>>) {
    let name: Key = match record.args().as_str() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(crate::capture::bounded(limit, |w| std::fmt::Write::write_fmt(w, *record.args()))),
    };
    let target = match record.module_path_static() {
        Some(m) if m == record.target() => Cow::Borrowed(m),
        _ => Cow::Owned(record.target().to_owned()),
    };
    let mut attributes: Vec<(Key, Value)> = Vec::with_capacity(4);
    attributes.push((Cow::Borrowed(LOG_LEVEL), Value::Str(Cow::Borrowed(record.level().as_str()))));
    attributes.push((Cow::Borrowed(attr::TARGET), Value::Str(target)));
    if let Some(file) = record.file_static() {
        attributes.push((Cow::Borrowed("code.filepath"), Value::Str(Cow::Borrowed(file))));
    }
    if let Some(line) = record.line() {
        attributes.push((Cow::Borrowed("code.lineno"), Value::U64(line.into())));
    }
    let error = (record.level() == Level::Error).then(|| name.clone());
    (pending::event(name, attributes), error)
}
