//! Reading NDJSON span lines for the score, as `tracewell report` does: [`SampleLine::parse`]
//! gives the [`SpanSample`] of a line.
//!
//! There is one reader of the line format, [`SpanData::from_json_line`]. Decoding a whole span
//! for the dozen fields the score reads would cost most of the command's time, so ordinary lines
//! take a fast path (`scan.rs`) that decodes only those fields and checks the rest only as far as
//! the full reader would reject it; any line it is not sure of goes to the full reader. A line
//! the fast path takes reads as the full reader reads it: the tests check that on every line of
//! a corpus of lines written by tracewell's own writer, and malformed and edge-case lines.

mod scan;

use super::SpanSample;
use crate::span::{JsonError, SpanData};

/// One NDJSON span line read for the score: its [`SpanSample`], borrowing from the line.
///
/// # Examples
///
/// ```
/// use tracewell::score::{SampleLine, Scorer};
/// use tracewell::{SpanData, SpanId, TraceId};
/// let span = SpanData { name: "load".into(), trace_id: TraceId(1), span_id: SpanId(2), ..Default::default() };
/// let mut line = Vec::new();
/// span.write_json_line("svc", &mut line);
/// let read = SampleLine::parse(std::str::from_utf8(&line).unwrap().trim_end()).unwrap();
/// assert_eq!(read.sample(), tracewell::score::SpanSample::from(&span));
/// let mut scorer = Scorer::new();
/// scorer.add_sample(&read.sample());
/// assert!(SampleLine::parse("{\"name\":").is_err());
/// ```
#[derive(Clone, Debug)]
pub struct SampleLine<'a>(Repr<'a>);

#[derive(Clone, Debug)]
enum Repr<'a> {
    /// Read by the fast path: name and branch borrow from the line (they had no escapes).
    Fast(scan::Fast<'a>),
    /// Read by the full reader.
    Full(Box<SpanData>),
}

impl<'a> SampleLine<'a> {
    /// Reads one line (without its newline).
    ///
    /// # Errors
    ///
    /// The [`JsonError`] of [`SpanData::from_json_line`]: the same lines are refused, for the
    /// same reasons.
    pub fn parse(line: &'a str) -> Result<SampleLine<'a>, JsonError> {
        match scan::sample(line) {
            Some(fast) => Ok(SampleLine(Repr::Fast(fast))),
            None => SpanData::from_json_line(line).map(|p| SampleLine(Repr::Full(Box::new(p.span)))),
        }
    }

    /// The fields the score reads.
    pub fn sample(&self) -> SpanSample<'_> {
        match &self.0 {
            Repr::Fast(f) => SpanSample { name: f.name, branch: f.branch, ..f.fields },
            Repr::Full(span) => SpanSample::from(&**span),
        }
    }
}

#[cfg(test)]
mod tests;
