//! Selection, precedence and round trips across formats; property tests over arbitrary headers.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;
use crate::context::{FLAG_RANDOM, FLAG_SAMPLED};
use crate::span::{SpanId, TraceId};

/// Tests that install the pipeline run one at a time (dropping a guard uninstalls it).
pub(crate) static PIPELINE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes the pipeline lock and installs a pipeline (kept until the returned guards drop).
pub(crate) fn pipeline() -> (std::sync::MutexGuard<'static, ()>, Option<crate::Guard>) {
    let lock = PIPELINE.lock().unwrap_or_else(|e| e.into_inner());
    (lock, crate::builder().install().ok())
}

const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn names_parse_like_otel_propagators() {
    assert_eq!("".parse::<Propagators>().unwrap(), Propagators::none());
    assert_eq!("none".parse::<Propagators>().unwrap(), Propagators::none());
    assert_eq!(
        " TraceContext , b3,b3multi,tracewell,b3 ".parse::<Propagators>().unwrap().as_slice(),
        [Propagator::TraceContext, Propagator::B3, Propagator::B3Multi, Propagator::Tracewell]
    );
    let err = "tracecontext,baggage".parse::<Propagators>().unwrap_err();
    assert_eq!(err, PropagatorError::Unknown("baggage".into()));
    assert!(err.to_string().starts_with("unknown propagator \"baggage\""));
    assert_eq!(Propagators::none().to_string(), "none");
}

#[test]
fn first_configured_format_wins() {
    let h =
        map(&[("traceparent", TP), ("trace_id", "0af7651916cd43dd8448eb211c80319c"), ("span_id", "b7ad6b7169203331")]);
    let w3c_first = Propagators::default().extract(&h).unwrap();
    assert_eq!(w3c_first.span_id, SpanId(0x00f0_67aa_0ba9_02b7));
    let plain_first = Propagators::new([Propagator::Tracewell, Propagator::TraceContext]).extract(&h).unwrap();
    assert_eq!(plain_first.span_id, SpanId(0xb7ad_6b71_6920_3331));
    // an invalid traceparent falls through to the next format
    let h = map(&[
        ("traceparent", "garbage"),
        ("trace_id", "0af7651916cd43dd8448eb211c80319c"),
        ("span_id", "b7ad6b7169203331"),
    ]);
    assert_eq!(Propagators::default().extract(&h).unwrap().span_id, SpanId(0xb7ad_6b71_6920_3331));
    assert!(Propagators::none().extract(&h).is_none());
}

#[test]
fn tracestate_needs_a_valid_traceparent() {
    let h = map(&[("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"), ("tracestate", "a=1")]);
    assert!(Propagator::TraceContext.extract(&h).is_none());
    let h = map(&[("traceparent", TP), ("tracestate", "a=1,A=2")]);
    let ctx = Propagator::TraceContext.extract(&h).unwrap();
    assert_eq!(ctx.trace_state, None, "an invalid tracestate is dropped, the traceparent kept");
}

#[test]
fn several_traceparent_headers_are_invalid_and_tracestates_combine() {
    let h = vec![("traceparent", TP), ("traceparent", TP)];
    assert!(Propagator::TraceContext.extract(&h).is_none());
    let h = vec![("traceparent", TP), ("TraceState", "a=1"), ("tracestate", "b=2")];
    assert_eq!(Propagator::TraceContext.extract(&h).unwrap().trace_state.as_deref(), Some("a=1,b=2"));
}

#[test]
fn b3_single_takes_precedence_over_multi() {
    let h = map(&[
        ("B3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-0"),
        ("X-B3-TraceId", "463ac35c9f6413ad48485a3953bb6124"),
        ("X-B3-SpanId", "a2fb4a1d1a96d312"),
        ("X-B3-Sampled", "1"),
    ]);
    let ctx = Propagator::B3Multi.extract(&h).unwrap();
    assert_eq!(ctx.span_id, SpanId(0xe457_b5a2_e4d8_6bd1));
    assert!(!ctx.is_sampled());
    // invalid or sampling-only single header: the multi headers are used
    for single in ["nonsense", "0"] {
        let mut h = h.clone();
        h.insert("B3".into(), single.into());
        assert_eq!(Propagator::B3Multi.extract(&h).unwrap().span_id, SpanId(0xa2fb_4a1d_1a96_d312));
        assert!(Propagator::B3.extract(&h).is_none());
    }
}

#[test]
fn injects_every_format_in_lowercase() {
    let ctx = SpanContext {
        trace_id: TraceId(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
        span_id: SpanId(0x00f0_67aa_0ba9_02b7),
        trace_flags: FLAG_SAMPLED,
        is_remote: false,
        trace_state: Some("congo=t61rcWkgMzE".into()),
    };
    let mut h: HashMap<String, String> = map(&[("TRACEPARENT", "stale"), ("X-B3-Sampled", "0")]);
    Propagators::new(Propagator::ALL).inject_context(&ctx, &mut h);
    let mut names: Vec<&str> = h.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "b3",
            "is_sampled",
            "span_id",
            "trace_id",
            "traceparent",
            "tracestate",
            "x-b3-sampled",
            "x-b3-spanid",
            "x-b3-traceid"
        ]
    );
    assert_eq!(h["traceparent"], TP);
    assert_eq!(h["tracestate"], "tracewell=00f067aa0ba902b7,congo=t61rcWkgMzE");
    assert_eq!(h["b3"], "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1");
    assert_eq!(h["x-b3-sampled"], "1");
    assert_eq!(h["is_sampled"], "true");
    // nothing for an invalid context
    let mut empty: HashMap<String, String> = HashMap::new();
    Propagators::new(Propagator::ALL).inject_context(&SpanContext::NONE, &mut empty);
    assert!(empty.is_empty());
}

#[test]
fn round_trip_through_the_pipeline_keeps_one_trace() {
    let (_lock, _g) = pipeline();
    for p in Propagator::ALL {
        let props = Propagators::new([p]);
        let mut h: Vec<(String, String)> = Vec::new();
        let caller = {
            let s = crate::span("caller").start();
            props.inject_context(&crate::current(), &mut h);
            s.context().clone()
        };
        let parent = props.extract(&h).unwrap();
        assert_eq!((parent.trace_id, parent.span_id, parent.is_sampled()), (caller.trace_id, caller.span_id, true));
        assert!(parent.is_remote);
        let callee = crate::span("callee").parent(&parent).start_detached();
        assert_eq!(callee.context().trace_id, caller.trace_id, "{p}");
    }
}

fn arb_ctx() -> impl Strategy<Value = SpanContext> {
    (1..=u128::MAX, 1..=u64::MAX, 0u8..4).prop_map(|(t, s, f)| SpanContext {
        trace_id: TraceId(t),
        span_id: SpanId(s),
        trace_flags: f & (FLAG_SAMPLED | FLAG_RANDOM),
        is_remote: true,
        trace_state: None,
    })
}

/// Strings from the characters the grammars care about, so the parsers' branches are reached,
/// mixed with anything at all.
fn arb_header() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9a-fA-F\\-]{0,70}",
        "(0[0-9a-f]|ff|[0-9a-f]{2})-[0-9a-f]{30,34}-[0-9a-f]{14,18}-[0-9a-f]{1,3}(-.{0,10})?",
        "[ \t]*[a-z0-9@_*/\\-]{0,20}=[ -~]{0,20}([ \t]*,[ \t]*[a-z0-9@]{0,8}=[ -~]{0,8}){0,40}",
        "[0-9a-f]{15,33}-[0-9a-f]{15,17}(-[01d]{0,2}(-[0-9a-f]{15,17})?)?",
        "[ -~]{0,600}",
    ]
}

const NAMES: [&str; 11] = [
    "traceparent",
    "tracestate",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-sampled",
    "x-b3-flags",
    "x-b3-parentspanid",
    "trace_id",
    "span_id",
    "is_sampled",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: if cfg!(miri) { 8 } else { 500 }, ..ProptestConfig::default() })]

    #[test]
    fn extraction_never_panics_and_yields_only_valid_contexts(
        values in proptest::collection::vec((0usize..NAMES.len(), arb_header(), any::<bool>()), 0..12)
    ) {
        let headers: Vec<(String, String)> = values
            .into_iter()
            .map(|(i, v, upper)| (if upper { NAMES[i].to_ascii_uppercase() } else { NAMES[i].to_owned() }, v))
            .collect();
        for p in Propagator::ALL {
            if let Some(ctx) = p.extract(&headers) {
                prop_assert!(ctx.is_valid() && ctx.is_remote);
                prop_assert_eq!(ctx.trace_flags & !(FLAG_SAMPLED | FLAG_RANDOM), 0);
                if let Some(state) = &ctx.trace_state {
                    // bounded: at most 32 members of at most 256 + 1 + 256 characters
                    prop_assert!(state.len() <= 32 * 514);
                    prop_assert!(state.split(',').count() <= 32);
                    let again = w3c::parse_tracestate([&state[..]]);
                    prop_assert_eq!(again.as_deref(), Some(&state[..]));
                }
                // what we extract, we can send on and read back
                let mut out: Vec<(String, String)> = Vec::new();
                p.inject(&ctx, &mut out);
                let back = p.extract(&out).unwrap();
                prop_assert_eq!((back.trace_id, back.span_id, back.is_sampled()), (ctx.trace_id, ctx.span_id, ctx.is_sampled()));
            }
        }
    }

    #[test]
    fn single_values_never_panic(v in arb_header()) {
        if let Some(c) = w3c::parse_traceparent(&v) {
            prop_assert!(c.is_valid());
            prop_assert_eq!(w3c::parse_traceparent(&w3c::format_traceparent(&c)), Some(c));
        }
        let _ = w3c::parse_tracestate([&v[..]]);
        let _ = b3::parse_single(&v);
        let _ = b3::parse_multi(|_| Some(&v[..]));
        let _ = plain::parse(|_| Some(&v[..]));
    }

    #[test]
    fn inject_then_extract_is_the_same_context(ctx in arb_ctx(), state in "[a-z]{1,5}=[a-z0-9]{1,40}(,[a-z]{1,5}[0-9]{0,3}=[a-z]{1,200}){0,40}") {
        let mut ctx = ctx;
        ctx.trace_state = w3c::parse_tracestate([&state[..]]);
        for p in Propagator::ALL {
            let mut h: HashMap<String, String> = HashMap::new();
            p.inject(&ctx, &mut h);
            let back = p.extract(&h).unwrap();
            prop_assert_eq!((back.trace_id, back.span_id, back.is_sampled()), (ctx.trace_id, ctx.span_id, ctx.is_sampled()));
            if p == Propagator::TraceContext {
                prop_assert_eq!(back.trace_flags, ctx.trace_flags);
                let sent = &h["tracestate"];
                prop_assert!(sent.len() <= w3c::MAX_TRACESTATE_LEN);
                let ours = format!("tracewell={}", ctx.span_id);
                prop_assert!(sent.starts_with(&ours));
                prop_assert!(back.trace_state.is_some());
            }
        }
    }
}
