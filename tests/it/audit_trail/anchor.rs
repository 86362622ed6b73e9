//! Syslog anchoring: deletions and an emptied log are caught; a bad config leaves a trace.

use super::Host;
use crate::common::{assert_schema_named, code_of, evidence};

#[test]
fn every_record_is_anchored_in_syslog_and_deletions_are_caught() {
    crate::common::require_root();
    let h = Host::new("trail-anchor");
    // A fresh host: no records yet, a distinct exit code.
    let (doc, code) = h.verify(&[]);
    assert_eq!(doc["status"], "empty", "{doc:#}");
    assert_eq!(code, Some(66));

    for _ in 0..3 {
        let out = h.run();
        assert_eq!(code_of(&evidence(&out)), "auth-info-missing");
    }
    // chain-start + 3 × (intent, result)
    let text = h.syslog.wait_for("\"ow_audit\":1", 7);
    for line in text.lines().filter(|l| l.contains("\"ow_audit\"")) {
        assert!(line.contains(" authpriv.info ops-warden["), "{line}");
    }
    // Every record: the schema, the version, and on refusals the client.
    for l in h.lines() {
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_schema_named("audit-record.v1.schema.json", &v);
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
        if v["event"] != "chain-start" {
            assert_eq!(v["client_address"], "192.0.2.7", "{v}");
        }
    }
    let anchor = h.anchor();
    let (doc, code) = h.verify(&["--anchor", &anchor]);
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(doc["anchor"]["matched"], 7);
    assert_eq!(doc["locked"], true);

    // The tail and the head removed: fails closed, and the anchor names the gap.
    let keep = h.lines()[..5].join("\n") + "\n";
    std::fs::write(&h.log, keep).unwrap();
    std::fs::remove_file(h.fx.path("log/audit.jsonl.head")).unwrap();
    let (doc, code) = h.verify(&[]);
    assert_eq!(code, Some(65));
    assert!(doc["reason"]
        .as_str()
        .unwrap()
        .contains("head file is missing"));
    let (doc, _) = h.verify(&["--allow-new", "--anchor", &anchor]);
    assert_eq!(doc["ok"], false);
    assert!(
        doc["reason"]
            .as_str()
            .unwrap()
            .contains("the anchor has seq 6"),
        "{doc:#}"
    );
    // The writer does not reuse the removed seqs: it refuses, and syslog
    // keeps a trace of the refusal with its code.
    let out = h.run();
    assert_eq!(code_of(&evidence(&out)), "audit-write-failed");
    let text = h.syslog.wait_for("\"event\":\"failure\"", 1);
    assert!(text.contains("\"code\":\"audit-write-failed\""), "{text}");
    assert!(text.contains("authpriv.err"), "{text}");

    // Both files deleted, one run: the new chain goes on from the state
    // folder's mark (seq 8), never reusing a seq, and verify reports the gap.
    std::fs::remove_file(&h.log).unwrap();
    let out = h.run();
    assert_eq!(code_of(&evidence(&out)), "auth-info-missing");
    let first: serde_json::Value = serde_json::from_str(&h.lines()[0]).unwrap();
    assert_eq!(first["new_chain"], true);
    assert_eq!(first["seq"], 8);
    assert_eq!(first["after_seq"], 7);
    let (doc, code) = h.verify(&["--anchor", &anchor]);
    assert_eq!(code, Some(65), "{doc:#}");
    assert!(
        doc["reason"].as_str().unwrap().contains("starts at seq 8"),
        "{doc:#}"
    );

    // The log, its head and the mark deleted: seq 1 again locally, but the
    // anchor holds two different records for the same seqs.
    std::fs::remove_file(&h.log).unwrap();
    std::fs::remove_file(h.fx.path("log/audit.jsonl.head")).unwrap();
    std::fs::remove_file(h.fx.path("state/audit.seq")).unwrap();
    let out = h.run();
    assert_eq!(code_of(&evidence(&out)), "auth-info-missing");
    assert!(h.lines()[0].contains("\"new_chain\":true"));
    h.syslog.wait_for("\"ow_audit\":1", 13);
    let (doc, code) = h.verify(&["--anchor", &anchor]);
    assert_eq!(code, Some(65), "{doc:#}");
    assert!(
        doc["reason"]
            .as_str()
            .unwrap()
            .contains("two different records for seq 1"),
        "{doc:#}"
    );
}

#[test]
fn an_emptied_log_is_reported_not_taken_for_a_rotation() {
    crate::common::require_root();
    let h = Host::new("trail-emptied");
    h.run();
    h.run();
    std::fs::write(&h.log, "").unwrap();
    h.run();
    let (doc, code) = h.verify(&[]);
    assert_eq!(code, Some(65));
    assert_eq!(doc["partial"], true);
    assert!(doc["reason"].as_str().unwrap().contains("starts at seq 6"));
}

#[test]
fn a_config_that_does_not_load_leaves_a_trace_in_syslog() {
    crate::common::require_root();
    let h = Host::new("trail-config");
    let text = std::fs::read_to_string(&h.config)
        .unwrap()
        .replace("principal = \"agt-interhub-bootstrap\"", "principal = \"\"");
    let bad = h.fx.write("bad.toml", &text, 0o644);
    let out = h.run_with(&bad);
    assert_eq!(code_of(&evidence(&out)), "config-invalid");
    let text = h.syslog.wait_for("\"event\":\"failure\"", 1);
    assert!(text.contains("\"code\":\"config-invalid\""), "{text}");
    assert!(text.contains("\"client_address\":\"192.0.2.7\""), "{text}");
    assert!(!h.log.exists(), "no audit log without a config");
}
