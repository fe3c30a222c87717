//! Reading span lines from a file or standard input, line by line with one reused buffer, and
//! following a file as it grows.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use tracewell::score::SpanSample;

use crate::parse::{Parsed, parse_line};

/// At most this many bad lines are described one by one; the rest are only counted.
const MAX_REPORTED: u64 = 20;
/// Files at least this big get a progress bar (when stderr is a terminal).
const PROGRESS_MIN_BYTES: u64 = 64 << 20;

/// Why reading failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The input could not be opened.
    #[error("cannot open {0}: {1} (give an NDJSON file written by tracewell's file exporter, or - for standard input)")]
    Open(String, #[source] io::Error),
    /// Reading failed midway.
    #[error("cannot read {0}: {1}")]
    Io(String, #[source] io::Error),
    /// A bad line with `--strict`.
    #[error("{input}:{line}: {reason} (stopping because of --strict)")]
    Strict {
        /// The input.
        input: String,
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// The report could not be written.
    #[error("cannot write {0}: {1}")]
    Write(String, #[source] io::Error),
    /// A Redis source was given.
    #[error(
        "{0}: Redis sources are not supported by this build yet; export to an NDJSON file or pipe `redis-cli --raw LRANGE KEY 0 -1` into `tracewell report -`"
    )]
    Redis(String),
}

/// Lines read.
#[derive(Debug, Default)]
pub struct Summary {
    pub lines: u64,
    pub good: u64,
    pub bad: u64,
}

/// Reads every span line of `input` (a path or `-`), calling `f` for each good one.
pub fn read_spans(input: &str, strict: bool, mut f: impl FnMut(&SpanSample<'_>)) -> Result<Summary, ReadError> {
    if input.starts_with("redis://") || input.starts_with("rediss://") {
        let src = crate::redis_src::RedisSource::parse(input)?;
        let bar = ProgressBar::hidden();
        let mut sum = Summary::default();
        src.for_each_line(crate::redis_src::Cursor::Start, |line| {
            sum.lines += 1;
            handle_line(input, line, true, strict, &mut sum, &bar, &mut f)
        })?;
        return Ok(sum);
    }
    let (reader, len): (Box<dyn Read + Send>, Option<u64>) = if input == "-" {
        (Box::new(io::stdin()), None)
    } else {
        let file = File::open(input).map_err(|e| ReadError::Open(input.to_owned(), e))?;
        let len = file.metadata().ok().map(|m| m.len());
        (Box::new(file), len)
    };
    let bar = match len {
        Some(n) if n >= PROGRESS_MIN_BYTES => {
            // Drawn only when stderr is a terminal; hidden in pipes, files and CI logs.
            let bar = ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        }
        _ => ProgressBar::hidden(),
    };
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let mut sum = Summary::default();
    let mut failed = None;
    let progress = {
        let bar = bar.clone();
        move |n| bar.inc(n)
    };
    crate::parallel::for_each_line(reader, workers, progress, |line| {
        sum.lines += 1;
        match line {
            crate::parallel::Line::Span(s) => {
                sum.good += 1;
                f(&s);
            }
            crate::parallel::Line::Blank => {}
            crate::parallel::Line::Bad(reason, complete) => {
                if let Err(e) = bad_line(input, reason, complete, strict, &mut sum, &bar) {
                    failed = Some(e);
                    return false;
                }
            }
        }
        true
    })
    .map_err(|e| ReadError::Io(input.to_owned(), e))?;
    if let Some(e) = failed {
        bar.finish_and_clear();
        return Err(e);
    }
    bar.finish_and_clear();
    Ok(sum)
}

/// Decodes one line (number `sum.lines`) and hands it to `f`, or reports it as bad.
fn handle_line(
    input: &str,
    line: &[u8],
    complete: bool,
    strict: bool,
    sum: &mut Summary,
    bar: &ProgressBar,
    f: &mut impl FnMut(&SpanSample<'_>),
) -> Result<(), ReadError> {
    let line = trim(line);
    if line.is_empty() {
        return Ok(());
    }
    let parsed = match std::str::from_utf8(line) {
        Ok(text) => parse_line(text),
        Err(e) => Err(format!("not UTF-8 text ({e})")),
    };
    match parsed {
        Ok(p) => {
            sum.good += 1;
            f(&p.sample());
            Ok(())
        }
        Err(reason) => bad_line(input, &reason, complete, strict, sum, bar),
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

pub(crate) fn trim(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r' | b' ' | b'\t'] = b {
        b = rest;
    }
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    b
}

/// Prints one line per span: end time, duration, status, name and branch.
fn print_span(p: &Parsed<'_>, out: &mut impl io::Write) -> io::Result<()> {
    let secs = p.end() / 1_000_000_000;
    let (h, m, s, ms) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60, (p.end() / 1_000_000) % 1000);
    let dur = p.end().saturating_sub(p.start()) as f64;
    let dur = if dur < 1e3 {
        format!("{dur:.0}ns")
    } else if dur < 1e6 {
        format!("{:.1}µs", dur / 1e3)
    } else if dur < 1e9 {
        format!("{:.2}ms", dur / 1e6)
    } else {
        format!("{:.2}s", dur / 1e9)
    };
    let branch = p.branch().map(|b| format!(" [{b}]")).unwrap_or_default();
    writeln!(out, "{h:02}:{m:02}:{s:02}.{ms:03}Z {dur:>10} {:<9} {}{branch}", p.status().as_str(), p.name())
}

/// Follows a Redis list or stream (`redis://HOST:PORT/KEY`): prints what it holds, then new
/// entries as they are pushed, polling every 200 ms, until `timeout` passes or Ctrl-C.
pub fn tail_redis(url: &str, filter: Option<&str>, once: bool, timeout: Option<Duration>) -> Result<(), ReadError> {
    let src = crate::redis_src::RedisSource::parse(url)?;
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut cursor = crate::redis_src::Cursor::Start;
    let mut n = 0u64;
    loop {
        let stdout = io::stdout();
        let mut out = stdout.lock();
        let mut closed = false;
        cursor = src.for_each_line(cursor, |line| {
            n += 1;
            match std::str::from_utf8(trim(line)).map_err(|e| format!("not UTF-8 text ({e})")).and_then(parse_line) {
                Ok(p) if filter.is_none_or(|f| p.name().contains(f)) => {
                    closed |= print_span(&p, &mut out).is_err();
                }
                Ok(_) => {}
                Err(reason) => eprintln!("tracewell: {url}: entry {n}: {reason}"),
            }
            Ok(())
        })?;
        let _ = out.flush();
        if closed || once || deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Follows `path` like `tail -f`: prints the spans it holds, then new ones as they are appended,
/// until `timeout` passes (or forever; Ctrl-C stops it). Handles a file that is truncated or
/// replaced by starting over from its beginning; a half-written last line waits for its end.
pub fn tail(path: &Path, filter: Option<&str>, once: bool, timeout: Option<Duration>) -> Result<(), ReadError> {
    let name = path.display().to_string();
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut file = File::open(path).map_err(|e| ReadError::Open(name.clone(), e))?;
    let mut pos = 0u64;
    let mut pending: Vec<u8> = Vec::new();
    let mut line_no = 0u64;
    let stdout = io::stdout();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut chunk).map_err(|e| ReadError::Io(name.clone(), e))?;
        if n > 0 {
            pos += n as u64;
            pending.extend_from_slice(&chunk[..n]);
            let mut out = stdout.lock();
            let mut start = 0;
            while let Some(i) = pending[start..].iter().position(|&b| b == b'\n') {
                let line = trim(&pending[start..start + i]);
                start += i + 1;
                line_no += 1;
                if line.is_empty() {
                    continue;
                }
                match std::str::from_utf8(line).map_err(|e| format!("not UTF-8 text ({e})")).and_then(parse_line) {
                    Ok(p) if filter.is_none_or(|f| p.name().contains(f)) => {
                        if print_span(&p, &mut out).is_err() {
                            return Ok(()); // stdout closed
                        }
                    }
                    Ok(_) => {}
                    Err(reason) => eprintln!("tracewell: {name}:{line_no}: {reason}"),
                }
            }
            let _ = out.flush();
            pending.drain(..start);
            continue;
        }
        if once || deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
        // Truncated or replaced: start over.
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(pos);
        if len < pos {
            file = File::open(path).map_err(|e| ReadError::Open(name.clone(), e))?;
            file.seek(SeekFrom::Start(0)).map_err(|e| ReadError::Io(name.clone(), e))?;
            pos = 0;
            pending.clear();
            line_no = 0;
        }
    }
}
