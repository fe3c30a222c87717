//! The plain form several Python tracers use: `trace_id`, `span_id`, `is_sampled`.
//!
//! `trace_id` is 32 (or 16) lowercase hex digits, `span_id` 16, both non-zero; `is_sampled` is
//! `true` or `false` (any ASCII case, so Python's `True` works). Without `is_sampled` the context
//! counts as sampled. This is the `tracewell` entry of `OTEL_PROPAGATORS`.

use super::hex;
use super::w3c::trim_ows;
use crate::context::{FLAG_SAMPLED, SpanContext};
use crate::span::{SpanId, TraceId};

/// The trace id header.
pub const TRACE_ID: &str = "trace_id";
/// The span id header.
pub const SPAN_ID: &str = "span_id";
/// The sampled header.
pub const IS_SAMPLED: &str = "is_sampled";

/// Reads the plain headers (`get` returns a header's value); `None` if missing or invalid.
///
/// # Examples
///
/// ```
/// use tracewell::propagation::plain::parse;
/// let h = [("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"), ("span_id", "00f067aa0ba902b7"), ("is_sampled", "False")];
/// let ctx = parse(|n| h.iter().find(|(k, _)| *k == n).map(|(_, v)| *v)).unwrap();
/// assert!(!ctx.is_sampled());
/// ```
pub fn parse<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Option<SpanContext> {
    let t = trim_ows(get(TRACE_ID)?).as_bytes();
    let trace_id = match t.len() {
        32 => hex::u128_exact(t)?,
        16 => hex::u64_exact(t)? as u128,
        _ => return None,
    };
    let span_id = hex::u64_exact(trim_ows(get(SPAN_ID)?).as_bytes())?;
    if trace_id == 0 || span_id == 0 {
        return None;
    }
    let sampled = match get(IS_SAMPLED).map(trim_ows) {
        None => true,
        Some(s) if s.eq_ignore_ascii_case("true") => true,
        Some(s) if s.eq_ignore_ascii_case("false") => false,
        Some(_) => return None,
    };
    Some(SpanContext::remote(TraceId(trace_id), SpanId(span_id), sampled))
}

/// The plain headers for `ctx`.
///
/// # Examples
///
/// ```
/// use tracewell::{SpanContext, TraceId, SpanId};
/// let h = tracewell::propagation::plain::format(&SpanContext::remote(TraceId(1), SpanId(2), true));
/// assert_eq!(h[2], ("is_sampled", "true".to_string()));
/// ```
pub fn format(ctx: &SpanContext) -> [(&'static str, String); 3] {
    let sampled = if ctx.trace_flags & FLAG_SAMPLED != 0 { "true" } else { "false" };
    [(TRACE_ID, ctx.trace_id.to_string()), (SPAN_ID, ctx.span_id.to_string()), (IS_SAMPLED, sampled.into())]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(h: &[(&'static str, &'static str)]) -> Option<SpanContext> {
        parse(|n| h.iter().find(|(k, _)| *k == n).map(|(_, v)| *v))
    }

    const T: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const S: &str = "00f067aa0ba902b7";

    #[test]
    fn valid_forms() {
        assert!(p(&[(TRACE_ID, T), (SPAN_ID, S), (IS_SAMPLED, "true")]).unwrap().is_sampled());
        assert!(p(&[(TRACE_ID, T), (SPAN_ID, S), (IS_SAMPLED, "True")]).unwrap().is_sampled());
        assert!(!p(&[(TRACE_ID, T), (SPAN_ID, S), (IS_SAMPLED, "false")]).unwrap().is_sampled());
        assert!(p(&[(TRACE_ID, T), (SPAN_ID, S)]).unwrap().is_sampled());
        assert_eq!(p(&[(TRACE_ID, &T[16..]), (SPAN_ID, S)]).unwrap().trace_id, TraceId(0xa3ce929d0e0e4736));
    }

    #[test]
    fn invalid_forms() {
        for h in [
            &[(TRACE_ID, T)][..],
            &[(SPAN_ID, S)],
            &[(TRACE_ID, "4BF92F3577B34DA6A3CE929D0E0E4736"), (SPAN_ID, S)],
            &[(TRACE_ID, "00000000000000000000000000000000"), (SPAN_ID, S)],
            &[(TRACE_ID, T), (SPAN_ID, "0000000000000000")],
            &[(TRACE_ID, T), (SPAN_ID, "00f067aa0ba902b")],
            &[(TRACE_ID, T), (SPAN_ID, S), (IS_SAMPLED, "1")],
            &[(TRACE_ID, T), (SPAN_ID, S), (IS_SAMPLED, "")],
        ] {
            assert_eq!(p(h), None, "accepted {h:?}");
        }
    }

    #[test]
    fn round_trip() {
        for sampled in [true, false] {
            let c = SpanContext::remote(TraceId(7), SpanId(9), sampled);
            let h = format(&c);
            assert_eq!(parse(|n| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str())), Some(c));
        }
    }
}
