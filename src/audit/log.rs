//! Appending to the audit log.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg, OFlag};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::sha256_hex;
use crate::error::Error;
use crate::os::files::hand_to_folder_owner;

/// The `prev` of the very first record of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Longest record line accepted.
pub const MAX_RECORD: usize = 16 << 10;

/// Where a record landed: its sequence number and hash (for the evidence).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRef {
    pub seq: u64,
    pub hash: String,
}

/// The audit log at a configured path.
pub struct AuditLog {
    path: PathBuf,
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn open_flags() -> i32 {
    (OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC).bits()
}

impl AuditLog {
    pub fn new(path: impl Into<PathBuf>) -> AuditLog {
        AuditLog { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn head_path(&self) -> PathBuf {
        sibling(&self.path, ".head")
    }

    /// Appends one record (`fields` plus `seq`, `prev`, `ts`) and returns its ref.
    pub fn append(&self, fields: Map<String, Value>) -> Result<AuditRef, Error> {
        self.append_inner(fields)
            .map_err(|m| Error::AuditWrite(format!("{}: {m}", self.path.display())))
    }

    fn append_inner(&self, fields: Map<String, Value>) -> Result<AuditRef, String> {
        let lock_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(open_flags())
            .open(sibling(&self.path, ".lock"))
            .map_err(|e| format!("lock: {}", e.kind()))?;
        let _guard = Flock::lock(lock_file, FlockArg::LockExclusive)
            .map_err(|(_, e)| format!("lock: {e}"))?;
        hand_to_folder_owner(&sibling(&self.path, ".lock"));

        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o640)
            .custom_flags(open_flags())
            .open(&self.path)
            .map_err(|e| e.kind().to_string())?;
        hand_to_folder_owner(&self.path);
        let meta = file.metadata().map_err(|e| e.to_string())?;
        if !meta.file_type().is_file() {
            return Err("not a regular file".into());
        }
        let euid = nix::unistd::geteuid();
        if meta.uid() != euid.as_raw() && !euid.is_root() {
            return Err(format!("owned by uid {}, not the running user", meta.uid()));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(format!(
                "mode {:04o} is writable by others",
                meta.mode() & 0o7777
            ));
        }

        let head = self.read_head()?;
        let mut last = if meta.len() == 0 {
            let start = head.clone().unwrap_or(AuditRef {
                seq: 0,
                hash: GENESIS.into(),
            });
            let mut f = Map::new();
            f.insert("event".into(), "chain-start".into());
            f.insert("host".into(), crate::evidence::hostname().into());
            self.write_record(&mut file, &start, f)?
        } else {
            let tail = last_line(&mut file, meta.len())?;
            let (seq, hash) = (seq_of(&tail)?, sha256_hex(tail.as_bytes()));
            let actual = AuditRef { seq, hash };
            if let Some(h) = &head {
                if *h != actual {
                    return Err(format!(
                        "the log ends at seq {} but its head file says seq {}; \
                         run `ops-warden audit verify` (refusing to extend a broken chain)",
                        actual.seq, h.seq
                    ));
                }
            }
            actual
        };
        last = self.write_record(&mut file, &last, fields)?;
        file.sync_data().map_err(|e| e.to_string())?;
        self.write_head(&last)?;
        Ok(last)
    }

    fn write_record(
        &self,
        file: &mut File,
        prev: &AuditRef,
        mut fields: Map<String, Value>,
    ) -> Result<AuditRef, String> {
        let seq = prev.seq + 1;
        fields.insert("seq".into(), seq.into());
        fields.insert("prev".into(), prev.hash.clone().into());
        fields.insert("ts".into(), crate::evidence::now_rfc3339().into());
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
        Ok(AuditRef {
            seq,
            hash: sha256_hex(line.as_bytes()),
        })
    }

    /// The head record, if one was written.
    pub fn read_head(&self) -> Result<Option<AuditRef>, String> {
        match std::fs::read(self.head_path()) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|_| "head file does not parse".to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("head file: {}", e.kind())),
        }
    }

    fn write_head(&self, head: &AuditRef) -> Result<(), String> {
        let tmp = sibling(&self.path, ".head.tmp");
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o640)
            .custom_flags(open_flags())
            .open(&tmp)
            .map_err(|e| format!("head: {}", e.kind()))?;
        f.write_all(
            serde_json::to_string(head)
                .map_err(|e| e.to_string())?
                .as_bytes(),
        )
        .and_then(|_| f.sync_data())
        .map_err(|e| format!("head: {e}"))?;
        hand_to_folder_owner(&tmp);
        std::fs::rename(&tmp, self.head_path()).map_err(|e| format!("head: {e}"))
    }
}

/// The last complete line of a non-empty file.
fn last_line(file: &mut File, len: u64) -> Result<String, String> {
    let take = len.min(MAX_RECORD as u64 + 1);
    file.seek(SeekFrom::Start(len - take))
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(take as usize);
    file.read_to_end(&mut buf).map_err(|e| e.to_string())?;
    if buf.last() != Some(&b'\n') {
        return Err("the last record is incomplete (file truncated?)".into());
    }
    buf.pop();
    let start = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    String::from_utf8(buf[start..].to_vec()).map_err(|_| "last record is not UTF-8".into())
}

pub(super) fn seq_of(line: &str) -> Result<u64, String> {
    let v: Value = serde_json::from_str(line).map_err(|_| "record does not parse".to_string())?;
    v.get("seq")
        .and_then(Value::as_u64)
        .ok_or_else(|| "record has no seq".to_string())
}
