//! The capture policy: how long captured text may be and which names are secrets.

use std::borrow::Cow;

/// Appended to text that was cut at `max_len` characters.
pub const TRUNCATION_MARKER: &str = "…[truncated]";

/// Name fragments that mark a value as secret by default (matched case-insensitively, with `-`
/// and `_` treated alike).
pub const DEFAULT_SECRETS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "auth",
    "cookie",
    "credential",
    "private_key",
    "session",
    "csrf",
    "jwt",
];

/// How captured values are bounded and scrubbed.
///
/// # Examples
///
/// ```
/// use tracewell::capture::CapturePolicy;
/// let p = CapturePolicy::default();
/// assert!(p.is_secret("user_password"));
/// assert!(p.is_secret("X-Api-Key"));
/// assert!(!p.is_secret("user_id"));
/// assert_eq!(p.max_len, 1000);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct CapturePolicy {
    /// Longest captured text, in characters; longer text is cut on a UTF-8 boundary and marked.
    pub max_len: usize,
    /// Whether secret-looking names are scrubbed.
    pub scrub: bool,
    /// Lowercase name fragments that mark a secret (`-` written as `_`).
    pub secrets: Vec<Cow<'static, str>>,
    /// Whether inputs and outputs are captured at all (`TRACEWELL_CAPTURE=off` turns it off).
    pub capture: bool,
}

impl Default for CapturePolicy {
    fn default() -> Self {
        CapturePolicy {
            max_len: 1000,
            scrub: true,
            secrets: DEFAULT_SECRETS.iter().map(|s| Cow::Borrowed(*s)).collect(),
            capture: true,
        }
    }
}

impl CapturePolicy {
    /// Whether a value named `name` must be replaced by `[scrubbed]`.
    pub fn is_secret(&self, name: &str) -> bool {
        if !self.scrub {
            return false;
        }
        let norm: String = name.chars().map(|c| if c == '-' { '_' } else { c.to_ascii_lowercase() }).collect();
        self.secrets.iter().any(|s| norm.contains(&**s))
    }
}

/// Cuts `s` to at most `max_chars` characters on a UTF-8 boundary, appending
/// [`TRUNCATION_MARKER`] when something was cut.
///
/// # Examples
///
/// ```
/// use tracewell::capture::{truncate, TRUNCATION_MARKER};
/// assert_eq!(truncate("héllo", 2), format!("hé{TRUNCATION_MARKER}"));
/// assert_eq!(truncate("short", 10), "short");
/// ```
pub fn truncate(s: &str, max_chars: usize) -> Cow<'_, str> {
    if s.len() <= max_chars {
        return Cow::Borrowed(s);
    }
    match s.char_indices().nth(max_chars) {
        None => Cow::Borrowed(s),
        Some((i, _)) => {
            let mut t = String::with_capacity(i + TRUNCATION_MARKER.len());
            t.push_str(&s[..i]);
            t.push_str(TRUNCATION_MARKER);
            Cow::Owned(t)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_never_splits_a_char() {
        let s = "日本語テキスト";
        for n in 0..10 {
            let t = truncate(s, n);
            assert!(t.starts_with(&s[..s.char_indices().nth(n).map_or(s.len(), |(i, _)| i)]));
        }
        assert_eq!(truncate("", 0), "");
    }

    #[test]
    fn scrub_list_is_configurable() {
        let mut p = CapturePolicy::default();
        for n in ["password", "Authorization", "session_id", "csrf_token", "my-jwt", "PRIVATE_KEY", "passwd"] {
            assert!(p.is_secret(n), "{n}");
        }
        p.secrets = vec!["pin".into()];
        assert!(p.is_secret("card_pin"));
        assert!(!p.is_secret("password"));
        p.scrub = false;
        assert!(!p.is_secret("card_pin"));
    }
}
