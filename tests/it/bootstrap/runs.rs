//! First run, rerun and `--plan`; where each secret may travel; bad seeds refused up front.

use super::{scan, status_of, steps};
use crate::common::lab::Lab;
use crate::common::{assert_schema, code_of, evidence};
use serde_json::json;

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
    assert_eq!(
        rk["openbao_path"],
        "secret/data/platform/operators/ops-hub/runtime"
    );
    assert!(rk["prefix"].as_str().unwrap().starts_with("ihk_"));
    assert_eq!(doc["result"]["validation"]["ok"], true);
    assert_eq!(doc["result"]["openbao"]["token_revoked"], true);
    assert_eq!(
        doc["audit"]["seq"], 3,
        "chain-start, intent, result: {doc:#}"
    );
    lab.assert_one_live_stored_key();
    let writes = lab.sim.writes();

    // A rerun creates nothing and changes nothing.
    let second = lab.run("bootstrap");
    let doc2 = evidence(&second);
    assert_eq!(second.status.code(), Some(0), "{doc2:#}");
    for (step, status) in steps(&doc2) {
        assert!(
            ["reused", "unchanged"].contains(&status.as_str()),
            "{step} was {status} on rerun"
        );
    }
    assert_eq!(doc2["result"]["runtime_key"]["status"], "reused");
    assert_eq!(doc2["result"]["runtime_key"]["prefix"], rk["prefix"]);
    assert_eq!(lab.sim.writes(), writes, "rerun wrote nothing at Inter-Hub");
    assert_eq!(
        lab.sim.state()["events"].as_array().unwrap().len(),
        1,
        "one readiness event"
    );

    // --plan changes nothing either; gate and verify pass.
    let plan = lab.run("bootstrap --plan");
    assert_eq!(plan.status.code(), Some(0));
    assert_eq!(lab.sim.writes(), writes);
    let gate = lab.run("gate");
    assert_eq!(
        gate.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&gate.stdout)
    );
    let verify = lab.run("verify");
    let vdoc = evidence(&verify);
    assert_eq!(verify.status.code(), Some(0), "{vdoc:#}");
    assert_eq!(vdoc["result"]["validation"]["token"], "ok");
    scan(&lab, &[&first, &second, &plan, &gate, &verify]);

    let av = std::process::Command::new(crate::common::bin())
        .args(["--config", lab.config.to_str().unwrap(), "audit", "verify"])
        .output()
        .unwrap();
    assert_eq!(
        av.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&av.stdout)
    );
}

#[test]
fn plan_after_a_partial_setup_names_the_missing_pieces() {
    let lab = Lab::start("boot-plan");
    // The manifest cannot be posted: the run stops after the hub.
    lab.sim.fault(json!({"method": "POST", "path": "/api/v2/admin/hubs/ops-hub/manifests", "status": 500, "count": 100}));
    let out = lab.run("bootstrap");
    assert_eq!(out.status.code(), Some(69));
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
    assert!(p["result"]["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .all(|w| w["status"] == "would-create"));
    assert_eq!(lab.sim.writes(), writes, "plan wrote nothing");
    assert!(lab.stored_key().is_none(), "plan stored nothing");
    assert!(lab.sim.active_keys().is_empty(), "plan created no key");

    // And the next real run completes from there.
    let out = lab.run("bootstrap");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    lab.assert_one_live_stored_key();
}

#[test]
fn secrets_travel_only_where_they_belong() {
    let lab = Lab::start("boot-placement");
    let out = lab.run("bootstrap");
    assert_eq!(out.status.code(), Some(0));
    let (runtime, _) = lab.stored_key().unwrap();
    for r in lab.sim.requests() {
        let line = r.to_string();
        let path = r["path"].as_str().unwrap();
        if line.contains(crate::common::lab::OPERATOR_KEY) {
            assert!(
                path.starts_with("/api/v2/admin/"),
                "operator key sent to {path}"
            );
        }
        if line.contains(&runtime) {
            assert_eq!(path, "/api/v2/token", "runtime key sent to {path}");
        }
        let auth = r["headers"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v.clone());
        if path.starts_with("/api/v2/admin/") {
            assert_eq!(
                auth,
                Some(json!(format!(
                    "Bearer {}",
                    crate::common::lab::OPERATOR_KEY
                ))),
                "{path}"
            );
        } else if path.starts_with("/api/v2/hubs/") {
            assert!(
                auth.unwrap().as_str().unwrap().starts_with("Bearer iat_"),
                "hub routes take an access token"
            );
        }
    }
    scan(&lab, &[&out]);
}

#[test]
fn bad_seeds_are_refused_before_any_network_call() {
    let lab = Lab::start("boot-seeds");
    let bad = lab.fx.write(
        "bad-widgets.json",
        r#"{"hub": "ops-hub", "widgets": [{"key": "x", "type": "ops.nope", "title": "X"}]}"#,
        0o644,
    );
    let cfg = std::fs::read_to_string(&lab.config).unwrap().replace(
        &format!(
            "{}/seeds/ops-hub-widgets.seed.json",
            crate::common::repo().display()
        ),
        bad.to_str().unwrap(),
    );
    let cfg = lab.fx.write("bad.toml", &cfg, 0o644);
    let before = lab.sim.requests().len();
    let out = lab.force_command(&cfg, "bootstrap").output().unwrap();
    let doc = evidence(&out);
    assert_eq!(code_of(&doc), "seed-invalid", "{doc:#}");
    assert_eq!(out.status.code(), Some(65));
    assert_eq!(
        lab.sim.requests().len(),
        before,
        "no request reached Inter-Hub"
    );
}
