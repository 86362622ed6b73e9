//! The KV v2 side of the session: the operator key (only for a verified
//! caller), the runtime key's reads, and its check-and-set store with read-back.

use std::collections::HashMap;

use serde_json::{Map, Value};
use vaultrs::api::kv2::requests::{
    ReadSecretMetadataRequest, ReadSecretRequest, SetSecretMetadataRequest, SetSecretRequest,
    SetSecretRequestOptions,
};

use super::OpenBao;
use crate::config::KvField;
use crate::error::Error;
use crate::policy::cert::VerifiedCaller;
use crate::secret::Secret;
use crate::store::errors::{from_client, Op};
use crate::store::{
    check_value, KeyRecord, OperatorKey, Provenance, Stored, StoredKey, FIELD_CLIENT_ID,
    FIELD_KEY_ID, FIELD_KEY_PREFIX, MAX_OPERATOR_KEY,
};

/// A KV v2 secret's data and its version.
type KvVersion = (Map<String, Value>, u64);

impl OpenBao {
    /// Reads a KV v2 secret: `None` when the path holds nothing.
    fn read_kv(&self, at: &KvField, version: Option<u64>) -> Result<Option<KvVersion>, Error> {
        let shown = at.data_path();
        let got = self.retry(|s| {
            let mut req = ReadSecretRequest::builder();
            req.mount(at.mount.as_str()).path(at.path.as_str());
            if let Some(v) = version {
                req.version(Some(v));
            }
            let req = req.build().map_err(|e| Error::Internal(e.to_string()))?;
            match s.call("read", req).and_then(|r| {
                r.data
                    .ok_or(vaultrs::error::ClientError::ResponseDataEmptyError)
            }) {
                Ok(r) => Ok(Some(r)),
                Err(e) => match from_client(e, Op::Read, &shown) {
                    Error::OpenbaoNotFound(_) => Ok(None),
                    other => Err(other),
                },
            }
        })?;
        Ok(got.map(|r| {
            let data = match r.data {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            (data, r.metadata.version)
        }))
    }

    /// The operator key. Only a verified caller's run may read it.
    pub fn read_operator_key(&self, _caller: &VerifiedCaller) -> Result<OperatorKey, Error> {
        let at = &self.cfg.operator_key;
        let (mut data, _) = self
            .read_kv(at, None)?
            .ok_or_else(|| Error::OpenbaoNotFound(at.data_path()))?;
        let value = match data.remove(&at.field) {
            Some(Value::String(s)) => Secret::new(s),
            Some(_) => return Err(Error::SecretValueNotPrintable(at.display())),
            None => return Err(Error::OpenbaoFieldMissing(at.display())),
        };
        for (_, mut v) in data {
            if let Value::String(s) = &mut v {
                zeroize::Zeroize::zeroize(s);
            }
        }
        check_value(&at.display(), value.expose(), MAX_OPERATOR_KEY)?;
        Ok(OperatorKey::from_store(value))
    }

    /// The stored runtime key, if any.
    pub fn read_runtime_key(&self) -> Result<Option<StoredKey>, Error> {
        self.read_runtime_version(None)
    }

    /// The stored runtime key as the active node has it. A standby answers
    /// reads from its own copy, which lags the leader for a moment after a
    /// failover; what is stored and what may be revoked are decided on the
    /// active node's answer only.
    pub fn read_runtime_key_fresh(&self) -> Result<Option<StoredKey>, Error> {
        for _ in 0..=self.cfg.retries + 1 {
            self.on_active()?;
            let node = self.current.get();
            let got = self.read_runtime_key()?;
            // The same node, still active after the read: its answer stands.
            if self.current.get() == node && self.still_active() {
                return Ok(got);
            }
        }
        Err(Error::openbao_server(
            "the active node changed during every read of the runtime key",
        ))
    }

    fn read_runtime_version(&self, version: Option<u64>) -> Result<Option<StoredKey>, Error> {
        let at = &self.cfg.runtime_key;
        let Some((mut data, version)) = self.read_kv(at, version)? else {
            return Ok(None);
        };
        let text = |d: &mut Map<String, Value>, k: &str| match d.remove(k) {
            Some(Value::String(s)) if !s.is_empty() => Some(s),
            _ => None,
        };
        let key = match data.remove(&at.field) {
            Some(Value::String(s)) => Secret::new(s),
            // A version without the key (deleted, or written by hand) holds no key.
            _ => return Ok(None),
        };
        check_value(&at.display(), key.expose(), 512)?;
        Ok(Some(StoredKey {
            key,
            client_id: text(&mut data, FIELD_CLIENT_ID),
            prefix: text(&mut data, FIELD_KEY_PREFIX),
            key_id: text(&mut data, FIELD_KEY_ID),
            version,
        }))
    }

    /// The runtime path's current version from its metadata, for a slot
    /// whose latest version holds no key (`bao kv delete`/`destroy`, or a
    /// value written by hand without the field): a check-and-set at 0 could
    /// never succeed there. 0 when the path has no metadata (never written,
    /// or `kv metadata delete`). A policy without `read` on the metadata
    /// path gets 0 and a note saying so.
    pub fn runtime_slot_version(&self) -> Result<u64, Error> {
        let at = &self.cfg.runtime_key;
        let got = self.retry(|s| {
            let req = ReadSecretMetadataRequest::builder()
                .mount(at.mount.as_str())
                .path(at.path.as_str())
                .build()
                .map_err(|e| Error::Internal(e.to_string()))?;
            match s.call("read-metadata", req).and_then(|r| {
                r.data
                    .ok_or(vaultrs::error::ClientError::ResponseDataEmptyError)
            }) {
                Ok(m) => Ok(m.current_version),
                Err(e) => match from_client(e, Op::Read, &at.metadata_path()) {
                    Error::OpenbaoNotFound(_) => Ok(0),
                    Error::OpenbaoReadDenied(_) => {
                        s.notes.borrow_mut().push(format!(
                            "{} is not readable: a slot whose latest version holds no key \
                             cannot be reused (grant read on it)",
                            at.metadata_path()
                        ));
                        Ok(0)
                    }
                    other => Err(other),
                },
            }
        })?;
        // Said in the evidence only if a key is then stored over it (another
        // host's key may turn up in the slot first, and be reused).
        *self.slot_note.borrow_mut() = (got > 0).then(|| {
            format!(
                "{} v{got} holds no key (deleted, destroyed or written by hand): \
                 the new key is stored as v{}",
                at.data_path(),
                got + 1
            )
        });
        Ok(got)
    }

    /// The current KV version of the runtime path (0 when nothing was ever written).
    pub fn runtime_version(&self) -> Result<u64, Error> {
        Ok(self
            .read_kv(&self.cfg.runtime_key, None)?
            .map_or(0, |(_, v)| v))
    }

    /// Stores `key` with check-and-set at `cas` (0: create only), reads it
    /// back and compares. A lost race returns the winner's key.
    pub fn store_runtime_key(
        &self,
        key: &KeyRecord,
        cas: u64,
        who: &Provenance,
    ) -> Result<Stored, Error> {
        let at = &self.cfg.runtime_key;
        let mut data = Map::new();
        data.insert(
            at.field.clone(),
            Value::String(key.key.expose().to_string()),
        );
        for (k, v) in [
            (FIELD_CLIENT_ID, &key.client_id),
            (FIELD_KEY_PREFIX, &key.prefix),
            (FIELD_KEY_ID, &key.key_id),
        ] {
            if let Some(v) = v {
                data.insert(k.into(), Value::String(v.clone()));
            }
        }
        // One bound for the write, its re-reads and its resends: the new key
        // exists only in memory meanwhile.
        let written = self.bounded(|| self.write_or_find(key, cas, &data));
        if let Some(Value::String(s)) = data.get_mut(&at.field) {
            zeroize::Zeroize::zeroize(s);
        }
        let version = match written? {
            Landing::Ours(version) => version,
            Landing::Theirs(winner) => return Ok(Stored::LostRace { winner }),
            Landing::Unknown(why) => return Ok(Stored::Unconfirmed { why }),
        };
        match self.read_runtime_version(Some(version)) {
            Ok(Some(back)) if back.key.same_as(key.key) => {}
            // A version is never rewritten: another key there is a real mismatch.
            Ok(Some(_)) => return Err(Error::OpenbaoReadBackMismatch),
            // Not there yet on the node that answered (a standby lagging
            // after a failover): the write's answer is trusted.
            Ok(None) => self.notes.borrow_mut().push(format!(
                "read-back of v{version} not confirmed: the node that answered has not got it yet"
            )),
            // The write succeeded with this version under check-and-set; only
            // its confirmation failed. The key is stored: revoking it now
            // would leave a dead key in the slot.
            Err(e) => self.notes.borrow_mut().push(format!(
                "read-back of v{version} failed ({}); the write's answer is trusted",
                e.code()
            )),
        }
        if let Some(note) = self.slot_note.borrow_mut().take() {
            if cas > 0 {
                self.notes.borrow_mut().push(note);
            }
        }
        self.write_provenance(who, version);
        Ok(Stored::Written { version })
    }

    /// The check-and-set write: where our key landed.
    ///
    /// A write that may have landed with its answer lost (a 5xx, a reset, a
    /// timeout, the leader lost) is looked for in the slot; when it is not
    /// there it is sent again, on whichever node now leads: check-and-set
    /// makes that safe (a slot another writer moved on refuses it).
    ///
    /// `Err` only when the key is certainly not stored: a clear refusal, or
    /// every attempt was answered and the slot, read after the last, does
    /// not hold it. A write whose answer was lost and that the slot cannot
    /// be shown to lack is `Unknown`: it may still land.
    fn write_or_find(
        &self,
        key: &KeyRecord,
        cas: u64,
        data: &Map<String, Value>,
    ) -> Result<Landing, Error> {
        let at = &self.cfg.runtime_key;
        let cas32 = u32::try_from(cas)
            .map_err(|_| Error::Internal("KV version exceeds check-and-set range".into()))?;
        let mut tries = 0;
        let mut all_answered = true;
        // A lone node that says it is sealed did not write; with several,
        // an earlier node may have (a 307 after applying it).
        let mut all_refused = self.nodes.len() == 1;
        loop {
            tries += 1;
            let written = self.once(|s| {
                let req = SetSecretRequest::builder()
                    .mount(at.mount.as_str())
                    .path(at.path.as_str())
                    .data(serde_json::to_value(data).map_err(|e| Error::Internal(e.to_string()))?)
                    .options(SetSecretRequestOptions { cas: cas32 })
                    .build()
                    .map_err(|e| Error::Internal(e.to_string()))?;
                s.call("store", req)
                    .and_then(|r| {
                        r.data
                            .ok_or(vaultrs::error::ClientError::ResponseDataEmptyError)
                    })
                    .map_err(|e| from_client(e, Op::Write, &at.data_path()))
            });
            let lost = match written {
                Ok(meta) => return Ok(Landing::Ours(meta.version)),
                Err(Error::OpenbaoCasConflict(p)) => {
                    // After an attempt that may have landed, the conflict
                    // may be our own write: a slot we cannot read then
                    // leaves the outcome unknown, never "not stored".
                    let read = self.own_window(|| self.read_runtime_key_fresh());
                    let winner = match read {
                        Ok(Some(w)) => w,
                        Ok(None) if tries == 1 => {
                            return Err(Error::OpenbaoCasConflict(format!(
                                "{p}: lost the race but found no key"
                            )))
                        }
                        Err(e) if tries == 1 => return Err(e),
                        Ok(None) => {
                            return Ok(Landing::Unknown(Error::OpenbaoCasConflict(format!(
                                "{p}: conflict after a lost answer, and no key found"
                            ))))
                        }
                        Err(e) => return Ok(Landing::Unknown(e)),
                    };
                    if winner.key.same_as(key.key) {
                        // Our own earlier write whose answer was lost.
                        return Ok(Landing::Ours(winner.version));
                    }
                    return Ok(Landing::Theirs(winner));
                }
                Err(e) if may_have_landed(&e) => e,
                Err(e) => return Err(e),
            };
            // Only answers that prove nothing was applied: a 500, 502 or
            // 504 may come from a write that commits afterwards.
            all_answered &= matches!(
                lost,
                Error::OpenbaoServer {
                    status: Some(429 | 503),
                    ..
                } | Error::OpenbaoSealed
            );
            all_refused &= matches!(lost, Error::OpenbaoSealed);
            // A window of its own: the write may have used up the store's.
            match self.own_window(|| self.read_runtime_key_fresh()) {
                Ok(Some(now)) if now.key.same_as(key.key) => {
                    self.notes.borrow_mut().push(format!(
                        "the store's answer was lost ({}); the key was found stored as v{}",
                        lost.code(),
                        now.version
                    ));
                    return Ok(Landing::Ours(now.version));
                }
                // The slot moved past our check-and-set value: ours can
                // never land there.
                Ok(Some(now)) if now.version > cas => return Ok(Landing::Theirs(now)),
                Ok(_) if tries <= self.cfg.retries => continue,
                // Every attempt answered, and the slot lacks it after them.
                Ok(_) if all_answered => return Err(lost),
                // Every attempt refused by a node that cannot have done it.
                _ if all_refused => return Err(lost),
                _ => return Ok(Landing::Unknown(lost)),
            }
        }
    }

    /// Custom metadata naming the run, host and certificate key id. Best
    /// effort: the key is stored already; a failure here is only logged.
    fn write_provenance(&self, who: &Provenance, version: u64) {
        let at = &self.cfg.runtime_key;
        if !self.metadata_writable.get() {
            self.notes.borrow_mut().push(format!(
                "custom metadata skipped: the policy grants no update on {}",
                at.metadata_path()
            ));
            return;
        }
        let meta: HashMap<String, String> = [
            ("ops_warden_run_id", who.run_id.clone()),
            ("ops_warden_host", who.host.clone()),
            ("ops_warden_cert_key_id", who.cert_key_id.clone()),
            ("ops_warden_version", version.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let req = SetSecretMetadataRequest::builder()
            .mount(at.mount.as_str())
            .path(at.path.as_str())
            .custom_metadata(meta)
            .build();
        if let Ok(req) = req {
            if let Err(e) = self.call_empty("metadata", req) {
                let e = from_client(e, Op::Write, &at.metadata_path());
                tracing::warn!(code = e.code().as_str(), "custom metadata not written: {e}");
                self.notes
                    .borrow_mut()
                    .push(format!("custom metadata not written ({})", e.code()));
            }
        }
    }
}

/// A failed write that may still have been applied: anything but a clear
/// refusal (denied, conflict, a 4xx). Even a final "not connected" may
/// follow an earlier node's 307 or lost answer for a write it had applied.
/// Where a check-and-set write landed.
enum Landing {
    /// The slot holds our key at this version.
    Ours(u64),
    /// Another writer's key is there: ours cannot land.
    Theirs(StoredKey),
    /// Unknown: the answer was lost and the slot could not show it absent.
    Unknown(Error),
}

fn may_have_landed(e: &Error) -> bool {
    match e {
        Error::OpenbaoWriteDenied(_)
        | Error::OpenbaoAuthFailed(_)
        | Error::OpenbaoReadDenied(_)
        | Error::OpenbaoNotFound(_)
        | Error::OpenbaoCasConflict(_)
        | Error::OpenbaoCapabilityMissing(_)
        | Error::Config(_)
        | Error::Internal(_) => false,
        Error::OpenbaoServer {
            status: Some(s), ..
        } => !((400..500).contains(s) && *s != 429),
        _ => true,
    }
}
