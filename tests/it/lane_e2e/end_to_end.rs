//! The lane as operators use it: ssh with an OpenBao-signed certificate, and ops-ssh-wrapper.

use std::process::{Command, Stdio};

use super::{step_statuses, World};
use crate::common::lab::OPERATOR_KEY;
use crate::common::sshd::LANE_USER;
use crate::common::{assert_schema, code_of, evidence};

#[test]
fn the_lane_end_to_end() {
    let w = World::start("lane");
    let cert = w.certificate();

    let first = w.host.ssh(&cert, &["bootstrap"]);
    let doc = evidence(&first);
    assert_schema(&doc);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{doc:#}\n{}",
        w.host.sshd_log()
    );
    assert!(
        doc["caller"]["key_id"]
            .as_str()
            .unwrap()
            .starts_with("agt-token-codex-interhub-bootstrap-"),
        "{doc:#}"
    );
    assert_eq!(doc["result"]["runtime_key"]["status"], "created");
    assert!(doc["audit"]["hash"].as_str().unwrap().len() == 64);
    for s in [
        "hub=created",
        "manifest=created",
        "consumer=created",
        "runtime-key=created",
        "event=created",
        "validation=unchanged",
    ] {
        assert!(
            step_statuses(&doc).contains(&s.to_string()),
            "{s}: {:?}",
            step_statuses(&doc)
        );
    }
    w.assert_one_live_stored_key();
    let writes = w.sim.writes();

    let second = w.host.ssh(&cert, &["bootstrap"]);
    let doc2 = evidence(&second);
    assert_eq!(second.status.code(), Some(0), "{doc2:#}");
    assert!(
        step_statuses(&doc2)
            .iter()
            .all(|s| s.ends_with("=reused") || s.ends_with("=unchanged")),
        "{:?}",
        step_statuses(&doc2)
    );
    assert_eq!(w.sim.writes(), writes, "rerun: zero writes");

    let plan = w.host.ssh(&cert, &["bootstrap", "--plan"]);
    assert_eq!(plan.status.code(), Some(0));
    assert_eq!(w.sim.writes(), writes, "--plan: zero writes");
    let gate = w.host.ssh(&cert, &["gate"]);
    assert_eq!(
        gate.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&gate.stdout)
    );
    let verify = w.host.ssh(&cert, &["verify"]);
    let v = evidence(&verify);
    assert_eq!(verify.status.code(), Some(0), "{v:#}");
    assert_eq!(v["result"]["validation"]["token"], "ok");

    w.audit_verifies();
    let shown = w
        .host
        .ops_warden(&["audit", "show", "--outcome", "ok", "--json"]);
    assert_eq!(String::from_utf8(shown.stdout).unwrap().lines().count(), 5);
    w.state_dir_is_clean();
    w.assert_no_leaks(&[&first, &second, &plan, &gate, &verify]);
}

#[test]
fn the_reference_ops_ssh_wrapper_calls_the_lane() {
    let w = World::start("e2e-wrapper");
    let home = w.svc.mkdir("operator-home", 0o700);
    let wrapper = |args: &[&str]| {
        Command::new("bash")
            .arg(crate::common::repo().join("host-config/client/ops-ssh-wrapper"))
            .arg("127.0.0.1")
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &home)
            .env("BAO", crate::common::bao::bao_path())
            .env("BAO_ADDR", &w.bao.addr)
            .env("BAO_TOKEN", &w.wrapper_token)
            .env("OPS_SSH_KEY", w.host.fx.path("user"))
            .env("OPS_SSH_USER", LANE_USER)
            .env("OPS_SSH_PORT", w.host.port.to_string())
            .env("OPS_SSH_STRICT", "no")
            .env("OPS_SSH_KNOWN_HOSTS", "/dev/null")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    // Its exit code is ops-warden's, its stdout the evidence.
    let out = wrapper(&["whoami"]);
    let doc = evidence(&out);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert!(doc["caller"]["key_id"]
        .as_str()
        .unwrap()
        .starts_with("agt-token-codex-interhub-bootstrap"));
    let out = wrapper(&["bootstrap"]);
    let doc = evidence(&out);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert_eq!(doc["result"]["runtime_key"]["status"], "created");
    let out = wrapper(&["bootstrap", "--frobnicate"]);
    assert_eq!(out.status.code(), Some(77));
    assert_eq!(code_of(&evidence(&out)), "command-bad-argument");
    w.assert_one_live_stored_key();
    // Nothing secret in what the operator sees.
    let (key, _) = w.stored_key().unwrap();
    for text in [&out.stdout, &out.stderr] {
        let t = String::from_utf8_lossy(text);
        assert!(!t.contains(&w.wrapper_token) && !t.contains(&key) && !t.contains(OPERATOR_KEY));
    }
}
