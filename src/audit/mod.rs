//! The host-side audit log: JSON lines, a SHA-256 hash chain, fail closed.
//!
//! Each record carries `seq` and `prev` (the SHA-256 of the previous record's
//! line). A file always starts with a `chain-start` record, whose `prev` is the
//! last hash of the file before it (after rotation) or the genesis hash. A
//! small head file (`<log>.head`) holds the last `seq` and hash, so removing
//! records from the end is detected too, and writers refuse to extend a log
//! that no longer matches its head.

pub mod anchor;
pub(crate) mod correlate;
mod log;
pub mod read;
mod show;
pub(crate) mod verify;

pub use log::{AuditLog, AuditRef};
pub use show::{show, ShowFilter};
pub use verify::{verify_bytes, verify_files, Status, VerifyOptions};

pub use crate::text::{escape_untrusted, sha256_hex};
