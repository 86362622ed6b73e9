//! The force-command story, top to bottom.
//!
//! harden → read the SSH environment → load the config → parse the request →
//! verify the caller → audit intent → do the verb (which, for the real work,
//! takes the lock, reads the operator key, bootstraps and stores the runtime
//! key) → audit result → evidence on stdout. The audit record is always
//! written before stdout, so a caller who hangs up cannot erase it.

use std::path::Path;

use serde_json::json;

use crate::audit::AuditLog;
use crate::config::{self, Config};
use crate::env::{Environ, Mode};
use crate::error::Error;
use crate::evidence::{Evidence, RunInfo};
use crate::lane::Outcome;
use crate::os::signals::Signals;
use crate::policy::cert::{self, VerifiedCaller};
use crate::ssh::command::Verb;
use crate::ssh::{auth_info, command};

/// What a finished run hands back to `main`: the document and the exit code.
pub struct Finished {
    pub evidence: serde_json::Value,
    pub exit_code: u8,
    pub stderr_line: Option<String>,
}

impl Finished {
    pub fn from(ev: &Evidence, run: &RunInfo) -> Finished {
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

/// sshd's entry: everything from the client is untrusted.
pub fn force_command(config_path: &Path) -> Finished {
    let run = RunInfo::start("force-command");
    let mut ev = Evidence::default();
    let (env, signals) = match prepare(Mode::ForceCommand) {
        Ok(p) => p,
        Err(e) => {
            ev.error = Some(e);
            ev.trace_failure(&run, config::syslog_for_failure(config_path).as_ref());
            return Finished::from(&ev, &run);
        }
    };
    ev.command = command::display_untrusted(env.ssh_original_command.as_deref());
    ev.client = cert::client_address(env.ssh_connection.as_deref().and_then(|c| c.to_str()));

    let cfg = match config::load(config_path) {
        Ok(c) => c,
        Err(e) => {
            ev.error = Some(e);
            // No audit log without a config: syslog keeps the trace.
            ev.trace_failure(&run, config::syslog_for_failure(config_path).as_ref());
            return Finished::from(&ev, &run);
        }
    };
    let audit = AuditLog::new(&cfg.audit_path)
        .waiting(cfg.lock_wait, &signals)
        .anchored_to(cfg.audit_syslog.clone())
        .with_seq_mark(&cfg.state_dir);

    let request = command::parse(env.ssh_original_command.as_deref());
    if let Ok(verb) = &request {
        ev.command = Some(verb.canonical());
    }
    let caller = verify_caller(&cfg, &env, &mut ev);
    if let Ok(c) = &caller {
        ev.caller = Some(c.to_json());
    }

    // Nothing is done for the caller before the intent is on disk.
    if let Err(e) = audit.append(ev.audit_fields(&run, "intent")) {
        ev.error = Some(e);
        ev.trace_failure(&run, cfg.audit_syslog.as_ref());
        return Finished::from(&ev, &run);
    }

    let work = match (caller, request) {
        (Err(e), _) | (Ok(_), Err(e)) => Outcome {
            result: None,
            error: Some(e),
        },
        (Ok(caller), Ok(verb)) => execute(&cfg, &caller, verb, &run, &signals, &mut ev),
    };
    ev.result = work.result;
    if let Some(e) = work.error {
        if matches!(e, Error::Usage(_)) {
            ev.usage = Some(command::USAGE.into());
        }
        ev.error = Some(e);
    }

    match audit.append_final(ev.audit_fields(&run, "result")) {
        Ok(r) => ev.audit = Some(r),
        // The work happened but its record did not land: say so loudly,
        // and keep what the work itself ended with.
        Err(e) => {
            ev.result_unrecorded(e);
            ev.trace_failure(&run, cfg.audit_syslog.as_ref());
        }
    }
    Finished::from(&ev, &run)
}

/// First thing in every secret-handling mode: harden the process, take the
/// allowlisted environment (clearing the rest), install the signal flags.
pub fn prepare(mode: Mode) -> Result<(Environ, Signals), Error> {
    crate::os::harden::harden_process()
        .map_err(|e| Error::Internal(format!("hardening failed: {e}")))?;
    let env = Environ::capture_and_clear(mode);
    let signals =
        Signals::install().map_err(|e| Error::Internal(format!("signal handlers: {e}")))?;
    Ok((env, signals))
}

/// Reads and checks the certificate; on refusal the presented certificate
/// is still described in the evidence so an auditor sees who tried.
fn verify_caller(cfg: &Config, env: &Environ, ev: &mut Evidence) -> Result<VerifiedCaller, Error> {
    let path = env.ssh_user_auth.as_deref().ok_or(Error::AuthInfoMissing)?;
    let certificate = auth_info::read_certificate(Path::new(path))?;
    let client = cert::client_address(env.ssh_connection.as_deref().and_then(|c| c.to_str()));
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    cert::verify(&cfg.lane, &certificate, client, now).inspect_err(|_| {
        ev.certificate = Some(cert::describe(&certificate));
    })
}

/// Runs one verb for a verified caller.
fn execute(
    cfg: &Config,
    caller: &VerifiedCaller,
    verb: Verb,
    run: &RunInfo,
    signals: &Signals,
    ev: &mut Evidence,
) -> Outcome {
    match verb {
        Verb::Whoami => Outcome {
            result: Some(json!({"whoami": caller.to_json()})),
            error: None,
        },
        Verb::Help => {
            ev.usage = Some(command::USAGE.into());
            Outcome {
                result: None,
                error: None,
            }
        }
        Verb::Gate | Verb::Verify | Verb::Bootstrap(_) => {
            crate::lane::run(cfg, caller, verb, run, signals)
        }
    }
}
