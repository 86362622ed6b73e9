//! `audit verify`: walks the chain and names the first bad line.
//!
//! Streaming, in bounded memory: a reader thread cuts each file (plain or
//! gzip) into chunks of whole lines, two workers hash and parse the lines of
//! a chunk (only `seq`, `prev` and `event` are read), and this thread checks
//! the links in order. At most a handful of 128 KiB chunks are alive at
//! once, whatever the log's size.

use std::path::{Path, PathBuf};

use super::anchor;
use super::read::{self, Chunks};
use super::{AuditLog, AuditRef};

/// The verification output's schema id (`schema/audit-verify.v1.schema.json`).
pub const SCHEMA: &str = "ops-warden/audit-verify/v1";

mod report;
mod walk;

pub use report::{AnchorReport, Status, VerifyOptions, VerifyReport};
use walk::{parse_chunk, parse_line, Walk, EMPTY};

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

    let mut walk = Walk::default();
    if let Some(path) = &opts.anchor {
        // Only this host's anchor lines count: the host is in the chain-start.
        let host = files.first().and_then(|f| first_host(f));
        match anchor::load(path, host.as_deref()) {
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

/// The host named by a file's chain-start (its first line).
fn first_host(file: &Path) -> Option<String> {
    let src = read::open(file).ok()??;
    let mut chunks = Chunks::new(src);
    let chunk = chunks.next_chunk().ok()??;
    let first = chunk.split(|&b| b == b'\n').next()?;
    parse_line(first).ok()?.host
}

/// The anchor's verdict (when asked): every anchor record of this host must
/// be in the log with the same hash, unless older than the files given.
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
    report.anchor = Some(AnchorReport {
        file: path.display().to_string(),
        records: anchor.by_seq.len() as u64,
        matched: walk.anchor_matched,
        not_covered,
    });
    if let Some((seq, a, b)) = anchor.duplicates.first() {
        report.fail(
            None,
            format!(
                "the anchor holds two different records for seq {seq} ({}… and {}…): \
                 the chain was restarted or rewritten",
                &a[..a.len().min(12)],
                &b[..b.len().min(12)]
            ),
        );
    }
    if let Some(a) = lacking.first() {
        report.fail(
            None,
            format!(
                "the anchor has seq {} (run {}) that the log lacks: records were removed \
                 ({} anchor records beyond the log's last seq {last})",
                a.seq,
                a.run_id.as_deref().unwrap_or("-"),
                lacking.len()
            ),
        );
    }
    if let Some((_, why)) = &walk.anchor_bad {
        report.fail(None, why.clone());
    }
    report
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
