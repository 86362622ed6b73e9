//! Issue 22: attacks on the anchor that the review reproduced (N1-N4), each
//! through the binary against a real rsyslogd with the shipped anchor config.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::Host;
use crate::common::{bin, code_of, evidence};

const ZERO: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn sha256(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

fn hostname() -> String {
    nix::unistd::gethostname().unwrap().into_string().unwrap()
}

impl Host {
    /// Rewrites the chain as the lane account can: `edit` changes the
    /// records, then seq/prev are re-linked and the head and the state
    /// folder's mark are moved to match.
    fn rewrite(&self, edit: impl FnOnce(&mut Vec<Map<String, Value>>)) {
        let mut recs: Vec<Map<String, Value>> = self
            .lines()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        edit(&mut recs);
        let mut prev = (0u64, ZERO.to_string());
        let mut text = String::new();
        for r in &mut recs {
            if prev.0 == 0 {
                prev.0 = r["seq"].as_u64().unwrap() - 1;
            }
            r.insert("seq".into(), (prev.0 + 1).into());
            r.insert("prev".into(), prev.1.clone().into());
            let line = serde_json::to_string(r).unwrap();
            prev = (prev.0 + 1, sha256(&line));
            text.push_str(&line);
            text.push('\n');
        }
        std::fs::write(&self.log, text).unwrap();
        let head = serde_json::json!({"seq": prev.0, "hash": prev.1}).to_string();
        std::fs::write(self.fx.path("log/audit.jsonl.head"), head).unwrap();
        std::fs::write(self.fx.path("state/audit.seq"), format!("{}\n", prev.0)).unwrap();
    }

    /// Sends one datagram to the anchor socket from a process of `uid`
    /// (the kernel stamps the sender's credentials on it): a python child
    /// that drops to `uid` and sends on a socket connected by the test.
    fn send_as(&self, uid: u32, line: &str) {
        use std::os::fd::AsRawFd;
        let sock = UnixDatagram::unbound().unwrap();
        sock.connect(&self.syslog.socket).unwrap();
        nix::fcntl::fcntl(
            &sock,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        )
        .unwrap();
        let code = format!(
            "import os,socket,sys\ns=socket.socket(fileno={})\nos.setgroups([])\n\
             os.setgid({uid})\nos.setuid({uid})\ns.send(sys.argv[1].encode())\n",
            sock.as_raw_fd()
        );
        let ok = Command::new("python3")
            .arg("-c")
            .arg(code)
            .arg(line)
            .status();
        assert!(ok.unwrap().success(), "the forger's datagram was sent");
    }
}

fn forged(seq: u64, hash: &str) -> String {
    format!(
        "<86>ops-warden[1]: {{\"ow_audit\":1,\"host\":\"{}\",\"seq\":{seq},\"hash\":\"{hash}\"}}",
        hostname()
    )
}

fn reason(doc: &Value) -> String {
    doc["reason"].as_str().unwrap_or_default().to_string()
}

/// N1: the lane account drops a run and renames the host in the chain-start;
/// the old verifier took the host from the log and compared nothing.
#[test]
fn a_chain_rewritten_under_another_host_name_fails_against_the_anchor() {
    crate::common::require_root();
    let h = Host::new("trail-n1");
    for _ in 0..3 {
        h.run();
    }
    h.syslog.wait_for("\"ow_audit\":1", 7);
    let anchor = h.anchor();
    h.rewrite(|recs| {
        recs.drain(3..5); // the second run's intent and result
        let host = recs[0]["host"].as_str().unwrap().to_uppercase();
        recs[0].insert("host".into(), host.into());
    });
    let (doc, code) = h.verify(&["--anchor", &anchor]);
    assert_eq!(code, Some(65), "{doc:#}");
    assert!(
        reason(&doc).contains("the chain-start names host"),
        "{doc:#}"
    );
    // Later genuine runs do not make it pass.
    h.run();
    h.syslog.wait_for("\"ow_audit\":1", 9);
    let (doc, code) = h.verify(&["--anchor", &anchor]);
    assert_eq!(code, Some(65), "{doc:#}");
    // The verifier may name another host, but then the anchor holds no
    // line of it: nothing vouches for the log.
    let upper = hostname().to_uppercase();
    let (doc, code) = h.verify(&["--anchor", &anchor, "--host", &upper]);
    assert_eq!(code, Some(65), "{doc:#}");
    assert!(reason(&doc).contains("holds no line for host"), "{doc:#}");
    assert_eq!(doc["anchor"]["host"], upper);
}

/// N2: a local user's forged anchor lines are ignored and counted (no false
/// alarm, no claimed seqs); records the lane account adds without an anchor
/// line are reported, and fail under --require-anchored.
#[test]
fn anchor_lines_from_other_users_are_ignored_and_unanchored_records_reported() {
    crate::common::require_root();
    let h = Host::new("trail-n2");
    h.run();
    h.run();
    h.syslog.wait_for("\"ow_audit\":1", 5);
    // `nobody` claims seq 6 before it exists, and seq 2 with another hash.
    h.send_as(65534, &forged(6, &"0".repeat(64)));
    h.send_as(65534, &forged(2, &"f".repeat(64)));
    h.syslog.wait_for("\"ow_audit\":1", 7);
    let senders: Vec<String> = h
        .syslog
        .entries()
        .iter()
        .map(|e| e["_uid"].as_str().unwrap().to_string())
        .collect();
    assert!(senders.contains(&"65534".to_string()), "{senders:?}");
    let anchor = h.anchor();
    let (doc, code) = h.verify(&["--anchor", &anchor]);
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(doc["anchor"]["lines"]["untrusted"], 2, "{doc:#}");
    assert_eq!(doc["anchor"]["matched"], 5);
    h.run(); // the genuine seq 6 and 7
    h.syslog.wait_for("\"ow_audit\":1", 9);
    let (doc, code) = h.verify(&["--anchor", &anchor, "--require-anchored"]);
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(doc["anchor"]["matched"], 7);

    // The lane account fabricates a successful attended run at the end.
    h.rewrite(|recs| {
        let mut fake = recs[recs.len() - 1].clone();
        fake.insert("outcome".into(), "ok".into());
        fake.insert("mode".into(), "attended".into());
        recs.push(fake.clone());
        recs.push(fake);
    });
    let (doc, code) = h.verify(&["--anchor", &anchor]);
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(doc["anchor"]["unanchored"], 2, "{doc:#}");
    assert_eq!(doc["anchor"]["first_unanchored"], 8, "{doc:#}");
    let (doc, code) = h.verify(&["--anchor", &anchor, "--require-anchored"]);
    assert_eq!(code, Some(65), "{doc:#}");
    assert!(
        reason(&doc).contains("2 records have no anchor line (the first is seq 8)"),
        "{doc:#}"
    );
}

/// N3: anchor lines with odd hashes, from a forger or from root running
/// another program, are ignored, named and counted; the verifier never
/// panics. (An accepted sender's odd hash is a `bad` line: unit tests.)
#[test]
fn anchor_lines_with_odd_hashes_do_not_crash_the_verifier() {
    crate::common::require_root();
    let h = Host::new("trail-n3");
    h.run();
    h.syslog.wait_for("\"ow_audit\":1", 3);
    for uid in [65534, 0] {
        h.send_as(uid, &forged(9, "ab"));
        h.send_as(
            uid,
            &forged(9, "a\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}"),
        );
    }
    h.syslog.wait_for("\"ow_audit\":1", 7);
    let (doc, code) = h.verify(&["--anchor", &h.anchor()]);
    assert_eq!(code, Some(0), "{doc:#}");
    let lines = &doc["anchor"]["lines"];
    assert_eq!(lines["untrusted"], 4, "{doc:#}");
    assert_eq!(lines["accepted"], 3, "{doc:#}");
    let examples: Vec<&str> = lines["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(
        examples[..2],
        ["line 4: sent by uid 65534", "line 5: sent by uid 65534"]
    );
    assert!(
        examples[2].starts_with("line 6: sent by uid 0 running "),
        "{examples:?}"
    );
}

/// A datagram socket nobody reads, its queue full: a syslog that stopped.
fn stalled_socket(h: &Host) -> (UnixDatagram, std::path::PathBuf) {
    let path = h.fx.path("stalled.sock");
    let server = UnixDatagram::bind(&path).unwrap();
    let client = UnixDatagram::unbound().unwrap();
    client.set_nonblocking(true).unwrap();
    while client.send_to(&[b'x'; 512], &path).is_ok() {}
    (server, path)
}

/// A refused run with `cfg` (no auth info), its output piped.
fn refused_run(cfg: &std::path::Path) -> Command {
    let mut c = Command::new(bin());
    c.arg("--config")
        .arg(cfg)
        .arg("force-command")
        .env_clear()
        .env("SSH_ORIGINAL_COMMAND", "whoami")
        .env("SSH_CONNECTION", "192.0.2.7 40000 127.0.0.1 22")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// N4: a syslog that stopped reading costs a note, never the lane: the run
/// ends within its bound, its records and head are on disk, the evidence and
/// the result record name the records syslog did not take.
#[test]
fn a_stalled_syslog_costs_a_note_not_the_lane() {
    crate::common::require_root();
    let h = Host::new("trail-n4");
    let (_server, sock) = stalled_socket(&h);
    let text = std::fs::read_to_string(&h.config).unwrap().replace(
        &h.syslog.socket.display().to_string(),
        &sock.display().to_string(),
    );
    let cfg = h.fx.write("stalled.toml", &text, 0o644);
    let started = Instant::now();
    let mut child = refused_run(&cfg).spawn().unwrap();
    let mut finished = None;
    while started.elapsed() < Duration::from_secs(10) {
        if let Some(s) = child.try_wait().unwrap() {
            finished = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if finished.is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    assert!(finished.is_some(), "the run hung on a stalled syslog");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let doc = evidence(&out);
    assert_eq!(code_of(&doc), "auth-info-missing");
    assert_eq!(
        doc["audit_unanchored"],
        serde_json::json!([1, 2, 3]),
        "{doc:#}"
    );
    let lines = h.lines();
    assert_eq!(lines.len(), 3);
    let result: Value = serde_json::from_str(&lines[2]).unwrap();
    assert_eq!(result["unanchored"], serde_json::json!([1, 2]));
    let (doc, code) = h.verify(&[]);
    assert_eq!(code, Some(0), "{doc:#}");

    // A run killed while it waits on that syslog leaves a log the next run
    // (syslog back) accepts.
    let mut child = refused_run(&cfg).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(150));
    let _ = child.kill();
    let _ = child.wait();
    let out = h.run();
    assert_eq!(code_of(&evidence(&out)), "auth-info-missing", "{out:?}");
    let (doc, code) = h.verify(&[]);
    assert_eq!(code, Some(0), "{doc:#}");
}

/// N4: a run killed between its record and its head (the first run of a
/// new chain, as the review's SIGKILL left it) does not refuse every later
/// run: the next run catches the head up and says so.
#[test]
fn a_run_killed_before_its_head_does_not_brick_the_lane() {
    crate::common::require_root();
    let h = Host::new("trail-killed");
    h.run();
    // What the killed first run left: chain-start and intent, no head, no mark.
    let keep = h.lines()[..2].join("\n") + "\n";
    std::fs::write(&h.log, keep).unwrap();
    std::fs::remove_file(h.fx.path("log/audit.jsonl.head")).unwrap();
    std::fs::remove_file(h.fx.path("state/audit.seq")).unwrap();
    let out = h.run();
    assert_eq!(code_of(&evidence(&out)), "auth-info-missing", "{out:?}");
    let intent: Value = serde_json::from_str(&h.lines()[2]).unwrap();
    assert_eq!(
        intent["recovered"],
        serde_json::json!({"after_seq": 0, "to_seq": 2})
    );
    // Later in the chain: the last record written, the head one behind.
    h.run();
    let lines = h.lines();
    let n = lines.len();
    let behind = serde_json::json!({"seq": n - 1, "hash": sha256(&lines[n - 2])});
    std::fs::write(h.fx.path("log/audit.jsonl.head"), behind.to_string()).unwrap();
    let out = h.run();
    assert_eq!(code_of(&evidence(&out)), "auth-info-missing", "{out:?}");
    let (doc, code) = h.verify(&[]);
    assert_eq!(code, Some(0), "{doc:#}");
    // More than one append missing from the head is not a killed run.
    let head = std::fs::read_to_string(h.fx.path("log/audit.jsonl.head")).unwrap();
    h.run();
    h.run();
    std::fs::write(h.fx.path("log/audit.jsonl.head"), head).unwrap();
    let out = h.run();
    assert_eq!(code_of(&evidence(&out)), "audit-write-failed", "{out:?}");
}
