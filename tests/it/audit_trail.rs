//! The audit trail as auditors use it, through the binary: anchored in a
//! real rsyslogd, verified against it, rotated by the real logrotate, read
//! with `audit show` (issue 11).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::syslog::Rsyslog;
use crate::common::{assert_schema_named, bin, code_of, evidence, Fixture};

/// A host with no services: a config whose audit records are anchored in
/// the test's rsyslogd. Runs are refusals (no SSH auth info), which write an
/// intent and a result like any run.
struct Host {
    fx: Fixture,
    config: PathBuf,
    log: PathBuf,
    syslog: Rsyslog,
}

impl Host {
    fn new(name: &str) -> Host {
        let fx = Fixture::new(name);
        fx.keygen(&["-t", "ed25519", "-f", "lane-ca"]);
        let syslog = Rsyslog::start(&fx);
        let log = fx.mkdir("log", 0o750).join("audit.jsonl");
        fx.mkdir("state", 0o700);
        let config = fx.write(
            "ops-warden.toml",
            &format!(
                "[lane]\nprincipal = \"agt-interhub-bootstrap\"\n\
                 key_id_pattern = \"agt-*-interhub-bootstrap*\"\nca_keys_file = \"{}\"\n\
                 max_ttl_secs = 900\n[audit]\npath = \"{}\"\nsyslog_socket = \"{}\"\n\
                 [state]\ndir = \"{}\"\n\
                 [openbao]\naddr = \"http://127.0.0.1:9\"\nauth = \"token-file\"\ntoken_file = \"{}\"\n\
                 [interhub]\nbase_url = \"http://127.0.0.1:9\"\nmanifest = \"{repo}/seeds/ops-hub-manifest.draft.json\"\n\
                 widgets = \"{repo}/seeds/ops-hub-widgets.seed.json\"\n",
                fx.path("lane-ca.pub").display(),
                log.display(),
                syslog.socket.display(),
                fx.path("state").display(),
                fx.write("token", "t", 0o600).display(),
                repo = crate::common::repo().display(),
            ),
            0o644,
        );
        Host {
            fx,
            config,
            log,
            syslog,
        }
    }

    /// One refused run (as sshd would start it, without auth info).
    fn run(&self) -> Output {
        self.run_with(&self.config)
    }

    fn run_with(&self, config: &Path) -> Output {
        Command::new(bin())
            .arg("--config")
            .arg(config)
            .arg("force-command")
            .env_clear()
            .env("SSH_ORIGINAL_COMMAND", "whoami")
            .env("SSH_CONNECTION", "192.0.2.7 40000 127.0.0.1 22")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ow(&self, args: &[&str]) -> Output {
        Command::new(bin())
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// `audit verify` with `args`; the JSON report and the exit code.
    fn verify(&self, args: &[&str]) -> (serde_json::Value, Option<i32>) {
        let mut a = vec!["audit", "verify"];
        a.extend_from_slice(args);
        let out = self.ow(&a);
        let doc = evidence(&out);
        assert_schema_named("audit-verify.v1.schema.json", &doc);
        (doc, out.status.code())
    }

    fn anchor(&self) -> String {
        self.syslog.output.display().to_string()
    }

    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }
}

#[test]
fn every_record_is_anchored_in_syslog_and_deletions_are_caught() {
    crate::common::require_root();
    let h = Host::new("trail-anchor");
    // A fresh host: no records yet, a distinct exit code.
    let (doc, code) = h.verify(&[]);
    assert_eq!(doc["status"], "empty", "{doc:#}");
    assert_eq!(code, Some(66));

    for _ in 0..3 {
        let out = h.run();
        assert_eq!(code_of(&evidence(&out)), "auth-info-missing");
    }
    // chain-start + 3 × (intent, result)
    let text = h.syslog.wait_for("\"ow_audit\":1", 7);
    for line in text.lines().filter(|l| l.contains("\"ow_audit\"")) {
        assert!(line.contains(" authpriv.info ops-warden["), "{line}");
    }
    // Every record: the schema, the version, and on refusals the client.
    for l in h.lines() {
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_schema_named("audit-record.v1.schema.json", &v);
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
        if v["event"] != "chain-start" {
            assert_eq!(v["client_address"], "192.0.2.7", "{v}");
        }
    }
    let anchor = h.anchor();
    let (doc, code) = h.verify(&["--anchor", &anchor]);
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(doc["anchor"]["matched"], 7);
    assert_eq!(doc["locked"], true);

    // The tail and the head removed: fails closed, and the anchor names the gap.
    let keep = h.lines()[..5].join("\n") + "\n";
    std::fs::write(&h.log, keep).unwrap();
    std::fs::remove_file(h.fx.path("log/audit.jsonl.head")).unwrap();
    let (doc, code) = h.verify(&[]);
    assert_eq!(code, Some(65));
    assert!(doc["reason"]
        .as_str()
        .unwrap()
        .contains("head file is missing"));
    let (doc, _) = h.verify(&["--allow-new", "--anchor", &anchor]);
    assert_eq!(doc["ok"], false);
    assert!(
        doc["reason"]
            .as_str()
            .unwrap()
            .contains("the anchor has seq 6"),
        "{doc:#}"
    );
    // The writer does not reuse the removed seqs: it refuses, and syslog
    // keeps a trace of the refusal with its code.
    let out = h.run();
    assert_eq!(code_of(&evidence(&out)), "audit-write-failed");
    let text = h.syslog.wait_for("\"event\":\"failure\"", 1);
    assert!(text.contains("\"code\":\"audit-write-failed\""), "{text}");
    assert!(text.contains("authpriv.err"), "{text}");

    // Both files deleted, one run: the new chain goes on from the state
    // folder's mark (seq 8), never reusing a seq, and verify reports the gap.
    std::fs::remove_file(&h.log).unwrap();
    let out = h.run();
    assert_eq!(code_of(&evidence(&out)), "auth-info-missing");
    let first: serde_json::Value = serde_json::from_str(&h.lines()[0]).unwrap();
    assert_eq!(first["new_chain"], true);
    assert_eq!(first["seq"], 8);
    assert_eq!(first["after_seq"], 7);
    let (doc, code) = h.verify(&["--anchor", &anchor]);
    assert_eq!(code, Some(65), "{doc:#}");
    assert!(
        doc["reason"].as_str().unwrap().contains("starts at seq 8"),
        "{doc:#}"
    );

    // The log, its head and the mark deleted: seq 1 again locally, but the
    // anchor holds two different records for the same seqs.
    std::fs::remove_file(&h.log).unwrap();
    std::fs::remove_file(h.fx.path("log/audit.jsonl.head")).unwrap();
    std::fs::remove_file(h.fx.path("state/audit.seq")).unwrap();
    let out = h.run();
    assert_eq!(code_of(&evidence(&out)), "auth-info-missing");
    assert!(h.lines()[0].contains("\"new_chain\":true"));
    h.syslog.wait_for("\"ow_audit\":1", 13);
    let (doc, code) = h.verify(&["--anchor", &anchor]);
    assert_eq!(code, Some(65), "{doc:#}");
    assert!(
        doc["reason"]
            .as_str()
            .unwrap()
            .contains("two different records for seq 1"),
        "{doc:#}"
    );
}

#[test]
fn an_emptied_log_is_reported_not_taken_for_a_rotation() {
    crate::common::require_root();
    let h = Host::new("trail-emptied");
    h.run();
    h.run();
    std::fs::write(&h.log, "").unwrap();
    h.run();
    let (doc, code) = h.verify(&[]);
    assert_eq!(code, Some(65));
    assert_eq!(doc["partial"], true);
    assert!(doc["reason"].as_str().unwrap().contains("starts at seq 6"));
}

#[test]
fn a_config_that_does_not_load_leaves_a_trace_in_syslog() {
    crate::common::require_root();
    let h = Host::new("trail-config");
    let text = std::fs::read_to_string(&h.config)
        .unwrap()
        .replace("principal = \"agt-interhub-bootstrap\"", "principal = \"\"");
    let bad = h.fx.write("bad.toml", &text, 0o644);
    let out = h.run_with(&bad);
    assert_eq!(code_of(&evidence(&out)), "config-invalid");
    let text = h.syslog.wait_for("\"event\":\"failure\"", 1);
    assert!(text.contains("\"code\":\"config-invalid\""), "{text}");
    assert!(text.contains("\"client_address\":\"192.0.2.7\""), "{text}");
    assert!(!h.log.exists(), "no audit log without a config");
}

#[test]
fn logrotate_rotates_and_the_rotated_set_verifies() {
    crate::common::require_root();
    let h = Host::new("trail-rotate");
    let conf =
        std::fs::read_to_string(crate::common::repo().join("host-config/logrotate/ops-warden"))
            .unwrap()
            .replace(
                "/var/log/ops-warden/audit.jsonl",
                &h.log.display().to_string(),
            )
            .replace("su ihub-bootstrap adm", "su root root");
    let conf = h.fx.write("logrotate.conf", &conf, 0o644);
    let state = h.fx.path("logrotate.state");
    let rotate = || {
        let out = Command::new("/usr/sbin/logrotate")
            .arg("-f")
            .arg("-s")
            .arg(&state)
            .arg(&conf)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "logrotate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    for _ in 0..3 {
        h.run();
        h.run();
        rotate();
    }
    h.run();
    let dir = h.log.parent().unwrap();
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("audit.jsonl.") && !n.contains("head") && !n.contains("lock"))
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["audit.jsonl.1", "audit.jsonl.2.gz", "audit.jsonl.3.gz"],
        "delaycompress: the newest rotated file stays plain"
    );
    let mut args = Vec::new();
    for f in files
        .iter()
        .rev()
        .chain(std::iter::once(&"audit.jsonl".to_string()))
    {
        args.push("--file".to_string());
        args.push(dir.join(f).display().to_string());
    }
    let anchor = h.anchor();
    args.extend(["--anchor".to_string(), anchor]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (doc, code) = h.verify(&args);
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(doc["first_seq"], 1);
    // 4 files, each with its chain-start, and 7 runs of two records.
    assert_eq!(doc["records"], 4 + 14);
    assert_eq!(doc["anchor"]["matched"], 18);

    // `audit show` reads the .gz files too.
    let out = h.ow(&[
        "audit",
        "show",
        "--file",
        &dir.join("audit.jsonl.3.gz").display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("    SEQ TIME"), "a header: {text}");
    assert_eq!(
        text.lines().count(),
        1 + 5,
        "a header and five records: {text}"
    );
}

#[test]
fn audit_show_is_readable_and_escapes_everything() {
    crate::common::require_root();
    let h = Host::new("trail-show");
    h.run();
    // A record the lane user forged with a terminal escape and a long key id.
    let forged = serde_json::json!({
        "event": "result", "seq": 99, "prev": "0".repeat(64), "ts": "2026-01-01T00:00:00Z",
        "run_id": "\u{1b}[2J\u{1b}[31mEVIL", "outcome": "ok", "command": "whoami\u{7}",
        "caller": {"key_id": "k".repeat(64)}, "error": null
    });
    let mut text = std::fs::read_to_string(&h.log).unwrap();
    text.push_str(&format!("{forged}\n"));
    std::fs::write(&h.log, text).unwrap();
    let out = h.ow(&["audit", "show"]);
    assert_eq!(out.status.code(), Some(0));
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
        "{shown:?}"
    );
    let header = shown.lines().next().unwrap();
    for col in [
        "SEQ", "TIME", "EVENT", "RUN", "OUTCOME", "COMMAND", "KEY ID", "ERROR",
    ] {
        assert!(header.contains(col), "{header}");
    }
    let forged_row = shown
        .lines()
        .find(|l| l.trim_start().starts_with("99"))
        .unwrap();
    assert!(
        forged_row.contains('…'),
        "a long key id is cut: {forged_row}"
    );
    // Every row has the same width up to the error column.
    let before_error = 7 + 1 + 24 + 1 + 11 + 1 + 8 + 1 + 8 + 1 + 24 + 1 + 32;
    let widths: Vec<usize> = shown
        .lines()
        .map(|l| l.chars().count().min(before_error))
        .collect();
    assert!(widths.iter().all(|w| *w == widths[0]), "{shown}");

    let out = h.ow(&["audit", "show", "--outcome", "fine"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--outcome"));
    let out = h.ow(&["audit", "show", "--outcome", "refused", "--since", "1w"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 2);

    // audit verify: JSON when piped (or --json), a short summary on a terminal.
    let (doc, _) = h.verify(&["--json"]);
    assert_eq!(doc["status"], "broken");
    let cmd = format!(
        "{} --config {} audit verify",
        bin().display(),
        h.config.display()
    );
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .output()
        .unwrap();
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(tty.starts_with("BROKEN at "), "{tty}");
    assert_eq!(tty.lines().count(), 1, "{tty}");
    assert_eq!(out.status.code(), Some(65));
}

#[test]
fn the_auditors_group_reads_the_trail() {
    crate::common::require_root();
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let h = Host::new("trail-group");
    let text = std::fs::read_to_string(&h.config).unwrap().replacen(
        "[state]",
        "group = \"adm\"\n[state]",
        1,
    );
    let cfg = h.fx.write("group.toml", &text, 0o644);
    let check = || {
        let out = Command::new(bin())
            .arg("--config")
            .arg(&cfg)
            .arg("check-config")
            .output()
            .unwrap();
        (out.status.code(), evidence(&out))
    };
    // The folder is not the auditors' yet: check-config says so, by key.
    let (code, doc) = check();
    assert_eq!(code, Some(78), "{doc:#}");
    assert!(
        doc["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["key"] == "audit.group"),
        "{doc:#}"
    );
    let dir = h.log.parent().unwrap();
    let adm = nix::unistd::Group::from_name("adm").unwrap().unwrap();
    nix::unistd::chown(dir, None, Some(adm.gid)).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o2750)).unwrap();
    let (code, doc) = check();
    assert_eq!(code, Some(0), "{doc:#}");
    h.run_with(&cfg);
    // Files inherit the group (setgid) and are group-readable, not writable.
    for name in ["audit.jsonl", "audit.jsonl.head", "audit.jsonl.lock"] {
        let m = std::fs::metadata(dir.join(name)).unwrap();
        assert_eq!(m.gid(), adm.gid.as_raw(), "{name}");
        assert_eq!(m.mode() & 0o777, 0o640, "{name}");
    }
}
