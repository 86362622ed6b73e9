//! The helper runner: runs the site's own bootstrap helper (for example
//! `make -C /srv/ops-hub interhub-bootstrap`) with no shell, a minimal
//! environment, a timeout, and its output captured; then the runtime key it
//! wrote is stored in OpenBao (or revoked). Every file made for or by the
//! helper lives in one private 0700 folder that is removed on every path.

use std::fs::{DirBuilder, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use crate::error::Error;
use crate::os::files::{read_secret_file, Rule};
use crate::os::signals::Signals;
use crate::secret::Secret;

const MAX_OUTPUT: usize = 1 << 20;

/// A private folder, removed with everything in it when dropped.
pub struct PrivateDir(PathBuf);

impl PrivateDir {
    pub fn create(parent: &Path, name: &str) -> Result<PrivateDir, Error> {
        let p = parent.join(name);
        DirBuilder::new()
            .mode(0o700)
            .create(&p)
            .map_err(|e| Error::Io(format!("private folder {}: {}", p.display(), e.kind())))?;
        Ok(PrivateDir(p))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes a 0600 secret file (create-new, no symlinks).
    pub fn write_secret(&self, name: &str, value: &Secret) -> Result<PathBuf, Error> {
        let p = self.0.join(name);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC).bits())
            .open(&p)
            .map_err(|e| Error::Io(format!("{}: {}", p.display(), e.kind())))?;
        f.write_all(value.expose().as_bytes())
            .map_err(|e| Error::Io(e.to_string()))?;
        Ok(p)
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What to run and with what.
pub struct HelperSpec<'a> {
    pub argv: &'a [String],
    pub timeout: Duration,
    pub workdir: Option<&'a Path>,
    pub base_url: &'a str,
    pub skip_event: bool,
}

/// What the helper reported (scrubbed), and the key it created, if any.
pub struct HelperOutput {
    pub json: Value,
    pub consumer_id: Option<String>,
    pub new_key: Option<(Secret, String)>,
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
    let mut cmd = Command::new(&spec.argv[0]);
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
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(k) = runtime_key {
        cmd.env("OPS_HUB_KEY_FILE", dir.write_secret("runtime.key", k)?);
    }
    if spec.skip_event {
        cmd.env("IHUB_SKIP_EVENT", "1");
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::HelperFailed(format!("cannot start {}: {}", spec.argv[0], e.kind())))?;
    let pgid = Pid::from_raw(child.id() as i32);
    let read_all = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = (&mut r).take(MAX_OUTPUT as u64).read_to_end(&mut buf);
            // Drain the rest so the helper never blocks on a full pipe.
            let _ = std::io::copy(&mut r, &mut std::io::sink());
            buf
        })
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
            let _ = killpg(pgid, Signal::SIGKILL);
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();

    let mut secrets = vec![operator_key.clone()];
    if let Some(k) = runtime_key {
        secrets.push(k.clone());
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
        secrets.push(k.clone());
    }
    let scrub = |text: &str| {
        let mut t = text.to_string();
        for s in &secrets {
            t = t.replace(s.expose(), "[redacted]");
        }
        crate::audit::escape_untrusted(&t, 2000)
    };
    let consumer_id = parsed
        .as_ref()
        .and_then(|v| v.pointer("/consumer/id"))
        .and_then(Value::as_str)
        .map(String::from);
    let json = bound(match &parsed {
        Some(v) => scrub_json(v, &scrub),
        None => Value::String(scrub(&String::from_utf8_lossy(&stdout))),
    });
    let stderr_tail = {
        let t = scrub(&String::from_utf8_lossy(&stderr));
        let skip = t.chars().count().saturating_sub(300);
        t.chars().skip(skip).collect::<String>()
    };
    let why = match (stopped, status) {
        (Some(why), _) => Some(why),
        (None, Some(st)) if !st.success() => Some(format!("exited with {st}")),
        (None, _) if parsed.is_none() => Some("did not print one JSON document".to_string()),
        _ => None,
    };
    if let Some(why) = why {
        // A signal is reported as such (`aborted`), anything else as the helper's failure.
        failure = Some(interrupted.unwrap_or_else(|| {
            Error::HelperFailed(format!("{why}; stderr: {}", stderr_tail.trim()))
        }));
    }
    Ok(HelperOutput {
        json,
        consumer_id,
        new_key,
        exit_code: status.and_then(|s| s.code()),
        failure,
    })
}

/// Most of the helper's output the evidence carries.
const MAX_EVIDENCE_OUTPUT: usize = 16 << 10;

/// Keeps the helper's output within bounds: whole when small; else only the
/// contract's fields; else a truncated string.
fn bound(v: Value) -> Value {
    if v.to_string().len() <= MAX_EVIDENCE_OUTPUT {
        return v;
    }
    const CONTRACT: [&str; 7] = [
        "hub",
        "manifest",
        "consumer",
        "runtimeKey",
        "widgets",
        "event",
        "error",
    ];
    if let Value::Object(m) = &v {
        let mut kept: serde_json::Map<String, Value> = m
            .iter()
            .filter(|(k, _)| CONTRACT.contains(&k.as_str()))
            .map(|(k, x)| (k.clone(), x.clone()))
            .collect();
        kept.insert("truncated".into(), Value::Bool(true));
        let kept = Value::Object(kept);
        if kept.to_string().len() <= MAX_EVIDENCE_OUTPUT {
            return kept;
        }
    }
    let text: String = v
        .to_string()
        .chars()
        .take(MAX_EVIDENCE_OUTPUT / 2)
        .collect();
    serde_json::json!({"truncated": true, "head": text})
}

/// Scrubs every string in the helper's JSON and caps its size.
fn scrub_json(v: &Value, scrub: &dyn Fn(&str) -> String) -> Value {
    match v {
        Value::String(s) => Value::String(scrub(s)),
        Value::Array(a) => Value::Array(a.iter().take(200).map(|x| scrub_json(x, scrub)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .take(200)
                .map(|(k, x)| (scrub(k), scrub_json(x, scrub)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A key-shaped file the helper left in the private folder without naming it.
fn find_left_key(dir: &PrivateDir) -> Option<(Secret, String)> {
    let entries = std::fs::read_dir(dir.path()).ok()?;
    for e in entries.flatten() {
        let name = e.file_name();
        if name == "operator.key" || name == "runtime.key" {
            continue;
        }
        if let Ok(k) = read_key_file(dir, &e.path()) {
            if crate::interhub::key_shape_ok(k.0.expose()) {
                return Some(k);
            }
        }
    }
    None
}

fn read_key_file(dir: &PrivateDir, f: &Path) -> Result<(Secret, String), Error> {
    let inside = f.is_absolute()
        && f.parent().is_some_and(|p| p == dir.path())
        && f.file_name().is_some_and(|n| !n.is_empty());
    if !inside {
        return Err(Error::HelperFailed(format!(
            "runtimeKey.keyFile {} is outside the helper's private folder",
            crate::audit::escape_untrusted(&f.display().to_string(), 120)
        )));
    }
    let rule = Rule {
        what: "helper key file",
        ..Rule::ATTENDED_KEY
    };
    let rule = Rule {
        owners: crate::os::files::Owners::RootOrSelf,
        check_parent: false,
        ..rule
    };
    let key = read_secret_file(f, rule).map_err(Error::HelperFailed)?;
    let prefix = crate::interhub::key_prefix(key.expose());
    Ok((key, prefix))
}
