//! The config file as written: serde structs, unknown keys refused.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub lane: RawLane,
    pub audit: RawAudit,
    #[serde(default)]
    pub state: RawState,
    pub openbao: Option<RawOpenbao>,
    pub interhub: Option<RawInterhub>,
    #[serde(default)]
    pub runner: RawRunner,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLane {
    pub principal: String,
    /// The account sshd runs ops-warden as (e.g. `ihub-bootstrap`).
    pub user: Option<String>,
    /// Safe by default: a certificate naming other principals too is refused.
    #[serde(default = "yes")]
    pub require_sole_principal: bool,
    pub key_id_pattern: String,
    #[serde(default)]
    pub ca_keys: Vec<String>,
    pub ca_keys_file: Option<String>,
    pub max_ttl_secs: u64,
    #[serde(default = "default_skew")]
    pub clock_skew_secs: u64,
    #[serde(default = "default_critical")]
    pub allowed_critical_options: Vec<String>,
    #[serde(default)]
    pub require_source_address: bool,
    /// Certificate extensions allowed; any other gets the certificate
    /// refused. Default: none (the lane needs no PTY, forwarding or rc).
    #[serde(default)]
    pub allowed_extensions: Vec<String>,
    /// Verbs a certificate may be used for once only (by serial, until it
    /// expires): a replayed certificate is refused with `cert-replayed`.
    #[serde(default = "default_single_use")]
    pub single_use_verbs: Vec<String>,
}

fn default_single_use() -> Vec<String> {
    vec!["bootstrap".into()]
}

fn yes() -> bool {
    true
}

fn default_skew() -> u64 {
    60
}
fn default_critical() -> Vec<String> {
    vec!["source-address".into()]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    pub path: String,
    /// Send every record's summary to syslog too (the anchor).
    #[serde(default = "yes")]
    pub syslog: bool,
    #[serde(default = "default_syslog_socket")]
    pub syslog_socket: String,
    #[serde(default = "default_syslog_facility")]
    pub syslog_facility: String,
    /// The auditors' group: the log folder's group (setgid), files 0640.
    pub group: Option<String>,
}

fn default_syslog_socket() -> String {
    "/dev/log".into()
}
fn default_syslog_facility() -> String {
    "authpriv".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    #[serde(default = "default_state_dir")]
    pub dir: String,
    #[serde(default = "default_lock_wait")]
    pub lock_wait_secs: u64,
}

impl Default for RawState {
    fn default() -> Self {
        RawState {
            dir: default_state_dir(),
            lock_wait_secs: default_lock_wait(),
        }
    }
}

fn default_state_dir() -> String {
    "/var/lib/ops-warden".into()
}
fn default_lock_wait() -> u64 {
    5
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOpenbao {
    /// One address, or a list: a raft cluster's nodes (tried in order; any
    /// node that is down, sealed or without a leader is passed over).
    pub addr: OneOrMany,
    /// How long one call may spend looking for a node that answers: long
    /// enough for a raft election.
    #[serde(default = "default_failover")]
    pub failover_secs: u64,
    pub ca_bundle: Option<String>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// First retry delay; it doubles per attempt (a fast local cluster may
    /// want less, a distant one more).
    #[serde(default = "default_bao_backoff")]
    pub retry_backoff_ms: u64,
    pub auth: String,
    #[serde(default = "default_approle_mount")]
    pub approle_mount: String,
    pub role_id_file: Option<String>,
    pub secret_id_file: Option<String>,
    pub token_file: Option<String>,
    #[serde(default)]
    pub operator_key: RawKvField,
    #[serde(default = "default_runtime_field")]
    pub runtime_key: RawKvField,
}

fn default_timeout() -> u64 {
    10
}
fn default_failover() -> u64 {
    20
}

/// A string or a list of strings.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn list(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}
fn default_retries() -> u32 {
    3
}
fn default_bao_backoff() -> u64 {
    300
}
fn default_ih_backoff() -> u64 {
    400
}
fn default_approle_mount() -> String {
    "approle".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKvField {
    #[serde(default = "default_mount")]
    pub mount: String,
    pub path: String,
    pub field: String,
}

fn default_mount() -> String {
    "secret".into()
}

impl Default for RawKvField {
    fn default() -> Self {
        RawKvField {
            mount: default_mount(),
            path: "platform/operators/interhub/operator".into(),
            field: "IHUB_OPERATOR_KEY".into(),
        }
    }
}

fn default_runtime_field() -> RawKvField {
    RawKvField {
        mount: default_mount(),
        path: "platform/operators/ops-hub/runtime".into(),
        field: "OPS_HUB_KEY".into(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInterhub {
    pub base_url: String,
    pub ca_bundle: Option<String>,
    /// Trust the system's CA roots for Inter-Hub instead of a pinned bundle;
    /// must be said explicitly for a non-loopback https address.
    #[serde(default)]
    pub use_system_roots: bool,
    #[serde(default = "default_ih_timeout")]
    pub timeout_secs: u64,
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// First retry delay of an idempotent request; it doubles per attempt.
    /// A `Retry-After` from Inter-Hub takes precedence.
    #[serde(default = "default_ih_backoff")]
    pub retry_backoff_ms: u64,
    /// How old an active runtime key that is not the stored one must be
    /// before any run may revoke it as an orphan (a run stores a key it
    /// made within half of this, or revokes it itself).
    #[serde(default = "default_orphan_age")]
    pub orphan_key_age_secs: u64,
    #[serde(default = "default_hub")]
    pub hub: String,
    #[serde(default = "default_hub")]
    pub consumer: String,
    pub manifest: String,
    pub widgets: String,
}

fn default_ih_timeout() -> u64 {
    15
}
fn default_orphan_age() -> u64 {
    3600
}
fn default_hub() -> String {
    "ops-hub".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRunner {
    #[serde(default = "default_runner_kind")]
    pub kind: String,
    #[serde(default)]
    pub argv: Vec<String>,
    #[serde(default = "default_runner_timeout")]
    pub timeout_secs: u64,
    pub workdir: Option<String>,
}

impl Default for RawRunner {
    fn default() -> Self {
        RawRunner {
            kind: default_runner_kind(),
            argv: Vec::new(),
            timeout_secs: default_runner_timeout(),
            workdir: None,
        }
    }
}

fn default_runner_kind() -> String {
    "native".into()
}
fn default_runner_timeout() -> u64 {
    600
}
