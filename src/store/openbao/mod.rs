//! The OpenBao client: health probe, login, KV v2 reads and CAS writes,
//! the capability pre-flight, and token revocation.
//!
//! High availability: the config may name several nodes (a raft cluster)
//! or one load balancer. A call that meets a node that cannot have done it
//! (connection refused, sealed, a standby that knows no leader, a redirect)
//! goes to the next node at once, and keeps looking for `failover_secs`
//! (long enough for an election), pausing after each round of all nodes.
//! Transient faults after which the call may have been done (a lost answer,
//! a server error) are retried `retries` times, and only for calls that may
//! be repeated; the check-and-set store re-reads the slot instead.
//!
//! vaultrs does the API calls, over our own hardened reqwest client (its
//! settings are filled explicitly, never from `VAULT_*`). The two calls it
//! lacks, `sys/capabilities-self` and a versioned read, are small rustify
//! endpoints on the same client.

mod kv;
mod trail;

pub use trail::OpenbaoTrail;

use std::cell::Cell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use rustify_derive::Endpoint;
use serde::Serialize;
use serde_json::Value;
use vaultrs::api::auth::approle::requests::LoginWithApproleRequest;
use vaultrs::api::token::requests::{LookupTokenSelfRequest, RevokeTokenSelfRequest};
use vaultrs::api::EndpointMiddleware;
use vaultrs::client::{Client, VaultClient, VaultClientSettings};
use vaultrs::error::ClientError;

use super::errors::{again, from_client, from_reqwest, from_status, Again, Op};
use crate::config::{OpenbaoAuth, OpenbaoConfig};
use crate::error::Error;
use crate::os::files::{read_secret_file, Rule};
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

/// A logged-in OpenBao session. The token is revoked on [`OpenBao::close`]
/// (or on drop) when this session created it.
pub struct OpenBao {
    rt: &'static tokio::runtime::Runtime,
    http: reqwest::Client,
    /// One client per node, all over `http` (one connection pool).
    nodes: Vec<Node>,
    /// The node calls go to; moves on when a node cannot serve.
    current: Cell<usize>,

    /// When set, no call looks for a serving node past it (one bound for a
    /// whole operation, e.g. the store and its re-reads).
    until: Cell<Option<Instant>>,
    cfg: OpenbaoConfig,
    owns_token: bool,
    closed: bool,
    /// Whether the policy grants `update` on the runtime key's metadata
    /// path (learnt in the pre-flight; custom metadata is skipped without).
    metadata_writable: std::cell::Cell<bool>,
    /// Non-fatal problems for the evidence (e.g. metadata not written).
    notes: std::cell::RefCell<Vec<String>>,
    /// The note for a store over a slot whose latest version holds no key,
    /// said only if the store happens.
    slot_note: std::cell::RefCell<Option<String>>,
    /// Every call that got an answer, with its request_id (the audit trail's).
    trail: std::cell::RefCell<OpenbaoTrail>,
}

/// One OpenBao node.
struct Node {
    addr: String,
    vault: VaultClient,
}

impl Node {
    fn new(addr: &str, http: &reqwest::Client, timeout: Duration) -> Result<Node, Error> {
        let addr = addr.trim_end_matches('/').to_string();
        let url = reqwest::Url::parse(&addr)
            .map_err(|_| Error::Config("openbao.addr does not parse".into()))?;
        let settings = VaultClientSettings {
            address: url,
            ca_certs: Vec::new(),
            identity: None,
            timeout: Some(timeout),
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
        Ok(Node { addr, vault })
    }
}

impl OpenBao {
    /// Finds a node that serves (the active one when it can tell), then
    /// logs in with the configured method.
    pub fn connect(cfg: &OpenbaoConfig) -> Result<OpenBao, Error> {
        let ca = cfg.ca_bundle.as_deref();
        let rt = crate::http::runtime()?;
        let http = {
            let _in_runtime = rt.enter();
            crate::http::client(ca, cfg.timeout, cfg.lane_uid).map_err(Error::Config)?
        };
        let nodes = cfg
            .addrs
            .iter()
            .map(|a| Node::new(a, &http, cfg.timeout))
            .collect::<Result<Vec<_>, _>>()?;
        if nodes.is_empty() {
            return Err(Error::Config("openbao.addr names no address".into()));
        }
        let mut bao = OpenBao {
            rt,
            http,
            nodes,
            current: Cell::new(0),

            until: Cell::new(None),
            cfg: cfg.clone(),
            owns_token: false,
            closed: false,
            metadata_writable: std::cell::Cell::new(true),
            notes: Default::default(),
            slot_note: Default::default(),
            trail: Default::default(),
        };
        bao.health()?;
        bao.login()?;
        Ok(bao)
    }

    /// The node calls go to now.
    pub(super) fn vault(&self) -> &VaultClient {
        &self.nodes[self.current.get()].vault
    }

    /// The address of the node calls go to now.
    pub fn addr(&self) -> &str {
        &self.nodes[self.current.get()].addr
    }

    /// A call that may be repeated: on another node when this one cannot
    /// serve, and again after a transient fault.
    pub(super) fn retry<T>(&self, call: impl FnMut(&Self) -> Result<T, Error>) -> Result<T, Error> {
        self.attempt(true, call)
    }

    /// A call that must not be done twice: only moved to another node when
    /// this one cannot have done it.
    pub(super) fn once<T>(&self, call: impl FnMut(&Self) -> Result<T, Error>) -> Result<T, Error> {
        self.attempt(false, call)
    }

    /// Moves calls to the next node.
    fn next_node(&self) {
        self.current
            .set((self.current.get() + 1) % self.nodes.len());
    }

    /// Asks `count` nodes in turn, from the current one, whether they are
    /// active; stops on the first that is (true). Otherwise calls have moved
    /// `count` nodes on, and the last node's own error (sealed, unreachable)
    /// is returned, if it had one.
    fn pass_for_active(&self, count: usize) -> Result<(), Option<Error>> {
        let mut last = None;
        for _ in 0..count {
            match self.probe() {
                Ok(200) => return Ok(()),
                Ok(_) => last = None,
                Err(e) => last = Some(e),
            }
            self.next_node();
        }
        Err(last)
    }

    /// Moves calls to the node that says it is active, asking each in turn
    /// (every time: a node can step down while its calls still succeed): for
    /// the reads that decide what is stored and what may be revoked. Until
    /// `failover_secs`, pausing after each round of all nodes; then the last
    /// node's own error (sealed, unreachable), or that none is active. One
    /// address (a single node, or a load balancer that picks the node)
    /// leaves nothing to choose.
    pub(super) fn on_active(&self) -> Result<(), Error> {
        if self.nodes.len() == 1 {
            return Ok(());
        }
        let deadline = self.deadline();
        let mut pause = self.cfg.retry_backoff;
        loop {
            let last = match self.pass_for_active(self.nodes.len()) {
                Ok(()) => return Ok(()),
                Err(last) => last,
            };
            if Instant::now() >= deadline {
                return Err(last.unwrap_or_else(|| {
                    Error::openbao_server(
                        "no node says it is the active one (an election, or no quorum)",
                    )
                }));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// Whether the current node still says it is active (one address: yes).
    pub(super) fn still_active(&self) -> bool {
        self.nodes.len() == 1 || matches!(self.probe(), Ok(200))
    }

    /// Until when a call may look for a serving node.
    fn deadline(&self) -> Instant {
        let own = Instant::now() + self.cfg.failover;
        self.until.get().map_or(own, |u| u.min(own))
    }

    /// Runs `op` with one bound for every call in it (the store: the new
    /// key exists only in memory meanwhile); inside another, the outer one.
    pub(super) fn bounded<T>(&self, op: impl FnOnce() -> T) -> T {
        let until = self
            .until
            .get()
            .unwrap_or_else(|| Instant::now() + self.cfg.failover);
        self.until_then(until, op)
    }

    /// Runs `op` with a failover window of its own (the re-reads after a
    /// lost answer: the write may have used up the store's window).
    pub(super) fn own_window<T>(&self, op: impl FnOnce() -> T) -> T {
        self.until_then(Instant::now() + self.cfg.failover, op)
    }

    fn until_then<T>(&self, until: Instant, op: impl FnOnce() -> T) -> T {
        let outer = self.until.replace(Some(until));
        let out = op();
        self.until.set(outer);
        out
    }

    fn attempt<T>(
        &self,
        repeatable: bool,
        mut call: impl FnMut(&Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let deadline = self.deadline();
        let (mut retries, mut round, mut pauses) = (0u32, 0usize, 0u32);
        loop {
            let e = match call(self) {
                Err(e) => e,
                ok => return ok,
            };
            let kind = match again(&e) {
                // A node that hangs: with others to ask, a repeatable call
                // goes to the next one (alone, the timeout was its budget).
                Again::No if matches!(e, Error::OpenbaoTimeout(_)) && self.nodes.len() > 1 => {
                    Again::IfRepeatable
                }
                k => k,
            };
            let go_on = match kind {
                Again::Elsewhere => Instant::now() < deadline,
                Again::IfRepeatable if repeatable && retries < self.cfg.retries => {
                    retries += 1;
                    // A pause before the next try, wherever it goes.
                    round = self.nodes.len();
                    true
                }
                _ => false,
            };
            if !go_on || Instant::now() >= deadline {
                return Err(e);
            }
            self.next_node();
            round += 1;
            if round >= self.nodes.len() {
                // Every node had its turn: wait a little (an election, a restart).
                round = 0;
                let pause = self.cfg.retry_backoff * (1u32 << pauses.min(5));
                std::thread::sleep(pause.min(Duration::from_secs(1)));
                pauses += 1;
            }
        }
    }

    /// `GET /v1/sys/health` ourselves (vaultrs' parser fails on OpenBao
    /// 2.7), on each node in turn until one serves. The active node is
    /// preferred: a standby forwards every call to it.
    fn health(&self) -> Result<(), Error> {
        if self.retry(Self::probe)? != 200 && self.nodes.len() > 1 {
            // A standby serves; an active node, if one answers at once,
            // serves better. The others are asked once; none active: back
            // to the standby (n - 1 steps on from the next node).
            self.next_node();
            let _ = self.pass_for_active(self.nodes.len() - 1);
        }
        Ok(())
    }

    /// The current node's health: 200 active, 429 standby (472/473: a
    /// replication secondary, a performance standby).
    fn probe(&self) -> Result<u16, Error> {
        let url = format!(
            "{}/v1/sys/health?standbycode=429&sealedcode=503&uninitcode=501",
            self.addr()
        );
        let resp = self
            .rt
            .block_on(async { self.http.get(&url).send().await })
            .map_err(|e| from_reqwest(&e, "sys/health"))?;
        match resp.status().as_u16() {
            code @ (200 | 429 | 472 | 473) => Ok(code),
            503 => Err(Error::OpenbaoSealed),
            501 => Err(Error::openbao_server("OpenBao is not initialized")),
            code => Err(from_status(code, &[], Op::Health, "sys/health")),
        }
    }

    fn login(&mut self) -> Result<(), Error> {
        let token = match self.cfg.auth.clone() {
            OpenbaoAuth::AppRole {
                mount,
                role_id_file,
                secret_id_file,
            } => {
                let role_id = read_secret_file(
                    &role_id_file,
                    Rule::SECRET
                        .named("role_id file")
                        .trusting(self.cfg.lane_uid),
                )
                .map_err(Error::OpenbaoTokenFile)?;
                let secret_id = read_secret_file(
                    &secret_id_file,
                    Rule::SECRET
                        .named("secret_id file")
                        .trusting(self.cfg.lane_uid),
                )
                .map_err(Error::OpenbaoTokenFile)?;
                // Repeated after a lost answer too: the token that login made
                // reaches no one and expires with its TTL, and a secret_id
                // with a use limit it spent fails the next login clearly.
                let auth = self.retry(|s| {
                    let login = LoginWithApproleRequest::builder()
                        .mount(mount.as_str())
                        .role_id(role_id.expose())
                        .secret_id(secret_id.expose())
                        .build()
                        .map_err(|_| Error::Internal("the login request does not build".into()))?;
                    s.call("login", login)
                        .and_then(|r| r.auth.ok_or(ClientError::ResponseEmptyError))
                        .map_err(|e| {
                            match from_client(e, Op::Login, &format!("auth/{mount}/login")) {
                                Error::OpenbaoNotFound(p) => {
                                    Error::OpenbaoAuthFailed(format!("{p}: no such auth mount"))
                                }
                                other => other,
                            }
                        })
                })?;
                self.owns_token = true;
                self.set_accessor(&auth.accessor);
                Secret::new(auth.client_token)
            }
            OpenbaoAuth::TokenFile(path) => read_secret_file(
                &path,
                Rule::SECRET.named("token file").trusting(self.cfg.lane_uid),
            )
            .map_err(Error::OpenbaoTokenFile)?,
        };
        self.set_token(token.expose());
        if !self.owns_token {
            // A token from a file is proven before use.
            let me = self.retry(|s| {
                s.call(
                    "lookup-self",
                    LookupTokenSelfRequest::builder()
                        .build()
                        .map_err(|_| Error::Internal("the lookup request does not build".into()))?,
                )
                .and_then(|r| r.data.ok_or(ClientError::ResponseDataEmptyError))
                .map_err(|e| {
                    match from_client(e, Op::Login, "auth/token/lookup-self") {
                        Error::OpenbaoAuthFailed(_) => Error::OpenbaoAuthFailed(
                            "the token file's token is invalid or expired".into(),
                        ),
                        other => other,
                    }
                })
            })?;
            self.set_accessor(&me.accessor);
        }
        Ok(())
    }

    /// Capabilities of our token on each path.
    pub fn capabilities(&self, paths: &[String]) -> Result<HashMap<String, Vec<String>>, Error> {
        let answer = self.retry(|s| {
            s.call(
                "capabilities",
                CapabilitiesSelf {
                    paths: paths.to_vec(),
                },
            )
            .and_then(|r| r.data.ok_or(ClientError::ResponseDataEmptyError))
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
    /// Also learns whether the runtime key's custom metadata may be written
    /// (optional: without `update` on its metadata path it is skipped, with
    /// a note in the evidence).
    pub fn preflight(&self, needs: &[(String, &[&str])]) -> Result<(), Error> {
        let meta = self.cfg.runtime_key.metadata_path();
        let mut paths: Vec<String> = needs.iter().map(|(p, _)| p.clone()).collect();
        paths.push(meta.clone());
        let have = self.capabilities(&paths)?;
        let meta_caps = have.get(&meta).cloned().unwrap_or_default();
        let writable = meta_caps.iter().any(|c| c == "update" || c == "root");
        self.metadata_writable.set(writable);
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
        v
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
        let mut revoked = Ok(());
        if revoke {
            // Repeated on another node after a lost answer: a token the
            // first attempt revoked is refused (403) and counts as revoked.
            let mut tries = 0;
            revoked = self.retry(|s| {
                tries += 1;
                let req = RevokeTokenSelfRequest::builder()
                    .build()
                    .map_err(|_| Error::Internal("the revoke request does not build".into()))?;
                match s.call_empty("revoke-self", req) {
                    Ok(()) => Ok(()),
                    Err(e) => match from_client(e, Op::Other, "auth/token/revoke-self") {
                        Error::OpenbaoAuthFailed(_) if tries > 1 => Ok(()),
                        other => Err(other),
                    },
                }
            });
        }
        // Forgotten whatever the revocation said.
        self.set_token("");
        revoked.map(|()| revoke)
    }

    /// Sets the token on every node's client; the copies it replaces are
    /// wiped first.
    fn set_token(&mut self, token: &str) {
        use zeroize::Zeroize;
        for n in &mut self.nodes {
            n.vault.settings.token.zeroize();
            n.vault.middle.token.zeroize();
            n.vault.set_token(token);
        }
    }
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
