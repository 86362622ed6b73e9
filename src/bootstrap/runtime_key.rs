//! The runtime key: the part that must never go wrong.
//!
//! A stored key is proven (it mints a token) and reused. A key that no longer
//! works fails the run unless `--rotate`. A new key is created only after the
//! pre-flight passed, and stored before anything else runs; if the store
//! fails it is revoked at once, and if another host won the check-and-set its
//! key is reused and ours revoked. Afterwards any other active key of the
//! consumer is an unrecorded live credential and is revoked too. In no path
//! does a live key remain that is not in OpenBao.

pub use super::report::{KeyReport, KeyStatus};
use crate::error::Error;
use crate::interhub::{key_prefix, KeyApi, NewKey};
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

/// Inputs of the runtime-key step.
pub struct KeyRequest<'a> {
    pub consumer_id: &'a str,
    /// `OPS_HUB_KEY_FILE` in the attended path.
    pub supplied: Option<Secret>,
    pub rotate: bool,
    pub plan: bool,
    pub who: &'a Provenance,
}

/// Ensures exactly one live, stored runtime key; returns an access token
/// minted with it (`None` in plan mode when no key exists yet).
///
/// A stored key that works is reused, unless `rotate`: then a new key is
/// created, stored with check-and-set on the current version, proven, and
/// the old one revoked. A stored key that no longer works fails the run
/// unless `rotate`.
pub fn ensure(
    store: &dyn RuntimeStore,
    api: &dyn KeyApi,
    req: KeyRequest,
    report: &mut KeyReport,
) -> Result<Option<Secret>, Error> {
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
    let mut cas = 0;
    let mut previous = None;
    match (&stored, &req.supplied) {
        (Some(s), Some(sup)) if !s.key.same_as(sup) => {
            return Err(Error::RuntimeKeyInvalid(
                "the supplied OPS_HUB_KEY_FILE differs from the key stored in OpenBao".into(),
            ));
        }
        _ => {}
    }
    let existing = stored
        .as_ref()
        .map(|s| (&s.key, s.version))
        .or_else(|| req.supplied.as_ref().map(|k| (k, 0)));
    if let Some((key, version)) = existing {
        report.prefix = Some(key_prefix(key.expose()));
        report.kv_version = stored.as_ref().map(|s| s.version);
        report.key_id = stored.as_ref().and_then(|s| s.key_id.clone());
        match api.token(req.consumer_id, key) {
            Ok(token) if !req.rotate => {
                if stored.is_none() && !req.plan {
                    // A supplied key that works but was never recorded: record it.
                    match store.store_runtime_key(
                        &record(key, req.consumer_id, None),
                        slot,
                        req.who,
                    )? {
                        Stored::Written { version } => report.kv_version = Some(version),
                        Stored::LostRace { .. } => {
                            return Err(Error::RuntimeKeyInvalid(
                                "another writer stored a different key meanwhile".into(),
                            ))
                        }
                    }
                }
                report.status = Some(KeyStatus::Reused);
                sweep(store, api, req.consumer_id, req.plan, report)?;
                return Ok(Some(token));
            }
            // A key that still works is rotated on request (it may have leaked).
            Ok(_) if req.plan => {
                report.status = Some(KeyStatus::WouldRotate);
                return Ok(None);
            }
            Ok(_) => {
                previous = report.prefix.clone();
                cas = version;
            }
            Err(Error::RuntimeKeyInvalid(m)) if req.rotate || req.plan => {
                if req.plan {
                    report.status = Some(if req.rotate {
                        KeyStatus::WouldRotate
                    } else {
                        KeyStatus::Invalid
                    });
                    return if req.rotate {
                        Ok(None)
                    } else {
                        Err(Error::RuntimeKeyInvalid(m))
                    };
                }
                previous = report.prefix.clone();
                cas = version;
            }
            Err(Error::RuntimeKeyInvalid(m)) => {
                report.status = Some(KeyStatus::Invalid);
                return Err(Error::RuntimeKeyInvalid(format!(
                    "{} ({m}); rerun with --rotate to replace it",
                    report.prefix.as_deref().unwrap_or("stored key")
                )));
            }
            Err(e) => return Err(e),
        }
    }
    if req.plan {
        report.status = Some(KeyStatus::WouldCreate);
        return Ok(None);
    }

    if stored.is_none() {
        // No readable key: store over whatever version the slot was at.
        cas = slot;
    }
    // ---- critical section: from here the key exists only in our memory ----
    let new = match api.create_key(req.consumer_id) {
        Ok(k) => k,
        // Refused before anything was made (a clean 4xx): nothing to sweep.
        Err(e) if refused_before_creation(&e) => return Err(e),
        // The key may exist with its answer lost: no live key stays unrecorded.
        Err(e) => return Err(after_lost_create(store, api, req.consumer_id, e, report)),
    };
    let final_key = store_or_revoke(
        store,
        api,
        req.consumer_id,
        new,
        cas,
        previous.is_some(),
        req.who,
        report,
    )?;
    // ---- end of the critical section: the live key is the stored key ----

    let token = api.token(req.consumer_id, &final_key)?;
    if report.status == Some(KeyStatus::Rotated) {
        report.previous_prefix = previous;
    }
    // The old key (after a rotation) and any unrecorded one go now.
    sweep(store, api, req.consumer_id, false, report)?;
    Ok(Some(token))
}

/// Stores a just-created key with check-and-set at `cas`, or revokes it.
/// Returns the key that is live and stored afterwards (ours, or the winner's
/// after a lost race). No signal is looked at in here.
#[allow(clippy::too_many_arguments)]
pub fn store_or_revoke(
    store: &dyn RuntimeStore,
    api: &dyn KeyApi,
    consumer_id: &str,
    new: NewKey,
    cas: u64,
    rotating: bool,
    who: &Provenance,
    report: &mut KeyReport,
) -> Result<Secret, Error> {
    report.prefix = Some(new.prefix.clone());
    report.key_id = Some(new.id.clone());
    let rec = record(&new.key, consumer_id, Some(&new.id));
    match store.store_runtime_key(&rec, cas, who) {
        Ok(Stored::Written { version }) => {
            report.kv_version = Some(version);
            report.status = Some(if rotating {
                KeyStatus::Rotated
            } else {
                KeyStatus::Created
            });
            Ok(new.key)
        }
        Ok(Stored::LostRace { winner }) => {
            report.race_lost = true;
            if let Err(e) = api.revoke_key(consumer_id, &new.id) {
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
        Err(why) => match api.revoke_key(consumer_id, &new.id) {
            Ok(()) => {
                report.status = Some(KeyStatus::Revoked);
                report.revoked.push(new.prefix.clone());
                Err(Error::RuntimeKeyNotStored(format!(
                    "{} ({}): {why}; key {} revoked",
                    why.code(),
                    report.openbao_path,
                    new.prefix
                )))
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
        },
    }
}

/// The helper path: a key the helper created (we hold only its value and
/// prefix) is stored, or revoked; then proven and the consumer swept.
pub fn adopt(
    store: &dyn RuntimeStore,
    api: &dyn KeyApi,
    consumer_id: &str,
    key: Secret,
    who: &Provenance,
    report: &mut KeyReport,
) -> Result<Secret, Error> {
    let prefix = key_prefix(key.expose());
    let id = api
        .list_keys(consumer_id)?
        .into_iter()
        .find(|k| k.prefix == prefix)
        .map(|k| k.id)
        .ok_or_else(|| {
            Error::InterhubProtocol(format!(
                "the helper's key {prefix} is not listed for consumer {consumer_id}"
            ))
        })?;
    let current = store.read_runtime_key()?;
    let (cas, rotating) = current.as_ref().map_or((0, false), |c| (c.version, true));
    let final_key = store_or_revoke(
        store,
        api,
        consumer_id,
        NewKey { id, prefix, key },
        cas,
        rotating,
        who,
        report,
    )?;
    api.token(consumer_id, &final_key)?;
    sweep(store, api, consumer_id, false, report)?;
    Ok(final_key)
}

/// The helper path when the helper made no key: the run is ok only if a
/// stored key exists and mints a token. Unrecorded active keys are swept
/// either way.
pub fn prove_stored(
    store: &dyn RuntimeStore,
    api: &dyn KeyApi,
    consumer_id: &str,
    report: &mut KeyReport,
) -> Result<(), Error> {
    let swept = sweep(store, api, consumer_id, false, report);
    let stored = store.read_runtime_key()?.ok_or_else(|| {
        Error::HelperFailed("the helper finished but no runtime key is stored".into())
    })?;
    report.prefix = Some(key_prefix(stored.key.expose()));
    report.key_id = stored.key_id.clone();
    report.kv_version = Some(stored.version);
    match api.token(consumer_id, &stored.key) {
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

use sweep::{after_lost_create, refused_before_creation, sweep};

#[cfg(test)]
#[path = "runtime_key_tests.rs"]
mod tests;
