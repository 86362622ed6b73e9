//! ops-warden: the sshd ForceCommand of the `agt-interhub-bootstrap` lane.
//!
//! Layers, one folder each: `ssh` (what sshd hands over), `policy` (the
//! certificate envelope), `store` (OpenBao), `interhub` (the API client),
//! `bootstrap` (the steps), `audit` + `evidence` (what is recorded and
//! printed), `os` (hardening, trusted files, lock, signals). `pipeline`
//! tells the force-command story top to bottom.
#![forbid(unsafe_code)]

/// This build's version, carried by every audit record.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub mod attended;
pub mod audit;
pub mod bootstrap;
pub mod check;
pub mod cli;
pub mod config;
pub mod env;
pub mod error;
pub mod evidence;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod interhub;
pub mod lane;
pub mod os;
pub mod pipeline;
pub mod policy;
pub mod secret;
pub mod ssh;
pub mod store;
