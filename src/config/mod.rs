//! Configuration in two phases: [`raw`] as written, then [`Config`] as
//! checked. Validation reports every error at once, each with its key.

mod overrides;
pub mod raw;
mod sections;

pub use overrides::{override_openbao, syslog_for_failure, AddrSource};

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::audit::anchor::Syslog;
use crate::error::Error;
use crate::os::files::{read_trusted, Rule};
use crate::policy::cert::CertPolicy;

pub const DEFAULT_PATH: &str = "/etc/ops-warden/ops-warden.toml";

/// A KV v2 location: mount, path and field, each checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvField {
    pub mount: String,
    pub path: String,
    pub field: String,
}

impl KvField {
    /// `mount/path#field`, for messages and evidence.
    pub fn display(&self) -> String {
        format!("{}/{}#{}", self.mount, self.path, self.field)
    }
    /// The KV v2 API path for data (`mount/data/path`).
    pub fn data_path(&self) -> String {
        format!("{}/data/{}", self.mount, self.path)
    }
    pub fn metadata_path(&self) -> String {
        format!("{}/metadata/{}", self.mount, self.path)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenbaoAuth {
    AppRole {
        mount: String,
        role_id_file: PathBuf,
        secret_id_file: PathBuf,
    },
    TokenFile(PathBuf),
}

#[derive(Debug, Clone)]
pub struct OpenbaoConfig {
    /// The cluster's nodes (or one load balancer), in order of preference.
    pub addrs: Vec<String>,
    /// How long one call keeps looking for a node that answers (connection
    /// refused, sealed, standby without a leader) before it fails.
    pub failover: Duration,
    pub ca_bundle: Option<PathBuf>,
    pub timeout: Duration,
    pub retries: u32,
    pub retry_backoff: Duration,
    pub auth: OpenbaoAuth,
    /// The lane user: its AppRole/token files and CA bundle are trusted.
    pub lane_uid: Option<u32>,
    pub operator_key: KvField,
    pub runtime_key: KvField,
}

#[derive(Debug, Clone)]
pub struct InterhubConfig {
    pub base_url: String,
    pub ca_bundle: Option<PathBuf>,
    pub timeout: Duration,
    pub retries: u32,
    pub retry_backoff: Duration,
    /// Past this age an unstored active runtime key is an orphan.
    pub orphan_key_age: Duration,
    /// The lane user: its seed files and CA bundle are trusted.
    pub lane_uid: Option<u32>,
    pub hub: String,
    pub consumer: String,
    pub manifest: PathBuf,
    pub widgets: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    Native,
    Command {
        argv: Vec<String>,
        timeout: Duration,
        workdir: Option<PathBuf>,
    },
}

/// The lane's login account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub shell: PathBuf,
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `lane.user`, looked up: the account sshd runs ops-warden as.
    pub lane_user: Option<LaneUser>,
    pub lane: CertPolicy,
    pub audit_path: PathBuf,
    /// Where audit records are anchored (`None`: `audit.syslog = false`).
    pub audit_syslog: Option<Syslog>,
    /// `audit.group`, looked up: who may read the trail.
    pub audit_group: Option<(String, u32)>,
    pub state_dir: PathBuf,
    pub lock_wait: Duration,
    pub openbao: Option<OpenbaoConfig>,
    pub interhub: Option<InterhubConfig>,
    pub runner: Runner,
}

/// One problem, with the key it belongs to (`section.key`, `(file)` for the
/// config file itself, `(toml)` for a syntax error).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

/// Every problem found, each kept apart all the way to the output.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub(crate) fn add(&mut self, key: &str, msg: impl Into<String>) {
        self.0.push(Problem {
            key: key.to_string(),
            message: msg.into(),
        });
    }
    pub fn to_error(&self) -> Error {
        Error::Config(
            self.0
                .iter()
                .map(|p| format!("{}: {}", p.key, p.message))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

/// Loads the config file (trusted only after its owner/mode check) and validates it.
pub fn load(path: &Path) -> Result<Config, Error> {
    let bytes = read_trusted(path, Rule::CONFIG).map_err(Error::FileUntrusted)?;
    let text = String::from_utf8(bytes).map_err(|_| Error::Config("config is not UTF-8".into()))?;
    from_str(&text).map_err(|p| p.to_error())
}

/// Loads the config for `check-config`: every problem kept apart, with its
/// key (`(file)` for the file's own trust check, `(toml)` for syntax, with
/// line and column).
pub fn load_for_check(path: &Path) -> Result<Config, Problems> {
    let mut p = Problems::default();
    let bytes = match read_trusted(path, Rule::CONFIG) {
        Ok(b) => b,
        Err(e) => {
            p.add("(file)", e);
            return Err(p);
        }
    };
    let Ok(text) = String::from_utf8(bytes) else {
        p.add("(file)", "is not UTF-8");
        return Err(p);
    };
    from_str(&text)
}

/// `line L, column C: message` for a TOML error.
fn toml_problem(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {}", e.message())
        }
        None => e.message().to_string(),
    }
}

/// The two service sections a lane verb needs, both present.
#[derive(Debug, Clone, Copy)]
pub struct Services<'a> {
    pub openbao: &'a OpenbaoConfig,
    pub interhub: &'a InterhubConfig,
}

impl Config {
    /// The lane user's uid: files and folders it owns are trusted like
    /// root's (the host's AppRole files, log, lock and state are its).
    pub fn lane_uid(&self) -> Option<u32> {
        self.lane_user.as_ref().map(|u| u.uid)
    }

    /// `[openbao]` and `[interhub]`, or `config-invalid` naming them.
    pub fn services(&self) -> Result<Services<'_>, Error> {
        match (&self.openbao, &self.interhub) {
            (Some(openbao), Some(interhub)) => Ok(Services { openbao, interhub }),
            _ => Err(Error::Config(
                "this verb needs the [openbao] and [interhub] sections".into(),
            )),
        }
    }
}

/// Checks each section (every problem kept, with its key), then assembles
/// the config only when none was found.
fn validate(raw: raw::RawConfig) -> Result<Config, Problems> {
    let mut p = Problems::default();
    let (lane_user, lane) = sections::lane(&mut p, raw.lane);
    let (audit_path, audit_syslog, audit_group) = sections::audit(&mut p, &raw.audit);
    let (state_dir, lock_wait) = sections::state(&mut p, &raw.state);
    let lane_uid = lane_user.as_ref().map(|u| u.uid);
    let openbao = raw.openbao.map(|o| sections::openbao(&mut p, o, lane_uid));
    let interhub = raw
        .interhub
        .map(|i| sections::interhub(&mut p, i, lane_uid));
    let runner = sections::runner(&mut p, raw.runner);
    match lane {
        Some(lane) if p.0.is_empty() => Ok(Config {
            lane_user,
            lane,
            audit_path,
            audit_syslog,
            audit_group,
            state_dir,
            lock_wait,
            openbao,
            interhub,
            runner,
        }),
        _ => Err(p),
    }
}

/// used by tests and `check-config`.
pub fn from_str(text: &str) -> Result<Config, Problems> {
    let raw: raw::RawConfig = toml::from_str(text).map_err(|e| {
        let mut p = Problems::default();
        p.add("(toml)", toml_problem(text, &e));
        p
    })?;
    validate(raw)
}

#[cfg(test)]
mod tests;

impl OpenbaoConfig {
    /// The preferred (first) address.
    pub fn addr(&self) -> &str {
        self.addrs.first().map_or("", String::as_str)
    }
}
