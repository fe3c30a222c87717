//! The fast path of [`SampleLine::parse`](super::SampleLine::parse): a small JSON scanner that
//! decodes the fields the score reads and skips the rest without building values.
//!
//! It takes a line only when it is sure the full reader ([`SpanData::from_json_line`]) would
//! read it the same way, and answers `None` otherwise, leaving the line to the full reader: for
//! escapes in the strings it returns, `null` or another type where it expects a string or an
//! integer, a number serde_json could not hold in an `f64`, a `\u` surrogate, a repeated field,
//! an event of another shape, nesting deeper than 64, and any syntax error. Strings are checked
//! as serde_json checks them (no control characters, valid escapes), eight bytes at a time.
//!
//! [`SpanData::from_json_line`]: crate::SpanData::from_json_line

use crate::score::SpanSample;
use crate::span::{SpanId, SpanKind, StatusCode, TraceId, attr};

/// A line read by the fast path.
#[derive(Clone, Copy, Debug)]
pub(super) struct Fast<'a> {
    /// `name`, borrowed from the line.
    pub(super) name: &'a str,
    /// `attributes["tracewell.branch"]`, borrowed from the line.
    pub(super) branch: Option<&'a str>,
    /// The other fields (`name` and `branch` left empty).
    pub(super) fields: SpanSample<'static>,
}

/// Decodes a span line the fast way, or `None` to let the full reader decide.
pub(super) fn sample(line: &str) -> Option<Fast<'_>> {
    let mut c = Cur { b: line.as_bytes(), s: line, i: 0 };
    let (mut trace, mut span, mut parent, mut name) = (None, None, None, None);
    let (mut start, mut end) = (None, None);
    let mut status = StatusCode::Unset;
    let mut branch = None;
    let (mut polls, mut pending_polls, mut busy_ns) = (None, None, None);
    let (mut alloc_bytes, mut alloc_peak, mut interval) = (None, None, None);
    let mut seen = 0u16;
    c.object(|c, key| {
        let bit: u16 = match key {
            "trace_id" => {
                trace = Some(TraceId::from_hex(c.str()?).ok()?);
                1
            }
            "span_id" => {
                span = Some(SpanId::from_hex(c.str()?).ok()?);
                1 << 1
            }
            "parent_span_id" => {
                let p = c.str()?;
                parent = Some(if p.is_empty() { SpanId::INVALID } else { SpanId::from_hex(p).ok()? });
                1 << 2
            }
            "name" => {
                name = Some(c.str()?);
                1 << 3
            }
            "kind" => {
                if let Some(k) = c.opt(Cur::str)? {
                    k.parse::<SpanKind>().ok()?;
                }
                1 << 4
            }
            "start_time_unix_nano" => {
                start = Some(c.u64()?);
                1 << 5
            }
            "end_time_unix_nano" => {
                end = Some(c.u64()?);
                1 << 6
            }
            "status_code" => {
                if let Some(code) = c.opt(Cur::str)? {
                    status = StatusCode::parse(code)?;
                }
                1 << 7
            }
            "status_message" => {
                c.skip_str()?;
                1 << 8
            }
            "service_name" => {
                c.skip_str()?;
                1 << 9
            }
            "attributes" => {
                c.object(|c, key| {
                    match key {
                        attr::BRANCH => branch = Some(c.str()?),
                        attr::POLLS => polls = Some(c.u64()?),
                        attr::PENDING_POLLS => pending_polls = Some(c.u64()?),
                        attr::BUSY_NS => busy_ns = Some(c.u64()?),
                        attr::ALLOC_BYTES => alloc_bytes = Some(c.u64()?),
                        attr::ALLOC_PEAK => alloc_peak = Some(c.u64()?),
                        attr::RUNTIME_INTERVAL_NS => interval = Some(c.u64()?),
                        _ => c.skip_value(1)?,
                    }
                    Some(())
                })?;
                1 << 10
            }
            "events" => {
                c.array(Cur::event)?;
                1 << 11
            }
            _ => {
                c.skip_value(0)?;
                0
            }
        };
        // The full reader refuses a repeated field; leave those lines to it.
        if seen & bit != 0 {
            return None;
        }
        seen |= bit;
        Some(())
    })?;
    c.ws();
    if c.i != c.b.len() {
        return None;
    }
    let count = |n: Option<u64>| n.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX));
    Some(Fast {
        name: name?,
        branch,
        fields: SpanSample {
            name: "",
            branch: None,
            trace_id: trace?,
            span_id: span?,
            parent_span_id: parent.unwrap_or(SpanId::INVALID),
            start_time_unix_nano: start?,
            end_time_unix_nano: end?,
            status,
            polls: count(polls),
            pending_polls: count(pending_polls),
            busy_ns: busy_ns.unwrap_or(0),
            alloc_bytes,
            alloc_peak,
            runtime_interval_ns: interval,
        },
    })
}

/// Where in a string the first `"`, `\` or control character is, at or after `from`. Eight bytes
/// at a time, as serde_json does it (Mycroft's test for a zero byte): the lowest flagged byte of
/// a word is always a real match.
#[inline]
fn special(b: &[u8], mut at: usize) -> Option<usize> {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    while let Some(word) = b.get(at..at + 8) {
        let w = u64::from_le_bytes(word.try_into().ok()?);
        let ctrl = w.wrapping_sub(ONES * 0x20) & !w;
        let quote = w ^ (ONES * u64::from(b'"'));
        let quote = quote.wrapping_sub(ONES) & !quote;
        let backslash = w ^ (ONES * u64::from(b'\\'));
        let backslash = backslash.wrapping_sub(ONES) & !backslash;
        let found = (ctrl | quote | backslash) & HIGH;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    while let Some(&c) = b.get(at) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            return Some(at);
        }
        at += 1;
    }
    None
}

/// The largest decimal magnitude (digits before the point plus the exponent) let through: such a
/// number is below 10^308, inside `f64`, whose overflow the full reader refuses ("number out of
/// range").
const MAX_MAGNITUDE: i64 = 308;

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

    /// A string without escapes, borrowed from the line; `None` (fall back) if it has escapes or
    /// control characters.
    #[inline]
    fn str(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        let end = special(self.b, start)?;
        if self.b[end] != b'"' {
            return None;
        }
        self.i = end + 1;
        // Quotes are ASCII, so these are char boundaries of the (valid UTF-8) line.
        self.s.get(start..end)
    }

    /// Skips a string, checking it as serde_json checks a string it keeps.
    #[inline]
    fn skip_str(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            self.i = special(self.b, self.i)?;
            let c = self.b[self.i];
            self.i += 1;
            match c {
                b'"' => return Some(()),
                b'\\' => {
                    let e = *self.b.get(self.i)?;
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            let hex = self.b.get(self.i..self.i + 4)?;
                            let mut n = 0u32;
                            for &h in hex {
                                n = n * 16 + char::from(h).to_digit(16)?;
                            }
                            // Surrogates must come in valid pairs; the full reader judges them.
                            if (0xD800..=0xDFFF).contains(&n) {
                                return None;
                            }
                            self.i += 4;
                        }
                        _ => return None,
                    }
                }
                _ => return None, // a control character
            }
        }
    }

    /// A non-negative integer as serde_json reads a `u64`: no sign, fraction or exponent.
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

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.b.get(self.i) {
            self.i += 1;
        }
        self.i - start
    }

    fn skip_number(&mut self) -> Option<()> {
        self.ws();
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let int = self.i;
        let int_digits = self.digits();
        if int_digits == 0 || (int_digits > 1 && self.b[int] == b'0') {
            return None;
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        let mut exp: i64 = 0;
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            let negative = match self.b.get(self.i) {
                Some(b'-') => {
                    self.i += 1;
                    true
                }
                Some(b'+') => {
                    self.i += 1;
                    false
                }
                _ => false,
            };
            let at = self.i;
            if self.digits() == 0 {
                return None;
            }
            for &d in &self.b[at..self.i] {
                exp = exp.saturating_mul(10).saturating_add(i64::from(d - b'0'));
            }
            if negative {
                exp = -exp;
            }
        }
        let magnitude = i64::try_from(int_digits).unwrap_or(i64::MAX).saturating_add(exp);
        (magnitude <= MAX_MAGNITUDE).then_some(())
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
            b'[' => self.array(|c| c.skip_value(depth + 1)),
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

    /// Walks an object, calling `field` with each key (without escapes); `field` consumes the
    /// value.
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

    /// Walks an array, calling `item` to consume each element.
    fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            item(self)?;
            if self.eat(b',').is_none() {
                return self.eat(b']');
            }
        }
    }

    /// One element of `events`, checked as the full reader reads it: an object with a string
    /// `name`, an integer `time_unix_nano` and an object `attributes`, the last two optional.
    fn event(&mut self) -> Option<()> {
        let mut seen = 0u8;
        self.object(|c, key| {
            let bit = match key {
                "name" => 1,
                "time_unix_nano" => 2,
                "attributes" => 4,
                _ => 0,
            };
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            match key {
                "name" => c.skip_str(),
                "time_unix_nano" => c.u64().map(drop),
                "attributes" => c.object(|c, _| c.skip_value(2)),
                _ => c.skip_value(1),
            }
        })?;
        (seen & 1 != 0).then_some(())
    }
}
