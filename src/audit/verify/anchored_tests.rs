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

/// Review of N1-N4: the history deleted and the chain restarted from the
/// state folder's mark does not pass as a partial set under the anchor.
#[test]
fn a_chain_restarted_after_its_history_was_deleted_fails_even_as_a_partial_set() {
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let log = AuditLog::new(d.path().join("audit.jsonl")).with_seq_mark(&state);
    for _ in 0..3 {
        log.append(rec()).unwrap();
    }
    let before = export(&log, "0");
    std::fs::remove_file(log.path()).unwrap();
    std::fs::remove_file(d.path().join("audit.jsonl.head")).unwrap();
    log.append(rec()).unwrap(); // chain-start 5 (new chain, prev genesis), record 6
    let anchor = d.path().join("journal.json");
    std::fs::write(&anchor, before + &export(&log, "0")).unwrap();
    let mut o = opts(&anchor);
    o.allow_partial = true;
    o.require_anchored = true;
    let r = verify(&log, &o);
    assert!(!r.ok, "{r:?}");
    let why = r.reason.unwrap();
    assert!(
        why.contains("starts at seq 5 but does not follow the anchored seq 4"),
        "{why}"
    );
    // A genuine rotation (the first file's chain-start follows seq 4) passes.
    let (d2, log2, _) = anchored(3, "0");
    let lines: Vec<String> = std::fs::read_to_string(log2.path())
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let anchor2 = d2.path().join("all.json");
    std::fs::write(&anchor2, export(&log2, "0")).unwrap();
    let rotated = d2.path().join("audit.jsonl.1");
    std::fs::write(&rotated, lines.join("\n") + "\n").unwrap();
    std::fs::write(log2.path(), "").unwrap();
    log2.append(rec()).unwrap(); // chain-start 5 after the rotation, record 6
    std::fs::write(
        &anchor2,
        export(&log2, "0") + &std::fs::read_to_string(&anchor2).unwrap(),
    )
    .unwrap();
    let mut o = opts(&anchor2);
    o.allow_partial = true;
    let r = verify(&log2, &o);
    assert!(r.ok, "{r:?}");
    assert_eq!(r.anchor.unwrap().not_covered, 4);
}
