//! What auditors read: `audit show` escaping, `audit verify` on a terminal, the auditors' group.

use std::process::Command;

use super::Host;
use crate::common::{bin, evidence};

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
    assert_eq!(crate::common::code_of(&doc), "audit-chain-broken");
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
    assert!(tty.starts_with("BROKEN (audit-chain-broken) at "), "{tty}");
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
    // Files inherit the group (setgid) and are group-readable, not
    // writable; the writers' lock is out of the auditors' reach (I-5).
    for (name, mode) in [
        ("audit.jsonl", 0o640),
        ("audit.jsonl.head", 0o640),
        ("audit.jsonl.lock", 0o600),
    ] {
        let m = std::fs::metadata(dir.join(name)).unwrap();
        assert_eq!(m.gid(), adm.gid.as_raw(), "{name}");
        assert_eq!(m.mode() & 0o777, mode, "{name}");
    }
}
