//! `audit verify`: walks the chain and names the first bad line.
//!
//! Streaming, in bounded memory: a reader thread cuts each file (plain or
//! gzip) into chunks of whole lines, two workers hash and parse the lines of
//! a chunk (only `seq`, `prev` and `event` are read), and this thread checks
//! the links in order. At most a handful of 128 KiB chunks are alive at
//! once, whatever the log's size.

use std::path::PathBuf;

use super::anchor;
use super::{AuditLog, AuditRef};

/// The verification output's schema id (`schema/audit-verify.v1.schema.json`).
pub const SCHEMA: &str = "ops-warden/audit-verify/v1";

mod report;
mod walk;

pub use report::{AnchorReport, Status, VerifyOptions, VerifyReport};
use walk::{parse_chunk, Walk, EMPTY};

/// Verifies `files` as one chain, in order (oldest rotated file first). When
/// `live` names the live log, its end is checked against the head file and
/// a shared lock is held meanwhile.
pub fn verify_files(
    files: &[PathBuf],
    live: Option<&AuditLog>,
    opts: &VerifyOptions,
) -> VerifyReport {
    let mut report = VerifyReport::failing(files.iter().map(|f| f.display().to_string()).collect());
    // Held until the end: a check during an append sees it whole or not at all.
    let _lock = live.and_then(|l| l.shared_lock().ok().flatten());
    report.locked = _lock.is_some();

    // A fresh host: no log, no head, nothing to check.
    if let ([only], Some(log)) = (files, live) {
        if !only.exists() {
            match log.read_head() {
                Ok(None) => {
                    report.status = Status::Empty;
                    return report;
                }
                Ok(Some(h)) => {
                    report.fail(
                        Some(format!("{}:0", only.display())),
                        format!(
                            "the log is missing but its head file records seq {}: the log was deleted",
                            h.seq
                        ),
                    );
                    return report;
                }
                Err(e) => {
                    report.fail(None, format!("head file: {e}"));
                    return report;
                }
            }
        }
    }

    let mut walk = Walk {
        expect_host: opts.host.clone(),
        ..Walk::default()
    };
    if let Some(path) = &opts.anchor {
        // Only the verifier's host counts, never the one the log names.
        let Some(host) = &opts.host else {
            report.fail(None, "--anchor needs the host to compare (--host)".into());
            return report;
        };
        match anchor::load(path, host, &opts.senders) {
            Ok(a) => walk.anchor = Some(a),
            Err(e) => {
                report.fail(None, format!("anchor {}: {e}", path.display()));
                return report;
            }
        }
    }
    for file in files {
        if let Err((line, why)) = walk.file(file, &mut report) {
            report.fail(Some(format!("{}:{line}", file.display())), why);
            return finish_anchor(report, &walk, opts);
        }
    }
    report.last = walk.prev.as_ref().map(|(seq, hash)| AuditRef {
        seq: *seq,
        hash: hex::encode(hash),
    });
    report.first_seq = walk.first_seq;
    if let Some(first) = walk.first_seq {
        if first > 1 {
            report.partial = true;
            if !opts.allow_partial {
                report.fail(
                    files.first().map(|f| format!("{}:1", f.display())),
                    format!(
                        "the chain starts at seq {first}: the files before it are missing; \
                         give the rotated files oldest first (or --allow-partial)"
                    ),
                );
                return finish_anchor(report, &walk, opts);
            }
        }
    }
    if let Some(log) = live {
        match log.read_head() {
            Ok(Some(head)) => {
                report.head_checked = true;
                if report.last.as_ref() != Some(&head) {
                    let last_file = files
                        .last()
                        .map(|f| f.display().to_string())
                        .unwrap_or_default();
                    report.fail(
                        Some(format!("{last_file}:{}", walk.lines_in_file.max(1))),
                        format!(
                            "the log ends at seq {} but the head file records seq {}: \
                             records were removed from the end or the last record was altered",
                            report.last.as_ref().map_or(0, |p| p.seq),
                            head.seq
                        ),
                    );
                    return finish_anchor(report, &walk, opts);
                }
            }
            Ok(None) if opts.allow_new => {}
            Ok(None) => {
                report.fail(
                    None,
                    "the head file is missing: records may have been removed from the end \
                     (pass --allow-new only for a log that is new)"
                        .into(),
                );
                return finish_anchor(report, &walk, opts);
            }
            Err(e) => {
                report.fail(None, format!("head file: {e}"));
                return finish_anchor(report, &walk, opts);
            }
        }
    }
    report.ok = true;
    report.status = Status::Ok;
    finish_anchor(report, &walk, opts)
}

/// Verifies one file's bytes as a single-file chain (the fuzz target's entry).
pub fn verify_bytes(bytes: &[u8]) -> VerifyReport {
    let mut report = VerifyReport::failing(vec!["(bytes)".into()]);
    let mut walk = Walk::default();
    let (lines, bad, complete) = parse_chunk(bytes);
    let r = if bytes.is_empty() {
        Err((1, EMPTY.to_string()))
    } else {
        walk.chunk(lines, bad, complete, &mut report)
    };
    match r {
        Ok(()) => {
            report.ok = true;
            report.status = Status::Ok;
        }
        Err((line, why)) => report.fail(Some(format!("(bytes):{line}")), why),
    }
    report
}

/// The anchor's verdict (when asked): every anchor record of the host must
/// be in the log with the same hash (unless older than the files given), and
/// every record from the anchor's first seq on is looked up by seq.
fn finish_anchor(mut report: VerifyReport, walk: &Walk, opts: &VerifyOptions) -> VerifyReport {
    let (Some(path), Some(anchor)) = (&opts.anchor, &walk.anchor) else {
        return report;
    };
    let first = walk.first_seq.unwrap_or(1);
    let last = walk.prev.as_ref().map_or(0, |p| p.0);
    let mut lacking: Vec<&anchor::Anchored> = Vec::new();
    let mut not_covered = 0;
    for a in anchor.by_seq.values() {
        if a.seq < first {
            not_covered += 1;
        } else if a.seq > last {
            lacking.push(a);
        }
    }
    lacking.sort_by_key(|a| a.seq);
    let host = opts.host.clone().unwrap_or_default();
    report.anchor = Some(AnchorReport {
        file: path.display().to_string(),
        host: host.clone(),
        records: anchor.by_seq.len() as u64,
        matched: walk.anchor_matched,
        not_covered,
        unanchored: walk.unanchored,
        first_unanchored: walk.first_unanchored,
        before_anchor: walk.before_anchor,
        lines: anchor.stats.clone(),
    });
    for why in anchor_failures(&report, walk, anchor, &lacking, opts, &host) {
        report.fail(None, why);
    }
    report
}

/// Why the anchor does not vouch for the log, worst first.
fn anchor_failures(
    report: &VerifyReport,
    walk: &Walk,
    anchor: &anchor::Anchor,
    lacking: &[&anchor::Anchored],
    opts: &VerifyOptions,
    host: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some((seq, a, b)) = anchor.duplicates.first() {
        out.push(format!(
            "the anchor holds two different records for seq {seq} ({}… and {}…): \
             the chain was restarted or rewritten",
            short(a),
            short(b)
        ));
    }
    if let Some(a) = lacking.first() {
        out.push(format!(
            "the anchor has seq {} (run {}) that the log lacks: records were removed \
             ({} anchor records beyond the log's last seq {})",
            a.seq,
            a.run_id.as_deref().unwrap_or("-"),
            lacking.len(),
            walk.prev.as_ref().map_or(0, |p| p.0)
        ));
    }
    if let Some((_, why)) = &walk.anchor_bad {
        out.push(why.clone());
    }
    // Files given from seq k on must follow what the anchor kept for k-1:
    // a chain restarted after its history was deleted does not.
    if let (Some(k), Some(prev)) = (walk.first_seq, walk.first_prev) {
        let kept = k.checked_sub(1).and_then(|p| anchor.by_seq.get(&p));
        if let Some(a) = kept.filter(|a| a.hash != hex::encode(prev)) {
            out.push(format!(
                "the first file starts at seq {k} but does not follow the anchored seq {} \
                 (run {}): the records before it were removed and the chain restarted",
                a.seq,
                a.run_id.as_deref().unwrap_or("-")
            ));
        }
    }
    let s = &anchor.stats;
    if report.records > 0 && s.accepted == 0 {
        out.push(format!(
            "the anchor holds no line for host {host} from the lane user or root running \
             ops-warden ({} from other senders, {} without sender fields ignored): \
             nothing vouches for this log",
            s.untrusted, s.unattributed
        ));
    } else if report.records > 0 && walk.anchor_matched == 0 {
        out.push(format!(
            "no record of the log has an anchor line for host {host}: nothing vouches for it"
        ));
    }
    if opts.require_anchored && walk.unanchored > 0 {
        out.push(format!(
            "{} records have no anchor line (the first is seq {}): added to the log, \
             or their anchor was lost",
            walk.unanchored,
            walk.first_unanchored.unwrap_or(0)
        ));
    }
    out
}

/// The start of a hash for a message (whole characters only).
fn short(hash: &str) -> String {
    hash.chars().take(12).collect()
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

#[cfg(test)]
mod anchored_tests;
