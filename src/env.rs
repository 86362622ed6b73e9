//! The environment is read here and nowhere else, from an allowlist.
//!
//! In force-command mode the client controls part of the environment (sshd's
//! `AcceptEnv`, `~/.ssh/environment`), so everything not listed is dropped
//! before any library can look at it (proxies, `VAULT_*`, `RUST_LOG`, `LD_*`,
//! `TMPDIR`, ...), and `PATH` is fixed.

use std::ffi::OsString;

/// The fixed PATH every mode runs with.
pub const SAFE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Which caller ops-warden is serving; decides which variables are honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Run by sshd as the ForceCommand: only sshd's variables.
    ForceCommand,
    /// Run by an operator on the host: also `BAO_ADDR` / `BAO_CACERT`.
    Attended,
}

/// The allowlisted variables, captured once.
#[derive(Debug, Default, Clone)]
pub struct Environ {
    /// The client's requested command (sshd). Untrusted: parsed by `ssh::command`.
    pub ssh_original_command: Option<OsString>,
    /// `client_ip client_port server_ip server_port` (sshd). Used for source-address.
    pub ssh_connection: Option<OsString>,
    /// Path of the auth-info file sshd writes with `ExposeAuthInfo yes`.
    pub ssh_user_auth: Option<OsString>,
    /// `BAO_ADDR`: attended use only; an OpenBao address that passes the
    /// config's rules (with a notice on stderr). `VAULT_ADDR` never counts:
    /// a stale one in a root shell must not redirect the host's credentials.
    pub bao_addr: Option<String>,
    /// `BAO_CACERT`: attended use only, the CA bundle for `BAO_ADDR`.
    pub bao_cacert: Option<String>,
    /// `VAULT_ADDR` or `VAULT_CACERT` was set (and ignored): worth a notice.
    pub vault_vars_ignored: bool,
}

impl Environ {
    /// Captures the allowlist, then clears the process environment and sets
    /// the fixed PATH. Must run before any thread starts.
    pub fn capture_and_clear(mode: Mode) -> Environ {
        let get = |k: &str| std::env::var_os(k);
        let text = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let mut env = Environ {
            ssh_original_command: get("SSH_ORIGINAL_COMMAND"),
            ssh_connection: get("SSH_CONNECTION"),
            ssh_user_auth: get("SSH_USER_AUTH"),
            ..Environ::default()
        };
        if mode == Mode::Attended {
            env.bao_addr = text("BAO_ADDR");
            env.bao_cacert = text("BAO_CACERT");
            env.vault_vars_ignored = text("VAULT_ADDR").is_some() || text("VAULT_CACERT").is_some();
        }
        for (k, _) in std::env::vars_os() {
            std::env::remove_var(k);
        }
        std::env::set_var("PATH", SAFE_PATH);
        env
    }
}
