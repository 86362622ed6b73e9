//! `--show`: the effective config, typed (paths and addresses, never a secret).

use std::path::PathBuf;

use serde::Serialize;

use crate::config::{self, OpenbaoAuth};

/// The effective config (no secrets: only paths and addresses).
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(test, schemars(transform = crate::text::schema::all_required))]
#[serde(deny_unknown_fields)]
pub struct Effective {
    pub lane: EffectiveLane,
    pub audit: EffectiveAudit,
    pub state: EffectiveState,
    pub openbao: Option<EffectiveOpenbao>,
    pub interhub: Option<EffectiveInterhub>,
    pub runner: EffectiveRunner,
}

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(test, schemars(transform = crate::text::schema::all_required))]
#[serde(deny_unknown_fields)]
pub struct EffectiveLane {
    pub principal: String,
    pub user: Option<String>,
    pub require_sole_principal: bool,
    pub max_ttl_secs: u64,
    pub clock_skew_secs: u64,
    pub allowed_critical_options: Vec<String>,
    pub require_source_address: bool,
    pub allowed_extensions: Vec<String>,
    pub single_use_verbs: Vec<String>,
    pub pinned_cas: usize,
}

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(test, schemars(transform = crate::text::schema::all_required))]
#[serde(deny_unknown_fields)]
pub struct EffectiveAudit {
    pub path: PathBuf,
    pub syslog: Option<EffectiveSyslog>,
    pub group: Option<String>,
}

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EffectiveSyslog {
    pub socket: PathBuf,
    pub facility: u8,
}

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EffectiveState {
    pub dir: PathBuf,
    pub lock_wait_secs: u64,
}

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(test, schemars(transform = crate::text::schema::all_required))]
#[serde(deny_unknown_fields)]
pub struct EffectiveOpenbao {
    /// The preferred address (the first of `addrs`).
    pub addr: String,
    /// Every node (or load balancer) address, in order.
    pub addrs: Vec<String>,
    pub failover_secs: u64,
    pub ca_bundle: Option<PathBuf>,
    pub timeout_secs: u64,
    pub retries: u32,
    pub retry_backoff_ms: u64,
    /// `approle` or `token-file`.
    pub auth: &'static str,
    pub operator_key: String,
    pub runtime_key: String,
}

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(test, schemars(transform = crate::text::schema::all_required))]
#[serde(deny_unknown_fields)]
pub struct EffectiveInterhub {
    pub base_url: String,
    pub ca_bundle: Option<PathBuf>,
    pub timeout_secs: u64,
    pub retries: u32,
    pub retry_backoff_ms: u64,
    pub hub: String,
    pub consumer: String,
    pub manifest: PathBuf,
    pub widgets: PathBuf,
}

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum EffectiveRunner {
    Native,
    Command {
        argv: Vec<String>,
        timeout_secs: u64,
        workdir: Option<PathBuf>,
    },
}

pub fn show(cfg: &config::Config) -> Effective {
    Effective {
        lane: EffectiveLane {
            principal: cfg.lane.principal.clone(),
            user: cfg.lane_user.as_ref().map(|u| u.name.clone()),
            require_sole_principal: cfg.lane.require_sole_principal,
            max_ttl_secs: cfg.lane.max_ttl_secs,
            clock_skew_secs: cfg.lane.clock_skew_secs,
            allowed_critical_options: cfg.lane.allowed_critical_options.clone(),
            require_source_address: cfg.lane.require_source_address,
            allowed_extensions: cfg.lane.allowed_extensions.clone(),
            single_use_verbs: cfg.lane.single_use_verbs.clone(),
            pinned_cas: cfg.lane.pinned.len(),
        },
        audit: EffectiveAudit {
            path: cfg.audit_path.clone(),
            syslog: cfg.audit_syslog.as_ref().map(|s| EffectiveSyslog {
                socket: s.socket.clone(),
                facility: s.facility,
            }),
            group: cfg.audit_group.as_ref().map(|g| g.0.clone()),
        },
        state: EffectiveState {
            dir: cfg.state_dir.clone(),
            lock_wait_secs: cfg.lock_wait.as_secs(),
        },
        openbao: cfg.openbao.as_ref().map(|o| EffectiveOpenbao {
            addr: o.addr().to_string(),
            addrs: o.addrs.clone(),
            failover_secs: o.failover.as_secs(),
            ca_bundle: o.ca_bundle.clone(),
            timeout_secs: o.timeout.as_secs(),
            retries: o.retries,
            retry_backoff_ms: o.retry_backoff.as_millis() as u64,
            auth: match &o.auth {
                OpenbaoAuth::AppRole { .. } => "approle",
                OpenbaoAuth::TokenFile(_) => "token-file",
            },
            operator_key: o.operator_key.display(),
            runtime_key: o.runtime_key.display(),
        }),
        interhub: cfg.interhub.as_ref().map(|i| EffectiveInterhub {
            base_url: i.base_url.clone(),
            ca_bundle: i.ca_bundle.clone(),
            timeout_secs: i.timeout.as_secs(),
            retries: i.retries,
            retry_backoff_ms: i.retry_backoff.as_millis() as u64,
            hub: i.hub.clone(),
            consumer: i.consumer.clone(),
            manifest: i.manifest.clone(),
            widgets: i.widgets.clone(),
        }),
        runner: match &cfg.runner {
            config::Runner::Native => EffectiveRunner::Native,
            config::Runner::Command {
                argv,
                timeout,
                workdir,
            } => EffectiveRunner::Command {
                argv: argv.clone(),
                timeout_secs: timeout.as_secs(),
                workdir: workdir.clone(),
            },
        },
    }
}
