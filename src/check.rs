//! `check-config`: the config and every file it names, as provisioning sees it.

use std::path::Path;

use crate::config::{self, OpenbaoAuth};
use crate::os::dir::WorkDir;
use crate::os::files::{open_trusted, Rule};

/// Things that work but weaken the lane, each with its key.
pub fn warnings(path: &Path) -> Vec<(String, String)> {
    let Ok(cfg) = config::load(path) else {
        return Vec::new();
    };
    let mut w = Vec::new();
    if let Some(u) = &cfg.lane_user {
        if u.shell.file_name().is_some_and(|n| n == "bash") {
            w.push((
                "lane.user".into(),
                format!(
                    "{}'s login shell is bash, which reads BASH_ENV and startup files before \
                     the ForceCommand runs; use /bin/sh",
                    u.name
                ),
            ));
        }
    }
    w
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

/// Every problem, each with its key.
pub fn check_config(path: &Path) -> Result<(), Vec<(String, String)>> {
    let cfg = config::load_for_check(path).map_err(|p| p.0)?;
    let mut p: Vec<(String, String)> = Vec::new();
    // Every verb but whoami and help needs both services.
    for (key, present) in [
        ("openbao", cfg.openbao.is_some()),
        ("interhub", cfg.interhub.is_some()),
    ] {
        if !present {
            p.push((
                key.into(),
                format!("the [{key}] section is missing: gate, bootstrap and verify need it"),
            ));
        }
    }
    let mut file = |key: &str, f: &Path, rule: Rule| {
        if let Err(e) = open_trusted(f, rule) {
            p.push((key.into(), e));
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
            Ok(m) if m.gid() != *gid || m.mode() & 0o2040 != 0o2040 => p.push((
                "audit.group".into(),
                format!(
                    "{} should be group {name}, setgid and group-readable (mode 2750), \
                     so the files in it are the auditors' to read",
                    audit_dir.display()
                ),
            )),
            Ok(_) => {}
            Err(e) => p.push(("audit.path".into(), format!("{}: {e}", audit_dir.display()))),
        }
    }
    for (key, dir) in [
        ("audit.path", audit_dir),
        ("state.dir", cfg.state_dir.as_path()),
    ] {
        match WorkDir::open(dir) {
            Err(e) => p.push((key.into(), e)),
            Ok(w) => {
                if let Some(m) = not_writable_by_lane(&cfg, dir, &w) {
                    p.push((key.into(), m));
                }
            }
        }
    }
    if p.is_empty() {
        Ok(())
    } else {
        Err(p)
    }
}
