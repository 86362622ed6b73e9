//! The secret store: OpenBao over its Vault-compatible API.
//!
//! The operator key is read (only for a [`VerifiedCaller`]); the runtime key
//! is stored with check-and-set so two hosts can never both believe they own
//! the live key.

pub mod errors;
pub mod openbao;
mod operator;

pub use operator::OperatorKey;

use crate::error::Error;
use crate::secret::Secret;

/// Field names stored next to the runtime key (all non-secret but the key).
pub const FIELD_CLIENT_ID: &str = "OPS_HUB_CLIENT_ID";
pub const FIELD_KEY_PREFIX: &str = "OPS_HUB_KEY_PREFIX";
pub const FIELD_KEY_ID: &str = "OPS_HUB_KEY_ID";

/// Longest operator key accepted (the contract's bound).
pub const MAX_OPERATOR_KEY: usize = 4096;

/// A runtime key to store, with its non-secret fields (the key is borrowed:
/// a secret exists once).
#[derive(Debug)]
pub struct KeyRecord<'a> {
    pub key: &'a Secret,
    pub client_id: Option<String>,
    pub prefix: Option<String>,
    /// Inter-Hub's id of the key (to revoke it on rotation).
    pub key_id: Option<String>,
}

/// A runtime key as read from the store.
#[derive(Debug)]
pub struct StoredKey {
    pub key: Secret,
    pub client_id: Option<String>,
    pub prefix: Option<String>,
    /// Inter-Hub's id of the key (to revoke it on rotation).
    pub key_id: Option<String>,
    /// KV v2 version holding it.
    pub version: u64,
}

/// Who stored a runtime key, for the custom metadata.
#[derive(Debug, Clone)]
pub struct Provenance {
    pub run_id: String,
    pub host: String,
    pub cert_key_id: String,
}

/// What a check-and-set store ended in.
#[derive(Debug)]
pub enum Stored {
    /// Ours is the stored key, at this version (read back and compared).
    Written { version: u64 },
    /// Another writer stored first; this is theirs, to reuse.
    LostRace { winner: StoredKey },
    /// The write may have landed (its answer was lost and the slot could
    /// not be read since): ours may be the stored key.
    Unconfirmed { why: Error },
}

/// Checks a secret value read from anywhere: non-empty, bounded, printable ASCII.
pub fn check_value(what: &str, value: &str, max: usize) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::SecretValueEmpty(what.into()));
    }
    if value.len() > max {
        return Err(Error::SecretValueTooLong(what.into()));
    }
    if !value.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(Error::SecretValueNotPrintable(what.into()));
    }
    Ok(())
}
