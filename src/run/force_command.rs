//! The force-command run, top to bottom: harden → read the SSH environment →
//! load the config → parse the request → verify the caller → (the skeleton:
//! audit intent → the verb → audit result) → evidence on stdout.

use std::path::Path;

use super::{failed_early, prepare, recorded, Finished, Outcome};
use crate::config::{self, Config};
use crate::env::{Environ, Mode};
use crate::error::Error;
use crate::evidence::{Evidence, RunInfo, RunMode, VerbResult};
use crate::os::dir::WorkDir;
use crate::os::signals::Signals;
use crate::policy::cert::{self, VerifiedCaller};
use crate::ssh::command::Verb;
use crate::ssh::{auth_info, command};

/// sshd's entry: everything from the client is untrusted.
pub fn force_command(config_path: &Path) -> Finished {
    let run = RunInfo::start(RunMode::ForceCommand);
    let mut ev = Evidence::default();
    let (env, signals) = match prepare(Mode::ForceCommand) {
        Ok(p) => p,
        Err(e) => return failed_early(&run, ev, e, config_path),
    };
    ev.command = command::display_untrusted(env.ssh_original_command.as_deref());
    ev.client = cert::client_address(env.ssh_connection.as_deref().and_then(|c| c.to_str()));

    let cfg = match config::load(config_path) {
        Ok(c) => c,
        // No audit log without a config: syslog keeps the trace.
        Err(e) => return failed_early(&run, ev, e, config_path),
    };
    let request = command::parse(env.ssh_original_command.as_deref());
    if let Ok(verb) = &request {
        ev.command = Some(verb.canonical());
    }
    let caller = verify_caller(&cfg, &env, &mut ev);
    if let Ok(c) = &caller {
        ev.caller = Some(c.to_caller());
    }
    recorded(&run, &cfg, &signals, ev, Default::default(), |ev| {
        let out = match (caller, request) {
            (Err(e), _) | (Ok(_), Err(e)) => Outcome {
                error: Some(e),
                ..Outcome::default()
            },
            (Ok(caller), Ok(verb)) => execute(&cfg, &caller, verb, &run, &signals, ev),
        };
        if matches!(out.error, Some(Error::Usage(_))) {
            ev.usage = Some(command::USAGE.into());
        }
        out
    })
}

/// Reads and checks the certificate; on refusal the presented certificate
/// is still described in the evidence so an auditor sees who tried.
fn verify_caller(cfg: &Config, env: &Environ, ev: &mut Evidence) -> Result<VerifiedCaller, Error> {
    let path = env.ssh_user_auth.as_deref().ok_or(Error::AuthInfoMissing)?;
    let certificate = auth_info::read_certificate(Path::new(path))?;
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    cert::verify(&cfg.lane, &certificate, ev.client, now).inspect_err(|_| {
        ev.certificate = Some(cert::describe(&certificate));
    })
}

/// A certificate serves a single-use verb once on this host: its use is
/// claimed in the state folder before the verb runs, whatever its outcome.
fn claim_single_use(cfg: &Config, caller: &VerifiedCaller, verb: &Verb) -> Result<(), Error> {
    let name = match verb {
        Verb::Bootstrap(_) => "bootstrap",
        Verb::Gate => "gate",
        Verb::Verify => "verify",
        Verb::Whoami | Verb::Help => return Ok(()),
    };
    if !cfg.lane.single_use_verbs.iter().any(|v| v == name) {
        return Ok(());
    }
    let state = WorkDir::open(&cfg.state_dir, cfg.lane_uid()).map_err(Error::FileUntrusted)?;
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    crate::policy::replay::claim(&state, &caller.single_use(), now, cfg.lane.clock_skew_secs)
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
        Verb::Whoami => Outcome::of(Ok(VerbResult::Whoami {
            whoami: caller.to_caller(),
        })),
        Verb::Help => {
            ev.usage = Some(command::USAGE.into());
            Outcome::default()
        }
        Verb::Gate | Verb::Verify | Verb::Bootstrap(_) => {
            if let Err(e) = claim_single_use(cfg, caller, &verb) {
                return Outcome::of(Err(e));
            }
            crate::lane::run(cfg, caller, verb, run, signals)
        }
    }
}
