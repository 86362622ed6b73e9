//! The ops-hub bootstrap against a real OpenBao and the Inter-Hub simulator.

use crate::common::lab::{Lab, LabOptions};
use crate::common::scan::assert_run_clean;
use crate::common::{assert_schema, code_of, evidence};
use serde_json::{json, Value};

fn steps(doc: &Value) -> Vec<(String, String)> {
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

fn status_of(doc: &Value, step: &str) -> String {
    steps(doc)
        .into_iter()
        .find(|(s, _)| s == step)
        .map(|(_, st)| st)
        .unwrap_or_default()
}

fn scan(lab: &Lab, outs: &[&std::process::Output]) {
    let audit = std::fs::read(&lab.audit).unwrap_or_default();
    assert_run_clean(outs, &audit, &lab.secrets());
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
    assert_eq!(
        rk["openbao_path"],
        "secret/data/platform/operators/ops-hub/runtime"
    );
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
fn a_key_that_cannot_be_stored_is_revoked() {
    let lab = Lab::start("boot-store-fail");
    // (a) A policy that cannot store: the pre-flight refuses before any key exists.
    let weak = lab.fx.write(
        "weak.hcl",
        "path \"secret/data/platform/operators/interhub/operator\" { capabilities = [\"read\"] }\n\
         path \"secret/data/platform/operators/ops-hub/runtime\" { capabilities = [\"read\"] }\n",
        0o644,
    );
    let strong = crate::common::repo().join("host-config/openbao/ops-warden-host.hcl");
    lab.bao
        .ok(&["policy", "write", "ops-warden-host", weak.to_str().unwrap()]);
    let out = lab.run("bootstrap");
    let doc = evidence(&out);
    assert_eq!(code_of(&doc), "openbao-capability-missing", "{doc:#}");
    assert_eq!(out.status.code(), Some(77));
    assert!(
        lab.sim.state()["keys"].as_array().unwrap().is_empty(),
        "no key was created"
    );
    lab.bao.ok(&[
        "policy",
        "write",
        "ops-warden-host",
        strong.to_str().unwrap(),
    ]);

    // (b) The store fails after the key was made (OpenBao sealed meanwhile):
    // the new key is revoked at once and the evidence says so.
    lab.sim.fault(json!({"method": "POST", "path": "/api/v2/admin/api-consumers/", "delay_ms": 2500, "count": 1}));
    let child = lab
        .force_command(&lab.config, "bootstrap")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    lab.sim.wait_for("POST", "/keys");
    lab.bao.seal();
    let out = child.wait_with_output().unwrap();
    let doc = evidence(&out);
    assert_schema(&doc);
    assert_eq!(code_of(&doc), "runtime-key-not-stored", "{doc:#}");
    assert_eq!(out.status.code(), Some(69));
    let rk = &doc["result"]["runtime_key"];
    assert_eq!(rk["status"], "revoked");
    assert_eq!(rk["revoked"][0], rk["prefix"]);
    assert!(
        lab.sim.active_keys().is_empty(),
        "no live key that is not in OpenBao"
    );
    assert_eq!(lab.sim.state()["keys"].as_array().unwrap().len(), 1);
    scan(&lab, &[&out]);
}

#[test]
fn transient_faults_in_widgets_are_retried() {
    let lab = Lab::start("boot-retry");
    lab.sim.fault(json!({"method": "PUT", "path": "/api/v2/hubs/ops-hub/widgets/", "status": 503, "count": 2}));
    lab.sim.fault(json!({"method": "PUT", "path": "/api/v2/hubs/ops-hub/widgets/deployments", "status": 429, "retry_after": 1, "count": 1}));
    let out = lab.run("bootstrap");
    let doc = evidence(&out);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert!(doc["result"]["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .all(|w| w["status"] == "created"));
    let puts = lab
        .sim
        .requests()
        .iter()
        .filter(|r| r["method"] == "PUT")
        .count();
    assert_eq!(puts, 5 + 3, "each injected fault was retried once");
    lab.assert_one_live_stored_key();
}

#[test]
fn a_fault_on_any_step_leaves_a_state_the_next_run_completes() {
    let cases = [
        json!({"method": "POST", "path": "/api/v2/admin/hubs", "status": 500, "count": 50}),
        json!({"method": "POST", "path": "/api/v2/admin/hubs/ops-hub/manifests/", "status": 502, "count": 50}),
        json!({"method": "POST", "path": "/api/v2/admin/api-consumers", "status": 503, "count": 50}),
        // The key is made but its answer is lost: a live key nobody holds.
        json!({"method": "POST", "path": "/api/v2/admin/api-consumers/", "status": 500, "count": 1, "after": true}),
        json!({"method": "PUT", "path": "/api/v2/hubs/ops-hub/widgets/gitea-status", "status": 500, "count": 50}),
        json!({"method": "POST", "path": "/api/v2/hubs/ops-hub/events", "status": 500, "count": 50}),
        json!({"method": "POST", "path": "/api/v2/token", "status": 500, "count": 50}),
    ];
    for (i, fault) in cases.iter().enumerate() {
        // A fresh host and hub each time, so the faulted step is really reached.
        let lab = Lab::start(&format!("boot-fault-{i}"));
        lab.sim.fault(fault.clone());
        let out = lab.run("bootstrap");
        let doc = evidence(&out);
        assert_ne!(out.status.code(), Some(0), "case {i} should fail: {doc:#}");
        assert_schema(&doc);
        lab.sim.clear_faults();
        let out = lab.run("bootstrap");
        let doc = evidence(&out);
        assert_eq!(
            out.status.code(),
            Some(0),
            "case {i}: the next run completes: {doc:#}"
        );
        lab.assert_one_live_stored_key();
        if i == 3 {
            assert_eq!(
                doc["result"]["runtime_key"]["revoked"]
                    .as_array()
                    .unwrap()
                    .len(),
                1,
                "the unrecorded key was revoked: {doc:#}"
            );
        }
    }
}

#[test]
fn two_hosts_racing_end_with_one_live_stored_key() {
    let lab = Lab::start("boot-race");
    let other = lab.write_config(
        "host-b.toml",
        &LabOptions {
            state: Some("state-b".into()),
            ..Default::default()
        },
    );
    // Slow key creation so both hosts are inside the critical section together.
    lab.sim.fault(json!({"method": "POST", "path": "/api/v2/admin/api-consumers/", "delay_ms": 1500, "count": 2}));
    // Both must find the consumer first: create it with one run of --plan? No: run a bootstrap
    // that stops before the key, so both racers start at the key step.
    lab.sim
        .fault(json!({"method": "POST", "path": "/api/v2/token", "status": 500, "count": 0}));
    let a = lab
        .force_command(&lab.config, "bootstrap --skip-event")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let b = lab
        .force_command(&other, "bootstrap --skip-event")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let (da, db) = (evidence(&a), evidence(&b));
    let ok = [&a, &b]
        .iter()
        .filter(|o| o.status.code() == Some(0))
        .count();
    assert!(ok >= 1, "{da:#}\n{db:#}");
    lab.assert_one_live_stored_key();
    let rks = [&da["result"]["runtime_key"], &db["result"]["runtime_key"]];
    let created = rks.iter().filter(|r| r["status"] == "created").count();
    assert!(created <= 1, "at most one key stays created: {rks:?}");
    // A final run on either host reuses that key.
    let again = lab.run("bootstrap --skip-event");
    assert_eq!(
        evidence(&again)["result"]["runtime_key"]["status"],
        "reused"
    );
    lab.assert_one_live_stored_key();
}

#[test]
fn a_dead_key_fails_unless_rotate() {
    let lab = Lab::start("boot-rotate");
    assert_eq!(lab.run("bootstrap").status.code(), Some(0));
    // Someone revokes the stored key at Inter-Hub.
    let key = lab.sim.active_keys()[0].clone();
    let cons = lab.sim.state()["consumers"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!(
        "/api/v2/admin/api-consumers/{cons}/keys/{}",
        key["id"].as_str().unwrap()
    );
    let (st, _) = lab.sim.request(
        "DELETE",
        &path,
        None,
        &[(
            "Authorization",
            &format!("Bearer {}", crate::common::lab::OPERATOR_KEY),
        )],
    );
    assert_eq!(st, 204);
    let out = lab.run("bootstrap");
    let doc = evidence(&out);
    assert_eq!(code_of(&doc), "runtime-key-invalid", "{doc:#}");
    assert_eq!(out.status.code(), Some(77));
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--rotate"));
    assert!(
        lab.sim.active_keys().is_empty(),
        "no second key made silently"
    );
    let out = lab.run("bootstrap --rotate");
    let doc = evidence(&out);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert_eq!(doc["result"]["runtime_key"]["status"], "rotated");
    assert_eq!(doc["result"]["runtime_key"]["kv_version"], 2);
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

fn helper_lab(name: &str, extra: &str, timeout: u64) -> (Lab, std::path::PathBuf) {
    let lab = Lab::start(name);
    let runner = format!(
        "kind = \"command\"\nargv = [\"/usr/bin/python3\", \"{}\", \"{}\"{extra}]\ntimeout_secs = {timeout}\n",
        crate::common::repo().join("tests/sim/test_helper.py").display(),
        crate::common::repo().join("seeds").display(),
    );
    let cfg = lab.write_config(
        "helper.toml",
        &LabOptions {
            runner,
            ..Default::default()
        },
    );
    (lab, cfg)
}

fn no_private_files_left(lab: &Lab) {
    let left: Vec<_> = std::fs::read_dir(lab.fx.path("state"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n != "bootstrap.lock" && n != "audit.seq")
        .collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[test]
fn the_helper_runner_stores_the_key_it_made() {
    // A chatty helper: ~180 KB of output must not break the audit append.
    let (lab, cfg) = helper_lab("helper-ok", ", \"--big-output\"", 60);
    let out = lab.force_command(&cfg, "bootstrap").output().unwrap();
    let doc = evidence(&out);
    assert_schema(&doc);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert_eq!(doc["result"]["runner"], "command");
    assert_eq!(doc["result"]["runtime_key"]["status"], "created");
    assert_eq!(
        doc["result"]["helper"]["output"]["runtimeKey"]["status"],
        "created"
    );
    lab.assert_one_live_stored_key();
    no_private_files_left(&lab);
    // A rerun hands the stored key to the helper (OPS_HUB_KEY_FILE), which reuses it.
    let again = lab.force_command(&cfg, "bootstrap").output().unwrap();
    let doc2 = evidence(&again);
    assert_eq!(again.status.code(), Some(0), "{doc2:#}");
    assert_eq!(doc2["result"]["runtime_key"]["status"], "reused");
    assert_eq!(
        doc2["result"]["helper"]["output"]["runtimeKey"]["status"],
        "reused"
    );
    lab.assert_one_live_stored_key();
    no_private_files_left(&lab);
    scan(&lab, &[&out, &again]);
}

#[test]
fn a_failing_helper_loses_no_key_and_leaves_no_file() {
    let (lab, cfg) = helper_lab(
        "helper-fail",
        ", \"--fail-after-key\", \"--print-key-in-stderr\"",
        60,
    );
    let out = lab.force_command(&cfg, "bootstrap").output().unwrap();
    let doc = evidence(&out);
    assert_eq!(code_of(&doc), "helper-failed", "{doc:#}");
    assert_eq!(
        doc["result"]["runtime_key"]["status"], "created",
        "the key it made was stored"
    );
    lab.assert_one_live_stored_key();
    no_private_files_left(&lab);
    scan(&lab, &[&out]);

    let (lab, cfg) = helper_lab("helper-slow", ", \"--sleep\", \"30\"", 2);
    let started = std::time::Instant::now();
    let out = lab.force_command(&cfg, "bootstrap").output().unwrap();
    let doc = evidence(&out);
    assert_eq!(code_of(&doc), "helper-failed");
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("timed out"));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(25),
        "the helper was killed"
    );
    no_private_files_left(&lab);
}

#[test]
fn an_interrupted_helper_is_killed_and_cleaned_up() {
    let (lab, cfg) = helper_lab("helper-term", ", \"--sleep\", \"30\"", 120);
    let child = lab
        .force_command(&cfg, "bootstrap")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the helper's private folder exists, i.e. the helper runs.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !std::fs::read_dir(lab.fx.path("state"))
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("helper-"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the helper never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let started = std::time::Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let doc = evidence(&out);
    assert_schema(&doc);
    assert_eq!(doc["outcome"], "aborted", "{doc:#}");
    assert_eq!(out.status.code(), Some(75));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "the helper was killed, not waited for"
    );
    no_private_files_left(&lab);
    let helpers = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .contains(&lab.fx.path("state").display().to_string())
                        || String::from_utf8_lossy(&c).contains("test_helper.py")
                })
                .unwrap_or(false)
        })
        .count();
    assert_eq!(helpers, 0, "no helper process left behind");
    let log = std::fs::read_to_string(&lab.audit).unwrap();
    assert!(log
        .lines()
        .last()
        .unwrap()
        .contains("\"outcome\":\"aborted\""));
}

/// After `bao kv delete` (or destroy, or a value without the field) the
/// latest version holds no key: the next run stores a new key over it at the
/// slot's current version instead of failing forever (issue 10 §2).
#[test]
fn a_slot_whose_latest_version_holds_no_key_is_used_again() {
    use crate::common::lab::RUNTIME_PATH;
    let lab = Lab::start("slot-empty");
    let out = lab.run("bootstrap");
    assert_eq!(out.status.code(), Some(0), "{:#}", evidence(&out));
    let current = |lab: &Lab| -> String {
        let v: Value = serde_json::from_str(&lab.bao.ok(&[
            "kv",
            "metadata",
            "get",
            "-format=json",
            RUNTIME_PATH,
        ]))
        .unwrap();
        v["data"]["current_version"].to_string()
    };
    type BreakIt<'a> = Box<dyn Fn(&Lab) + 'a>;
    let cases: [(&str, BreakIt<'_>); 4] = [
        (
            "kv delete",
            Box::new(|l: &Lab| drop(l.bao.ok(&["kv", "delete", RUNTIME_PATH]))),
        ),
        (
            "kv destroy",
            Box::new(|l: &Lab| {
                let v = current(l);
                drop(
                    l.bao
                        .ok(&["kv", "destroy", &format!("-versions={v}"), RUNTIME_PATH]),
                )
            }),
        ),
        (
            "a value without the field",
            Box::new(|l: &Lab| drop(l.bao.ok(&["kv", "put", RUNTIME_PATH, "unrelated=x"]))),
        ),
        (
            "kv metadata delete",
            Box::new(|l: &Lab| drop(l.bao.ok(&["kv", "metadata", "delete", RUNTIME_PATH]))),
        ),
    ];
    for (how, break_it) in cases {
        break_it(&lab);
        let out = lab.run("bootstrap");
        let doc = evidence(&out);
        assert_schema(&doc);
        assert_eq!(out.status.code(), Some(0), "{how}: {doc:#}");
        assert_eq!(doc["result"]["runtime_key"]["status"], "created", "{how}");
        let notes = doc["result"]["openbao"]["notes"].to_string();
        if how == "kv metadata delete" {
            assert_eq!(
                doc["result"]["runtime_key"]["kv_version"], 1,
                "{how}: a new path"
            );
        } else {
            assert!(notes.contains("holds no key"), "{how}: noted: {doc:#}");
        }
        lab.assert_one_live_stored_key();
    }
}
