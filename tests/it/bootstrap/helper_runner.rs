//! The command runner: its key is stored; a failing, slow or killed helper leaves nothing behind.

use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::scan;
use crate::common::lab::{Lab, LabOptions};
use crate::common::{assert_schema, code_of, evidence};

/// The `[runner]` table of a helper run; `{out}` in `extra` names a folder
/// the helper (the lane user) may write (`helper-out` in the lab).
fn helper_runner(lab: &Lab, extra: &str, timeout: u64) -> String {
    let out = lab.fx.mkdir("helper-out", 0o755);
    lab.fx.chown(&out, crate::common::sshd::LANE_USER);
    let extra = extra.replace("{out}", &out.display().to_string());
    format!(
        "kind = \"command\"\nargv = [\"/usr/bin/python3\", \"{}\", \"{}\"{extra}]\ntimeout_secs = {timeout}\n",
        crate::common::repo().join("tests/sim/test_helper.py").display(),
        crate::common::repo().join("seeds").display(),
    )
}

/// `{out}` in `extra` names a folder the helper (the lane user) may write.
fn helper_lab(name: &str, extra: &str, timeout: u64) -> (Lab, std::path::PathBuf) {
    let lab = Lab::start(name);
    let runner = helper_runner(&lab, extra, timeout);
    let cfg = lab.write_config(
        "helper.toml",
        &LabOptions {
            runner,
            ..Default::default()
        },
    );
    (lab, cfg)
}

/// This lab's helper processes: those with its own folders on their
/// command line (not another test's helpers running at the same time).
fn helper_pids(lab: &Lab) -> Vec<i32> {
    let state = lab.fx.path("state").display().to_string();
    let out = lab.fx.path("helper-out").display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<i32>().ok()?;
            let c = std::fs::read(e.path().join("cmdline")).ok()?;
            let c = String::from_utf8_lossy(&c);
            (c.contains(&state) || (c.contains("test_helper.py") && c.contains(&out)))
                .then_some(pid)
        })
        .collect()
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
    let child = spawn_bootstrap(&lab, &cfg);
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
    let helpers = helper_pids(&lab).len();
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

/// A helper that parks first: it ignores SIGTERM (only SIGKILL ends it),
/// writes `{out}/parked`, then sleeps 120 s before doing anything.
const PARKED: &str = ", \"--park\", \"120\", \"{out}/parked\"";

/// Waits (at most 30 s) until `ready`, the run still going; fails if the
/// run ended first (with what it printed) or `ready` never came.
fn wait_while_running(child: &mut Child, what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        if let Some(st) = child.try_wait().unwrap() {
            let mut out = String::new();
            if let Some(mut o) = child.stdout.take() {
                let _ = std::io::Read::read_to_string(&mut o, &mut out);
            }
            panic!("the run ended ({st}) before {what}: {out}");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: not within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The run's output if it ends within `secs` (a watchdog: polled); else it
/// and this lab's helpers are killed and the test fails.
fn finish_within(lab: &Lab, mut child: Child, secs: u64, what: &str) -> Output {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            for pid in helper_pids(lab) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            panic!("{what}: the run was still going {secs} s after the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A force-command `bootstrap` with this config, its output captured.
fn spawn_bootstrap(lab: &Lab, cfg: &std::path::PathBuf) -> Child {
    lab.force_command(cfg, "bootstrap")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn sigterm(child: &Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
}

/// Issue 18 §3: a signal that comes before the helper is started ends the
/// run within its bound, the helper never started (the earlier product
/// looked for a signal only once the helper ran, then waited for it without
/// bound). Made deterministic: OpenBao behind the fault proxy, the runtime
/// key read made right before the helper is started is held, the run is
/// sent SIGTERM while it waits for that read, then the read goes on.
#[test]
fn a_signal_before_the_helper_starts_ends_the_run_within_its_bound() {
    let lab = Lab::start("helper-sig-early");
    let runner = helper_runner(&lab, PARKED, 120);
    let marker = lab.fx.path("helper-out/parked");
    let (proxy, cfg) = lab.behind_proxy(
        "helper-proxy.toml",
        LabOptions {
            runner,
            ..Default::default()
        },
    );
    proxy.fault(json!({
        "method": "GET",
        "path": "/v1/secret/data/platform/operators/ops-hub/runtime",
        "hold": true,
        "count": 1,
    }));
    let mut child = spawn_bootstrap(&lab, &cfg);
    wait_while_running(&mut child, "the runtime key read is held", || {
        proxy.held() == 1
    });
    sigterm(&child);
    // The signal is the run's before the read answers.
    std::thread::sleep(Duration::from_millis(200));
    proxy.release();
    let out = finish_within(&lab, child, 15, "a signal before the helper");
    let doc = evidence(&out);
    assert_schema(&doc);
    assert_eq!(code_of(&doc), "aborted", "{doc:#}");
    assert_eq!(out.status.code(), Some(75), "{doc:#}");
    assert!(!marker.exists(), "the helper was never started");
    assert_eq!(helper_pids(&lab), Vec::<i32>::new(), "no helper process");
    no_private_files_left(&lab);
}

/// Issue 18 §3: a helper that ignores SIGTERM is SIGKILLed after the grace:
/// the run ends within its bound, `aborted`, and nothing is left.
#[test]
fn a_helper_that_ignores_sigterm_is_killed_after_the_grace() {
    let (lab, cfg) = helper_lab("helper-sig-ignored", PARKED, 120);
    let marker = lab.fx.path("helper-out/parked");
    let mut child = spawn_bootstrap(&lab, &cfg);
    wait_while_running(&mut child, "the helper is parked", || marker.exists());
    assert!(
        !helper_pids(&lab).is_empty(),
        "the parked helper is seen among the processes"
    );
    sigterm(&child);
    let out = finish_within(&lab, child, 15, "a helper ignoring SIGTERM");
    let doc = evidence(&out);
    assert_schema(&doc);
    assert_eq!(code_of(&doc), "aborted", "{doc:#}");
    assert_eq!(out.status.code(), Some(75), "{doc:#}");
    assert_eq!(
        helper_pids(&lab),
        Vec::<i32>::new(),
        "the helper was killed"
    );
    no_private_files_left(&lab);
}
