//! What `report`, `check` and `tail` do with lines, whatever their source: pick the source for
//! the input, hand good spans on, and report bad lines (skipped and counted, or fatal with
//! `--strict`).

use std::fmt::Display;
use std::io;
use std::path::Path;
use std::time::Duration;

use indicatif::ProgressBar;
use tracewell::score::SpanSample;

use crate::source::redis::{Cursor, RedisSource};
use crate::source::{Line, ReadError, decode, file, is_redis, trim};

/// At most this many bad lines are described one by one; the rest are only counted.
const MAX_REPORTED: u64 = 20;

/// Lines read.
#[derive(Debug, Default)]
pub struct Summary {
    pub lines: u64,
    pub good: u64,
    pub bad: u64,
}

/// Reads every span line of `input` (a path, `-`, or a Redis URL), calling `f` for each good one.
pub fn read_spans(input: &str, strict: bool, f: impl FnMut(&SpanSample<'_>)) -> Result<Summary, ReadError> {
    let mut tally = Tally { input, strict, sum: Summary::default(), failed: None, f };
    if is_redis(input) {
        let bar = ProgressBar::hidden();
        RedisSource::parse(input)?.for_each_line(Cursor::Start, |raw| {
            let line = trim(raw);
            let decoded = (!line.is_empty()).then(|| decode(line));
            tally.take(
                match &decoded {
                    None => Line::Blank,
                    Some(Ok(p)) => Line::Span(p.sample()),
                    Some(Err(reason)) => Line::Bad(reason, true),
                },
                &bar,
            );
            tally.failed.take().map_or(Ok(()), Err)
        })?;
    } else {
        file::for_each_line(input, |line, bar| tally.take(line, bar))?;
    }
    match tally.failed {
        Some(e) => Err(e),
        None => Ok(tally.sum),
    }
}

/// The lines read so far, and the error that stopped reading.
struct Tally<'a, F> {
    input: &'a str,
    strict: bool,
    sum: Summary,
    failed: Option<ReadError>,
    f: F,
}

impl<F: FnMut(&SpanSample<'_>)> Tally<'_, F> {
    /// Counts one line and hands a span on; `false` once a bad line stops reading (`--strict`).
    fn take(&mut self, line: Line<'_>, bar: &ProgressBar) -> bool {
        self.sum.lines += 1;
        match line {
            Line::Span(s) => {
                self.sum.good += 1;
                (self.f)(&s);
            }
            Line::Blank => {}
            Line::Bad(reason, complete) => {
                if let Err(e) = bad_line(self.input, reason, complete, self.strict, &mut self.sum, bar) {
                    self.failed = Some(e);
                    return false;
                }
            }
        }
        true
    }
}

/// Reports bad line number `sum.lines`: an error with `--strict`, else a message (the first
/// few) and a count.
fn bad_line(
    input: &str,
    reason: &str,
    complete: bool,
    strict: bool,
    sum: &mut Summary,
    bar: &ProgressBar,
) -> Result<(), ReadError> {
    let mut reason = reason.to_owned();
    if !complete {
        reason.push_str("; the input ends in the middle of this line (truncated?)");
    }
    if strict {
        return Err(ReadError::Strict { input: input.to_owned(), line: sum.lines, reason });
    }
    sum.bad += 1;
    if sum.bad <= MAX_REPORTED {
        bar.suspend(|| eprintln!("tracewell: {input}:{}: {reason}", sum.lines));
    } else if sum.bad == MAX_REPORTED + 1 {
        bar.suspend(|| eprintln!("tracewell: more bad lines follow; counting them only"));
    }
    Ok(())
}

/// Prints the spans `input` (a file or a Redis URL) holds, then new ones as they arrive, until
/// `timeout` passes or Ctrl-C (or at once with `once`).
pub fn tail(input: &str, filter: Option<&str>, once: bool, timeout: Option<Duration>) -> Result<(), ReadError> {
    if is_redis(input) {
        let src = RedisSource::parse(input)?;
        src.follow(once, timeout, |n, line| print_line(trim(line), filter, format_args!("{input}: entry {n}")))
    } else {
        let path = Path::new(input);
        let name = path.display().to_string();
        file::follow(path, once, timeout, |n, line| print_line(line, filter, format_args!("{name}:{n}")))
    }
}

/// Prints `line` when it is a span that passes `filter`, or says on stderr what is wrong with it
/// (`at` says where it is); `false` once standard output is closed.
fn print_line(line: &[u8], filter: Option<&str>, at: impl Display) -> bool {
    match decode(line) {
        Ok(p) => {
            let s = p.sample();
            !filter.is_none_or(|f| s.name.contains(f)) || print_span(&s, &mut io::stdout().lock()).is_ok()
        }
        Err(reason) => {
            eprintln!("tracewell: {at}: {reason}");
            true
        }
    }
}

/// Prints one line per span: end time, duration, status, name and branch.
fn print_span(s: &SpanSample<'_>, out: &mut impl io::Write) -> io::Result<()> {
    let (start, end) = (s.start_time_unix_nano, s.end_time_unix_nano);
    let secs = end / 1_000_000_000;
    let (h, m, sec, ms) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60, (end / 1_000_000) % 1000);
    let dur = end.saturating_sub(start) as f64;
    let dur = if dur < 1e3 {
        format!("{dur:.0}ns")
    } else if dur < 1e6 {
        format!("{:.1}µs", dur / 1e3)
    } else if dur < 1e9 {
        format!("{:.2}ms", dur / 1e6)
    } else {
        format!("{:.2}s", dur / 1e9)
    };
    let branch = s.branch.map(|b| format!(" [{b}]")).unwrap_or_default();
    writeln!(out, "{h:02}:{m:02}:{sec:02}.{ms:03}Z {dur:>10} {:<9} {}{branch}", s.status.as_str(), s.name)
}
