//! Scans every output for secret values: raw, base64 (all three alignments,
//! standard and URL-safe), hex (both cases) and URL-encoded.

use base64::Engine;

fn forms(secret: &str) -> Vec<String> {
    let mut out = vec![
        secret.to_string(),
        hex::encode(secret),
        hex::encode_upper(secret),
    ];
    let url: String = secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    out.push(url);
    for engine in [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::URL_SAFE,
    ] {
        for pad in 0..3 {
            let mut bytes = vec![0u8; pad];
            bytes.extend_from_slice(secret.as_bytes());
            let enc = engine.encode(&bytes);
            // Drop the characters that depend on the neighbours.
            let start = if pad == 0 {
                0
            } else {
                (pad * 4).div_ceil(3) + 1
            };
            let end = enc.trim_end_matches('=').len().saturating_sub(2);
            if end > start + 8 {
                out.push(enc[start..end].to_string());
            }
        }
    }
    // Any 12 characters of it, too (a server or helper echoing part of it);
    // a runtime key's public prefix (`ihk_xxxxxxxx`) is not secret.
    let private = if secret.starts_with("ihk_") && secret.as_bytes().get(12) == Some(&b'.') {
        &secret[13..]
    } else {
        secret
    };
    let json = serde_json::to_string(private).unwrap();
    for part in [private, json.trim_matches('"')] {
        for w in part.as_bytes().windows(12) {
            out.push(String::from_utf8_lossy(w).to_string());
        }
    }
    out
}

/// Every form of every secret, as what a scan looks for: each 12-byte
/// window of a form (a text holding a form holds its windows), and the
/// forms shorter than that whole.
struct Needles {
    windows: std::collections::HashSet<[u8; WINDOW]>,
    short: Vec<String>,
}

const WINDOW: usize = 12;

impl Needles {
    fn new(secrets: &[&str]) -> Needles {
        let mut n = Needles {
            windows: std::collections::HashSet::new(),
            short: Vec::new(),
        };
        for s in secrets {
            assert!(s.len() >= 8, "scan needs a distinctive secret");
            for f in forms(s) {
                if f.len() < WINDOW {
                    n.short.push(f);
                    continue;
                }
                // A runtime key's public prefix (`ihk_xxxxxxxx.`) may be
                // shown: a window of the raw key counts once it reaches
                // past it.
                let public =
                    if f == *s && s.starts_with("ihk_") && s.as_bytes().get(12) == Some(&b'.') {
                        13
                    } else {
                        0
                    };
                for (i, w) in f.as_bytes().windows(WINDOW).enumerate() {
                    if i + WINDOW > public {
                        n.windows.insert(w.try_into().unwrap());
                    }
                }
            }
        }
        n
    }

    /// The first form found in `haystack`, shown by its first 6 bytes.
    fn find(&self, haystack: &[u8]) -> Option<String> {
        for w in haystack.windows(WINDOW) {
            if self.windows.contains(<&[u8; WINDOW]>::try_from(w).unwrap()) {
                return Some(String::from_utf8_lossy(&w[..6]).into_owned());
            }
        }
        let text = String::from_utf8_lossy(haystack);
        self.short
            .iter()
            .find(|f| text.contains(f.as_str()))
            .map(|f| f[..6.min(f.len())].to_string())
    }
}

thread_local! {
    /// The needles of the last secret list scanned for (a test scans many
    /// outputs for the same list).
    static NEEDLES: std::cell::RefCell<Option<(u64, std::rc::Rc<Needles>)>> =
        const { std::cell::RefCell::new(None) };
}

fn needles_for(secrets: &[&str]) -> std::rc::Rc<Needles> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    secrets.hash(&mut h);
    let key = h.finish();
    NEEDLES.with(|cell| {
        let mut cell = cell.borrow_mut();
        match &*cell {
            Some((k, n)) if *k == key => n.clone(),
            _ => {
                let n = std::rc::Rc::new(Needles::new(secrets));
                *cell = Some((key, n.clone()));
                n
            }
        }
    })
}

/// Panics naming `label` if any form of any secret occurs in `haystack`.
pub fn assert_clean(label: &str, haystack: &[u8], secrets: &[&str]) {
    if let Some(f) = needles_for(secrets).find(haystack) {
        panic!("{label} leaks a secret (form {f:?}...)");
    }
}

/// Scans each run's stdout and stderr, and the audit log's bytes.
pub fn assert_run_clean(outs: &[&std::process::Output], audit: &[u8], secrets: &[String]) {
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    for o in outs {
        assert_clean("stdout", &o.stdout, &refs);
        assert_clean("stderr", &o.stderr, &refs);
    }
    assert_clean("audit log", audit, &refs);
}

#[test]
fn scanner_finds_encoded_forms() {
    let secret = "ihk_0123abcd.supersecretvalue_0123456789abcdefghijklmnopqr";
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("xx{secret}yy"));
    assert!(std::panic::catch_unwind(|| assert_clean("b64", b64.as_bytes(), &[secret])).is_err());
    let hx = hex::encode(secret);
    assert!(std::panic::catch_unwind(|| assert_clean("hex", hx.as_bytes(), &[secret])).is_err());
    assert_clean("clean", b"ihk_0123abcd only the prefix", &[secret]);
    // In part: 12 characters of its secret part, inside other text.
    let part = format!("error near {} here", &secret[20..32]);
    assert!(std::panic::catch_unwind(|| assert_clean("part", part.as_bytes(), &[secret])).is_err());
    // A short secret (under 12 characters) is found whole.
    assert!(
        std::panic::catch_unwind(|| assert_clean("short", b"x=pw-0123456 y", &["pw-0123456"]))
            .is_err()
    );
}
