//! The OpenBao client: health probe, login, KV v2 reads and CAS writes,
//! the capability pre-flight, and token revocation.
//!
//! vaultrs does the API calls, over our own hardened reqwest client (its
//! settings are filled explicitly, never from `VAULT_*`). The two calls it
//! lacks, `sys/capabilities-self` and a versioned read, are small rustify
//! endpoints on the same client.

use std::collections::HashMap;
use std::time::Duration;

use rustify_derive::Endpoint;
use serde::Serialize;
use serde_json::{Map, Value};
use vaultrs::api::kv2::requests::{
    ReadSecretRequest, SetSecretMetadataRequest, SetSecretRequestOptions,
};
use vaultrs::api::EndpointMiddleware;
use vaultrs::client::{Client, VaultClient, VaultClientSettings};

use super::errors::{from_client, from_reqwest, from_status, retryable, Op};
use super::{
    check_value, KeyRecord, OperatorKey, Provenance, Stored, StoredKey, FIELD_CLIENT_ID,
    FIELD_KEY_ID, FIELD_KEY_PREFIX, MAX_OPERATOR_KEY,
};
use crate::config::{KvField, OpenbaoAuth, OpenbaoConfig};
use crate::error::Error;
use crate::os::files::{read_secret_file, Rule};
use crate::policy::cert::VerifiedCaller;
use crate::secret::Secret;

/// `sys/capabilities-self`: which capabilities our token has on each path.
#[derive(Debug, Endpoint, Serialize)]
#[endpoint(
    path = "sys/capabilities-self",
    method = "POST",
    response = "HashMap<String, Value>"
)]
struct CapabilitiesSelf {
    paths: Vec<String>,
}

/// A KV v2 secret's data and its version.
type KvVersion = (Map<String, Value>, u64);

/// A logged-in OpenBao session. The token is revoked on [`OpenBao::close`]
/// (or on drop) when this session created it.
pub struct OpenBao {
    rt: &'static tokio::runtime::Runtime,
    http: reqwest::Client,
    addr: String,
    vault: VaultClient,
    cfg: OpenbaoConfig,
    owns_token: bool,
    closed: bool,
    /// Non-fatal problems for the evidence (e.g. metadata not written).
    notes: std::cell::RefCell<Vec<String>>,
}

impl OpenBao {
    /// Probes health, then logs in with the configured method.
    pub fn connect(cfg: &OpenbaoConfig) -> Result<OpenBao, Error> {
        let addr = cfg.addr.trim_end_matches('/').to_string();
        let ca = cfg.ca_bundle.as_deref();
        let rt = crate::http::runtime()?;
        let http = {
            let _in_runtime = rt.enter();
            crate::http::client(ca, cfg.timeout).map_err(Error::Config)?
        };
        let url = reqwest::Url::parse(&addr)
            .map_err(|_| Error::Config("openbao.addr does not parse".into()))?;
        let settings = VaultClientSettings {
            address: url,
            ca_certs: Vec::new(),
            identity: None,
            timeout: Some(cfg.timeout),
            token: String::new(),
            verify: true,
            version: 1,
            wrapping: false,
            namespace: None,
            proxy: None,
        };
        let vault = VaultClient {
            http: rustify::clients::reqwest::Client::new(&addr, http.clone()),
            middle: EndpointMiddleware {
                token: String::new(),
                version: "v1".into(),
                wrap: None,
                namespace: None,
            },
            settings,
        };
        let mut bao = OpenBao {
            rt,
            http,
            addr,
            vault,
            cfg: cfg.clone(),
            owns_token: false,
            closed: false,
            notes: Default::default(),
        };
        bao.health()?;
        bao.login()?;
        Ok(bao)
    }

    /// Retries an idempotent call on transient faults, with backoff.
    fn retry<T>(&self, mut call: impl FnMut(&Self) -> Result<T, Error>) -> Result<T, Error> {
        let mut attempt = 0;
        loop {
            match call(self) {
                Err(e) if retryable(&e) && attempt < self.cfg.retries => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(150 << attempt.min(5)));
                }
                other => return other,
            }
        }
    }

    /// `GET /v1/sys/health` ourselves (vaultrs' parser fails on OpenBao 2.7).
    fn health(&self) -> Result<(), Error> {
        self.retry(|s| {
            let url = format!(
                "{}/v1/sys/health?standbyok=true&sealedcode=503&uninitcode=501",
                s.addr
            );
            let resp =
                s.rt.block_on(async { s.http.get(&url).send().await })
                    .map_err(|e| from_reqwest(&e, "sys/health"))?;
            match resp.status().as_u16() {
                200 | 429 | 472 | 473 => Ok(()),
                503 => Err(Error::OpenbaoSealed),
                501 => Err(Error::openbao_server("OpenBao is not initialized")),
                code => Err(from_status(code, &[], Op::Health, "sys/health")),
            }
        })
    }

    fn login(&mut self) -> Result<(), Error> {
        let token = match self.cfg.auth.clone() {
            OpenbaoAuth::AppRole {
                mount,
                role_id_file,
                secret_id_file,
            } => {
                let role_id = read_secret_file(&role_id_file, Rule::SECRET.named("role_id file"))
                    .map_err(Error::OpenbaoTokenFile)?;
                let secret_id =
                    read_secret_file(&secret_id_file, Rule::SECRET.named("secret_id file"))
                        .map_err(Error::OpenbaoTokenFile)?;
                // Login is not retried on server errors: a secret_id with a
                // use limit must not be spent twice.
                let auth = self
                    .rt
                    .block_on(vaultrs::auth::approle::login(
                        &self.vault,
                        &mount,
                        role_id.expose(),
                        secret_id.expose(),
                    ))
                    .map_err(|e| {
                        match from_client(e, Op::Login, &format!("auth/{mount}/login")) {
                            Error::OpenbaoNotFound(p) => {
                                Error::OpenbaoAuthFailed(format!("{p}: no such auth mount"))
                            }
                            other => other,
                        }
                    })?;
                self.owns_token = true;
                Secret::new(auth.client_token)
            }
            OpenbaoAuth::TokenFile(path) => {
                read_secret_file(&path, Rule::SECRET.named("token file"))
                    .map_err(Error::OpenbaoTokenFile)?
            }
        };
        self.vault.set_token(token.expose());
        if !self.owns_token {
            // A token from a file is proven before use.
            self.rt
                .block_on(vaultrs::token::lookup_self(&self.vault))
                .map_err(
                    |e| match from_client(e, Op::Login, "auth/token/lookup-self") {
                        Error::OpenbaoAuthFailed(_) => Error::OpenbaoAuthFailed(
                            "the token file's token is invalid or expired".into(),
                        ),
                        other => other,
                    },
                )?;
        }
        Ok(())
    }

    /// Capabilities of our token on each path.
    pub fn capabilities(&self, paths: &[String]) -> Result<HashMap<String, Vec<String>>, Error> {
        let answer = self.retry(|s| {
            s.rt.block_on(vaultrs::api::exec_with_result(
                &s.vault,
                CapabilitiesSelf {
                    paths: paths.to_vec(),
                },
            ))
            .map_err(|e| from_client(e, Op::Other, "sys/capabilities-self"))
        })?;
        Ok(paths
            .iter()
            .map(|p| {
                let caps = answer
                    .get(p)
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|c| c.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                (p.clone(), caps)
            })
            .collect())
    }

    /// Refuses, naming path and capability, unless every need is granted.
    pub fn preflight(&self, needs: &[(String, &[&str])]) -> Result<(), Error> {
        let paths: Vec<String> = needs.iter().map(|(p, _)| p.clone()).collect();
        let have = self.capabilities(&paths)?;
        let mut missing = Vec::new();
        for (path, caps) in needs {
            let granted = have.get(path).cloned().unwrap_or_default();
            if granted.iter().any(|c| c == "root") {
                continue;
            }
            for c in *caps {
                if !granted.iter().any(|g| g == c) {
                    missing.push(format!("{c} on {path}"));
                }
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Error::OpenbaoCapabilityMissing(missing.join(", ")))
        }
    }

    /// What the lane needs before anything irreversible happens elsewhere.
    pub fn lane_needs(
        &self,
        read_operator: bool,
        store_runtime: bool,
    ) -> Vec<(String, &'static [&'static str])> {
        let mut v: Vec<(String, &'static [&'static str])> = Vec::new();
        if read_operator {
            v.push((self.cfg.operator_key.data_path(), &["read"]));
        }
        v.push((
            self.cfg.runtime_key.data_path(),
            if store_runtime {
                &["read", "create", "update"]
            } else {
                &["read"]
            },
        ));
        if store_runtime {
            v.push((self.cfg.runtime_key.metadata_path(), &["update"]));
        }
        v
    }

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
            match s.rt.block_on(vaultrs::api::exec_with_result(&s.vault, req)) {
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
            match s
                .rt
                .block_on(vaultrs::kv2::read_metadata(&s.vault, &at.mount, &at.path))
            {
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
        if got > 0 {
            self.notes.borrow_mut().push(format!(
                "{} v{got} holds no key (deleted, destroyed or written by hand): \
                 the new key is stored as v{}",
                at.data_path(),
                got + 1
            ));
        }
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
        let cas32 = u32::try_from(cas)
            .map_err(|_| Error::Internal("KV version exceeds check-and-set range".into()))?;
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
        let written = self.rt.block_on(vaultrs::kv2::set_with_options(
            &self.vault,
            &at.mount,
            &at.path,
            &data,
            SetSecretRequestOptions { cas: cas32 },
        ));
        if let Some(Value::String(s)) = data.get_mut(&at.field) {
            zeroize::Zeroize::zeroize(s);
        }
        let version = match written {
            Ok(meta) => meta.version,
            Err(e) => match from_client(e, Op::Write, &at.data_path()) {
                Error::OpenbaoCasConflict(p) => {
                    let winner = self.read_runtime_key()?.ok_or_else(|| {
                        Error::OpenbaoCasConflict(format!("{p}: lost the race but found no key"))
                    })?;
                    if winner.key.same_as(key.key) {
                        // Our own earlier write whose answer was lost.
                        return Ok(Stored::Written {
                            version: winner.version,
                        });
                    }
                    return Ok(Stored::LostRace { winner });
                }
                other => return Err(other),
            },
        };
        let back = self
            .read_runtime_version(Some(version))?
            .ok_or(Error::OpenbaoReadBackMismatch)?;
        if !back.key.same_as(key.key) {
            return Err(Error::OpenbaoReadBackMismatch);
        }
        self.write_provenance(who, version);
        Ok(Stored::Written { version })
    }

    /// Custom metadata naming the run, host and certificate key id. Best
    /// effort: the key is stored already; a failure here is only logged.
    fn write_provenance(&self, who: &Provenance, version: u64) {
        let at = &self.cfg.runtime_key;
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
            if let Err(e) = self
                .rt
                .block_on(vaultrs::api::exec_with_empty(&self.vault, req))
            {
                let e = from_client(e, Op::Write, &at.metadata_path());
                tracing::warn!(code = e.code().as_str(), "custom metadata not written: {e}");
                self.notes
                    .borrow_mut()
                    .push(format!("custom metadata not written ({})", e.code()));
            }
        }
    }

    /// Non-fatal problems met so far (for the evidence).
    pub fn notes(&self) -> Vec<String> {
        self.notes.borrow().clone()
    }

    /// Revokes the login token, only one this session created (a token
    /// file's token belongs to whoever wrote it, e.g. an OpenBao Agent).
    /// `Ok(true)` when a token was revoked.
    pub fn close(&mut self) -> Result<bool, Error> {
        if self.closed {
            return Ok(false);
        }
        self.closed = true;
        let revoke = self.owns_token;
        if revoke {
            self.rt
                .block_on(vaultrs::token::revoke_self(&self.vault))
                .map_err(|e| from_client(e, Op::Other, "auth/token/revoke-self"))?;
        }
        self.vault.set_token("");
        Ok(revoke)
    }
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
