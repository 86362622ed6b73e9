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

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// A fresh folder under a root-owned 0755 parent outside /tmp (sshd's
/// StrictModes refuses paths under world-writable folders). Removed on drop.
pub struct Fixture {
    pub dir: PathBuf,
}

static FIXTURES: AtomicUsize = AtomicUsize::new(0);

impl Fixture {
    pub fn new(name: &str) -> Fixture {
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
        let _ = std::fs::remove_dir_all(&dir);
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
            let _ = std::fs::remove_dir_all(&self.dir);
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

pub fn code_of(doc: &serde_json::Value) -> &str {
    doc["error"]["code"].as_str().unwrap_or("none")
}
