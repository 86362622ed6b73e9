//! Issue 10 §9: the error codes no other test reaches, each produced through
//! the binary and asserted (`tests/run.sh` fails on any README code that no
//! run of the suite produced).

use std::process::Command;

use serde_json::json;

use crate::common::lab::{Lab, LabOptions, OPERATOR_PATH, RUNTIME_PATH};
use crate::common::{assert_schema, bin, code_of, evidence};

fn run_code(lab: &Lab, config: &std::path::Path, command: &str) -> (Option<i32>, String) {
    let out = lab
        .force_command(&config.to_path_buf(), command)
        .output()
        .unwrap();
    let doc = evidence(&out);
    assert_schema(&doc);
    crate::common::scan::assert_run_clean(&[&out], &[], &lab.secrets());
    (out.status.code(), code_of(&doc).to_string())
}

#[test]
fn the_operator_key_and_the_hosts_credentials() {
    let lab = Lab::start("codes-operator");
    let c = lab.config.clone();
    let secret_id = lab.fx.path("approle/secret_id");
    let mode = |m: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret_id, std::fs::Permissions::from_mode(m)).unwrap()
    };
    mode(0o644);
    let (exit, code) = run_code(&lab, &c, "bootstrap");
    assert_eq!((exit, code.as_str()), (Some(78), "openbao-token-file"));
    mode(0o600);

    let put = |value: &str| lab.bao.ok(&["kv", "put", OPERATOR_PATH, value]);
    let restore = || {
        lab.bao.kv_put_stdin(
            OPERATOR_PATH,
            "IHUB_OPERATOR_KEY",
            crate::common::lab::OPERATOR_KEY,
        )
    };
    lab.bao.ok(&["kv", "metadata", "delete", OPERATOR_PATH]);
    let (exit, code) = run_code(&lab, &c, "bootstrap");
    assert_eq!((exit, code.as_str()), (Some(69), "openbao-not-found"));
    put("unrelated=x");
    let (exit, code) = run_code(&lab, &c, "bootstrap");
    assert_eq!((exit, code.as_str()), (Some(69), "openbao-field-missing"));
    put("IHUB_OPERATOR_KEY=");
    let (exit, code) = run_code(&lab, &c, "bootstrap");
    assert_eq!((exit, code.as_str()), (Some(69), "secret-value-empty"));
    put(&format!("IHUB_OPERATOR_KEY={}", "k".repeat(5000)));
    let (exit, code) = run_code(&lab, &c, "bootstrap");
    assert_eq!((exit, code.as_str()), (Some(69), "secret-value-too-long"));
    put("IHUB_OPERATOR_KEY=two words");
    let (exit, code) = run_code(&lab, &c, "bootstrap");
    assert_eq!(
        (exit, code.as_str()),
        (Some(69), "secret-value-not-printable")
    );
    restore();
    assert_eq!(lab.run("bootstrap").status.code(), Some(0));

    // The stored key stops working: verify's validation fails.
    lab.sim.revoke_the_live_key();
    let (exit, code) = run_code(&lab, &c, "verify");
    assert_eq!((exit, code.as_str()), (Some(65), "validation-failed"));

    // Sealed: nothing is sent.
    lab.bao.seal();
    let (exit, code) = run_code(&lab, &c, "bootstrap --rotate");
    assert_eq!((exit, code.as_str()), (Some(69), "openbao-sealed"));
}

/// A new key that can neither be stored nor revoked: `runtime-key-orphaned`
/// names it (the one case where a live key is left, and said so).
#[test]
fn a_key_neither_stored_nor_revoked_is_named() {
    let lab = Lab::start("codes-orphaned");
    let (proxy, config) = lab.behind_proxy("proxied.toml", LabOptions::default());
    // A refusal (403: certainly not stored), so the run must revoke its key;
    // a 500 might commit later, and would leave the key journaled instead.
    proxy.fault(json!({"method": "POST", "path": format!("/v1/{}", RUNTIME_PATH.replacen('/', "/data/", 1)), "status": 403, "count": 50}));
    lab.sim.fault(json!({"method": "DELETE", "path": "/api/v2/admin/api-consumers/", "status": 500, "count": 50}));
    let out = lab.force_command(&config, "bootstrap").output().unwrap();
    let doc = evidence(&out);
    assert_eq!(code_of(&doc), "runtime-key-orphaned", "{doc:#}");
    assert_eq!(out.status.code(), Some(70));
    let id = lab.sim.active_keys()[0]["id"]
        .as_str()
        .expect("key id")
        .to_string();
    assert!(doc["error"]["message"]
        .as_str()
        .expect("message")
        .contains(&id));
    // Cleared, the next run of the host revokes it (it stayed journaled).
    lab.sim.clear_faults();
    proxy.clear_faults();
    assert_eq!(
        lab.force_command(&config, "bootstrap")
            .output()
            .unwrap()
            .status
            .code(),
        Some(0)
    );
    lab.assert_one_live_stored_key();
}

/// A supplied runtime key (attended `--runtime-key-file`) that works but is
/// not recorded is stored: the store's own refusals surface with their codes.
#[test]
fn the_stores_refusals_of_a_supplied_key() {
    let lab = Lab::start("codes-store");
    let (proxy, config) = lab.behind_proxy("proxied.toml", LabOptions::default());
    assert_eq!(lab.run("bootstrap").status.code(), Some(0));
    let (live, _) = lab.stored_key().expect("a stored key");
    let data = format!("/v1/{}", RUNTIME_PATH.replacen('/', "/data/", 1));
    let expected_codes = [
        (
            json!({"method": "POST", "path": data, "status": 403, "body": {"errors": ["permission denied"]}}),
            77,
            "openbao-write-denied",
        ),
        (
            json!({"method": "POST", "path": data, "status": 400, "body": {"errors": ["check-and-set parameter did not match the current version"]}}),
            75,
            "openbao-cas-conflict",
        ),
        (
            json!({"method": "GET", "path": format!("{data}?version="), "status": 200, "body": {
            "request_id": "x", "lease_id": "", "renewable": false, "lease_duration": 0,
            "data": {"data": {"OPS_HUB_KEY": "another-value-entirely-0123456789"},
                     "metadata": {"created_time": "2026-01-01T00:00:00Z", "custom_metadata": null,
                                  "deletion_time": "", "destroyed": false, "version": 1}},
            "wrap_info": null, "warnings": null, "auth": null}}),
            70,
            "openbao-read-back-mismatch",
        ),
    ];
    for (fault, exit, want) in expected_codes {
        // The slot is emptied, so the supplied (live) key is the one to record.
        lab.bao.ok(&["kv", "metadata", "delete", RUNTIME_PATH]);
        proxy.clear_faults();
        proxy.fault(fault);
        let op = lab
            .fx
            .write("op.key", crate::common::lab::OPERATOR_KEY, 0o600);
        let rt = lab.fx.write("rt.key", &live, 0o600);
        let out =
            crate::common::attended(&config, &op, &["--runtime-key-file", rt.to_str().unwrap()])
                .output()
                .unwrap();
        let doc = evidence(&out);
        assert_schema(&doc);
        assert_eq!(code_of(&doc), want, "{doc:#}");
        assert_eq!(out.status.code(), Some(exit), "{want}");
        crate::common::scan::assert_run_clean(&[&out], &[], &lab.secrets());
    }
}

/// OpenBao over https to a plain-HTTP port: the TLS handshake fails.
#[test]
fn a_tls_failure_to_openbao() {
    let lab = Lab::start("codes-tls");
    let ok = Command::new("openssl")
        .current_dir(&lab.fx.dir)
        .args([
            "req", "-x509", "-newkey", "ed25519", "-nodes", "-subj", "/CN=bao", "-days", "1",
        ])
        .args(["-keyout", "tls.key", "-out", "ca.pem"])
        .output()
        .expect("openssl");
    assert!(ok.status.success());
    let config = lab.write_config(
        "tls.toml",
        &LabOptions {
            openbao_addr: Some(format!("https://127.0.0.1:{}", lab.bao.port)),
            ..Default::default()
        },
    );
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "[openbao]\n",
        &format!(
            "[openbao]\nca_bundle = \"{}\"\n",
            lab.fx.path("ca.pem").display()
        ),
    );
    std::fs::write(&config, text).unwrap();
    let (exit, code) = run_code(&lab, &config, "bootstrap");
    assert_eq!((exit, code.as_str()), (Some(69), "openbao-tls"));
}

/// A local file operation that fails, and a bug (the debug build's panic
/// switch): `io-error` and `internal`, each with its exit code and nothing
/// else said.
#[test]
fn io_errors_and_bugs() {
    let out = Command::new(bin())
        .args(["audit", "show", "--file", "/"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(74));
    assert_eq!(
        crate::common::host_code_of(&out).as_deref(),
        Some("io-error"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = Command::new(bin())
        .arg("force-command")
        .env("OPS_WARDEN_DEBUG_PANIC", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(70));
    let doc = evidence(&out);
    assert_schema(&doc);
    assert_eq!(code_of(&doc), "internal");
    assert_eq!(doc["mode"], "force-command");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("ops-warden: internal error at "),
        "{stderr}"
    );
    assert!(
        !stderr.contains("OPS_WARDEN_DEBUG_PANIC"),
        "the panic's message is not printed"
    );
}
