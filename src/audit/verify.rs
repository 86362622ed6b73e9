//! `audit verify`: walks the chain and names the first bad line.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::{sha256_hex, AuditLog, AuditRef, GENESIS};

/// The result of a verification, printed as JSON.
#[derive(Debug, Serialize)]
pub struct VerifyReport {
    pub ok: bool,
    pub files: Vec<String>,
    pub records: u64,
    pub first_seq: Option<u64>,
    pub last: Option<AuditRef>,
    /// `file:line` of the first record that is wrong.
    pub first_bad: Option<String>,
    pub reason: Option<String>,
    /// Whether the end of the chain was checked against the head file.
    pub head_checked: bool,
}

impl VerifyReport {
    /// Nothing verified yet (`ok` only once the walk has finished).
    fn failing(files: Vec<String>) -> VerifyReport {
        VerifyReport {
            ok: false,
            files,
            records: 0,
            first_seq: None,
            last: None,
            first_bad: None,
            reason: None,
            head_checked: false,
        }
    }
}

/// Verifies `files` as one chain, in order (oldest rotated file first). When
/// `live` names the live log, its end is checked against the head file.
pub fn verify_files(files: &[PathBuf], live: Option<&AuditLog>) -> VerifyReport {
    let mut report = VerifyReport::failing(files.iter().map(|f| f.display().to_string()).collect());
    let mut prev: Option<AuditRef> = None;
    for file in files {
        if let Err((line, why)) = walk(file, &mut prev, &mut report) {
            report.first_bad = Some(format!("{}:{line}", file.display()));
            report.reason = Some(why);
            return report;
        }
    }
    report.last = prev.clone();
    if let Some(log) = live {
        match log.read_head() {
            Ok(Some(head)) => {
                report.head_checked = true;
                if prev.as_ref() != Some(&head) {
                    let last_file = files
                        .last()
                        .map(|f| f.display().to_string())
                        .unwrap_or_default();
                    report.first_bad = Some(format!("{last_file}:{}", last_line_no(files.last())));
                    report.reason = Some(format!(
                        "the log ends at seq {} but the head file records seq {}: \
                         records were removed from the end or the last record was altered",
                        prev.map_or(0, |p| p.seq),
                        head.seq
                    ));
                    return report;
                }
            }
            Ok(None) => {}
            Err(e) => {
                report.reason = Some(e);
                return report;
            }
        }
    }
    report.ok = true;
    report
}

fn last_line_no(file: Option<&PathBuf>) -> usize {
    file.and_then(|f| std::fs::read(f).ok())
        .map(|b| b.iter().filter(|&&c| c == b'\n').count().max(1))
        .unwrap_or(1)
}

fn walk(
    file: &Path,
    prev: &mut Option<AuditRef>,
    report: &mut VerifyReport,
) -> Result<(), (usize, String)> {
    let bytes = std::fs::read(file).map_err(|e| (0, format!("cannot read: {}", e.kind())))?;
    walk_bytes(&bytes, prev, report)
}

/// Verifies one file's bytes as a single-file chain (the fuzz target's entry).
pub fn verify_bytes(bytes: &[u8]) -> VerifyReport {
    let mut report = VerifyReport::failing(vec!["(bytes)".into()]);
    let mut prev = None;
    match walk_bytes(bytes, &mut prev, &mut report) {
        Ok(()) => {
            report.ok = true;
            report.last = prev;
        }
        Err((line, why)) => {
            report.first_bad = Some(format!("(bytes):{line}"));
            report.reason = Some(why);
        }
    }
    report
}

fn walk_bytes(
    bytes: &[u8],
    prev: &mut Option<AuditRef>,
    report: &mut VerifyReport,
) -> Result<(), (usize, String)> {
    if bytes.is_empty() {
        return Err((
            1,
            "file is empty (a log always starts with chain-start)".into(),
        ));
    }
    if bytes.last() != Some(&b'\n') {
        let n = bytes.iter().filter(|&&c| c == b'\n').count() + 1;
        return Err((n, "last record is incomplete (truncated)".into()));
    }
    for (i, raw) in bytes[..bytes.len() - 1].split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        let line = std::str::from_utf8(raw).map_err(|_| (n, "not UTF-8".to_string()))?;
        let v: Value =
            serde_json::from_str(line).map_err(|_| (n, "record does not parse".to_string()))?;
        let seq = v
            .get("seq")
            .and_then(Value::as_u64)
            .ok_or((n, "no seq".to_string()))?;
        let rec_prev = v
            .get("prev")
            .and_then(Value::as_str)
            .ok_or((n, "no prev".to_string()))?;
        if n == 1 {
            if v.get("event").and_then(Value::as_str) != Some("chain-start") {
                return Err((
                    1,
                    "file does not begin with chain-start: leading records were removed".into(),
                ));
            }
            match prev {
                None if seq == 1 && rec_prev != GENESIS => {
                    return Err((
                        1,
                        "first record of the chain does not start at genesis".into(),
                    ))
                }
                None => report.first_seq = Some(seq),
                Some(p) => {
                    check_link(p, seq, rec_prev).map_err(|w| (1, format!("{w} (across files)")))?
                }
            }
        } else if let Some(p) = prev {
            if let Err(w) = check_link(p, seq, rec_prev) {
                // A continuous seq with a broken link means the line before was altered.
                return Err(if seq == p.seq + 1 { (n - 1, w) } else { (n, w) });
            }
        }
        *prev = Some(AuditRef {
            seq,
            hash: sha256_hex(raw),
        });
        report.records += 1;
    }
    Ok(())
}

fn check_link(prev: &AuditRef, seq: u64, rec_prev: &str) -> Result<(), String> {
    if seq != prev.seq + 1 {
        return Err(format!(
            "seq {seq} follows seq {}: records removed or reordered",
            prev.seq
        ));
    }
    if rec_prev != prev.hash {
        return Err(format!(
            "seq {}: record altered (its hash no longer matches the next record's prev)",
            prev.seq
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map};

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
        verify_files(&[log.path().to_path_buf()], Some(log))
    }

    #[test]
    fn intact_chain_verifies() {
        let (_d, log) = setup(5);
        let r = check(&log);
        assert!(r.ok, "{r:?}");
        assert_eq!(r.records, 6);
        assert_eq!(r.last.unwrap().seq, 6);
    }

    #[test]
    fn edits_removals_reorders_and_truncation_are_caught() {
        let lines = |log: &AuditLog| -> Vec<String> {
            std::fs::read_to_string(log.path())
                .unwrap()
                .lines()
                .map(String::from)
                .collect()
        };
        let write = |log: &AuditLog, l: &[String]| {
            std::fs::write(
                log.path(),
                l.iter().map(|s| format!("{s}\n")).collect::<String>(),
            )
            .unwrap()
        };
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
        assert!(!check(&log).ok);
    }

    #[test]
    fn rotation_keeps_the_chain() {
        let (d, log) = setup(3);
        let rotated = d.path().join("audit.jsonl.1");
        std::fs::rename(log.path(), &rotated).unwrap();
        log.append(rec("intent")).unwrap();
        log.append(rec("result")).unwrap();
        let both = verify_files(&[rotated.clone(), log.path().to_path_buf()], Some(&log));
        assert!(both.ok, "{both:?}");
        assert_eq!(both.records, 4 + 3);
        // the new file alone verifies too, anchored at its chain-start
        let alone = check(&log);
        assert!(alone.ok, "{alone:?}");
        assert_eq!(alone.first_seq, Some(5));
        // but out of order it does not
        assert!(!verify_files(&[log.path().to_path_buf(), rotated], None).ok);
    }
}
