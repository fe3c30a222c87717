//! B3 propagation (<https://github.com/openzipkin/b3-propagation>): the single `b3` header and the
//! `X-B3-*` headers.
//!
//! - single: `b3: {TraceId}-{SpanId}[-{SamplingState}[-{ParentSpanId}]]`, or only a sampling
//!   state (`b3: 0`, `b3: 1`, `b3: d`), which carries no ids and therefore no parent;
//! - multi: `X-B3-TraceId` (16 or 32 lowercase hex), `X-B3-SpanId` (16), `X-B3-Sampled`
//!   (`1`/`0`, and the older `true`/`false`), `X-B3-Flags: 1` (debug, which implies sampled);
//! - a valid single header wins over the multi headers; an invalid one is ignored.
//!
//! Ids are lowercase hex and never all zeros; a 64-bit trace id is left-padded to 128 bits. With
//! no sampling state ("defer") the context counts as sampled, so the receiving side's sampler
//! decides as it would for its own root. On inject tracewell writes 128-bit trace ids and an
//! explicit `1` or `0`.

use super::hex;
use super::w3c::trim_ows;
use crate::context::{FLAG_SAMPLED, SpanContext};
use crate::span::{SpanId, TraceId};

/// The single header name.
pub const B3: &str = "b3";
/// `X-B3-TraceId`, lowercase.
pub const TRACE_ID: &str = "x-b3-traceid";
/// `X-B3-SpanId`, lowercase.
pub const SPAN_ID: &str = "x-b3-spanid";
/// `X-B3-ParentSpanId`, lowercase (read and checked, never needed for the parent link).
pub const PARENT_SPAN_ID: &str = "x-b3-parentspanid";
/// `X-B3-Sampled`, lowercase.
pub const SAMPLED: &str = "x-b3-sampled";
/// `X-B3-Flags`, lowercase.
pub const FLAGS: &str = "x-b3-flags";

/// What a single `b3` header says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Single {
    /// Trace and span ids, with the sampling decision.
    Context(SpanContext),
    /// Only a sampling decision (`b3: 0`, `b3: 1`, `b3: d`), no ids.
    SamplingOnly(bool),
}

/// Parses a single `b3` header value; `None` if it is invalid.
///
/// # Examples
///
/// ```
/// use tracewell::propagation::b3::{parse_single, Single};
/// let Some(Single::Context(ctx)) =
///     parse_single("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90") else { panic!() };
/// assert!(ctx.is_sampled());
/// assert_eq!(parse_single("0"), Some(Single::SamplingOnly(false)));
/// assert_eq!(parse_single("80F198EE56343BA8-e457b5a2e4d86bd1"), None);
/// ```
pub fn parse_single(value: &str) -> Option<Single> {
    let v = trim_ows(value);
    match v {
        "0" => return Some(Single::SamplingOnly(false)),
        "1" | "d" => return Some(Single::SamplingOnly(true)),
        _ => {}
    }
    let mut parts = v.split('-');
    let trace_id = trace_id(parts.next()?)?;
    let span_id = span_id(parts.next()?)?;
    let sampled = match parts.next() {
        None => true,
        Some("1" | "d") => true,
        Some("0") => false,
        Some(_) => return None,
    };
    if let Some(parent) = parts.next() {
        span_id_hex(parent)?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Single::Context(SpanContext::remote(trace_id, span_id, sampled)))
}

/// Reads the `X-B3-*` values (`get` returns a header's value); `None` if the ids are missing or
/// invalid or a sampling header has a value B3 does not define.
///
/// # Examples
///
/// ```
/// use tracewell::propagation::b3::parse_multi;
/// let h = [("x-b3-traceid", "463ac35c9f6413ad"), ("x-b3-spanid", "a2fb4a1d1a96d312"), ("x-b3-sampled", "0")];
/// let ctx = parse_multi(|n| h.iter().find(|(k, _)| *k == n).map(|(_, v)| *v)).unwrap();
/// assert_eq!(ctx.trace_id.to_string(), "0000000000000000463ac35c9f6413ad");
/// assert!(!ctx.is_sampled());
/// ```
pub fn parse_multi<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Option<SpanContext> {
    let trace_id = trace_id(trim_ows(get(TRACE_ID)?))?;
    let span_id = span_id(trim_ows(get(SPAN_ID)?))?;
    if let Some(p) = get(PARENT_SPAN_ID) {
        span_id_hex(trim_ows(p))?;
    }
    let debug = match get(FLAGS).map(trim_ows) {
        None => false,
        Some("1") => true,
        Some("0") => false,
        Some(_) => return None,
    };
    let sampled = match get(SAMPLED).map(trim_ows) {
        None => true,
        Some("1" | "true") => true,
        Some("0" | "false") => debug,
        Some(_) => return None,
    };
    Some(SpanContext::remote(trace_id, span_id, sampled || debug))
}

/// The single `b3` header for `ctx`: `{trace}-{span}-{1|0}`.
///
/// # Examples
///
/// ```
/// use tracewell::{SpanContext, TraceId, SpanId};
/// let ctx = SpanContext::remote(TraceId(1), SpanId(2), true);
/// assert_eq!(tracewell::propagation::b3::format_single(&ctx),
///            "00000000000000000000000000000001-0000000000000002-1");
/// ```
pub fn format_single(ctx: &SpanContext) -> String {
    format!("{}-{}-{}", ctx.trace_id, ctx.span_id, sampled_digit(ctx))
}

/// The multi headers for `ctx`, names in lowercase.
pub fn format_multi(ctx: &SpanContext) -> [(&'static str, String); 3] {
    [(TRACE_ID, ctx.trace_id.to_string()), (SPAN_ID, ctx.span_id.to_string()), (SAMPLED, sampled_digit(ctx).into())]
}

fn sampled_digit(ctx: &SpanContext) -> &'static str {
    if ctx.trace_flags & FLAG_SAMPLED != 0 { "1" } else { "0" }
}

fn trace_id(s: &str) -> Option<TraceId> {
    let b = s.as_bytes();
    let v = match b.len() {
        16 => hex::u64_exact(b)? as u128,
        32 => hex::u128_exact(b)?,
        _ => return None,
    };
    (v != 0).then_some(TraceId(v))
}

fn span_id(s: &str) -> Option<SpanId> {
    let v = span_id_hex(s)?;
    (v != 0).then_some(SpanId(v))
}

fn span_id_hex(s: &str) -> Option<u64> {
    hex::u64_exact(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T128: &str = "80f198ee56343ba864fe8b2a57d3eff7";
    const T64: &str = "463ac35c9f6413ad";
    const S: &str = "e457b5a2e4d86bd1";
    const P: &str = "05e3ac9a4f6e3b90";

    fn single(s: &str) -> Option<SpanContext> {
        match parse_single(s)? {
            Single::Context(c) => Some(c),
            Single::SamplingOnly(_) => None,
        }
    }

    #[test]
    fn single_header_forms_from_the_readme() {
        let c = single(&format!("{T128}-{S}-1-{P}")).unwrap();
        assert_eq!((c.trace_id.to_string().as_str(), c.span_id.to_string().as_str()), (T128, S));
        assert!(c.is_sampled() && c.is_remote);
        assert!(single(&format!("{T128}-{S}-1")).unwrap().is_sampled());
        assert!(!single(&format!("{T128}-{S}-0")).unwrap().is_sampled());
        assert!(single(&format!("{T128}-{S}-d")).unwrap().is_sampled());
        assert!(single(&format!("{T128}-{S}-d-{P}")).unwrap().is_sampled());
        // deferred
        assert!(single(&format!("{T128}-{S}")).unwrap().is_sampled());
        // 64-bit trace id is left-padded
        assert_eq!(single(&format!("{T64}-{S}-1")).unwrap().trace_id.to_string(), format!("{:0>32}", T64));
        assert_eq!(parse_single("0"), Some(Single::SamplingOnly(false)));
        assert_eq!(parse_single("1"), Some(Single::SamplingOnly(true)));
        assert_eq!(parse_single("d"), Some(Single::SamplingOnly(true)));
    }

    #[test]
    fn single_header_invalid_forms() {
        for bad in [
            String::new(),
            "2".into(),
            "true".into(),
            "-".into(),
            T128.into(),
            format!("{T128}-"),
            format!("{T128}-{S}-"),
            format!("{T128}-{S}-2"),
            format!("{T128}-{S}-true"),
            format!("{T128}-{S}-1-"),
            format!("{T128}-{S}-1-{P}-"),
            format!("{T128}-{S}-1-{P}-x"),
            format!("{T128}-{S}-1-{}", &P[1..]),
            format!("{T128}-{S}-1-{}", P.to_uppercase()),
            format!("{}-{S}-1", T128.to_uppercase()),
            format!("{T128}-{}-1", S.to_uppercase()),
            format!("{}-{S}-1", &T128[1..]),
            format!("{}-{S}-1", &T64[1..]),
            format!("{T128}0-{S}-1"),
            format!("{T128}-{}-1", &S[1..]),
            format!("{}-{S}-1", "0".repeat(32)),
            format!("{}-{S}-1", "0".repeat(16)),
            format!("{T128}-{}-1", "0".repeat(16)),
            format!("{T128}--{S}"),
        ] {
            assert_eq!(parse_single(&bad), None, "accepted {bad:?}");
        }
    }

    fn multi(h: &[(&'static str, &'static str)]) -> Option<SpanContext> {
        parse_multi(|n| h.iter().find(|(k, _)| *k == n).map(|(_, v)| *v))
    }

    #[test]
    fn multi_header_forms() {
        let c = multi(&[(TRACE_ID, T128), (SPAN_ID, S), (PARENT_SPAN_ID, P), (SAMPLED, "1")]).unwrap();
        assert!(c.is_sampled());
        assert_eq!(c.trace_id.to_string(), T128);
        assert!(!multi(&[(TRACE_ID, T64), (SPAN_ID, S), (SAMPLED, "0")]).unwrap().is_sampled());
        assert!(multi(&[(TRACE_ID, T64), (SPAN_ID, S), (SAMPLED, "true")]).unwrap().is_sampled());
        assert!(!multi(&[(TRACE_ID, T64), (SPAN_ID, S), (SAMPLED, "false")]).unwrap().is_sampled());
        assert!(multi(&[(TRACE_ID, T64), (SPAN_ID, S), (FLAGS, "1")]).unwrap().is_sampled());
        assert!(multi(&[(TRACE_ID, T64), (SPAN_ID, S), (FLAGS, "1"), (SAMPLED, "0")]).unwrap().is_sampled());
        assert!(multi(&[(TRACE_ID, T64), (SPAN_ID, S)]).unwrap().is_sampled());
    }

    #[test]
    fn multi_header_invalid_forms() {
        for h in [
            &[(SPAN_ID, S)][..],
            &[(TRACE_ID, T64)],
            &[(TRACE_ID, "463AC35C9F6413AD"), (SPAN_ID, S)],
            &[(TRACE_ID, "463ac35c9f6413a"), (SPAN_ID, S)],
            &[(TRACE_ID, "0000000000000000"), (SPAN_ID, S)],
            &[(TRACE_ID, T64), (SPAN_ID, "0000000000000000")],
            &[(TRACE_ID, T64), (SPAN_ID, S), (SAMPLED, "yes")],
            &[(TRACE_ID, T64), (SPAN_ID, S), (SAMPLED, "d")],
            &[(TRACE_ID, T64), (SPAN_ID, S), (FLAGS, "2")],
            &[(TRACE_ID, T64), (SPAN_ID, S), (PARENT_SPAN_ID, "xyz")],
        ] {
            assert_eq!(multi(h), None, "accepted {h:?}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for sampled in [true, false] {
            let c = SpanContext::remote(TraceId(0x1234), SpanId(0xabc), sampled);
            assert_eq!(single(&format_single(&c)), Some(c.clone()));
            let h = format_multi(&c);
            assert_eq!(parse_multi(|n| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str())), Some(c));
        }
    }
}
