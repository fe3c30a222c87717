//! Where headers live: the [`Extractor`] / [`Injector`] traits and their implementations for
//! `HashMap<String, String>`, header lists, `http::HeaderMap` (feature `http`) and
//! `tonic::metadata::MetadataMap` (feature `tonic`).
//!
//! Names are matched case-insensitively on extract and always written in lowercase on inject.

use std::collections::HashMap;
use std::hash::BuildHasher;

/// Something headers can be read from.
///
/// `name` is always given in lowercase; implementations must match it case-insensitively.
/// A value that is not text (for example a non-ASCII HTTP header value) counts as absent.
///
/// # Examples
///
/// A carrier of your own needs only [`Extractor::get`]:
///
/// ```
/// use tracewell::propagation::{Extractor, extract_with, Propagators};
/// struct Env(Vec<(String, String)>);
/// impl Extractor for Env {
///     fn get(&self, name: &str) -> Option<&str> {
///         self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
///     }
/// }
/// let env = Env(vec![("TRACEPARENT".into(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into())]);
/// let ctx = extract_with(&Propagators::default(), &env).unwrap();
/// assert_eq!(ctx.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// ```
pub trait Extractor {
    /// The first value of header `name`, if present and text.
    fn get(&self, name: &str) -> Option<&str>;

    /// Calls `visit` with every value of header `name`, in order (carriers that can hold a name
    /// more than once override this; the default visits [`Extractor::get`]'s value).
    fn get_all<'a>(&'a self, name: &str, visit: &mut dyn FnMut(&'a str)) {
        if let Some(v) = self.get(name) {
            visit(v);
        }
    }
}

/// Something headers can be written to.
///
/// # Examples
///
/// ```
/// use tracewell::propagation::Injector;
/// let mut headers: Vec<(String, String)> = Vec::new();
/// headers.set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
/// assert_eq!(headers[0].0, "traceparent");
/// ```
pub trait Injector {
    /// Sets header `name` (lowercase) to `value`, replacing any value it had under any casing.
    fn set(&mut self, name: &'static str, value: String);
}

/// A carrier both readable and writable (implemented for everything that is both).
pub trait Carrier: Extractor + Injector {}

impl<T: Extractor + Injector + ?Sized> Carrier for T {}

impl<T: Extractor + ?Sized> Extractor for &T {
    fn get(&self, name: &str) -> Option<&str> {
        (**self).get(name)
    }
    fn get_all<'a>(&'a self, name: &str, visit: &mut dyn FnMut(&'a str)) {
        (**self).get_all(name, visit)
    }
}

impl<T: Injector + ?Sized> Injector for &mut T {
    fn set(&mut self, name: &'static str, value: String) {
        (**self).set(name, value)
    }
}

impl<S: BuildHasher> Extractor for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<&str> {
        if let Some(v) = HashMap::get(self, name) {
            return Some(v);
        }
        self.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

impl<S: BuildHasher> Injector for HashMap<String, String, S> {
    fn set(&mut self, name: &'static str, value: String) {
        if self.keys().any(|k| k != name && k.eq_ignore_ascii_case(name)) {
            self.retain(|k, _| !k.eq_ignore_ascii_case(name));
        }
        self.insert(name.to_ascii_lowercase(), value);
    }
}

macro_rules! list_carrier {
    ($($ty:ty),*) => {$(
        impl Extractor for $ty {
            fn get(&self, name: &str) -> Option<&str> {
                self.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| &v[..])
            }
            fn get_all<'a>(&'a self, name: &str, visit: &mut dyn FnMut(&'a str)) {
                for (k, v) in self.iter() {
                    if k.eq_ignore_ascii_case(name) {
                        visit(v);
                    }
                }
            }
        }
    )*};
}

list_carrier!([(String, String)], Vec<(String, String)>, [(&str, &str)], Vec<(&str, &str)>);
list_carrier!(Vec<(&'static str, String)>);

impl Injector for Vec<(String, String)> {
    fn set(&mut self, name: &'static str, value: String) {
        self.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.push((name.to_ascii_lowercase(), value));
    }
}

impl Injector for Vec<(&'static str, String)> {
    fn set(&mut self, name: &'static str, value: String) {
        self.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.push((name, value));
    }
}

#[cfg(feature = "http")]
mod http_impl {
    use super::{Extractor, Injector};
    use http::{HeaderMap, HeaderName, HeaderValue};

    // `HeaderMap` stores names in lowercase and looks `&str` names up case-insensitively.
    impl<T> Extractor for HeaderMap<T>
    where
        T: AsRef<[u8]>,
    {
        fn get(&self, name: &str) -> Option<&str> {
            HeaderMap::get(self, name).and_then(|v| std::str::from_utf8(v.as_ref()).ok())
        }
        fn get_all<'a>(&'a self, name: &str, visit: &mut dyn FnMut(&'a str)) {
            for v in HeaderMap::get_all(self, name) {
                if let Ok(s) = std::str::from_utf8(v.as_ref()) {
                    visit(s);
                }
            }
        }
    }

    impl Injector for HeaderMap {
        fn set(&mut self, name: &'static str, value: String) {
            // Names come from this module and are valid; a bad name or value is skipped, never a panic.
            let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::try_from(value)) else {
                return;
            };
            self.insert(name, value);
        }
    }
}

#[cfg(feature = "tonic")]
mod tonic_impl {
    use super::{Extractor, Injector};
    use tonic::metadata::{KeyAndValueRef, MetadataKey, MetadataMap, MetadataValue};

    impl Extractor for MetadataMap {
        fn get(&self, name: &str) -> Option<&str> {
            // gRPC metadata keys are lowercase on the wire; compare case-insensitively anyway.
            self.iter().find_map(|kv| match kv {
                KeyAndValueRef::Ascii(k, v) if k.as_str().eq_ignore_ascii_case(name) => v.to_str().ok(),
                _ => None,
            })
        }
        fn get_all<'a>(&'a self, name: &str, visit: &mut dyn FnMut(&'a str)) {
            for kv in self.iter() {
                if let KeyAndValueRef::Ascii(k, v) = kv
                    && k.as_str().eq_ignore_ascii_case(name)
                    && let Ok(s) = v.to_str()
                {
                    visit(s);
                }
            }
        }
    }

    impl Injector for MetadataMap {
        fn set(&mut self, name: &'static str, value: String) {
            let (Ok(key), Ok(value)) = (MetadataKey::from_bytes(name.as_bytes()), MetadataValue::try_from(value))
            else {
                return;
            };
            self.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashmap_is_case_insensitive_and_injects_lowercase() {
        let mut m: HashMap<String, String> = HashMap::new();
        m.insert("TraceParent".into(), "x".into());
        assert_eq!(Extractor::get(&m, "traceparent"), Some("x"));
        m.set("traceparent", "y".into());
        assert_eq!(m.len(), 1);
        assert_eq!(m["traceparent"], "y");
    }

    #[test]
    fn lists_visit_every_value() {
        let l = vec![("tracestate", "a=1"), ("X", "no"), ("TraceState", "b=2")];
        let mut seen = Vec::new();
        l.get_all("tracestate", &mut |v| seen.push(v.to_owned()));
        assert_eq!(seen, ["a=1", "b=2"]);
    }

    #[cfg(feature = "http")]
    #[test]
    fn header_map_round_trip() {
        let mut h = http::HeaderMap::new();
        h.append("TraceState", http::HeaderValue::from_static("a=1"));
        h.append("tracestate", http::HeaderValue::from_static("b=2"));
        h.append("b3", http::HeaderValue::from_bytes(b"\xff").unwrap());
        let mut seen = Vec::new();
        Extractor::get_all(&h, "tracestate", &mut |v| seen.push(v.to_owned()));
        assert_eq!(seen, ["a=1", "b=2"]);
        assert_eq!(Extractor::get(&h, "b3"), None);
        h.set("traceparent", "v".into());
        h.set("bad", "new\nline".into());
        assert_eq!(Extractor::get(&h, "TRACEPARENT"), Some("v"));
        assert!(!h.contains_key("bad"));
    }

    #[cfg(feature = "tonic")]
    #[test]
    fn metadata_map_round_trip() {
        let mut m = tonic::metadata::MetadataMap::new();
        m.set("traceparent", "v".into());
        m.insert_bin("tracestate-bin", tonic::metadata::MetadataValue::from_bytes(b"zz"));
        assert_eq!(Extractor::get(&m, "TraceParent"), Some("v"));
        assert_eq!(Extractor::get(&m, "tracestate"), None);
    }
}
