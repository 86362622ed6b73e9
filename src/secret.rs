//! The one type every secret lives in: operator key, runtime key, tokens,
//! AppRole secret ids.
//!
//! No `Display`, no `Serialize`, no `Clone` (a secret exists once; a copy
//! must be spelled out with `expose`); `Debug` prints `[redacted]`; the bytes
//! are wiped on drop; [`Secret::expose`] is the single, greppable way out.

use std::fmt;
use std::hash::BuildHasher;

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

/// Removes every known secret from text that may have been echoed back by a
/// server or a helper: any run of 8 or more characters of a secret, in its
/// raw, JSON-escaped, URL-encoded, hex (either case) or base64 (standard and
/// URL-safe, every alignment) form, becomes `[redacted]`; so does anything shaped like a
/// runtime key. Copies of the secrets' forms are wiped on drop.
#[derive(Default)]
pub struct Redactor {
    /// A keyed hash (random key per process) of every 8-character window of
    /// every form of every secret: the windows themselves are not kept.
    grams: std::collections::HashSet<u64>,
    key: std::collections::hash_map::RandomState,
}

/// Shortest run of a secret that counts as the secret.
const GRAM: usize = 8;

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// Learns `s` (sent or received): from now on it is redacted.
    pub fn learn(&mut self, s: &Secret) {
        for form in forms(s.expose()) {
            for w in form.as_bytes().windows(GRAM) {
                self.grams.insert(self.key.hash_one(w));
            }
        }
    }

    /// `text` without any known secret (nor anything key-shaped).
    pub fn scrub(&self, text: &str) -> String {
        let b = text.as_bytes();
        let mut hit = vec![false; b.len()];
        if b.len() >= GRAM {
            for i in 0..=b.len() - GRAM {
                if self.grams.contains(&self.key.hash_one(&b[i..i + GRAM])) {
                    hit[i..i + GRAM].iter_mut().for_each(|h| *h = true);
                }
            }
        }
        mark_key_shapes(b, &mut hit);
        let mut out = String::with_capacity(text.len());
        let mut in_hit = false;
        for (i, c) in text.char_indices() {
            if hit[i] {
                if !in_hit {
                    out.push_str("[redacted]");
                }
                in_hit = true;
            } else {
                in_hit = false;
                out.push(c);
            }
        }
        out
    }
}

/// Anything shaped like a runtime key's secret part (`ihk_` + 8 hex + `.`
/// then 20 or more key characters), known or not.
fn mark_key_shapes(b: &[u8], hit: &mut [bool]) {
    let key_char = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
    let mut i = 0;
    while i + 13 <= b.len() {
        let head = &b[i..i + 13];
        if head.starts_with(b"ihk_")
            && head[4..12].iter().all(u8::is_ascii_hexdigit)
            && head[12] == b'.'
        {
            let end = (i + 13..b.len())
                .find(|&j| !key_char(b[j]))
                .unwrap_or(b.len());
            if end - (i + 13) >= 20 {
                hit[i..end].iter_mut().for_each(|h| *h = true);
                i = end;
                continue;
            }
        }
        i += 1;
    }
}

/// The forms a secret can be echoed in.
fn forms(s: &str) -> Vec<Zeroizing<String>> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    use base64::Engine;
    let mut v = vec![Zeroizing::new(s.to_string())];
    let json = serde_json::to_string(s).unwrap_or_default();
    v.push(Zeroizing::new(json.trim_matches('"').to_string()));
    let url: String = s
        .bytes()
        .map(|c| {
            if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
                (c as char).to_string()
            } else {
                format!("%{c:02X}")
            }
        })
        .collect();
    v.push(Zeroizing::new(url));
    // Hex, in both cases (a helper's `xxd -p`, a server's debug dump).
    v.push(Zeroizing::new(hex::encode(s)));
    v.push(Zeroizing::new(hex::encode_upper(s)));
    // Base64 of a longer text holding the secret depends on the secret's
    // offset modulo 3: each alignment, without the characters the unknown
    // neighbours change.
    for pad in 0..3usize {
        let mut bytes = Zeroizing::new(vec![0u8; pad]);
        bytes.extend_from_slice(s.as_bytes());
        for engine in [&STANDARD, &URL_SAFE] {
            let enc = Zeroizing::new(engine.encode(&*bytes));
            let start = if pad == 0 { 0 } else { (pad * 4).div_ceil(3) };
            let stable = enc.trim_end_matches('=');
            let end = stable.len().saturating_sub(2);
            if start < end {
                v.push(Zeroizing::new(stable[start..end].to_string()));
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// N7: a helper printed the operator key in hex; it reached the caller.
    #[test]
    fn hex_in_either_case_is_redacted() {
        let op = "OPKEY-hp-0123456789abcdef-SECRET";
        let mut r = Redactor::new();
        r.learn(&Secret::new(op.into()));
        for shown in [hex::encode(op), hex::encode_upper(op)] {
            let text = format!("key {shown} rejected");
            assert_eq!(r.scrub(&text), "key [redacted] rejected", "{text}");
            // In part too.
            let part = &shown[10..40];
            assert!(!r.scrub(part).contains(part), "{part}");
        }
    }

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new("hunter2-very-secret".into());
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&s)), "Some([redacted])");
        assert!(s.same_as(&Secret::new("hunter2-very-secret".into())));
        assert!(!s.same_as(&Secret::new("hunter2-very-secreT".into())));
    }

    #[test]
    fn echoed_secrets_are_redacted_in_every_form_and_part() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE};
        use base64::Engine;
        let secret = "op-key/with+odd=chars\\and\"quotes\"-0123456789";
        let mut r = Redactor::new();
        r.learn(&Secret::new(secret.into()));
        let json = serde_json::to_string(secret).unwrap();
        let url = secret
            .replace('/', "%2F")
            .replace('+', "%2B")
            .replace('=', "%3D");
        let echoes = [
            format!("Authorization: Bearer {secret}"),
            format!("echo {}", &secret[3..15]),
            format!("{{\"header\": {json}}}"),
            format!("form client_secret={url}&x=1"),
            format!("b64 {}", STANDARD.encode(format!("Bearer {secret}"))),
            format!("b64 {}", URL_SAFE.encode(format!("x:{secret}"))),
            format!("b64 {}", STANDARD.encode(format!("ab{secret}"))),
        ];
        for e in &echoes {
            let out = r.scrub(e);
            assert!(out.contains("[redacted]"), "{e} -> {out}");
            for w in secret.as_bytes().windows(GRAM) {
                assert!(
                    !out.as_bytes().windows(GRAM).any(|o| o == w),
                    "{e} -> {out}"
                );
            }
        }
        assert_eq!(r.scrub("nothing secret here"), "nothing secret here");
        let key = "ihk_0123abcd.abcdefghijABCDEFGHIJ0123456789-_abcdefghijk";
        assert_eq!(r.scrub(&format!("key={key}!")), "key=[redacted]!");
        assert_eq!(
            r.scrub("prefix ihk_0123abcd only"),
            "prefix ihk_0123abcd only"
        );
    }
}
