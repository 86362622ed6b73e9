//! The helper runner: runs the site's own bootstrap helper (for example
//! `make -C /srv/ops-hub interhub-bootstrap`) with no shell, a minimal
//! environment, a timeout, and its output captured; then the runtime key it
//! wrote is stored in OpenBao (or revoked). Every file made for or by the
//! helper lives in one private 0700 folder that is removed on every path.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use super::{HelperContract, HelperObject};

use crate::error::Error;
use crate::os::dir::WorkDir;
use crate::os::signals::Signals;
use crate::secret::{Redactor, Secret};

const MAX_OUTPUT: usize = 1 << 20;

/// How long the helper's output is waited for once it has exited.
const PIPE_GRACE: Duration = Duration::from_secs(5);

/// How long a helper asked to stop (SIGTERM) has before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// How long a SIGKILLed helper is waited for (it cannot refuse; only an
/// uninterruptible sleep in the kernel delays it).
const KILL_WAIT: Duration = Duration::from_secs(5);

/// A private folder in the state folder, removed with everything in it when
/// dropped. Made and emptied relative to the state folder's descriptor, and
/// owned like it (the lane user's), so the helper, which runs as the lane
/// user, can use it.
pub struct PrivateDir {
    parent: WorkDir,
    name: String,
    dir: WorkDir,
    removed: bool,
}

/// The names private folders of helper runs have in the state folder.
const PRIVATE_PREFIX: &str = "helper-";

/// The key files ops-warden writes for a helper, unlinked first of all.
const KEY_FILES: [&str; 2] = ["operator.key", "runtime.key"];

impl PrivateDir {
    /// Makes `helper-<run>` in the state folder.
    pub fn create(parent: &WorkDir, run_id: &str) -> Result<PrivateDir, Error> {
        let name = format!("{PRIVATE_PREFIX}{run_id}");
        let dir = parent.make_private_dir(&name).map_err(Error::Io)?;
        Ok(PrivateDir {
            parent: parent.try_clone().map_err(Error::Io)?,
            name,
            dir,
            removed: false,
        })
    }

    /// Removes the private folders earlier runs left (killed, or a failed
    /// cleanup). Called under the host's run lock: none is in use.
    pub fn remove_stale(parent: &WorkDir) -> Result<(), String> {
        let mut first = None;
        for name in parent.list()? {
            if name.starts_with(PRIVATE_PREFIX) {
                if let Err(e) = parent.remove_tree(&name) {
                    first.get_or_insert(e);
                }
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Removes the folder and all in it now: the key files by name first,
    /// then the whole tree.
    pub fn remove(mut self) -> Result<(), String> {
        self.removed = true;
        self.remove_now()
    }

    fn remove_now(&self) -> Result<(), String> {
        for f in KEY_FILES {
            let _ = self.dir.remove(f);
        }
        self.parent.remove_tree(&self.name)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Who owns the folder (the user the helper runs as, when root runs it).
    pub fn owner(&self) -> (nix::unistd::Uid, nix::unistd::Gid) {
        self.dir.owner()
    }

    /// Writes a 0600 secret file (create-new, no symlinks).
    pub fn write_secret(&self, name: &str, value: &Secret) -> Result<PathBuf, Error> {
        let mut f = self.dir.create_new(name, 0o600).map_err(Error::Io)?;
        f.write_all(value.expose().as_bytes())
            .map_err(|e| Error::Io(e.to_string()))?;
        Ok(self.dir.path().join(name))
    }
}

impl Drop for PrivateDir {
    /// On every path (an error, a panic): removed all the same.
    fn drop(&mut self) {
        if !self.removed {
            let _ = self.remove_now();
        }
    }
}

/// What to run and with what.
pub struct HelperSpec<'a> {
    pub argv: &'a [String],
    pub timeout: Duration,
    pub workdir: Option<&'a Path>,
    pub base_url: &'a str,
    pub skip_event: bool,
    /// The lane user (uid, gid): who the helper runs as when root runs it.
    pub runs_as: Option<(u32, u32)>,
}

/// What the helper reported (scrubbed), and the key it created, if any.
pub struct HelperOutput {
    /// The contract's fields of what the helper printed (`null` when it
    /// printed no JSON document).
    pub contract: Option<HelperContract>,
    /// SHA-256 and size of everything it printed on stdout.
    pub output_sha256: String,
    pub output_bytes: usize,
    pub consumer_id: Option<String>,
    pub new_key: Option<(Secret, String)>,
    /// Prefixes of runtime keys the helper printed (stdout or stderr): keys
    /// whose secret came from this run, so this run may revoke them.
    pub printed_keys: Vec<String>,
    pub exit_code: Option<i32>,
    /// Why the run failed (the key, if any, must still be stored or revoked).
    pub failure: Option<Error>,
}

/// Runs the helper in `dir`. The key it created (if any) is returned even
/// when the helper failed (`failure` is then set), so the caller can store
/// or revoke it. `Err` only when the helper could not be started.
pub fn run(
    spec: &HelperSpec,
    dir: &PrivateDir,
    operator_key: &Secret,
    runtime_key: Option<&Secret>,
    signals: &Signals,
) -> Result<HelperOutput, Error> {
    let op_file = dir.write_secret("operator.key", operator_key)?;
    let program = check_program(spec)?;
    // A session of its own, made by the child before exec: no controlling
    // terminal, so a helper run from root's shell cannot read or type into
    // it, and one process group to kill from the moment it exists.
    let mut cmd = Command::new(&program);
    crate::os::session::in_new_session(&mut cmd);
    // The helper is site code: it never runs as root. Run by root (attended
    // use), it runs as the lane user with the lane user's own group (never
    // the state folder's group, which may be root's); std drops root's
    // supplementary groups with it. The private folder must be the lane
    // user's so it can use the files in it.
    if nix::unistd::geteuid().is_root() {
        let (dir_uid, _) = dir.owner();
        match spec.runs_as {
            Some((uid, gid)) if uid != 0 && uid == dir_uid.as_raw() => {
                cmd.uid(uid).gid(gid);
            }
            _ => {
                return Err(Error::HelperFailed(
                    "the helper never runs as root: lane.user must be set and own the state folder"
                        .into(),
                ))
            }
        }
    }
    cmd.args(&spec.argv[1..])
        .env_clear()
        .env("PATH", crate::env::SAFE_PATH)
        .env("HOME", dir.path())
        .env("TMPDIR", dir.path())
        .env("LANG", "C")
        .env("IHUB_BASE", spec.base_url)
        .env("IHUB_OPERATOR_KEY_FILE", &op_file)
        .current_dir(spec.workdir.unwrap_or(dir.path()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(k) = runtime_key {
        cmd.env("OPS_HUB_KEY_FILE", dir.write_secret("runtime.key", k)?);
    }
    if spec.skip_event {
        cmd.env("IHUB_SKIP_EVENT", "1");
    }
    // A signal that came before the helper exists stops the run here.
    signals.checkpoint("the helper")?;
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::HelperFailed(format!("cannot start {}: {}", spec.argv[0], e.kind())))?;
    let pgid = Pid::from_raw(child.id() as i32);
    let read_all = |mut r: Box<dyn Read + Send>| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = (&mut r).take(MAX_OUTPUT as u64).read_to_end(&mut buf);
            // Drain the rest so the helper never blocks on a full pipe.
            let _ = std::io::copy(&mut r, &mut std::io::sink());
            let _ = tx.send(buf);
        });
        rx
    };
    let out_t = read_all(Box::new(child.stdout.take().expect("piped")));
    let err_t = read_all(Box::new(child.stderr.take().expect("piped")));
    let deadline = Instant::now() + spec.timeout;
    let mut stopped: Option<String> = None;
    let mut interrupted = None;
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| Error::Io(e.to_string()))? {
            break Some(st);
        }
        if Instant::now() >= deadline {
            stopped = Some(format!("timed out after {}s", spec.timeout.as_secs()));
        } else if let Err(e) = signals.checkpoint("the helper finished") {
            stopped = Some("interrupted".into());
            interrupted = Some(e);
        }
        if stopped.is_some() {
            break stop(&mut child, pgid);
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    // Whatever the helper left running in its session goes too, and its
    // output is waited for only a moment: a leftover holding the pipes open
    // must not hang the run (nor keep the host lock).
    let _ = killpg(pgid, Signal::SIGKILL);
    let stdout = out_t.recv_timeout(PIPE_GRACE).unwrap_or_default();
    let stderr = err_t.recv_timeout(PIPE_GRACE).unwrap_or_default();

    // Everything the helper printed is scrubbed of every secret it was
    // given or made (in any form, in part) and of anything key-shaped.
    let mut redactor = Redactor::new();
    redactor.learn(operator_key);
    if let Some(k) = runtime_key {
        redactor.learn(k);
    }
    let parsed: Option<Value> = serde_json::from_slice(&stdout).ok();
    // The key file it reported (only inside our private folder), or else any
    // key-shaped file it left there: a display-once key is never dropped.
    let mut failure = None;
    let reported = parsed
        .as_ref()
        .and_then(|v| v.pointer("/runtimeKey/keyFile"))
        .and_then(Value::as_str);
    let new_key = match reported {
        Some(f) => match read_key_file(dir, Path::new(f)) {
            Ok(k) => Some(k),
            Err(e) => {
                failure = Some(e);
                find_left_key(dir)
            }
        },
        None => find_left_key(dir),
    };
    if let Some((k, _)) = &new_key {
        redactor.learn(k);
    }
    let scrub = |text: &str| crate::text::escape_untrusted(&redactor.scrub(text), 2000);
    let consumer_id = parsed
        .as_ref()
        .and_then(|v| v.pointer("/consumer/id"))
        .and_then(Value::as_str)
        .map(String::from);
    // The caller gets the contract's fields only (scrubbed, bounded) and a
    // digest of everything the helper printed.
    let contract = parsed.as_ref().map(|v| project(v, &scrub));
    // The helper's stderr is free text: only its digest and size reach the
    // caller and the audit (a secret the redactor never learned, such as a
    // token the helper minted itself, cannot be told from prose).
    let stderr_digest = format!(
        "sha256:{} ({} bytes)",
        crate::text::sha256_hex(&stderr),
        stderr.len()
    );
    let why = match (stopped, status) {
        (Some(why), _) => Some(why),
        (None, Some(st)) if !st.success() => Some(format!("exited with {st}")),
        (None, _) if parsed.is_none() => Some("did not print one JSON document".to_string()),
        _ => None,
    };
    if let Some(why) = why {
        // A signal is reported as such (`aborted`), anything else as the helper's failure.
        failure = Some(
            interrupted
                .unwrap_or_else(|| Error::HelperFailed(format!("{why}; stderr {stderr_digest}"))),
        );
    }
    Ok(HelperOutput {
        output_sha256: crate::text::sha256_hex(&stdout),
        output_bytes: stdout.len(),
        contract,
        consumer_id,
        new_key,
        printed_keys: printed_keys(&stdout, &stderr),
        exit_code: status.and_then(|s| s.code()),
        failure,
    })
}

/// Stops the helper's session: SIGTERM, then SIGKILL after a grace; every
/// wait bounded. The group is the child's own from its first instruction,
/// so the signals reach it and all it started.
fn stop(child: &mut std::process::Child, pgid: Pid) -> Option<std::process::ExitStatus> {
    let _ = killpg(pgid, Signal::SIGTERM);
    if let Some(st) = wait_for(child, STOP_GRACE) {
        return Some(st);
    }
    let _ = killpg(pgid, Signal::SIGKILL);
    wait_for(child, KILL_WAIT)
}

/// The child's exit status within `bound`, or `None`.
fn wait_for(child: &mut std::process::Child, bound: Duration) -> Option<std::process::ExitStatus> {
    let until = Instant::now() + bound;
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Some(st),
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(10)),
            _ => return None,
        }
    }
}

/// The contract's helper output ("The runbook helper's interface"): only
/// these fields reach the caller, each a plain token (`[A-Za-z0-9._:-]`,
/// at most 128) after scrubbing; a value that is not one is dropped. The
/// error's free-text message is known only by its digest, and so is
/// anything else the helper printed.
fn project(v: &Value, scrub: &dyn Fn(&str) -> String) -> HelperContract {
    let pick = |o: Option<&Value>, fields: &[&str]| -> Option<HelperObject> {
        let o = o?.as_object()?;
        let text = |f: &str| -> Option<String> {
            if !fields.contains(&f) {
                return None;
            }
            let raw = o.get(f)?.as_str()?;
            if f == "message" {
                return Some(format!(
                    "sha256:{}",
                    crate::text::sha256_hex(raw.as_bytes())
                ));
            }
            Some(scrub(raw)).filter(|t| plain_token(t))
        };
        Some(HelperObject {
            id: text("id"),
            slug: text("slug"),
            digest: text("digest"),
            key: text("key"),
            prefix: text("prefix"),
            status: text("status"),
            code: text("code"),
            message: text("message"),
        })
    };
    HelperContract {
        hub: pick(v.get("hub"), &["id", "slug", "status"]),
        manifest: pick(v.get("manifest"), &["id", "digest", "status"]),
        consumer: pick(v.get("consumer"), &["id", "status"]),
        runtime_key: pick(v.get("runtimeKey"), &["prefix", "status"]),
        event: pick(v.get("event"), &["id", "status"]),
        error: pick(v.get("error"), &["code", "message"]),
        widgets: v.get("widgets").and_then(Value::as_array).map(|ws| {
            ws.iter()
                .take(MAX_WIDGETS)
                .filter_map(|w| pick(Some(w), &["key", "id", "status"]))
                .collect()
        }),
    }
}

/// The prefixes of key-shaped text in the helper's output.
fn printed_keys(stdout: &[u8], stderr: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for text in [stdout, stderr] {
        let text = String::from_utf8_lossy(text);
        for (i, _) in text.match_indices("ihk_") {
            let end = text[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
                .map_or(text.len(), |n| i + n);
            let candidate = &text[i..end];
            if crate::interhub::key_shape_ok(candidate) {
                let p = crate::interhub::key_prefix(candidate);
                if !found.contains(&p) {
                    found.push(p);
                }
            }
        }
    }
    found
}

/// A value a caller may see from a helper: a short plain token.
fn plain_token(t: &str) -> bool {
    (1..=128).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

/// Most widgets the evidence lists from a helper's output.
const MAX_WIDGETS: usize = 1000;

/// The helper program and its working folder pass the trusted-file rules:
/// owned by root, the running user or the lane user, writable by nobody
/// else, nor any folder above them (else whoever can write there runs code
/// as the lane user, or as root before this rule).
/// Returns the program's real path (symlinks resolved), which is what runs.
fn check_program(spec: &HelperSpec) -> Result<PathBuf, Error> {
    let named = Path::new(&spec.argv[0]);
    crate::os::files::check_ancestors(named, None)
        .map_err(|m| Error::FileUntrusted(format!("helper program {}: {m}", named.display())))?;
    // The lane user (who the helper runs as) may own them too.
    let lane = spec.runs_as.map(|(uid, _)| uid);
    let real = std::fs::canonicalize(named).map_err(|e| {
        Error::HelperFailed(format!("cannot start {}: {}", named.display(), e.kind()))
    })?;
    crate::os::files::open_trusted(
        &real,
        crate::os::files::Rule {
            max_size: u64::MAX,
            ..crate::os::files::Rule::CONFIG
                .named("helper program")
                .trusting(lane)
        },
    )
    .map_err(Error::FileUntrusted)?;
    if let Some(w) = spec.workdir {
        crate::os::dir::WorkDir::open(w, lane)
            .map_err(|m| Error::FileUntrusted(format!("helper working folder: {m}")))?;
    }
    Ok(real)
}

/// A key-shaped file the helper left in the private folder without naming it.
fn find_left_key(dir: &PrivateDir) -> Option<(Secret, String)> {
    for name in dir.dir.list().ok()? {
        if KEY_FILES.contains(&name.as_str()) {
            continue;
        }
        if let Ok(k) = dir.read_key(&name) {
            if crate::interhub::key_shape_ok(k.0.expose()) {
                return Some(k);
            }
        }
    }
    None
}

/// The key file the helper reported: a plain file name inside our private
/// folder (its absolute path there), read relative to the folder's descriptor.
fn read_key_file(dir: &PrivateDir, f: &Path) -> Result<(Secret, String), Error> {
    let name = f
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|_| f.is_absolute() && f.parent() == Some(dir.path()));
    match name {
        Some(n) => dir.read_key(n),
        None => Err(Error::HelperFailed(format!(
            "runtimeKey.keyFile {} is outside the helper's private folder",
            crate::text::escape_untrusted(&f.display().to_string(), 120)
        ))),
    }
}

impl PrivateDir {
    fn read_key(&self, name: &str) -> Result<(Secret, String), Error> {
        let bytes = self
            .dir
            .read_file(name, 8 << 10)
            .map_err(Error::HelperFailed)?
            .ok_or_else(|| Error::HelperFailed(format!("helper key file {name} is missing")))?;
        let bytes = zeroize::Zeroizing::new(bytes);
        let key = crate::os::files::parse_secret(&bytes, &format!("helper key file {name}"))
            .map_err(Error::HelperFailed)?;
        let prefix = crate::interhub::key_prefix(key.expose());
        Ok((key, prefix))
    }
}
