//! The audit trail's anchor outside the lane account: every record's
//! summary (seq, hash, prev, run id, outcome, command, key id, client) goes
//! to syslog as one line, and `audit verify --anchor FILE` compares the local
//! chain with what syslog kept (an rsyslog file or a journald export).
//!
//! The line is `<PRI>ops-warden[PID]: {"ow_audit":1,...}` sent to a unix
//! datagram socket (`/dev/log` by default, facility `authpriv`). Nothing in
//! it is secret: it is a subset of the audit record.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Map, Value};

mod load;

/// The longest an anchor send waits for a syslog that stopped reading (its
/// queue full): once per process, see [`Syslog::send`].
pub const SEND_WAIT: Duration = Duration::from_millis(500);

/// Set once a send found syslog not reading: later sends do not wait.
static STALLED: AtomicBool = AtomicBool::new(false);

pub use load::{is_sha256_hex, load, load_bytes, Anchor, Anchored, LineStats, Senders};

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
    /// `Err` when the socket did not take it. Never waits long: a syslog
    /// that stopped reading gets [`SEND_WAIT`] once per process, and every
    /// later send of the process does not wait at all.
    pub fn send(&self, sev: u8, payload: &Value) -> Result<(), String> {
        let pri = u16::from(self.facility) * 8 + u16::from(sev);
        let line = format!(
            "<{pri}>ops-warden[{}]: {}",
            std::process::id(),
            serde_json::to_string(payload).map_err(|e| e.to_string())?
        );
        let sock = UnixDatagram::unbound().map_err(|e| e.to_string())?;
        if STALLED.load(Ordering::Relaxed) {
            sock.set_nonblocking(true).map_err(|e| e.to_string())?;
        } else {
            sock.set_write_timeout(Some(SEND_WAIT))
                .map_err(|e| e.to_string())?;
        }
        let sent = sock.send_to(line.as_bytes(), &self.socket);
        if let Err(e) = &sent {
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) || e.raw_os_error() == Some(nix::libc::EINTR)
            {
                STALLED.store(true, Ordering::Relaxed);
            }
        }
        sent.map(drop)
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
