//! Key id patterns: `*` matches any run of characters, `?` exactly one.

/// A checked key id pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyIdPattern(String);

impl KeyIdPattern {
    pub fn parse(p: &str) -> Result<KeyIdPattern, String> {
        if p.is_empty() || p.len() > 256 {
            return Err("must be 1 to 256 characters".into());
        }
        if !p.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err("must be printable ASCII without spaces".into());
        }
        if p.bytes().all(|b| b == b'*') {
            return Err("must not match every key id".into());
        }
        Ok(KeyIdPattern(p.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, text: &str) -> bool {
        glob_match(self.0.as_bytes(), text.as_bytes())
    }
}

/// Iterative wildcard match with single backtrack point (linear-ish, no recursion).
fn glob_match(pat: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pat.len() && (pat[p] == b'?' || pat[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pat.len() && pat[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_pattern() {
        let p = KeyIdPattern::parse("agt-*-interhub-bootstrap*").unwrap();
        assert!(p.matches("agt-codex-interhub-bootstrap"));
        assert!(p.matches("agt-codex-interhub-bootstrap-2026-11-30"));
        assert!(!p.matches("agt--interhub-bootstra"));
        assert!(!p.matches("xagt-codex-interhub-bootstrap"));
        assert!(!p.matches("agt-codex-other"));
        assert!(KeyIdPattern::parse("a?c").unwrap().matches("abc"));
        assert!(!KeyIdPattern::parse("a?c").unwrap().matches("ac"));
        assert!(KeyIdPattern::parse("*").is_err());
        assert!(KeyIdPattern::parse("a b").is_err());
    }
}
