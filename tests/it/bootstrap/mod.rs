//! The ops-hub bootstrap against a real OpenBao and the Inter-Hub simulator.
//! Shared here: the evidence's steps and the secret scan of a lab's runs.

mod faults;
mod helper_runner;
mod runs;
mod runtime_key;

use crate::common::lab::Lab;
use crate::common::scan::assert_run_clean;
use serde_json::Value;

pub(super) fn steps(doc: &Value) -> Vec<(String, String)> {
    doc["result"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

pub(super) fn status_of(doc: &Value, step: &str) -> String {
    steps(doc)
        .into_iter()
        .find(|(s, _)| s == step)
        .map(|(_, st)| st)
        .unwrap_or_else(|| panic!("no step {step} in the evidence: {doc:#}"))
}

pub(super) fn scan(lab: &Lab, outs: &[&std::process::Output]) {
    let audit = std::fs::read(&lab.audit).expect("the runs wrote the audit log");
    assert_run_clean(outs, &audit, &lab.secrets());
}
