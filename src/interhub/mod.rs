//! Inter-Hub: the API client (every route lives in [`client`]) and the types
//! of its answers. See `../shared/interhub-api-v2.md` and wiki/Contract.md.

pub mod client;

use serde::Deserialize;

use crate::secret::Secret;

#[derive(Debug, Clone, Deserialize)]
pub struct Hub {
    pub id: String,
}

/// `GET /api/v2/health`.
#[derive(Debug, Clone, Deserialize)]
pub struct Health {
    pub status: String,
    #[serde(rename = "apiVersion", default)]
    pub api_version: String,
}

/// An entry of a public registry (types and categories carry `key` and
/// `owner`; hub-registry carries `slug`, `status` and `manifestDigest`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RegistryEntry {
    pub key: Option<String>,
    pub owner: Option<String>,
    pub slug: Option<String>,
    pub status: Option<Lifecycle>,
    #[serde(rename = "manifestDigest")]
    pub manifest_digest: Option<String>,
}

/// A manifest's, registry entry's or key's state, as the contract names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lifecycle {
    Active,
    Draft,
    Superseded,
    Revoked,
    /// Anything the contract does not name (never treated as active).
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub id: String,
    #[serde(default)]
    pub digest: String,
    pub status: Lifecycle,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Consumer {
    pub id: String,
    pub name: String,
    pub hub: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct KeyInfo {
    pub id: String,
    pub prefix: String,
    pub status: Lifecycle,
    /// RFC 3339; the sweep's orphan rule needs it.
    #[serde(rename = "createdAt", default)]
    pub created_at: Option<String>,
}

impl KeyInfo {
    /// How old the key is at `now`, by its `createdAt` (`None`: unknown).
    pub fn age(&self, now: chrono::DateTime<chrono::Utc>) -> Option<chrono::Duration> {
        let t = chrono::DateTime::parse_from_rfc3339(self.created_at.as_deref()?).ok()?;
        Some(now - t.with_timezone(&chrono::Utc))
    }
}

/// A key as created: the only moment Inter-Hub shows the secret.
#[derive(Debug)]
pub struct NewKey {
    pub id: String,
    pub prefix: String,
    pub key: Secret,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Widget {
    pub id: String,
    pub key: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    #[serde(default)]
    pub config: serde_json::Value,
}

/// A widget as written (`PUT /api/v2/hubs/{slug}/widgets/{key}`).
#[derive(Debug)]
pub struct NewWidget<'a> {
    pub kind: &'a str,
    pub title: &'a str,
    pub config: &'a serde_json::Value,
}

/// Create answers: made now, or already there (409).
#[derive(Debug)]
pub enum Created<T> {
    New(T),
    Exists,
}

/// What may be shown of a runtime key: its public prefix (`ihk_1a2b3c4d`)
/// when the value has the contract's shape, else `sha256:` and 8 hex digits
/// of its digest (a hand-written value, or a wrong file, is never shown).
pub fn key_prefix(key: &str) -> String {
    if key_shape_ok(key) {
        key[..12].to_string()
    } else {
        let d = crate::text::sha256_hex(key.as_bytes());
        format!("sha256:{}", &d[..8])
    }
}

/// Whether a runtime key has the contract's shape.
pub fn key_shape_ok(key: &str) -> bool {
    let Some((prefix, rest)) = key.split_once('.') else {
        return false;
    };
    prefix.len() == 12
        && prefix.starts_with("ihk_")
        && prefix[4..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && rest.len() == 43
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// An id taken from an Inter-Hub answer, as one URL path segment: only
/// `[A-Za-z0-9_-]`, at most 64 bytes (anything else is refused, never sent).
pub fn segment<'a>(id: &'a str, what: &str) -> Result<&'a str, crate::error::Error> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(id)
    } else {
        Err(crate::error::Error::InterhubProtocol(format!(
            "{what} id {:?} is not a plain path segment",
            crate::text::escape_untrusted(id, 40)
        )))
    }
}

/// The key operations of the critical section, as a seam (the client is the
/// real one; unit tests use a fake to force every failure path).
pub trait KeyApi {
    fn create_key(&self, consumer_id: &str) -> Result<NewKey, crate::error::Error>;
    fn revoke_key(&self, consumer_id: &str, key_id: &str) -> Result<(), crate::error::Error>;
    fn list_keys(&self, consumer_id: &str) -> Result<Vec<KeyInfo>, crate::error::Error>;
    /// Proves a runtime key by minting an access token with it.
    fn token(&self, client_id: &str, key: &Secret) -> Result<Secret, crate::error::Error>;
    /// Sends the key list ahead (a later `list_keys` takes the answer).
    fn read_ahead_keys(&self, _consumer_id: &str) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_shapes() {
        let k = "ihk_1a2b3c4d.abcdefghijABCDEFGHIJ0123456789-_abcdefghijk";
        assert!(key_shape_ok(k));
        assert_eq!(key_prefix(k), "ihk_1a2b3c4d");
        assert!(!key_shape_ok("ihk_1a2b3c4d"));
        // Not key-shaped: only a digest is shown, never the text.
        let op = "operator-key-passed-by-mistake-0123456789";
        assert_eq!(key_prefix(op).len(), "sha256:".len() + 8);
        assert!(key_prefix(op).starts_with("sha256:"));
        assert!(!key_prefix(op).contains("operator"));
        assert!(!key_shape_ok(
            "ihk_1A2B3C4D.abcdefghijABCDEFGHIJ0123456789-_abcdefghijk"
        ));
    }
}
