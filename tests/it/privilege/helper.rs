//! The helper's privileges: never root, never from a writable place, only the lane user's groups.

use std::path::Path;

use super::lane_ids;
use crate::common::sshd::LANE_USER;
use crate::common::{code_of, evidence, require_root};

#[test]
fn the_helper_never_runs_as_root_nor_from_an_untrusted_place() {
    require_root();
    let lab = crate::common::lab::Lab::start("priv-helper");
    // As `install -d -o <lane> -m 0700` leaves it: the lane user's, group root.
    let (uid, _) = lane_ids();
    nix::unistd::chown(
        &lab.fx.path("state"),
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(0)),
    )
    .unwrap();
    let helper = crate::common::repo().join("tests/sim/test_helper.py");
    let seeds = crate::common::repo().join("seeds");
    // The helper reports who ran it into a file in a folder it can write.
    let who_dir = lab.fx.mkdir("who", 0o755);
    lab.fx.chown(&who_dir, LANE_USER);
    let who = who_dir.join("who.json");
    let runner = |argv0: &Path, workdir: Option<&Path>| {
        crate::common::lab::LabOptions {
        runner: format!(
            "kind = \"command\"\nargv = [\"{}\", \"{}\", \"{}\", \"--report-uid\", \"{}\"]\ntimeout_secs = 60\n{}",
            argv0.display(),
            helper.display(),
            seeds.display(),
            who.display(),
            workdir
                .map(|w| format!("workdir = \"{}\"\n", w.display()))
                .unwrap_or_default()
        ),
        ..Default::default()
    }
    };
    let key = lab
        .fx
        .write("op.key", crate::common::lab::OPERATOR_KEY, 0o600);
    let attended = |cfg: &Path| {
        let out = crate::common::attended(cfg, &key, &["--keep-operator-key-file"])
            .output()
            .unwrap();
        (evidence(&out), out.status.code())
    };

    // A program in a folder a deploy user can write (here: the lane user's).
    let deploy = lab.fx.mkdir("deploy", 0o755);
    lab.fx.chown(&deploy, LANE_USER);
    let py = deploy.join("python3");
    std::fs::copy("/usr/bin/python3", &py).unwrap();
    let cfg = lab.write_config("helper-untrusted.toml", &runner(&py, None));
    let (doc, code) = attended(&cfg);
    assert_eq!(code_of(&doc), "file-untrusted", "{doc:#}");
    assert_eq!(code, Some(78));
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/deploy is owned by uid"));

    // A working folder others can write.
    let open = lab.fx.mkdir("open-work", 0o777);
    let cfg = lab.write_config(
        "helper-open-work.toml",
        &runner(Path::new("/usr/bin/python3"), Some(&open)),
    );
    let (doc, _) = attended(&cfg);
    assert_eq!(code_of(&doc), "file-untrusted", "{doc:#}");
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("helper working folder"));
    assert!(lab.sim.active_keys().is_empty(), "no key was made");

    // Trusted: runs, as the lane user, from root's attended run.
    let cfg = lab.write_config(
        "helper-ok.toml",
        &runner(Path::new("/usr/bin/python3"), None),
    );
    let (doc, code) = attended(&cfg);
    assert_eq!(code, Some(0), "{doc:#}");
    let (uid, gid) = lane_ids();
    let ran: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&who).unwrap()).unwrap();
    assert_eq!(ran["uid"], uid, "{ran}");
    // The lane user's own group, never the state folder's (root's here).
    assert_eq!(ran["gid"], gid, "{ran}");
    assert_eq!(
        ran["groups"],
        serde_json::json!([]),
        "none of root's supplementary groups"
    );
    // The caller sees the contract's fields only, and a digest of the rest.
    let helper = &doc["result"]["helper"];
    assert!(helper["output"].get("note").is_none(), "{helper:#}");
    assert_eq!(helper["output"]["runtimeKey"]["status"], "created");
    assert!(helper["output"]["runtimeKey"].get("keyFile").is_none());
    assert_eq!(helper["output_sha256"].as_str().unwrap().len(), 64);
    lab.assert_one_live_stored_key();
}
