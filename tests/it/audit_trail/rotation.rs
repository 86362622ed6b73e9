//! logrotate with the shipped config: the rotated set (plain and .gz) verifies and shows.

use std::process::Command;

use super::Host;

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
