//! The native runner: gate → hub → manifest → consumer → runtime key →
//! widgets → event → validation, each create-or-reuse (see the contract's
//! step list). Signals are checked between steps, never inside the
//! runtime-key critical section.

use std::time::Instant;

use serde_json::json;

use super::runtime_key::{
    self, Custody, HostJournal, Journal, KeyRequest, NoJournal, RuntimeStore,
};
use super::seeds::Seeds;
use super::{
    KeyStatus, Options, Report, Status, Steps, TokenCheck, Validation, ValidationCheck,
    WidgetReport,
};
use crate::error::Error;
use crate::interhub::client::{Client, Registry};
use crate::interhub::{Created, KeyApi, Lifecycle, NewWidget};
use crate::os::dir::WorkDir;
use crate::os::signals::Signals;
use crate::secret::Secret;
use crate::store::Provenance;

/// Everything the steps need.
pub struct Ctx<'a> {
    pub seeds: &'a Seeds,
    pub client: &'a Client,
    pub store: &'a dyn RuntimeStore,
    pub consumer_name: &'a str,
    pub who: &'a Provenance,
    pub signals: &'a Signals,
    pub supplied_key: Option<Secret>,
    /// The state folder: remembers the readiness event once it is posted,
    /// so a rerun sends no write at all.
    pub state: Option<&'a WorkDir>,
    /// Past this age an unstored active runtime key is an orphan.
    pub orphan_age: std::time::Duration,
}

/// `gate`: the API answers and the registries are readable.
pub fn gate(client: &Client, steps: &mut Steps) -> Result<(), Error> {
    let t = Instant::now();
    client.read_ahead_start(None);
    let r = (|| {
        let h = client.health()?;
        if h.status != "ok" {
            return Err(Error::InterhubProtocol(format!(
                "health says {:?}",
                crate::text::escape_untrusted(&h.status, 40)
            )));
        }
        let version = h.api_version.as_str();
        if !version.starts_with("2.") {
            return Err(Error::InterhubProtocol(format!(
                "API version {:?} is not 2.x",
                crate::text::escape_untrusted(version, 20)
            )));
        }
        for r in Registry::ALL {
            client.registry(r)?;
        }
        Ok((Status::Unchanged, Some(format!("api {version}")), ()))
    })();
    steps.record("gate", t, r)
}

/// The full bootstrap.
pub fn run(ctx: &mut Ctx, opts: Options, report: &mut Report) -> Result<(), Error> {
    let (seeds, client) = (ctx.seeds, ctx.client);
    let hub = seeds.hub.as_str();
    // This host set the hub up before (its readiness event is posted): every
    // read a rerun needs before the runtime key goes out at once. A first
    // run reads as it goes (its reads would be answered 404, then redone).
    // (Read once: the event step below uses it too.)
    let posted = posted_event(ctx.state, seeds);
    client.read_ahead_start(posted.is_some().then_some(hub));
    gate(client, &mut report.steps)?;

    ctx.signals.checkpoint("hub")?;
    let t = Instant::now();
    let r = (|| match client.get_hub(hub)? {
        Some(h) => Ok((Status::Reused, Some(h.id), true)),
        None if opts.plan => Ok((Status::WouldCreate, None, false)),
        None => match client.create_hub(hub, &seeds.name, &seeds.description)? {
            Created::New(h) => Ok((Status::Created, Some(h.id), true)),
            Created::Exists => {
                let h = client.get_hub(hub)?.ok_or_else(|| {
                    Error::InterhubProtocol("hub exists but cannot be read".into())
                })?;
                Ok((Status::Reused, Some(h.id), true))
            }
        },
    })();
    let hub_exists = report.step("hub", t, r)?;

    ctx.signals.checkpoint("manifest")?;
    let t = Instant::now();
    let r = (|| {
        let list = if hub_exists {
            client.list_manifests(hub)?
        } else {
            Vec::new()
        };
        if let Some(m) = list
            .iter()
            .find(|m| m.digest == seeds.digest && m.status == Lifecycle::Active)
        {
            return Ok((Status::Reused, Some(m.id.clone()), ()));
        }
        let known = list.iter().find(|m| m.digest == seeds.digest);
        if opts.plan {
            let s = if known.is_some() {
                Status::WouldUpdate
            } else {
                Status::WouldCreate
            };
            return Ok((s, known.map(|m| m.id.clone()), ()));
        }
        let (created, m) = client.post_manifest(hub, &seeds.manifest)?;
        if m.digest != seeds.digest {
            return Err(Error::InterhubProtocol(format!(
                "manifest digest {} differs from the draft's {}",
                crate::text::escape_untrusted(&m.digest, 80),
                seeds.digest
            )));
        }
        client.activate_manifest(hub, &m.id)?;
        Ok((
            if created {
                Status::Created
            } else {
                Status::Updated
            },
            Some(m.id),
            (),
        ))
    })();
    report.step("manifest", t, r)?;

    ctx.signals.checkpoint("consumer")?;
    let t = Instant::now();
    let find = || -> Result<Option<String>, Error> {
        Ok(client
            .list_consumers(hub)?
            .into_iter()
            .find(|c| c.name == ctx.consumer_name && c.hub == hub)
            .map(|c| c.id))
    };
    let r = (|| {
        if hub_exists {
            if let Some(id) = find()? {
                return Ok((Status::Reused, Some(id.clone()), Some(id)));
            }
        }
        if opts.plan {
            return Ok((Status::WouldCreate, None, None));
        }
        match client.create_consumer(ctx.consumer_name, hub, &seeds.scopes)? {
            Created::New(c) => Ok((Status::Created, Some(c.id.clone()), Some(c.id))),
            Created::Exists => {
                let id = find()?.ok_or_else(|| {
                    Error::InterhubProtocol("consumer exists but is not listed".into())
                })?;
                Ok((Status::Reused, Some(id.clone()), Some(id)))
            }
        }
    })();
    // Its id goes into URL paths from here on: a plain segment, or refused now.
    let r = r.and_then(
        |(status, id, cid): (Status, Option<String>, Option<String>)| {
            if let Some(c) = &cid {
                crate::interhub::segment(c, "consumer")?;
            }
            Ok((status, id, cid))
        },
    );
    let consumer_id = report.step("consumer", t, r)?;

    ctx.signals.checkpoint("runtime key")?;
    let t = Instant::now();
    let token = match &consumer_id {
        None => {
            report.runtime_key.status = Some(KeyStatus::WouldCreate);
            report.step("runtime-key", t, Ok((Status::WouldCreate, None, None)))?
        }
        Some(cid) => {
            let req = KeyRequest {
                consumer_id: cid,
                supplied: ctx.supplied_key.take(),
                rotate: opts.rotate,
                plan: opts.plan,
                who: ctx.who,
            };
            let host_journal = ctx.state.map(HostJournal);
            let custody = Custody {
                store: ctx.store,
                api: client as &dyn KeyApi,
                journal: host_journal
                    .as_ref()
                    .map_or(&NoJournal as &dyn Journal, |j| j as &dyn Journal),
                run: &ctx.who.run_id,
                orphan_age: ctx.orphan_age,
            };
            let r = runtime_key::ensure(&custody, req, &mut report.runtime_key);
            let r = r.map(|tok| {
                let s = report
                    .runtime_key
                    .status
                    .map_or(Status::Reused, KeyStatus::step_status);
                (s, report.runtime_key.prefix.clone(), tok)
            });
            report.step("runtime-key", t, r)?
        }
    };

    ctx.signals.checkpoint("widgets")?;
    let t = Instant::now();
    let r = widgets(
        client,
        seeds,
        token.as_ref(),
        opts.plan,
        &mut report.widgets,
    );
    report.step("widgets", t, r)?;

    ctx.signals.checkpoint("event")?;
    let t = Instant::now();
    let r = (|| {
        if opts.skip_event {
            return Ok((Status::Skipped, None, ()));
        }
        let Some(token) = &token else {
            return Ok((Status::WouldCreate, None, ()));
        };
        if let Some(id) = posted {
            return Ok((Status::Unchanged, Some(id), ()));
        }
        let key = event_key(seeds);
        if opts.plan {
            // Idempotent by key: a real run posts it at most once.
            return Ok((Status::WouldCreate, Some(key), ()));
        }
        // The same key always carries the same body (any host, any run): the
        // contract refuses a key reused with another body.
        let event = json!({
            "type": "ops.gitea.readiness",
            "source": "ops-warden",
            "payload": {"component": "gitea", "status": "ready", "checkedBy": "ops-warden",
                        "details": format!("ops-hub bootstrap, manifest {}", seeds.digest)},
        });
        let (created, id) = client.post_event(hub, &event, &key, token)?;
        if let Some(d) = ctx.state {
            // Best effort: without the marker the next run posts again (200).
            let _ = d.replace_file(&event_marker(seeds), id.as_bytes(), 0o600);
        }
        Ok((
            if created {
                Status::Created
            } else {
                Status::Unchanged
            },
            Some(id),
            (),
        ))
    })();
    report.step("event", t, r)?;

    ctx.signals.checkpoint("validation")?;
    let t = Instant::now();
    let stored_version = report.runtime_key.kv_version;
    let r = validate(
        client,
        seeds,
        ctx.store,
        consumer_id.as_deref(),
        stored_version,
        opts.plan,
    )
    .map(|v| {
        let status = if v.ok {
            Status::Unchanged
        } else {
            Status::Failed
        };
        (status, None, v)
    });
    let v = report
        .validation
        .insert(report.steps.record("validation", t, r)?);
    if !v.ok && !opts.plan {
        return Err(v.failure());
    }
    Ok(())
}

/// The readiness event's id when this host posted it before (Inter-Hub has
/// it: the key is its id), from the state folder's marker.
fn posted_event(state: Option<&WorkDir>, seeds: &Seeds) -> Option<String> {
    state
        .and_then(|d| d.read_file(&event_marker(seeds), 256).ok().flatten())
        .and_then(|b| String::from_utf8(b).ok())
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty() && id.len() <= 64)
}

/// The state folder's file that remembers the readiness event was posted.
fn event_marker(seeds: &Seeds) -> String {
    format!("event-{}", event_key(seeds))
}

/// The stable `Idempotency-Key` of the readiness event (per manifest digest).
pub fn event_key(seeds: &Seeds) -> String {
    format!(
        "ops-warden-{}-gitea-readiness-{}",
        seeds.hub,
        &seeds.digest[7..7 + 16]
    )
}

fn widgets(
    client: &Client,
    seeds: &Seeds,
    token: Option<&Secret>,
    plan: bool,
    out: &mut Vec<WidgetReport>,
) -> Result<(Status, Option<String>, ()), Error> {
    let current = match token {
        Some(t) => client.list_widgets(&seeds.hub, t)?,
        None => Vec::new(),
    };
    // What each seed widget needs; the upserts then go out together.
    let mut reports = Vec::with_capacity(seeds.widgets.len());
    let mut upserts = Vec::new();
    for w in &seeds.widgets {
        let have = current.iter().find(|c| c.key == w.key);
        let same =
            have.is_some_and(|c| c.kind == w.kind && c.title == w.title && c.config == w.config);
        let known = match (have, same, plan, token) {
            (Some(c), true, _, _) => Some((Status::Unchanged, Some(c.id.clone()))),
            (Some(c), false, true, _) => Some((Status::WouldUpdate, Some(c.id.clone()))),
            (None, _, true, _) | (_, _, _, None) => Some((Status::WouldCreate, None)),
            (_, _, false, Some(_)) => {
                upserts.push((
                    w.key.as_str(),
                    NewWidget {
                        kind: &w.kind,
                        title: &w.title,
                        config: &w.config,
                    },
                ));
                None
            }
        };
        reports.push((w.key.clone(), known));
    }
    let mut written = match (token, upserts.is_empty()) {
        (Some(t), false) => client.put_widgets(&seeds.hub, &upserts, t),
        _ => Vec::new(),
    }
    .into_iter();
    let changed = written.len();
    let mut first_error = None;
    for (key, known) in reports {
        let (status, id) = match known {
            Some(k) => k,
            None => match written.next() {
                Some(Ok((created, got))) => (
                    if created {
                        Status::Created
                    } else {
                        Status::Updated
                    },
                    Some(got.id),
                ),
                Some(Err(e)) => {
                    first_error.get_or_insert(e);
                    continue;
                }
                // Not sent: an earlier upsert was refused (its error is reported).
                None if first_error.is_some() => continue,
                None => return Err(Error::Internal("an upsert without an answer".into())),
            },
        };
        out.push(WidgetReport { key, status, id });
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let status = if changed > 0 {
        Status::Updated
    } else if plan && out.iter().any(|w| w.status != Status::Unchanged) {
        Status::WouldUpdate
    } else {
        Status::Unchanged
    };
    Ok((status, Some(format!("{} widgets", out.len())), ()))
}

/// The runbook's validation: ops vocabulary in the registries, the hub in
/// hub-registry, and the *stored* runtime key mints a token.
pub fn validate(
    client: &Client,
    seeds: &Seeds,
    store: &dyn RuntimeStore,
    consumer_id: Option<&str>,
    stored_version: Option<u64>,
    plan: bool,
) -> Result<Validation, Error> {
    let keys_in = |r: Registry| -> Result<Vec<String>, Error> {
        Ok(client
            .registry(r)?
            .into_iter()
            .filter(|i| i.owner.as_deref() == Some(seeds.hub.as_str()))
            .filter_map(|i| i.key)
            .collect())
    };
    let missing = |want: &[String], have: &[String]| -> Vec<String> {
        want.iter().filter(|k| !have.contains(k)).cloned().collect()
    };
    let wt = missing(&seeds.widget_types, &keys_in(Registry::WidgetTypes)?);
    let et = missing(&seeds.event_types, &keys_in(Registry::EventTypes)?);
    let ac = missing(
        &seeds.annotation_categories,
        &keys_in(Registry::AnnotationCategories)?,
    );
    let in_registry = client.registry(Registry::HubRegistry)?.iter().any(|h| {
        h.slug.as_deref() == Some(seeds.hub.as_str())
            && h.status == Some(Lifecycle::Active)
            && h.manifest_digest.as_deref() == Some(seeds.digest.as_str())
    });
    let stored = store.read_runtime_key_fresh()?;
    let consumer = consumer_id
        .map(String::from)
        .or_else(|| stored.as_ref().and_then(|s| s.client_id.clone()));
    let token = match (&stored, &consumer) {
        // The key the runtime-key step of this very run ended with, and
        // proved: not asked again.
        (Some(s), Some(_)) if Some(s.version) == stored_version && client.proven(&s.key) => {
            TokenCheck::Ok
        }
        (Some(s), Some(c)) => match client.token(c, &s.key) {
            Ok(_) => TokenCheck::Ok,
            Err(Error::RuntimeKeyInvalid(_) | Error::RuntimeKeyDead(_)) => TokenCheck::Refused,
            Err(e) => return Err(e),
        },
        _ => TokenCheck::NoStoredKey,
    };
    let mut failed = Vec::new();
    if !wt.is_empty() || !et.is_empty() || !ac.is_empty() {
        failed.push(ValidationCheck::Registries);
    }
    if !in_registry {
        failed.push(ValidationCheck::HubRegistry);
    }
    if token != TokenCheck::Ok {
        failed.push(ValidationCheck::Token);
    }
    Ok(Validation {
        ok: failed.is_empty(),
        plan,
        failed,
        missing_widget_types: wt,
        missing_event_types: et,
        missing_annotation_categories: ac,
        hub_registry: in_registry,
        token,
    })
}
