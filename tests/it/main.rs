//! The integration tests, one binary (the shared helpers in `common` are
//! compiled once). Most need root: they start sshd, OpenBao, PostgreSQL and
//! the Inter-Hub simulator on loopback (`bash tests/run.sh` installs them).
//! The hermetic tier (`hermetic`: the CLI cases in `tests/cmd/*.toml`) needs
//! none of that and runs as any user: `cargo test --test it hermetic`.

mod common;

mod attended;
mod audit_trail;
mod bootstrap;
mod cli;
mod codes;
mod docs;
mod fault_matrix;
mod fleet;
mod fuzz_corpus;
mod gate_sshd;
mod ha;
mod hermetic;
mod lane_e2e;
mod openbao_custody;
mod package;
mod privilege;
mod scale;
mod sql_fallback;
