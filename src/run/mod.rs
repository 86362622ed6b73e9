//! The one run skeleton, and the two runs built on it side by side:
//! [`force_command`] (sshd's entry, everything from the client untrusted) and
//! [`attended`] (an operator on the host with a key file).
//!
//! Every secret-handling run has the same shape: harden → config → audit
//! intent (nothing is done before it is on disk) → the work → audit result →
//! evidence on stdout. The result record is written before stdout, so a
//! caller who hangs up cannot erase it.

pub(crate) mod attended;
pub(crate) mod force_command;

use std::path::Path;

use serde_json::{Map, Value};

use crate::audit::AuditLog;
use crate::config::{self, Config};
use crate::env::{Environ, Mode};
use crate::error::Error;
use crate::evidence::{Evidence, RunInfo, VerbResult};
use crate::os::signals::Signals;

/// What a finished run hands back to `main`: the document and the exit code.
pub struct Finished {
    pub evidence: Value,
    pub exit_code: u8,
    pub stderr_line: Option<String>,
}

impl Finished {
    pub(crate) fn from(ev: &Evidence, run: &RunInfo) -> Finished {
        Finished {
            evidence: ev.to_json(run),
            exit_code: ev.exit_code(),
            stderr_line: ev
                .error
                .as_ref()
                .map(|e| format!("ops-warden: {} ({}): {e}", e.outcome(), e.code())),
        }
    }
}

/// A verb's result document and its error, kept apart so a failed run still
/// reports every step it took.
#[derive(Default)]
pub(crate) struct Outcome {
    pub result: Option<VerbResult>,
    pub error: Option<Error>,
    /// What the run asked OpenBao (its calls' request_ids, its accessor).
    pub openbao: Option<crate::store::openbao::OpenbaoTrail>,
}

impl Outcome {
    pub fn of(r: Result<VerbResult, Error>) -> Outcome {
        match r {
            Ok(v) => Outcome {
                result: Some(v),
                ..Outcome::default()
            },
            Err(e) => Outcome {
                error: Some(e),
                ..Outcome::default()
            },
        }
    }
}

/// First thing in every secret-handling mode: harden the process, take the
/// allowlisted environment (clearing the rest), install the signal flags.
pub(crate) fn prepare(mode: Mode) -> Result<(Environ, Signals), Error> {
    crate::os::harden::harden_process()
        .map_err(|e| Error::Internal(format!("hardening failed: {e}")))?;
    let env = Environ::capture_and_clear(mode);
    let signals =
        Signals::install().map_err(|e| Error::Internal(format!("signal handlers: {e}")))?;
    Ok((env, signals))
}

/// A run that failed before its config (and so its audit log) was usable:
/// syslog keeps the trace, stdout the evidence.
pub(crate) fn failed_early(
    run: &RunInfo,
    mut ev: Evidence,
    e: Error,
    config_path: &Path,
) -> Finished {
    ev.error = Some(e);
    ev.trace_failure(run, config::syslog_for_failure(config_path).as_ref());
    Finished::from(&ev, run)
}

/// The skeleton: audit intent, the work, audit result, evidence. `extra`
/// fields go into both records (the attended run's operator).
pub(crate) fn recorded(
    run: &RunInfo,
    cfg: &Config,
    signals: &Signals,
    mut ev: Evidence,
    extra: Map<String, Value>,
    work: impl FnOnce(&mut Evidence) -> Outcome,
) -> Finished {
    let audit = AuditLog::new(&cfg.audit_path)
        .trusting(cfg.lane_uid())
        .waiting(cfg.lock_wait, signals)
        .anchored_to(cfg.audit_syslog.clone())
        .with_seq_mark(&cfg.state_dir);
    let mut intent = ev.audit_fields(run, "intent");
    intent.extend(extra.clone());
    // Nothing is done for the caller before the intent is on disk.
    if let Err(e) = audit.append(intent) {
        ev.error = Some(e);
        ev.trace_failure(run, cfg.audit_syslog.as_ref());
        return Finished::from(&ev, run);
    }
    let out = work(&mut ev);
    ev.result = out.result;
    ev.openbao = out.openbao;
    if let Some(e) = out.error {
        ev.error = Some(e);
    }
    let mut result = ev.audit_fields(run, "result");
    result.extend(extra);
    match audit.append_final(result) {
        Ok(r) => ev.audit = Some(r),
        // The work happened but its record did not land: say so loudly,
        // and keep what the work itself ended with.
        Err(e) => {
            ev.result_unrecorded(e);
            ev.trace_failure(run, cfg.audit_syslog.as_ref());
        }
    }
    ev.audit_unanchored = audit.unanchored();
    Finished::from(&ev, run)
}
