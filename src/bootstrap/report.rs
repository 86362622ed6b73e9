//! What a bootstrap reports: typed, so the evidence is produced from these
//! structs (and its JSON Schema generated from them), never assembled by hand
//! or read back.

use std::time::Instant;

use serde::Serialize;

use crate::error::Error;

/// What a step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Created,
    Reused,
    Updated,
    Unchanged,
    Skipped,
    Failed,
    /// `--plan`: what a run would do.
    WouldCreate,
    WouldUpdate,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StepReport {
    pub step: &'static str,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// On a failed step: the error's code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub duration_ms: u64,
}

/// The steps taken, in order.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct Steps(pub Vec<StepReport>);

impl Steps {
    /// Records a step's outcome (on error, a `failed` step with the code).
    pub fn record<T>(
        &mut self,
        name: &'static str,
        started: Instant,
        r: Result<(Status, Option<String>, T), Error>,
    ) -> Result<T, Error> {
        let duration_ms = started.elapsed().as_millis() as u64;
        let (status, id, detail, out) = match r {
            Ok((status, id, v)) => (status, id, None, Ok(v)),
            Err(e) => (Status::Failed, None, Some(e.code().to_string()), Err(e)),
        };
        self.0.push(StepReport {
            step: name,
            status,
            id,
            detail,
            duration_ms,
        });
        out
    }
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct WidgetReport {
    pub key: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// What happened to the runtime key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum KeyStatus {
    Created,
    Reused,
    Rotated,
    /// Ours could not be stored and was revoked.
    Revoked,
    /// Neither stored nor revoked (the error names its id).
    Orphaned,
    WouldCreate,
    WouldRotate,
    /// The stored key no longer mints a token.
    Invalid,
    /// The stored key was dead (`invalid_client`) and a new one replaced it.
    Replaced,
    /// `--plan`: the stored key is dead and would be replaced.
    WouldReplace,
    /// Ours may or may not be stored (the store's answer was lost): left
    /// live, in the host's custody journal, for the next run to settle.
    Unconfirmed,
}

impl KeyStatus {
    /// The runtime-key step's status for this key status.
    pub fn step_status(self) -> Status {
        match self {
            KeyStatus::Created => Status::Created,
            KeyStatus::Rotated | KeyStatus::Replaced => Status::Updated,
            KeyStatus::WouldCreate => Status::WouldCreate,
            KeyStatus::WouldRotate | KeyStatus::WouldReplace => Status::WouldUpdate,
            KeyStatus::Reused => Status::Reused,
            KeyStatus::Revoked
            | KeyStatus::Orphaned
            | KeyStatus::Invalid
            | KeyStatus::Unconfirmed => Status::Failed,
        }
    }
}

/// What the evidence says about the runtime key (never the key).
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(test, schemars(transform = crate::text::schema::all_required))]
#[serde(deny_unknown_fields)]
pub struct KeyReport {
    pub status: Option<KeyStatus>,
    pub prefix: Option<String>,
    /// After a rotation or a replacement: the replaced key's prefix
    /// (revoked by this run).
    pub previous_prefix: Option<String>,
    /// Why a stored key was replaced without `--rotate` (Inter-Hub's
    /// `invalid_client` for it).
    pub replaced_because: Option<String>,
    pub key_id: Option<String>,
    pub openbao_path: String,
    pub kv_version: Option<u64>,
    /// Another writer stored first; its key is reused.
    pub race_lost: bool,
    /// Prefixes of keys revoked by this run (ours after a failed store or a
    /// lost race, a rotated-out key, unrecorded live keys).
    pub revoked: Vec<String>,
    /// Plan: active keys that are not the stored one and that a run would
    /// revoke.
    pub unrecorded: Vec<String>,
    /// Active keys that are not the stored one and that this run could not
    /// prove dead to everyone (another host's key on its way into the slot,
    /// or a key younger than the orphan age): left for a later sweep.
    pub left: Vec<String>,
}

/// A validation check that did not pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ValidationCheck {
    Registries,
    HubRegistry,
    Token,
}

/// Whether the stored runtime key mints a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum TokenCheck {
    Ok,
    Refused,
    NoStoredKey,
}

/// The runbook's validation.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(test, schemars(transform = crate::text::schema::all_required))]
#[serde(deny_unknown_fields)]
pub struct Validation {
    pub ok: bool,
    pub plan: bool,
    pub failed: Vec<ValidationCheck>,
    pub missing_widget_types: Vec<String>,
    pub missing_event_types: Vec<String>,
    pub missing_annotation_categories: Vec<String>,
    pub hub_registry: bool,
    pub token: TokenCheck,
}

impl Validation {
    /// The error of a validation that did not pass.
    pub fn failure(&self) -> Error {
        let names: Vec<&str> = self
            .failed
            .iter()
            .map(|c| match c {
                ValidationCheck::Registries => "registries",
                ValidationCheck::HubRegistry => "hub-registry",
                ValidationCheck::Token => "token",
            })
            .collect();
        Error::ValidationFailed(format!("failed: {names:?}"))
    }
}

/// Which runner did the work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum RunnerKind {
    #[default]
    Native,
    Command,
}

/// One object of the helper's output, as the contract names its fields:
/// each a scrubbed, escaped string of bounded length.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HelperObject {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The contract's fields of the helper's output ("The runbook helper's
/// interface"); anything else it printed is known only by its digest.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HelperContract {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hub: Option<HelperObject>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<HelperObject>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer: Option<HelperObject>,
    #[serde(rename = "runtimeKey", skip_serializing_if = "Option::is_none")]
    pub runtime_key: Option<HelperObject>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<HelperObject>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<HelperObject>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub widgets: Option<Vec<HelperObject>>,
}

/// The helper runner's part of the evidence.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(test, schemars(transform = crate::text::schema::all_required))]
#[serde(deny_unknown_fields)]
pub struct HelperReport {
    pub exit_code: Option<i32>,
    /// `null` when it printed no JSON document. Not kept in the audit log
    /// (the digest is).
    pub output: Option<HelperContract>,
    pub output_sha256: String,
    pub output_bytes: usize,
    /// Why the helper's private folder (or a stale one of an earlier run)
    /// could not be removed whole; `null` when everything went.
    pub cleanup_failed: Option<String>,
}

/// The OpenBao session's part of the evidence.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(test, schemars(transform = crate::text::schema::all_required))]
#[serde(deny_unknown_fields)]
pub struct OpenbaoReport {
    pub runtime_key_path: String,
    pub kv_version: Option<u64>,
    /// True only when this run's login token was revoked.
    pub token_revoked: bool,
    /// Non-fatal problems (e.g. custom metadata not written).
    pub notes: Vec<String>,
}

/// Who ran an attended bootstrap.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Operator {
    pub uid: u32,
    pub user: String,
}

/// The bootstrap part of the evidence.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(test, schemars(transform = report_required))]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub runner: RunnerKind,
    pub plan: bool,
    pub hub: String,
    pub manifest_digest: String,
    pub steps: Steps,
    pub widgets: Vec<WidgetReport>,
    pub runtime_key: KeyReport,
    pub validation: Option<Validation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub helper: Option<HelperReport>,
    /// `null` when the run failed before OpenBao was reached.
    pub openbao: Option<OpenbaoReport>,
    /// Attended runs only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<Operator>,
    /// Attended runs only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator_key_file_removed: Option<bool>,
}

/// Every field but the helper's and the attended run's is always there.
#[cfg(test)]
fn report_required(schema: &mut schemars::Schema) {
    crate::text::schema::all_required(schema);
    let optional = ["helper", "operator", "operator_key_file_removed"];
    if let Some(r) = schema.get_mut("required").and_then(|r| r.as_array_mut()) {
        r.retain(|k| !optional.contains(&k.as_str().unwrap_or_default()));
    }
}

impl Report {
    /// Records a step (see [`Steps::record`]).
    pub fn step<T>(
        &mut self,
        name: &'static str,
        started: Instant,
        r: Result<(Status, Option<String>, T), Error>,
    ) -> Result<T, Error> {
        self.steps.record(name, started, r)
    }

    /// The same report without the helper's output (the audit log keeps
    /// only its digest and size).
    pub fn without_helper_output(&self) -> Report {
        let mut r = self.clone();
        if let Some(h) = &mut r.helper {
            h.output = None;
        }
        r
    }
}
