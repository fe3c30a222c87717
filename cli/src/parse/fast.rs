//! The fast path for span lines: a small JSON scanner that decodes the fields the score reads
//! and skips the rest without building values (strings are scanned with `memchr`). It answers `None` for anything unusual (escaped
//! names, floats where integers belong, bad ids, broken syntax) and the serde decoder then
//! decides, so accepted lines decode exactly as serde would decode them.

use std::borrow::Cow;

use tracewell::{SpanId, SpanKind, StatusCode, TraceId};

use super::{Attrs, Parsed};

struct Cur<'a> {
    b: &'a [u8],
    s: &'a str,
    i: usize,
}

impl<'a> Cur<'a> {
    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    #[inline]
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    /// A string without escapes, borrowed from the line; `None` (fall back) if it has escapes.
    #[inline]
    fn str(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        let rest = &self.b[start..];
        let n = memchr::memchr2(b'"', b'\\', rest)?;
        if rest[n] != b'"' {
            return None;
        }
        self.i = start + n + 1;
        // Quotes are ASCII, so these are char boundaries of the (valid UTF-8) line.
        self.s.get(start..start + n)
    }

    #[inline]
    fn skip_str(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            self.i += memchr::memchr2(b'"', b'\\', self.b.get(self.i..)?)?;
            let c = self.b[self.i];
            self.i += 1;
            match c {
                b'"' => return Some(()),
                b'\\' => {
                    let e = *self.b.get(self.i)?;
                    self.i += 1;
                    if e == b'u' {
                        let hex = self.b.get(self.i..self.i + 4)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        self.i += 4;
                    } else if !matches!(e, b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') {
                        return None;
                    }
                }
                _ => {}
            }
        }
    }

    #[inline]
    fn u64(&mut self) -> Option<u64> {
        self.ws();
        let start = self.i;
        let mut v: u64 = 0;
        while let Some(&c @ b'0'..=b'9') = self.b.get(self.i) {
            // Up to 19 digits cannot overflow; longer numbers go through checked arithmetic.
            v = if self.i - start < 19 {
                v * 10 + u64::from(c - b'0')
            } else {
                v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?
            };
            self.i += 1;
        }
        let digits = self.i - start;
        if digits == 0 || (digits > 1 && self.b[start] == b'0') {
            return None;
        }
        if matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        Some(v)
    }

    fn skip_number(&mut self) -> Option<()> {
        self.ws();
        let start = self.i;
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let int = self.i;
        while let Some(b'0'..=b'9') = self.b.get(self.i) {
            self.i += 1;
        }
        if self.i == int || (self.i - int > 1 && self.b[int] == b'0') {
            return None;
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            let f = self.i;
            while let Some(b'0'..=b'9') = self.b.get(self.i) {
                self.i += 1;
            }
            if self.i == f {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            let e = self.i;
            while let Some(b'0'..=b'9') = self.b.get(self.i) {
                self.i += 1;
            }
            if self.i == e {
                return None;
            }
        }
        (self.i > start).then_some(())
    }

    fn lit(&mut self, word: &[u8]) -> Option<()> {
        self.ws();
        (self.b.get(self.i..self.i + word.len())? == word).then(|| self.i += word.len())
    }

    fn skip_value(&mut self, depth: u32) -> Option<()> {
        if depth > 64 {
            return None;
        }
        match self.peek()? {
            b'"' => self.skip_str(),
            b'{' => {
                self.i += 1;
                if self.eat(b'}').is_some() {
                    return Some(());
                }
                loop {
                    self.skip_str()?;
                    self.eat(b':')?;
                    self.skip_value(depth + 1)?;
                    if self.eat(b',').is_none() {
                        return self.eat(b'}');
                    }
                }
            }
            b'[' => {
                self.i += 1;
                if self.eat(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    if self.eat(b',').is_none() {
                        return self.eat(b']');
                    }
                }
            }
            b't' => self.lit(b"true"),
            b'f' => self.lit(b"false"),
            b'n' => self.lit(b"null"),
            _ => self.skip_number(),
        }
    }

    /// `null` for an optional field, else `f`.
    fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.peek()? == b'n' {
            self.lit(b"null")?;
            return Some(None);
        }
        f(self).map(Some)
    }

    /// Walks an object, calling `field` with each key; `field` consumes the value.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let key = self.str()?;
            self.eat(b':')?;
            field(self, key)?;
            if self.eat(b',').is_none() {
                return self.eat(b'}');
            }
        }
    }
}

/// Decodes a span line the fast way, or `None` to let serde decide.
pub(crate) fn parse<'a>(b: &'a [u8], s: &'a str) -> Option<Parsed<'a>> {
    let mut c = Cur { b, s, i: 0 };
    let (mut trace, mut span, mut parent, mut name) = (None, None, None, None);
    let (mut start, mut end) = (None, None);
    let mut status = StatusCode::Unset;
    let mut attrs = Attrs::default();
    let mut branch = None;
    c.object(|c, key| {
        match key {
            "trace_id" => trace = Some(TraceId::from_hex(c.str()?).ok()?),
            "span_id" => span = Some(SpanId::from_hex(c.str()?).ok()?),
            "parent_span_id" => {
                let p = c.str()?;
                parent = Some(if p.is_empty() { SpanId::INVALID } else { SpanId::from_hex(p).ok()? });
            }
            "name" => name = Some(c.str()?),
            "kind" => {
                if let Some(k) = c.opt(Cur::str)? {
                    k.parse::<SpanKind>().ok()?;
                }
            }
            "start_time_unix_nano" => start = Some(c.u64()?),
            "end_time_unix_nano" => end = Some(c.u64()?),
            "status_code" => {
                if let Some(code) = c.opt(Cur::str)? {
                    status = StatusCode::parse(code)?;
                }
            }
            "status_message" | "service_name" => c.skip_str()?,
            "attributes" => c.object(|c, key| {
                match key {
                    "tracewell.branch" => branch = c.opt(Cur::str)?,
                    "tracewell.polls" => attrs.polls = c.opt(Cur::u64)?,
                    "tracewell.pending_polls" => attrs.pending_polls = c.opt(Cur::u64)?,
                    "tracewell.busy_ns" => attrs.busy_ns = c.opt(Cur::u64)?,
                    "tracewell.alloc_bytes" => attrs.alloc_bytes = c.opt(Cur::u64)?,
                    "tracewell.alloc_peak" => attrs.alloc_peak = c.opt(Cur::u64)?,
                    "tracewell.runtime.interval_ns" => attrs.interval_ns = c.opt(Cur::u64)?,
                    _ => c.skip_value(1)?,
                }
                Some(())
            })?,
            _ => c.skip_value(0)?,
        }
        Some(())
    })?;
    c.ws();
    if c.i != b.len() {
        return None;
    }
    Some(Parsed {
        name: Cow::Borrowed(name?),
        branch: branch.map(Cow::Borrowed),
        trace_id: trace?,
        span_id: span?,
        parent: parent.unwrap_or(SpanId::INVALID),
        start: start?,
        end: end?,
        status,
        attrs,
    })
}
