//! `check-config`: the config and every file it names, as provisioning sees it.

mod effective;
mod login;
mod probes;
mod sshd_scan;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use effective::{show, Effective};
pub use probes::{online, sshd, Check};

use crate::config::{self, OpenbaoAuth, Problem, Problems};
use crate::error::exit;
use crate::os::dir::WorkDir;
use crate::os::files::{open_trusted, Rule};

/// Things that work but weaken the lane, each with its key.
pub fn warnings(cfg: &config::Config) -> Vec<Problem> {
    let mut w = Problems::default();
    if let Some(u) = &cfg.lane_user {
        if u.shell.file_name().is_some_and(|n| n == "bash") {
            w.add(
                "lane.user",
                format!(
                    "{}'s login shell is bash, which reads BASH_ENV and startup files before \
                     the ForceCommand runs; use /bin/sh",
                    u.name
                ),
            );
        }
    }
    w.0
}

/// Whether the lane user (or, without `lane.user`, the running user) can
/// write `dir`: what a run needs, checked as the lane sees it even when
/// check-config runs as root.
fn not_writable_by_lane(cfg: &config::Config, dir: &Path, w: &WorkDir) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(dir).ok()?;
    let (who, uid) = match &cfg.lane_user {
        Some(u) => (format!("the lane user {}", u.name), u.uid),
        None => (
            "the running user".to_string(),
            nix::unistd::geteuid().as_raw(),
        ),
    };
    let (owner, _) = w.owner();
    let writable = uid == 0 || (owner.as_raw() == uid && meta.mode() & 0o300 == 0o300);
    (!writable).then(|| {
        format!(
            "{} is not writable by {who} (owner uid {}, mode {:04o}): every run would fail",
            dir.display(),
            owner,
            meta.mode() & 0o7777
        )
    })
}

/// The config (when it loads) and every problem, each with its key.
pub fn check_config(path: &Path) -> (Option<config::Config>, Vec<Problem>) {
    match config::load_for_check(path) {
        Ok(cfg) => {
            let problems = check_loaded(&cfg);
            (Some(cfg), problems)
        }
        Err(p) => (None, p.0),
    }
}

/// Every problem of a config that loaded: its files, folders and sections.
fn check_loaded(cfg: &config::Config) -> Vec<Problem> {
    let mut p = Problems::default();
    // Every verb but whoami and help needs both services.
    for (key, present) in [
        ("openbao", cfg.openbao.is_some()),
        ("interhub", cfg.interhub.is_some()),
    ] {
        if !present {
            p.add(
                key,
                format!("the [{key}] section is missing: gate, bootstrap and verify need it"),
            );
        }
    }
    let mut file = |key: &str, f: &Path, rule: Rule| {
        if let Err(e) = open_trusted(f, rule.trusting(cfg.lane_uid())) {
            p.add(key, e);
        }
    };
    if let Some(o) = &cfg.openbao {
        match &o.auth {
            OpenbaoAuth::AppRole {
                role_id_file,
                secret_id_file,
                ..
            } => {
                file(
                    "openbao.role_id_file",
                    role_id_file,
                    Rule::SECRET.named("role_id file"),
                );
                file(
                    "openbao.secret_id_file",
                    secret_id_file,
                    Rule::SECRET.named("secret_id file"),
                );
            }
            OpenbaoAuth::TokenFile(t) => {
                file("openbao.token_file", t, Rule::SECRET.named("token file"))
            }
        }
        if let Some(ca) = &o.ca_bundle {
            file("openbao.ca_bundle", ca, Rule::CONFIG.named("CA bundle"));
        }
    }
    if let Some(i) = &cfg.interhub {
        file(
            "interhub.manifest",
            &i.manifest,
            Rule::CONFIG.named("manifest"),
        );
        file(
            "interhub.widgets",
            &i.widgets,
            Rule::CONFIG.named("widget seed"),
        );
        if let Some(ca) = &i.ca_bundle {
            file("interhub.ca_bundle", ca, Rule::CONFIG.named("CA bundle"));
        }
    }
    let audit_dir = cfg.audit_path.parent().unwrap_or(Path::new("/"));
    if let Some((name, gid)) = &cfg.audit_group {
        use std::os::unix::fs::MetadataExt;
        match std::fs::metadata(audit_dir) {
            Ok(m) if m.gid() != *gid || m.mode() & 0o2040 != 0o2040 => p.add(
                "audit.group",
                format!(
                    "{} should be group {name}, setgid and group-readable (mode 2750), \
                     so the files in it are the auditors' to read",
                    audit_dir.display()
                ),
            ),
            Ok(_) => {}
            Err(e) => p.add("audit.path", format!("{}: {e}", audit_dir.display())),
        }
    }
    for (key, dir) in [
        ("audit.path", audit_dir),
        ("state.dir", cfg.state_dir.as_path()),
    ] {
        match WorkDir::open(dir, cfg.lane_uid()) {
            Err(e) => p.add(key, e),
            Ok(w) => {
                if let Some(m) = not_writable_by_lane(cfg, dir, &w) {
                    p.add(key, m);
                }
            }
        }
    }
    p.0
}

/// The check-config output's schema id.
pub const SCHEMA: &str = "ops-warden/check-config/v1";

/// What `check-config` prints.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(
    test,
    schemars(
        transform = crate::text::schema::all_required,
        title = "ops-warden check-config output, version 1",
        description = "What `ops-warden check-config [--online] [--sshd [--sshd-config F]] [--show]` prints. Exit 0 when ok; 78 for a problem in the config, a file it names, a folder, or sshd's effective settings; 69 when only a service check (--online) failed."
    )
)]
#[serde(deny_unknown_fields)]
pub struct CheckReport {
    /// Always `ops-warden/check-config/v1`.
    #[cfg_attr(test, schemars(extend("const" = SCHEMA)))]
    pub schema: &'static str,
    pub config: String,
    pub ok: bool,
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
    pub checks: Vec<Check>,
    /// With `--show`: the effective config (paths and addresses, never a secret).
    pub effective: Option<Effective>,
}

/// What `check-config` checks beyond the config and its files.
pub struct CheckOpts {
    pub online: bool,
    pub sshd: bool,
    pub sshd_config: Option<PathBuf>,
    pub show: bool,
}

/// The whole check: the report and the exit code (78 for a config, file,
/// folder or sshd problem; 69 when only a service check failed). Warnings
/// (also `--sshd`'s: the lane user's home, PAM's user environment files)
/// never change the exit code.
pub fn report(cfg_path: &Path, opts: CheckOpts) -> (CheckReport, u8) {
    let (cfg, errors) = check_config(cfg_path);
    let mut checks = Vec::new();
    let mut effective = None;
    let mut weak = cfg.as_ref().map(warnings).unwrap_or_default();
    if let Some(cfg) = &cfg {
        if opts.sshd {
            let (c, w) = sshd(cfg, opts.sshd_config.as_deref(), cfg_path);
            checks.extend(c);
            weak.extend(w);
        }
        if opts.online {
            checks.extend(online(cfg));
        }
        if opts.show {
            effective = Some(show(cfg));
        }
    }
    let is_sshd = |c: &&Check| c.name.starts_with("sshd");
    let sshd_ok = checks.iter().filter(is_sshd).all(|c| c.ok);
    let online_ok = checks.iter().filter(|c| !is_sshd(c)).all(|c| c.ok);
    let exit = if !errors.is_empty() || !sshd_ok {
        exit::CONFIG
    } else if !online_ok {
        exit::UNAVAILABLE
    } else {
        exit::OK
    };
    let report = CheckReport {
        schema: SCHEMA,
        config: cfg_path.display().to_string(),
        ok: exit == exit::OK,
        errors,
        warnings: weak,
        checks,
        effective,
    };
    (report, exit)
}

#[cfg(test)]
mod schema_tests {
    #[test]
    fn the_check_config_schema_is_generated_from_its_types() {
        let schema = schemars::generate::SchemaSettings::draft2020_12()
            .into_generator()
            .into_root_schema_for::<super::CheckReport>();
        crate::evidence::schema::check_committed("check-config.v1.schema.json", schema);
    }
}
