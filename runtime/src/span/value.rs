//! Captured values: a small typed enum so primitives cost no formatting on the hot path.

use std::borrow::Cow;
use std::fmt;

/// A value captured from an argument, a return value, an attribute or a stream item.
///
/// Primitives are stored as they are; structured values (from `serde::Serialize`) as lists and
/// maps; anything else as its `Debug` text, or as [`Value::Opaque`] with its type name when it
/// has neither.
///
/// # Examples
///
/// ```
/// use tracewell::Value;
/// assert_eq!(Value::from(42u64), Value::U64(42));
/// assert_eq!(Value::from("hi").to_string(), "\"hi\"");
/// assert_eq!(Value::from(vec![1i64, 2]).to_string(), "[1, 2]");
/// ```
#[derive(Clone, PartialEq, Default)]
pub enum Value {
    /// No value (`()`, `None` in structured data, JSON `null`).
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A float.
    F64(f64),
    /// Text, already truncated to the capture policy's `max_len`.
    Str(Cow<'static, str>),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A sequence.
    List(Vec<Value>),
    /// Named fields, in order.
    Map(Vec<(String, Value)>),
    /// A value of a type that is neither `Serialize` nor `Debug`: its type name.
    Opaque(Cow<'static, str>),
}

/// The replacement text for values whose names look secret.
pub const SCRUBBED: &str = "[scrubbed]";

impl Value {
    /// The value that replaces a secret.
    pub const fn scrubbed() -> Value {
        Value::Str(Cow::Borrowed(SCRUBBED))
    }

    /// The text if this is a [`Value::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Converts to JSON, as the NDJSON and stdout exporters write it. Bytes become a lowercase
    /// hex string, opaque values `"<TypeName>"`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::I64(v) => J::from(*v),
            Value::U64(v) => J::from(*v),
            Value::F64(v) => {
                serde_json::Number::from_f64(*v).map(J::Number).unwrap_or_else(|| J::String(v.to_string()))
            }
            Value::Str(s) => J::String(s.to_string()),
            Value::Bytes(b) => J::String(hex(b)),
            Value::List(l) => J::Array(l.iter().map(Value::to_json).collect()),
            Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
            Value::Opaque(t) => J::String(format!("<{t}>")),
        }
    }

    /// Converts from JSON (the inverse of [`Value::to_json`] up to bytes and opaque values,
    /// which come back as text).
    pub fn from_json(v: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match v {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => {
                if let Some(u) = n.as_u64() {
                    Value::U64(u)
                } else if let Some(i) = n.as_i64() {
                    Value::I64(i)
                } else {
                    Value::F64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            J::String(s) => Value::Str(Cow::Owned(s.clone())),
            J::Array(a) => Value::List(a.iter().map(Value::from_json).collect()),
            J::Object(o) => Value::Map(o.iter().map(|(k, v)| (k.clone(), Value::from_json(v))).collect()),
        }
    }
}

fn hex(b: &[u8]) -> String {
    use fmt::Write;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

impl fmt::Display for Value {
    /// A compact, readable rendering: strings quoted, lists and maps bracketed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Bytes(b) => write!(f, "0x{}", hex(b)),
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Map(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
            Value::Opaque(t) => write!(f, "<{t}>"),
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

macro_rules! from_int {
    ($variant:ident, $as:ty: $($t:ty),*) => {$(
        impl From<$t> for Value {
            #[inline]
            fn from(v: $t) -> Value { Value::$variant(v as $as) }
        }
    )*};
}
from_int!(I64, i64: i8, i16, i32, i64, isize);
from_int!(U64, u64: u8, u16, u32, u64, usize);

impl From<i128> for Value {
    fn from(v: i128) -> Value {
        i64::try_from(v).map(Value::I64).unwrap_or_else(|_| Value::Str(Cow::Owned(v.to_string())))
    }
}

impl From<u128> for Value {
    fn from(v: u128) -> Value {
        u64::try_from(v).map(Value::U64).unwrap_or_else(|_| Value::Str(Cow::Owned(v.to_string())))
    }
}

impl From<f32> for Value {
    #[inline]
    fn from(v: f32) -> Value {
        Value::F64(v as f64)
    }
}

impl From<f64> for Value {
    #[inline]
    fn from(v: f64) -> Value {
        Value::F64(v)
    }
}

impl From<bool> for Value {
    #[inline]
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}

impl From<char> for Value {
    fn from(v: char) -> Value {
        Value::Str(Cow::Owned(v.to_string()))
    }
}

impl From<&'static str> for Value {
    #[inline]
    fn from(v: &'static str) -> Value {
        Value::Str(Cow::Borrowed(v))
    }
}

impl From<String> for Value {
    #[inline]
    fn from(v: String) -> Value {
        Value::Str(Cow::Owned(v))
    }
}

impl From<Cow<'static, str>> for Value {
    fn from(v: Cow<'static, str>) -> Value {
        Value::Str(v)
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Bytes(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

impl From<Vec<i64>> for Value {
    fn from(v: Vec<i64>) -> Value {
        Value::List(v.into_iter().map(Value::I64).collect())
    }
}

impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Value {
        Value::List(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_types() {
        let v = Value::Map(vec![
            ("a".into(), Value::U64(1)),
            ("b".into(), Value::I64(-2)),
            ("c".into(), Value::List(vec![Value::Bool(true), Value::Null, Value::F64(1.5)])),
            ("d".into(), Value::from("x")),
        ]);
        assert_eq!(Value::from_json(&v.to_json()), v);
    }

    #[test]
    fn opaque_and_bytes_render_readably() {
        assert_eq!(Value::Opaque("my::Conn".into()).to_string(), "<my::Conn>");
        assert_eq!(Value::Bytes(vec![0, 255]).to_json(), serde_json::json!("00ff"));
        assert_eq!(Value::F64(f64::NAN).to_json(), serde_json::json!("NaN"));
    }
}
