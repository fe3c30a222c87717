//! Feeds arbitrary bytes to every header parser: as one value, and as `name: value` lines given
//! to each propagator. Nothing may panic; whatever is extracted must be valid and survive
//! inject + extract unchanged.
//!
//! ```text
//! cargo +nightly fuzz run headers -- -max_total_time=60
//! ```

#![no_main]

use libfuzzer_sys::fuzz_target;
use tracewell::propagation::{Propagator, b3, plain, w3c};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    if let Some(ctx) = w3c::parse_traceparent(&text) {
        assert!(ctx.is_valid());
        assert_eq!(w3c::parse_traceparent(&w3c::format_traceparent(&ctx)), Some(ctx));
    }
    if let Some(state) = w3c::parse_tracestate([&*text]) {
        assert!(state.split(',').count() <= w3c::MAX_MEMBERS);
        assert_eq!(w3c::parse_tracestate([&*state]).as_deref(), Some(&*state));
    }
    let _ = b3::parse_single(&text);
    let _ = b3::parse_multi(|_| Some(&*text));
    let _ = plain::parse(|_| Some(&*text));

    let headers: Vec<(&str, &str)> = text.lines().filter_map(|l| l.split_once(':')).collect();
    for p in Propagator::ALL {
        if let Some(ctx) = p.extract(&headers) {
            assert!(ctx.is_valid() && ctx.is_remote);
            let mut out: Vec<(String, String)> = Vec::new();
            p.inject(&ctx, &mut out);
            let back = p.extract(&out).expect("what was extracted can be sent on");
            assert_eq!((back.trace_id, back.span_id, back.is_sampled()), (ctx.trace_id, ctx.span_id, ctx.is_sampled()));
        }
    }
});
