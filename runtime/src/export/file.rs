//! The NDJSON file exporter: one span per line (the schema of
//! [`SpanData::write_json_line`](crate::SpanData::write_json_line)),
//! each batch appended under an advisory `flock` so several processes can share one file.
//!
//! Writes run on tokio's blocking pool, so a slow disk or a named pipe without a reader holds up
//! neither the user's threads nor the worker's time limit.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::health::HealthCell;
use super::{BoxFuture, Delivery, ExportError, Exporter};
use crate::config::ConfigError;
use crate::span::Batch;

const NAME: &str = "file";

/// Appends spans as NDJSON lines to a file (or a named pipe).
///
/// - Every batch is one `write` of whole lines made while holding an exclusive `flock` on the
///   file, so lines from several processes appending to the same file never tear or interleave.
/// - With [`FileExporter::max_bytes`], a file that would grow past the limit is renamed to
///   `<path>.1` (older ones shift to `.2`, ... up to [`FileExporter::max_files`]) and a new one
///   started; processes sharing the file notice the rotation and reopen.
/// - On a named pipe the open waits for a reader; that wait happens off the worker's runtime
///   and counts against the export timeout.
///
/// Environment (`OTEL_TRACES_EXPORTER=file`): `TRACEWELL_FILE_PATH` (default `tracewell.ndjson`),
/// `TRACEWELL_FILE_MAX_BYTES` (rotate past this size; default: never), `TRACEWELL_FILE_MAX_FILES`
/// (rotated files kept, default 5).
///
/// # Examples
///
/// ```
/// use tracewell::export::FileExporter;
/// let path = std::env::temp_dir().join(format!("tracewell-doc-{}.ndjson", std::process::id()));
/// let g = tracewell::builder().exporter(FileExporter::new(&path).service_name("svc")).install().unwrap();
/// tracewell::in_span("work", || ());
/// drop(g);
/// let text = std::fs::read_to_string(&path).unwrap();
/// let span = tracewell::SpanData::from_json_line(text.lines().next().unwrap()).unwrap();
/// assert_eq!((span.span.name.as_ref(), span.service_name.as_str()), ("work", "svc"));
/// # std::fs::remove_file(&path).unwrap();
/// ```
#[derive(Debug)]
pub struct FileExporter {
    path: PathBuf,
    service_name: String,
    max_bytes: Option<u64>,
    max_files: usize,
    /// The open file; `None` before the first write, or while a write is away on the blocking
    /// pool and did not come back in time.
    file: Option<File>,
    buf: Vec<u8>,
    health: HealthCell,
}

/// Default path when `TRACEWELL_FILE_PATH` is not set.
pub const DEFAULT_FILE_PATH: &str = "tracewell.ndjson";

impl FileExporter {
    /// An exporter appending to `path` (created when missing). The file is opened on the first
    /// export, on the worker.
    pub fn new(path: impl AsRef<Path>) -> FileExporter {
        let path = path.as_ref().to_path_buf();
        FileExporter {
            health: HealthCell::new(NAME, path.display().to_string()),
            path,
            service_name: "unknown_service".into(),
            max_bytes: None,
            max_files: 5,
            file: None,
            buf: Vec::new(),
        }
    }

    /// Sets the `service_name` written on every line.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = name.into();
        self
    }

    /// Rotates the file before it would grow past `bytes` (regular files only).
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes.max(1));
        self
    }

    /// How many rotated files (`<path>.1` ...) to keep (at least 1).
    pub fn max_files(mut self, n: usize) -> Self {
        self.max_files = n.max(1);
        self
    }

    /// Builds the exporter from `TRACEWELL_FILE_*` as `get` reports them.
    pub(crate) fn from_lookup(
        get: &dyn Fn(&str) -> Option<String>,
        service_name: &str,
    ) -> Result<FileExporter, ConfigError> {
        let path = get("TRACEWELL_FILE_PATH").unwrap_or_else(|| DEFAULT_FILE_PATH.into());
        let mut e = FileExporter::new(path.trim()).service_name(service_name.to_owned());
        if let Some(v) = get("TRACEWELL_FILE_MAX_BYTES") {
            e = e.max_bytes(super::parse_positive("TRACEWELL_FILE_MAX_BYTES", &v)?);
        }
        if let Some(v) = get("TRACEWELL_FILE_MAX_FILES") {
            e = e.max_files(super::parse_positive("TRACEWELL_FILE_MAX_FILES", &v)? as usize);
        }
        Ok(e)
    }
}

fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Appends `buf` to the file under an exclusive lock, rotating first when asked. Returns the
/// file to keep using (a new one after a rotation by any process).
fn write_locked(
    path: &Path,
    file: Option<File>,
    buf: &[u8],
    max_bytes: Option<u64>,
    max_files: usize,
) -> std::io::Result<File> {
    let mut file = match file {
        Some(f) => f,
        None => open(path)?,
    };
    let regular = file.metadata()?.is_file();
    if !regular {
        // A pipe or a device: writes go straight through; a pipe keeps writes up to PIPE_BUF
        // whole, and flock on a pipe is still honoured between processes that use it.
        let _ = file.lock();
        let r = file.write_all(buf);
        let _ = file.unlock();
        r?;
        return Ok(file);
    }
    loop {
        file.lock()?;
        // Another process may have rotated the file while we waited: follow the path.
        let same = match std::fs::metadata(path) {
            Ok(m) => {
                let mine = file.metadata()?;
                m.ino() == mine.ino() && m.dev() == mine.dev()
            }
            Err(_) => false,
        };
        if !same {
            let _ = file.unlock();
            file = open(path)?;
            continue;
        }
        if let Some(max) = max_bytes {
            let len = file.metadata()?.len();
            if len > 0 && len + buf.len() as u64 > max {
                rotate(path, max_files)?;
                let _ = file.unlock();
                file = open(path)?;
                continue;
            }
        }
        let r = file.write_all(buf);
        let _ = file.unlock();
        r?;
        return Ok(file);
    }
}

fn rotated(path: &Path, n: usize) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

fn rotate(path: &Path, max_files: usize) -> std::io::Result<()> {
    let _ = std::fs::remove_file(rotated(path, max_files));
    for n in (1..max_files).rev() {
        let from = rotated(path, n);
        if from.exists() {
            std::fs::rename(&from, rotated(path, n + 1))?;
        }
    }
    std::fs::rename(path, rotated(path, 1))
}

impl Exporter for FileExporter {
    fn name(&self) -> &'static str {
        NAME
    }

    fn export<'a>(&'a mut self, batch: &'a Batch) -> BoxFuture<'a, Result<Delivery, ExportError>> {
        Box::pin(async move {
            let mut buf = std::mem::take(&mut self.buf);
            buf.clear();
            for span in batch.iter() {
                span.write_json_line(&self.service_name, &mut buf);
            }
            let path = self.path.clone();
            let file = self.file.take();
            let (max_bytes, max_files) = (self.max_bytes, self.max_files);
            let joined = tokio::task::spawn_blocking(move || {
                let r = write_locked(&path, file, &buf, max_bytes, max_files);
                (r, buf)
            })
            .await;
            let result = match joined {
                Ok((Ok(file), buf)) => {
                    self.file = Some(file);
                    self.buf = buf;
                    Ok(())
                }
                Ok((Err(source), buf)) => {
                    self.buf = buf;
                    Err(ExportError::Io { exporter: NAME, source })
                }
                Err(e) => Err(ExportError::Io { exporter: NAME, source: std::io::Error::other(e.to_string()) }),
            };
            // A batch far larger than usual should not pin its buffer forever.
            if self.buf.capacity() > 16 << 20 {
                self.buf = Vec::new();
            }
            match &result {
                Ok(()) => self.health.delivered(batch.len()),
                Err(e) => {
                    self.health.failed(e);
                    self.health.dropped(batch.len());
                }
            }
            result.map(|()| Delivery::Delivered)
        })
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
        // Each batch is written straight to the file; there is nothing buffered here.
        Box::pin(std::future::ready(Ok(())))
    }

    fn shutdown(&mut self) -> BoxFuture<'_, Result<(), ExportError>> {
        self.file = None;
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SpanData;

    fn span(name: &'static str) -> SpanData {
        SpanData {
            name: name.into(),
            trace_id: crate::TraceId::random(),
            span_id: crate::SpanId::random(),
            ..Default::default()
        }
    }

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("tracewell-file-{name}-{}", std::process::id()))
    }

    #[test]
    fn rotates_past_max_bytes_and_keeps_max_files() {
        let path = temp("rotate");
        for n in 0..4 {
            let _ = std::fs::remove_file(rotated(&path, n));
        }
        let _ = std::fs::remove_file(&path);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut e = FileExporter::new(&path).max_bytes(600).max_files(2);
        for _ in 0..10 {
            rt.block_on(e.export(&Batch::from_spans(&[span("a"), span("b")]))).unwrap();
        }
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size <= 600, "{size}");
        assert!(rotated(&path, 1).exists() && rotated(&path, 2).exists());
        assert!(!rotated(&path, 3).exists());
        for p in [path.clone(), rotated(&path, 1), rotated(&path, 2)] {
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(text.lines().all(|l| SpanData::from_json_line(l).is_ok()));
            let _ = std::fs::remove_file(p);
        }
    }

    #[test]
    fn unwritable_path_is_an_error_and_counted() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut e = FileExporter::new("/nonexistent-dir/x.ndjson");
        let err = rt.block_on(e.export(&Batch::from_spans(&[span("a")]))).unwrap_err();
        assert!(err.to_string().starts_with("file: "), "{err}");
        let h = e.health.snapshot();
        assert_eq!((h.spans_dropped, h.connected), (1, false));
    }
}
