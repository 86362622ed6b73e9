//! Text that crosses a trust boundary: untrusted strings escaped and capped
//! before they reach evidence, audit or stderr; SHA-256 digests.

/// Escapes untrusted text for evidence and audit: printable ASCII is kept,
/// everything else becomes a visible escape, and the result is capped.
pub fn escape_untrusted(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if out.len() >= max_chars {
            out.push_str("...");
            break;
        }
        if (' '..='~').contains(&c) {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    out
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// SHA-256.
pub fn sha256_bytes(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// JSON Schema transforms the output types share (the schemas are generated
/// in tests only).
#[cfg(test)]
pub(crate) mod schema {
    /// For a struct whose fields are all always serialized (an `Option` as
    /// `null`): every property is required, `null` stays allowed where it is.
    pub(crate) fn all_required(schema: &mut schemars::Schema) {
        let keys: Vec<serde_json::Value> = schema
            .get("properties")
            .and_then(|p| p.as_object())
            .map(|p| p.keys().map(|k| k.as_str().into()).collect())
            .unwrap_or_default();
        schema.insert("required".into(), keys.into());
    }
}
