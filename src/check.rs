//! `check-config`: the config and every file it names, as provisioning sees it.

use std::path::Path;

use crate::config::{self, OpenbaoAuth};
use crate::os::dir::WorkDir;
use crate::os::files::{open_trusted, Rule};

/// Things that work but weaken the lane, each with its key.
pub fn warnings(cfg: &config::Config) -> Vec<(String, String)> {
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

/// The config (when it loads) and every problem, each with its key.
pub fn check_config(path: &Path) -> (Option<config::Config>, Vec<(String, String)>) {
    match config::load_for_check(path) {
        Ok(cfg) => {
            let problems = check_loaded(&cfg);
            (Some(cfg), problems)
        }
        Err(p) => (None, p.0),
    }
}

/// Every problem of a config that loaded: its files, folders and sections.
fn check_loaded(cfg: &config::Config) -> Vec<(String, String)> {
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
                if let Some(m) = not_writable_by_lane(cfg, dir, &w) {
                    p.push((key.into(), m));
                }
            }
        }
    }
    p
}

/// One check against something outside the config (a service, sshd).
#[derive(Debug, serde::Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

fn check(name: &str, r: Result<String, String>) -> Check {
    match r {
        Ok(detail) => Check {
            name: name.into(),
            ok: true,
            detail,
        },
        Err(detail) => Check {
            name: name.into(),
            ok: false,
            detail,
        },
    }
}

/// `--online`: OpenBao (reachable, unsealed, the AppRole login, the
/// capability pre-flight) and Inter-Hub (health over the pinned TLS), read
/// only: the login token is revoked, nothing is written.
pub fn online(cfg: &config::Config) -> Vec<Check> {
    let mut out = Vec::new();
    if let Some(o) = &cfg.openbao {
        let mut session = crate::store::openbao::OpenBao::connect(o).map_err(|e| e.to_string());
        out.push(check(
            "openbao.login",
            session
                .as_ref()
                .map(|_| format!("{} reachable, unsealed, logged in", o.addr))
                .map_err(|e| e.clone()),
        ));
        if let Ok(bao) = &mut session {
            out.push(check(
                "openbao.preflight",
                bao.preflight(&bao.lane_needs(true, true))
                    .map(|_| "every path and capability the lane needs is granted".into())
                    .map_err(|e| e.to_string()),
            ));
            let _ = bao.close();
        }
    }
    if let Some(i) = &cfg.interhub {
        let r = crate::interhub::client::Client::new(i, None)
            .and_then(|c| c.health())
            .map_err(|e| e.to_string())
            .and_then(|h| {
                if h["status"] == "ok" {
                    Ok(format!(
                        "{} answers (API {})",
                        i.base_url,
                        crate::text::escape_untrusted(h["apiVersion"].as_str().unwrap_or("?"), 20)
                    ))
                } else {
                    Err(format!("{} health is not ok", i.base_url))
                }
            });
        out.push(check("interhub.health", r));
    }
    out
}

/// `--sshd`: the effective sshd settings for a login of the lane user
/// (`sshd -T -C user=…,host=…,addr=…`), against what the lane needs.
pub fn sshd(cfg: &config::Config, sshd_config: Option<&Path>, config_path: &Path) -> Vec<Check> {
    let Some(user) = &cfg.lane_user else {
        return vec![check(
            "sshd",
            Err("lane.user is not set: no login to check".into()),
        )];
    };
    let mut cmd = std::process::Command::new("/usr/sbin/sshd");
    cmd.arg("-T")
        .arg("-C")
        .arg(format!("user={},host=localhost,addr=127.0.0.1", user.name));
    if let Some(f) = sshd_config {
        cmd.arg("-f").arg(f);
    }
    let out = match cmd.env_clear().env("PATH", crate::env::SAFE_PATH).output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => {
            return vec![check(
                "sshd",
                Err(format!(
                    "sshd -T failed: {}",
                    crate::text::escape_untrusted(&String::from_utf8_lossy(&o.stderr), 300)
                )),
            )]
        }
        Err(e) => return vec![check("sshd", Err(format!("cannot run sshd -T: {e}")))],
    };
    let get = |k: &str| -> Vec<&str> {
        out.lines()
            .filter_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix(' ')))
            .collect()
    };
    let want = |name: &str, key: &str, ok: &dyn Fn(&[&str]) -> bool, need: &str| {
        let v = get(key);
        check(
            name,
            if ok(&v) {
                Ok(v.join(" "))
            } else {
                Err(format!("{key} is {:?}; the lane needs {need}", v.join(" ")))
            },
        )
    };
    let cfg_arg = config_path.display().to_string();
    vec![
        want(
            "sshd.forcecommand",
            "forcecommand",
            &|v| {
                v.len() == 1
                    && v[0].starts_with('/')
                    && v[0].ends_with(" force-command")
                    && v[0].contains(&format!("--config {cfg_arg} "))
            },
            &format!("an absolute ops-warden path with --config {cfg_arg} force-command"),
        ),
        want(
            "sshd.exposeauthinfo",
            "exposeauthinfo",
            &|v| v == ["yes"],
            "yes",
        ),
        want(
            "sshd.forwarding",
            "disableforwarding",
            &|v| v == ["yes"],
            "yes",
        ),
        want("sshd.permittty", "permittty", &|v| v == ["no"], "no"),
        want("sshd.permituserrc", "permituserrc", &|v| v == ["no"], "no"),
        want(
            "sshd.permituserenvironment",
            "permituserenvironment",
            &|v| v == ["no"],
            "no",
        ),
        want(
            "sshd.acceptenv",
            "acceptenv",
            &|v| v == ["OPS_WARDEN_ACCEPTS_NO_ENVIRONMENT"],
            "only the snippet's dummy name (no client variable)",
        ),
        want(
            "sshd.authorizedkeysfile",
            "authorizedkeysfile",
            &|v| v == ["none"],
            "none (certificates only)",
        ),
    ]
}

/// `--show`: the effective config (no secrets: only paths and addresses).
pub fn show(cfg: &config::Config) -> serde_json::Value {
    use serde_json::json;
    json!({
        "lane": {
            "principal": cfg.lane.principal,
            "user": cfg.lane_user.as_ref().map(|u| &u.name),
            "require_sole_principal": cfg.lane.require_sole_principal,
            "max_ttl_secs": cfg.lane.max_ttl_secs,
            "clock_skew_secs": cfg.lane.clock_skew_secs,
            "allowed_critical_options": cfg.lane.allowed_critical_options,
            "require_source_address": cfg.lane.require_source_address,
            "allowed_extensions": cfg.lane.allowed_extensions,
            "pinned_cas": cfg.lane.pinned.len(),
        },
        "audit": {
            "path": cfg.audit_path,
            "syslog": cfg.audit_syslog.as_ref().map(|s| json!({"socket": s.socket, "facility": s.facility})),
            "group": cfg.audit_group.as_ref().map(|g| &g.0),
        },
        "state": {"dir": cfg.state_dir, "lock_wait_secs": cfg.lock_wait.as_secs()},
        "openbao": cfg.openbao.as_ref().map(|o| json!({
            "addr": o.addr,
            "ca_bundle": o.ca_bundle,
            "timeout_secs": o.timeout.as_secs(),
            "retries": o.retries,
            "auth": match &o.auth {
                config::OpenbaoAuth::AppRole { .. } => "approle",
                config::OpenbaoAuth::TokenFile(_) => "token-file",
            },
            "operator_key": o.operator_key.display(),
            "runtime_key": o.runtime_key.display(),
        })),
        "interhub": cfg.interhub.as_ref().map(|i| json!({
            "base_url": i.base_url,
            "ca_bundle": i.ca_bundle,
            "hub": i.hub,
            "consumer": i.consumer,
            "manifest": i.manifest,
            "widgets": i.widgets,
        })),
        "runner": match &cfg.runner {
            config::Runner::Native => json!({"kind": "native"}),
            config::Runner::Command { argv, timeout, workdir } => json!({
                "kind": "command", "argv": argv, "timeout_secs": timeout.as_secs(), "workdir": workdir,
            }),
        },
    })
}
