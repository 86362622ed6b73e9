//! The audit trail's anchor outside the lane account: every record's
//! summary (seq, hash, prev, run id, outcome, command, key id, client) goes
//! to syslog as one line, and `audit verify --anchor FILE` compares the local
//! chain with what syslog kept (an rsyslog file or a journald export).
//!
//! The line is `<PRI>ops-warden[PID]: {"ow_audit":1,...}` sent to a unix
//! datagram socket (`/dev/log` by default, facility `authpriv`). Nothing in
//! it is secret: it is a subset of the audit record.

use std::collections::HashMap;
use std::io::{BufRead, Read};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The marker of an anchor payload in a syslog line (the payload is the
/// JSON object from the line's first `{`).
pub const MARKER: &str = "\"ow_audit\":1";

/// Where anchor lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syslog {
    pub socket: PathBuf,
    /// syslog facility code (authpriv = 10).
    pub facility: u8,
}

impl Default for Syslog {
    fn default() -> Self {
        Syslog {
            socket: PathBuf::from("/dev/log"),
            facility: 10,
        }
    }
}

/// syslog facility names as rsyslog spells them.
pub fn facility_code(name: &str) -> Option<u8> {
    Some(match name {
        "auth" => 4,
        "authpriv" => 10,
        "daemon" => 3,
        "user" => 1,
        "local0" => 16,
        "local1" => 17,
        "local2" => 18,
        "local3" => 19,
        "local4" => 20,
        "local5" => 21,
        "local6" => 22,
        "local7" => 23,
        _ => return None,
    })
}

impl Syslog {
    /// Sends one payload at severity `sev` (6 info, 3 err) as one datagram.
    /// `Err` when the socket did not take it.
    pub fn send(&self, sev: u8, payload: &Value) -> Result<(), String> {
        let pri = u16::from(self.facility) * 8 + u16::from(sev);
        let line = format!(
            "<{pri}>ops-warden[{}]: {}",
            std::process::id(),
            serde_json::to_string(payload).map_err(|e| e.to_string())?
        );
        let sock = UnixDatagram::unbound().map_err(|e| e.to_string())?;
        sock.send_to(line.as_bytes(), &self.socket)
            .map(drop)
            .map_err(|e| format!("syslog {}: {}", self.socket.display(), e.kind()))
    }

    /// The anchor line for a record just written.
    pub fn anchor(&self, record: &Map<String, Value>, hash: &str) -> Result<(), String> {
        self.send(6, &summary(record, hash))
    }

    /// A failure before the audit log could take a record.
    pub fn trace_failure(&self, fields: Map<String, Value>) -> Result<(), String> {
        let mut m = Map::new();
        m.insert("ow_audit".into(), 1.into());
        m.insert("event".into(), "failure".into());
        m.extend(fields);
        self.send(3, &Value::Object(m))
    }
}

/// The non-secret summary of a record that syslog keeps.
fn summary(r: &Map<String, Value>, hash: &str) -> Value {
    let mut m = Map::new();
    m.insert("ow_audit".into(), 1.into());
    for k in [
        "host",
        "seq",
        "prev",
        "run_id",
        "event",
        "mode",
        "outcome",
        "command",
        "client_address",
        "version",
    ] {
        if let Some(v) = r.get(k) {
            m.insert(k.into(), v.clone());
        }
    }
    m.insert("hash".into(), hash.into());
    let key_id = r
        .get("caller")
        .and_then(|c| c.get("key_id"))
        .or_else(|| r.get("certificate").and_then(|c| c.get("key_id")));
    if let Some(k) = key_id {
        m.insert("key_id".into(), k.clone());
    }
    if let Some(code) = r.get("error").and_then(|e| e.get("code")) {
        m.insert("code".into(), code.clone());
    }
    Value::Object(m)
}

/// One record as the anchor kept it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Anchored {
    pub host: Option<String>,
    pub seq: u64,
    pub hash: String,
    pub run_id: Option<String>,
}

/// The anchor's records for one host, by seq (a seq the anchor holds twice
/// with different hashes is a chain that was restarted or rewritten).
pub struct Anchor {
    pub by_seq: HashMap<u64, Anchored>,
    pub duplicates: Vec<(u64, String, String)>,
    pub lines: u64,
}

/// Reads every anchor line of `host` from a syslog file (any line format:
/// the payload is found by its marker).
pub fn load(path: &Path, host: Option<&str>) -> Result<Anchor, String> {
    let src =
        super::read::open(path)?.ok_or_else(|| format!("{}: no such file", path.display()))?;
    let mut reader = std::io::BufReader::new(src);
    let mut anchor = Anchor {
        by_seq: HashMap::new(),
        duplicates: Vec::new(),
        lines: 0,
    };
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = Read::by_ref(&mut reader)
            .take(super::read::MAX_LINE as u64 * 4)
            .read_until(b'\n', &mut line)
            .map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        if !text.contains(MARKER) {
            continue;
        }
        let Some(at) = text.find('{') else {
            continue;
        };
        let Ok(a) = serde_json::from_str::<Anchored>(text[at..].trim_end()) else {
            continue; // a failure trace, or a line cut by syslog
        };
        if host.is_some() && a.host.as_deref() != host {
            continue;
        }
        anchor.lines += 1;
        match anchor.by_seq.get(&a.seq) {
            Some(old) if old.hash != a.hash => {
                anchor
                    .duplicates
                    .push((a.seq, old.hash.clone(), a.hash.clone()));
            }
            Some(_) => {}
            None => {
                anchor.by_seq.insert(a.seq, a);
            }
        }
    }
    Ok(anchor)
}
