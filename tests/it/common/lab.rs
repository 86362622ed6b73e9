//! A lane host without sshd: real OpenBao, the simulator, a real certificate,
//! and ops-warden invoked with the environment sshd gives a ForceCommand.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::bao::Bao;
use super::sim::Sim;
use super::{bin, repo, Fixture};

pub const OPERATOR_KEY: &str = "opk-live-8sJ2kQ9xW4vN7mR1tY5uI3oP6aS0dF";
pub const OPERATOR_PATH: &str = "secret/platform/operators/interhub/operator";
pub const RUNTIME_PATH: &str = "secret/platform/operators/ops-hub/runtime";

pub struct Lab {
    pub fx: Fixture,
    pub bao: Bao,
    pub sim: Sim,
    pub config: PathBuf,
    pub auth_info: PathBuf,
    pub audit: PathBuf,
}

/// Knobs for the config a lab writes.
#[derive(Default, Clone)]
pub struct LabOptions {
    /// `[runner]` table body; native when empty.
    pub runner: String,
    /// A separate state folder name (a second "host" with its own lock).
    pub state: Option<String>,
    /// OpenBao's address (a fault proxy in front of the lab's server).
    pub openbao_addr: Option<String>,
    /// Per-request timeout and retries of both services (default 10 s; 2 and 3).
    pub timeout_secs: Option<u64>,
    pub retries: Option<u32>,
    /// Another widget seed file.
    pub widgets: Option<PathBuf>,
    /// `openbao.addr` as a list (a cluster's nodes), instead of `openbao_addr`.
    pub openbao_addrs: Vec<String>,
    /// `openbao.failover_secs` (1 unless said: one node, nothing to wait for).
    pub failover_secs: Option<u64>,
    /// `interhub.orphan_key_age_secs` (the product's default unless said).
    pub orphan_key_age_secs: Option<u64>,
}

impl Lab {
    pub fn start(name: &str) -> Lab {
        let fx = Fixture::new(name);
        let bao = Bao::start(&fx);
        Lab::on(fx, bao)
    }

    /// A lab on this OpenBao (a dev server, or a raft cluster's admin view).
    pub fn on(fx: Fixture, bao: Bao) -> Lab {
        bao.setup_lane(&fx.path("approle"));
        // As on a real host: the AppRole files belong to the lane user, and
        // root (these tests, attended use) trusts them through `lane.user`.
        super::sshd::ensure_lane_user();
        for f in ["approle", "approle/role_id", "approle/secret_id"] {
            fx.chown(&fx.path(f), super::sshd::LANE_USER);
        }
        bao.kv_put_stdin(OPERATOR_PATH, "IHUB_OPERATOR_KEY", OPERATOR_KEY);
        let sim = Sim::start(&fx, OPERATOR_KEY);
        fx.keygen(&["-t", "ed25519", "-f", "lane-ca"]);
        fx.keygen(&["-t", "ed25519", "-f", "user"]);
        let cert = fx.sign(
            "lane-ca",
            "user",
            &super::cert_opts(super::KEY_ID, Some(super::PRINCIPAL), "-1m:+10m", &[]),
        );
        let cert_line = std::fs::read_to_string(&cert).unwrap();
        let auth_info = fx.write(
            "sshauth",
            &format!(
                "publickey {}\n",
                cert_line
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            0o600,
        );
        // The lane's folders are the lane user's, as on a host.
        let log = fx.mkdir("log", 0o750);
        fx.chown(&log, super::sshd::LANE_USER);
        let audit = log.join("audit.jsonl");
        // The state folder is the lane user's, as on a host: the helper runs
        // as its owner, never as root.
        let state = fx.mkdir("state", 0o700);
        fx.chown(&state, super::sshd::LANE_USER);
        let mut lab = Lab {
            fx,
            bao,
            sim,
            config: PathBuf::new(),
            auth_info,
            audit,
        };
        lab.config = lab.write_config("ops-warden.toml", &LabOptions::default());
        lab
    }

    pub fn write_config(&self, name: &str, o: &LabOptions) -> PathBuf {
        let fx = &self.fx;
        let state = match &o.state {
            Some(s) => {
                let d = fx.mkdir(s, 0o700);
                fx.chown(&d, super::sshd::LANE_USER);
                d
            }
            None => fx.path("state"),
        };
        let runner = if o.runner.is_empty() {
            "kind = \"native\"".to_string()
        } else {
            o.runner.clone()
        };
        fx.write(
            name,
            &format!(
                r#"[lane]
principal = "agt-interhub-bootstrap"
user = "{lane_user}"
require_sole_principal = true
key_id_pattern = "agt-*-interhub-bootstrap*"
ca_keys_file = "{ca}"
max_ttl_secs = 900
# The lab reuses one certificate for every run (gate_sshd tests single use).
single_use_verbs = []
[audit]
path = "{audit}"
[state]
dir = "{state}"
lock_wait_secs = 1
[openbao]
addr = {bao}
timeout_secs = {timeout}
retries = {bao_retries}
# The suite does not wait out production backoff (the retries still happen),
# nor an election (one node: nothing to fail over to).
retry_backoff_ms = 1
failover_secs = {failover}
auth = "approle"
role_id_file = "{approle}/role_id"
secret_id_file = "{approle}/secret_id"
[interhub]
base_url = "{sim}"
timeout_secs = {timeout}
retries = {ih_retries}
retry_backoff_ms = 1
{orphan_age}manifest = "{repo}/seeds/ops-hub-manifest.draft.json"
widgets = "{widgets}"
[runner]
{runner}
"#,
                ca = fx.path("lane-ca.pub").display(),
                audit = self.audit.display(),
                state = state.display(),
                bao = if o.openbao_addrs.is_empty() {
                    format!("{:?}", o.openbao_addr.as_deref().unwrap_or(&self.bao.addr))
                } else {
                    format!("{:?}", o.openbao_addrs)
                },
                failover = o.failover_secs.unwrap_or(1),
                orphan_age = o
                    .orphan_key_age_secs
                    .map_or(String::new(), |a| format!("orphan_key_age_secs = {a}\n")),
                timeout = o.timeout_secs.unwrap_or(10),
                bao_retries = o.retries.unwrap_or(2),
                ih_retries = o.retries.unwrap_or(3),
                approle = fx.path("approle").display(),
                sim = self.sim.base,
                repo = repo().display(),
                widgets = o
                    .widgets
                    .clone()
                    .unwrap_or_else(|| repo().join("seeds/ops-hub-widgets.seed.json"))
                    .display(),
                lane_user = super::sshd::LANE_USER,
            ),
            0o644,
        )
    }

    /// A fault proxy in front of this lab's OpenBao, and a config (`name`,
    /// with `o`) that reaches OpenBao through it.
    pub fn behind_proxy(&self, name: &str, o: LabOptions) -> (super::proxy::Proxy, PathBuf) {
        let proxy = super::proxy::Proxy::start(&self.fx, &self.bao.addr);
        let config = self.write_config(
            name,
            &LabOptions {
                openbao_addr: Some(proxy.addr.clone()),
                ..o
            },
        );
        (proxy, config)
    }

    /// ops-warden as sshd runs it: `force-command`, with the client's command.
    pub fn force_command(&self, config: &PathBuf, command: &str) -> Command {
        let mut c = Command::new(bin());
        c.arg("--config")
            .arg(config)
            .arg("force-command")
            .env_clear()
            .env("SSH_ORIGINAL_COMMAND", command)
            .env("SSH_USER_AUTH", &self.auth_info)
            .env("SSH_CONNECTION", "127.0.0.1 40000 127.0.0.1 22")
            .stdin(Stdio::null());
        c
    }

    /// A fresh Inter-Hub, an empty runtime key slot, and a host that has
    /// not posted the readiness event: the next run is a first run.
    pub fn start_over(&self) {
        self.sim.reset();
        let _ = self.bao.bao(&["kv", "metadata", "delete", RUNTIME_PATH]);
        forget_posted_events(&self.fx.path("state"));
    }

    pub fn run(&self, command: &str) -> Output {
        self.force_command(&self.config, command).output().unwrap()
    }

    /// The stored runtime key and client id (value never printed by tests).
    pub fn stored_key(&self) -> Option<(String, String)> {
        stored_key(&self.bao)
    }

    /// Every secret that ever existed in this lab, for output scans: the
    /// operator key, the AppRole's role and secret ids, every token OpenBao
    /// issued, every runtime key (revoked ones too) and access token the
    /// simulator issued.
    pub fn secrets(&self) -> Vec<String> {
        let mut v = vec![OPERATOR_KEY.to_string()];
        for f in ["approle/secret_id", "approle/role_id"] {
            v.push(
                std::fs::read_to_string(self.fx.path(f))
                    .unwrap()
                    .trim()
                    .to_string(),
            );
        }
        v.extend(self.bao.issued_secrets());
        v.extend(self.sim.issued_secrets());
        v
    }

    /// Exactly one live key at Inter-Hub, and it is the one in OpenBao.
    pub fn assert_one_live_stored_key(&self) {
        assert_one_live_stored_key(&self.bao, &self.sim);
    }
}

/// Removes a state folder's readiness-event markers (the host has not
/// posted the event).
pub fn forget_posted_events(state: &Path) {
    for e in std::fs::read_dir(state).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("event-") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
}

/// The runtime key and client id stored in OpenBao, read as root through the
/// CLI (tests never print it).
pub fn stored_key(bao: &Bao) -> Option<(String, String)> {
    let out = bao.bao(&["kv", "get", "-format=json", RUNTIME_PATH]);
    if !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &v["data"]["data"];
    Some((
        d["OPS_HUB_KEY"].as_str()?.to_string(),
        d["OPS_HUB_CLIENT_ID"].as_str().unwrap_or("").to_string(),
    ))
}

/// Exactly one live key at Inter-Hub; it is the one in OpenBao; it mints a token.
pub fn assert_one_live_stored_key(bao: &Bao, sim: &Sim) {
    let live = sim.active_keys();
    assert_eq!(live.len(), 1, "exactly one live key: {live:?}");
    let (key, client) = stored_key(bao).expect("a key is stored in OpenBao");
    assert!(
        key.starts_with(live[0]["prefix"].as_str().unwrap()),
        "the live key is the stored key"
    );
    assert_eq!(
        sim.token_status(&client, &key),
        200,
        "the stored key mints a token"
    );
}
