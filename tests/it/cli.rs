//! The command line itself: help, version, bad arguments, check-config.

use std::process::Command;

use crate::common::{bin, Fixture};

#[test]
fn help_version_and_bad_arguments() {
    let out = Command::new(bin()).arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ops-warden "));
    let out = Command::new(bin()).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    for word in [
        "force-command",
        "audit",
        "check-config",
        "bootstrap",
        "seeds",
    ] {
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(word),
            "{word}"
        );
    }
    let out = Command::new(bin()).arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    let out = Command::new(bin())
        .args([
            "bootstrap",
            "--plan",
            "--rotate",
            "--operator-key-file",
            "/x",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "--plan and --rotate conflict");
}

/// `ops-warden --config CFG check-config`: exit code and the JSON it printed.
fn check_config(cfg: &std::path::Path) -> (Option<i32>, serde_json::Value) {
    check_config_with(cfg, &[])
}

fn check_config_with(cfg: &std::path::Path, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = Command::new(bin())
        .arg("--config")
        .arg(cfg)
        .arg("check-config")
        .args(args)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    crate::common::assert_schema_named("check-config.v1.schema.json", &doc);
    (out.status.code(), doc)
}

#[test]
fn check_config_reports_every_problem_with_its_key() {
    let fx = Fixture::new("check-config");
    fx.keygen(&["-t", "ed25519", "-f", "ca"]);
    let ca = std::fs::read_to_string(fx.path("ca.pub")).unwrap();
    fx.mkdir("log", 0o750);
    fx.mkdir("state", 0o700);
    let lane = format!(
        "[lane]\nprincipal = \"agt-interhub-bootstrap\"\nkey_id_pattern = \"agt-*\"\nca_keys = [\"{}\"]\nmax_ttl_secs = 900\n\
         [audit]\npath = \"{}\"\n[state]\ndir = \"{}\"\n",
        ca.trim(),
        fx.path("log/audit.jsonl").display(),
        fx.path("state").display()
    );
    // Without the service sections every verb but whoami fails: said, by key.
    let cfg = fx.write("lane-only.toml", &lane, 0o644);
    let (code, doc) = check_config(&cfg);
    assert_eq!(code, Some(78), "{doc:#}");
    let keys = crate::common::error_keys(&doc);
    assert_eq!(keys, ["openbao", "interhub"], "{doc:#}");

    let token = fx.write("token", "t", 0o600);
    let repo = crate::common::repo();
    let good = format!(
        "{lane}[openbao]\naddr = \"http://127.0.0.1:8200\"\nauth = \"token-file\"\ntoken_file = \"{}\"\n\
         [interhub]\nbase_url = \"http://127.0.0.1:8080\"\nmanifest = \"{}\"\nwidgets = \"{}\"\n",
        token.display(),
        repo.join("seeds/ops-hub-manifest.draft.json").display(),
        repo.join("seeds/ops-hub-widgets.seed.json").display(),
    );
    let cfg = fx.write("good.toml", &good, 0o644);
    let (code, doc) = check_config(&cfg);
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["effective"], serde_json::Value::Null);
    // --show: the effective config, defaults filled in, no secret.
    let (code, doc) = check_config_with(&cfg, &["--show"]);
    assert_eq!(code, Some(0));
    let eff = &doc["effective"];
    assert_eq!(eff["lane"]["require_sole_principal"], true, "{doc:#}");
    assert_eq!(eff["openbao"]["auth"], "token-file");
    assert_eq!(eff["openbao"]["retries"], 3);
    assert_eq!(eff["interhub"]["hub"], "ops-hub");
    assert_eq!(eff["audit"]["syslog"]["facility"], 10);
    assert!(
        !doc.to_string().contains("\"t\""),
        "the token file's content is not shown"
    );

    // A TOML error says where.
    let broken = fx.write("broken.toml", &format!("{good}[lane\n"), 0o644);
    let (code, doc) = check_config(&broken);
    assert_eq!(code, Some(78));
    assert_eq!(doc["errors"][0]["key"], "(toml)", "{doc:#}");
    let line = good.lines().count() + 1;
    assert!(
        doc["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("line {line}, column ")),
        "{doc:#}"
    );

    // Several problems at once, each named by its key.
    let bad = good
        .replace(
            "max_ttl_secs = 900",
            "max_ttl_secs = 0\nclock_skew_secs = 9999",
        )
        .replace("key_id_pattern = \"agt-*\"", "key_id_pattern = \"*\"");
    let cfg = fx.write("bad.toml", &bad, 0o644);
    let (code, doc) = check_config(&cfg);
    assert_eq!(code, Some(78));
    let keys = crate::common::error_keys(&doc);
    for key in [
        "lane.max_ttl_secs",
        "lane.clock_skew_secs",
        "lane.key_id_pattern",
    ] {
        assert!(
            keys.iter().any(|k| k == key),
            "{key} has its own entry: {doc:#}"
        );
    }

    // A config others can write is not trusted at all.
    let open = fx.write("open.toml", &good, 0o666);
    let (code, doc) = check_config(&open);
    assert_eq!(code, Some(78));
    assert!(doc.to_string().contains("mode 0666"));

    // Named files are checked too: a role_id file others can read.
    let role = fx.write("role_id", "r", 0o644);
    let secret = fx.write("secret_id", "s", 0o600);
    let with_bao = good.replace(
        "auth = \"token-file\"",
        &format!(
            "auth = \"approle\"\nrole_id_file = \"{}\"\nsecret_id_file = \"{}\"",
            role.display(),
            secret.display()
        ),
    );
    let with_bao = with_bao.replace(&format!("token_file = \"{}\"\n", token.display()), "");
    let cfg = fx.write("bao.toml", &with_bao, 0o644);
    let (code, doc) = check_config(&cfg);
    assert_eq!(code, Some(78));
    assert_eq!(doc["errors"][0]["key"], "openbao.role_id_file", "{doc:#}");
}

#[test]
fn audit_show_refuses_bad_ages_as_usage_errors() {
    let fx = Fixture::new("cli-since");
    let log = fx.write("audit.jsonl", "", 0o600);
    let show = |since: &str| {
        Command::new(bin())
            .args(["audit", "show", "--file"])
            .arg(&log)
            .arg(format!("--since={since}"))
            .output()
            .unwrap()
    };
    for since in ["99999999999999d", "5é", "-3d", "d", "12x"] {
        let out = show(since);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "--since {since}: {err}");
        assert!(err.contains("--since"), "names the flag: {err}");
        assert!(!err.contains("internal error"), "no panic: {err}");
    }
    for since in ["90m", "2d", "1w", "2026-01-01T00:00:00Z"] {
        assert_eq!(show(since).status.code(), Some(0), "--since {since}");
    }
}
