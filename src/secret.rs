//! The one type every secret lives in: operator key, runtime key, tokens,
//! AppRole secret ids.
//!
//! No `Display`, no `Serialize`, no `Clone` (a secret exists once; a copy
//! must be spelled out with `expose`); `Debug` prints `[redacted]`; the bytes
//! are wiped on drop; [`Secret::expose`] is the single, greppable way out.

use std::fmt;
use zeroize::Zeroizing;

pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(Zeroizing::new(value))
    }

    /// The secret's value. Every call site is a place a reviewer should read.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Constant-time-ish equality (length leaks, contents do not short-circuit).
    pub fn same_as(&self, other: &Secret) -> bool {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new("hunter2-very-secret".into());
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&s)), "Some([redacted])");
        assert!(s.same_as(&Secret::new("hunter2-very-secret".into())));
        assert!(!s.same_as(&Secret::new("hunter2-very-secreT".into())));
    }
}
