//! Turning arguments, outputs and items into [`Value`]s: typed primitives first, then
//! `serde::Serialize`, then `Debug`, then the type name; truncation and scrubbing.
//!
//! The order is chosen with autoref specialization, so no trait is required of the user's types:
//!
//! ```
//! use tracewell::__private::{Wrap, CapturePrimitive as _, CaptureSerialize as _, CaptureDebug as _, CaptureOpaque as _};
//! struct NoTraits;
//! #[derive(Debug)]
//! struct OnlyDebug(u8);
//! let limit = 1000;
//! assert_eq!((&&&&Wrap(&5u64)).__tw_capture(limit), tracewell::Value::U64(5));
//! assert_eq!((&&&&Wrap(&vec![1u8, 2])).__tw_capture(limit).to_string(), "[1, 2]");
//! assert_eq!((&&&&Wrap(&OnlyDebug(3))).__tw_capture(limit).to_string(), "\"OnlyDebug(3)\"");
//! assert!(matches!((&&&&Wrap(&NoTraits)).__tw_capture(limit), tracewell::Value::Opaque(_)));
//! ```

mod policy;
mod serde_value;

use std::borrow::Cow;
use std::fmt::{self, Write as _};

pub use policy::{CapturePolicy, TRUNCATION_MARKER, truncate};

use crate::span::Value;

/// Borrows a value for capture; the receiver of the autoref-specialized `__tw_capture` methods.
#[doc(hidden)]
#[derive(Debug)]
pub struct Wrap<'a, T: ?Sized>(pub &'a T);

/// Types captured as typed values with no formatting (integers, floats, bools, text).
#[doc(hidden)]
pub trait Primitive {
    /// The value, text truncated to `limit` characters.
    fn to_value(&self, limit: usize) -> Value;
}

macro_rules! primitive {
    ($($t:ty),*) => {$(
        impl Primitive for $t {
            #[inline]
            fn to_value(&self, _limit: usize) -> Value { Value::from(*self) }
        }
    )*};
}
primitive!(u8, u16, u32, u64, usize, u128, i8, i16, i32, i64, isize, i128, f32, f64, bool, char);

impl Primitive for str {
    #[inline]
    fn to_value(&self, limit: usize) -> Value {
        Value::Str(Cow::Owned(truncate(self, limit).into_owned()))
    }
}

impl Primitive for String {
    #[inline]
    fn to_value(&self, limit: usize) -> Value {
        self.as_str().to_value(limit)
    }
}

impl Primitive for Cow<'_, str> {
    #[inline]
    fn to_value(&self, limit: usize) -> Value {
        (**self).to_value(limit)
    }
}

impl<T: Primitive + ?Sized> Primitive for &T {
    #[inline]
    fn to_value(&self, limit: usize) -> Value {
        (**self).to_value(limit)
    }
}

impl<T: Primitive + ?Sized> Primitive for &mut T {
    #[inline]
    fn to_value(&self, limit: usize) -> Value {
        (**self).to_value(limit)
    }
}

impl<T: Primitive + ?Sized> Primitive for Box<T> {
    #[inline]
    fn to_value(&self, limit: usize) -> Value {
        (**self).to_value(limit)
    }
}

/// Highest priority: typed primitives.
#[doc(hidden)]
pub trait CapturePrimitive {
    fn __tw_capture(&self, limit: usize) -> Value;
}

impl<T: Primitive + ?Sized> CapturePrimitive for &&&Wrap<'_, T> {
    #[inline]
    fn __tw_capture(&self, limit: usize) -> Value {
        self.0.to_value(limit)
    }
}

/// Second: structured values through `serde::Serialize`.
#[doc(hidden)]
pub trait CaptureSerialize {
    fn __tw_capture(&self, limit: usize) -> Value;
}

impl<T: serde::Serialize + ?Sized> CaptureSerialize for &&Wrap<'_, T> {
    fn __tw_capture(&self, limit: usize) -> Value {
        serde_value::to_value(self.0, limit)
    }
}

/// Third: `Debug` text, formatted into a bounded buffer.
#[doc(hidden)]
pub trait CaptureDebug {
    fn __tw_capture(&self, limit: usize) -> Value;
}

impl<T: fmt::Debug + ?Sized> CaptureDebug for &Wrap<'_, T> {
    fn __tw_capture(&self, limit: usize) -> Value {
        Value::Str(Cow::Owned(bounded(limit, |w| write!(w, "{:?}", self.0))))
    }
}

/// Last: the type name, marked opaque.
#[doc(hidden)]
pub trait CaptureOpaque {
    fn __tw_capture(&self, limit: usize) -> Value;
}

impl<T: ?Sized> CaptureOpaque for Wrap<'_, T> {
    fn __tw_capture(&self, _limit: usize) -> Value {
        Value::Opaque(Cow::Borrowed(std::any::type_name::<T>()))
    }
}

/// Error messages: `Display` first.
#[doc(hidden)]
pub trait ErrorDisplay {
    fn __tw_error_message(&self, limit: usize) -> Cow<'static, str>;
}

impl<T: fmt::Display + ?Sized> ErrorDisplay for &&Wrap<'_, T> {
    fn __tw_error_message(&self, limit: usize) -> Cow<'static, str> {
        Cow::Owned(bounded(limit, |w| write!(w, "{}", self.0)))
    }
}

/// Error messages: `Debug` when there is no `Display`.
#[doc(hidden)]
pub trait ErrorDebug {
    fn __tw_error_message(&self, limit: usize) -> Cow<'static, str>;
}

impl<T: fmt::Debug + ?Sized> ErrorDebug for &Wrap<'_, T> {
    fn __tw_error_message(&self, limit: usize) -> Cow<'static, str> {
        Cow::Owned(bounded(limit, |w| write!(w, "{:?}", self.0)))
    }
}

/// Error messages: the type name when there is neither.
#[doc(hidden)]
pub trait ErrorOpaque {
    fn __tw_error_message(&self, limit: usize) -> Cow<'static, str>;
}

impl<T: ?Sized> ErrorOpaque for Wrap<'_, T> {
    fn __tw_error_message(&self, _limit: usize) -> Cow<'static, str> {
        Cow::Borrowed(std::any::type_name::<T>())
    }
}

/// Formats with `f` into a string of at most `limit` characters (plus the truncation marker),
/// stopping the formatter as soon as the limit is passed so huge values cost little.
pub(crate) fn bounded(limit: usize, f: impl FnOnce(&mut Bounded) -> fmt::Result) -> String {
    let mut w = Bounded { out: String::new(), chars: 0, limit, truncated: false };
    let _ = f(&mut w);
    if w.truncated {
        w.out.push_str(TRUNCATION_MARKER);
    }
    w.out
}

/// A `fmt::Write` that keeps the first `limit` characters and then fails, ending formatting.
#[doc(hidden)]
#[derive(Debug)]
pub struct Bounded {
    out: String,
    chars: usize,
    limit: usize,
    truncated: bool,
}

impl fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.limit - self.chars;
        // Fast path: byte length bounds char count.
        if s.len() <= room {
            self.out.push_str(s);
            self.chars += s.chars().count();
            return Ok(());
        }
        let mut taken = 0;
        for (i, c) in s.char_indices() {
            if taken == room {
                self.out.push_str(&s[..i]);
                self.chars += taken;
                self.truncated = true;
                return Err(fmt::Error);
            }
            let _ = c;
            taken += 1;
        }
        self.out.push_str(s);
        self.chars += taken;
        Ok(())
    }
}

#[cfg(test)]
// The extra borrows are the autoref specialization under test.
#[allow(clippy::needless_borrow)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct DebugOnly {
        #[allow(dead_code)]
        s: String,
    }

    #[derive(serde::Serialize)]
    struct Point {
        x: i32,
        y: i32,
    }

    struct Nothing;

    #[test]
    fn primitives_are_typed() {
        assert_eq!((&&&&Wrap(&-3i32)).__tw_capture(10), Value::I64(-3));
        assert_eq!((&&&&Wrap(&1.5f64)).__tw_capture(10), Value::F64(1.5));
        assert_eq!((&&&&Wrap(&true)).__tw_capture(10), Value::Bool(true));
        let s: &str = "hello";
        assert_eq!((&&&&Wrap(&s)).__tw_capture(10), Value::from("hello"));
        assert_eq!((&&&&Wrap(&String::from("hi"))).__tw_capture(10), Value::from("hi"));
    }

    #[test]
    fn serialize_beats_debug() {
        let v = (&&&&Wrap(&Point { x: 1, y: -2 })).__tw_capture(100);
        assert_eq!(v, Value::Map(vec![("x".into(), Value::U64(1)), ("y".into(), Value::I64(-2))]));
    }

    #[test]
    fn debug_is_bounded_and_marked() {
        let v = (&&&&Wrap(&DebugOnly { s: "x".repeat(10_000) })).__tw_capture(20);
        let s = v.as_str().unwrap();
        assert!(s.starts_with("DebugOnly { s: \"xxx"));
        assert!(s.ends_with(TRUNCATION_MARKER));
        assert_eq!(s.chars().count(), 20 + TRUNCATION_MARKER.chars().count());
    }

    #[test]
    fn opaque_names_the_type() {
        assert_eq!(
            (&&&&Wrap(&Nothing)).__tw_capture(20),
            Value::Opaque(Cow::Borrowed(std::any::type_name::<Nothing>()))
        );
    }

    #[test]
    fn error_message_prefers_display() {
        let e = std::io::Error::other("disk full");
        assert_eq!((&&&Wrap(&e)).__tw_error_message(100), "disk full");
        assert_eq!((&&&Wrap(&DebugOnly { s: "a".into() })).__tw_error_message(100), "DebugOnly { s: \"a\" }");
        assert!((&&&Wrap(&Nothing)).__tw_error_message(100).ends_with("Nothing"));
    }

    fn generic_debug<T: fmt::Debug>(t: T) -> Value {
        (&&&&Wrap(&t)).__tw_capture(100)
    }

    fn generic_any<T>(t: T) -> Value {
        (&&&&Wrap(&t)).__tw_capture(100)
    }

    #[test]
    fn generic_contexts_use_known_bounds() {
        assert_eq!(generic_debug(5u8), Value::from("5"));
        assert!(matches!(generic_any(5u8), Value::Opaque(t) if t == "u8"));
    }
}
