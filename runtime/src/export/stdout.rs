//! The stdout exporter: one readable line per span, or NDJSON lines.

use std::io::Write;

use super::{BoxFuture, Delivery, ExportError, Exporter};
pub use crate::config::StdoutFormat;
use crate::span::{Batch, SpanData, StatusCode};

/// Prints each span to standard output, one line per span, written per batch.
///
/// # Examples
///
/// ```
/// use tracewell::export::{StdoutExporter, StdoutFormat};
/// let _g = tracewell::builder().exporter(StdoutExporter::new(StdoutFormat::Pretty)).install().unwrap();
/// tracewell::in_span("hello", || ());
/// ```
#[derive(Debug)]
pub struct StdoutExporter {
    format: StdoutFormat,
    service_name: String,
    buf: Vec<u8>,
}

impl StdoutExporter {
    /// A stdout exporter writing `format`.
    pub fn new(format: StdoutFormat) -> Self {
        StdoutExporter { format, service_name: String::from("unknown_service"), buf: Vec::new() }
    }

    /// Sets the `service_name` written in JSON lines.
    pub fn with_service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = name.into();
        self
    }
}

/// Renders `span` as one readable line (without the newline).
///
/// # Examples
///
/// ```
/// let mut s = tracewell::SpanData { name: "add".into(), end_time_unix_nano: 1500, ..Default::default() };
/// s.inputs.push(("a".into(), 1u64.into()));
/// s.output = Some(3u64.into());
/// let line = tracewell::export::pretty_line(&s);
/// assert!(line.contains("add(a=1) -> 3"), "{line}");
/// ```
pub fn pretty_line(span: &SpanData) -> String {
    use std::fmt::Write as _;
    let mut l = String::with_capacity(128);
    let d = span.duration_ns();
    let _ = write!(l, "{:>10} ", fmt_duration(d));
    if let Some(b) = &span.branch {
        let _ = write!(l, "{}[{b}]", span.name);
    } else {
        l.push_str(&span.name);
    }
    l.push('(');
    for (i, (k, v)) in span.inputs.iter().enumerate() {
        if i > 0 {
            l.push_str(", ");
        }
        let _ = write!(l, "{k}={v}");
    }
    l.push(')');
    if let Some(o) = &span.output {
        let _ = write!(l, " -> {o}");
    }
    match span.status.code {
        StatusCode::Error | StatusCode::Cancelled => {
            let _ = write!(l, " !{}", span.status.code);
            if let Some(m) = &span.status.message {
                let _ = write!(l, ": {m}");
            }
        }
        StatusCode::Ok | StatusCode::Unset => {}
    }
    if span.polls > 0 {
        let _ = write!(l, " polls={} pending={}", span.polls, span.pending_polls);
    }
    if let Some(n) = span.items {
        let _ = write!(l, " items={n}");
    }
    for (k, v) in &span.attributes {
        let _ = write!(l, " {k}={v}");
    }
    for (k, v) in &span.tags {
        let _ = write!(l, " #{k}={v}");
    }
    let _ = write!(l, "  trace={} span={}", span.trace_id, span.span_id);
    if span.parent_span_id.is_valid() {
        let _ = write!(l, " parent={}", span.parent_span_id);
    }
    l
}

/// `1.23ms`, `45.6µs`, `789ns`, `2.01s`.
pub(crate) fn fmt_duration(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns}ns"),
        1_000..1_000_000 => format!("{:.1}µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2}ms", ns as f64 / 1e6),
        _ => format!("{:.2}s", ns as f64 / 1e9),
    }
}

impl Exporter for StdoutExporter {
    fn name(&self) -> &'static str {
        "stdout"
    }

    fn export<'a>(&'a mut self, batch: &'a Batch) -> BoxFuture<'a, Result<Delivery, ExportError>> {
        self.buf.clear();
        for span in batch.iter() {
            match self.format {
                StdoutFormat::Pretty => {
                    self.buf.extend_from_slice(pretty_line(&span.to_data()).as_bytes());
                    self.buf.push(b'\n');
                }
                StdoutFormat::Json => span.write_json_line(&self.service_name, &mut self.buf),
            }
        }
        let res = std::io::stdout()
            .lock()
            .write_all(&self.buf)
            .map(|()| Delivery::Delivered)
            .map_err(|source| ExportError::Io { exporter: "stdout", source });
        Box::pin(std::future::ready(res))
    }
}
