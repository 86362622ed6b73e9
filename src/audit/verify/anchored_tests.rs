//! The anchor comparison: the verifier's host, senders and seqs decide.

use super::*;
use crate::audit::anchor::Senders;
use serde_json::{json, Map, Value};

const EXE: &str = "/usr/libexec/ops-warden/ops-warden";

fn rec() -> Map<String, Value> {
    json!({"event": "intent"}).as_object().unwrap().clone()
}

/// A log of `n` appends and a journald export anchoring each of its lines,
/// sent by `uid`.
fn anchored(n: usize, uid: &str) -> (tempfile::TempDir, AuditLog, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let log = AuditLog::new(d.path().join("audit.jsonl"));
    for _ in 0..n {
        log.append(rec()).unwrap();
    }
    let anchor = d.path().join("journal.json");
    std::fs::write(&anchor, export(&log, uid)).unwrap();
    (d, log, anchor)
}

fn export(log: &AuditLog, uid: &str) -> String {
    let text = std::fs::read_to_string(log.path()).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let msg = json!({"ow_audit": 1, "host": crate::os::host::hostname(),
            "seq": v["seq"], "hash": crate::text::sha256_hex(line.as_bytes())});
        let entry = json!({"_UID": uid, "_EXE": EXE, "MESSAGE": msg.to_string()});
        out.push_str(&format!("{entry}\n"));
    }
    out
}

fn opts(anchor: &std::path::Path) -> VerifyOptions {
    VerifyOptions {
        anchor: Some(anchor.to_path_buf()),
        host: Some(crate::os::host::hostname()),
        senders: Senders {
            uids: vec![0, 999],
            exes: vec![EXE.into()],
        },
        ..Default::default()
    }
}

fn verify(log: &AuditLog, o: &VerifyOptions) -> VerifyReport {
    verify_files(&[log.path().to_path_buf()], Some(log), o)
}

#[test]
fn every_record_anchored_by_an_accepted_sender_verifies() {
    let (_d, log, anchor) = anchored(3, "999");
    let r = verify(&log, &opts(&anchor));
    assert!(r.ok, "{r:?}");
    let a = r.anchor.unwrap();
    assert_eq!(
        (a.records, a.matched, a.unanchored, a.lines.accepted),
        (4, 4, 0, 4)
    );
}

/// N1: the verifier's host decides; a chain-start naming another fails.
#[test]
fn a_chain_start_naming_another_host_fails() {
    let (_d, log, anchor) = anchored(2, "0");
    let mut o = opts(&anchor);
    o.host = Some("VM".into());
    let r = verify(&log, &o);
    assert!(!r.ok);
    let why = r.reason.unwrap();
    assert!(why.contains("the chain-start names host"), "{why}");
    assert!(why.contains("not VM"), "{why}");
    assert_eq!(r.first_bad.unwrap(), format!("{}:1", log.path().display()));
}

/// N2: lines from other senders do not vouch for anything.
#[test]
fn a_log_whose_anchor_lines_come_from_other_senders_fails() {
    let (_d, log, anchor) = anchored(2, "65534");
    let r = verify(&log, &opts(&anchor));
    assert!(!r.ok);
    assert!(
        r.reason
            .as_deref()
            .unwrap()
            .contains("holds no line for host"),
        "{r:?}"
    );
    let a = r.anchor.unwrap();
    assert_eq!((a.records, a.lines.untrusted), (0, 3));
}

/// N2: records added after the anchor stopped are reported, and fail
/// under --require-anchored.
#[test]
fn records_without_an_anchor_line_are_reported_and_can_be_required() {
    let (_d, log, anchor) = anchored(2, "999");
    log.append(rec()).unwrap();
    log.append(rec()).unwrap();
    let r = verify(&log, &opts(&anchor));
    assert!(r.ok, "{r:?}");
    let a = r.anchor.unwrap();
    assert_eq!(
        (a.matched, a.unanchored, a.first_unanchored),
        (3, 2, Some(4))
    );
    let mut o = opts(&anchor);
    o.require_anchored = true;
    let r = verify(&log, &o);
    assert!(!r.ok);
    let why = r.reason.unwrap();
    assert!(
        why.contains("2 records have no anchor line (the first is seq 4)"),
        "{why}"
    );
}

/// Records before the anchor's first line (syslog rotated) are counted,
/// not failed.
#[test]
fn records_older_than_the_anchor_are_not_compared() {
    let (d, log, _) = anchored(1, "0");
    log.append(rec()).unwrap();
    log.append(rec()).unwrap();
    let full = export(&log, "0");
    let anchor = d.path().join("later.json");
    std::fs::write(&anchor, full.lines().skip(2).collect::<Vec<_>>().join("\n")).unwrap();
    let mut o = opts(&anchor);
    o.require_anchored = true;
    let r = verify(&log, &o);
    assert!(r.ok, "{r:?}");
    let a = r.anchor.unwrap();
    assert_eq!((a.before_anchor, a.matched, a.unanchored), (2, 2, 0));
}

/// N3: odd hashes from an accepted sender are bad lines, named, no panic.
#[test]
fn odd_anchor_hashes_are_counted_not_fatal() {
    let (_d, log, anchor) = anchored(1, "0");
    let host = crate::os::host::hostname();
    let mut text = std::fs::read_to_string(&anchor).unwrap();
    for hash in ["ab", "a\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}"] {
        let msg = json!({"ow_audit": 1, "host": host, "seq": 9, "hash": hash});
        text.push_str(&format!(
            "{}\n",
            json!({"_UID": "0", "_EXE": EXE, "MESSAGE": msg.to_string()})
        ));
    }
    std::fs::write(&anchor, text).unwrap();
    let r = verify(&log, &opts(&anchor));
    assert!(r.ok, "{r:?}");
    let a = r.anchor.unwrap();
    assert_eq!(a.lines.bad, 2);
    assert_eq!(
        a.lines.examples[0],
        "line 3: seq 9: the hash is not 64 lowercase hex"
    );
}
