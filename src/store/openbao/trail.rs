//! Every OpenBao call a run makes, as OpenBao's own audit device logs it:
//! the call, its path, the `request_id` of its answer (answers without a
//! body, 204, have none) and the token's accessor. The run's audit record
//! and evidence carry it, and `audit correlate --openbao-audit` joins it with
//! OpenBao's file audit log.
//!
//! The calls go through [`OpenBao::call`] and [`OpenBao::call_empty`]: what
//! vaultrs' `exec_with_result` and `exec_with_empty` do, keeping the answer's
//! envelope (its `request_id`, its `auth`) instead of stripping it.

use rustify::endpoint::Endpoint;
use rustify::errors::ClientError as RestClientError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use vaultrs::api::{EndpointError, EndpointResult};
use vaultrs::client::Client;
use vaultrs::error::ClientError;

use super::OpenBao;

/// What a run asked OpenBao (never a secret: ids, paths, an accessor).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(test, schemars(transform = crate::text::schema::all_required))]
pub struct OpenbaoTrail {
    /// The run's token's accessor (OpenBao's audit log shows it as the
    /// caller's `client_token_accessor` when the device does not HMAC it).
    pub accessor: Option<String>,
    /// Every call that got an answer, in order: every answered one, and the
    /// first [`MAX_REFUSED`] error answers.
    pub calls: Vec<CallRecord>,
    /// Error answers not listed past [`MAX_REFUSED`] (a long failover's
    /// redirects and sealed nodes).
    pub calls_dropped: u64,
}

/// How many error answers a trail lists: a failover that meets redirects
/// for `failover_secs` could make hundreds, and the result record that
/// carries the trail is capped (16 KiB). Successful answers (about ten per
/// bootstrap) are all listed.
pub const MAX_REFUSED: usize = 16;

/// One call that got an answer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(test, schemars(transform = crate::text::schema::all_required))]
pub struct CallRecord {
    /// `login`, `lookup-self`, `capabilities`, `read`, `read-metadata`,
    /// `store`, `metadata` or `revoke-self`.
    pub call: &'static str,
    /// The API path (without `v1/`), as OpenBao's audit log names it.
    pub path: String,
    /// The answer's `request_id` (none for an answer without a body).
    pub request_id: Option<String>,
    /// The HTTP status of the answer.
    pub status: u16,
}

impl OpenBao {
    /// Sends `endpoint` to the current node; the answer's envelope.
    pub(super) fn call<E>(
        &self,
        call: &'static str,
        endpoint: E,
    ) -> Result<EndpointResult<E::Response>, ClientError>
    where
        E: Endpoint,
        E::Response: DeserializeOwned + Send + Sync,
    {
        let (path, sent) = self.send(endpoint);
        match sent {
            Ok(answer) => {
                let status = answer.response.status().as_u16();
                let wrapped = answer.wrap::<EndpointResult<_>>();
                let id = wrapped.as_ref().ok().map(|r| r.request_id.clone());
                self.record(call, path, id.filter(|i| !i.is_empty()), status);
                wrapped.map_err(ClientError::from)
            }
            Err(e) => Err(self.failed(call, path, e)),
        }
    }

    /// [`call`](Self::call) for an answer without a body (204).
    pub(super) fn call_empty<E: Endpoint>(
        &self,
        call: &'static str,
        endpoint: E,
    ) -> Result<(), ClientError> {
        let (path, sent) = self.send(endpoint);
        match sent {
            Ok(answer) => {
                self.record(call, path, None, answer.response.status().as_u16());
                Ok(())
            }
            Err(e) => Err(self.failed(call, path, e)),
        }
    }

    /// Sends `endpoint` to the current node: its path and the raw answer.
    fn send<E: Endpoint>(
        &self,
        endpoint: E,
    ) -> (
        String,
        Result<rustify::endpoint::EndpointResult<E::Response>, RestClientError>,
    ) {
        let vault = self.vault();
        let path = endpoint.path();
        let sent = self
            .rt
            .block_on(endpoint.with_middleware(vault.middle()).exec(vault.http()));
        (path, sent)
    }

    /// An error answer is a call OpenBao logged too; no answer is none.
    fn failed(&self, call: &'static str, path: String, e: RestClientError) -> ClientError {
        if let RestClientError::ServerResponseError { code, .. } = &e {
            self.record(call, path, None, *code);
        }
        parse_err(e)
    }

    fn record(&self, call: &'static str, path: String, request_id: Option<String>, status: u16) {
        // vaultrs spells some paths "\t/auth/…": the audit log's form is "auth/…".
        let path = path.trim().trim_start_matches('/').to_string();
        let mut trail = self.trail.borrow_mut();
        let refused = trail.calls.iter().filter(|c| c.status >= 300).count();
        if status >= 300 && refused >= MAX_REFUSED {
            trail.calls_dropped += 1;
            return;
        }
        trail.calls.push(CallRecord {
            call,
            path,
            // What the server says goes into the audit record: an id only.
            request_id: request_id.filter(|i| is_id(i)),
            status,
        });
    }

    /// The token's accessor, once known (login, or a token file's lookup).
    pub(super) fn set_accessor(&self, accessor: &str) {
        if is_id(accessor) {
            self.trail.borrow_mut().accessor = Some(accessor.to_string());
        }
    }

    /// What this session asked OpenBao so far.
    pub fn trail(&self) -> OpenbaoTrail {
        self.trail.borrow().clone()
    }
}

/// A request id or accessor as OpenBao makes them (a UUID, 24 letters and
/// digits): short, plain characters.
fn is_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// vaultrs' reading of an error answer: its `errors` list when it has one.
fn parse_err(e: RestClientError) -> ClientError {
    if let RestClientError::ServerResponseError {
        code,
        content: Some(c),
    } = &e
    {
        if let Ok(err) = serde_json::from_str::<EndpointError>(c) {
            return ClientError::APIError {
                code: *code,
                errors: err.errors,
            };
        }
    }
    ClientError::from(e)
}
