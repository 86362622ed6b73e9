//! The Inter-Hub client: every route ops-warden calls is in [`routes`], and
//! nothing else talks to Inter-Hub. Adapting to the live service is a change
//! to these two files.
//!
//! Transport: the hardened client from `crate::http` (rustls, pinned CA,
//! timeouts, no proxies, no redirects), bodies capped at 1 MiB, bounded
//! retries with backoff on idempotent calls and on 429 `Retry-After`.
//! Server texts that reach an error are escaped, capped and scrubbed of every
//! secret this client was given.

mod routes;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;

use reqwest::{Method, StatusCode};
use serde_json::Value;

pub use routes::Registry;

use super::Created;
use crate::config::InterhubConfig;
use crate::error::Error;
use crate::http::{classify, Transport};
use crate::secret::{Redactor, Secret};
use crate::store::OperatorKey;

const MAX_BODY: usize = 1 << 20;
const MAX_RETRY_AFTER: u64 = 30;
/// At most this many requests of one run are in flight at once.
const MAX_IN_FLIGHT: usize = 8;
/// Minting a token is a credential exchange, not a write.
const TOKEN_ROUTE: &str = "/api/v2/token";

/// Which credential a route takes. Each route names its own; none is sent elsewhere.
pub(super) enum Auth<'a> {
    None,
    Operator,
    Access(&'a Secret),
}

pub(super) enum Body<'a> {
    Empty,
    Json(&'a Value),
    Form(&'a [(&'a str, &'a str)]),
}

/// One per run: its HTTP client (and so its connections) serve every route.
pub struct Client {
    rt: &'static tokio::runtime::Runtime,
    http: reqwest::Client,
    base: String,
    retries: u32,
    backoff: Duration,
    operator: Option<OperatorKey>,
    /// What the secrets sent or received look like (keyed hashes), to scrub
    /// them from any server text we keep.
    known: Mutex<Redactor>,
    /// The hub this run works on: the access token's scope names it.
    hub: String,
    /// GET answers of this run, until this run writes anything: a rerun
    /// reads each route once (the gate's registries serve the validation).
    reads: Mutex<HashMap<String, Answer>>,
    /// GETs sent ahead, concurrently, whose answers a later step takes.
    ahead: Mutex<HashMap<String, tokio::task::JoinHandle<Result<Answer, Error>>>>,
    /// SHA-256 of each key that minted a token in this run (in memory only):
    /// what this run has proven need not be proven again.
    proven: Mutex<Vec<[u8; 32]>>,
    /// At most `MAX_IN_FLIGHT` requests of this run at once, whichever way
    /// they were sent.
    in_flight: Arc<Semaphore>,
}

#[derive(Clone)]
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) body: Value,
}

impl Client {
    pub fn new(cfg: &InterhubConfig, operator: Option<OperatorKey>) -> Result<Client, Error> {
        let rt = crate::http::runtime()?;
        let http = {
            let _in_runtime = rt.enter();
            crate::http::client(cfg.ca_bundle.as_deref(), cfg.timeout, cfg.lane_uid)
                .map_err(Error::Config)?
        };
        let client = Client {
            rt,
            http,
            base: cfg.base_url.clone(),
            retries: cfg.retries,
            backoff: cfg.retry_backoff,
            operator,
            known: Mutex::new(Redactor::new()),
            hub: cfg.hub.clone(),
            reads: Mutex::new(HashMap::new()),
            ahead: Mutex::new(HashMap::new()),
            proven: Mutex::new(Vec::new()),
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        };
        if let Some(k) = &client.operator {
            client.remember(k.secret());
        }
        Ok(client)
    }

    pub(super) fn remember(&self, s: &Secret) {
        self.known.lock().unwrap().learn(s);
    }

    /// Server text that is kept: every known secret (in any form, in part)
    /// and anything key-shaped removed, then escaped and capped.
    pub(super) fn scrub(&self, text: &str) -> String {
        let t = self.known.lock().unwrap().scrub(text);
        crate::text::escape_untrusted(&t, 200)
    }

    /// One request with bounded retries when `idempotent`. A GET is
    /// answered from this run's reads (or the read sent ahead) when it has
    /// one; anything else forgets them first.
    pub(super) fn call(
        &self,
        method: Method,
        path: &str,
        auth: Auth,
        body: Body,
        idem_key: Option<&str>,
        idempotent: bool,
    ) -> Result<Answer, Error> {
        if method == Method::GET {
            if let Some(a) = self.reads.lock().unwrap().get(path) {
                return Ok(a.clone());
            }
            let ahead = self.ahead.lock().unwrap().remove(path);
            if let Some(handle) = ahead {
                let got = self
                    .rt
                    .block_on(handle)
                    .map_err(|_| Error::Internal(format!("{path}: read-ahead lost")))?;
                return got.inspect(|a| self.keep(path, a));
            }
        } else if path != TOKEN_ROUTE {
            self.forget_reads();
        }
        let req = self.request(method.clone(), path, &auth, &body, idem_key)?;
        let got = self.rt.block_on(fetch(
            req,
            path.to_string(),
            self.policy(idempotent),
            self.in_flight.clone(),
        ));
        if method == Method::GET {
            return got.inspect(|a| self.keep(path, a));
        }
        got
    }

    /// Sends these GETs now, concurrently, without waiting: the step that
    /// needs one takes its answer (or its error) from [`Client::call`].
    /// Reads this run already has, or that need a credential it lacks, are
    /// skipped.
    pub(super) fn read_ahead(&self, reads: &[(String, Auth)]) {
        for (path, auth) in reads {
            if matches!(auth, Auth::Operator) && self.operator.is_none() {
                continue;
            }
            if self.reads.lock().unwrap().contains_key(path)
                || self.ahead.lock().unwrap().contains_key(path)
            {
                continue;
            }
            let Ok(req) = self.request(Method::GET, path, auth, &Body::Empty, None) else {
                continue;
            };
            let _in_runtime = self.rt.enter();
            let handle = tokio::spawn(fetch(
                req,
                path.clone(),
                self.policy(true),
                self.in_flight.clone(),
            ));
            self.ahead.lock().unwrap().insert(path.clone(), handle);
        }
    }

    /// Idempotent writes (PUTs), at most [`MAX_IN_FLIGHT`] at a time; the
    /// answers in the order given. After an answer that refuses (a 4xx but
    /// 429: a dead token, a rejected body) nothing more is sent: the answers
    /// stop there.
    pub(super) fn put_many(&self, calls: Vec<(String, Auth, Value)>) -> Vec<Result<Answer, Error>> {
        self.forget_reads();
        let policy = self.policy(true);
        let mut out = Vec::with_capacity(calls.len());
        self.rt.block_on(async {
            let mut in_flight = VecDeque::new();
            let mut refused = false;
            for (path, auth, body) in &calls {
                if in_flight.len() == MAX_IN_FLIGHT {
                    let a = joined(in_flight.pop_front()).await;
                    refused = refuses(&a);
                    out.push(a);
                }
                if refused {
                    break;
                }
                let task = self
                    .request(Method::PUT, path, auth, &Body::Json(body), None)
                    .map(|req| {
                        tokio::spawn(fetch(req, path.clone(), policy, self.in_flight.clone()))
                    });
                in_flight.push_back(task);
            }
            while !in_flight.is_empty() {
                out.push(joined(in_flight.pop_front()).await);
            }
        });
        out
    }

    /// Keeps an answer that says what is (a failure is asked again).
    fn keep(&self, path: &str, a: &Answer) {
        if a.status.is_success() || a.status == StatusCode::NOT_FOUND {
            self.reads
                .lock()
                .unwrap()
                .insert(path.to_string(), a.clone());
        }
    }

    /// A write may change what any read said (a manifest, a key list).
    fn forget_reads(&self) {
        self.reads.lock().unwrap().clear();
        for (_, h) in self.ahead.lock().unwrap().drain() {
            h.abort();
        }
    }

    /// Whether this key minted a token earlier in this run.
    pub fn proven(&self, key: &Secret) -> bool {
        let h = crate::text::sha256_bytes(key.expose().as_bytes());
        self.proven.lock().unwrap().contains(&h)
    }

    pub(super) fn prove(&self, key: &Secret) {
        let h = crate::text::sha256_bytes(key.expose().as_bytes());
        self.proven.lock().unwrap().push(h);
    }

    fn policy(&self, idempotent: bool) -> Policy {
        Policy {
            retries: self.retries,
            backoff: self.backoff,
            idempotent,
        }
    }

    /// The request, credential and body set (sent by [`fetch`]).
    fn request(
        &self,
        method: Method,
        path: &str,
        auth: &Auth,
        body: &Body,
        idem_key: Option<&str>,
    ) -> Result<reqwest::RequestBuilder, Error> {
        let url = format!("{}{path}", self.base);
        let mut req = self
            .http
            .request(method, &url)
            .header("Accept", "application/json");
        req = match auth {
            Auth::None => req,
            Auth::Operator => {
                let k = self
                    .operator
                    .as_ref()
                    .ok_or_else(|| Error::Internal("no operator key for an admin route".into()))?;
                req.bearer_auth(k.secret().expose())
            }
            Auth::Access(t) => req.bearer_auth(t.expose()),
        };
        req = match body {
            Body::Empty => req,
            Body::Json(v) => req.json(v),
            Body::Form(f) => req.form(f),
        };
        if let Some(k) = idem_key {
            req = req.header("Idempotency-Key", k);
        }
        Ok(req)
    }

    /// Maps an unexpected status to an error; `allowed` statuses pass.
    pub(super) fn expect(&self, a: Answer, path: &str, allowed: &[u16]) -> Result<Answer, Error> {
        let code = a.status.as_u16();
        if allowed.contains(&code) {
            return Ok(a);
        }
        // Only the status and the server's error code reach the caller: a
        // server's free text (message, details) may echo what it was sent.
        let server_code = match &a.body["error"] {
            Value::Object(e) => e.get("code").and_then(Value::as_str),
            Value::String(s) => Some(s.as_str()),
            _ => None,
        };
        // (Scrubbed too: a server could echo a credential as its "code".)
        let m = match server_code.and_then(error_token) {
            Some(c) => format!("{path}: HTTP {code} {}", self.scrub(c)),
            None => format!("{path}: HTTP {code}"),
        };
        Err(match code {
            401 => Error::InterhubAuth(m),
            403 => Error::InterhubForbidden(m),
            400 | 404 | 409 | 415 | 422 => Error::InterhubRejected(m),
            429 | 500..=599 => Error::InterhubServer(m),
            _ => Error::InterhubProtocol(m),
        })
    }

    pub(super) fn parse<T: serde::de::DeserializeOwned>(v: Value, path: &str) -> Result<T, Error> {
        // serde's message may quote the value it met: not shown.
        serde_json::from_value(v)
            .map_err(|_| Error::InterhubProtocol(format!("{path}: unexpected answer shape")))
    }

    pub(super) fn items<T: serde::de::DeserializeOwned>(
        a: Answer,
        path: &str,
    ) -> Result<Vec<T>, Error> {
        Self::parse(a.body.get("items").cloned().unwrap_or(Value::Null), path)
    }

    /// An admin create: 201 with the object, or 409 when it exists already
    /// (a create that raced another writer; the caller re-reads).
    pub(super) fn admin_create<T: serde::de::DeserializeOwned>(
        &self,
        p: &str,
        body: &Value,
    ) -> Result<Created<T>, Error> {
        let a = self.call(
            Method::POST,
            p,
            Auth::Operator,
            Body::Json(body),
            None,
            true,
        )?;
        let a = self.expect(a, p, &[201, 409])?;
        if a.status == StatusCode::CONFLICT {
            return Ok(Created::Exists);
        }
        Self::parse(a.body, p).map(Created::New)
    }
}

/// How a request is retried.
#[derive(Clone, Copy)]
struct Policy {
    retries: u32,
    backoff: Duration,
    idempotent: bool,
}

/// Whether an answer ends a batch: a refusal (a 4xx but 429), or an error.
fn refuses(a: &Result<Answer, Error>) -> bool {
    match a {
        Ok(a) => a.status.is_client_error() && a.status != StatusCode::TOO_MANY_REQUESTS,
        Err(_) => true,
    }
}

/// Sends a request (holding one of the run's in-flight permits while it is
/// on the wire), with bounded retries on transient faults when the call is
/// idempotent (and on 429, which means "not processed", always).
async fn fetch(
    req: reqwest::RequestBuilder,
    path: String,
    policy: Policy,
    limit: Arc<Semaphore>,
) -> Result<Answer, Error> {
    let mut attempt = 0u32;
    loop {
        let once = req
            .try_clone()
            .ok_or_else(|| Error::Internal(format!("{path}: request cannot be repeated")))?;
        let result = {
            let _permit = limit
                .acquire()
                .await
                .map_err(|_| Error::Internal("request limit closed".into()))?;
            exchange(once, &path).await
        };
        let transient = match &result {
            Ok((a, _)) => a.status == StatusCode::TOO_MANY_REQUESTS || a.status.is_server_error(),
            Err(Error::InterhubUnreachable(_)) | Err(Error::InterhubTimeout(_)) => true,
            Err(_) => false,
        };
        let rate_limited =
            matches!(&result, Ok((a, _)) if a.status == StatusCode::TOO_MANY_REQUESTS);
        if transient && (policy.idempotent || rate_limited) && attempt < policy.retries {
            attempt += 1;
            let wait = match &result {
                Ok((_, Some(s))) => Duration::from_secs((*s).min(MAX_RETRY_AFTER)),
                _ => policy.backoff * (1u32 << (attempt - 1).min(5)),
            };
            tokio::time::sleep(wait).await;
            continue;
        }
        return result.map(|(answer, _)| answer);
    }
}

/// One exchange: the answer (body capped, parsed as JSON) and its `Retry-After`.
async fn exchange(
    req: reqwest::RequestBuilder,
    path: &str,
) -> Result<(Answer, Option<u64>), Error> {
    let mut resp = req.send().await.map_err(|e| transport(&e, path))?;
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| transport(&e, path))? {
        if buf.len() + chunk.len() > MAX_BODY {
            return Err(Error::InterhubProtocol(format!(
                "{path}: answer larger than {MAX_BODY} bytes"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    let body = if buf.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&buf).map_err(|_| {
            Error::InterhubProtocol(format!(
                "{path}: answer is not JSON (HTTP {})",
                status.as_u16()
            ))
        })?
    };
    Ok((Answer { status, body }, retry_after))
}

/// The answer of a spawned request.
async fn joined(
    task: Option<Result<tokio::task::JoinHandle<Result<Answer, Error>>, Error>>,
) -> Result<Answer, Error> {
    match task {
        Some(Ok(handle)) => handle
            .await
            .map_err(|_| Error::Internal("a request task was lost".into()))?,
        Some(Err(e)) => Err(e),
        None => Err(Error::Internal("no request in flight".into())),
    }
}

impl Drop for Client {
    /// Reads sent ahead and not taken are stopped with the client: nothing
    /// of this run reaches Inter-Hub after it.
    fn drop(&mut self) {
        self.forget_reads();
    }
}

fn transport(e: &reqwest::Error, path: &str) -> Error {
    match classify(e) {
        Transport::Timeout => Error::InterhubTimeout(path.into()),
        Transport::Tls => Error::InterhubUnreachable(format!("{path}: TLS failure")),
        Transport::Connect => Error::InterhubUnreachable(format!("{path}: connection failed")),
        Transport::Other => Error::InterhubUnreachable(format!("{path}: request failed")),
    }
}

/// A server's error code, if it is one (a short `snake_case`/`kebab-case`
/// token); free text is never passed on.
pub(super) fn error_token(s: &str) -> Option<&str> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-' || b == b'.'
        });
    ok.then_some(s)
}

pub(super) use crate::interhub::segment;
