//! Feeds arbitrary text to the score's NDJSON reader and checks it against the full reader: a
//! line `SampleLine::parse` reads (by its fast path or not) gives the sample of the span
//! `SpanData::from_json_line` reads, and a line one refuses the other refuses with the same error.
//!
//! ```text
//! cargo +nightly fuzz run span_line corpus/span_line -- -max_total_time=60
//! ```

#![no_main]

use libfuzzer_sys::fuzz_target;
use tracewell::SpanData;
use tracewell::score::{SampleLine, SpanSample};

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else { return };
    match (SampleLine::parse(line), SpanData::from_json_line(line)) {
        (Ok(read), Ok(full)) => assert_eq!(read.sample(), SpanSample::from(&full.span), "{line}"),
        (Err(a), Err(b)) => assert_eq!(a, b, "{line}"),
        (a, b) => panic!("SampleLine::parse gave {a:?}, SpanData::from_json_line {b:?}: {line}"),
    }
});
