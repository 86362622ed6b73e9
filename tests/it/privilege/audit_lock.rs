//! The audit lock under attack: swapped, held (busy or aborted, not a hang), tail broken, planted.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{finish_within, lane_folders, lane_ids, with_services};
use crate::common::{bin, code_of, evidence, require_root, Fixture};

/// The lane user's attack: take the audit lock, wait to be told root is
/// waiting on it, swap the lock file for a symlink to `victim`, release.
const SWAP_LOCK: &str = r#"
import fcntl, os, sys
lock, victim = sys.argv[1], sys.argv[2]
fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.readline()
os.rename(lock, lock + ".old")
os.symlink(victim, lock)
os.close(fd)
print("swapped", flush=True)
"#;

/// Owner, group and mode of every file under `dir`, skipping `skip`.
fn ownership(dir: &Path, skip: &[&Path], out: &mut BTreeMap<PathBuf, (u32, u32, u32)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if skip.contains(&p.as_path()) {
            continue;
        }
        let m = std::fs::symlink_metadata(&p).unwrap();
        out.insert(p.clone(), (m.uid(), m.gid(), m.mode()));
        if m.is_dir() {
            ownership(&p, skip, out);
        }
    }
}

/// Waits until `pid` holds an open descriptor on `target`.
fn wait_for_open(pid: u32, target: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap();
        if fds
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .any(|l| l == target)
        {
            return;
        }
        assert!(Instant::now() < deadline, "root never opened {target:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn read_line(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.trim().to_string()
}

#[test]
fn the_lane_user_cannot_turn_a_root_wait_on_the_audit_lock_into_a_chown() {
    require_root();
    let fx = Fixture::new("priv-audit-lock");
    let (log, state, config) = lane_folders(&fx);
    let victim = fx.write("root-only/shadow", "root's secret\n", 0o600);
    let key = fx.write("op.key", "opk-attended-test-key-0123456789", 0o600);
    let mut before = BTreeMap::new();
    ownership(&fx.dir, &[&log, &state], &mut before);

    let (uid, gid) = lane_ids();
    let lock = log.join("audit.jsonl.lock");
    let mut attacker = Command::new("python3")
        .arg("-c")
        .arg(SWAP_LOCK)
        .arg(&lock)
        .arg(&victim)
        .uid(uid)
        .gid(gid)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(read_line(&mut attacker), "locked");

    // root's attended bootstrap appends its intent first: it opens the lock
    // file and waits for the lane user's flock.
    let root = Command::new(bin())
        .arg("--config")
        .arg(&config)
        .args([
            "bootstrap",
            "--keep-operator-key-file",
            "--operator-key-file",
        ])
        .arg(&key)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_open(root.id(), &lock);
    std::thread::sleep(Duration::from_millis(200));
    writeln!(attacker.stdin.as_mut().unwrap(), "go").unwrap();
    assert_eq!(read_line(&mut attacker), "swapped");
    assert!(attacker.wait().unwrap().success());
    let out = root.wait_with_output().unwrap();

    let mut after = BTreeMap::new();
    ownership(&fx.dir, &[&log, &state], &mut after);
    assert_eq!(
        before, after,
        "no file outside the lane's folders changed owner or mode"
    );
    let m = std::fs::metadata(&victim).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (0, 0, 0o600));
    // The run noticed the swap and refused to write through it.
    let doc = evidence(&out);
    assert_eq!(code_of(&doc), "audit-write-failed", "{doc:#}");
    assert_eq!(out.status.code(), Some(77));
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("replaced"),
        "{doc:#}"
    );
}

/// A lane-user process holding an exclusive flock on `path` until told to stop.
const HOLD_LOCK: &str = r#"
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.readline()
"#;

fn hold_lock(path: &Path) -> Child {
    let (uid, gid) = lane_ids();
    let mut c = Command::new("python3")
        .arg("-c")
        .arg(HOLD_LOCK)
        .arg(path)
        .uid(uid)
        .gid(gid)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(read_line(&mut c), "locked");
    c
}

#[test]
fn a_held_audit_lock_ends_in_busy_or_aborted_never_a_hang() {
    require_root();
    let fx = Fixture::new("priv-audit-wait");
    let (log, _state, config) = lane_folders(&fx);
    let key = fx.write("op.key", "opk-attended-test-key-0123456789", 0o600);
    let lock = log.join("audit.jsonl.lock");
    let mut holder = hold_lock(&lock);

    // The config's lock_wait_secs (5) bounds the wait: busy, with evidence.
    let started = Instant::now();
    let out = finish_within(
        crate::common::attended(&config, &key, &["--keep-operator-key-file"])
            .spawn()
            .unwrap(),
        30,
        "busy",
    );
    let doc = evidence(&out);
    assert_eq!(code_of(&doc), "busy", "{doc:#}");
    assert_eq!(doc["outcome"], "busy");
    assert_eq!(out.status.code(), Some(75));
    assert!(started.elapsed() >= Duration::from_secs(5));

    // SIGTERM while waiting: aborted, promptly.
    let child = crate::common::attended(&config, &key, &["--keep-operator-key-file"])
        .spawn()
        .unwrap();
    wait_for_open(child.id(), &lock);
    std::thread::sleep(Duration::from_millis(200));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = finish_within(child, 3, "SIGTERM while waiting for the audit lock");
    let doc = evidence(&out);
    assert_eq!(code_of(&doc), "aborted", "{doc:#}");
    assert_eq!(out.status.code(), Some(75));

    writeln!(holder.stdin.as_mut().unwrap(), "done").unwrap();
    holder.wait().unwrap();
}

#[test]
fn a_result_record_that_cannot_be_written_keeps_the_works_own_outcome() {
    require_root();
    let fx = Fixture::new("priv-result-lost");
    let (log, state, config) = lane_folders(&fx);
    // Sections that let the run reach the host lock (no service is contacted
    // before it), and a short lock wait.
    let full = with_services(&fx, &config);
    let text = std::fs::read_to_string(&full)
        .unwrap()
        .replace("lock_wait_secs = 5", "lock_wait_secs = 2");
    let config = fx.write("ops-warden-short.toml", &text, 0o644);
    let key = fx.write("op.key", "opk-attended-test-key-0123456789", 0o600);
    let mut holder = hold_lock(&state.join("bootstrap.lock"));

    let child = crate::common::attended(&config, &key, &["--keep-operator-key-file"])
        .spawn()
        .unwrap();
    // Once the intent is on disk, break the log's tail: the result record
    // will be refused (the writer never extends a chain it cannot check).
    let audit = log.join("audit.jsonl");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&audit)
        .unwrap_or_default()
        .contains("\"intent\"")
    {
        assert!(Instant::now() < deadline, "no intent record");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::fs::OpenOptions::new()
        .append(true)
        .open(&audit)
        .unwrap()
        .write_all(b"not a record\n")
        .unwrap();
    let out = finish_within(child, 30, "result record");
    let doc = evidence(&out);
    crate::common::assert_schema(&doc);
    assert_eq!(code_of(&doc), "audit-write-failed", "{doc:#}");
    assert_eq!(out.status.code(), Some(77));
    assert_eq!(doc["work"]["outcome"], "busy", "{doc:#}");
    assert_eq!(doc["work"]["error"]["code"], "busy", "{doc:#}");

    writeln!(holder.stdin.as_mut().unwrap(), "done").unwrap();
    holder.wait().unwrap();
}

#[test]
fn a_root_file_moved_into_the_lane_folder_is_not_handed_over() {
    require_root();
    let fx = Fixture::new("priv-adopt");
    let (log, _state, config) = lane_folders(&fx);
    let key = fx.write("op.key", "opk-attended-test-key-0123456789", 0o600);
    // What a rename of a root-owned file into the lane's folder leaves.
    let planted = log.join("audit.jsonl.lock");
    std::fs::write(&planted, "root's\n").unwrap();
    std::fs::set_permissions(
        &planted,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let out = crate::common::attended(&config, &key, &["--keep-operator-key-file"])
        .output()
        .unwrap();
    let doc = evidence(&out);
    assert_eq!(code_of(&doc), "audit-write-failed", "{doc:#}");
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("owned by uid 0"));
    let m = std::fs::metadata(&planted).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (0, 0, 0o600));
}
