//! Issue 22: every custody action joinable with OpenBao's audit log. A real
//! OpenBao dev server with a file audit device declared in its config
//! (`hmac_accessor = "false"`, everything else HMAC'd, as production would).

use std::process::Command;

use serde_json::Value;

use crate::common::lab::Lab;
use crate::common::scan::assert_run_clean;
use crate::common::{assert_schema_named, bin, evidence};

fn correlate(lab: &Lab, args: &[&str]) -> (Value, Option<i32>, std::process::Output) {
    let out = Command::new(bin())
        .arg("--config")
        .arg(&lab.config)
        .args(["audit", "correlate", "--openbao-audit"])
        .arg(lab.bao.trail_log())
        .args(args)
        .output()
        .unwrap();
    let doc = evidence(&out);
    assert_schema_named("audit-correlate.v1.schema.json", &doc);
    (doc, out.status.code(), out)
}

fn calls(doc: &Value) -> Vec<(String, Option<String>, u64)> {
    doc["openbao"]["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["call"].as_str().unwrap().to_string(),
                c["request_id"].as_str().map(String::from),
                c["status"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn every_custody_action_is_found_in_openbaos_audit_log_and_gaps_are_named() {
    let lab = Lab::start("correlate");
    let first = lab.run("bootstrap");
    let doc = evidence(&first);
    assert_eq!(doc["outcome"], "ok", "{doc:#}");
    assert_eq!(doc["result"]["runtime_key"]["status"], "created");
    let made = calls(&doc);
    let names: Vec<&str> = made.iter().map(|(c, _, _)| c.as_str()).collect();
    for call in [
        "login",
        "capabilities",
        "read",
        "store",
        "metadata",
        "revoke-self",
    ] {
        assert!(names.contains(&call), "{call} in {names:?}");
    }
    // Answers with a body carry their request_id; 204s (metadata,
    // revoke-self) and errors (the first run's 404 on the empty slot) none.
    for (call, id, status) in &made {
        assert_eq!(id.is_some(), *status == 200, "{call}: {id:?} {status}");
        if matches!(call.as_str(), "metadata" | "revoke-self") {
            assert_eq!(*status, 204, "{call}");
        }
    }
    assert!(doc["openbao"]["accessor"]
        .as_str()
        .is_some_and(|a| a.len() >= 20));
    // The result record carries the same.
    let audit = std::fs::read_to_string(&lab.audit).unwrap();
    let result: Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert_eq!(result["openbao"], doc["openbao"]);
    let rerun = lab.run("bootstrap");
    assert_eq!(
        evidence(&rerun)["result"]["runtime_key"]["status"],
        "reused"
    );

    // Both runs, every call found on OpenBao's side and nothing more.
    let (rep, code, out1) = correlate(&lab, &[]);
    assert_eq!(code, Some(0), "{rep:#}");
    assert_eq!(rep["runs"], 2);
    assert_eq!(rep["matched"], rep["host_calls"], "{rep:#}");
    assert_eq!(rep["missing_in_openbao_total"], 0);
    assert_eq!(rep["missing_on_host_total"], 0);

    // A trail that hides the store (the record rewritten): OpenBao's log has
    // a store with the run's token that the host does not show.
    let hidden: String = audit
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            if let Some(c) = v
                .pointer_mut("/openbao/calls")
                .and_then(Value::as_array_mut)
            {
                c.retain(|c| c["call"] != "store");
            }
            v.to_string() + "\n"
        })
        .collect();
    let hidden_file = lab.fx.write("hidden.jsonl", &hidden, 0o600);
    let (rep, code, out2) = correlate(&lab, &["--file", hidden_file.to_str().unwrap()]);
    assert_eq!(code, Some(65), "{rep:#}");
    assert_eq!(rep["missing_on_host_total"], 1, "{rep:#}");
    assert!(
        rep["missing_on_host"][0]["path"]
            .as_str()
            .unwrap()
            .contains("/data/"),
        "{rep:#}"
    );

    // An OpenBao log that lost the first run's store: the host's call is named.
    let store_id = made
        .iter()
        .find(|(c, _, _)| c == "store")
        .unwrap()
        .1
        .clone()
        .unwrap();
    let full = std::fs::read_to_string(lab.bao.trail_log()).unwrap();
    let cut: String = full
        .lines()
        .filter(|l| !l.contains(&store_id))
        .map(|l| format!("{l}\n"))
        .collect();
    let cut_file = lab.fx.write("bao-cut.log", &cut, 0o600);
    let out3 = Command::new(bin())
        .arg("--config")
        .arg(&lab.config)
        .args(["audit", "correlate", "--openbao-audit"])
        .arg(&cut_file)
        .output()
        .unwrap();
    let rep = evidence(&out3);
    assert_eq!(out3.status.code(), Some(65), "{rep:#}");
    assert_eq!(rep["missing_in_openbao_total"], 1, "{rep:#}");
    assert_eq!(
        rep["missing_in_openbao"][0]["request_id"],
        store_id.as_str()
    );
    assert_eq!(rep["missing_in_openbao"][0]["call"], "store");

    let audit = std::fs::read(&lab.audit).unwrap();
    assert_run_clean(
        &[&first, &rerun, &out1, &out2, &out3],
        &audit,
        &lab.secrets(),
    );
}
