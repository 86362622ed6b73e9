//! Test support: fixtures on disk, real OpenSSH, real OpenBao, the Inter-Hub
//! simulator, and the secret scanner. Each test binary uses what it needs.
#![allow(dead_code)]

pub mod bao;
pub mod lab;
pub mod loopback;
pub mod netns;
pub mod proxy;
pub mod raft;
pub mod scan;
pub mod sim;
pub mod sshd;
pub mod syslog;

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, Once, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// The binary under test; `OW_BIN` points the tests at another build (to
/// show a regression test failing on an older binary).
pub fn bin() -> PathBuf {
    std::env::var_os("OW_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ops-warden")))
}

/// The source tree (`OW_REPO` overrides it: the hermetic tier run as an
/// unprivileged user from a staged copy of what it reads).
pub fn repo() -> PathBuf {
    std::env::var_os("OW_REPO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// README.md's error-code table, in order: each code and its exit code.
pub fn readme_codes() -> Vec<(String, i32)> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    readme
        .lines()
        .filter_map(|l| {
            let mut cells = l.split('|').map(str::trim).skip(1);
            let code = cells.next()?.strip_prefix('`')?.strip_suffix('`')?;
            Some((code.to_string(), cells.next()?.parse().ok()?))
        })
        .collect()
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Tests that start sshd as another user need root; say so instead of skipping.
pub fn require_root() {
    assert!(
        is_root(),
        "this test starts sshd and logs in as a lane user: run the suite as root \
         (CI does; see README 'Running the tests')"
    );
}

// ---- Deadlines: a hung test ends the run, naming itself. ----

/// How long a test may run, from its first fixture, unless it says
/// otherwise with `deadline`.
pub const DEFAULT_DEADLINE_SECS: u64 = 300;

/// A running test's clock: when it was first seen, and its time allowed.
struct Watched {
    start: Instant,
    secs: u64,
}

/// The running tests, by name (libtest runs each test on a thread named
/// after it).
fn watched() -> MutexGuard<'static, HashMap<String, Watched>> {
    static WATCHED: OnceLock<Mutex<HashMap<String, Watched>>> = OnceLock::new();
    WATCHED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// Takes a test off the watch when its thread ends (passed or panicked):
/// libtest runs each test on a fresh thread that ends with it, and this
/// thread-local's destructor runs then.
struct WatchGuard(String);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        watched().remove(&self.0);
    }
}

thread_local! {
    static WATCH_GUARD: RefCell<Option<WatchGuard>> = const { RefCell::new(None) };
}

/// The test this thread runs, if it is a test's thread (not the main
/// thread, nor a thread a test spawned: those have no name).
fn test_name() -> Option<String> {
    let t = std::thread::current();
    t.name().filter(|n| *n != "main").map(str::to_string)
}

/// Puts the test on this thread on the watch (from now, with the default
/// time, unless it already is); `secs` sets its time allowed, counted from
/// when it was first seen.
fn watch(secs: Option<u64>) {
    let Some(name) = test_name() else {
        return;
    };
    {
        let mut w = watched();
        let entry = w.entry(name.clone()).or_insert_with(|| Watched {
            start: Instant::now(),
            secs: DEFAULT_DEADLINE_SECS,
        });
        if let Some(secs) = secs {
            entry.secs = secs;
        }
    }
    let _ = WATCH_GUARD.try_with(|g| {
        let mut g = g.borrow_mut();
        if g.is_none() {
            *g = Some(WatchGuard(name));
        }
    });
    start_watchdog();
}

/// The test on this thread must end within `secs` of its start (its first
/// fixture, or this call if it comes first). Long tests call it first thing;
/// every test that makes a `Fixture` has `DEFAULT_DEADLINE_SECS` otherwise.
pub fn deadline(secs: u64) {
    watch(Some(secs));
}

/// One thread for the whole process: once a second, a test past its time
/// is named on stderr (`TEST DEADLINE: <test> exceeded <N> s`), whatever
/// this process started is killed, and the process exits 124.
fn start_watchdog() {
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        std::thread::Builder::new()
            .name("test-deadline-watchdog".into())
            .spawn(|| loop {
                std::thread::sleep(Duration::from_secs(1));
                let late: Vec<(String, u64)> = watched()
                    .iter()
                    .filter(|(_, w)| w.start.elapsed() > Duration::from_secs(w.secs))
                    .map(|(name, w)| (name.clone(), w.secs))
                    .collect();
                if late.is_empty() {
                    continue;
                }
                // Straight to stderr: print macros on a thread a test spawned
                // go to that test's captured output, never shown after exit.
                let mut err = std::io::stderr();
                for (name, secs) in &late {
                    let _ = writeln!(err, "TEST DEADLINE: {name} exceeded {secs} s");
                }
                kill_descendants();
                std::process::exit(124);
            })
            .expect("the deadline watchdog starts");
    });
}

/// SIGKILLs every process this one started, and theirs (services, sshd,
/// runs of the binary): nothing outlives the test binary to hold a port
/// or the output the run is read through.
fn kill_descendants() {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<i32>().ok());
        if let Some(ppid) = ppid {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut todo = vec![std::process::id() as i32];
    let mut found = Vec::new();
    while let Some(p) = todo.pop() {
        for &c in children.get(&p).map(Vec::as_slice).unwrap_or_default() {
            found.push(c);
            todo.push(c);
        }
    }
    for pid in found {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

// ---- Removing folders, never through a mount point. ----

/// Undoes the escapes of a /proc/self/mountinfo field (`\040` is a space).
fn unescape_mountinfo(field: &str) -> PathBuf {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) if b[i] == b'\\' => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// The mount points at or under `dir` in this process's mount table, or
/// `None` if the table cannot be read.
pub fn mounts_under(dir: &Path) -> Option<Vec<PathBuf>> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let table = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    Some(
        table
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(unescape_mountinfo)
            .filter(|m| m.starts_with(&dir))
            .collect(),
    )
}

/// Removes `dir` and everything in it, but never through a mount point:
/// whatever is mounted at or under it is unmounted first (`umount -l`,
/// deepest first), and if anything is still mounted there, or the mount
/// table cannot be read, the folder is left in place with a warning on
/// stderr. Whether it is gone.
pub fn remove_tree(dir: &Path) -> bool {
    if std::fs::symlink_metadata(dir).is_err() {
        return true;
    }
    let mut mounts = mounts_under(dir);
    for _ in 0..3 {
        let Some(m) = mounts.as_mut().filter(|m| !m.is_empty()) else {
            break;
        };
        m.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for p in m.iter() {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(p)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        mounts = mounts_under(dir);
    }
    match mounts {
        Some(m) if m.is_empty() => {
            let _ = std::fs::remove_dir_all(dir);
            true
        }
        left => {
            let _ = writeln!(
                std::io::stderr(),
                "warning: {} is left in place, not deleted: {}",
                dir.display(),
                match left {
                    Some(m) => format!("still mounted under it: {m:?}"),
                    None => "/proc/self/mountinfo cannot be read".to_string(),
                }
            );
            false
        }
    }
}

/// A fresh folder under a root-owned 0755 parent outside /tmp (sshd's
/// StrictModes refuses paths under world-writable folders). Removed on drop
/// (never through a mount point: see `remove_tree`). Making one puts the
/// test on the deadline watch (`deadline`).
pub struct Fixture {
    pub dir: PathBuf,
}

static FIXTURES: AtomicUsize = AtomicUsize::new(0);

impl Fixture {
    pub fn new(name: &str) -> Fixture {
        watch(None);
        let base = if is_root() {
            PathBuf::from("/var/lib/ops-warden-test")
        } else {
            // Any user: a folder of its own in the (sticky) temp folder.
            std::env::temp_dir().join(format!("ops-warden-test-{}", nix::unistd::geteuid()))
        };
        let dir = base.join(format!(
            "{name}-{}-{}",
            std::process::id(),
            FIXTURES.fetch_add(1, Ordering::SeqCst)
        ));
        assert!(
            remove_tree(&dir),
            "{}: an old folder with something mounted in it",
            dir.display()
        );
        std::fs::create_dir_all(&dir).unwrap();
        for d in [&base, &dir] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Fixture { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    pub fn mkdir(&self, rel: &str, mode: u32) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    pub fn write(&self, rel: &str, body: &str, mode: u32) -> PathBuf {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    /// `ssh-keygen -q -N '' -C test <args>` in the fixture folder.
    pub fn keygen(&self, args: &[&str]) {
        succeed(
            Command::new("ssh-keygen")
                .current_dir(&self.dir)
                .args(["-q", "-N", "", "-C", "test"])
                .args(args),
            &format!("ssh-keygen {args:?}"),
        );
    }

    /// Signs `<key>.pub` with `ca`; returns the certificate path.
    pub fn sign(&self, ca: &str, key: &str, opts: &[&str]) -> PathBuf {
        let cert = self.path(&format!("{key}-cert.pub"));
        let _ = std::fs::remove_file(&cert);
        succeed(
            Command::new("ssh-keygen")
                .current_dir(&self.dir)
                .args(["-q", "-s", ca])
                .args(opts)
                .arg(format!("{key}.pub")),
            "sign",
        );
        // Each certificate keeps its own file; the next signing would overwrite it.
        let kept = self.path(&format!(
            "{key}-cert-{}.pub",
            FIXTURES.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::rename(&cert, &kept).unwrap();
        kept
    }

    pub fn chown(&self, path: &Path, user: &str) {
        let u = nix::unistd::User::from_name(user)
            .unwrap()
            .expect("user exists");
        nix::unistd::chown(path, Some(u.uid), Some(u.gid)).unwrap();
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if std::env::var_os("OW_KEEP_FIXTURES").is_none() {
            remove_tree(&self.dir);
        }
    }
}

/// The arguments of an operator's attended `bootstrap` with `key_file`.
pub fn attended_args(config: &Path, key_file: &Path, extra: &[&str]) -> Vec<std::ffi::OsString> {
    let mut a: Vec<std::ffi::OsString> = vec!["--config".into(), config.into()];
    a.extend([
        "bootstrap".into(),
        "--operator-key-file".into(),
        key_file.into(),
    ]);
    a.extend(extra.iter().map(Into::into));
    a
}

/// An operator's attended `bootstrap` on the host: a clean environment,
/// no input, output captured.
pub fn attended(config: &Path, key_file: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(attended_args(config, key_file, extra))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    c
}

/// The lane's usual key id and principal.
pub const KEY_ID: &str = "agt-test-interhub-bootstrap";
pub const PRINCIPAL: &str = "agt-interhub-bootstrap";

/// ssh-keygen signing options: key id, principals (`None`: none at all),
/// validity interval, `-O clear` (no default extensions), then `extra`.
pub fn cert_opts<'a>(
    key_id: &'a str,
    principals: Option<&'a str>,
    validity: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut v = vec!["-I", key_id];
    if let Some(p) = principals {
        v.extend(["-n", p]);
    }
    v.extend(["-V", validity, "-O", "clear"]);
    v.extend_from_slice(extra);
    v
}

/// A free loopback TCP port (bound and released; good enough for tests).
/// Runs `cmd`, which must succeed (a failure names `what` and its stderr);
/// its output.
pub fn succeed(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what} does not run: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Parses the single JSON document on stdout; fails if there is anything else.
pub fn evidence(out: &Output) -> serde_json::Value {
    let text = String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8");
    let mut docs = serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Value>();
    let doc = docs
        .next()
        .unwrap_or_else(|| {
            panic!(
                "no JSON on stdout; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .expect("stdout is JSON");
    assert!(
        docs.next().is_none(),
        "more than one JSON document on stdout: {text}"
    );
    doc
}

/// Validates a document against the published evidence schema.
pub fn assert_schema(doc: &serde_json::Value) {
    assert_schema_named("evidence.v1.schema.json", doc);
}

/// Validates a document against `schema/<name>`.
pub fn assert_schema_named(name: &str, doc: &serde_json::Value) {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("schema").join(name)).unwrap())
            .unwrap();
    let v = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{name}: the document does not match: {errors:?}\n{doc:#}"
    );
}

/// The keys of check-config's `errors`, in order.
pub fn error_keys(doc: &serde_json::Value) -> Vec<String> {
    doc["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["key"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The error code of a binary run's JSON document (`"none"` if it has
/// none): the evidence's `error.code`, or the `code` of `audit verify`'s
/// report. Tests obtain codes of binary runs through this (or
/// `host_code_of`), so that each code is also recorded (`note_code`).
pub fn code_of(doc: &serde_json::Value) -> &str {
    let code = doc["error"]["code"]
        .as_str()
        .or_else(|| doc["code"].as_str())
        .unwrap_or("none");
    note_code(code);
    code
}

/// The error code at the end of a host-side command's stderr line
/// (`ops-warden: <message> (<code>)`), recorded like `code_of`'s.
pub fn host_code_of(out: &Output) -> Option<String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let (_, code) = stderr.trim_end().rsplit_once(" (")?;
    let code = code.strip_suffix(')')?.to_string();
    note_code(&code);
    Some(code)
}

/// Appends `code` (one line) to the file `OW_CODES_SEEN` names, when set:
/// `tests/run.sh` checks afterwards that every README code was seen in a
/// run. Errors are ignored (an unprivileged run may not write there).
pub fn note_code(code: &str) {
    let Some(path) = std::env::var_os("OW_CODES_SEEN") else {
        return;
    };
    if code == "none" || code.is_empty() {
        return;
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        // One write of the whole line: O_APPEND keeps lines of parallel
        // tests whole.
        let _ = f.write_all(format!("{code}\n").as_bytes());
    }
}
