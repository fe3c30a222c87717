//! Spans read from Redis, where tracewell's Redis exporter puts them: `redis://HOST:PORT/KEY`
//! names a list (`RPUSH`ed lines) or a stream (`XADD` entries with a `span` field). Read in
//! chunks, so memory stays bounded whatever the length of the list.

use std::time::{Duration, Instant};

use redis::{Commands, Connection, Value};

use super::ReadError;

/// Entries fetched per round trip.
const CHUNK: isize = 10_000;
/// The key used when the URL names none (the exporter's default).
const DEFAULT_KEY: &str = "tracewell:spans";

/// A Redis list or stream of span lines.
#[derive(Debug)]
pub struct RedisSource {
    display: String,
    server: String,
    key: String,
}

/// Where to continue reading.
#[derive(Debug, Clone, Default)]
pub enum Cursor {
    /// From the start.
    #[default]
    Start,
    /// A list, from this index.
    List(isize),
    /// A stream, after this entry id.
    Stream(String),
}

impl RedisSource {
    /// Parses `redis://HOST:PORT/KEY` (the path is the key, not a database number).
    pub fn parse(url: &str) -> Result<RedisSource, ReadError> {
        let (scheme, rest) = url.split_once("://").unwrap_or(("redis", url));
        let (server, key) = rest.split_once('/').unwrap_or((rest, ""));
        if server.is_empty() {
            return Err(ReadError::Redis(format!("{url}: no server; write redis://HOST:PORT/KEY")));
        }
        let key = if key.is_empty() { DEFAULT_KEY } else { key };
        Ok(RedisSource { display: url.to_owned(), server: format!("{scheme}://{server}"), key: key.to_owned() })
    }

    fn connect(&self) -> Result<Connection, ReadError> {
        let fail = |e: redis::RedisError| {
            ReadError::Redis(format!(
                "cannot reach Redis at {} ({e}); is redis-server running and the address right?",
                self.server
            ))
        };
        let client = redis::Client::open(self.server.as_str()).map_err(fail)?;
        let con = client.get_connection_with_timeout(Duration::from_secs(5)).map_err(fail)?;
        con.set_read_timeout(Some(Duration::from_secs(30))).map_err(fail)?;
        Ok(con)
    }

    fn err(&self, e: redis::RedisError) -> ReadError {
        ReadError::Redis(format!("reading {} failed: {e}", self.display))
    }

    /// Calls `f` with every line after `cursor`; returns where to continue.
    pub fn for_each_line(
        &self,
        cursor: Cursor,
        mut f: impl FnMut(&[u8]) -> Result<(), ReadError>,
    ) -> Result<Cursor, ReadError> {
        let mut con = self.connect()?;
        let kind: String = redis::cmd("TYPE").arg(&self.key).query(&mut con).map_err(|e| self.err(e))?;
        match kind.as_str() {
            "none" => Ok(cursor),
            "list" => {
                let mut at = match cursor {
                    Cursor::List(i) => i,
                    _ => 0,
                };
                loop {
                    let items: Vec<Vec<u8>> = con.lrange(&self.key, at, at + CHUNK - 1).map_err(|e| self.err(e))?;
                    if items.is_empty() {
                        return Ok(Cursor::List(at));
                    }
                    at += items.len() as isize;
                    for line in &items {
                        f(line)?;
                    }
                }
            }
            "stream" => {
                let mut after = match cursor {
                    Cursor::Stream(id) => format!("({id}"),
                    _ => "-".to_owned(),
                };
                let mut last = None;
                loop {
                    let v: Value = redis::cmd("XRANGE")
                        .arg(&self.key)
                        .arg(&after)
                        .arg("+")
                        .arg("COUNT")
                        .arg(CHUNK)
                        .query(&mut con)
                        .map_err(|e| self.err(e))?;
                    let Value::Array(entries) = v else { break };
                    if entries.is_empty() {
                        break;
                    }
                    for entry in entries {
                        let Value::Array(parts) = entry else { continue };
                        let mut parts = parts.into_iter();
                        let (Some(Value::BulkString(id)), Some(Value::Array(fields))) = (parts.next(), parts.next())
                        else {
                            continue;
                        };
                        let mut fields = fields.into_iter();
                        while let (Some(k), Some(v)) = (fields.next(), fields.next()) {
                            if let (Value::BulkString(k), Value::BulkString(v)) = (k, v)
                                && k == b"span"
                            {
                                f(&v)?;
                            }
                        }
                        let id = String::from_utf8_lossy(&id).into_owned();
                        after = format!("({id}");
                        last = Some(id);
                    }
                }
                Ok(last.map_or(cursor_or_start(after), Cursor::Stream))
            }
            other => Err(ReadError::Redis(format!(
                "{}: key {:?} holds a {other}; tracewell reads a list or a stream of span lines",
                self.display, self.key
            ))),
        }
    }

    /// Follows the list or stream: calls `f` with the number and text of each entry it holds,
    /// then of new entries as they are pushed, polling every 200 ms, until `timeout` passes (or
    /// forever; Ctrl-C stops it), or at once after what it holds now with `once`. `f` returns
    /// `false` to stop after the entries of the current poll.
    pub fn follow(
        &self,
        once: bool,
        timeout: Option<Duration>,
        mut f: impl FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), ReadError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut cursor = Cursor::Start;
        let mut n = 0u64;
        loop {
            let mut stop = false;
            cursor = self.for_each_line(cursor, |line| {
                n += 1;
                stop |= !f(n, line);
                Ok(())
            })?;
            if stop || once || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn cursor_or_start(after: String) -> Cursor {
    match after.strip_prefix('(') {
        Some(id) => Cursor::Stream(id.to_owned()),
        None => Cursor::Start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_is_the_key() {
        let s = RedisSource::parse("redis://127.0.0.1:6390/app:spans").unwrap();
        assert_eq!((s.server.as_str(), s.key.as_str()), ("redis://127.0.0.1:6390", "app:spans"));
        let s = RedisSource::parse("redis://localhost:6379").unwrap();
        assert_eq!(s.key, DEFAULT_KEY);
        assert!(RedisSource::parse("redis:///k").is_err());
    }
}
