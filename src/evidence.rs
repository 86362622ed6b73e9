//! The one JSON document every run prints on stdout.
//!
//! Schema: `schema/evidence.v1.schema.json` (tests validate real output
//! against it). Fields, in short: `schema`, `run_id`, `mode`, `command`,
//! `outcome` (`ok` | `refused` | `failed` | `usage` | `busy` | `aborted`),
//! `started_at`, `finished_at`, `duration_ms`, `host`, `caller` (the verified
//! certificate), `certificate` (what was presented, when refused), `error`
//! (`code`, `message`), `usage`, `result` (verb-specific), `audit` (`seq`,
//! `hash` of the result record). Nothing in it is ever a secret.

use std::time::Instant;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use crate::audit::AuditRef;
use crate::error::Error;

pub const SCHEMA: &str = "ops-warden/evidence/v1";

pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|h| crate::audit::escape_untrusted(&h, 128))
        .unwrap_or_else(|| "unknown".into())
}

/// A fresh random run id (non-secret).
pub fn new_run_id() -> String {
    let mut b = [0u8; 12];
    if getrandom::fill(&mut b).is_err() {
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or(0);
        b[..8].copy_from_slice(&nanos.to_le_bytes());
        b[8..].copy_from_slice(&std::process::id().to_le_bytes());
    }
    hex::encode(b)
}

/// Identity of one run, shared by evidence and audit records.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub run_id: String,
    pub mode: &'static str,
    pub host: String,
    pub started_at: DateTime<Utc>,
    started: Instant,
}

impl RunInfo {
    pub fn start(mode: &'static str) -> RunInfo {
        RunInfo {
            run_id: new_run_id(),
            mode,
            host: hostname(),
            started_at: Utc::now(),
            started: Instant::now(),
        }
    }

    pub fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

/// Largest `result` an audit record carries whole (records are capped at 16 KiB).
const MAX_AUDIT_RESULT: usize = 8 << 10;

/// The result as the audit log keeps it: the helper's output (which the
/// evidence carries) only as a digest, and anything still too large as a
/// summary with its digest, so a big answer can never make the append fail.
fn audit_result(r: &Value) -> Value {
    let mut r = r.clone();
    if let Some(h) = r.get_mut("helper").and_then(|h| h.get_mut("output")) {
        let text = h.to_string();
        *h = json!({"sha256": crate::audit::sha256_hex(text.as_bytes()), "bytes": text.len()});
    }
    let text = r.to_string();
    if text.len() <= MAX_AUDIT_RESULT {
        return r;
    }
    json!({
        "truncated": true,
        "bytes": text.len(),
        "sha256": crate::audit::sha256_hex(text.as_bytes()),
        "runtime_key": r.get("runtime_key"),
        "steps": r.get("steps").and_then(Value::as_array).map(|s| s.iter().map(|x| json!([x["step"], x["status"]])).collect::<Vec<_>>()),
    })
}

/// The evidence being assembled.
#[derive(Debug, Default)]
pub struct Evidence {
    pub command: Option<String>,
    pub caller: Option<Value>,
    pub certificate: Option<Value>,
    pub usage: Option<String>,
    pub result: Option<Value>,
    pub error: Option<Error>,
    pub audit: Option<AuditRef>,
    /// The work's own outcome and error, kept when its result record could
    /// not be written (`error` then says why the record is missing).
    pub work: Option<Value>,
    /// The client's address from `SSH_CONNECTION` (also on a refusal).
    pub client: Option<std::net::IpAddr>,
}

impl Evidence {
    pub fn outcome(&self) -> &'static str {
        match &self.error {
            None => "ok",
            Some(e) => e.outcome(),
        }
    }

    pub fn exit_code(&self) -> u8 {
        self.error.as_ref().map_or(0, Error::exit_code)
    }

    fn error_json(&self) -> Value {
        match &self.error {
            None => Value::Null,
            Some(e) => json!({"code": e.code(), "message": e.to_string()}),
        }
    }

    /// The result record did not land after the work ran: `error` becomes
    /// the audit failure (the exit code says the record is missing) and the
    /// work's own outcome and error stay in `work`.
    pub fn result_unrecorded(&mut self, e: Error) {
        self.work = Some(json!({"outcome": self.outcome(), "error": self.error_json()}));
        self.error = Some(e);
    }

    /// What syslog gets when a run fails before the audit log can take a
    /// record (config, hardening, the intent append): a trace with its code.
    pub fn trace_failure(&self, run: &RunInfo, syslog: Option<&crate::audit::anchor::Syslog>) {
        let (Some(s), Some(e)) = (syslog, &self.error) else {
            return;
        };
        let mut m = Map::new();
        m.insert("host".into(), run.host.clone().into());
        m.insert("run_id".into(), run.run_id.clone().into());
        m.insert("mode".into(), run.mode.into());
        m.insert("version".into(), crate::VERSION.into());
        m.insert("command".into(), json!(self.command));
        m.insert("code".into(), e.code().into());
        m.insert(
            "message".into(),
            crate::audit::escape_untrusted(&e.to_string(), 300).into(),
        );
        if let Some(c) = self.client {
            m.insert("client_address".into(), c.to_string().into());
        }
        let _ = s.trace_failure(m);
    }

    /// The common fields an audit record shares with the evidence.
    pub fn audit_fields(&self, run: &RunInfo, event: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("event".into(), event.into());
        m.insert("run_id".into(), run.run_id.clone().into());
        m.insert("mode".into(), run.mode.into());
        m.insert("host".into(), run.host.clone().into());
        m.insert("pid".into(), std::process::id().into());
        m.insert("version".into(), crate::VERSION.into());
        if let Some(c) = self.client {
            m.insert("client_address".into(), c.to_string().into());
        }
        m.insert("uid".into(), nix::unistd::getuid().as_raw().into());
        m.insert("command".into(), json!(self.command));
        if let Some(c) = &self.caller {
            m.insert("caller".into(), c.clone());
        }
        if let Some(c) = &self.certificate {
            m.insert("certificate".into(), c.clone());
        }
        if event == "result" {
            m.insert("outcome".into(), self.outcome().into());
            m.insert("error".into(), self.error_json());
            m.insert("duration_ms".into(), run.elapsed_ms().into());
            if let Some(r) = &self.result {
                m.insert("result".into(), audit_result(r));
            }
        }
        m
    }

    pub fn to_json(&self, run: &RunInfo) -> Value {
        json!({
            "schema": SCHEMA,
            "run_id": run.run_id,
            "mode": run.mode,
            "command": self.command,
            "outcome": self.outcome(),
            "started_at": run.started_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            "finished_at": now_rfc3339(),
            "duration_ms": run.elapsed_ms(),
            "host": run.host,
            "caller": self.caller,
            "certificate": self.certificate,
            "error": self.error_json(),
            "usage": self.usage,
            "result": self.result,
            "audit": self.audit,
            "work": self.work,
        })
    }
}
