//! check-config as root: unsafe ancestors, a bash lane shell, lane folders the lane cannot write;
//! with `--sshd`, every Match block's AcceptEnv and a lane home the lane user can write.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::{lane_folders, lane_ids, with_services};
use crate::common::sshd::{LANE_HOME, LANE_USER};
use crate::common::{bin, evidence, require_root, Fixture};

#[test]
fn trusted_files_need_every_folder_above_them_safe() {
    require_root();
    let fx = Fixture::new("priv-ancestors");
    let (_log, _state, config) = lane_folders(&fx);
    let config = with_services(&fx, &config);
    let text = std::fs::read_to_string(&config).unwrap();
    let check = |cfg: &Path| {
        Command::new(bin())
            .arg("--config")
            .arg(cfg)
            .arg("check-config")
            .env_clear()
            .output()
            .unwrap()
    };
    assert_eq!(check(&config).status.code(), Some(0));

    // A world-writable (not sticky) grandparent: anyone could swap the parent.
    fx.mkdir("open", 0o777);
    fx.mkdir("open/etc", 0o755);
    let deep = fx.write("open/etc/ops-warden.toml", &text, 0o644);
    let out = check(&deep);
    assert_eq!(out.status.code(), Some(78));
    let doc = evidence(&out);
    assert!(
        doc.to_string()
            .contains("/open is writable by group or others"),
        "{doc:#}"
    );

    // A symlinked ancestor that the lane user owns (it can point it anywhere).
    fx.mkdir("real", 0o755);
    fx.write("real/ops-warden.toml", &text, 0o644);
    let link = fx.path("lanelink");
    std::os::unix::fs::symlink(fx.path("real"), &link).unwrap();
    let (uid, gid) = lane_ids();
    nix::unistd::fchownat(
        nix::fcntl::AT_FDCWD,
        &link,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .unwrap();
    let out = check(&link.join("ops-warden.toml"));
    assert_eq!(out.status.code(), Some(78));
    assert!(
        evidence(&out)
            .to_string()
            .contains("lanelink is a symlink owned by uid"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn check_config_warns_when_the_lane_shell_is_bash() {
    require_root();
    let fx = Fixture::new("priv-bash");
    let (_log, _state, config) = lane_folders(&fx);
    let config = with_services(&fx, &config);
    let check = |cfg: &Path| {
        let out = Command::new(bin())
            .arg("--config")
            .arg(cfg)
            .arg("check-config")
            .env_clear()
            .output()
            .unwrap();
        (out.status.code(), evidence(&out))
    };
    let (code, doc) = check(&config);
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(
        doc["warnings"],
        serde_json::json!([]),
        "/bin/sh: no warning"
    );

    const BASH_USER: &str = "ow-lane-bash";
    if nix::unistd::User::from_name(BASH_USER).unwrap().is_none() {
        let st = Command::new("useradd")
            .args(["-M", "-d", LANE_HOME, "-s", "/bin/bash", BASH_USER])
            .status()
            .unwrap();
        assert!(st.success());
    }
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &format!("user = \"{LANE_USER}\""),
        &format!("user = \"{BASH_USER}\""),
    );
    let bash_cfg = fx.write("bash.toml", &text, 0o644);
    let (_, doc) = check(&bash_cfg);
    let w = &doc["warnings"][0];
    assert_eq!(w["key"], "lane.user", "{doc:#}");
    assert!(w["message"].as_str().unwrap().contains("bash"), "{doc:#}");
}

#[test]
fn check_config_as_root_sees_folders_the_lane_user_cannot_write() {
    require_root();
    let fx = Fixture::new("priv-writable");
    let (_log, state, config) = lane_folders(&fx);
    // As a careless install leaves it: root's, 0755.
    nix::unistd::chown(
        &state,
        Some(nix::unistd::Uid::from_raw(0)),
        Some(nix::unistd::Gid::from_raw(0)),
    )
    .unwrap();
    std::fs::set_permissions(&state, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = Command::new(bin())
        .arg("--config")
        .arg(&config)
        .arg("check-config")
        .output()
        .unwrap();
    let doc = evidence(&out);
    assert_eq!(out.status.code(), Some(78));
    let entry = doc["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "state.dir")
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert!(
        entry["message"]
            .as_str()
            .unwrap()
            .contains(&format!("not writable by the lane user {LANE_USER}")),
        "{doc:#}"
    );
}

/// A minimal sshd_config `sshd -T` accepts: a host key, no PAM, Debian's
/// global AcceptEnv, the snippet's Match block for the lane user, then `extra`.
fn sshd_config(fx: &Fixture, name: &str, extra: &str) -> PathBuf {
    if !fx.path("host_key").exists() {
        fx.keygen(&["-t", "ed25519", "-f", "host_key"]);
    }
    std::fs::create_dir_all("/run/sshd").unwrap();
    std::fs::set_permissions("/run/sshd", std::fs::Permissions::from_mode(0o755)).unwrap();
    fx.write(
        name,
        &format!(
            "HostKey {}\nUsePAM no\nAcceptEnv LANG LC_*\n\
             Match User {LANE_USER}\n    AcceptEnv OPS_WARDEN_ACCEPTS_NO_ENVIRONMENT\n{extra}",
            fx.path("host_key").display()
        ),
        0o644,
    )
}

/// `check-config --sshd --sshd-config F` as root: the document.
fn check_sshd(config: &Path, sshd_config: &Path) -> Value {
    let out = Command::new(bin())
        .arg("--config")
        .arg(config)
        .args(["check-config", "--sshd", "--sshd-config"])
        .arg(sshd_config)
        .env_clear()
        .output()
        .unwrap();
    let doc = evidence(&out);
    crate::common::assert_schema_named("check-config.v1.schema.json", &doc);
    doc
}

fn named<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name}: {doc:#}"))
}

/// I-2: `sshd -T` for one connection (127.0.0.1) passed while a site block
/// for 10.0.0.0/8 gave the lane user LANG, LC_* and LD_PRELOAD there.
#[test]
fn check_config_sshd_reads_every_match_block_for_accept_env() {
    require_root();
    let fx = Fixture::new("priv-acceptenv");
    let (_log, _state, config) = lane_folders(&fx);

    let plain = sshd_config(&fx, "sshd_config", "");
    let doc = check_sshd(&config, &plain);
    let c = named(&doc, "sshd.acceptenv");
    assert_eq!(c["ok"], true, "{doc:#}");
    // The lane user's home is root's and sshd uses no PAM: nothing to warn.
    assert_eq!(doc["warnings"], serde_json::json!([]), "{doc:#}");

    let site = sshd_config(
        &fx,
        "sshd_config.site",
        "Match User deploy\n    AcceptEnv ANY\nMatch Address 10.0.0.0/8\n    AcceptEnv LANG LC_* LD_PRELOAD\n",
    );
    let line = std::fs::read_to_string(&site)
        .unwrap()
        .lines()
        .position(|l| l.contains("LD_PRELOAD"))
        .unwrap()
        + 1;
    let doc = check_sshd(&config, &site);
    let c = named(&doc, "sshd.acceptenv");
    assert_eq!(c["ok"], false, "{doc:#}");
    let detail = c["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!(
            "{}:{line}: AcceptEnv LANG LC_* LD_PRELOAD",
            site.display()
        )),
        "{detail}"
    );
    assert!(!detail.contains("ANY"), "another user's block: {detail}");
    assert!(
        !detail.contains("acceptenv is"),
        "sshd -T from 127.0.0.1 sees the dummy name only: {detail}"
    );
}

/// N8: a lane home the lane user can write (the package once made it the
/// state folder) is where `~/.pam_environment` would act before `main`.
#[test]
fn check_config_sshd_warns_when_the_lane_user_can_write_its_home() {
    require_root();
    let fx = Fixture::new("priv-home");
    let (_log, _state, config) = lane_folders(&fx);
    const HOME_USER: &str = "ow-lane-home";
    let home = fx.mkdir("home", 0o700);
    match nix::unistd::User::from_name(HOME_USER).unwrap() {
        None => {
            let st = Command::new("useradd")
                .arg("-M")
                .arg("-d")
                .arg(&home)
                .args(["-s", "/bin/sh", HOME_USER])
                .status()
                .unwrap();
            assert!(st.success());
        }
        Some(_) => {
            let st = Command::new("usermod")
                .arg("-d")
                .arg(&home)
                .arg(HOME_USER)
                .status()
                .unwrap();
            assert!(st.success());
        }
    }
    fx.chown(&home, HOME_USER);
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &format!("user = \"{LANE_USER}\""),
        &format!("user = \"{HOME_USER}\""),
    );
    let config = fx.write("home.toml", &text, 0o644);
    let sshd = sshd_config(&fx, "sshd_config", "");
    let home_warnings = || -> Vec<String> {
        check_sshd(&config, &sshd)["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["key"] == "lane.user")
            .map(|w| w["message"].as_str().unwrap().to_string())
            .collect()
    };

    let w = home_warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains(&format!("{} is owned by {HOME_USER}", home.display())),
        "{w:?}"
    );
    assert!(!w[0].contains("user_readenv=1 at"), "UsePAM no: {w:?}");

    // Root's but group-writable: still the lane's to fill.
    nix::unistd::chown(
        &home,
        Some(nix::unistd::Uid::from_raw(0)),
        Some(nix::unistd::Gid::from_raw(0)),
    )
    .unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o775)).unwrap();
    let w = home_warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("writable by group or others"), "{w:?}");

    // Root's, 0755, under root's folders: as the package makes it.
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(home_warnings(), Vec::<String>::new());
}
