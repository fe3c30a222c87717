//! Span lines from an NDJSON file or standard input: read whole with a progress bar (decoded in
//! parallel), or followed as the file grows.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Line, ReadError, parallel, trim};

/// Files at least this big get a progress bar (when stderr is a terminal).
const PROGRESS_MIN_BYTES: u64 = 64 << 20;

/// Reads every line of `input` (a path or `-`) and calls `f` with each, in order, and the
/// progress bar (to print around); `f` returns `false` to stop.
pub fn for_each_line(input: &str, mut f: impl FnMut(Line<'_>, &ProgressBar) -> bool) -> Result<(), ReadError> {
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
    let progress = {
        let bar = bar.clone();
        move |n| bar.inc(n)
    };
    parallel::for_each_line(reader, workers, progress, |line| f(line, &bar))
        .map_err(|e| ReadError::Io(input.to_owned(), e))?;
    bar.finish_and_clear();
    Ok(())
}

/// Follows `path` like `tail -f`: calls `f` with the number and text of each non-blank line it
/// holds, then of new ones as they are appended, until `timeout` passes (or forever; Ctrl-C
/// stops it), or at once after what it holds now with `once`; `f` returns `false` to stop.
/// Handles a file that is truncated or replaced by starting over from its beginning; a
/// half-written last line waits for its end.
pub fn follow(
    path: &Path,
    once: bool,
    timeout: Option<Duration>,
    mut f: impl FnMut(u64, &[u8]) -> bool,
) -> Result<(), ReadError> {
    let name = path.display().to_string();
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut file = File::open(path).map_err(|e| ReadError::Open(name.clone(), e))?;
    let mut pos = 0u64;
    let mut pending: Vec<u8> = Vec::new();
    let mut line_no = 0u64;
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut chunk).map_err(|e| ReadError::Io(name.clone(), e))?;
        if n > 0 {
            pos += n as u64;
            pending.extend_from_slice(&chunk[..n]);
            let mut start = 0;
            while let Some(i) = pending[start..].iter().position(|&b| b == b'\n') {
                let line = trim(&pending[start..start + i]);
                start += i + 1;
                line_no += 1;
                if !line.is_empty() && !f(line_no, line) {
                    return Ok(());
                }
            }
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
