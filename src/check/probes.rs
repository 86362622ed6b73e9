//! Checks against what lies outside the config: the services (`--online`)
//! and sshd's effective settings (`--sshd`).

use std::path::Path;

use crate::config;

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
            let _ = bao.close();
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
