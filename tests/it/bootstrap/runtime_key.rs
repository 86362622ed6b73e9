//! The runtime key: unstorable keys revoked, a dead key needs `--rotate`, an emptied slot reused.

use super::scan;
use crate::common::lab::Lab;
use crate::common::{assert_schema, code_of, evidence};
use serde_json::{json, Value};

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
