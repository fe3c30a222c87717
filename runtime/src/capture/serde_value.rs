//! `serde::Serialize` values into [`Value`]s, with every string bounded by the policy.

use std::borrow::Cow;

use super::truncate;
use crate::span::Value;

/// Most list elements or map entries kept from one structured value; the rest is summarized.
const MAX_ELEMENTS: usize = 128;

pub(crate) fn to_value<T: serde::Serialize + ?Sized>(v: &T, limit: usize) -> Value {
    match serde_json::to_value(v) {
        Ok(j) => convert(&j, limit),
        // A Serialize impl may refuse (e.g. a map with non-string keys): fall back to its type.
        Err(_) => Value::Opaque(std::borrow::Cow::Borrowed(std::any::type_name::<T>())),
    }
}

fn convert(j: &serde_json::Value, limit: usize) -> Value {
    use serde_json::Value as J;
    match j {
        J::String(s) => Value::Str(Cow::Owned(truncate(s, limit).into_owned())),
        J::Array(a) => {
            let mut out: Vec<Value> = a.iter().take(MAX_ELEMENTS).map(|x| convert(x, limit)).collect();
            if a.len() > MAX_ELEMENTS {
                out.push(Value::Str(Cow::Owned(format!("…{} more", a.len() - MAX_ELEMENTS))));
            }
            Value::List(out)
        }
        J::Object(o) => {
            let mut out: Vec<(String, Value)> =
                o.iter().take(MAX_ELEMENTS).map(|(k, x)| (k.clone(), convert(x, limit))).collect();
            if o.len() > MAX_ELEMENTS {
                out.push(("…".into(), Value::U64((o.len() - MAX_ELEMENTS) as u64)));
            }
            Value::Map(out)
        }
        other => Value::from_json(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_strings_are_truncated_and_long_lists_summarized() {
        let v = to_value(&vec!["abcdef".to_string(); 200], 3);
        let Value::List(l) = v else { panic!("list expected") };
        assert_eq!(l.len(), MAX_ELEMENTS + 1);
        assert!(l[0].as_str().unwrap().starts_with("abc…"));
        assert_eq!(l[MAX_ELEMENTS].as_str().unwrap(), "…72 more");
    }

    #[test]
    fn refusing_serializers_become_opaque() {
        let mut m = std::collections::HashMap::new();
        m.insert((1, 2), 3);
        assert!(matches!(to_value(&m, 10), Value::Opaque(_)));
    }
}
