//! Five concurrent bootstraps through sshd: one live stored key, every busy caller audited.

use std::process::{Output, Stdio};

use super::World;
use crate::common::{assert_schema, evidence};

#[test]
fn five_concurrent_bootstraps_leave_one_key() {
    let w = World::start("lane-five");
    let cert = w.certificate();
    let children: Vec<_> = (0..5)
        .map(|_| {
            w.host
                .ssh_command(&cert, &["bootstrap", "--skip-event"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let mut busy = 0;
    for o in &outs {
        let doc = evidence(o);
        assert_schema(&doc);
        match o.status.code() {
            Some(0) => assert!(
                ["created", "reused"]
                    .contains(&doc["result"]["runtime_key"]["status"].as_str().unwrap()),
                "{doc:#}"
            ),
            Some(75) => {
                assert_eq!(doc["outcome"], "busy");
                busy += 1;
            }
            other => panic!("unexpected exit {other:?}: {doc:#}"),
        }
    }
    w.assert_one_live_stored_key();
    w.audit_verifies();
    let log = std::fs::read_to_string(&w.host.audit).unwrap();
    assert_eq!(
        log.matches("\"outcome\":\"busy\"").count(),
        busy,
        "each busy caller has its audit record"
    );
    assert_eq!(log.matches("\"event\":\"result\"").count(), 5);
    let refs: Vec<&Output> = outs.iter().collect();
    w.assert_no_leaks(&refs);
}
