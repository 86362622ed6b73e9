//! The one JSON document every run prints on stdout, built from types.
//!
//! [`Document`] is the wire format; its JSON Schema
//! (`schema/evidence.v1.schema.json`) is generated from these types by a
//! test and compared with the committed file. Callers check `schema`
//! (`ops-warden/evidence/v1`) before reading anything else. Nothing in it is
//! ever a secret.

pub(crate) mod schema;

use std::time::Instant;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::audit::AuditRef;
use crate::bootstrap::{Report, StepReport, Validation};
use crate::error::{Code, Error, Outcome};
use crate::os::host::{hostname, now_rfc3339};
use crate::policy::cert::{Caller, PresentedCert};

/// The evidence's schema tag, the version callers check.
pub const SCHEMA: &str = "ops-warden/evidence/v1";

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

/// Which command a process serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum RunMode {
    ForceCommand,
    Attended,
    Audit,
    CheckConfig,
    Seeds,
    Unknown,
}

impl RunMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::ForceCommand => "force-command",
            RunMode::Attended => "attended",
            RunMode::Audit => "audit",
            RunMode::CheckConfig => "check-config",
            RunMode::Seeds => "seeds",
            RunMode::Unknown => "unknown",
        }
    }
}

/// Identity of one run, shared by evidence and audit records.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub run_id: String,
    pub mode: RunMode,
    pub host: String,
    pub started_at: DateTime<Utc>,
    started: Instant,
}

impl RunInfo {
    pub fn start(mode: RunMode) -> RunInfo {
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

/// An error as the evidence and the audit log show it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(test, schemars(transform = crate::text::schema::all_required))]
#[serde(deny_unknown_fields)]
pub struct ErrorDoc {
    pub code: Code,
    /// For a person; never holds a secret.
    pub message: String,
}

impl From<&Error> for ErrorDoc {
    fn from(e: &Error) -> ErrorDoc {
        ErrorDoc {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

/// What the work itself ended with, when its result record could not be
/// written (`error` then says why the record is missing).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(test, schemars(transform = crate::text::schema::all_required))]
#[serde(deny_unknown_fields)]
pub struct Work {
    pub outcome: Outcome,
    pub error: Option<ErrorDoc>,
}

/// What a verb produced.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum VerbResult {
    /// `whoami`: the verified caller.
    Whoami { whoami: Caller },
    /// `gate`: the public API's answers.
    Gate {
        gate: Vec<StepReport>,
        base_url: String,
    },
    /// `verify`: the gate and the runbook's validation.
    Verify {
        gate: Vec<StepReport>,
        validation: Validation,
    },
    /// `bootstrap`: every step, the widgets, the runtime key by prefix, the
    /// validation, the helper's contract fields, the OpenBao path and version.
    Bootstrap(Box<Report>),
}

impl VerbResult {
    /// The form the audit log keeps: the helper's output only as its digest.
    fn for_audit(&self) -> VerbResult {
        match self {
            VerbResult::Bootstrap(r) => VerbResult::Bootstrap(Box::new(r.without_helper_output())),
            other => other.clone(),
        }
    }
}

/// The document on stdout.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(
    test,
    schemars(
        transform = crate::text::schema::all_required,
        title = "ops-warden evidence, version 1",
        description = "The one JSON document ops-warden prints on stdout per run. Never holds a secret: runtime keys appear only as their prefix."
    )
)]
#[serde(deny_unknown_fields)]
pub struct Document<'a> {
    /// Always `ops-warden/evidence/v1`: check it before reading on.
    #[cfg_attr(test, schemars(extend("const" = SCHEMA)))]
    pub schema: &'static str,
    #[cfg_attr(test, schemars(regex(pattern = r"^[0-9a-f]{24}$")))]
    pub run_id: &'a str,
    pub mode: RunMode,
    #[cfg_attr(test, schemars(length(max = 200)))]
    pub command: Option<&'a str>,
    pub outcome: Outcome,
    #[cfg_attr(test, schemars(extend("format" = "date-time")))]
    pub started_at: String,
    #[cfg_attr(test, schemars(extend("format" = "date-time")))]
    pub finished_at: String,
    pub duration_ms: u64,
    pub host: &'a str,
    pub caller: Option<&'a Caller>,
    /// What was presented, on a refusal.
    pub certificate: Option<&'a PresentedCert>,
    pub error: Option<ErrorDoc>,
    pub usage: Option<&'a str>,
    pub result: Option<&'a VerbResult>,
    /// The result record's place in the audit chain.
    pub audit: Option<&'a AuditRef>,
    /// Seqs of this run's audit records whose anchor line syslog did not
    /// take (a syslog that stopped reading): empty when all were sent.
    pub audit_unanchored: &'a [u64],
    /// What the run asked OpenBao: each call that got an answer with its
    /// `request_id`, and the token's accessor, to join with OpenBao's own
    /// audit log (`ops-warden audit correlate`). `null` when the run did not
    /// reach OpenBao.
    pub openbao: Option<&'a crate::store::openbao::OpenbaoTrail>,
    /// Only when the result record could not be written after the work ran.
    pub work: Option<&'a Work>,
}

/// Largest `result` an audit record carries whole (records are capped at 16 KiB).
const MAX_AUDIT_RESULT: usize = 8 << 10;

/// A result too large for an audit record: its size, digest and step statuses.
#[derive(Debug, Serialize)]
struct TruncatedResult<'a> {
    truncated: bool,
    bytes: usize,
    sha256: String,
    runtime_key: Option<&'a crate::bootstrap::KeyReport>,
    steps: Option<Vec<(&'static str, crate::bootstrap::Status)>>,
}

/// The result as the audit log keeps it: the helper's output (which the
/// evidence carries) only as a digest, and anything still too large as a
/// summary with its digest, so a big answer can never make the append fail.
fn audit_result(r: &VerbResult) -> Value {
    let r = r.for_audit();
    let v = serde_json::to_value(&r).unwrap_or_default();
    let text = v.to_string();
    if text.len() <= MAX_AUDIT_RESULT {
        return v;
    }
    let report = match &r {
        VerbResult::Bootstrap(b) => Some(b),
        _ => None,
    };
    serde_json::to_value(TruncatedResult {
        truncated: true,
        bytes: text.len(),
        sha256: crate::text::sha256_hex(text.as_bytes()),
        runtime_key: report.map(|b| &b.runtime_key),
        steps: report.map(|b| b.steps.0.iter().map(|s| (s.step, s.status)).collect()),
    })
    .unwrap_or_default()
}

/// The evidence being assembled.
#[derive(Debug, Default)]
pub struct Evidence {
    pub command: Option<String>,
    pub caller: Option<Caller>,
    pub certificate: Option<PresentedCert>,
    pub usage: Option<String>,
    pub result: Option<VerbResult>,
    pub error: Option<Error>,
    pub audit: Option<AuditRef>,
    /// See [`Document::audit_unanchored`].
    pub audit_unanchored: Vec<u64>,
    /// See [`Document::openbao`].
    pub openbao: Option<crate::store::openbao::OpenbaoTrail>,
    pub work: Option<Work>,
    /// The client's address from `SSH_CONNECTION` (also on a refusal).
    pub client: Option<std::net::IpAddr>,
}

impl Evidence {
    pub fn outcome(&self) -> Outcome {
        self.error.as_ref().map_or(Outcome::Ok, Error::outcome)
    }

    pub fn exit_code(&self) -> u8 {
        self.error.as_ref().map_or(0, Error::exit_code)
    }

    /// The result record did not land after the work ran: `error` becomes
    /// the audit failure (the exit code says the record is missing) and the
    /// work's own outcome and error stay in `work`.
    pub fn result_unrecorded(&mut self, e: Error) {
        self.work = Some(Work {
            outcome: self.outcome(),
            error: self.error.as_ref().map(ErrorDoc::from),
        });
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
        m.insert("mode".into(), run.mode.as_str().into());
        m.insert("version".into(), crate::VERSION.into());
        m.insert("command".into(), self.command.clone().into());
        m.insert("code".into(), e.code().as_str().into());
        m.insert(
            "message".into(),
            crate::text::escape_untrusted(&e.to_string(), 300).into(),
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
        m.insert("mode".into(), run.mode.as_str().into());
        m.insert("host".into(), run.host.clone().into());
        m.insert("pid".into(), std::process::id().into());
        m.insert("version".into(), crate::VERSION.into());
        if let Some(c) = self.client {
            m.insert("client_address".into(), c.to_string().into());
        }
        m.insert("uid".into(), nix::unistd::getuid().as_raw().into());
        m.insert("command".into(), self.command.clone().into());
        if let Some(c) = &self.caller {
            m.insert("caller".into(), json(c));
        }
        if let Some(c) = &self.certificate {
            m.insert("certificate".into(), json(c));
        }
        if event == "result" {
            m.insert("outcome".into(), self.outcome().as_str().into());
            m.insert(
                "error".into(),
                json(self.error.as_ref().map(ErrorDoc::from)),
            );
            m.insert("duration_ms".into(), run.elapsed_ms().into());
            if let Some(r) = &self.result {
                m.insert("result".into(), audit_result(r));
            }
            if let Some(o) = &self.openbao {
                m.insert("openbao".into(), json(o));
            }
        }
        m
    }

    /// The document, as printed on stdout.
    pub fn document<'a>(&'a self, run: &'a RunInfo) -> Document<'a> {
        Document {
            schema: SCHEMA,
            run_id: &run.run_id,
            mode: run.mode,
            command: self.command.as_deref(),
            outcome: self.outcome(),
            started_at: run.started_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            finished_at: now_rfc3339(),
            duration_ms: run.elapsed_ms(),
            host: &run.host,
            caller: self.caller.as_ref(),
            certificate: self.certificate.as_ref(),
            error: self.error.as_ref().map(ErrorDoc::from),
            usage: self.usage.as_deref(),
            result: self.result.as_ref(),
            audit: self.audit.as_ref(),
            audit_unanchored: &self.audit_unanchored,
            openbao: self.openbao.as_ref(),
            work: self.work.as_ref(),
        }
    }

    pub fn to_json(&self, run: &RunInfo) -> Value {
        serde_json::to_value(self.document(run)).unwrap_or_default()
    }
}

fn json<T: Serialize>(v: T) -> Value {
    serde_json::to_value(v).unwrap_or_default()
}
