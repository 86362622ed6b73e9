use super::*;
use serde_json::{json, Map, Value};

fn rec(event: &str) -> Map<String, Value> {
    json!({"event": event, "note": "x"})
        .as_object()
        .unwrap()
        .clone()
}

fn setup(n: usize) -> (tempfile::TempDir, AuditLog) {
    let d = tempfile::tempdir().unwrap();
    let log = AuditLog::new(d.path().join("audit.jsonl"));
    for _ in 0..n {
        log.append(rec("intent")).unwrap();
    }
    (d, log)
}

fn check(log: &AuditLog) -> VerifyReport {
    verify_files(
        &[log.path().to_path_buf()],
        Some(log),
        &VerifyOptions::default(),
    )
}

fn lines(log: &AuditLog) -> Vec<String> {
    std::fs::read_to_string(log.path())
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn write(log: &AuditLog, l: &[String]) {
    std::fs::write(
        log.path(),
        l.iter().map(|s| format!("{s}\n")).collect::<String>(),
    )
    .unwrap()
}

#[test]
fn intact_chain_verifies() {
    let (_d, log) = setup(5);
    let r = check(&log);
    assert!(r.ok, "{r:?}");
    assert_eq!(r.status, Status::Ok);
    assert_eq!(r.records, 6);
    assert_eq!(r.last.unwrap().seq, 6);
    assert!(r.locked, "a shared lock was held");
}

#[test]
fn a_long_log_is_checked_across_chunks() {
    // Over several 128 KiB chunks, with workers finishing out of order.
    let (_d, log) = setup(3000);
    let r = check(&log);
    assert!(r.ok, "{r:?}");
    assert_eq!(r.records, 3001);
    let mut l = lines(&log);
    l[2500] = l[2500].replace("\"x\"", "\"y\"");
    write(&log, &l);
    let r = check(&log);
    assert!(r.first_bad.unwrap().ends_with(":2501"), "{:?}", r.reason);
}

#[test]
fn edits_removals_reorders_and_truncation_are_caught() {
    // one byte changed in line 3
    let (_d, log) = setup(5);
    let mut l = lines(&log);
    l[2] = l[2].replace("\"x\"", "\"y\"");
    write(&log, &l);
    let r = check(&log);
    assert!(!r.ok);
    assert!(r.first_bad.unwrap().ends_with(":3"));
    // line 4 removed
    let (_d, log) = setup(5);
    let mut l = lines(&log);
    l.remove(3);
    write(&log, &l);
    let r = check(&log);
    assert!(r.first_bad.unwrap().ends_with(":4"), "{:?}", r.reason);
    // two lines swapped
    let (_d, log) = setup(5);
    let mut l = lines(&log);
    l.swap(2, 3);
    write(&log, &l);
    assert!(!check(&log).ok);
    // last line removed: only the head file can tell
    let (_d, log) = setup(5);
    let mut l = lines(&log);
    l.pop();
    write(&log, &l);
    let r = check(&log);
    assert!(!r.ok && r.head_checked, "{r:?}");
    // and the writer refuses to extend it
    assert_eq!(
        log.append(rec("intent")).unwrap_err().code(),
        "audit-write-failed"
    );
    // first line removed
    let (_d, log) = setup(3);
    let mut l = lines(&log);
    l.remove(0);
    write(&log, &l);
    assert!(check(&log).first_bad.unwrap().ends_with(":1"));
    // truncated mid-record
    let (_d, log) = setup(3);
    let body = std::fs::read(log.path()).unwrap();
    std::fs::write(log.path(), &body[..body.len() - 5]).unwrap();
    let r = check(&log);
    assert!(!r.ok);
    assert!(r.reason.unwrap().contains("truncated"));
}

#[test]
fn a_missing_head_fails_closed_and_the_writer_stops() {
    // Tail records and the head removed: no longer "ok".
    let (_d, log) = setup(5);
    let mut l = lines(&log);
    l.truncate(3);
    write(&log, &l);
    std::fs::remove_file(format!("{}.head", log.path().display())).unwrap();
    let r = check(&log);
    assert!(!r.ok, "{r:?}");
    assert!(r.reason.unwrap().contains("head file is missing"));
    // and the writer will not reuse the removed seqs
    let e = log.append(rec("intent")).unwrap_err().to_string();
    assert!(e.contains("head file is missing"), "{e}");
    // --allow-new is the caller's word that the log is new
    let r = verify_files(
        &[log.path().to_path_buf()],
        Some(&log),
        &VerifyOptions {
            allow_new: true,
            ..Default::default()
        },
    );
    assert!(r.ok, "{r:?}");
}

#[test]
fn a_fresh_host_has_no_records_yet_and_a_deleted_log_is_broken() {
    let d = tempfile::tempdir().unwrap();
    let log = AuditLog::new(d.path().join("audit.jsonl"));
    let r = check(&log);
    assert_eq!(r.status, Status::Empty);
    assert!(!r.ok);
    log.append(rec("intent")).unwrap();
    std::fs::remove_file(log.path()).unwrap();
    let r = check(&log);
    assert_eq!(r.status, Status::Broken);
    assert!(r.reason.unwrap().contains("log was deleted"));
}

#[test]
fn rotation_keeps_the_chain_and_a_lone_later_file_is_partial() {
    let (d, log) = setup(3);
    let rotated = d.path().join("audit.jsonl.1");
    std::fs::rename(log.path(), &rotated).unwrap();
    log.append(rec("intent")).unwrap();
    log.append(rec("result")).unwrap();
    let both = verify_files(
        &[rotated.clone(), log.path().to_path_buf()],
        Some(&log),
        &VerifyOptions::default(),
    );
    assert!(both.ok, "{both:?}");
    assert_eq!(both.records, 4 + 3);
    // the new file alone is reported: its predecessor is missing
    let alone = check(&log);
    assert!(!alone.ok && alone.partial, "{alone:?}");
    assert_eq!(alone.first_seq, Some(5));
    let allowed = verify_files(
        &[log.path().to_path_buf()],
        Some(&log),
        &VerifyOptions {
            allow_partial: true,
            ..Default::default()
        },
    );
    assert!(allowed.ok && allowed.partial, "{allowed:?}");
    // out of order it does not verify
    assert!(
        !verify_files(
            &[log.path().to_path_buf(), rotated],
            None,
            &VerifyOptions::default()
        )
        .ok
    );
}

#[test]
fn gzip_rotated_files_are_read() {
    let (d, log) = setup(4);
    let rotated = d.path().join("audit.jsonl.1.gz");
    let body = std::fs::read(log.path()).unwrap();
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&rotated).unwrap(),
        flate2::Compression::default(),
    );
    std::io::Write::write_all(&mut enc, &body).unwrap();
    enc.finish().unwrap();
    std::fs::remove_file(log.path()).unwrap();
    log.append(rec("intent")).unwrap();
    let r = verify_files(
        &[rotated, log.path().to_path_buf()],
        Some(&log),
        &VerifyOptions::default(),
    );
    assert!(r.ok, "{r:?}");
    assert_eq!(r.records, 5 + 2);
}
