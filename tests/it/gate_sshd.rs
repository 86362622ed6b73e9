//! The SSH gate end to end: a real sshd on 127.0.0.1, real certificates,
//! ops-warden as the ForceCommand.

use crate::common::sshd::{LaneHost, LaneOptions};
use crate::common::{assert_schema, code_of, evidence};

#[test]
fn the_gate_through_real_sshd() {
    let host = LaneHost::start("gate", LaneOptions::default());
    let good = host.good_cert();

    // whoami succeeds and names the caller.
    let out = host.ssh(&good, &["whoami"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}\nsshd: {}",
        String::from_utf8_lossy(&out.stderr),
        host.sshd_log()
    );
    let doc = evidence(&out);
    assert_schema(&doc);
    assert_eq!(doc["outcome"], "ok");
    assert_eq!(doc["command"], "whoami");
    assert_eq!(doc["caller"]["key_id"], "agt-test-interhub-bootstrap");
    assert_eq!(doc["caller"]["principal"], "agt-interhub-bootstrap");
    assert_eq!(doc["caller"]["client_address"], "127.0.0.1");
    assert_eq!(
        doc["result"]["whoami"]["key_id"],
        "agt-test-interhub-bootstrap"
    );
    assert!(out.stderr.is_empty(), "nothing on stderr on success");
    let first_seq = doc["audit"]["seq"].as_u64().unwrap();

    // Refusals by ops-warden, each with its own code, exit 77, and evidence.
    let refused = |cert: &std::path::Path, remote: &[&str], code: &str| {
        let out = host.ssh(cert, remote);
        let doc = evidence(&out);
        assert_schema(&doc);
        assert_eq!(code_of(&doc), code, "{remote:?}: {doc:#}");
        assert_eq!(out.status.code(), Some(77), "{remote:?}");
        assert_eq!(doc["outcome"], "refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "stderr is one short line: {err}");
        doc
    };
    refused(&good, &["frobnicate"], "command-unknown-verb");
    refused(&good, &["whoami;", "id"], "command-shell-syntax");
    refused(&good, &["$(id)"], "command-shell-syntax");
    refused(&good, &["`id`"], "command-shell-syntax");
    refused(&good, &["whoami\nid"], "command-not-printable");
    refused(&good, &["whoami", "--verbose"], "command-bad-argument");

    let long_ttl = host.cert(
        "lane-ca",
        &crate::common::cert_opts(
            crate::common::KEY_ID,
            Some(crate::common::PRINCIPAL),
            "-1m:+52w",
            &[],
        ),
    );
    refused(&long_ttl, &["whoami"], "cert-ttl-too-long");
    let bad_id = host.cert(
        "lane-ca",
        &crate::common::cert_opts("mallory", Some(crate::common::PRINCIPAL), "-1m:+5m", &[]),
    );
    let doc = refused(&bad_id, &["whoami"], "key-id-mismatch");
    assert_eq!(
        doc["certificate"]["key_id"], "mallory",
        "refusals name who tried"
    );
    assert!(doc["caller"].is_null());
    let other = host.cert(
        "other-ca",
        &crate::common::cert_opts(
            crate::common::KEY_ID,
            Some(crate::common::PRINCIPAL),
            "-1m:+5m",
            &[],
        ),
    );
    refused(&other, &["whoami"], "ca-not-pinned");
    let pty = host.cert(
        "lane-ca",
        &[
            "-I",
            "agt-test-interhub-bootstrap",
            "-n",
            "agt-interhub-bootstrap",
            "-V",
            "-1m:+5m",
        ],
    );
    refused(&pty, &["whoami"], "extension-refused");
    let src = host.cert(
        "lane-ca",
        &crate::common::cert_opts(
            crate::common::KEY_ID,
            Some(crate::common::PRINCIPAL),
            "-1m:+5m",
            &["-O", "source-address=127.0.0.2/32,10.0.0.0/8"],
        ),
    );
    // sshd enforces source-address itself too; either refusal keeps the caller out.
    let out = host.ssh(&src, &["whoami"]);
    assert_ne!(out.status.code(), Some(0));

    // An interactive login gets the usage as JSON and exit 64.
    let out = host.ssh(&good, &[]);
    assert_eq!(
        out.status.code(),
        Some(64),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        host.sshd_log()
    );
    let doc = evidence(&out);
    assert_schema(&doc);
    assert_eq!(doc["outcome"], "usage");
    assert!(doc["usage"].as_str().unwrap().contains("bootstrap"));

    // Verbs that need OpenBao/Inter-Hub parse and are audited; without those
    // sections in the config they fail with a config error, not a crash.
    let out = host.ssh(&good, &["bootstrap", "--plan"]);
    let doc = evidence(&out);
    assert_schema(&doc);
    assert_eq!(doc["command"], "bootstrap --plan");
    assert_eq!(out.status.code(), Some(78));

    // An expired certificate never reaches ops-warden: sshd refuses it.
    let before = std::fs::read_to_string(&host.audit)
        .unwrap()
        .lines()
        .count();
    let expired = host.cert(
        "lane-ca",
        &crate::common::cert_opts(
            crate::common::KEY_ID,
            Some(crate::common::PRINCIPAL),
            "-2h:-1h",
            &[],
        ),
    );
    let out = host.ssh(&expired, &["whoami"]);
    assert_eq!(out.status.code(), Some(255), "ssh itself fails");
    assert!(out.stdout.is_empty());
    assert_eq!(
        std::fs::read_to_string(&host.audit)
            .unwrap()
            .lines()
            .count(),
        before
    );

    // Provisioning's view: the installed layout passes check-config (as root,
    // with lane.user naming the account that owns the log and state folders)
    // but for the service sections this gate-only host does not have.
    let out = host.ops_warden(&["check-config"]);
    let doc = evidence(&out);
    assert_eq!(out.status.code(), Some(78), "{doc:#}");
    let keys = crate::common::error_keys(&doc);
    assert_eq!(keys, ["openbao", "interhub"], "{doc:#}");

    // The audit log holds an intent and a result for every run and verifies.
    let out = host.ops_warden(&["audit", "verify"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["head_checked"], true);
    assert!(report["last"]["seq"].as_u64().unwrap() > first_seq);
    let log = std::fs::read_to_string(&host.audit).unwrap();
    assert!(log.contains("\"code\":\"key-id-mismatch\""));
    assert!(log.contains("\"event\":\"intent\""));
    assert!(!log.contains("whoami\nid"), "untrusted text is escaped");

    // audit show filters by outcome and key id.
    let out = host.ops_warden(&["audit", "show", "--outcome", "refused", "--json"]);
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(shown.lines().count() >= 8, "{shown}");
    assert!(shown.lines().all(|l| l.contains("\"outcome\":\"refused\"")));
    let out = host.ops_warden(&["audit", "show", "--key-id", "mallory", "--since", "1h"]);
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("key-id-mismatch"));

    // One changed byte is found, and so is a removed line.
    let pristine = std::fs::read(&host.audit).unwrap();
    let mut tampered = pristine.clone();
    let at = tampered.iter().position(|&b| b == b'\n').unwrap() + 20;
    tampered[at] ^= 0x01;
    std::fs::write(&host.audit, &tampered).unwrap();
    let out = host.ops_warden(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(65));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert!(
        report["first_bad"].as_str().unwrap().ends_with(":2"),
        "{report:#}"
    );

    let mut lines: Vec<&str> = std::str::from_utf8(&pristine).unwrap().lines().collect();
    lines.remove(3);
    std::fs::write(&host.audit, lines.join("\n") + "\n").unwrap();
    let out = host.ops_warden(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(65));

    // A log whose tail was cut is not extended: the next login fails closed.
    let mut lines: Vec<&str> = std::str::from_utf8(&pristine).unwrap().lines().collect();
    lines.pop();
    std::fs::write(&host.audit, lines.join("\n") + "\n").unwrap();
    let out = host.ssh(&good, &["whoami"]);
    assert_eq!(out.status.code(), Some(77));
    assert_eq!(code_of(&evidence(&out)), "audit-write-failed");
}

#[test]
fn no_client_variable_reaches_the_lane() {
    let host = LaneHost::start("gate-env", LaneOptions::default());
    let settings = host.effective_settings();
    let accept: Vec<&str> = settings
        .lines()
        .filter(|l| l.starts_with("acceptenv "))
        .collect();
    assert_eq!(
        accept,
        ["acceptenv OPS_WARDEN_ACCEPTS_NO_ENVIRONMENT"],
        "the Match block replaces the global AcceptEnv"
    );
    // A client that sends LD_PRELOAD and LANG: had sshd passed them on, the
    // loader would complain on stderr before ops-warden even started.
    let good = host.good_cert();
    let mut c = host.ssh_command_opts(
        &good,
        &[
            "-o",
            "SetEnv=LD_PRELOAD=/nonexistent/ow-preload.so BASH_ENV=/nonexistent/ow-bashenv",
            "-o",
            "SendEnv=LANG",
        ],
        &["whoami"],
    );
    c.env("LANG", "C.UTF-8");
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}\n{}", host.sshd_log());
    assert!(!err.contains("ow-preload"), "{err}");
}

#[test]
fn check_config_reads_sshds_effective_settings() {
    let host = LaneHost::start("gate-checkcfg", LaneOptions::default());
    let sshd_config = host.fx.path("etc/sshd_config");
    let check = |f: &std::path::Path| {
        let out = host.ops_warden(&[
            "check-config",
            "--sshd",
            "--sshd-config",
            f.to_str().unwrap(),
        ]);
        let doc = evidence(&out);
        crate::common::assert_schema_named("check-config.v1.schema.json", &doc);
        (out.status.code(), doc)
    };
    let (_, doc) = check(&sshd_config);
    let checks = doc["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 8, "{doc:#}");
    assert!(checks.iter().all(|c| c["ok"] == true), "{doc:#}");

    // The snippet without ExposeAuthInfo and with forwarding back on: named.
    let weak = std::fs::read_to_string(&sshd_config)
        .unwrap()
        .replace("ExposeAuthInfo yes", "ExposeAuthInfo no")
        .replace("DisableForwarding yes", "DisableForwarding no");
    let weak = host.fx.write("etc/sshd_config.weak", &weak, 0o644);
    let (code, doc) = check(&weak);
    assert_eq!(code, Some(78));
    let failed: Vec<&str> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        failed,
        ["sshd.exposeauthinfo", "sshd.forwarding"],
        "{doc:#}"
    );
}

/// Issue 22: one certificate, one run. A certificate used for `bootstrap`
/// is refused for it afterwards (`cert-replayed`, 77) on this host, also
/// when the replays race each other; other verbs and fresh certificates
/// are not affected. (No services configured: a run that gets past the
/// claim ends in config-invalid, 78.)
#[test]
fn a_certificate_serves_one_bootstrap() {
    let host = LaneHost::start(
        "replay",
        LaneOptions {
            single_use: true,
            ..LaneOptions::default()
        },
    );
    // Serials as OpenBao's CA gives them: one per certificate.
    let serial = |z: &'static str| {
        use crate::common::{cert_opts, KEY_ID, PRINCIPAL};
        host.cert(
            "lane-ca",
            &cert_opts(KEY_ID, Some(PRINCIPAL), "-1m:+5m", &["-z", z]),
        )
    };
    let cert = serial("1001");
    let out = host.ssh(&cert, &["bootstrap", "--plan"]);
    assert_eq!(out.status.code(), Some(78), "{}", host.sshd_log());
    let out = host.ssh(&cert, &["bootstrap", "--plan"]);
    assert_eq!(out.status.code(), Some(77));
    let doc = evidence(&out);
    assert_schema(&doc);
    assert_eq!(code_of(&doc), "cert-replayed");
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("fresh certificate"));
    // whoami is not a single-use verb.
    assert_eq!(host.ssh(&cert, &["whoami"]).status.code(), Some(0));

    // Six replays of a fresh certificate at once: exactly one gets through.
    let fresh = serial("1002");
    let runs: Vec<_> = (0..6)
        .map(|_| {
            host.ssh_command(&fresh, &["bootstrap", "--plan"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut codes: Vec<i32> = runs
        .into_iter()
        .map(|c| c.wait_with_output().unwrap().status.code().unwrap_or(-1))
        .collect();
    codes.sort_unstable();
    assert_eq!(codes, vec![77, 77, 77, 77, 77, 78], "{}", host.sshd_log());
}
