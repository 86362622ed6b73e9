//! The privilege boundary on the host: what the lane account can do to a root
//! ops-warden through the folders it owns (issue 8 §1, §3).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::sshd::{ensure_lane_user, LANE_USER};
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

fn lane_ids() -> (u32, u32) {
    let u = nix::unistd::User::from_name(LANE_USER).unwrap().unwrap();
    (u.uid.as_raw(), u.gid.as_raw())
}

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

/// A minimal host: the lane's folders owned by the lane user, a config that
/// needs no services (the attended run appends its intent before any).
fn lane_folders(fx: &Fixture) -> (PathBuf, PathBuf, PathBuf) {
    ensure_lane_user();
    fx.keygen(&["-t", "ed25519", "-f", "lane-ca"]);
    let log = fx.mkdir("log", 0o750);
    fx.chown(&log, LANE_USER);
    let state = fx.mkdir("state", 0o700);
    fx.chown(&state, LANE_USER);
    let config = fx.write(
        "ops-warden.toml",
        &format!(
            "[lane]\nprincipal = \"agt-interhub-bootstrap\"\nuser = \"{LANE_USER}\"\n\
             require_sole_principal = true\nkey_id_pattern = \"agt-*-interhub-bootstrap*\"\n\
             ca_keys_file = \"{}\"\nmax_ttl_secs = 900\n[audit]\npath = \"{}\"\n\
             [state]\ndir = \"{}\"\nlock_wait_secs = 5\n",
            fx.path("lane-ca.pub").display(),
            log.join("audit.jsonl").display(),
            state.display()
        ),
        0o644,
    );
    (log, state, config)
}

/// `config` plus service sections that need nothing running (a token file,
/// loopback addresses, the repo's seeds): a host check-config accepts.
fn with_services(fx: &Fixture, config: &Path) -> PathBuf {
    let token = fx.write("token", "t", 0o600);
    let repo = crate::common::repo();
    let text = std::fs::read_to_string(config).unwrap()
        + &format!(
            "[openbao]\naddr = \"http://127.0.0.1:9\"\nauth = \"token-file\"\ntoken_file = \"{}\"\n\
             [interhub]\nbase_url = \"http://127.0.0.1:9\"\nmanifest = \"{}\"\nwidgets = \"{}\"\n",
            token.display(),
            repo.join("seeds/ops-hub-manifest.draft.json").display(),
            repo.join("seeds/ops-hub-widgets.seed.json").display()
        );
    fx.write("ops-warden-full.toml", &text, 0o644)
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

/// Waits for `child` at most `secs`; kills it and fails if it is still running.
fn finish_within(mut child: Child, secs: u64, what: &str) -> std::process::Output {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {secs}s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
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
fn trusted_files_need_every_folder_above_them_safe() {
    require_root();
    let fx = Fixture::new("priv-ancestors");
    let (_log, _state, config) = lane_folders(&fx);
    let config = with_services(&fx, &config);
    let text = std::fs::read_to_string(&config).unwrap();
    let check = |cfg: &Path| {
        Command::new(bin())
            .arg("--config")
            .arg(cfg)
            .arg("check-config")
            .env_clear()
            .output()
            .unwrap()
    };
    assert_eq!(check(&config).status.code(), Some(0));

    // A world-writable (not sticky) grandparent: anyone could swap the parent.
    fx.mkdir("open", 0o777);
    fx.mkdir("open/etc", 0o755);
    let deep = fx.write("open/etc/ops-warden.toml", &text, 0o644);
    let out = check(&deep);
    assert_eq!(out.status.code(), Some(78));
    let doc = evidence(&out);
    assert!(
        doc.to_string()
            .contains("/open is writable by group or others"),
        "{doc:#}"
    );

    // A symlinked ancestor that the lane user owns (it can point it anywhere).
    fx.mkdir("real", 0o755);
    fx.write("real/ops-warden.toml", &text, 0o644);
    let link = fx.path("lanelink");
    std::os::unix::fs::symlink(fx.path("real"), &link).unwrap();
    let (uid, gid) = lane_ids();
    nix::unistd::fchownat(
        nix::fcntl::AT_FDCWD,
        &link,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .unwrap();
    let out = check(&link.join("ops-warden.toml"));
    assert_eq!(out.status.code(), Some(78));
    assert!(
        evidence(&out)
            .to_string()
            .contains("lanelink is a symlink owned by uid"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// ops-warden as sshd would run it, with `auth` as `SSH_USER_AUTH`.
fn force_command(config: &Path, auth: &Path) -> Command {
    let mut c = Command::new(bin());
    c.arg("--config")
        .arg(config)
        .arg("force-command")
        .env_clear()
        .env("SSH_ORIGINAL_COMMAND", "whoami")
        .env("SSH_USER_AUTH", auth)
        .env("SSH_CONNECTION", "127.0.0.1 40000 127.0.0.1 22")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

#[test]
fn the_auth_info_file_must_be_a_plain_file_of_its_own() {
    require_root();
    let fx = Fixture::new("priv-auth-info");
    let (_log, _state, config) = lane_folders(&fx);
    fx.keygen(&["-t", "ed25519", "-f", "user"]);
    let cert = fx.sign(
        "lane-ca",
        "user",
        &crate::common::cert_opts(
            crate::common::KEY_ID,
            Some(crate::common::PRINCIPAL),
            "-1m:+10m",
            &[],
        ),
    );
    let line = std::fs::read_to_string(&cert).unwrap();
    let line = line
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let good = fx.write("sshauth", &format!("publickey {line}\n"), 0o600);
    let out = finish_within(force_command(&config, &good).spawn().unwrap(), 20, "good");
    assert_eq!(out.status.code(), Some(0), "{:#}", evidence(&out));

    // A FIFO: refused at once (it used to block until a writer came).
    let fifo = fx.path("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let out = finish_within(force_command(&config, &fifo).spawn().unwrap(), 10, "FIFO");
    assert_eq!(code_of(&evidence(&out)), "auth-info-untrusted");
    assert_eq!(out.status.code(), Some(77));

    // A hard link to the caller's file.
    let hard = fx.path("sshauth-hard");
    std::fs::hard_link(&good, &hard).unwrap();
    let out = finish_within(force_command(&config, &hard).spawn().unwrap(), 10, "link");
    let doc = evidence(&out);
    assert_eq!(code_of(&doc), "auth-info-untrusted", "{doc:#}");
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("2 links"));

    // procfs: a certificate line smuggled in through an environment variable.
    let mut c = force_command(&config, Path::new("/proc/self/environ"));
    c.env("SMUGGLED", format!("\npublickey {line}\n"));
    let out = finish_within(c.spawn().unwrap(), 10, "procfs");
    let doc = evidence(&out);
    assert_eq!(code_of(&doc), "auth-info-untrusted", "{doc:#}");
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("procfs or sysfs"));
}

#[test]
fn the_helper_never_runs_as_root_nor_from_an_untrusted_place() {
    require_root();
    let lab = crate::common::lab::Lab::start("priv-helper");
    // As `install -d -o <lane> -m 0700` leaves it: the lane user's, group root.
    let (uid, _) = lane_ids();
    nix::unistd::chown(
        &lab.fx.path("state"),
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(0)),
    )
    .unwrap();
    let helper = crate::common::repo().join("tests/sim/test_helper.py");
    let seeds = crate::common::repo().join("seeds");
    // The helper reports who ran it into a file in a folder it can write.
    let who_dir = lab.fx.mkdir("who", 0o755);
    lab.fx.chown(&who_dir, LANE_USER);
    let who = who_dir.join("who.json");
    let runner = |argv0: &Path, workdir: Option<&Path>| {
        crate::common::lab::LabOptions {
        runner: format!(
            "kind = \"command\"\nargv = [\"{}\", \"{}\", \"{}\", \"--report-uid\", \"{}\"]\ntimeout_secs = 60\n{}",
            argv0.display(),
            helper.display(),
            seeds.display(),
            who.display(),
            workdir
                .map(|w| format!("workdir = \"{}\"\n", w.display()))
                .unwrap_or_default()
        ),
        ..Default::default()
    }
    };
    let key = lab
        .fx
        .write("op.key", crate::common::lab::OPERATOR_KEY, 0o600);
    let attended = |cfg: &Path| {
        let out = crate::common::attended(cfg, &key, &["--keep-operator-key-file"])
            .output()
            .unwrap();
        (evidence(&out), out.status.code())
    };

    // A program in a folder a deploy user can write (here: the lane user's).
    let deploy = lab.fx.mkdir("deploy", 0o755);
    lab.fx.chown(&deploy, LANE_USER);
    let py = deploy.join("python3");
    std::fs::copy("/usr/bin/python3", &py).unwrap();
    let cfg = lab.write_config("helper-untrusted.toml", &runner(&py, None));
    let (doc, code) = attended(&cfg);
    assert_eq!(code_of(&doc), "file-untrusted", "{doc:#}");
    assert_eq!(code, Some(78));
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/deploy is owned by uid"));

    // A working folder others can write.
    let open = lab.fx.mkdir("open-work", 0o777);
    let cfg = lab.write_config(
        "helper-open-work.toml",
        &runner(Path::new("/usr/bin/python3"), Some(&open)),
    );
    let (doc, _) = attended(&cfg);
    assert_eq!(code_of(&doc), "file-untrusted", "{doc:#}");
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("helper working folder"));
    assert!(lab.sim.active_keys().is_empty(), "no key was made");

    // Trusted: runs, as the lane user, from root's attended run.
    let cfg = lab.write_config(
        "helper-ok.toml",
        &runner(Path::new("/usr/bin/python3"), None),
    );
    let (doc, code) = attended(&cfg);
    assert_eq!(code, Some(0), "{doc:#}");
    let (uid, gid) = lane_ids();
    let ran: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&who).unwrap()).unwrap();
    assert_eq!(ran["uid"], uid, "{ran}");
    // The lane user's own group, never the state folder's (root's here).
    assert_eq!(ran["gid"], gid, "{ran}");
    assert_eq!(
        ran["groups"],
        serde_json::json!([]),
        "none of root's supplementary groups"
    );
    // The caller sees the contract's fields only, and a digest of the rest.
    let helper = &doc["result"]["helper"];
    assert!(helper["output"].get("note").is_none(), "{helper:#}");
    assert_eq!(helper["output"]["runtimeKey"]["status"], "created");
    assert!(helper["output"]["runtimeKey"].get("keyFile").is_none());
    assert_eq!(helper["output_sha256"].as_str().unwrap().len(), 64);
    lab.assert_one_live_stored_key();
}

#[test]
fn check_config_warns_when_the_lane_shell_is_bash() {
    require_root();
    let fx = Fixture::new("priv-bash");
    let (_log, _state, config) = lane_folders(&fx);
    let config = with_services(&fx, &config);
    let check = |cfg: &Path| {
        let out = Command::new(bin())
            .arg("--config")
            .arg(cfg)
            .arg("check-config")
            .env_clear()
            .output()
            .unwrap();
        (out.status.code(), evidence(&out))
    };
    let (code, doc) = check(&config);
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(
        doc["warnings"],
        serde_json::json!([]),
        "/bin/sh: no warning"
    );

    const BASH_USER: &str = "ow-lane-bash";
    if nix::unistd::User::from_name(BASH_USER).unwrap().is_none() {
        let st = Command::new("useradd")
            .args(["-M", "-s", "/bin/bash", BASH_USER])
            .status()
            .unwrap();
        assert!(st.success());
    }
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &format!("user = \"{LANE_USER}\""),
        &format!("user = \"{BASH_USER}\""),
    );
    let bash_cfg = fx.write("bash.toml", &text, 0o644);
    let (_, doc) = check(&bash_cfg);
    let w = &doc["warnings"][0];
    assert_eq!(w["key"], "lane.user", "{doc:#}");
    assert!(w["message"].as_str().unwrap().contains("bash"), "{doc:#}");
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

#[test]
fn check_config_as_root_sees_folders_the_lane_user_cannot_write() {
    require_root();
    let fx = Fixture::new("priv-writable");
    let (_log, state, config) = lane_folders(&fx);
    // As a careless install leaves it: root's, 0755.
    nix::unistd::chown(
        &state,
        Some(nix::unistd::Uid::from_raw(0)),
        Some(nix::unistd::Gid::from_raw(0)),
    )
    .unwrap();
    std::fs::set_permissions(&state, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = Command::new(bin())
        .arg("--config")
        .arg(&config)
        .arg("check-config")
        .output()
        .unwrap();
    let doc = evidence(&out);
    assert_eq!(out.status.code(), Some(78));
    let entry = doc["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "state.dir")
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert!(
        entry["message"]
            .as_str()
            .unwrap()
            .contains(&format!("not writable by the lane user {LANE_USER}")),
        "{doc:#}"
    );
}
