//! Appending to the audit log.

use std::cell::RefCell;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::anchor::Syslog;
use super::sha256_hex;
use crate::error::Error;
use crate::os::dir::{Access, WorkDir};
use crate::os::lock::{lock_shared_with_deadline, lock_with_deadline, LockError};
use crate::os::signals::Signals;
use nix::fcntl::Flock;

/// The `prev` of the very first record of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Longest record line accepted.
pub const MAX_RECORD: usize = 16 << 10;

/// Where a record landed: its sequence number and hash (for the evidence).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AuditRef {
    #[cfg_attr(test, schemars(range(min = 1)))]
    pub seq: u64,
    /// SHA-256 (hex) of the record's line.
    #[cfg_attr(test, schemars(regex(pattern = r"^[0-9a-f]{64}$")))]
    pub hash: String,
}

/// How long an append waits for the audit lock when nothing says otherwise.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// The audit log at a configured path.
///
/// Everything in the log's folder is done relative to the folder's
/// descriptor ([`WorkDir`]): the folder belongs to the lane user while root
/// may be the one appending (attended use).
pub struct AuditLog {
    path: PathBuf,
    wait: Duration,
    signals: Option<Signals>,
    /// The anchor: each record's summary also goes to syslog.
    syslog: Option<Syslog>,
    /// A folder outside the log's (the state folder) that keeps the highest
    /// seq written, so a chain restarted after its log and head were
    /// removed continues the numbering instead of reusing it.
    mark: Option<PathBuf>,
    /// The config's lane user: the log's folder and the state folder are its.
    lane: Option<u32>,
    /// Seqs of records this process wrote that syslog did not take: the next
    /// record says so, and so does the evidence ([`AuditLog::unanchored`]).
    unanchored: RefCell<Vec<u64>>,
}

/// The high-water mark's file name in the state folder.
const MARK: &str = "audit.seq";

/// The writers' lock is the folder owner's alone. flock ignores how a file
/// was opened, so an auditor (the folder's group, often `adm`) who could
/// read it could hold it and turn every run `busy`. A lock found with
/// group or other bits is set to this mode on its descriptor (the open
/// checked it is the folder owner's; that owner or root may change it).
const LOCK_MODE: u32 = 0o600;

impl AuditLog {
    pub fn new(path: impl Into<PathBuf>) -> AuditLog {
        AuditLog {
            path: path.into(),
            wait: DEFAULT_WAIT,
            signals: None,
            syslog: None,
            mark: None,
            lane: None,
            unanchored: RefCell::new(Vec::new()),
        }
    }

    /// Trusts folders the lane user owns (see [`WorkDir::open`]).
    pub fn trusting(mut self, lane: Option<u32>) -> AuditLog {
        self.lane = lane;
        self
    }

    /// Anchors every record in syslog (best effort: a missing socket is
    /// warned about, not fatal; the gap shows in the anchor).
    pub fn anchored_to(mut self, syslog: Option<Syslog>) -> AuditLog {
        self.syslog = syslog;
        self
    }

    /// Keeps the highest seq written in `folder` too (see [`AuditLog`]).
    pub fn with_seq_mark(mut self, folder: &Path) -> AuditLog {
        self.mark = Some(folder.to_path_buf());
        self
    }

    fn read_mark(&self) -> Option<u64> {
        let dir = WorkDir::open(self.mark.as_ref()?, self.lane).ok()?;
        let bytes = dir.read_file(MARK, 64).ok()??;
        std::str::from_utf8(&bytes).ok()?.trim().parse().ok()
    }

    fn write_mark(&self, seq: u64) {
        let Some(folder) = &self.mark else { return };
        let r = WorkDir::open(folder, self.lane)
            .and_then(|dir| dir.replace_file(MARK, format!("{seq}\n").as_bytes(), 0o640));
        if let Err(e) = r {
            tracing::warn!("audit seq mark not kept: {e}");
        }
    }

    /// Takes the lock shared (readers: `audit verify`), waiting as appends
    /// do. `Ok(None)` when no lock file exists (no writer ever ran).
    pub fn shared_lock(&self) -> Result<Option<Flock<File>>, String> {
        let (folder, name) = self.names()?;
        let dir = WorkDir::open(&folder, self.lane)?;
        let Some(f) = dir.open_file(&format!("{name}.lock"), Access::Read, None)? else {
            return Ok(None);
        };
        lock_shared_with_deadline(f, self.wait, "the audit log")
            .map(Some)
            .map_err(|e| format!("{e:?}"))
    }

    /// Waits at most `wait` for the audit lock; a signal in `signals` ends
    /// the wait of an [`append`](Self::append) early.
    pub fn waiting(mut self, wait: Duration, signals: &Signals) -> AuditLog {
        self.wait = wait;
        self.signals = Some(signals.clone());
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn names(&self) -> Result<(PathBuf, String), String> {
        let folder = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = self
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or("the log path has no UTF-8 file name")?;
        Ok((folder, name.to_string()))
    }

    /// Appends one record (`fields` plus `seq`, `prev`, `ts`) and returns its
    /// ref. Waiting for the lock ends in `busy` at the deadline and in
    /// `aborted` when a signal arrives: nothing was done yet.
    pub fn append(&self, fields: Map<String, Value>) -> Result<AuditRef, Error> {
        self.append_inner(fields, true)
    }

    /// Appends the record of work that already happened: a signal does not
    /// end the wait (the deadline still does), since the work must be recorded.
    pub fn append_final(&self, fields: Map<String, Value>) -> Result<AuditRef, Error> {
        self.append_inner(fields, false)
    }

    fn append_inner(
        &self,
        fields: Map<String, Value>,
        interruptible: bool,
    ) -> Result<AuditRef, Error> {
        let fail = |m: String| Error::AuditWrite(format!("{}: {m}", self.path.display()));
        let (folder, name) = self.names().map_err(fail)?;
        let dir = WorkDir::open(&folder, self.lane).map_err(fail)?;
        let lock_name = format!("{name}.lock");
        let lock_file = dir
            .open_file(&lock_name, Access::ReadWrite, Some(LOCK_MODE))
            .map_err(|m| fail(format!("lock: {m}")))?
            .ok_or_else(|| fail("lock: vanished".into()))?;
        let signals = if interruptible {
            self.signals.as_ref()
        } else {
            None
        };
        let guard = lock_with_deadline(lock_file, self.wait, signals, "the audit log").map_err(
            |e| match e {
                LockError::Busy | LockError::Aborted(_) => e.into_error(),
                LockError::Io(m) => fail(format!("lock: {m}")),
            },
        )?;
        // The lock is only worth something if its name still leads to it: a
        // file swapped while we waited (by the folder's owner) is not ours.
        if !dir.still_names(&lock_name, &guard).map_err(fail)? {
            return Err(fail(
                "the lock file was replaced while waiting for it; refusing to write".into(),
            ));
        }
        self.append_locked(&dir, &name, fields).map_err(fail)
    }

    /// Writes the record (after a chain-start when the file is new), makes
    /// it durable and moves the head, and only then sends the anchor lines:
    /// a run killed at any point leaves a log the next run accepts, and a
    /// syslog that stopped reading costs a note, never the lane.
    fn append_locked(
        &self,
        dir: &WorkDir,
        name: &str,
        mut fields: Map<String, Value>,
    ) -> Result<AuditRef, String> {
        let mut file = dir
            .open_file(name, Access::Append, Some(0o640))?
            .ok_or("the log vanished")?;
        let len = file.metadata().map_err(|e| e.to_string())?.len();
        let head = read_head_in(dir, name)?;
        let mut lines = Vec::new();
        let last = if len == 0 {
            let (start, f) = self.chain_start(head.as_ref());
            let (r, line) = self
                .write_record(&mut file, &start, f)
                .inspect_err(|_| cut_back(&file, len))?;
            lines.push(line);
            r
        } else {
            let (end, recovered) = self.end_of_chain(&mut file, len, head.as_ref())?;
            if let Some(r) = recovered {
                // A run was killed between its record and the head: the head
                // catches up first, and the next record says so.
                write_head_in(dir, name, &end)?;
                fields.insert("recovered".into(), r);
            }
            end
        };
        let unanchored = self.unanchored.borrow().clone();
        if !unanchored.is_empty() {
            fields.insert("unanchored".into(), unanchored.into());
        }
        let (last, line) = self
            .write_record(&mut file, &last, fields)
            .and_then(|w| file.sync_data().map(|()| w).map_err(|e| e.to_string()))
            .inspect_err(|_| cut_back(&file, len))?;
        lines.push(line);
        write_head_in(dir, name, &last)?;
        self.write_mark(last.seq);
        self.anchor(&lines);
        Ok(last)
    }

    /// The chain-start of a new file, and the record it follows: after a
    /// rotation (the head says where the chain stands) or a new chain (no
    /// head: genesis). A new chain goes on from the highest seq ever written
    /// here, never reusing one: a log removed with its head leaves a gap
    /// verify reports.
    fn chain_start(&self, head: Option<&AuditRef>) -> (AuditRef, Map<String, Value>) {
        let after = if head.is_none() {
            self.read_mark()
        } else {
            None
        };
        let start = head.cloned().unwrap_or(AuditRef {
            seq: after.unwrap_or(0),
            hash: GENESIS.into(),
        });
        let mut f = Map::new();
        f.insert("event".into(), "chain-start".into());
        f.insert("host".into(), crate::os::host::hostname().into());
        f.insert("version".into(), crate::VERSION.into());
        f.insert("new_chain".into(), head.is_none().into());
        if let Some(a) = after {
            f.insert("after_seq".into(), a.into());
        }
        (start, f)
    }

    /// Where a non-empty log ends, checked against its head. A log one
    /// append ahead of its head (a run killed before it moved the head) is
    /// taken as it is, with a note for the next record; anything else is
    /// refused.
    fn end_of_chain(
        &self,
        file: &mut File,
        len: u64,
        head: Option<&AuditRef>,
    ) -> Result<(AuditRef, Option<Value>), String> {
        let (tail, whole) = tail_lines(file, len, 3)?;
        let last = tail.last().ok_or("the log holds no complete record")?;
        let actual = AuditRef {
            seq: seq_of(last)?,
            hash: sha256_hex(last.as_bytes()),
        };
        if head == Some(&actual) {
            return Ok((actual, None));
        }
        let from = match head {
            Some(h) => h.clone(),
            // Without a head only a new chain's first append can be an
            // interrupted one: the file is that append, from genesis.
            None if whole && tail.len() <= 2 => AuditRef {
                seq: self.read_mark().unwrap_or(0),
                hash: GENESIS.into(),
            },
            None => {
                // Without its head the log's end cannot be trusted: extending
                // it would reuse the seqs of records that may have been removed.
                return Err(format!(
                    "the head file is missing but the log holds records (up to seq {}); \
                     run `ops-warden audit verify` (refusing to extend an unchecked chain)",
                    actual.seq
                ));
            }
        };
        if interrupted_append(&tail, &from) {
            let note = serde_json::json!({"after_seq": from.seq, "to_seq": actual.seq});
            return Ok((actual, Some(note)));
        }
        Err(format!(
            "the log ends at seq {} but its head file says seq {}; \
             run `ops-warden audit verify` (refusing to extend a broken chain)",
            actual.seq, from.seq
        ))
    }

    /// Sends the anchor lines of records just made durable, in seq order
    /// (the lock is still held). A line syslog did not take is remembered.
    fn anchor(&self, lines: &[String]) {
        let Some(s) = &self.syslog else { return };
        for line in lines {
            let Ok(Value::Object(m)) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let seq = m.get("seq").and_then(Value::as_u64).unwrap_or(0);
            if let Err(e) = s.anchor(&m, &sha256_hex(line.as_bytes())) {
                tracing::warn!("audit record {seq} not anchored: {e}");
                self.unanchored.borrow_mut().push(seq);
            }
        }
    }

    /// Seqs of the records this process wrote whose anchor line syslog did
    /// not take (for the evidence).
    pub fn unanchored(&self) -> Vec<u64> {
        self.unanchored.borrow().clone()
    }

    /// The head record, if one was written.
    pub fn read_head(&self) -> Result<Option<AuditRef>, String> {
        let (folder, name) = self.names()?;
        let dir = WorkDir::open(&folder, self.lane)?;
        read_head_in(&dir, &name)
    }
}

impl AuditLog {
    /// Writes one record after `prev`; returns its ref and its line.
    fn write_record(
        &self,
        file: &mut File,
        prev: &AuditRef,
        mut fields: Map<String, Value>,
    ) -> Result<(AuditRef, String), String> {
        let seq = prev.seq + 1;
        fields.insert("seq".into(), seq.into());
        fields.insert("prev".into(), prev.hash.clone().into());
        fields.insert("ts".into(), crate::os::host::now_rfc3339().into());
        let line = serde_json::to_string(&Value::Object(fields)).map_err(|e| e.to_string())?;
        if line.len() > MAX_RECORD {
            return Err(format!(
                "record of {} bytes exceeds {MAX_RECORD}",
                line.len()
            ));
        }
        let mut buf = line.clone().into_bytes();
        buf.push(b'\n');
        file.write_all(&buf).map_err(|e| e.to_string())?;
        let r = AuditRef {
            seq,
            hash: sha256_hex(line.as_bytes()),
        };
        Ok((r, line))
    }
}

/// A write that failed part way (a full disk) leaves no half record: the
/// file goes back to where this append began (the lock is still held).
fn cut_back(file: &File, len: u64) {
    if let Err(e) = file.set_len(len) {
        tracing::warn!("audit log not cut back after a failed write: {e}");
    }
}

/// Whether the last one or two of `tail` are one append after `from` (a
/// record, or a chain-start and a record), each linked to the one before.
fn interrupted_append(tail: &[String], from: &AuditRef) -> bool {
    (1..=2).filter(|&k| k <= tail.len()).any(|k| {
        let mut prev = from.clone();
        tail[tail.len() - k..].iter().all(|line| {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                return false;
            };
            let linked = v.get("seq").and_then(Value::as_u64) == Some(prev.seq + 1)
                && v.get("prev").and_then(Value::as_str) == Some(prev.hash.as_str());
            prev = AuditRef {
                seq: prev.seq + 1,
                hash: sha256_hex(line.as_bytes()),
            };
            linked
        })
    })
}

fn read_head_in(dir: &WorkDir, name: &str) -> Result<Option<AuditRef>, String> {
    let Some(bytes) = dir.read_file(&format!("{name}.head"), 4096)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|_| "head file does not parse".to_string())
}

/// Replaces the head file (temp file, synced, renamed over).
fn write_head_in(dir: &WorkDir, name: &str, head: &AuditRef) -> Result<(), String> {
    let text = serde_json::to_string(head).map_err(|e| e.to_string())?;
    dir.replace_file(&format!("{name}.head"), text.as_bytes(), 0o640)
        .map_err(|m| format!("head: {m}"))
}

/// The last `k` complete lines of a non-empty file (fewer when it holds
/// fewer), and whether they are the whole file.
fn tail_lines(file: &mut File, len: u64, k: usize) -> Result<(Vec<String>, bool), String> {
    let take = len.min((MAX_RECORD as u64 + 1) * k as u64 + 1);
    file.seek(SeekFrom::Start(len - take))
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(take as usize);
    file.read_to_end(&mut buf).map_err(|e| e.to_string())?;
    if buf.last() != Some(&b'\n') {
        return Err("the last record is incomplete (file truncated?)".into());
    }
    buf.pop();
    let mut pieces: Vec<&[u8]> = buf.split(|&b| b == b'\n').collect();
    if take < len {
        // The first piece may be cut by the read's start.
        pieces.remove(0);
    }
    let whole = take == len && pieces.len() <= k;
    let lines = pieces.split_off(pieces.len().saturating_sub(k));
    lines
        .into_iter()
        .map(|l| String::from_utf8(l.to_vec()).map_err(|_| "a record is not UTF-8".to_string()))
        .collect::<Result<Vec<_>, _>>()
        .map(|l| (l, whole))
}

pub(super) fn seq_of(line: &str) -> Result<u64, String> {
    let v: Value = serde_json::from_str(line).map_err(|_| "record does not parse".to_string())?;
    v.get("seq")
        .and_then(Value::as_u64)
        .ok_or_else(|| "record has no seq".to_string())
}

#[cfg(test)]
mod lock_mode_tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn rec() -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("event".into(), "intent".into());
        m
    }

    fn mode_of(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn the_writers_lock_is_made_0600() {
        let d = tempfile::tempdir().unwrap();
        let log = AuditLog::new(d.path().join("audit.jsonl"));
        log.append(rec()).unwrap();
        assert_eq!(mode_of(&d.path().join("audit.jsonl.lock")), 0o600);
    }

    /// I-5: a lock an older version left group-readable is taken back.
    #[test]
    fn a_group_readable_writers_lock_is_set_to_0600_on_its_descriptor() {
        let d = tempfile::tempdir().unwrap();
        let lock = d.path().join("audit.jsonl.lock");
        std::fs::write(&lock, "").unwrap();
        std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o640)).unwrap();
        let log = AuditLog::new(d.path().join("audit.jsonl"));
        log.append(rec()).unwrap();
        assert_eq!(mode_of(&lock), 0o600);
    }
}
