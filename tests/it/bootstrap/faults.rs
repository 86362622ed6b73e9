//! Inter-Hub faults and races: retries, a failed step the next run completes, two hosts at once.

use crate::common::lab::{Lab, LabOptions};
use crate::common::{assert_schema, code_of, evidence};
use serde_json::json;

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
    assert_eq!(
        lab.sim.count("PUT"),
        5 + 3,
        "each injected fault was retried once"
    );
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
        let cfg = lab.write_config(
            "orphans.toml",
            &LabOptions {
                orphan_key_age_secs: Some(2),
                ..Default::default()
            },
        );
        lab.sim.fault(fault.clone());
        let out = lab.force_command(&cfg, "bootstrap").output().unwrap();
        let doc = evidence(&out);
        assert_schema(&doc);
        if i == 3 {
            // Issue 18 §1: the key whose answer was lost is nobody's, but no
            // run can tell it from another host's key in flight: it is left
            // (not revoked on a guess) until it is an orphan.
            assert_eq!(out.status.code(), Some(70), "{doc:#}");
            assert_eq!(code_of(&doc), "runtime-key-maybe-created");
            assert_eq!(lab.sim.active_keys().len(), 1);
            std::thread::sleep(std::time::Duration::from_millis(2500));
        } else {
            assert_eq!(out.status.code(), Some(69), "case {i} should fail: {doc:#}");
        }
        lab.sim.clear_faults();
        let out = lab.force_command(&cfg, "bootstrap").output().unwrap();
        let doc = evidence(&out);
        assert_eq!(
            out.status.code(),
            Some(0),
            "case {i}: the next run completes: {doc:#}"
        );
        lab.assert_one_live_stored_key();
    }
}

/// Two hosts (each its own state folder and lock) bootstrap at once. Both
/// key creations are held at the simulator until both have arrived, so both
/// hosts are inside the critical section together by construction; then
/// both go on. Both succeed: one stores the key it made (`created`), the
/// other loses the check-and-set and reuses the stored key (`reused`).
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
    lab.sim.fault(
        json!({"method": "POST", "path": "/api/v2/admin/api-consumers/", "hold": true, "count": 2}),
    );
    let spawn = |config: &std::path::PathBuf| {
        lab.force_command(config, "bootstrap --skip-event")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let a = spawn(&lab.config);
    let b = spawn(&other);
    lab.sim.wait_held(2);
    lab.sim.release();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let (da, db) = (evidence(&a), evidence(&b));
    assert_eq!(
        a.status.code(),
        Some(0),
        "host A ({}): {da:#}",
        code_of(&da)
    );
    assert_eq!(
        b.status.code(),
        Some(0),
        "host B ({}): {db:#}",
        code_of(&db)
    );
    let mut statuses = [
        da["result"]["runtime_key"]["status"]
            .as_str()
            .unwrap_or("-"),
        db["result"]["runtime_key"]["status"]
            .as_str()
            .unwrap_or("-"),
    ];
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        ["created", "reused"],
        "one host created the key, the other lost the race and reused it:\n{da:#}\n{db:#}"
    );
    lab.assert_one_live_stored_key();
    // A final run on either host reuses that key.
    let again = lab.run("bootstrap --skip-event");
    assert_eq!(
        evidence(&again)["result"]["runtime_key"]["status"],
        "reused"
    );
    lab.assert_one_live_stored_key();
}

/// Issue 10 §4: host B read K1 and is about to sweep; meanwhile host A
/// rotates to K2 and stores it. B's sweep re-reads the stored key after its
/// key list and keeps K2: it never revokes the stored key. Deterministic: B
/// is held (a simulator hold fault) on its sweep's key list until A is done.
#[test]
fn a_sweep_never_revokes_a_key_another_host_just_stored() {
    let lab = Lab::start("boot-sweep-race");
    let host_b = lab.write_config(
        "host-b.toml",
        &LabOptions {
            state: Some("state-b".into()),
            ..Default::default()
        },
    );
    assert_eq!(lab.run("bootstrap --skip-event").status.code(), Some(0));
    let (k1, _) = lab.stored_key().expect("K1 stored");
    lab.sim.fault(
        json!({"method": "GET", "path": "/api/v2/admin/api-consumers/", "hold": true, "count": 1}),
    );
    let b = lab
        .force_command(&host_b, "bootstrap --skip-event")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    lab.sim.wait_held(1);
    // K1 is revoked at Inter-Hub (it leaked), and host A rotates while B
    // waits for its key list.
    lab.sim.revoke_the_live_key();
    let a = lab.run("bootstrap --skip-event --rotate");
    let da = evidence(&a);
    assert_eq!(a.status.code(), Some(0), "{da:#}");
    assert_eq!(da["result"]["runtime_key"]["status"], "rotated");
    let (k2, _) = lab.stored_key().expect("K2 stored");
    assert!(k2 != k1, "A stored a new key");
    lab.sim.release();
    let b = b.wait_with_output().unwrap();
    let db = evidence(&b);
    assert_eq!(b.status.code(), Some(0), "{db:#}");
    assert_eq!(
        db["result"]["runtime_key"]["revoked"],
        json!([]),
        "B revoked nothing: K1 was A's to revoke, K2 is stored: {db:#}"
    );
    lab.assert_one_live_stored_key();
    assert!(
        lab.stored_key().expect("stored").0 == k2,
        "K2 is still the stored key"
    );
}

/// Issue 10 §6: a server that echoes the credential it was sent (whole, in
/// part, JSON-escaped, URL-encoded, base64) in its error text, its error
/// code or an answer of the wrong shape: none of it reaches stderr, the
/// evidence or the audit log.
#[test]
fn credentials_echoed_by_the_server_never_come_out() {
    use base64::Engine;
    let key = crate::common::lab::OPERATOR_KEY;
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("Bearer {key}"));
    let url: String = key
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let echoes = [
        json!({"error": {"code": "invalid", "message": format!("Authorization: Bearer {key}")}}),
        json!({"error": {"code": "invalid", "message": format!("got {}", &key[2..14])}}),
        json!({"error": {"code": "invalid", "details": [format!("{key:?}")]}}),
        json!({"error": {"code": "invalid", "message": url}}),
        json!({"error": {"code": "invalid", "message": b64}}),
        json!({"error": {"code": key, "message": "code echo"}}),
        json!({"error": format!("Bearer {key}")}),
    ];
    for (i, body) in echoes.iter().enumerate() {
        let lab = Lab::start(&format!("boot-echo-{i}"));
        lab.sim.fault(json!({"method": "POST", "path": "/api/v2/admin/hubs", "status": 422, "body": body, "count": 1}));
        let out = lab.run("bootstrap");
        let doc = evidence(&out);
        assert_eq!(code_of(&doc), "interhub-rejected", "case {i}: {doc:#}");
        assert_eq!(out.status.code(), Some(65));
        super::scan(&lab, &[&out]);
    }
    // An answer of the wrong shape that holds the key (serde would quote it).
    let lab = Lab::start("boot-echo-shape");
    lab.sim.fault(json!({"method": "GET", "path": "/api/v2/admin/api-consumers?", "status": 200, "body": {"items": format!("Bearer {key}")}, "count": 1}));
    let out = lab.run("bootstrap");
    let doc = evidence(&out);
    assert_eq!(code_of(&doc), "interhub-protocol", "{doc:#}");
    assert_eq!(out.status.code(), Some(69));
    super::scan(&lab, &[&out]);
}

/// Issue 10 §6: ids taken from Inter-Hub answers go into URL paths only as
/// plain segments: a consumer id holding `../` is refused, never sent.
#[test]
fn ids_from_answers_are_checked_before_they_reach_a_path() {
    let lab = Lab::start("boot-bad-id");
    lab.sim.fault(
        json!({"method": "GET", "path": "/api/v2/admin/api-consumers?", "status": 200, "count": 50,
        "body": {"items": [{"id": "../../admin/hubs/x", "name": "ops-hub", "hub": "ops-hub"}]}}),
    );
    let out = lab.run("bootstrap");
    let doc = evidence(&out);
    assert_eq!(code_of(&doc), "interhub-protocol", "{doc:#}");
    assert_eq!(out.status.code(), Some(69));
    assert!(
        lab.sim
            .requests()
            .iter()
            .all(|r| !r["path"].as_str().expect("path").contains("..")),
        "no request carried the id"
    );
    lab.sim.clear_faults();
    assert_eq!(lab.run("bootstrap").status.code(), Some(0));
    lab.assert_one_live_stored_key();
}

/// Issue 10 §9: the simulator refuses what the contract refuses, so a run
/// that passes against it sends only what Inter-Hub would accept.
#[test]
fn the_simulator_refuses_what_the_contract_refuses() {
    let lab = Lab::start("sim-strict");
    assert_eq!(lab.run("bootstrap").status.code(), Some(0));
    let (key, client) = lab.stored_key().expect("a stored key");
    let form = format!(
        "grant_type=client_credentials&client_id={client}&client_secret={key}&scope=hub%3Aops-hub%3Awrite"
    );
    let (st, tok) = lab.sim.request_form("/api/v2/token", &form);
    assert_eq!(st, 200);
    let bearer = format!("Bearer {}", tok["access_token"].as_str().expect("token"));
    let auth = [("Authorization", bearer.as_str())];
    let put = |config: serde_json::Value| {
        lab.sim.request(
            "PUT",
            "/api/v2/hubs/ops-hub/widgets/extra",
            Some(&json!({"type": "ops.service-status-card", "title": "x", "config": config})),
            &auth,
        )
    };
    assert_eq!(put(json!({"service": "gitea"})).0, 201);
    let (st, body) = put(json!({"service": "gitea", "environment": "moon"}));
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (422, Some("invalid_widget_config"))
    );
    let (st, _) = put(json!({"unknown": true}));
    assert_eq!(st, 422);
    let event = |body: serde_json::Value, idem: &str| {
        let headers = [auth[0], ("Idempotency-Key", idem)];
        lab.sim
            .request("POST", "/api/v2/hubs/ops-hub/events", Some(&body), &headers)
    };
    let good = json!({"type": "ops.gitea.readiness", "source": "t", "payload": {"component": "gitea", "status": "ready"}});
    let (st, body) = event(json!({"type": "ops.gitea.readiness", "source": "t"}), "k1");
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (422, Some("invalid_event"))
    );
    assert_eq!(event(good.clone(), "k2").0, 201);
    assert_eq!(
        event(good.clone(), "k2").0,
        200,
        "the same key and body: the same event"
    );
    let mut other = good.clone();
    other["source"] = json!("someone else");
    let (st, body) = event(other, "k2");
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );
    // A rerun of ops-warden sends no write at all (token minting aside),
    // and reads each registry once (the gate's answer serves validation).
    let writes = lab.sim.writes();
    let registry_reads = |lab: &Lab| {
        lab.sim
            .requests()
            .iter()
            .filter(|r| r["method"] == "GET" && r["path"] == "/api/v2/widget-types")
            .count()
    };
    let before = registry_reads(&lab);
    assert_eq!(lab.run("bootstrap").status.code(), Some(0));
    assert_eq!(lab.sim.writes(), writes, "zero non-GET requests on a rerun");
    assert_eq!(
        registry_reads(&lab) - before,
        1,
        "one read of each registry per rerun"
    );
}
