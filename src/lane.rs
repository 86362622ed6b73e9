//! The lane's real work for a verified caller (`gate`, `verify`,
//! `bootstrap`) and the shared bootstrap core used by the attended path.
//!
//! bootstrap: lock → seeds checked → OpenBao login → capability pre-flight →
//! operator key → runner (native steps, or the site's helper) → runtime key
//! stored → OpenBao token revoked.

use crate::bootstrap::helper::{self, HelperSpec, PrivateDir};
use crate::bootstrap::runtime_key;
use crate::bootstrap::seeds::{self, Seeds};
use crate::bootstrap::steps::{self, Ctx};
use crate::bootstrap::{HelperReport, OpenbaoReport, Options, Report, RunnerKind, Steps};
use crate::config::{Config, InterhubConfig, Runner, Services};
use crate::error::Error;
use crate::evidence::{RunInfo, VerbResult};
use crate::interhub::client::Client;
use crate::os::dir::WorkDir;
use crate::os::lock::RunLock;
use crate::os::signals::Signals;
use crate::policy::cert::VerifiedCaller;
use crate::run::Outcome;
use crate::secret::Secret;
use crate::ssh::command::Verb;
use crate::store::openbao::{OpenBao, OpenbaoTrail};
use crate::store::{OperatorKey, Provenance};

/// Where the operator key comes from; each arm carries the proof that
/// unlocks it.
pub(crate) enum OperatorSource<'a> {
    /// Read from OpenBao for a caller the certificate check verified.
    Store(&'a VerifiedCaller),
    /// The attended key file, already checked.
    KeyFile(OperatorKey),
}

fn load_seeds(ih: &InterhubConfig) -> Result<Seeds, Error> {
    seeds::load(&ih.manifest, &ih.widgets, &ih.hub, ih.lane_uid)
}

pub fn run(
    cfg: &Config,
    caller: &VerifiedCaller,
    verb: Verb,
    run: &RunInfo,
    signals: &Signals,
) -> Outcome {
    match verb {
        Verb::Gate => Outcome::of(gate(cfg)),
        Verb::Verify => Outcome::of(verify(cfg)),
        Verb::Bootstrap(f) => {
            let opts = Options {
                skip_event: f.skip_event,
                plan: f.plan,
                rotate: f.rotate,
            };
            let who = Provenance {
                run_id: run.run_id.clone(),
                host: run.host.clone(),
                cert_key_id: caller.key_id().to_string(),
            };
            let (report, error, openbao) = bootstrap(
                cfg,
                OperatorSource::Store(caller),
                None,
                opts,
                &who,
                signals,
            );
            Outcome {
                result: Some(VerbResult::Bootstrap(Box::new(report))),
                error,
                openbao,
            }
        }
        Verb::Whoami | Verb::Help => Outcome::of(Err(Error::Internal("not a lane verb".into()))),
    }
}

/// `gate`: the public API answers; no key of any kind is used.
fn gate(cfg: &Config) -> Result<VerbResult, Error> {
    let ih = cfg
        .interhub
        .as_ref()
        .ok_or_else(|| Error::Config("gate needs the [interhub] section".into()))?;
    let client = Client::new(ih, None)?;
    let mut steps = Steps::default();
    steps::gate(&client, &mut steps)?;
    Ok(VerbResult::Gate {
        gate: steps.0,
        base_url: ih.base_url.clone(),
    })
}

/// `verify`: the runbook's validation, with the stored runtime key.
fn verify(cfg: &Config) -> Result<VerbResult, Error> {
    let Services {
        openbao: ob,
        interhub: ih,
    } = cfg.services()?;
    let seeds = load_seeds(ih)?;
    let mut bao = OpenBao::connect(ob)?;
    bao.preflight(&bao.lane_needs(false, false))?;
    let client = Client::new(ih, None)?;
    let mut steps = Steps::default();
    steps::gate(&client, &mut steps)?;
    let validation = steps::validate(&client, &seeds, &bao, None, None, false)?;
    bao.close()?;
    if validation.ok {
        Ok(VerbResult::Verify {
            gate: steps.0,
            validation,
        })
    } else {
        Err(validation.failure())
    }
}

/// The bootstrap core (force-command and attended).
pub(crate) fn bootstrap(
    cfg: &Config,
    operator: OperatorSource,
    supplied_runtime: Option<Secret>,
    opts: Options,
    who: &Provenance,
    signals: &Signals,
) -> (Report, Option<Error>, Option<OpenbaoTrail>) {
    let mut report = Report {
        plan: opts.plan,
        runner: match cfg.runner {
            Runner::Native => RunnerKind::Native,
            Runner::Command { .. } => RunnerKind::Command,
        },
        ..Report::default()
    };
    // Outside the closure: however the run ends, the session is closed and
    // what it asked OpenBao goes to the audit record.
    let mut session: Option<OpenBao> = None;
    let r = (|| -> Result<(), Error> {
        let Services {
            openbao: ob,
            interhub: ih,
        } = cfg.services()?;
        report.hub = ih.hub.clone();
        report.runtime_key.openbao_path = ob.runtime_key.data_path();
        // Seeds are checked before any network call.
        let seeds = load_seeds(ih)?;
        report.manifest_digest = seeds.digest.clone();
        let state = WorkDir::open(&cfg.state_dir, cfg.lane_uid()).map_err(Error::FileUntrusted)?;
        let _lock = RunLock::acquire(&state, "bootstrap.lock", cfg.lock_wait, Some(signals))?;
        signals.checkpoint("OpenBao login")?;
        let bao = session.insert(OpenBao::connect(ob)?);
        let read_operator = matches!(operator, OperatorSource::Store(_));
        // Before anything irreversible: can we read what we need and store what we make?
        bao.preflight(&bao.lane_needs(read_operator, !opts.plan))?;
        let op_key = match operator {
            OperatorSource::Store(caller) => bao.read_operator_key(caller)?,
            OperatorSource::KeyFile(k) => k,
        };
        signals.checkpoint("bootstrap")?;
        let result = match &cfg.runner {
            Runner::Native => {
                let client = Client::new(ih, Some(op_key))?;
                let mut ctx = Ctx {
                    seeds: &seeds,
                    client: &client,
                    store: &*bao,
                    consumer_name: &ih.consumer,
                    who,
                    signals,
                    supplied_key: supplied_runtime,
                    state: Some(&state),
                    orphan_age: ih.orphan_key_age,
                };
                steps::run(&mut ctx, opts, &mut report)
            }
            Runner::Command {
                argv,
                timeout,
                workdir,
            } => run_helper(
                &state,
                ih,
                bao,
                op_key,
                HelperSpec {
                    argv,
                    timeout: *timeout,
                    workdir: workdir.as_deref(),
                    base_url: &ih.base_url,
                    skip_event: opts.skip_event,
                    runs_as: cfg.lane_user.as_ref().map(|u| (u.uid, u.gid)),
                },
                opts,
                who,
                signals,
                &mut report,
            ),
        };
        let token_revoked = bao.close().unwrap_or(false);
        report.openbao = Some(OpenbaoReport {
            runtime_key_path: ob.runtime_key.data_path(),
            kv_version: report.runtime_key.kv_version,
            token_revoked,
            notes: bao.notes(),
        });
        result
    })();
    let trail = session.map(|mut bao| {
        let _ = bao.close();
        bao.trail()
    });
    (report, r.err(), trail)
}

#[allow(clippy::too_many_arguments)]
fn run_helper(
    state: &WorkDir,
    ih: &InterhubConfig,
    bao: &OpenBao,
    op_key: OperatorKey,
    spec: HelperSpec,
    opts: Options,
    who: &Provenance,
    signals: &Signals,
    report: &mut Report,
) -> Result<(), Error> {
    if opts.plan {
        return Err(Error::CommandBadArgument(
            "--plan needs the native runner".into(),
        ));
    }
    let existing = bao.read_runtime_key()?;
    // Private folders of runs that are gone (the run lock is ours).
    let stale = PrivateDir::remove_stale(state).err();
    let dir = PrivateDir::create(state, &who.run_id)?;
    let out = helper::run(
        &spec,
        &dir,
        op_key.secret(),
        existing.as_ref().map(|k| &k.key),
        signals,
    )?;
    drop(existing);
    report.helper = Some(HelperReport {
        exit_code: out.exit_code,
        output: out.contract,
        output_sha256: out.output_sha256,
        output_bytes: out.output_bytes,
        cleanup_failed: stale,
    });
    // Whatever the helper did, the key it may have made is stored or
    // revoked, and every active key that is not the stored one is swept.
    // A key the helper made is never dropped unreported: if its consumer
    // cannot be learnt, the run says it is live, by prefix.
    let unaccounted = |e: Error| match &out.new_key {
        Some((_, prefix)) => runtime_key::report_orphan(prefix, e),
        None => e,
    };
    let client = Client::new(ih, Some(op_key)).map_err(unaccounted)?;
    let consumer = match out.consumer_id.clone() {
        Some(c) => Some(c),
        None => client
            .list_consumers(&ih.hub)
            .map_err(unaccounted)?
            .into_iter()
            .find(|c| c.name == ih.consumer)
            .map(|c| c.id),
    };
    let journal = runtime_key::HostJournal(state);
    let keys = runtime_key::Custody {
        store: bao,
        api: &client,
        journal: &journal,
        run: &who.run_id,
        orphan_age: ih.orphan_key_age,
    };
    let custody = match (out.new_key, &consumer) {
        (Some((key, _)), Some(c)) => runtime_key::adopt(
            &keys,
            c,
            key,
            &out.printed_keys,
            who,
            &mut report.runtime_key,
        )
        .map(drop),
        (Some(_), None) => Err(Error::RuntimeKeyOrphaned(
            "the helper made a key but its consumer is unknown".into(),
        )),
        // No new key: a run is ok only if a stored key exists and mints a token.
        (None, Some(c)) => {
            runtime_key::prove_stored(&keys, c, &out.printed_keys, &mut report.runtime_key)
        }
        (None, None) => Err(Error::HelperFailed(
            "the helper left no consumer and no key".into(),
        )),
    };
    if let Err(e) = dir.remove() {
        if let Some(h) = report.helper.as_mut() {
            h.cleanup_failed = Some(e);
        }
    }
    match (custody, out.failure) {
        // A key neither stored nor revoked outranks everything.
        (
            Err(
                e @ (Error::RuntimeKeyOrphaned(_)
                | Error::RuntimeKeyMaybeCreated(_)
                | Error::RuntimeKeyUnconfirmed(_)),
            ),
            _,
        ) => Err(e),
        (_, Some(helper_failed)) => Err(helper_failed),
        (custody, None) => custody,
    }
}
