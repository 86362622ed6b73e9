//! OS hardening, trusted-file checks and the single-run lock.

pub mod dir;
pub mod files;
pub mod harden;
pub mod host;
pub mod lock;
pub mod session;
pub mod signals;
