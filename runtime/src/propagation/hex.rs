//! Lowercase hexadecimal, the only form the header formats allow. No allocation.

/// The value of one lowercase hex digit.
#[inline]
fn digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Parses 1 to 32 lowercase hex digits.
#[inline]
pub(crate) fn u128_of(s: &[u8]) -> Option<u128> {
    if s.is_empty() || s.len() > 32 {
        return None;
    }
    s.iter().try_fold(0u128, |acc, &c| Some((acc << 4) | digit(c)? as u128))
}

/// Exactly two lowercase hex digits.
#[inline]
pub(crate) fn byte(s: &[u8]) -> Option<u8> {
    if s.len() != 2 {
        return None;
    }
    u128_of(s).map(|v| v as u8)
}

/// Exactly 32 lowercase hex digits.
#[inline]
pub(crate) fn u128_exact(s: &[u8]) -> Option<u128> {
    if s.len() != 32 {
        return None;
    }
    u128_of(s)
}

/// Exactly 16 lowercase hex digits.
#[inline]
pub(crate) fn u64_exact(s: &[u8]) -> Option<u64> {
    if s.len() != 16 {
        return None;
    }
    u128_of(s).map(|v| v as u64)
}

/// Writes the low `out.len()` nibbles of `v` as lowercase hex, most significant first.
#[inline]
pub(crate) fn write(out: &mut [u8], mut v: u128) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(v & 0xf) as usize];
        v >>= 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercase_only_and_exact_lengths() {
        assert_eq!(byte(b"0f"), Some(15));
        assert_eq!(byte(b"0F"), None);
        assert_eq!(byte(b"f"), None);
        assert_eq!(u64_exact(b"00f067aa0ba902b7"), Some(0x00f0_67aa_0ba9_02b7));
        assert_eq!(u64_exact(b"00f067aa0ba902b"), None);
        assert_eq!(u128_exact(&[b'f'; 32]), Some(u128::MAX));
        let mut buf = [0u8; 4];
        write(&mut buf, 0xab);
        assert_eq!(&buf, b"00ab");
    }
}
