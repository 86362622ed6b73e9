//! The ops-hub bootstrap: seeds, the native steps, the runtime-key critical
//! section, the helper runner and the SQL fallback.

pub mod helper;
pub mod runtime_key;
pub mod seeds;
pub mod sql;
pub mod steps;

use std::time::Instant;

use serde::Serialize;

/// What a step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
pub struct StepReport {
    pub step: &'static str,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct WidgetReport {
    pub key: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// The bootstrap part of the evidence.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub runner: &'static str,
    pub plan: bool,
    pub hub: String,
    pub manifest_digest: String,
    pub steps: Vec<StepReport>,
    pub widgets: Vec<WidgetReport>,
    pub runtime_key: runtime_key::KeyReport,
    pub validation: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub helper: Option<serde_json::Value>,
}

impl Report {
    /// Records a step's outcome (on error, a `failed` step with the code).
    pub fn step<T>(
        &mut self,
        name: &'static str,
        started: Instant,
        r: Result<(Status, Option<String>, T), crate::error::Error>,
    ) -> Result<T, crate::error::Error> {
        let duration_ms = started.elapsed().as_millis() as u64;
        match r {
            Ok((status, id, v)) => {
                self.steps.push(StepReport {
                    step: name,
                    status,
                    id,
                    detail: None,
                    duration_ms,
                });
                Ok(v)
            }
            Err(e) => {
                self.steps.push(StepReport {
                    step: name,
                    status: Status::Failed,
                    id: None,
                    detail: Some(e.code().to_string()),
                    duration_ms,
                });
                Err(e)
            }
        }
    }
}

/// Flags of a bootstrap run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub skip_event: bool,
    pub plan: bool,
    pub rotate: bool,
}
