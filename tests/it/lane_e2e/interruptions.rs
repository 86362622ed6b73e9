//! A hang-up and SIGHUP/SIGTERM inside the critical section: the key is stored, nothing is lost.

use std::time::{Duration, Instant};

use super::{step_statuses, World};
use crate::common::sshd::LaneHost;
use crate::common::{assert_schema, code_of, evidence};
use serde_json::Value;

#[test]
fn a_client_that_hangs_up_mid_run_loses_nothing() {
    let w = World::start("lane-hup");
    let cert = w.certificate();
    // Key creation is slow: the caller hangs up while ops-warden is inside it.
    let mut client = w.bootstrap_paused_in_key_creation(&cert, 3000);
    client.kill().unwrap();
    let _ = client.wait();
    // ops-warden finishes its critical section and writes its result record.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = std::fs::read_to_string(&w.host.audit).unwrap_or_default();
        if log.matches("\"event\":\"result\"").count() == 1 {
            let result: Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
            assert!(
                ["ok", "aborted"].contains(&result["outcome"].as_str().unwrap()),
                "{result:#}"
            );
            if result["outcome"] == "aborted" {
                assert!(
                    result["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains("SIGHUP"),
                    "{result:#}"
                );
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no result record after the hang-up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // No live key that is not in OpenBao, no temp file.
    let live = w.sim.active_keys();
    assert_eq!(live.len(), 1, "{live:?}");
    if let Some(k) = live.first() {
        assert!(
            w.stored_key()
                .unwrap()
                .0
                .starts_with(k["prefix"].as_str().unwrap()),
            "the live key is stored"
        );
    }
    w.state_dir_is_clean();
    // The next run completes.
    let next = w.host.ssh(&cert, &["bootstrap"]);
    assert_eq!(
        next.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&next.stdout)
    );
    w.assert_one_live_stored_key();
    w.audit_verifies();
    w.assert_no_leaks(&[&next]);
    assert_eq!(code_of(&evidence(&next)), "none");
}

/// Pids of this host's running ops-warden force-command processes.
fn warden_pids(host: &LaneHost) -> Vec<i32> {
    let cfg = host.config.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    let c = String::from_utf8_lossy(&c).replace('\0', " ");
                    c.contains(&cfg) && c.contains("force-command")
                })
                .unwrap_or(false)
                // the binary itself, not the login shell that runs it
                && std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e.ends_with("ops-warden"))
        })
        .collect()
}

#[test]
fn a_signal_inside_the_critical_section_aborts_after_it() {
    for sig in [
        nix::sys::signal::Signal::SIGHUP,
        nix::sys::signal::Signal::SIGTERM,
    ] {
        let w = World::start(&format!("lane-{}", sig.as_str().to_lowercase()));
        let cert = w.certificate();
        let client = w.bootstrap_paused_in_key_creation(&cert, 2500);
        let pids = warden_pids(&w.host);
        assert_eq!(pids.len(), 1, "one ops-warden process: {pids:?}");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pids[0]), sig).unwrap();
        let out = client.wait_with_output().unwrap();
        let doc = evidence(&out);
        assert_schema(&doc);
        assert_eq!(doc["outcome"], "aborted", "{doc:#}");
        assert_eq!(out.status.code(), Some(75));
        assert!(
            doc["error"]["message"]
                .as_str()
                .unwrap()
                .contains(sig.as_str()),
            "{doc:#}"
        );
        // The critical section finished: the key exists and is stored.
        assert_eq!(doc["result"]["runtime_key"]["status"], "created", "{doc:#}");
        assert!(step_statuses(&doc).contains(&"runtime-key=created".to_string()));
        assert!(
            !step_statuses(&doc)
                .iter()
                .any(|s| s.starts_with("widgets=")),
            "stopped right after it"
        );
        w.assert_one_live_stored_key();
        w.state_dir_is_clean();
        let log = std::fs::read_to_string(&w.host.audit).unwrap();
        assert!(log
            .lines()
            .last()
            .unwrap()
            .contains("\"outcome\":\"aborted\""));
        let next = w.host.ssh(&cert, &["bootstrap"]);
        let nd = evidence(&next);
        assert_eq!(next.status.code(), Some(0), "{nd:#}");
        assert_eq!(nd["result"]["runtime_key"]["status"], "reused");
        w.assert_one_live_stored_key();
        w.audit_verifies();
        w.assert_no_leaks(&[&out, &next]);
    }
}
