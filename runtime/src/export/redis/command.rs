//! What the Redis exporter sends: a batch as NDJSON lines (the file exporter's schema), and the
//! pipeline of commands that pushes them to a list or a stream.

use super::RedisMode;
use crate::span::Batch;

/// One batch as NDJSON lines: `data[ends[i-1]..ends[i]]` is line `i` (without its newline).
/// Encoded once, so a batch waiting in the retry buffer is resent as it was.
#[derive(Debug)]
pub(super) struct Lines {
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl Lines {
    /// One line per span of `batch`, each naming `service_name`.
    pub(super) fn encode(batch: &Batch, service_name: &str) -> Lines {
        let mut data = Vec::with_capacity(batch.len() * 256);
        let mut ends = Vec::with_capacity(batch.len());
        for span in batch.iter() {
            span.write_json_line(service_name, &mut data);
            data.pop();
            ends.push(data.len());
            data.push(b'\n');
        }
        Lines { data, ends }
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let line = &self.data[start..end];
            start = end + 1;
            line
        })
    }

    /// How many lines (spans).
    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }
}

/// The atomic pipeline that pushes `lines` to `key`: one variadic `RPUSH` (and an `LTRIM` when
/// the list is capped), or one `XADD ... MAXLEN ~ n` per line.
pub(super) fn command(key: &str, mode: RedisMode, lines: &Lines) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    pipe.atomic();
    match mode {
        RedisMode::List { cap } => {
            let cmd = pipe.cmd("RPUSH").arg(key);
            for line in lines.iter() {
                cmd.arg(line);
            }
            cmd.ignore();
            if let Some(cap) = cap {
                pipe.cmd("LTRIM").arg(key).arg(-(cap as i64)).arg(-1).ignore();
            }
        }
        RedisMode::Stream { max_len } => {
            for line in lines.iter() {
                pipe.cmd("XADD").arg(key).arg("MAXLEN").arg("~").arg(max_len).arg("*").arg("span").arg(line).ignore();
            }
        }
    }
    pipe
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_span_without_newlines() {
        let span = |name: &'static str| crate::SpanData {
            name: name.into(),
            trace_id: crate::TraceId(1),
            span_id: crate::SpanId(1),
            ..Default::default()
        };
        let spans = [span("a"), span("b")];
        let lines = Lines::encode(&Batch::from_spans(&spans), "svc");
        assert_eq!(lines.len(), 2);
        for (line, name) in lines.iter().zip(["a", "b"]) {
            let text = std::str::from_utf8(line).unwrap();
            assert!(!text.contains('\n'), "{text}");
            assert_eq!(crate::SpanData::from_json_line(text).unwrap().span.name, name);
        }
    }
}
