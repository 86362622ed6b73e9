//! check-config as root: unsafe ancestors, a bash lane shell, lane folders the lane cannot write.

use std::path::Path;
use std::process::Command;

use super::{lane_folders, lane_ids, with_services};
use crate::common::sshd::LANE_USER;
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
            .args(["-M", "-s", "/bin/bash", BASH_USER])
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
