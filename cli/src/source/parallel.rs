//! Parallel decoding: a reader thread cuts the input into chunks of whole lines, worker threads
//! decode them, and the calling thread scores the results in input order. At most
//! [`IN_FLIGHT`] chunks exist at a time, so memory stays bounded whatever the input's size.
//!
//! ```text
//! reader ──chunk──▶ worker 1 ──┐
//!        ──chunk──▶ worker 2 ──┴──▶ caller: reorder by sequence, score, report bad lines
//!   ◀──────── token (chunk consumed) ───────┘
//! ```

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use tracewell::score::SpanSample;
use tracewell::{SpanId, StatusCode, TraceId};

use super::{Line, decode, trim};

/// Bytes per chunk (a line longer than this makes its chunk longer).
const CHUNK: usize = 1 << 20;
/// Chunks alive at once (being read, decoded, waiting, or scored).
const IN_FLIGHT: usize = 8;

/// A name decoded from a chunk: a range of its bytes, or owned text when it had escapes.
enum Text {
    Range(u32, u32),
    Owned(Box<str>),
}

impl Text {
    fn new(s: &str, chunk: &[u8]) -> Text {
        let base = chunk.as_ptr() as usize;
        let at = s.as_ptr() as usize;
        if at >= base && at + s.len() <= base + chunk.len() && s.len() < u32::MAX as usize {
            Text::Range((at - base) as u32, s.len() as u32)
        } else {
            Text::Owned(s.into())
        }
    }

    fn get<'a>(&'a self, chunk: &'a [u8]) -> &'a str {
        match self {
            Text::Range(at, len) => {
                std::str::from_utf8(&chunk[*at as usize..(*at + *len) as usize]).unwrap_or_default()
            }
            Text::Owned(s) => s,
        }
    }
}

/// A decoded span that does not borrow from its line.
struct Owned {
    name: Text,
    branch: Option<Text>,
    trace_id: TraceId,
    span_id: SpanId,
    parent: SpanId,
    start: u64,
    end: u64,
    status: StatusCode,
    polls: u32,
    pending_polls: u32,
    busy_ns: u64,
    alloc_bytes: Option<u64>,
    alloc_peak: Option<u64>,
    interval: Option<u64>,
}

impl Owned {
    fn new(s: &SpanSample<'_>, chunk: &[u8]) -> Owned {
        Owned {
            name: Text::new(s.name, chunk),
            branch: s.branch.map(|b| Text::new(b, chunk)),
            trace_id: s.trace_id,
            span_id: s.span_id,
            parent: s.parent_span_id,
            start: s.start_time_unix_nano,
            end: s.end_time_unix_nano,
            status: s.status,
            polls: s.polls,
            pending_polls: s.pending_polls,
            busy_ns: s.busy_ns,
            alloc_bytes: s.alloc_bytes,
            alloc_peak: s.alloc_peak,
            interval: s.runtime_interval_ns,
        }
    }

    fn sample<'a>(&'a self, chunk: &'a [u8]) -> SpanSample<'a> {
        SpanSample {
            name: self.name.get(chunk),
            branch: self.branch.as_ref().map(|b| b.get(chunk)),
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent_span_id: self.parent,
            start_time_unix_nano: self.start,
            end_time_unix_nano: self.end,
            status: self.status,
            polls: self.polls,
            pending_polls: self.pending_polls,
            busy_ns: self.busy_ns,
            alloc_bytes: self.alloc_bytes,
            alloc_peak: self.alloc_peak,
            runtime_interval_ns: self.interval,
        }
    }
}

/// One line's outcome, in input order.
enum Item {
    Span(Owned),
    Bad { reason: String, complete: bool },
    Blank,
}

struct Decoded {
    seq: u64,
    chunk: Vec<u8>,
    items: Vec<Item>,
}

fn decode_chunk(seq: u64, chunk: Vec<u8>) -> Decoded {
    let mut items = Vec::with_capacity(chunk.len() / 256);
    let mut start = 0;
    while start < chunk.len() {
        let (end, complete) = match memchr::memchr(b'\n', &chunk[start..]) {
            Some(i) => (start + i, true),
            None => (chunk.len(), false),
        };
        let line = trim(&chunk[start..end]);
        start = end + 1;
        if line.is_empty() {
            items.push(Item::Blank);
            continue;
        }
        let item = match decode(line) {
            Ok(p) => Item::Span(Owned::new(&p.sample(), &chunk)),
            Err(reason) => Item::Bad { reason, complete },
        };
        items.push(item);
    }
    Decoded { seq, chunk, items }
}

fn reader_loop(
    mut input: impl Read,
    jobs: SyncSender<(u64, Vec<u8>)>,
    tokens: Receiver<()>,
    progress: impl Fn(u64),
) -> io::Result<()> {
    let mut carry: Vec<u8> = Vec::new();
    let mut seq = 0u64;
    loop {
        if tokens.recv().is_err() {
            return Ok(()); // the caller stopped (--strict)
        }
        let mut buf = std::mem::take(&mut carry);
        let mut eof = false;
        // Fill to CHUNK, then keep reading until the chunk holds at least one whole line.
        loop {
            let old = buf.len();
            buf.resize(old.max(CHUNK).max(old + 64 * 1024), 0);
            let n = loop {
                match input.read(&mut buf[old..]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other?,
                }
            };
            buf.truncate(old + n);
            progress(n as u64);
            if n == 0 {
                eof = true;
                break;
            }
            if buf.len() >= CHUNK && memchr::memrchr(b'\n', &buf).is_some() {
                break;
            }
        }
        if !eof {
            let cut = memchr::memrchr(b'\n', &buf).map_or(buf.len(), |i| i + 1);
            carry = buf.split_off(cut);
        }
        if !buf.is_empty() && jobs.send((seq, buf)).is_err() {
            return Ok(());
        }
        seq += 1;
        if eof {
            return Ok(());
        }
    }
}

/// Reads `input` on a thread, decodes it on `workers` threads, and calls `f` with every line
/// in order; `f` returns `false` to stop early.
pub fn for_each_line(
    input: impl Read + Send,
    workers: usize,
    progress: impl Fn(u64) + Send,
    mut f: impl FnMut(Line<'_>) -> bool,
) -> io::Result<()> {
    let (job_tx, job_rx) = sync_channel::<(u64, Vec<u8>)>(IN_FLIGHT);
    let (done_tx, done_rx) = sync_channel::<Decoded>(IN_FLIGHT);
    let (token_tx, token_rx) = sync_channel::<()>(IN_FLIGHT);
    for _ in 0..IN_FLIGHT {
        let _ = token_tx.send(());
    }
    let job_rx = Arc::new(Mutex::new(job_rx));
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || reader_loop(input, job_tx, token_rx, progress));
        for _ in 0..workers.max(1) {
            let jobs = Arc::clone(&job_rx);
            let done = done_tx.clone();
            scope.spawn(move || {
                loop {
                    let job = match jobs.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((seq, chunk)) = job else { return };
                    if done.send(decode_chunk(seq, chunk)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let mut next = 0u64;
        let mut waiting: BTreeMap<u64, Decoded> = BTreeMap::new();
        'outer: for d in done_rx.iter() {
            waiting.insert(d.seq, d);
            while let Some(d) = waiting.remove(&next) {
                next += 1;
                for item in &d.items {
                    let go = match item {
                        Item::Span(o) => f(Line::Span(o.sample(&d.chunk))),
                        Item::Bad { reason, complete } => f(Line::Bad(reason, *complete)),
                        Item::Blank => f(Line::Blank),
                    };
                    if !go {
                        break 'outer;
                    }
                }
                let _ = token_tx.send(());
            }
        }
        // Unblock and end the threads: no more tokens, no more results wanted.
        // With the last receiver of jobs gone (workers exit when their results are refused),
        // a reader blocked on a full job queue is released too.
        drop(token_tx);
        drop(done_rx);
        drop(job_rx);
        match reader.join() {
            Ok(r) => r,
            Err(_) => Err(io::Error::other("the reader thread panicked")),
        }
    })
}
