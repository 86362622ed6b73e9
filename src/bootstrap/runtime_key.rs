//! The runtime key: the part that must never go wrong.
//!
//! A stored key is proven (it mints a token) and reused. A key Inter-Hub
//! calls `invalid_client` is replaced (`replaced`); `--rotate` replaces one
//! that still works. A new key is created only after the pre-flight passed,
//! and stored before anything else runs; if the store certainly failed it is
//! revoked at once, and if another host won the check-and-set its key is
//! reused and ours revoked. A store whose outcome is unknown leaves the key
//! in this host's custody journal for the next run to settle.
//!
//! No run revokes a key it cannot prove dead to everyone (the sweep's rule,
//! `runtime_key_sweep.rs`): a fleet of hosts shares the slot, and another
//! host's key may be on its way into it.

use std::time::{Duration, Instant};

pub use super::custody_journal::{HostJournal, Journal, NoJournal, Pending};
pub use super::report::{KeyReport, KeyStatus};
use crate::error::Error;
use crate::interhub::{key_prefix, KeyApi, Lifecycle, NewKey};
use crate::secret::Secret;
use crate::store::openbao::OpenBao;
use crate::store::{KeyRecord, Provenance, Stored, StoredKey};

/// The store side of the critical section (OpenBao; fakes in unit tests).
pub trait RuntimeStore {
    fn read_runtime_key(&self) -> Result<Option<StoredKey>, Error>;
    /// The stored key as the store's primary has it (a replica may lag):
    /// for the reads that decide what may be revoked.
    fn read_runtime_key_fresh(&self) -> Result<Option<StoredKey>, Error> {
        self.read_runtime_key()
    }
    fn store_runtime_key(
        &self,
        key: &KeyRecord,
        cas: u64,
        who: &Provenance,
    ) -> Result<Stored, Error>;
    /// The check-and-set value for a slot that holds no readable key: its
    /// current version (0 when it was never written).
    fn slot_version(&self) -> Result<u64, Error> {
        Ok(0)
    }
}

impl RuntimeStore for OpenBao {
    fn read_runtime_key(&self) -> Result<Option<StoredKey>, Error> {
        OpenBao::read_runtime_key(self)
    }
    fn read_runtime_key_fresh(&self) -> Result<Option<StoredKey>, Error> {
        OpenBao::read_runtime_key_fresh(self)
    }
    fn store_runtime_key(
        &self,
        key: &KeyRecord,
        cas: u64,
        who: &Provenance,
    ) -> Result<Stored, Error> {
        OpenBao::store_runtime_key(self, key, cas, who)
    }
    fn slot_version(&self) -> Result<u64, Error> {
        OpenBao::runtime_slot_version(self)
    }
}

/// What custody acts with: the store, Inter-Hub's key calls, this host's
/// journal, this run's id and the age past which an unstored key is an
/// orphan.
pub struct Custody<'a> {
    pub store: &'a dyn RuntimeStore,
    pub api: &'a dyn KeyApi,
    pub journal: &'a dyn Journal,
    pub run: &'a str,
    pub orphan_age: Duration,
}

impl Custody<'_> {
    /// Journals a key this run holds and has not stored yet; a failed write
    /// is only a note (the key is stored or revoked by this run all the
    /// same). `store_or_revoke` settles it.
    fn journal_made(&self, id: &str, prefix: &str) {
        let pending = Pending {
            id: id.to_string(),
            prefix: prefix.to_string(),
            run: self.run.to_string(),
        };
        if let Err(e) = self.journal.made(pending) {
            tracing::warn!("custody journal not written: {e}");
        }
    }
}

/// Inputs of the runtime-key step.
pub struct KeyRequest<'a> {
    pub consumer_id: &'a str,
    /// `OPS_HUB_KEY_FILE` in the attended path.
    pub supplied: Option<Secret>,
    pub rotate: bool,
    pub plan: bool,
    pub who: &'a Provenance,
}

/// Why a new key replaces the stored one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Replace {
    /// `--rotate`: the stored key may still work (it may have leaked).
    Rotate,
    /// Inter-Hub said `invalid_client` for it: it is dead.
    Dead,
}

/// Ensures exactly one live, stored runtime key; returns an access token
/// minted with it (`None` in plan mode when no key exists yet).
///
/// A stored key that works is reused, unless `rotate`: then a new key is
/// created, stored with check-and-set on the current version, proven, and
/// the old one revoked. A stored key Inter-Hub calls `invalid_client` is
/// replaced the same way (`replaced`); any other failure to prove it fails
/// the run.
pub fn ensure(
    c: &Custody,
    req: KeyRequest,
    report: &mut KeyReport,
) -> Result<Option<Secret>, Error> {
    let (store, api) = (c.store, c.api);
    let mut stored = store.read_runtime_key()?;
    // The version a new key would be stored over, when no key is readable:
    // the slot's version first, then the key read again, so that a key
    // another host stored in between is reused, never written over (a key
    // stored after both reads makes our check-and-set fail: a lost race).
    let mut slot = 0;
    if stored.is_none() && !req.plan {
        slot = store.slot_version()?;
        // As the primary has it: a lagging replica could miss that key.
        stored = store.read_runtime_key_fresh()?;
    }
    if stored.is_some() && !req.rotate {
        // The sweep's key list travels while the stored key is proven.
        api.read_ahead_keys(req.consumer_id);
    }
    if let (Some(s), Some(sup)) = (&stored, &req.supplied) {
        if !s.key.same_as(sup) {
            return Err(Error::RuntimeKeyInvalid(
                "the supplied OPS_HUB_KEY_FILE differs from the key stored in OpenBao".into(),
            ));
        }
    }
    let mut cas = slot;
    let mut replacing = None;
    let existing = stored
        .as_ref()
        .map(|s| (&s.key, s.version))
        .or_else(|| req.supplied.as_ref().map(|k| (k, 0)));
    if let Some((key, version)) = existing {
        report.prefix = Some(key_prefix(key.expose()));
        report.kv_version = stored.as_ref().map(|s| s.version);
        report.key_id = stored.as_ref().and_then(|s| s.key_id.clone());
        let why = match api.token(req.consumer_id, key) {
            Ok(token) if !req.rotate => {
                if stored.is_none() && !req.plan {
                    // A supplied key that works but was never recorded: record it.
                    match store.store_runtime_key(
                        &record(key, req.consumer_id, None),
                        slot,
                        req.who,
                    )? {
                        Stored::Written { version } => report.kv_version = Some(version),
                        Stored::LostRace { .. } | Stored::Unconfirmed { .. } => {
                            return Err(Error::RuntimeKeyInvalid(
                                "another writer stored a different key meanwhile".into(),
                            ))
                        }
                    }
                }
                report.status = Some(KeyStatus::Reused);
                sweep(c, req.consumer_id, req.plan, &[], report)?;
                return Ok(Some(token));
            }
            Ok(_) => Replace::Rotate,
            // Definitely dead (Inter-Hub's invalid_client), and ours to
            // replace: it is the stored one.
            Err(Error::RuntimeKeyDead(_)) if stored.is_some() && !req.rotate => Replace::Dead,
            Err(Error::RuntimeKeyDead(_)) if req.rotate => Replace::Rotate,
            Err(e @ Error::RuntimeKeyDead(_)) => {
                report.status = Some(KeyStatus::Invalid);
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        if req.plan {
            report.status = Some(match why {
                Replace::Rotate => KeyStatus::WouldRotate,
                Replace::Dead => KeyStatus::WouldReplace,
            });
            return Ok(None);
        }
        replacing = Some((why, report.prefix.clone()));
        // A supplied key with nothing stored: the slot's own version.
        if stored.is_some() {
            cas = version;
        }
    }
    if req.plan {
        report.status = Some(KeyStatus::WouldCreate);
        return Ok(None);
    }

    // ---- critical section: from here the key exists only in our memory ----
    let made = Instant::now();
    let new = match api.create_key(req.consumer_id) {
        Ok(k) => k,
        // Refused before anything was made (a clean 4xx), or maybe made
        // with its answer lost: then nobody ever held its secret, and no
        // run can tell it from another host's key on its way into the slot.
        // It is left to the orphan sweep (the error names it so).
        Err(e) if refused_before_creation(&e) => return Err(e),
        Err(e) => return Err(maybe_created(e, c.orphan_age)),
    };
    c.journal_made(&new.id, &new.prefix);
    let final_key = store_or_revoke(c, req.consumer_id, new, cas, made, req.who, report)?;
    // ---- end of the critical section: the live key is the stored key ----

    let mut ours = Vec::new();
    if let Some((why, prev)) = replacing {
        ours.extend(replaced(report, why, prev));
    }
    let token = api.token(req.consumer_id, &final_key)?;
    // The key our store displaced (after a rotation) and any provably dead
    // one go now.
    sweep(c, req.consumer_id, false, &ours, report)?;
    Ok(Some(token))
}

/// After our key was stored over `prev` (the slot's key before): the run
/// says it rotated or replaced it, and returns the displaced prefix, now
/// this run's to revoke. Nothing when the store did not make ours the key.
fn replaced(report: &mut KeyReport, why: Replace, prev: Option<String>) -> Option<String> {
    if report.status != Some(KeyStatus::Created) || prev.is_none() {
        return None;
    }
    report.status = Some(match why {
        Replace::Rotate => KeyStatus::Rotated,
        Replace::Dead => KeyStatus::Replaced,
    });
    if why == Replace::Dead {
        report.replaced_because = Some("invalid_client".into());
    }
    report.previous_prefix = prev.clone();
    prev
}

/// Whether a key that was not stored stays in the journal: its store may
/// have landed (unconfirmed), or its revocation failed (orphaned): the next
/// run of the host settles it.
fn keeps_journaled(report: &KeyReport) -> bool {
    matches!(
        report.status,
        Some(KeyStatus::Unconfirmed | KeyStatus::Orphaned)
    )
}

/// A `create_key` that may have made a key: the run fails saying so, and
/// what happens to such a key.
fn maybe_created(e: Error, orphan_age: Duration) -> Error {
    Error::RuntimeKeyMaybeCreated(format!(
        "key creation failed ({}) in a way that may have made a key; nobody holds its \
         secret; no run can tell it from another host's key on its way into the slot, so \
         the sweep revokes it once older than {} s (interhub.orphan_key_age_secs)",
        e.code(),
        orphan_age.as_secs()
    ))
}

/// Stores a just-created key with check-and-set at `cas`, or revokes it.
/// Returns the key that is live and stored afterwards (ours, or the winner's
/// after a lost race). No signal is looked at in here. The key's journal
/// entry (`Custody::journal_made`) is settled here, unless the key may be
/// stored (unconfirmed) or could not be revoked (orphaned): the next run of
/// the host settles those.
pub fn store_or_revoke(
    c: &Custody,
    consumer_id: &str,
    new: NewKey,
    cas: u64,
    made: Instant,
    who: &Provenance,
    report: &mut KeyReport,
) -> Result<Secret, Error> {
    let id = new.id.clone();
    let placed = place(c, consumer_id, new, cas, made, who, report);
    if !keeps_journaled(report) {
        c.journal.settled(&[id.as_str()]);
    }
    placed
}

/// `store_or_revoke`'s work.
fn place(
    c: &Custody,
    consumer_id: &str,
    new: NewKey,
    cas: u64,
    made: Instant,
    who: &Provenance,
    report: &mut KeyReport,
) -> Result<Secret, Error> {
    report.prefix = Some(new.prefix.clone());
    report.key_id = Some(new.id.clone());
    // Past half the orphan age another host's sweep may take our key for
    // an orphan: too late to store it.
    if made.elapsed() >= c.orphan_age / 2 {
        return revoke_ours(
            c,
            consumer_id,
            &new,
            Error::RuntimeKeyNotStored(format!(
                "more than {} s passed between making key {} and storing it",
                (c.orphan_age / 2).as_secs(),
                new.prefix
            )),
            report,
        );
    }
    let rec = record(&new.key, consumer_id, Some(&new.id));
    match c.store.store_runtime_key(&rec, cas, who) {
        Ok(Stored::Written { version }) => {
            report.kv_version = Some(version);
            report.status = Some(KeyStatus::Created);
            Ok(new.key)
        }
        Ok(Stored::LostRace { winner }) => {
            report.race_lost = true;
            if let Err(e) = c.api.revoke_key(consumer_id, &new.id) {
                report.status = Some(KeyStatus::Orphaned);
                return Err(Error::RuntimeKeyOrphaned(format!(
                    "lost the store race; own key {} (id {}) not revoked ({})",
                    new.prefix,
                    new.id,
                    e.code()
                )));
            }
            report.revoked.push(new.prefix.clone());
            report.status = Some(KeyStatus::Reused);
            report.prefix = Some(key_prefix(winner.key.expose()));
            report.key_id = winner.key_id.clone();
            report.kv_version = Some(winner.version);
            Ok(winner.key)
        }
        // The write may have landed: revoking it could kill the stored key
        // of every host. It stays live, in this host's journal, until the
        // next run (or the orphan sweep) sees whether the slot holds it.
        Ok(Stored::Unconfirmed { why }) => {
            report.status = Some(KeyStatus::Unconfirmed);
            Err(Error::RuntimeKeyUnconfirmed(format!(
                "key {} (id {}): the store's answer was lost ({}) and the slot could not be \
                 read since; the next run settles it",
                new.prefix,
                new.id,
                why.code()
            )))
        }
        Err(why) => {
            let e = Error::RuntimeKeyNotStored(format!(
                "{} ({}): {why}",
                why.code(),
                report.openbao_path
            ));
            revoke_ours(c, consumer_id, &new, e, report)
        }
    }
}

/// A helper's key whose custody could not even begin (its id, its
/// consumer or the slot unreadable): it stays live; the run says so, naming
/// its prefix.
pub fn report_orphan(prefix: &str, e: Error) -> Error {
    Error::RuntimeKeyOrphaned(format!(
        "the helper's key {prefix} could be neither stored nor revoked ({})",
        e.code()
    ))
}

/// Our key, certainly not stored: revoked, and the run fails with `why`.
fn revoke_ours(
    c: &Custody,
    consumer_id: &str,
    new: &NewKey,
    why: Error,
    report: &mut KeyReport,
) -> Result<Secret, Error> {
    match c.api.revoke_key(consumer_id, &new.id) {
        Ok(()) => {
            report.status = Some(KeyStatus::Revoked);
            report.revoked.push(new.prefix.clone());
            Err(match why {
                Error::RuntimeKeyNotStored(m) => {
                    Error::RuntimeKeyNotStored(format!("{m}; key {} revoked", new.prefix))
                }
                other => other,
            })
        }
        Err(e) => {
            report.status = Some(KeyStatus::Orphaned);
            Err(Error::RuntimeKeyOrphaned(format!(
                "key {} (id {}) not stored ({}) and not revoked ({})",
                new.prefix,
                new.id,
                why.code(),
                e.code()
            )))
        }
    }
}

/// The helper path: a key the helper created (we hold only its value and
/// prefix) is stored, or revoked; then proven and the consumer swept.
/// `printed`: prefixes of keys the helper printed (this run's own).
pub fn adopt(
    c: &Custody,
    consumer_id: &str,
    key: Secret,
    printed: &[String],
    who: &Provenance,
    report: &mut KeyReport,
) -> Result<Secret, Error> {
    let prefix = key_prefix(key.expose());
    // Never left unaccounted for: a key whose id or slot cannot be learnt
    // is reported as orphaned, naming its prefix.
    let orphaned = |e: Error| report_orphan(&prefix, e);
    let listed = c
        .api
        .list_keys(consumer_id)
        .map_err(orphaned)?
        .into_iter()
        .find(|k| k.prefix == prefix && k.status == Lifecycle::Active)
        .ok_or_else(|| {
            Error::InterhubProtocol(format!(
                "the helper's key {prefix} is not listed as active for consumer {consumer_id}"
            ))
        })?;
    // Its age, from Inter-Hub: the store deadline counts from its creation.
    let age = listed
        .age(chrono::Utc::now())
        .and_then(|a| a.to_std().ok())
        .unwrap_or_default();
    let made = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
    c.journal_made(&listed.id, &prefix);
    let current = c.store.read_runtime_key().map_err(orphaned)?;
    let cas = match &current {
        Some(s) => s.version,
        None => c.store.slot_version().map_err(orphaned)?,
    };
    let previous = current.as_ref().map(|c| key_prefix(c.key.expose()));
    drop(current);
    let new = NewKey {
        id: listed.id,
        prefix,
        key,
    };
    let final_key = store_or_revoke(c, consumer_id, new, cas, made, who, report)?;
    let mut ours = printed.to_vec();
    ours.extend(replaced(report, Replace::Rotate, previous));
    c.api.token(consumer_id, &final_key)?;
    sweep(c, consumer_id, false, &ours, report)?;
    Ok(final_key)
}

/// The helper path when the helper made no key: the run is ok only if a
/// stored key exists and mints a token. Provably dead keys are swept either
/// way, the keys the helper printed (`printed`, this run's own) among them.
pub fn prove_stored(
    c: &Custody,
    consumer_id: &str,
    printed: &[String],
    report: &mut KeyReport,
) -> Result<(), Error> {
    let swept = sweep(c, consumer_id, false, printed, report);
    let stored = c.store.read_runtime_key()?.ok_or_else(|| {
        Error::HelperFailed("the helper finished but no runtime key is stored".into())
    })?;
    report.prefix = Some(key_prefix(stored.key.expose()));
    report.key_id = stored.key_id.clone();
    report.kv_version = Some(stored.version);
    match c.api.token(consumer_id, &stored.key) {
        Ok(_) => report.status = Some(KeyStatus::Reused),
        Err(e) => {
            report.status = Some(KeyStatus::Invalid);
            return Err(e);
        }
    }
    swept
}

fn record<'a>(key: &'a Secret, consumer_id: &str, key_id: Option<&str>) -> KeyRecord<'a> {
    KeyRecord {
        key,
        client_id: Some(consumer_id.to_string()),
        prefix: Some(key_prefix(key.expose())),
        key_id: key_id.map(String::from),
    }
}

#[path = "runtime_key_sweep.rs"]
mod sweep;

use sweep::{refused_before_creation, sweep};

#[cfg(test)]
#[path = "runtime_key_tests.rs"]
mod tests;
