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

/// Panics naming `label` if any form of any secret occurs in `haystack`.
pub fn assert_clean(label: &str, haystack: &[u8], secrets: &[&str]) {
    let text = String::from_utf8_lossy(haystack);
    for s in secrets {
        assert!(s.len() >= 8, "scan needs a distinctive secret");
        for f in forms(s) {
            assert!(
                !text.contains(&f),
                "{label} leaks a secret (form {:?}...)",
                &f[..6.min(f.len())]
            );
        }
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
}
