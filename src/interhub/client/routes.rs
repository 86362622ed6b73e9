//! The routes: public, admin (operator key) and hub-scoped (access token),
//! and the key operations of the critical section.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{error_token, segment, Auth, Body, Client};
use crate::error::Error;
use crate::interhub::{
    Consumer, Created, Health, Hub, KeyApi, KeyInfo, Manifest, NewKey, NewWidget, RegistryEntry,
    Widget,
};
use crate::secret::Secret;

impl Client {
    // ---- public ----

    /// `GET /api/v2/health`
    pub fn health(&self) -> Result<Health, Error> {
        let p = "/api/v2/health";
        let a = self.call(Method::GET, p, Auth::None, Body::Empty, None, true)?;
        Self::parse(self.expect(a, p, &[200])?.body, p)
    }

    /// `GET /api/v2/{widget-types|event-types|annotation-categories|hub-registry}`
    /// (read once per run until the run writes something).
    pub fn registry(&self, which: Registry) -> Result<Vec<RegistryEntry>, Error> {
        let p = which.path();
        let a = self.call(Method::GET, p, Auth::None, Body::Empty, None, true)?;
        Self::items(self.expect(a, p, &[200])?, p)
    }

    /// Sends, all at once, the reads a run starts with: health and the
    /// registries, and with an operator key the hub, its manifests and its
    /// consumers (answers a first run discards when the hub is missing).
    pub fn read_ahead_start(&self, hub: Option<&str>) {
        let mut reads = vec![("/api/v2/health".to_string(), Auth::None)];
        reads.extend(
            Registry::ALL
                .iter()
                .map(|r| (r.path().to_string(), Auth::None)),
        );
        if let Some(slug) = hub {
            reads.extend([
                (format!("/api/v2/admin/hubs/{slug}"), Auth::Operator),
                (
                    format!("/api/v2/admin/hubs/{slug}/manifests"),
                    Auth::Operator,
                ),
                (
                    format!("/api/v2/admin/api-consumers?hub={slug}"),
                    Auth::Operator,
                ),
            ]);
        }
        self.read_ahead(&reads);
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
        let id = segment(id, "manifest")?;
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

    /// `PUT /api/v2/hubs/{slug}/widgets/{key}` for each widget, at most
    /// `MAX_IN_FLIGHT` (8) at a time: per widget, true when created.
    pub fn put_widgets(
        &self,
        slug: &str,
        widgets: &[(&str, NewWidget)],
        token: &Secret,
    ) -> Vec<Result<(bool, Widget), Error>> {
        let calls = widgets
            .iter()
            .map(|(key, w)| {
                let body = json!({"type": w.kind, "title": w.title, "config": w.config});
                (
                    format!("/api/v2/hubs/{slug}/widgets/{key}"),
                    Auth::Access(token),
                    body,
                )
            })
            .collect::<Vec<_>>();
        let paths: Vec<String> = calls.iter().map(|(p, _, _)| p.clone()).collect();
        self.put_many(calls)
            .into_iter()
            .zip(paths)
            .map(|(answer, p)| {
                let a = self.expect(answer?, &p, &[200, 201])?;
                let created = a.status == StatusCode::CREATED;
                Ok((created, Self::parse(a.body, &p)?))
            })
            .collect()
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
        let consumer_id = segment(consumer_id, "consumer")?;
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
        let consumer_id = segment(consumer_id, "consumer")?;
        let key_id = segment(key_id, "key")?;
        let p = format!("/api/v2/admin/api-consumers/{consumer_id}/keys/{key_id}");
        let a = self.call(Method::DELETE, &p, Auth::Operator, Body::Empty, None, true)?;
        self.expect(a, &p, &[200, 204, 404]).map(drop)
    }

    /// `GET /api/v2/admin/api-consumers/{id}/keys`
    fn list_keys(&self, consumer_id: &str) -> Result<Vec<KeyInfo>, Error> {
        let consumer_id = segment(consumer_id, "consumer")?;
        let p = format!("/api/v2/admin/api-consumers/{consumer_id}/keys");
        let a = self.call(Method::GET, &p, Auth::Operator, Body::Empty, None, true)?;
        Self::items(self.expect(a, &p, &[200])?, &p)
    }

    /// The sweep that follows a stored key's proof takes this list, sent
    /// while the proof is being minted.
    fn read_ahead_keys(&self, consumer_id: &str) {
        if let Ok(id) = segment(consumer_id, "consumer") {
            self.read_ahead(&[(
                format!("/api/v2/admin/api-consumers/{id}/keys"),
                Auth::Operator,
            )]);
        }
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
            let why = a.body["error"].as_str().and_then(error_token);
            // Only a definite 401 invalid_client says the key is dead (and
            // may be replaced without --rotate); anything else fails the run.
            if a.status == StatusCode::UNAUTHORIZED && why == Some("invalid_client") {
                return Err(Error::RuntimeKeyDead(format!("{p}: invalid_client")));
            }
            return Err(Error::RuntimeKeyInvalid(format!(
                "{p}: {}",
                self.scrub(why.unwrap_or("invalid_client"))
            )));
        }
        let a = self.expect(a, p, &[200])?;
        match a.body.get("access_token") {
            Some(Value::String(t)) if !t.is_empty() => {
                let t = Secret::new(t.clone());
                self.remember(&t);
                self.prove(key);
                Ok(t)
            }
            _ => Err(Error::InterhubProtocol(format!("{p}: no access_token"))),
        }
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

    fn path(self) -> &'static str {
        match self {
            Registry::WidgetTypes => "/api/v2/widget-types",
            Registry::EventTypes => "/api/v2/event-types",
            Registry::AnnotationCategories => "/api/v2/annotation-categories",
            Registry::HubRegistry => "/api/v2/hub-registry",
        }
    }
}
