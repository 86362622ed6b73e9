//! `audit verify`: walks the chain and names the first bad line.
//!
//! Streaming, in bounded memory: a reader thread cuts each file (plain or
//! gzip) into chunks of whole lines, two workers hash and parse the lines of
//! a chunk (only `seq`, `prev` and `event` are read), and this thread checks
//! the links in order. At most a handful of 128 KiB chunks are alive at
//! once, whatever the log's size.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, sync_channel, Receiver};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::anchor::{self, Anchor};
use super::read::{self, Chunks};
use super::{AuditLog, AuditRef};

/// The verification output's schema id (`schema/audit-verify.v1.schema.json`).
pub const SCHEMA: &str = "ops-warden/audit-verify/v1";

/// What the caller vouches for.
#[derive(Debug, Default, Clone)]
pub struct VerifyOptions {
    /// The log is new: a missing head file is expected.
    pub allow_new: bool,
    /// The first file's predecessors are knowingly not given.
    pub allow_partial: bool,
    /// A syslog file holding the anchor lines.
    pub anchor: Option<PathBuf>,
}

/// The verdict in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Ok,
    Broken,
    /// No log yet (a fresh host): nothing to verify.
    Empty,
}

/// What the anchor comparison found.
#[derive(Debug, Default, Serialize)]
pub struct AnchorReport {
    pub file: String,
    /// Anchor lines of this host.
    pub records: u64,
    /// Of those, found in the log with the same hash.
    pub matched: u64,
    /// Older than the first file given (rotated away): not compared.
    pub not_covered: u64,
}

/// The result of a verification, printed as JSON (or a summary).
#[derive(Debug, Serialize)]
pub struct VerifyReport {
    pub schema: &'static str,
    pub ok: bool,
    pub status: Status,
    pub files: Vec<String>,
    pub records: u64,
    pub first_seq: Option<u64>,
    pub last: Option<AuditRef>,
    /// `file:line` of the first record that is wrong.
    pub first_bad: Option<String>,
    pub reason: Option<String>,
    /// Whether the end of the chain was checked against the head file.
    pub head_checked: bool,
    /// The first file starts after seq 1 and its predecessors were not given.
    pub partial: bool,
    /// A shared lock on the live log was held (no append was half-done).
    pub locked: bool,
    pub anchor: Option<AnchorReport>,
}

impl VerifyReport {
    /// Nothing verified yet (`ok` only once every check has passed).
    fn failing(files: Vec<String>) -> VerifyReport {
        VerifyReport {
            schema: SCHEMA,
            ok: false,
            status: Status::Broken,
            files,
            records: 0,
            first_seq: None,
            last: None,
            first_bad: None,
            reason: None,
            head_checked: false,
            partial: false,
            locked: false,
            anchor: None,
        }
    }

    fn fail(&mut self, at: Option<String>, why: String) {
        self.ok = false;
        self.status = Status::Broken;
        if self.reason.is_none() {
            self.first_bad = at;
            self.reason = Some(why);
        }
    }

    /// A short human summary (for a terminal).
    pub fn summary(&self) -> String {
        let mut s = match self.status {
            Status::Ok => format!(
                "ok: {} records, seq {}..{}",
                self.records,
                self.first_seq.unwrap_or(0),
                self.last.as_ref().map_or(0, |l| l.seq)
            ),
            Status::Empty => "no records yet (no audit log on this host)".to_string(),
            Status::Broken => format!(
                "BROKEN at {}: {}",
                self.first_bad.as_deref().unwrap_or("-"),
                super::escape_untrusted(self.reason.as_deref().unwrap_or("-"), 400)
            ),
        };
        if self.partial {
            s.push_str("; partial (earlier files not given)");
        }
        if let Some(a) = &self.anchor {
            s.push_str(&format!(
                "; anchor: {} of {} records matched, {} older",
                a.matched, a.records, a.not_covered
            ));
        }
        s
    }
}

/// One line, as the workers see it.
struct LineInfo {
    seq: u64,
    prev: [u8; 32],
    hash: [u8; 32],
    chain_start: bool,
    host: Option<String>,
}

#[derive(Deserialize)]
struct Minimal<'a> {
    seq: u64,
    #[serde(borrow)]
    prev: &'a str,
    #[serde(default, borrow)]
    event: Option<&'a str>,
    #[serde(default, borrow)]
    host: Option<&'a str>,
}

fn parse_line(raw: &[u8]) -> Result<LineInfo, String> {
    let m: Minimal = serde_json::from_slice(raw).map_err(|e| {
        if e.is_data() {
            "record lacks seq or prev".to_string()
        } else {
            "record does not parse".to_string()
        }
    })?;
    let mut prev = [0u8; 32];
    hex::decode_to_slice(m.prev, &mut prev).map_err(|_| "prev is not a SHA-256".to_string())?;
    let chain_start = m.event == Some("chain-start");
    Ok(LineInfo {
        seq: m.seq,
        prev,
        hash: Sha256::digest(raw).into(),
        chain_start,
        host: if chain_start {
            m.host.map(String::from)
        } else {
            None
        },
    })
}

/// A chunk of whole lines and its place in the file.
type Numbered = (usize, Vec<u8>);

/// A chunk's lines; on the first bad line, its index and why.
type Parsed = (Vec<LineInfo>, Option<(usize, String)>, bool);

fn parse_chunk(chunk: &[u8]) -> Parsed {
    let complete = chunk.last() == Some(&b'\n');
    let body = if complete {
        &chunk[..chunk.len() - 1]
    } else {
        chunk
    };
    let mut out = Vec::with_capacity(chunk.len() / 256);
    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        match parse_line(raw) {
            Ok(l) => out.push(l),
            Err(e) => return (out, Some((i, e)), complete),
        }
    }
    (out, None, complete)
}

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

const EMPTY: &str = "file is empty (a log always starts with chain-start)";

/// The state carried from line to line and file to file.
#[derive(Default)]
struct Walk {
    prev: Option<(u64, [u8; 32])>,
    first_seq: Option<u64>,
    host: Option<String>,
    lines_in_file: usize,
    anchor: Option<Anchor>,
    anchor_matched: u64,
    anchor_bad: Option<(u64, String)>,
}

impl Walk {
    fn file(&mut self, file: &Path, report: &mut VerifyReport) -> Result<(), (usize, String)> {
        self.lines_in_file = 0;
        let src = read::open(file)
            .map_err(|e| (0, e))?
            .ok_or((0, "no such file".to_string()))?;
        let (tx, rx) = sync_channel::<Numbered>(2);
        let (done_tx, done_rx) = channel::<(usize, Parsed)>();
        let rx = Arc::new(Mutex::new(rx));
        std::thread::scope(|s| -> Result<(), (usize, String)> {
            let reader = s.spawn(move || -> Result<usize, String> {
                let mut chunks = Chunks::new(src);
                let mut n = 0;
                while let Some(c) = chunks.next_chunk()? {
                    if tx.send((n, c)).is_err() {
                        break; // the walk stopped early
                    }
                    n += 1;
                }
                Ok(n)
            });
            for _ in 0..2 {
                let rx: Arc<Mutex<Receiver<Numbered>>> = Arc::clone(&rx);
                let done = done_tx.clone();
                s.spawn(move || loop {
                    let next = rx.lock().map(|r| r.recv());
                    let Ok(Ok((i, chunk))) = next else { break };
                    if done.send((i, parse_chunk(&chunk))).is_err() {
                        break;
                    }
                });
            }
            drop(done_tx);
            let mut pending: BTreeMap<usize, Parsed> = BTreeMap::new();
            let mut want = 0;
            let mut result = Ok(());
            for (i, parsed) in done_rx.iter() {
                pending.insert(i, parsed);
                while let Some((lines, bad, complete)) = pending.remove(&want) {
                    want += 1;
                    if result.is_ok() {
                        result = self.chunk(lines, bad, complete, report);
                    }
                }
                if result.is_err() {
                    break;
                }
            }
            drop(done_rx);
            drop(rx);
            let read = reader
                .join()
                .unwrap_or_else(|_| Err("reader panicked".into()));
            result?;
            match read {
                Ok(0) => Err((1, EMPTY.to_string())),
                Ok(_) => Ok(()),
                Err(e) => Err((self.lines_in_file + 1, e)),
            }
        })
    }

    fn chunk(
        &mut self,
        lines: Vec<LineInfo>,
        bad: Option<(usize, String)>,
        complete: bool,
        report: &mut VerifyReport,
    ) -> Result<(), (usize, String)> {
        let base = self.lines_in_file;
        let count = lines.len();
        for (i, l) in lines.into_iter().enumerate() {
            self.line(base + i + 1, l)?;
            report.records += 1;
        }
        self.lines_in_file += count;
        if let Some((_, why)) = bad {
            let n = self.lines_in_file + 1;
            // The last line without a newline is a truncated record.
            return Err((
                n,
                if complete {
                    why
                } else {
                    "last record is incomplete (truncated)".into()
                },
            ));
        }
        if !complete {
            return Err((
                self.lines_in_file.max(1),
                "last record is incomplete (truncated)".into(),
            ));
        }
        Ok(())
    }

    fn line(&mut self, n: usize, l: LineInfo) -> Result<(), (usize, String)> {
        if n == 1 {
            if !l.chain_start {
                return Err((
                    1,
                    "file does not begin with chain-start: leading records were removed".into(),
                ));
            }
            match &self.prev {
                None if l.seq == 1 && l.prev != [0u8; 32] => {
                    return Err((
                        1,
                        "first record of the chain does not start at genesis".into(),
                    ))
                }
                None => {
                    self.first_seq = Some(l.seq);
                    self.host = l.host.clone();
                }
                Some(p) => {
                    check_link(p, l.seq, &l.prev).map_err(|w| (1, format!("{w} (across files)")))?
                }
            }
        } else if let Some(p) = &self.prev {
            if let Err(w) = check_link(p, l.seq, &l.prev) {
                // A continuous seq with a broken link means the line before was altered.
                return Err(if l.seq == p.0 + 1 { (n - 1, w) } else { (n, w) });
            }
        }
        if let Some(a) = &self.anchor {
            if let Some(kept) = a.by_seq.get(&l.seq) {
                if kept.hash == hex::encode(l.hash) {
                    self.anchor_matched += 1;
                } else if self.anchor_bad.is_none() {
                    self.anchor_bad = Some((
                        l.seq,
                        format!(
                            "seq {}: the anchor keeps a different record (run {}): the log was rewritten",
                            l.seq,
                            a.by_seq[&l.seq].run_id.as_deref().unwrap_or("-")
                        ),
                    ));
                }
            }
        }
        self.prev = Some((l.seq, l.hash));
        Ok(())
    }
}

fn check_link(prev: &(u64, [u8; 32]), seq: u64, rec_prev: &[u8; 32]) -> Result<(), String> {
    if seq != prev.0 + 1 {
        return Err(format!(
            "seq {seq} follows seq {}: records removed or reordered",
            prev.0
        ));
    }
    if rec_prev != &prev.1 {
        return Err(format!(
            "seq {}: record altered (its hash no longer matches the next record's prev)",
            prev.0
        ));
    }
    Ok(())
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
mod tests {
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
}
