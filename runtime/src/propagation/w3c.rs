//! W3C Trace Context (<https://www.w3.org/TR/trace-context-2/>): the `traceparent` and
//! `tracestate` headers, parsed and written to the letter of the specification and its test suite.
//!
//! - `traceparent`: lowercase hex only; all-zero trace or parent id invalid; version `ff` invalid;
//!   version `00` is exactly 55 characters in 4 fields; a higher version is parsed by its 55
//!   character prefix (which must be followed by `-` or the end) and re-emitted as `00`. The
//!   sampled (`01`) and random (`02`) flags are kept, other bits are reserved and cleared.
//!   Optional whitespace around the value is accepted.
//! - `tracestate`: read only when `traceparent` is valid; several headers are combined in order;
//!   empty members and whitespace around members are allowed. A member whose key or value breaks
//!   the grammar, a duplicated key, or more than 32 members makes the whole `tracestate` invalid,
//!   and it is discarded (the spec's conformance suite requires exactly that) while the
//!   `traceparent` is kept.
//! - On inject our own member (`tracewell=<span id>`) is put on the left, replacing an earlier
//!   one; the list is cut to 32 members and 512 characters by dropping members longer than 128
//!   characters first (rightmost first), then members from the right.

use std::sync::Arc;

use super::hex;
use crate::context::{FLAG_RANDOM, FLAG_SAMPLED, SpanContext};
use crate::span::{SpanId, TraceId};

/// The `traceparent` header name.
pub const TRACEPARENT: &str = "traceparent";
/// The `tracestate` header name.
pub const TRACESTATE: &str = "tracestate";
/// The most list members a `tracestate` may have.
pub const MAX_MEMBERS: usize = 32;
/// The combined `tracestate` length tracewell propagates (the spec's "at least 512").
pub const MAX_TRACESTATE_LEN: usize = 512;
/// Members longer than this are the first to go when `tracestate` is too long.
pub const LONG_MEMBER: usize = 128;
/// The key of tracewell's own `tracestate` member.
pub const VENDOR_KEY: &str = "tracewell";

const TRACEPARENT_LEN: usize = 55;

/// Parses a `traceparent` value; `None` if it is invalid in any way.
///
/// The result is a remote context without trace state.
///
/// # Examples
///
/// ```
/// use tracewell::propagation::w3c::parse_traceparent;
/// let ctx = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
/// assert!(ctx.is_sampled() && ctx.is_remote);
/// assert!(parse_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01").is_none());
/// assert!(parse_traceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_none());
/// ```
pub fn parse_traceparent(value: &str) -> Option<SpanContext> {
    let v = trim_ows(value).as_bytes();
    if v.len() < TRACEPARENT_LEN {
        return None;
    }
    let version = hex::byte(&v[0..2])?;
    if version == 0xff {
        return None;
    }
    if version == 0 && v.len() != TRACEPARENT_LEN {
        return None;
    }
    if v.len() > TRACEPARENT_LEN && v[TRACEPARENT_LEN] != b'-' {
        return None;
    }
    if v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return None;
    }
    let trace_id = hex::u128_exact(&v[3..35])?;
    let span_id = hex::u64_exact(&v[36..52])?;
    let flags = hex::byte(&v[53..55])?;
    if trace_id == 0 || span_id == 0 {
        return None;
    }
    Some(SpanContext {
        trace_id: TraceId(trace_id),
        span_id: SpanId(span_id),
        trace_flags: flags & (FLAG_SAMPLED | FLAG_RANDOM),
        is_remote: true,
        trace_state: None,
    })
}

/// Writes the version `00` `traceparent` for `ctx` (reserved flag bits cleared).
///
/// # Examples
///
/// ```
/// use tracewell::{SpanContext, TraceId, SpanId};
/// use tracewell::propagation::w3c::format_traceparent;
/// let ctx = SpanContext::remote(TraceId(0x4bf92f3577b34da6a3ce929d0e0e4736), SpanId(0xf067aa0ba902b7), true);
/// assert_eq!(format_traceparent(&ctx), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// ```
pub fn format_traceparent(ctx: &SpanContext) -> String {
    let mut out = [0u8; TRACEPARENT_LEN];
    out[0] = b'0';
    out[1] = b'0';
    out[2] = b'-';
    hex::write(&mut out[3..35], ctx.trace_id.0);
    out[35] = b'-';
    hex::write(&mut out[36..52], ctx.span_id.0 as u128);
    out[52] = b'-';
    hex::write(&mut out[53..55], (ctx.trace_flags & (FLAG_SAMPLED | FLAG_RANDOM)) as u128);
    out.iter().map(|&b| b as char).collect()
}

/// Parses the combined `tracestate` values (one per header, in order) into its normalized form:
/// members joined by `,` without whitespace. `None` when there are no members or the list is
/// invalid (see the module documentation).
///
/// Memory is bounded whatever the input: at most 32 members of at most 513 characters are kept.
///
/// # Examples
///
/// ```
/// use tracewell::propagation::w3c::parse_tracestate;
/// assert_eq!(parse_tracestate(["rojo=00f067aa0ba902b7 , ", "congo=t61rcWkgMzE"]).as_deref(),
///            Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"));
/// assert_eq!(parse_tracestate(["foo=1,foo=2"]), None);
/// ```
pub fn parse_tracestate<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Arc<str>> {
    let mut parser = TraceStateParser::default();
    for v in values {
        parser.feed(v);
    }
    parser.finish()
}

/// Parses `tracestate` header by header (for carriers that hand values to a visitor).
///
/// Holds at most 32 members whatever it is fed, and stops looking once the input is invalid.
#[derive(Debug, Default)]
pub struct TraceStateParser<'a> {
    members: smallvec::SmallVec<[(&'a str, &'a str); 8]>,
    invalid: bool,
}

impl<'a> TraceStateParser<'a> {
    /// Adds one `tracestate` header value.
    pub fn feed(&mut self, value: &'a str) {
        if self.invalid {
            return;
        }
        for member in value.split(',') {
            let member = trim_ows(member);
            if member.is_empty() {
                continue;
            }
            let ok = match member.split_once('=') {
                Some((key, val)) => {
                    let ok = valid_key(key)
                        && valid_value(val)
                        && self.members.len() < MAX_MEMBERS
                        && !self.members.iter().any(|(k, _)| *k == key);
                    if ok {
                        self.members.push((key, val));
                    }
                    ok
                }
                None => false,
            };
            if !ok {
                self.invalid = true;
                self.members = smallvec::SmallVec::new();
                return;
            }
        }
    }

    /// The normalized list, or `None` if it was invalid or empty.
    pub fn finish(self) -> Option<Arc<str>> {
        if self.invalid || self.members.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(self.members.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
        for (i, (k, v)) in self.members.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        }
        Some(out.into())
    }
}

/// The `tracestate` to send for `ctx`: tracewell's member (`tracewell=<span id>`) on the left,
/// then the members `ctx` carries (an older `tracewell` member removed), cut to 32 members and
/// 512 characters.
///
/// # Examples
///
/// ```
/// use tracewell::{SpanContext, TraceId, SpanId};
/// use tracewell::propagation::w3c::format_tracestate;
/// let mut ctx = SpanContext::remote(TraceId(1), SpanId(0xab), true);
/// ctx.trace_state = Some("congo=t61rcWkgMzE,tracewell=0000000000000001".into());
/// assert_eq!(format_tracestate(&ctx), "tracewell=00000000000000ab,congo=t61rcWkgMzE");
/// ```
pub fn format_tracestate(ctx: &SpanContext) -> String {
    let ours = format!("{VENDOR_KEY}={}", ctx.span_id);
    let mut members: smallvec::SmallVec<[&str; 8]> = smallvec::SmallVec::new();
    members.push(&ours);
    if let Some(state) = &ctx.trace_state {
        for m in state.split(',').map(trim_ows).filter(|m| !m.is_empty()) {
            let key = m.split_once('=').map_or(m, |(k, _)| k);
            if key != VENDOR_KEY && members.len() < MAX_MEMBERS * 2 {
                members.push(m);
            }
        }
    }
    members.truncate(MAX_MEMBERS);
    let len = |ms: &[&str]| ms.iter().map(|m| m.len()).sum::<usize>() + ms.len().saturating_sub(1);
    while len(&members) > MAX_TRACESTATE_LEN {
        match members.iter().rposition(|m| m.len() > LONG_MEMBER) {
            Some(i) if i > 0 => {
                members.remove(i);
            }
            _ => {
                members.pop();
            }
        }
        if members.len() <= 1 {
            break;
        }
    }
    members.join(",")
}

/// Whether `key` is a valid `tracestate` key: `simple-key` or `tenant-id@system-id`.
pub fn valid_key(key: &str) -> bool {
    fn tail(bytes: &[u8]) -> bool {
        bytes.iter().all(|&c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/'))
    }
    let k = key.as_bytes();
    match k.iter().position(|&c| c == b'@') {
        None => (1..=256).contains(&k.len()) && k[0].is_ascii_lowercase() && tail(&k[1..]),
        Some(at) => {
            let (tenant, system) = (&k[..at], &k[at + 1..]);
            (1..=241).contains(&tenant.len())
                && (tenant[0].is_ascii_lowercase() || tenant[0].is_ascii_digit())
                && tail(&tenant[1..])
                && (1..=14).contains(&system.len())
                && system[0].is_ascii_lowercase()
                && tail(&system[1..])
        }
    }
}

/// Whether `value` is a valid `tracestate` value: 1 to 256 printable ASCII characters other than
/// `,` and `=`, not ending in a space.
pub fn valid_value(value: &str) -> bool {
    let v = value.as_bytes();
    (1..=256).contains(&v.len())
        && v.iter().all(|&c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
        && v[v.len() - 1] != b' '
}

/// Removes HTTP optional whitespace (spaces and tabs) from both ends.
pub(crate) fn trim_ows(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    const TID: &str = "12345678901234567890123456789012";
    const PID: &str = "1234567890123456";

    fn tp(s: &str) -> Option<SpanContext> {
        parse_traceparent(s)
    }

    #[test]
    fn traceparent_valid_forms() {
        let c = tp(&format!("00-{TID}-{PID}-01")).unwrap();
        assert_eq!(c.trace_id.to_string(), TID);
        assert_eq!(c.span_id.to_string(), PID);
        assert_eq!(c.trace_flags, 1);
        assert!(c.is_remote && c.trace_state.is_none());
        assert_eq!(tp(&format!("00-{TID}-{PID}-00")).unwrap().trace_flags, 0);
        // random flag kept, reserved bits cleared
        assert_eq!(tp(&format!("00-{TID}-{PID}-03")).unwrap().trace_flags, 3);
        assert_eq!(tp(&format!("00-{TID}-{PID}-ff")).unwrap().trace_flags, 3);
        assert_eq!(tp(&format!("00-{TID}-{PID}-fe")).unwrap().trace_flags, 2);
        // optional whitespace
        for s in [" ", "\t", " \t"] {
            assert!(tp(&format!("{s}00-{TID}-{PID}-01{s}")).is_some(), "{s:?}");
        }
    }

    #[test]
    fn traceparent_higher_versions_parse_by_prefix() {
        for v in ["01", "cc", "fe"] {
            assert!(tp(&format!("{v}-{TID}-{PID}-01")).is_some(), "{v}");
            assert!(tp(&format!("{v}-{TID}-{PID}-01-what-the-future-will-be-like")).is_some(), "{v}");
            assert!(tp(&format!("{v}-{TID}-{PID}-01.what-the-future-will-be-like")).is_none(), "{v}");
            assert!(tp(&format!("{v}-{TID}-{PID}-01-")).is_some(), "{v}");
        }
        let c = tp(&format!("cc-{TID}-{PID}-01-extra")).unwrap();
        assert_eq!(format_traceparent(&c), format!("00-{TID}-{PID}-01"));
    }

    #[test]
    fn traceparent_invalid_forms() {
        let bad = [
            String::new(),
            "00".into(),
            format!("ff-{TID}-{PID}-01"),
            format!("ff-{TID}-{PID}-01-extra"),
            format!("0-{TID}-{PID}-01"),
            format!("000-{TID}-{PID}-01"),
            format!("0x-{TID}-{PID}-01"),
            format!("0G-{TID}-{PID}-01"),
            format!("00-{TID}-{PID}-01-"),
            format!("00-{TID}-{PID}-01-extra"),
            format!("00-{TID}-{PID}-01."),
            format!("00-{TID}-{PID}-1"),
            format!("00-{TID}-{PID}-001"),
            format!("00-{TID}-{PID}-0g"),
            format!("00-{TID}-{PID}"),
            format!("00-{}-{PID}-01", TID.to_uppercase().replace('1', "A")),
            format!("00-ABCDEF78901234567890123456789012-{PID}-01"),
            format!("00-{TID}-ABCDEF7890123456-01"),
            format!("00-{TID}-{PID}-0A"),
            format!("00-00000000000000000000000000000000-{PID}-01"),
            format!("00-{TID}-0000000000000000-01"),
            format!("00-{}-{PID}-01", &TID[1..]),
            format!("00-{TID}0-{PID}-01"),
            format!("00-{TID}-{}-01", &PID[1..]),
            format!("00-{TID}-{PID}0-01"),
            format!("00_{TID}-{PID}-01"),
            format!("00-{TID}_{PID}-01"),
            format!("00-{TID}-{PID}_01"),
            format!("00-{TID}-{PID}-01\n"),
            format!("00-1234567890123456789012345678901\u{e9}-{PID}-01"),
            format!(" 00-{TID}-{PID}-01 x"),
            format!("00 -{TID}-{PID}-01"),
        ];
        for b in &bad {
            assert!(tp(b).is_none(), "accepted {b:?}");
        }
    }

    #[test]
    fn traceparent_round_trip() {
        let c = SpanContext {
            trace_id: TraceId(0xab),
            span_id: SpanId(1),
            trace_flags: FLAG_SAMPLED | FLAG_RANDOM,
            is_remote: true,
            trace_state: None,
        };
        let s = format_traceparent(&c);
        assert_eq!(s, "00-000000000000000000000000000000ab-0000000000000001-03");
        assert_eq!(tp(&s).unwrap(), c);
    }

    fn ts(vals: &[&str]) -> Option<String> {
        parse_tracestate(vals.iter().copied()).map(|s| s.to_string())
    }

    #[test]
    fn tracestate_valid_forms() {
        assert_eq!(ts(&["foo=1"]).as_deref(), Some("foo=1"));
        assert_eq!(ts(&["foo=1 \t , \t bar=2, \t baz=3"]).as_deref(), Some("foo=1,bar=2,baz=3"));
        assert_eq!(ts(&["\t foo=1 \t"]).as_deref(), Some("foo=1"));
        assert_eq!(ts(&["foo=1,,, ,bar=2"]).as_deref(), Some("foo=1,bar=2"));
        // several headers combine in order; empty ones are fine
        assert_eq!(ts(&["", "foo=1"]).as_deref(), Some("foo=1"));
        assert_eq!(
            ts(&["foo=1,bar=2", "rojo=1,congo=2", "baz=3"]).as_deref(),
            Some("foo=1,bar=2,rojo=1,congo=2,baz=3")
        );
        assert_eq!(ts(&[""]), None);
        assert_eq!(ts(&[" , "]), None);
        // every allowed character
        let key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
        let value: String = (0x20u8..=0x7e).filter(|c| *c != b',' && *c != b'=').map(char::from).collect();
        assert!(ts(&[&format!("{key}={value}")]).is_some());
        assert!(ts(&[&format!("{key}@a-z0-9_-*/={value}")]).is_some());
        // value may start with a space
        assert_eq!(ts(&["foo= 1"]).as_deref(), Some("foo= 1"));
        // tenant may start with a digit
        assert!(ts(&["1tenant@vendor=1"]).is_some());
    }

    #[test]
    fn tracestate_member_limit() {
        let members: Vec<String> = (1..=33).map(|i| format!("bar{i:02}={i:02}")).collect();
        let s32 = ts(&[&members[..32].join(",")]).unwrap();
        assert_eq!(s32.split(',').count(), 32);
        assert_eq!(ts(&[&members.join(",")]), None);
        assert_eq!(ts(&[&members[..20].join(","), &members[20..].join(",")]), None);
    }

    #[test]
    fn tracestate_key_lengths() {
        assert!(ts(&["foo=1", &format!("{}=1", "z".repeat(256))]).is_some());
        assert!(ts(&["foo=1", &format!("{}=1", "z".repeat(257))]).is_none());
        assert!(ts(&["foo=1", &format!("{}@{}=1", "t".repeat(241), "v".repeat(14))]).is_some());
        assert!(ts(&["foo=1", &format!("{}@v=1", "t".repeat(242))]).is_none());
        assert!(ts(&["foo=1", &format!("t@{}=1", "v".repeat(15))]).is_none());
        assert!(ts(&[&format!("foo={}", "v".repeat(256))]).is_some());
        assert!(ts(&[&format!("foo={}", "v".repeat(257))]).is_none());
    }

    #[test]
    fn tracestate_invalid_forms() {
        for bad in [
            "foo =1",
            "foo= ",
            "foo=1 x=",
            "FOO=1",
            "foo.bar=1",
            "foo@=1,bar=2",
            "@foo=1,bar=2",
            "foo@@bar=1,bar=2",
            "foo@bar@baz=1,bar=2",
            "foo@Bar=1",
            "foo@1bar=1",
            "_foo=1",
            "1foo=1",
            "foo",
            "foo=",
            "=1",
            "foo=1=2",
            "foo=1,foo=1",
            "foo=1,foo=2",
            "foo=\u{e9}",
            "foo=a\x7fb",
            "foo=a\nb",
        ] {
            assert_eq!(ts(&[bad]), None, "accepted {bad:?}");
        }
        assert_eq!(ts(&["foo=1", "foo=1"]), None);
        assert_eq!(ts(&["foo=1", "foo=2"]), None);
    }

    fn ctx_with_state(state: &str) -> SpanContext {
        let mut c = SpanContext::remote(TraceId(1), SpanId(0xab), true);
        c.trace_state = Some(state.into());
        c
    }

    #[test]
    fn our_member_goes_left_and_replaces_the_old_one() {
        let c = SpanContext::remote(TraceId(1), SpanId(0xab), true);
        assert_eq!(format_tracestate(&c), "tracewell=00000000000000ab");
        let c = ctx_with_state("a=1,tracewell=0000000000000001,b=2");
        assert_eq!(format_tracestate(&c), "tracewell=00000000000000ab,a=1,b=2");
    }

    #[test]
    fn outbound_list_is_cut_to_32_members() {
        let state: Vec<String> = (1..=32).map(|i| format!("k{i}=v")).collect();
        let out = format_tracestate(&ctx_with_state(&state.join(",")));
        let members: Vec<&str> = out.split(',').collect();
        assert_eq!(members.len(), 32);
        assert_eq!(members[0], "tracewell=00000000000000ab");
        assert_eq!(members[31], "k31=v");
    }

    #[test]
    fn long_members_are_dropped_first_when_too_long() {
        let long1 = format!("long1={}", "x".repeat(200));
        let long2 = format!("long2={}", "y".repeat(200));
        let shorts: Vec<String> = (0..10).map(|i| format!("s{i}={}", "z".repeat(20))).collect();
        let state = format!("{long1},{},{long2},{}", shorts[..5].join(","), shorts[5..].join(","));
        let out = format_tracestate(&ctx_with_state(&state));
        assert!(out.len() <= MAX_TRACESTATE_LEN, "{}", out.len());
        // one long member had to go: the rightmost one
        assert!(out.contains("long1=") && !out.contains("long2="), "{out}");
        assert!(shorts.iter().all(|s| out.contains(s.as_str())));
        // then members go from the right
        let many: Vec<String> = (0..30).map(|i| format!("m{i:02}={}", "q".repeat(30))).collect();
        let out = format_tracestate(&ctx_with_state(&many.join(",")));
        assert!(out.len() <= MAX_TRACESTATE_LEN);
        assert!(out.starts_with("tracewell=") && out.contains("m00=") && !out.contains("m29="));
        let kept = out.split(',').count();
        assert!(kept > 10, "{out}");
        assert!(out.len() + 35 > MAX_TRACESTATE_LEN, "cut more than needed: {out}");
    }
}
