//! `tracing` fields as tracewell values: typed where the field is a number or a bool, bounded
//! text otherwise, scrubbed when the field's name looks secret; and the few field names that mean
//! something to the span itself (`branch`, `otel.name`, `otel.kind`, `otel.status_code`,
//! `otel.status_message`, and an event's `message`).
//!
//! What a callsite's field names mean depends only on the callsite and the installed capture
//! policy, so it is worked out once per callsite and pipeline and kept in a small per-thread
//! cache ([`shape`]): per span, scrubbing costs one bit test per field.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use tracing_core::Metadata;
use tracing_core::field::{Field, Visit};

use crate::capture::{bounded, truncate};
use crate::context::Span;
use crate::span::{Key, SpanKind, StatusCode, Value};

/// Attribute key of a `tracing` span's or event's level (`"INFO"`, `"ERROR"`, ...).
///
/// # Examples
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt as _;
/// let _tracing = tracewell::builder().install().unwrap();
/// let subscriber = tracing_subscriber::registry().with(tracewell::bridge::tracing_layer());
/// tracing::subscriber::with_default(subscriber, || tracing::warn_span!("retry").in_scope(|| ()));
/// let retry = tracewell::collected().into_iter().find(|s| s.name == "retry").unwrap();
/// assert_eq!(retry.attribute(tracewell::bridge::LEVEL), Some(&tracewell::Value::from("WARN")));
/// ```
pub const LEVEL: &str = "tracing.level";

/// What a callsite's fields are, by index (only the first 32 fields are cached; later ones are
/// checked per use).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Shape {
    /// Fields whose names look secret under the installed policy.
    secret: u32,
    /// Fields with a meaning of their own ([`Special`]).
    special: u32,
    /// Whether the callsite has more than 32 fields.
    wide: bool,
}

impl Shape {
    fn of(meta: &'static Metadata<'static>, is_secret: impl Fn(&str) -> bool) -> Shape {
        let mut shape = Shape::default();
        for field in meta.fields().iter() {
            let i = field.index();
            if i >= 32 {
                shape.wide = true;
                break;
            }
            if is_secret(field.name()) {
                shape.secret |= 1 << i;
            }
            if Special::of(field.name()).is_some() {
                shape.special |= 1 << i;
            }
        }
        shape
    }

    /// Whether the field's value must be replaced by `[scrubbed]`.
    #[inline]
    fn secret(&self, field: &Field) -> bool {
        match field.index() {
            i @ 0..32 => self.secret & (1 << i) != 0,
            _ => crate::pipeline::with_shared(|s| s.policy.is_secret(field.name())).unwrap_or(true),
        }
    }

    /// The field's meaning for the span, if it has one.
    #[inline]
    fn special(&self, field: &Field) -> Option<Special> {
        match field.index() {
            i @ 0..32 if self.special & (1 << i) == 0 => None,
            _ => Special::of(field.name()),
        }
    }

    /// Whether any field has a meaning for the span.
    #[inline]
    pub(super) fn has_special(&self) -> bool {
        self.special != 0 || self.wide
    }
}

/// Field names that say something about the span rather than being an attribute of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Special {
    Branch,
    Name,
    Kind,
    StatusCode,
    StatusMessage,
    Message,
}

impl Special {
    fn of(name: &str) -> Option<Special> {
        Some(match name {
            "branch" => Special::Branch,
            "otel.name" => Special::Name,
            "otel.kind" => Special::Kind,
            "otel.status_code" => Special::StatusCode,
            "otel.status_message" => Special::StatusMessage,
            "message" => Special::Message,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy)]
struct Entry {
    /// The callsite's metadata address; 0 when empty.
    key: usize,
    generation: u64,
    shape: Shape,
}

const SLOTS: usize = 64;

thread_local! {
    // Direct-mapped: a callsite that collides with another is recomputed, nothing grows.
    static CACHE: [Cell<Entry>; SLOTS] =
        const { [const { Cell::new(Entry { key: 0, generation: 0, shape: Shape { secret: 0, special: 0, wide: false } }) }; SLOTS] };
}

/// The shape of `meta`'s fields under the installed pipeline and its `max_len`, or `None` when
/// no pipeline is installed (then nothing is recorded).
// Hot path: one pipeline lookup, one cache slot compared.
#[inline]
pub(super) fn shape(meta: &'static Metadata<'static>) -> Option<(Shape, usize)> {
    let key = std::ptr::from_ref(meta) as usize;
    crate::pipeline::with_shared(|shared| {
        let limit = shared.policy.max_len;
        // Fibonacci hashing of the address: its top 6 bits pick the slot.
        let slot = ((key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize % SLOTS;
        let hit = CACHE
            .try_with(|c| {
                let e = c[slot].get();
                (e.key == key && e.generation == shared.generation).then_some(e.shape)
            })
            .ok()
            .flatten();
        if let Some(shape) = hit {
            return (shape, limit);
        }
        let shape = Shape::of(meta, |name| shared.policy.is_secret(name));
        let _ = CACHE.try_with(|c| c[slot].set(Entry { key, generation: shared.generation, shape }));
        (shape, limit)
    })
}

/// Text of a value recorded through `Debug` (and `Display`, which `tracing` passes as `Debug`).
fn text(value: &dyn fmt::Debug, limit: usize) -> Cow<'static, str> {
    Cow::Owned(bounded(limit, |w| fmt::Write::write_fmt(w, format_args!("{value:?}"))))
}

fn str_value(value: &str, limit: usize) -> Value {
    Value::Str(Cow::Owned(truncate(value, limit).into_owned()))
}

fn i128_value(v: i128) -> Value {
    i64::try_from(v).map_or_else(|_| Value::Str(Cow::Owned(v.to_string())), Value::I64)
}

fn u128_value(v: u128) -> Value {
    u64::try_from(v).map_or_else(|_| Value::Str(Cow::Owned(v.to_string())), Value::U64)
}

fn bytes_value(v: &[u8], limit: usize) -> Value {
    Value::Bytes(v[..v.len().min(limit)].to_vec())
}

/// The value as text, for fields with a meaning (`branch = 3` names branch "3").
fn as_text(v: &Value) -> Cow<'static, str> {
    match v {
        Value::Str(s) => s.clone(),
        other => Cow::Owned(other.to_string()),
    }
}

/// The fields with a meaning for the span, read before it starts (name, kind and branch cannot
/// change afterwards).
#[derive(Debug, Default)]
pub(super) struct Head {
    pub(super) name: Option<Key>,
    pub(super) kind: Option<SpanKind>,
    pub(super) branch: Option<Key>,
    pub(super) status: Option<StatusCode>,
    pub(super) status_message: Option<Cow<'static, str>>,
}

/// The `otel.status_code` and `otel.status_message` of a span so far: `Span::record` may give
/// them one at a time, in either order.
#[derive(Debug, Default)]
pub(super) struct OtelStatus {
    code: Option<StatusCode>,
    message: Option<Cow<'static, str>>,
}

impl OtelStatus {
    /// Takes the status fields out of `head` and, if there were any, sets the span's status
    /// from everything known so far (the message only goes with an error).
    pub(super) fn update(&mut self, head: &mut Head, span: &mut Span) {
        if head.status.is_none() && head.status_message.is_none() {
            return;
        }
        if let Some(code) = head.status.take() {
            self.code = Some(code);
        }
        if let Some(message) = head.status_message.take() {
            self.message = Some(message);
        }
        if let Some(code) = self.code {
            let message = if code == StatusCode::Error { self.message.clone() } else { None };
            span.set_status(code, message);
        }
    }
}

/// Reads only the fields with a meaning (see [`Head`]).
pub(super) struct HeadVisitor<'a> {
    pub(super) head: &'a mut Head,
    pub(super) shape: Shape,
    pub(super) limit: usize,
}

impl HeadVisitor<'_> {
    fn put(&mut self, field: &Field, value: impl FnOnce(usize) -> Value) {
        let Some(special) = self.shape.special(field) else { return };
        if self.shape.secret(field) {
            return;
        }
        let v = value(self.limit);
        match special {
            Special::Branch => self.head.branch = Some(as_text(&v)),
            Special::Name => self.head.name = Some(as_text(&v)),
            Special::Kind => self.head.kind = as_text(&v).to_ascii_lowercase().parse().ok(),
            Special::StatusCode => self.head.status = status_code(&as_text(&v)),
            Special::StatusMessage => self.head.status_message = Some(as_text(&v)),
            Special::Message => {}
        }
    }
}

fn status_code(s: &str) -> Option<StatusCode> {
    if s.eq_ignore_ascii_case("error") {
        Some(StatusCode::Error)
    } else if s.eq_ignore_ascii_case("ok") {
        Some(StatusCode::Ok)
    } else {
        None
    }
}

/// Writes the fields without a meaning as attributes of a recording span. Status fields recorded
/// later through `Span::record` set the status; `branch`, `otel.name` and `otel.kind` recorded
/// later stay plain attributes, since a started span keeps its name, kind and branch.
pub(super) struct AttributeVisitor<'a> {
    pub(super) out: Out<'a>,
    pub(super) shape: Shape,
    pub(super) limit: usize,
    /// Whether the status fields are read here (after the start) rather than by [`HeadVisitor`].
    pub(super) late: bool,
    pub(super) head: Head,
}

impl AttributeVisitor<'_> {
    #[inline]
    fn put(&mut self, field: &Field, value: impl FnOnce(usize) -> Value) {
        match self.shape.special(field) {
            None | Some(Special::Message) => {}
            Some(Special::StatusCode | Special::StatusMessage) => {
                if self.late {
                    HeadVisitor { head: &mut self.head, shape: self.shape, limit: self.limit }.put(field, value);
                }
                return;
            }
            // Read before the start; recorded later, they stay plain attributes.
            Some(Special::Branch | Special::Name | Special::Kind) if !self.late => return,
            Some(_) => {}
        }
        let v = if self.shape.secret(field) { Value::scrubbed() } else { value(self.limit) };
        let key = Cow::Borrowed(field.name());
        match &mut self.out {
            Out::Span(span) => span.set_attribute(key, v),
            Out::Buffer(b) => b.push((key, v)),
        }
    }
}

/// Where [`AttributeVisitor`] writes: straight into a span that no lock guards yet, or into a
/// buffer applied afterwards (so no user `Debug` impl runs while the registry's lock is held).
pub(super) enum Out<'a> {
    Span(&'a mut Span),
    Buffer(Vec<(Key, Value)>),
}

/// The fields of an event: its `message` (the event's name) and its attributes.
pub(super) struct EventVisitor {
    pub(super) shape: Shape,
    pub(super) limit: usize,
    pub(super) message: Option<Cow<'static, str>>,
    pub(super) attributes: Vec<(Key, Value)>,
}

impl EventVisitor {
    #[inline]
    fn put(&mut self, field: &Field, value: impl FnOnce(usize) -> Value) {
        if self.shape.secret(field) {
            self.attributes.push((Cow::Borrowed(field.name()), Value::scrubbed()));
        } else if self.shape.special(field) == Some(Special::Message) {
            self.message = Some(as_text(&value(self.limit)));
        } else {
            self.attributes.push((Cow::Borrowed(field.name()), value(self.limit)));
        }
    }
}

/// One `Visit` impl per visitor, all mapping `tracing`'s primitive callbacks to typed values.
macro_rules! visit_as_values {
    ($($t:ty),*) => {$(
        impl Visit for $t {
            fn record_f64(&mut self, field: &Field, value: f64) {
                self.put(field, |_| Value::F64(value));
            }
            fn record_i64(&mut self, field: &Field, value: i64) {
                self.put(field, |_| Value::I64(value));
            }
            fn record_u64(&mut self, field: &Field, value: u64) {
                self.put(field, |_| Value::U64(value));
            }
            fn record_i128(&mut self, field: &Field, value: i128) {
                self.put(field, |_| i128_value(value));
            }
            fn record_u128(&mut self, field: &Field, value: u128) {
                self.put(field, |_| u128_value(value));
            }
            fn record_bool(&mut self, field: &Field, value: bool) {
                self.put(field, |_| Value::Bool(value));
            }
            fn record_str(&mut self, field: &Field, value: &str) {
                self.put(field, |limit| str_value(value, limit));
            }
            fn record_bytes(&mut self, field: &Field, value: &[u8]) {
                self.put(field, |limit| bytes_value(value, limit));
            }
            fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
                self.put(field, |limit| {
                    Value::Str(Cow::Owned(bounded(limit, |w| fmt::Write::write_fmt(w, format_args!("{value}")))))
                });
            }
            fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
                self.put(field, |limit| Value::Str(text(value, limit)));
            }
        }
    )*};
}

visit_as_values!(HeadVisitor<'_>, AttributeVisitor<'_>, EventVisitor);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_numbers_stay_typed_when_they_fit() {
        assert_eq!(i128_value(-5), Value::I64(-5));
        assert_eq!(u128_value(5), Value::U64(5));
        assert_eq!(u128_value(u128::MAX), Value::Str(u128::MAX.to_string().into()));
    }

    #[test]
    fn special_names_are_exact() {
        assert_eq!(Special::of("branch"), Some(Special::Branch));
        assert_eq!(Special::of("otel.kind"), Some(Special::Kind));
        assert_eq!(Special::of("branches"), None);
        assert_eq!(status_code("ERROR"), Some(StatusCode::Error));
        assert_eq!(status_code("unset"), None);
    }
}
