//! The host-side audit log: JSON lines, a SHA-256 hash chain, fail closed.
//!
//! Each record carries `seq` and `prev` (the SHA-256 of the previous record's
//! line). A file always starts with a `chain-start` record, whose `prev` is the
//! last hash of the file before it (after rotation) or the genesis hash. A
//! small head file (`<log>.head`) holds the last `seq` and hash, so removing
//! records from the end is detected too, and writers refuse to extend a log
//! that no longer matches its head.

pub mod anchor;
mod log;
pub mod read;
mod show;
mod verify;

pub use log::{AuditLog, AuditRef, GENESIS};
pub use show::{show, ShowFilter};
pub use verify::{verify_bytes, verify_files, Status, VerifyOptions, VerifyReport};

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
