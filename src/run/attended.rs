//! The attended run from the runbook: an operator on the host runs
//! `ops-warden bootstrap --operator-key-file F` instead of coming in by SSH.
//! The key file must be a regular file owned by the caller, mode 0600 (or
//! 0400); it is removed after the run (also on failure) unless
//! `--keep-operator-key-file`. The runtime key goes to the same OpenBao path.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{failed_early, prepare, recorded, Finished, Outcome};
use crate::bootstrap::{Operator, Options};
use crate::config::{self, AddrSource};
use crate::env::{Environ, Mode};
use crate::error::Error;
use crate::evidence::{Evidence, RunInfo, RunMode, VerbResult};
use crate::lane::{self, OperatorSource};
use crate::os::files::{read_secret_file, Rule};
use crate::store::{OperatorKey, Provenance};

pub struct AttendedArgs {
    /// `--openbao-addr` and `--openbao-ca-bundle`.
    pub openbao_addr: Option<String>,
    pub openbao_ca_bundle: Option<String>,
    pub operator_key_file: PathBuf,
    pub keep_operator_key_file: bool,
    pub runtime_key_file: Option<PathBuf>,
    pub opts: Options,
}

/// Removes the operator key file when the run ends, on every path.
struct RemoveOnDrop<'a>(&'a Path, bool);

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        if !self.1 {
            let _ = std::fs::remove_file(self.0);
        }
    }
}

pub fn bootstrap(config_path: &Path, args: AttendedArgs) -> Finished {
    let run = RunInfo::start(RunMode::Attended);
    let flags = crate::ssh::command::BootstrapFlags {
        skip_event: args.opts.skip_event,
        plan: args.opts.plan,
        rotate: args.opts.rotate,
    };
    let ev = Evidence {
        command: Some(crate::ssh::command::Verb::Bootstrap(flags).canonical()),
        ..Evidence::default()
    };
    let (env, signals) = match prepare(Mode::Attended) {
        Ok(p) => p,
        Err(e) => return failed_early(&run, ev, e, config_path),
    };
    // Read (and check) the key files first; the operator file goes away
    // whatever happens next.
    let keys = (|| {
        let op = OperatorKey::from_attended_file(&args.operator_key_file)?;
        let rt = match &args.runtime_key_file {
            Some(f) => Some(
                read_secret_file(f, Rule::ATTENDED_KEY.named("runtime key file"))
                    .map_err(Error::KeyFileUntrusted)?,
            ),
            None => None,
        };
        Ok((op, rt))
    })();
    let _cleanup = RemoveOnDrop(
        &args.operator_key_file,
        args.keep_operator_key_file || keys.is_err(),
    );
    let uid = nix::unistd::getuid();
    let user = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_default();

    let cfg = match config::load(config_path).and_then(|mut c| {
        openbao_address(&mut c, &args, &env)?;
        Ok(c)
    }) {
        Ok(c) => c,
        Err(e) => return failed_early(&run, ev, e, config_path),
    };
    let operator = Operator {
        uid: uid.as_raw(),
        user: crate::text::escape_untrusted(&user, 64),
    };
    let mut extra = Map::new();
    extra.insert(
        "operator".into(),
        serde_json::to_value(&operator).unwrap_or(Value::Null),
    );
    recorded(&run, &cfg, &signals, ev, extra, |_| {
        let (op, rt) = match keys {
            Err(e) => {
                return Outcome {
                    error: Some(e),
                    ..Outcome::default()
                }
            }
            Ok(k) => k,
        };
        let who = Provenance {
            run_id: run.run_id.clone(),
            host: run.host.clone(),
            cert_key_id: format!("attended:{user}"),
        };
        let (mut report, error, openbao) = lane::bootstrap(
            &cfg,
            OperatorSource::KeyFile(op),
            rt,
            args.opts,
            &who,
            &signals,
        );
        report.operator = Some(operator);
        report.operator_key_file_removed = Some(!args.keep_operator_key_file);
        Outcome {
            result: Some(VerbResult::Bootstrap(Box::new(report))),
            error,
            openbao,
        }
    })
}

/// The OpenBao address this run will send the host's credentials to: the
/// flag, else `BAO_ADDR` when it is one of `openbao.addr`'s entries (a shell
/// variable left from other work must not send the host's AppRole anywhere,
/// not even to a loopback port another user opened), else the config, each
/// under the config's rules. Said on stderr (the operator's terminal) before
/// any credential is sent.
fn openbao_address(
    cfg: &mut config::Config,
    args: &AttendedArgs,
    env: &Environ,
) -> Result<(), Error> {
    let configured = |a: &str| {
        let a = a.trim_end_matches('/');
        cfg.openbao
            .as_ref()
            .is_some_and(|o| o.addrs.iter().any(|x| x.trim_end_matches('/') == a))
    };
    let (addr, source) = match (&args.openbao_addr, &env.bao_addr) {
        (Some(a), _) => (Some(a.as_str()), AddrSource::Flag),
        // One of the configured nodes: the config already names it; the
        // whole node list (and its pinned CA) stays.
        (None, Some(a)) if configured(a) => (None, AddrSource::BaoAddr),
        (None, Some(a)) => {
            eprintln!(
                "ops-warden: note: BAO_ADDR={} is ignored: it is not one of openbao.addr's \
                 entries (use --openbao-addr to send this run elsewhere)",
                crate::text::escape_untrusted(a, 200)
            );
            (None, AddrSource::Config)
        }
        (None, None) => (None, AddrSource::Config),
    };
    let ca = match (&args.openbao_ca_bundle, &env.bao_cacert, source) {
        (Some(c), _, _) => Some((c.as_str(), "--openbao-ca-bundle")),
        // BAO_CACERT goes with an address that came from outside the config.
        (None, Some(c), AddrSource::Flag) => Some((c.as_str(), "BAO_CACERT")),
        _ => None,
    };
    config::override_openbao(cfg, addr.map(|a| (a, source.describe())), ca)?;
    if env.vault_vars_ignored {
        eprintln!(
            "ops-warden: note: VAULT_ADDR/VAULT_CACERT are ignored; use --openbao-addr (or BAO_ADDR)"
        );
    }
    if let Some(o) = &cfg.openbao {
        eprintln!(
            "ops-warden: OpenBao at {} (from {})",
            crate::text::escape_untrusted(&o.addrs.join(", "), 400),
            source.describe()
        );
    }
    Ok(())
}
