//! The span model: identifiers, callsites, captured values, kinds and status; the compact
//! record a finished span is written as ([`Batch`], [`SpanRef`]) and its owned form
//! ([`SpanData`]).
//!
//! The hot path fills a [`SpanData`] in place and writes it once, when the span ends, as a
//! compact record (see [`record`]); exporters read the records as [`SpanRef`]s. Times are
//! nanoseconds since the Unix epoch, converted from raw clock ticks when read, so no system call
//! is made per span.

mod id;
pub(crate) mod json;
pub mod record;
mod site;
mod span_context;
#[cfg(test)]
pub(crate) mod testgen;
mod value;

use std::borrow::Cow;
use std::fmt;

pub use id::{IdError, SpanId, TraceId};
pub use json::{JsonError, ParsedSpan};
pub use record::{Batch, EventRef, SpanRef, ValueRef};
pub use site::Callsite;
pub use span_context::{FLAG_RANDOM, FLAG_SAMPLED, RemoteContext, SpanContext};
pub(crate) use span_context::{Ids, Prev};
pub use value::{SCRUBBED, Value};

/// A key of an attribute, tag or input: a static string where possible, so naming costs nothing.
pub type Key = Cow<'static, str>;

/// Inputs stay inline for up to this many arguments, so a typical call allocates nothing for them.
pub(crate) const INLINE_INPUTS: usize = 3;

/// The captured inputs of a span, by argument name.
pub type Inputs = smallvec::SmallVec<[(Key, Value); INLINE_INPUTS]>;

/// What a span stands for, as in OpenTelemetry.
///
/// # Examples
///
/// ```
/// use tracewell::SpanKind;
/// assert_eq!("client".parse::<SpanKind>().unwrap(), SpanKind::Client);
/// assert_eq!(SpanKind::Server.as_str(), "server");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SpanKind {
    /// Work inside the process (the default).
    #[default]
    Internal,
    /// Handling a request from a remote caller.
    Server,
    /// A request to a remote service.
    Client,
    /// Sending a message to a broker.
    Producer,
    /// Receiving a message from a broker.
    Consumer,
}

impl SpanKind {
    /// The lowercase name used in exports and options.
    pub const fn as_str(self) -> &'static str {
        match self {
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

/// A span kind name that is not one of `internal`, `server`, `client`, `producer`, `consumer`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown span kind {0:?}: expected internal, server, client, producer or consumer")]
pub struct UnknownKind(pub String);

impl std::str::FromStr for SpanKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "internal" => SpanKind::Internal,
            "server" => SpanKind::Server,
            "client" => SpanKind::Client,
            "producer" => SpanKind::Producer,
            "consumer" => SpanKind::Consumer,
            _ => return Err(UnknownKind(s.to_owned())),
        })
    }
}

impl fmt::Display for SpanKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a span ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum StatusCode {
    /// Nothing was said (a call that returned normally).
    #[default]
    Unset,
    /// Explicitly marked successful.
    Ok,
    /// The call returned `Err`, panicked, or was marked failed.
    Error,
    /// A future or stream was dropped before it completed.
    Cancelled,
}

impl StatusCode {
    /// The lowercase name used in exports.
    pub const fn as_str(self) -> &'static str {
        match self {
            StatusCode::Unset => "unset",
            StatusCode::Ok => "ok",
            StatusCode::Error => "error",
            StatusCode::Cancelled => "cancelled",
        }
    }

    /// Parses the export name back.
    pub fn parse(s: &str) -> Option<StatusCode> {
        Some(match s {
            "unset" => StatusCode::Unset,
            "ok" => StatusCode::Ok,
            "error" => StatusCode::Error,
            "cancelled" => StatusCode::Cancelled,
            _ => return None,
        })
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status code with an optional message (the error text, the panic message).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Status {
    /// The code.
    pub code: StatusCode,
    /// Why, for errors; truncated like any captured text.
    pub message: Option<Cow<'static, str>>,
}

/// Something that happened during a span, at a point in time.
///
/// # Examples
///
/// ```
/// let mut span = tracewell::span("load").start();
/// span.add_event("validated", vec![("rows".into(), 42u64.into())]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The event's name.
    pub name: Key,
    /// When it happened, nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// Its attributes.
    pub attributes: Vec<(Key, Value)>,
}

/// A finished span, as exporters receive it.
///
/// tracewell-specific fields travel to OTLP-shaped exports as attributes under the `tracewell.`
/// prefix (see [`SpanData::flat_attributes`]).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SpanData {
    /// The trace this span belongs to.
    pub trace_id: TraceId,
    /// This span.
    pub span_id: SpanId,
    /// The parent span, [`SpanId::INVALID`] for a root.
    pub parent_span_id: SpanId,
    /// Whether the parent came from another process (header extraction).
    pub parent_is_remote: bool,
    /// W3C trace flags (bit 0: sampled).
    pub trace_flags: u8,
    /// W3C `tracestate` carried from a remote parent, if any.
    pub trace_state: Option<std::sync::Arc<str>>,
    /// The span's name (by default the function's name).
    pub name: Key,
    /// The module path of the code that made the span.
    pub target: Key,
    /// The span kind.
    pub kind: SpanKind,
    /// Start, nanoseconds since the Unix epoch.
    pub start_time_unix_nano: u64,
    /// End, nanoseconds since the Unix epoch.
    pub end_time_unix_nano: u64,
    /// How it ended.
    pub status: Status,
    /// Captured arguments by name, in declaration order.
    pub inputs: Inputs,
    /// The captured return value (the `Ok` value for `Result`s; the last item(s) for streams).
    pub output: Option<Value>,
    /// Attributes set on the span.
    pub attributes: Vec<(Key, Value)>,
    /// Indexed tags (exported as `tracewell.tag.<key>`).
    pub tags: Vec<(Key, Value)>,
    /// A free label (`#[traced(label = "io")]`).
    pub label: Option<Key>,
    /// The code path this span stands for (`#[monitor(branch = "...")]`).
    pub branch: Option<Key>,
    /// Events, in order.
    pub events: Vec<Event>,
    /// Times the future or stream was polled (0 for sync spans).
    pub polls: u32,
    /// Polls that returned `Pending`: how often it yielded.
    pub pending_polls: u32,
    /// Sum of poll durations in nanoseconds (busy time, vs wall time end - start).
    pub busy_ns: u64,
    /// Items yielded, for stream and iterator spans.
    pub items: Option<u64>,
    /// Nanoseconds from the start to the first item, for stream and iterator spans.
    pub first_item_ns: Option<u64>,
    /// Bytes allocated during the span, when a tracking allocator is installed.
    pub alloc_bytes: Option<u64>,
    /// Peak of live bytes during the span, when a tracking allocator is installed.
    pub alloc_peak: Option<u64>,
    /// A small number naming the thread that ended the span (stable for the thread's life).
    pub thread_id: u64,
}

impl SpanData {
    /// Wall time from start to end, in nanoseconds.
    pub fn duration_ns(&self) -> u64 {
        self.end_time_unix_nano.saturating_sub(self.start_time_unix_nano)
    }

    /// Whether this span has no parent in this trace.
    pub fn is_root(&self) -> bool {
        !self.parent_span_id.is_valid()
    }

    /// The captured input named `name`.
    pub fn input(&self, name: &str) -> Option<&Value> {
        self.inputs.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The attribute named `key`.
    pub fn attribute(&self, key: &str) -> Option<&Value> {
        self.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The tag named `key`.
    pub fn tag(&self, key: &str) -> Option<&Value> {
        self.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// All attributes as OTLP-shaped exports carry them: the span's own attributes, then
    /// `code.namespace`, `thread.id` and the `tracewell.*` keys (inputs, output, tags, label,
    /// branch, polls, items, allocations).
    ///
    /// # Examples
    ///
    /// ```
    /// use tracewell::{SpanData, Value};
    /// let mut s = SpanData::default();
    /// s.inputs.push(("a".into(), Value::U64(1)));
    /// s.branch = Some("hit".into());
    /// let flat = s.flat_attributes();
    /// assert!(flat.iter().any(|(k, v)| k == "tracewell.input.a" && *v == Value::U64(1)));
    /// assert!(flat.iter().any(|(k, _)| k == "tracewell.branch"));
    /// ```
    pub fn flat_attributes(&self) -> Vec<(Cow<'_, str>, Value)> {
        let mut out: Vec<(Cow<'_, str>, Value)> = Vec::with_capacity(self.attributes.len() + self.inputs.len() + 8);
        self.for_each_flat_attribute(|k, v| out.push((k, v.clone())));
        out
    }

    /// Calls `f` with every flat attribute (see [`SpanData::flat_attributes`]) without cloning
    /// values; keys made of a prefix and a name are built on the fly.
    pub fn for_each_flat_attribute<'a>(&'a self, mut f: impl FnMut(Cow<'a, str>, &Value)) {
        self.for_each_flat_attribute_parts(|prefix, name, v| {
            f(if prefix.is_empty() { Cow::Borrowed(name) } else { Cow::Owned(format!("{prefix}{name}")) }, v)
        });
    }

    /// The walk of [`SpanData::for_each_flat_attribute`] with each key in two parts, a static
    /// prefix (empty, [`attr::INPUT_PREFIX`] or [`attr::TAG_PREFIX`]) and a name, so an encoder
    /// can write the key where it goes instead of building it on the heap.
    pub(crate) fn for_each_flat_attribute_parts<'a>(&'a self, mut f: impl FnMut(&'static str, &'a str, &Value)) {
        for (k, v) in &self.attributes {
            f("", k, v);
        }
        if !self.target.is_empty() {
            f("", attr::TARGET, &Value::Str(self.target.clone()));
        }
        f("", attr::THREAD_ID, &Value::U64(self.thread_id));
        for (k, v) in &self.inputs {
            f(attr::INPUT_PREFIX, k, v);
        }
        if let Some(v) = &self.output {
            f("", attr::OUTPUT, v);
        }
        for (k, v) in &self.tags {
            f(attr::TAG_PREFIX, k, v);
        }
        if let Some(l) = &self.label {
            f("", attr::LABEL, &Value::Str(l.clone()));
        }
        if let Some(b) = &self.branch {
            f("", attr::BRANCH, &Value::Str(b.clone()));
        }
        if self.polls > 0 {
            f("", attr::POLLS, &Value::U64(self.polls.into()));
            f("", attr::PENDING_POLLS, &Value::U64(self.pending_polls.into()));
            f("", attr::BUSY_NS, &Value::U64(self.busy_ns));
        }
        if let Some(n) = self.items {
            f("", attr::ITEMS, &Value::U64(n));
        }
        if let Some(n) = self.first_item_ns {
            f("", attr::FIRST_ITEM_NS, &Value::U64(n));
        }
        if let Some(n) = self.alloc_bytes {
            f("", attr::ALLOC_BYTES, &Value::U64(n));
        }
        if let Some(n) = self.alloc_peak {
            f("", attr::ALLOC_PEAK, &Value::U64(n));
        }
    }
}

/// Attribute keys under which tracewell's own fields are exported.
pub mod attr {
    /// Prefix of captured inputs: `tracewell.input.<arg>`.
    pub const INPUT_PREFIX: &str = "tracewell.input.";
    /// The captured output.
    pub const OUTPUT: &str = "tracewell.output";
    /// Prefix of tags: `tracewell.tag.<key>`.
    pub const TAG_PREFIX: &str = "tracewell.tag.";
    /// The label.
    pub const LABEL: &str = "tracewell.label";
    /// The branch.
    pub const BRANCH: &str = "tracewell.branch";
    /// Times polled.
    pub const POLLS: &str = "tracewell.polls";
    /// Polls that returned `Pending`.
    pub const PENDING_POLLS: &str = "tracewell.pending_polls";
    /// Sum of poll durations, ns.
    pub const BUSY_NS: &str = "tracewell.busy_ns";
    /// Items yielded by a stream or iterator.
    pub const ITEMS: &str = "tracewell.items";
    /// Time to the first item, ns.
    pub const FIRST_ITEM_NS: &str = "tracewell.first_item_ns";
    /// Bytes allocated.
    pub const ALLOC_BYTES: &str = "tracewell.alloc_bytes";
    /// Peak live bytes.
    pub const ALLOC_PEAK: &str = "tracewell.alloc_peak";
    /// The error's type name, for spans that ended in `Err`.
    pub const ERROR_TYPE: &str = "error.type";
    /// The module path (OpenTelemetry semantic convention).
    pub const TARGET: &str = "code.namespace";
    /// The thread number (OpenTelemetry semantic convention).
    pub const THREAD_ID: &str = "thread.id";
    /// Marks a cancelled span in exports that have no such status (OTLP, Zipkin).
    pub const CANCELLED: &str = "tracewell.cancelled";
    /// The name of the spans [`monitor_runtime`](crate::monitor_runtime) records: each one covers
    /// one sleep of the sampling task; its wall time minus the requested interval
    /// ([`RUNTIME_INTERVAL_NS`]) is the scheduling lag. The score uses them for CC and reports
    /// them apart, not as a function.
    pub const RUNTIME_LAG_SPAN: &str = "tracewell.runtime.lag";
    /// The requested sleep, ns, on [`RUNTIME_LAG_SPAN`] spans.
    pub const RUNTIME_INTERVAL_NS: &str = "tracewell.runtime.interval_ns";
}
