//! Where span lines come from: an NDJSON file or standard input (`file.rs`, decoded on worker
//! threads by `parallel.rs`), or a Redis list or stream (`redis.rs`). Sources hand out lines and
//! decode them with [`decode`]; what a bad line means (skip, count, stop) is the caller's
//! (`read.rs`).

pub mod file;
pub mod parallel;
pub mod redis;

use std::io;

use tracewell::score::{SampleLine, SpanSample};

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
    /// A Redis source could not be read; the text says why and what to check.
    #[error("{0}")]
    Redis(String),
}

/// A line as the caller sees it.
pub enum Line<'a> {
    /// A good span.
    Span(SpanSample<'a>),
    /// A bad line: why, and whether it had its newline.
    Bad(&'a str, bool),
    /// An empty line.
    Blank,
}

/// Whether `input` names a Redis list or stream rather than a file.
pub fn is_redis(input: &str) -> bool {
    input.starts_with("redis://") || input.starts_with("rediss://")
}

/// `line` without its line ending and surrounding blanks.
pub fn trim(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r' | b' ' | b'\t'] = b {
        b = rest;
    }
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    b
}

/// Decodes one (trimmed) line with tracewell's reader, or says what is wrong with it.
pub fn decode(line: &[u8]) -> Result<SampleLine<'_>, String> {
    let text = std::str::from_utf8(line).map_err(|e| format!("not UTF-8 text ({e})"))?;
    SampleLine::parse(text).map_err(|e| e.to_string())
}
