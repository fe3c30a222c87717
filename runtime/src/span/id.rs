//! Trace and span identifiers: random, never zero, printed as lowercase hex (W3C form).

use std::fmt;
use std::str::FromStr;

/// A 128-bit trace identifier, never zero once generated.
///
/// # Examples
///
/// ```
/// use tracewell::TraceId;
/// let id: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
/// assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert!(TraceId::random().is_valid());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(pub u128);

/// A 64-bit span identifier, never zero once generated.
///
/// # Examples
///
/// ```
/// use tracewell::SpanId;
/// let id: SpanId = "00f067aa0ba902b7".parse().unwrap();
/// assert_eq!(id.0, 0x00f0_67aa_0ba9_02b7);
/// assert_eq!(id.to_string(), "00f067aa0ba902b7");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(pub u64);

/// Why an identifier did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The text had the wrong number of characters.
    #[error("expected {expected} lowercase hex characters, got {got}")]
    Length {
        /// Characters required.
        expected: usize,
        /// Characters given.
        got: usize,
    },
    /// A character was not `0-9a-f`.
    #[error("not lowercase hex: {0:?}")]
    NotHex(char),
    /// All zeros, which W3C trace context calls invalid.
    #[error("the all-zero id is invalid")]
    Zero,
}

// Hot path: ids come from fastrand's thread-local wyrand generator; no lock, no syscall.
impl TraceId {
    /// The invalid all-zero id.
    pub const INVALID: TraceId = TraceId(0);

    /// A new random, non-zero trace id.
    #[inline]
    pub fn random() -> TraceId {
        loop {
            let v = fastrand::u128(..);
            if v != 0 {
                return TraceId(v);
            }
        }
    }

    /// Whether this id is not all zeros.
    #[inline]
    pub fn is_valid(self) -> bool {
        self.0 != 0
    }

    /// The big-endian bytes, as OTLP carries them.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    /// Parses exactly `len` lowercase hex digits (32 for W3C; 16 is accepted by B3 callers
    /// through [`TraceId::from_hex_any`]).
    pub fn from_hex(s: &str) -> Result<TraceId, IdError> {
        let v = parse_hex(s, 32)?;
        if v == 0 {
            return Err(IdError::Zero);
        }
        Ok(TraceId(v))
    }

    /// Parses 16 or 32 lowercase hex digits (a 64-bit id is left-padded with zeros).
    pub fn from_hex_any(s: &str) -> Result<TraceId, IdError> {
        if s.len() == 16 {
            let v = parse_hex(s, 16)?;
            if v == 0 {
                return Err(IdError::Zero);
            }
            return Ok(TraceId(v));
        }
        TraceId::from_hex(s)
    }
}

impl SpanId {
    /// The invalid all-zero id (also "no parent").
    pub const INVALID: SpanId = SpanId(0);

    /// A new random, non-zero span id.
    #[inline]
    pub fn random() -> SpanId {
        loop {
            let v = fastrand::u64(..);
            if v != 0 {
                return SpanId(v);
            }
        }
    }

    /// Whether this id is not all zeros.
    #[inline]
    pub fn is_valid(self) -> bool {
        self.0 != 0
    }

    /// The big-endian bytes, as OTLP carries them.
    pub fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// Parses exactly 16 lowercase hex digits; zero is an error.
    pub fn from_hex(s: &str) -> Result<SpanId, IdError> {
        let v = parse_hex(s, 16)?;
        if v == 0 {
            return Err(IdError::Zero);
        }
        Ok(SpanId(v as u64))
    }
}

fn parse_hex(s: &str, len: usize) -> Result<u128, IdError> {
    if s.len() != len {
        return Err(IdError::Length { expected: len, got: s.chars().count() });
    }
    let mut v: u128 = 0;
    for c in s.chars() {
        let d = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'a'..='f' => c as u32 - 'a' as u32 + 10,
            _ => return Err(IdError::NotHex(c)),
        };
        v = (v << 4) | d as u128;
    }
    Ok(v)
}

impl FromStr for TraceId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TraceId::from_hex(s)
    }
}

impl FromStr for SpanId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SpanId::from_hex(s)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({:032x})", self.0)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({:016x})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_nonzero_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let t = TraceId::random();
            let s = SpanId::random();
            assert!(t.is_valid() && s.is_valid());
            assert!(seen.insert(s));
        }
    }

    #[test]
    fn hex_round_trip_is_lowercase_and_padded() {
        let t = TraceId(0xab);
        assert_eq!(t.to_string(), "000000000000000000000000000000ab");
        assert_eq!(t.to_string().parse::<TraceId>().unwrap(), t);
        assert_eq!(SpanId(1).to_string(), "0000000000000001");
    }

    #[test]
    fn rejects_uppercase_zero_and_wrong_length() {
        assert_eq!("4BF92F3577B34DA6A3CE929D0E0E4736".parse::<TraceId>(), Err(IdError::NotHex('B')));
        assert_eq!("0000000000000000".parse::<SpanId>(), Err(IdError::Zero));
        assert!(matches!("abc".parse::<SpanId>(), Err(IdError::Length { .. })));
        assert_eq!(TraceId::from_hex_any("00f067aa0ba902b7").unwrap(), TraceId(0x00f0_67aa_0ba9_02b7));
    }
}
