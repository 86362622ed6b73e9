//! The hermetic tier: every refusal that needs no sshd, run through the
//! binary from data files (`tests/cmd/*.toml`), as any user (root is not
//! needed: the fixture, its config, CA and log belong to whoever runs it).
//!
//! A case names the command, the SSH environment (a certificate signed by
//! the pinned CA unless it says otherwise) and what must come out: the exit
//! code, the evidence's error code and outcome, the stderr line. Every case
//! also checks the evidence against its schema and that the audit log holds
//! the intent and the result, with a chain that verifies.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::common::{assert_schema, bin, cert_opts, evidence, Fixture};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// What the case proves.
    about: String,
    /// `SSH_ORIGINAL_COMMAND` (unset when absent).
    command: Option<String>,
    /// `[text, n]`: the text repeated n times as the command.
    command_repeat: Option<(String, usize)>,
    /// `cert` (default), `unset`, `plain-key`, `garbage`, `bad-signature`.
    #[serde(default = "cert")]
    auth: String,
    /// The auth-info file's mode (default 0600).
    auth_mode: Option<u32>,
    /// `ca` (pinned, default) or `other-ca`.
    #[serde(default = "ca")]
    signer: String,
    #[serde(default = "key_id")]
    key_id: String,
    /// Comma-separated; empty: no `-n` at all.
    #[serde(default = "principal")]
    principals: String,
    #[serde(default = "validity")]
    validity: String,
    #[serde(default)]
    cert_extra: Vec<String>,
    /// Appended to the config's `[lane]` section.
    #[serde(default)]
    lane_extra: String,
    config_mode: Option<u32>,
    exit: i32,
    /// The evidence's error code (absent: no error).
    code: Option<String>,
    /// Defaults to what the README's exit code means.
    outcome: Option<String>,
    stderr_contains: Option<String>,
}

fn cert() -> String {
    "cert".into()
}
fn ca() -> String {
    "ca".into()
}
fn key_id() -> String {
    "agt-test-interhub-bootstrap".into()
}
fn principal() -> String {
    "agt-interhub-bootstrap".into()
}
fn validity() -> String {
    "-5m:+10m".into()
}

fn cases() -> Vec<(String, Case)> {
    let dir = crate::common::repo().join("tests/cmd");
    let mut v: Vec<(String, Case)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().to_string();
            let text = std::fs::read_to_string(&p).unwrap();
            let case = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (name, case)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// The fixture a case runs in: CA, config, log and state folders.
fn setup(fx: &Fixture, case: &Case) -> PathBuf {
    fx.keygen(&["-t", "ed25519", "-f", "ca"]);
    fx.keygen(&["-t", "ed25519", "-f", "other-ca"]);
    fx.keygen(&["-t", "ed25519", "-f", "user"]);
    fx.mkdir("log", 0o700);
    fx.mkdir("state", 0o700);
    let ca = std::fs::read_to_string(fx.path("ca.pub")).unwrap();
    let config = format!(
        "[lane]\nprincipal = \"agt-interhub-bootstrap\"\nkey_id_pattern = \"agt-*-interhub-bootstrap*\"\n\
         ca_keys = [\"{}\"]\nmax_ttl_secs = 900\n{}\n\
         [audit]\npath = \"{}\"\nsyslog = false\n[state]\ndir = \"{}\"\n",
        ca.trim(),
        case.lane_extra,
        fx.path("log/audit.jsonl").display(),
        fx.path("state").display(),
    );
    fx.write(
        "ops-warden.toml",
        &config,
        case.config_mode.unwrap_or(0o600),
    )
}

/// The `SSH_USER_AUTH` file for the case (`None`: the variable is unset).
fn auth_info(fx: &Fixture, case: &Case) -> Option<PathBuf> {
    let line = match case.auth.as_str() {
        "unset" => return None,
        "plain-key" => std::fs::read_to_string(fx.path("user.pub")).unwrap(),
        "garbage" => "ssh-ed25519-cert-v01@openssh.com AAAAnotacertificate".into(),
        "bad-signature" => {
            // A good certificate with the last byte of its signature flipped.
            use base64::Engine;
            let b64 = base64::engine::general_purpose::STANDARD;
            let cert = fx.sign(
                "ca",
                "user",
                &cert_opts(&case.key_id, Some(&case.principals), &case.validity, &[]),
            );
            let line = std::fs::read_to_string(cert).unwrap();
            let mut parts: Vec<String> = line.split_whitespace().map(String::from).collect();
            let mut blob = b64.decode(&parts[1]).unwrap();
            *blob.last_mut().unwrap() ^= 0x01;
            parts[1] = b64.encode(blob);
            parts.join(" ")
        }
        "cert" => {
            let principals = (!case.principals.is_empty()).then_some(case.principals.as_str());
            let extra: Vec<&str> = case.cert_extra.iter().map(String::as_str).collect();
            let opts = cert_opts(&case.key_id, principals, &case.validity, &extra);
            let cert = fx.sign(&case.signer, "user", &opts);
            std::fs::read_to_string(cert).unwrap()
        }
        other => panic!("unknown auth {other:?}"),
    };
    let p = fx.write("auth-info", &format!("publickey {}", line.trim()), 0o600);
    if let Some(mode) = case.auth_mode {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    Some(p)
}

fn outcome_of(exit: i32) -> &'static str {
    match exit {
        0 => "ok",
        64 => "usage",
        77 => "refused",
        75 => "busy",
        _ => "failed",
    }
}

/// Runs one case; returns what did not match.
fn run(name: &str, case: &Case) -> Vec<String> {
    let fx = Fixture::new(&format!("cmd-{name}"));
    let config = setup(&fx, case);
    let mut cmd = Command::new(bin());
    cmd.env_clear()
        .arg("--config")
        .arg(&config)
        .arg("force-command")
        .env("SSH_CONNECTION", "127.0.0.1 40000 127.0.0.1 22");
    if let Some(c) = &case.command {
        cmd.env("SSH_ORIGINAL_COMMAND", c);
    }
    if let Some((text, n)) = &case.command_repeat {
        cmd.env("SSH_ORIGINAL_COMMAND", text.repeat(*n));
    }
    if let Some(a) = auth_info(&fx, case) {
        cmd.env("SSH_USER_AUTH", a);
    }
    let out = cmd.output().unwrap();
    let mut wrong = Vec::new();
    let mut expect = |what: &str, got: String, want: String| {
        if got != want {
            wrong.push(format!(
                "{name} ({}): {what} is {got:?}, not {want:?}",
                case.about
            ));
        }
    };
    expect(
        "exit",
        format!("{:?}", out.status.code()),
        format!("{:?}", Some(case.exit)),
    );
    let doc = evidence(&out);
    assert_schema(&doc);
    expect(
        "error code",
        doc["error"]["code"]
            .as_str()
            .unwrap_or("(none)")
            .to_string(),
        case.code.clone().unwrap_or("(none)".into()),
    );
    let outcome = case.outcome.as_deref().unwrap_or(outcome_of(case.exit));
    expect(
        "outcome",
        doc["outcome"].as_str().unwrap_or("(none)").into(),
        outcome.into(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let line = match &case.code {
        Some(code) => format!("ops-warden: {outcome} ({code}): "),
        None => String::new(),
    };
    expect(
        "stderr",
        stderr.starts_with(&line).to_string(),
        "true".into(),
    );
    if let Some(s) = &case.stderr_contains {
        expect(
            &format!("stderr {stderr:?} containing {s:?}"),
            stderr.contains(s.as_str()).to_string(),
            "true".into(),
        );
    }
    // Past the config, both records are on disk and the chain verifies.
    if case.exit != 78 {
        expect(
            "audit records",
            records(&fx.path("log/audit.jsonl")),
            "chain-start intent result".into(),
        );
        let v = Command::new(bin())
            .arg("--config")
            .arg(&config)
            .args(["audit", "verify", "--json"])
            .output()
            .unwrap();
        expect(
            "audit verify exit",
            format!("{:?}", v.status.code()),
            "Some(0)".into(),
        );
    }
    wrong
}

fn records(log: &Path) -> String {
    let text = match std::fs::read_to_string(log) {
        Ok(t) => t,
        Err(e) => return format!("(no log: {e})"),
    };
    text.lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn every_cli_case_gives_its_exit_code_error_code_and_records() {
    let cases = cases();
    assert!(cases.len() >= 25, "{} cases", cases.len());
    let wrong: Vec<String> = cases.iter().flat_map(|(n, c)| run(n, c)).collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
