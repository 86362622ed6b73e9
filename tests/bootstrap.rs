//! The ops-hub bootstrap against a real OpenBao and the Inter-Hub simulator.

mod common;

use common::lab::{Lab, LabOptions};
use common::scan::assert_clean;
use common::{assert_schema, code_of, evidence};
use serde_json::{json, Value};

fn steps(doc: &Value) -> Vec<(String, String)> {
    doc["result"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap().to_string(), s["status"].as_str().unwrap().to_string()))
        .collect()
}

fn status_of(doc: &Value, step: &str) -> String {
    steps(doc).into_iter().find(|(s, _)| s == step).map(|(_, st)| st).unwrap_or_default()
}

fn scan(lab: &Lab, outs: &[&std::process::Output]) {
    let secrets = lab.secrets();
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    for o in outs {
        assert_clean("stdout", &o.stdout, &refs);
        assert_clean("stderr", &o.stderr, &refs);
    }
    assert_clean("audit log", &std::fs::read(&lab.audit).unwrap_or_default(), &refs);
}

#[test]
fn first_run_creates_rerun_reuses_plan_changes_nothing() {
    let lab = Lab::start("boot-first");
    let first = lab.run("bootstrap");
    let doc = evidence(&first);
    assert_schema(&doc);
    assert_eq!(first.status.code(), Some(0), "{doc:#}");
    for step in ["hub", "manifest", "consumer", "runtime-key", "event"] {
        assert_eq!(status_of(&doc, step), "created", "{step}: {doc:#}");
    }
    assert_eq!(status_of(&doc, "widgets"), "updated");
    assert_eq!(status_of(&doc, "validation"), "unchanged");
    let rk = &doc["result"]["runtime_key"];
    assert_eq!(rk["status"], "created");
    assert_eq!(rk["kv_version"], 1);
    assert_eq!(rk["openbao_path"], "secret/data/platform/operators/ops-hub/runtime");
    assert!(rk["prefix"].as_str().unwrap().starts_with("ihk_"));
    assert_eq!(doc["result"]["validation"]["ok"], true);
    assert_eq!(doc["result"]["openbao"]["token_revoked"], true);
    assert!(doc["audit"]["seq"].as_u64().unwrap() >= 3);
    lab.assert_one_live_stored_key();
    let writes = lab.sim.writes();

    // A rerun creates nothing and changes nothing.
    let second = lab.run("bootstrap");
    let doc2 = evidence(&second);
    assert_eq!(second.status.code(), Some(0), "{doc2:#}");
    for (step, status) in steps(&doc2) {
        assert!(["reused", "unchanged"].contains(&status.as_str()), "{step} was {status} on rerun");
    }
    assert_eq!(doc2["result"]["runtime_key"]["status"], "reused");
    assert_eq!(doc2["result"]["runtime_key"]["prefix"], rk["prefix"]);
    assert_eq!(lab.sim.writes(), writes, "rerun wrote nothing at Inter-Hub");
    assert_eq!(lab.sim.state()["events"].as_array().unwrap().len(), 1, "one readiness event");

    // --plan changes nothing either; gate and verify pass.
    let plan = lab.run("bootstrap --plan");
    assert_eq!(plan.status.code(), Some(0));
    assert_eq!(lab.sim.writes(), writes);
    let gate = lab.run("gate");
    assert_eq!(gate.status.code(), Some(0), "{}", String::from_utf8_lossy(&gate.stdout));
    let verify = lab.run("verify");
    let vdoc = evidence(&verify);
    assert_eq!(verify.status.code(), Some(0), "{vdoc:#}");
    assert_eq!(vdoc["result"]["validation"]["token"], "ok");
    scan(&lab, &[&first, &second, &plan, &gate, &verify]);

    let av = std::process::Command::new(common::bin()).args(["--config", lab.config.to_str().unwrap(), "audit", "verify"]).output().unwrap();
    assert_eq!(av.status.code(), Some(0), "{}", String::from_utf8_lossy(&av.stdout));
}

#[test]
fn plan_after_a_partial_setup_names_the_missing_pieces() {
    let lab = Lab::start("boot-plan");
    // The manifest cannot be posted: the run stops after the hub.
    lab.sim.fault(json!({"method": "POST", "path": "/api/v2/admin/hubs/ops-hub/manifests", "status": 500, "count": 100}));
    let out = lab.run("bootstrap");
    assert_ne!(out.status.code(), Some(0));
    let doc = evidence(&out);
    assert_eq!(code_of(&doc), "interhub-server-error");
    assert_eq!(status_of(&doc, "hub"), "created");
    assert_eq!(status_of(&doc, "manifest"), "failed");
    lab.sim.clear_faults();

    let writes = lab.sim.writes();
    let plan = lab.run("bootstrap --plan");
    let p = evidence(&plan);
    assert_schema(&p);
    assert_eq!(plan.status.code(), Some(0), "{p:#}");
    assert_eq!(p["result"]["plan"], true);
    assert_eq!(status_of(&p, "hub"), "reused");
    for step in ["manifest", "consumer", "runtime-key", "event"] {
        assert_eq!(status_of(&p, step), "would-create", "{step}");
    }
    assert!(p["result"]["widgets"].as_array().unwrap().iter().all(|w| w["status"] == "would-create"));
    assert_eq!(lab.sim.writes(), writes, "plan wrote nothing");
    assert!(lab.stored_key().is_none(), "plan stored nothing");
    assert!(lab.sim.active_keys().is_empty(), "plan created no key");

    // And the next real run completes from there.
    let out = lab.run("bootstrap");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    lab.assert_one_live_stored_key();
}
