//! Every Inter-Hub route ops-warden calls, and nothing else talks to Inter-Hub.
//! Adapting to the live service is a change to this one file.
//!
//! Transport: the hardened client from `crate::http` (rustls, pinned CA,
//! timeouts, no proxies, no redirects), bodies capped at 1 MiB, bounded
//! retries with backoff on idempotent calls and on 429 `Retry-After`.
//! Server texts that reach an error are escaped, capped and scrubbed of every
//! secret this client was given.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{Consumer, Created, Hub, KeyApi, KeyInfo, Manifest, NewKey, NewWidget, Widget};
use crate::config::InterhubConfig;
use crate::error::Error;
use crate::http::{classify, Transport};
use crate::secret::Secret;
use crate::store::OperatorKey;

const MAX_BODY: usize = 1 << 20;
const MAX_RETRY_AFTER: u64 = 30;

/// Which credential a route takes. Each route names its own; none is sent elsewhere.
enum Auth<'a> {
    None,
    Operator,
    Access(&'a Secret),
}

enum Body<'a> {
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
    operator: Option<OperatorKey>,
    /// Copies of the secrets sent or received, kept only to scrub them from
    /// any server text we keep (wiped on drop).
    known: Mutex<Vec<zeroize::Zeroizing<String>>>,
    /// The hub this run works on: the access token's scope names it.
    hub: String,
}

struct Answer {
    status: StatusCode,
    body: Value,
}

impl Client {
    pub fn new(cfg: &InterhubConfig, operator: Option<OperatorKey>) -> Result<Client, Error> {
        let rt = crate::http::runtime()?;
        let http = {
            let _in_runtime = rt.enter();
            crate::http::client(cfg.ca_bundle.as_deref(), cfg.timeout).map_err(Error::Config)?
        };
        let client = Client {
            rt,
            http,
            base: cfg.base_url.clone(),
            retries: cfg.retries,
            operator,
            known: Mutex::new(Vec::new()),
            hub: cfg.hub.clone(),
        };
        if let Some(k) = &client.operator {
            client.remember(k.secret());
        }
        Ok(client)
    }

    fn remember(&self, s: &Secret) {
        let copy = zeroize::Zeroizing::new(s.expose().to_owned());
        self.known.lock().unwrap().push(copy);
    }

    fn scrub(&self, text: &str) -> String {
        let mut t = text.to_string();
        for s in self.known.lock().unwrap().iter() {
            if !s.is_empty() {
                t = t.replace(s.as_str(), "[redacted]");
            }
        }
        crate::text::escape_untrusted(&t, 200)
    }

    /// One request with bounded retries when `idempotent`.
    fn call(
        &self,
        method: Method,
        path: &str,
        auth: Auth,
        body: Body,
        idem_key: Option<&str>,
        idempotent: bool,
    ) -> Result<Answer, Error> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 0u32;
        loop {
            let result = self.rt.block_on(async {
                let mut req = self
                    .http
                    .request(method.clone(), &url)
                    .header("Accept", "application/json");
                req = match &auth {
                    Auth::None => req,
                    Auth::Operator => {
                        let k = self.operator.as_ref().ok_or_else(|| {
                            Error::Internal("no operator key for an admin route".into())
                        })?;
                        req.bearer_auth(k.secret().expose())
                    }
                    Auth::Access(t) => req.bearer_auth(t.expose()),
                };
                req = match &body {
                    Body::Empty => req,
                    Body::Json(v) => req.json(v),
                    Body::Form(f) => req.form(f),
                };
                if let Some(k) = idem_key {
                    req = req.header("Idempotency-Key", k);
                }
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
            });
            let transient = match &result {
                Ok((a, _)) => {
                    a.status == StatusCode::TOO_MANY_REQUESTS || a.status.is_server_error()
                }
                Err(Error::InterhubUnreachable(_)) | Err(Error::InterhubTimeout(_)) => true,
                Err(_) => false,
            };
            // 429 means "not processed": safe to retry even a non-idempotent call.
            let rate_limited =
                matches!(&result, Ok((a, _)) if a.status == StatusCode::TOO_MANY_REQUESTS);
            if transient && (idempotent || rate_limited) && attempt < self.retries {
                attempt += 1;
                let wait = match &result {
                    Ok((_, Some(s))) => Duration::from_secs((*s).min(MAX_RETRY_AFTER)),
                    _ => Duration::from_millis(200u64 << attempt.min(5)),
                };
                std::thread::sleep(wait);
                continue;
            }
            let (answer, _) = result?;
            return Ok(answer);
        }
    }

    /// Maps an unexpected status to an error; `allowed` statuses pass.
    fn expect(&self, a: Answer, path: &str, allowed: &[u16]) -> Result<Answer, Error> {
        let code = a.status.as_u16();
        if allowed.contains(&code) {
            return Ok(a);
        }
        let detail = match &a.body["error"] {
            Value::Object(e) => {
                let mut d = format!(
                    "{} {}",
                    e.get("code").and_then(Value::as_str).unwrap_or(""),
                    e.get("message").and_then(Value::as_str).unwrap_or("")
                );
                if let Some(details) = e.get("details") {
                    d.push_str(&format!(" {details}"));
                }
                self.scrub(d.trim())
            }
            Value::String(s) => self.scrub(s),
            _ => String::new(),
        };
        let m = format!("{path}: HTTP {code} {detail}")
            .trim_end()
            .to_string();
        Err(match code {
            401 => Error::InterhubAuth(m),
            403 => Error::InterhubForbidden(m),
            400 | 404 | 409 | 415 | 422 => Error::InterhubRejected(m),
            429 | 500..=599 => Error::InterhubServer(m),
            _ => Error::InterhubProtocol(m),
        })
    }

    fn parse<T: serde::de::DeserializeOwned>(v: Value, path: &str) -> Result<T, Error> {
        serde_json::from_value(v)
            .map_err(|e| Error::InterhubProtocol(format!("{path}: unexpected answer shape: {e}")))
    }

    fn items<T: serde::de::DeserializeOwned>(a: Answer, path: &str) -> Result<Vec<T>, Error> {
        Self::parse(a.body.get("items").cloned().unwrap_or(Value::Null), path)
    }

    /// An admin create: 201 with the object, or 409 when it exists already
    /// (a create that raced another writer; the caller re-reads).
    fn admin_create<T: serde::de::DeserializeOwned>(
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

    // ---- public ----

    /// `GET /api/v2/health`
    pub fn health(&self) -> Result<Value, Error> {
        let p = "/api/v2/health";
        let a = self.call(Method::GET, p, Auth::None, Body::Empty, None, true)?;
        Ok(self.expect(a, p, &[200])?.body)
    }

    /// `GET /api/v2/{widget-types|event-types|annotation-categories|hub-registry}`
    pub fn registry(&self, which: Registry) -> Result<Vec<Value>, Error> {
        let p = format!("/api/v2/{}", which.route());
        let a = self.call(Method::GET, &p, Auth::None, Body::Empty, None, true)?;
        Self::items(self.expect(a, &p, &[200])?, &p)
    }

    // ---- admin (operator key) ----

    /// `GET /api/v2/admin/hubs/{slug}`
    pub fn get_hub(&self, slug: &str) -> Result<Option<Hub>, Error> {
        let p = format!("/api/v2/admin/hubs/{slug}");
        let a = self.expect(
            self.call(Method::GET, &p, Auth::Operator, Body::Empty, None, true)?,
            &p,
            &[200, 404],
        )?;
        if a.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Self::parse(a.body, &p).map(Some)
    }

    /// `POST /api/v2/admin/hubs`
    pub fn create_hub(
        &self,
        slug: &str,
        name: &str,
        description: &str,
    ) -> Result<Created<Hub>, Error> {
        let body = json!({"slug": slug, "name": name, "description": description});
        self.admin_create("/api/v2/admin/hubs", &body)
    }

    /// `GET /api/v2/admin/hubs/{slug}/manifests`
    pub fn list_manifests(&self, slug: &str) -> Result<Vec<Manifest>, Error> {
        let p = format!("/api/v2/admin/hubs/{slug}/manifests");
        let a = self.call(Method::GET, &p, Auth::Operator, Body::Empty, None, true)?;
        Self::items(self.expect(a, &p, &[200])?, &p)
    }

    /// `POST /api/v2/admin/hubs/{slug}/manifests` (same digest again: 200, same manifest).
    pub fn post_manifest(&self, slug: &str, doc: &Value) -> Result<(bool, Manifest), Error> {
        let p = format!("/api/v2/admin/hubs/{slug}/manifests");
        let a = self.expect(
            self.call(
                Method::POST,
                &p,
                Auth::Operator,
                Body::Json(doc),
                None,
                true,
            )?,
            &p,
            &[200, 201],
        )?;
        let created = a.status == StatusCode::CREATED;
        Ok((created, Self::parse(a.body, &p)?))
    }

    /// `POST /api/v2/admin/hubs/{slug}/manifests/{id}/activate`
    pub fn activate_manifest(&self, slug: &str, id: &str) -> Result<(), Error> {
        let p = format!("/api/v2/admin/hubs/{slug}/manifests/{id}/activate");
        let a = self.call(Method::POST, &p, Auth::Operator, Body::Empty, None, true)?;
        self.expect(a, &p, &[200]).map(drop)
    }

    /// `GET /api/v2/admin/api-consumers?hub={slug}`
    pub fn list_consumers(&self, hub: &str) -> Result<Vec<Consumer>, Error> {
        let p = format!("/api/v2/admin/api-consumers?hub={hub}");
        let a = self.call(Method::GET, &p, Auth::Operator, Body::Empty, None, true)?;
        Self::items(self.expect(a, &p, &[200])?, &p)
    }

    /// `POST /api/v2/admin/api-consumers`
    pub fn create_consumer(
        &self,
        name: &str,
        hub: &str,
        scopes: &[String],
    ) -> Result<Created<Consumer>, Error> {
        let body = json!({"name": name, "hub": hub, "scopes": scopes});
        self.admin_create("/api/v2/admin/api-consumers", &body)
    }

    // ---- hub-scoped (access token) ----

    /// `GET /api/v2/hubs/{slug}/widgets`
    pub fn list_widgets(&self, slug: &str, token: &Secret) -> Result<Vec<Widget>, Error> {
        let p = format!("/api/v2/hubs/{slug}/widgets");
        let a = self.call(
            Method::GET,
            &p,
            Auth::Access(token),
            Body::Empty,
            None,
            true,
        )?;
        Self::items(self.expect(a, &p, &[200])?, &p)
    }

    /// `PUT /api/v2/hubs/{slug}/widgets/{key}`: true when created.
    pub fn put_widget(
        &self,
        slug: &str,
        key: &str,
        w: &NewWidget,
        token: &Secret,
    ) -> Result<(bool, Widget), Error> {
        let p = format!("/api/v2/hubs/{slug}/widgets/{key}");
        let body = json!({"type": w.kind, "title": w.title, "config": w.config});
        let a = self.expect(
            self.call(
                Method::PUT,
                &p,
                Auth::Access(token),
                Body::Json(&body),
                None,
                true,
            )?,
            &p,
            &[200, 201],
        )?;
        let created = a.status == StatusCode::CREATED;
        Ok((created, Self::parse(a.body, &p)?))
    }

    /// `POST /api/v2/hubs/{slug}/events` with a stable `Idempotency-Key`:
    /// true when created (201), false when the key was seen before (200).
    pub fn post_event(
        &self,
        slug: &str,
        event: &Value,
        idem_key: &str,
        token: &Secret,
    ) -> Result<(bool, String), Error> {
        let p = format!("/api/v2/hubs/{slug}/events");
        let a = self.expect(
            self.call(
                Method::POST,
                &p,
                Auth::Access(token),
                Body::Json(event),
                Some(idem_key),
                true,
            )?,
            &p,
            &[200, 201],
        )?;
        let id = a.body["id"]
            .as_str()
            .ok_or_else(|| Error::InterhubProtocol(format!("{p}: no event id")))?;
        Ok((a.status == StatusCode::CREATED, id.to_string()))
    }
}

impl KeyApi for Client {
    /// `POST /api/v2/admin/api-consumers/{id}/keys` — never retried: a
    /// second attempt could create a second display-once key.
    fn create_key(&self, consumer_id: &str) -> Result<NewKey, Error> {
        let p = format!("/api/v2/admin/api-consumers/{consumer_id}/keys");
        let a = self.expect(
            self.call(Method::POST, &p, Auth::Operator, Body::Empty, None, false)?,
            &p,
            &[201],
        )?;
        let key = match a.body.get("key") {
            Some(Value::String(k)) => Secret::new(k.clone()),
            _ => {
                return Err(Error::InterhubProtocol(format!(
                    "{p}: no key in the answer"
                )))
            }
        };
        self.remember(&key);
        let field = |k: &str| a.body.get(k).and_then(Value::as_str).map(String::from);
        match (field("id"), field("prefix")) {
            (Some(id), Some(prefix)) => Ok(NewKey { id, prefix, key }),
            _ => Err(Error::InterhubProtocol(format!(
                "{p}: key answer lacks id or prefix"
            ))),
        }
    }

    /// `DELETE /api/v2/admin/api-consumers/{id}/keys/{keyId}` (404: already gone).
    fn revoke_key(&self, consumer_id: &str, key_id: &str) -> Result<(), Error> {
        let p = format!("/api/v2/admin/api-consumers/{consumer_id}/keys/{key_id}");
        let a = self.call(Method::DELETE, &p, Auth::Operator, Body::Empty, None, true)?;
        self.expect(a, &p, &[200, 204, 404]).map(drop)
    }

    /// `GET /api/v2/admin/api-consumers/{id}/keys`
    fn list_keys(&self, consumer_id: &str) -> Result<Vec<KeyInfo>, Error> {
        let p = format!("/api/v2/admin/api-consumers/{consumer_id}/keys");
        let a = self.call(Method::GET, &p, Auth::Operator, Body::Empty, None, true)?;
        Self::items(self.expect(a, &p, &[200])?, &p)
    }

    /// `POST /api/v2/token` (form-encoded client credentials).
    fn token(&self, client_id: &str, key: &Secret) -> Result<Secret, Error> {
        let p = "/api/v2/token";
        self.remember(key);
        let scope = format!(
            "framework:read hub:{hub}:read hub:{hub}:write",
            hub = self.hub
        );
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", key.expose()),
            ("scope", &scope),
        ];
        let a = self.call(Method::POST, p, Auth::None, Body::Form(&form), None, true)?;
        if a.status == StatusCode::UNAUTHORIZED || a.status == StatusCode::BAD_REQUEST {
            let why = a.body["error"].as_str().unwrap_or("invalid_client");
            return Err(Error::RuntimeKeyInvalid(format!(
                "{p}: {}",
                self.scrub(why)
            )));
        }
        let a = self.expect(a, p, &[200])?;
        match a.body.get("access_token") {
            Some(Value::String(t)) if !t.is_empty() => {
                let t = Secret::new(t.clone());
                self.remember(&t);
                Ok(t)
            }
            _ => Err(Error::InterhubProtocol(format!("{p}: no access_token"))),
        }
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

/// The public registries (named as their routes are, hence `HubRegistry`).
#[derive(Debug, Clone, Copy)]
#[allow(clippy::enum_variant_names)]
pub enum Registry {
    WidgetTypes,
    EventTypes,
    AnnotationCategories,
    HubRegistry,
}

impl Registry {
    pub const ALL: [Registry; 4] = [
        Registry::WidgetTypes,
        Registry::EventTypes,
        Registry::AnnotationCategories,
        Registry::HubRegistry,
    ];

    fn route(self) -> &'static str {
        match self {
            Registry::WidgetTypes => "widget-types",
            Registry::EventTypes => "event-types",
            Registry::AnnotationCategories => "annotation-categories",
            Registry::HubRegistry => "hub-registry",
        }
    }
}
