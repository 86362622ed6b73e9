//! The command runner: its key is stored; a failing, slow or killed helper leaves nothing behind.

use super::scan;
use crate::common::lab::{Lab, LabOptions};
use crate::common::{assert_schema, code_of, evidence};

/// `{out}` in `extra` names a folder the helper (the lane user) may write.
fn helper_lab(name: &str, extra: &str, timeout: u64) -> (Lab, std::path::PathBuf) {
    let lab = Lab::start(name);
    let out = lab.fx.mkdir("helper-out", 0o755);
    lab.fx.chown(&out, crate::common::sshd::LANE_USER);
    let extra = extra.replace("{out}", &out.display().to_string());
    let runner = format!(
        "kind = \"command\"\nargv = [\"/usr/bin/python3\", \"{}\", \"{}\"{extra}]\ntimeout_secs = {timeout}\n",
        crate::common::repo().join("tests/sim/test_helper.py").display(),
        crate::common::repo().join("seeds").display(),
    );
    let cfg = lab.write_config(
        "helper.toml",
        &LabOptions {
            runner,
            ..Default::default()
        },
    );
    (lab, cfg)
}

fn no_private_files_left(lab: &Lab) {
    let left: Vec<_> = std::fs::read_dir(lab.fx.path("state"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n != "bootstrap.lock" && n != "audit.seq")
        .collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[test]
fn the_helper_runner_stores_the_key_it_made() {
    // A chatty helper: ~180 KB of output must not break the audit append.
    // It also writes its argv and environment out, for the secret scan.
    let (lab, cfg) = helper_lab(
        "helper-ok",
        ", \"--big-output\", \"--dump-env\", \"{out}/env.json\"",
        60,
    );
    let dump = lab.fx.path("helper-out/env.json");
    let out = lab.force_command(&cfg, "bootstrap").output().unwrap();
    let doc = evidence(&out);
    assert_schema(&doc);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert_eq!(doc["result"]["runner"], "command");
    assert_eq!(doc["result"]["runtime_key"]["status"], "created");
    assert_eq!(
        doc["result"]["helper"]["output"]["runtimeKey"]["status"],
        "created"
    );
    lab.assert_one_live_stored_key();
    no_private_files_left(&lab);
    // A rerun hands the stored key to the helper (OPS_HUB_KEY_FILE), which reuses it.
    let again = lab.force_command(&cfg, "bootstrap").output().unwrap();
    let doc2 = evidence(&again);
    assert_eq!(again.status.code(), Some(0), "{doc2:#}");
    assert_eq!(doc2["result"]["runtime_key"]["status"], "reused");
    assert_eq!(
        doc2["result"]["helper"]["output"]["runtimeKey"]["status"],
        "reused"
    );
    lab.assert_one_live_stored_key();
    no_private_files_left(&lab);
    scan(&lab, &[&out, &again]);
    // Secrets reach the helper as files in its private folder, never on its
    // command line or in its environment.
    let env = std::fs::read(&dump).expect("the helper wrote its environment");
    let refs = lab.secrets();
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
    crate::common::scan::assert_clean("helper argv and environment", &env, &refs);
}

#[test]
fn a_failing_helper_loses_no_key_and_leaves_no_file() {
    let (lab, cfg) = helper_lab(
        "helper-fail",
        ", \"--fail-after-key\", \"--print-key-in-stderr\"",
        60,
    );
    let out = lab.force_command(&cfg, "bootstrap").output().unwrap();
    let doc = evidence(&out);
    assert_eq!(code_of(&doc), "helper-failed", "{doc:#}");
    assert_eq!(
        doc["result"]["runtime_key"]["status"], "created",
        "the key it made was stored"
    );
    lab.assert_one_live_stored_key();
    no_private_files_left(&lab);
    scan(&lab, &[&out]);

    let (lab, cfg) = helper_lab("helper-slow", ", \"--sleep\", \"30\"", 2);
    let started = std::time::Instant::now();
    let out = lab.force_command(&cfg, "bootstrap").output().unwrap();
    let doc = evidence(&out);
    assert_eq!(code_of(&doc), "helper-failed");
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("timed out"));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(25),
        "the helper was killed"
    );
    no_private_files_left(&lab);
}

#[test]
fn an_interrupted_helper_is_killed_and_cleaned_up() {
    // (--dump-env names this lab's folder on the helper's command line, so
    // that its process is told apart from other tests' helpers.)
    let (lab, cfg) = helper_lab(
        "helper-term",
        ", \"--sleep\", \"30\", \"--dump-env\", \"{out}/env.json\"",
        120,
    );
    let child = lab
        .force_command(&cfg, "bootstrap")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the helper's private folder exists, i.e. the helper runs.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !std::fs::read_dir(lab.fx.path("state"))
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("helper-"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the helper never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let started = std::time::Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let doc = evidence(&out);
    assert_schema(&doc);
    assert_eq!(doc["outcome"], "aborted", "{doc:#}");
    assert_eq!(out.status.code(), Some(75));
    // The helper sleeps 30 s: ending well before means it was killed, not
    // waited for (the margin is for a loaded machine, not a measurement).
    assert!(
        started.elapsed() < std::time::Duration::from_secs(25),
        "the helper was killed, not waited for"
    );
    no_private_files_left(&lab);
    let helpers = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| {
                    // This lab's helper (its own folder on its command line),
                    // not another test's running at the same time.
                    let c = String::from_utf8_lossy(&c);
                    c.contains(&lab.fx.path("state").display().to_string())
                        || (c.contains("test_helper.py")
                            && c.contains(&lab.fx.path("helper-out").display().to_string()))
                })
                .unwrap_or(false)
        })
        .count();
    assert_eq!(helpers, 0, "no helper process left behind");
    let log = std::fs::read_to_string(&lab.audit).unwrap();
    assert!(log
        .lines()
        .last()
        .unwrap()
        .contains("\"outcome\":\"aborted\""));
}

/// Issue 10 §5: a helper run is ok only if afterwards a stored key exists
/// and mints a token; the sweep always runs; the caller gets only the
/// contract's fields and nothing key-shaped from anything the helper printed.
#[test]
fn a_helper_that_stores_nothing_fails_and_leaks_nothing() {
    let key_shaped = |out: &std::process::Output| {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        text.match_indices("ihk_")
            .filter(|(i, _)| text.as_bytes().get(i + 12) == Some(&b'.'))
            .count()
    };
    // (a) The display-once key printed on stdout and stderr, no key file.
    let (lab, cfg) = helper_lab("helper-key-stdout", ", \"--key-in-stdout\"", 60);
    let out = lab.force_command(&cfg, "bootstrap").output().unwrap();
    let doc = evidence(&out);
    assert_schema(&doc);
    assert_eq!(code_of(&doc), "helper-failed", "{doc:#}");
    assert_eq!(out.status.code(), Some(69));
    assert_eq!(
        key_shaped(&out),
        0,
        "no key text reaches the caller: {doc:#}"
    );
    assert!(
        lab.sim.active_keys().is_empty(),
        "the unstored key was swept: {:#}",
        lab.sim.state()
    );
    assert_eq!(
        doc["result"]["runtime_key"]["revoked"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    no_private_files_left(&lab);
    scan(&lab, &[&out]);
    // (b) Success reported, but no key at all: not ok.
    let (lab, cfg) = helper_lab("helper-no-key", ", \"--make-no-key\"", 60);
    let out = lab.force_command(&cfg, "bootstrap").output().unwrap();
    let doc = evidence(&out);
    assert_eq!(code_of(&doc), "helper-failed", "{doc:#}");
    assert_eq!(out.status.code(), Some(69));
    assert!(doc["error"]["message"]
        .as_str()
        .expect("message")
        .contains("no runtime key is stored"));
    assert!(lab.sim.active_keys().is_empty());
    no_private_files_left(&lab);
}
