//! Checks against what lies outside the config: the services (`--online`)
//! and sshd's effective settings (`--sshd`).

use std::path::Path;

use super::sshd_scan::{scan, Login, DUMMY_NAME};
use crate::config::{self, Problem};

/// One check against something outside the config (a service, sshd).
#[derive(Debug, serde::Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// `openbao…`, `interhub…` or `sshd.<setting>`.
    #[cfg_attr(
        test,
        schemars(regex(pattern = r"^(openbao|interhub|sshd)(\.[a-z]+)?$"))
    )]
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

/// What ending the session did to its token: a login token left live (until
/// its TTL) is reported, not dropped. A token file's token is the agent's,
/// never revoked by ops-warden.
fn revoked(r: Result<bool, crate::error::Error>) -> Result<String, String> {
    match r {
        Ok(true) => Ok("the login token was revoked".into()),
        Ok(false) => Ok("the token file's token is kept (not ops-warden's to revoke)".into()),
        Err(e) => Err(format!(
            "the login token was not revoked and stays valid until its TTL ends: {e}"
        )),
    }
}

/// `--online`: OpenBao (reachable, unsealed, the AppRole login, the
/// capability pre-flight, the token's revocation) and Inter-Hub (health over
/// the pinned TLS), read only: the login token is revoked, nothing is written.
pub fn online(cfg: &config::Config) -> Vec<Check> {
    let mut out = Vec::new();
    if let Some(o) = &cfg.openbao {
        let mut session = crate::store::openbao::OpenBao::connect(o).map_err(|e| e.to_string());
        out.push(check(
            "openbao.login",
            session
                .as_ref()
                .map(|b| format!("{} reachable, unsealed, logged in", b.addr()))
                .map_err(|e| e.clone()),
        ));
        if let Ok(bao) = &mut session {
            out.push(check(
                "openbao.preflight",
                bao.preflight(&bao.lane_needs(true, true))
                    .map(|_| "every path and capability the lane needs is granted".into())
                    .map_err(|e| e.to_string()),
            ));
            out.push(check("openbao.revoke", revoked(bao.close())));
        }
    }
    if let Some(i) = &cfg.interhub {
        let r = crate::interhub::client::Client::new(i, None)
            .and_then(|c| c.health())
            .map_err(|e| e.to_string())
            .and_then(|h| {
                if h.status == "ok" {
                    Ok(format!(
                        "{} answers (API {})",
                        i.base_url,
                        crate::text::escape_untrusted(&h.api_version, 20)
                    ))
                } else {
                    Err(format!("{} health is not ok", i.base_url))
                }
            });
        out.push(check("interhub.health", r));
    }
    out
}

/// The sshd configuration `sshd -T` reads when `--sshd-config` is not given.
const SSHD_CONFIG: &str = "/etc/ssh/sshd_config";

/// `--sshd`: the effective sshd settings for a login of the lane user
/// (`sshd -T -C user=…,host=…,addr=…`), against what the lane needs; every
/// Match block that can apply to the lane user read for `AcceptEnv` (one
/// connection context cannot show a block for another address); and, as
/// warnings, what a login reads before ops-warden starts (the lane user's
/// home, PAM's user environment files).
pub fn sshd(
    cfg: &config::Config,
    sshd_config: Option<&Path>,
    config_path: &Path,
) -> (Vec<Check>, Vec<Problem>) {
    let Some(user) = &cfg.lane_user else {
        return (
            vec![check(
                "sshd",
                Err("lane.user is not set: no login to check".into()),
            )],
            Vec::new(),
        );
    };
    let effective = effective_settings(&user.name, sshd_config);
    // What PAM reads counts unless sshd says it does not use PAM.
    let uses_pam = !matches!(&effective, Ok(out) if settings(out, "usepam") == ["no"]);
    let warnings = super::login::warnings(user, uses_pam);
    let out = match effective {
        Ok(out) => out,
        Err(e) => return (vec![check("sshd", Err(e))], warnings),
    };
    let get = |k: &str| settings(&out, k);
    let want = |name: &str, key: &str, ok: &dyn Fn(&[&str]) -> bool, need: &str| {
        check(name, wanted(key, &get(key), ok, need))
    };
    let cfg_arg = config_path.display().to_string();
    let checks = vec![
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
        check(
            "sshd.acceptenv",
            accept_env(user, &get("acceptenv"), sshd_config),
        ),
        want(
            "sshd.authorizedkeysfile",
            "authorizedkeysfile",
            &|v| v == ["none"],
            "none (certificates only)",
        ),
    ];
    (checks, warnings)
}

/// `sshd -T` for a login of `user` from 127.0.0.1: its output, or why not.
fn effective_settings(user: &str, sshd_config: Option<&Path>) -> Result<String, String> {
    let mut cmd = std::process::Command::new("/usr/sbin/sshd");
    cmd.arg("-T")
        .arg("-C")
        .arg(format!("user={user},host=localhost,addr=127.0.0.1"));
    if let Some(f) = sshd_config {
        cmd.arg("-f").arg(f);
    }
    match cmd.env_clear().env("PATH", crate::env::SAFE_PATH).output() {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).into_owned()),
        Ok(o) => Err(format!(
            "sshd -T failed: {}",
            crate::text::escape_untrusted(&String::from_utf8_lossy(&o.stderr), 300)
        )),
        Err(e) => Err(format!("cannot run sshd -T: {e}")),
    }
}

/// The values `sshd -T` printed for `key` (one per line it printed).
fn settings<'a>(out: &'a str, key: &str) -> Vec<&'a str> {
    out.lines()
        .filter_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(' ')))
        .collect()
}

fn wanted(
    key: &str,
    v: &[&str],
    ok: &dyn Fn(&[&str]) -> bool,
    need: &str,
) -> Result<String, String> {
    if ok(v) {
        Ok(v.join(" "))
    } else {
        Err(format!("{key} is {:?}; the lane needs {need}", v.join(" ")))
    }
}

/// AcceptEnv, both ways: the effective list for the login `sshd -T` saw, and
/// every `AcceptEnv` line of a Match block that can apply to the lane user
/// on any connection (its file and line named), since the lines of every
/// block that matches add up.
fn accept_env(
    user: &config::LaneUser,
    effective: &[&str],
    sshd_config: Option<&Path>,
) -> Result<String, String> {
    let mut bad = Vec::new();
    if let Err(e) = wanted(
        "acceptenv",
        effective,
        &|v| v == [DUMMY_NAME],
        "only the snippet's dummy name (no client variable)",
    ) {
        bad.push(e);
    }
    let groups = super::login::group_names(user);
    let login = Login {
        user: &user.name,
        groups: &groups,
    };
    let found = scan(sshd_config.unwrap_or(Path::new(SSHD_CONFIG)), &login);
    bad.extend(found.problems);
    if bad.is_empty() {
        Ok(format!(
            "{DUMMY_NAME}; no other name in a Match block that can apply to {} ({} files read)",
            user.name, found.files
        ))
    } else {
        Err(bad.join("; "))
    }
}
