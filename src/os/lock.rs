//! One bootstrap at a time per host: an exclusive flock with a bounded wait.
//! The same bounded, signal-aware wait serves the audit log's lock.

use std::fs::File;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::error::Error;
use crate::os::dir::{Access, WorkDir};
use crate::os::signals::Signals;

/// Why a lock was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum LockError {
    /// The deadline passed with another holder.
    Busy,
    /// A signal arrived while waiting.
    Aborted(String),
    Io(String),
}

impl LockError {
    pub fn into_error(self) -> Error {
        match self {
            LockError::Busy => Error::Busy,
            LockError::Aborted(m) => Error::Aborted(m),
            LockError::Io(m) => Error::Io(m),
        }
    }
}

/// Takes an exclusive flock on `file`, polling until `wait` has passed; a
/// signal recorded in `signals` (if given) ends the wait. Never blocks in
/// the kernel, so neither a holder that never lets go nor a signal can
/// leave the process stuck.
pub fn lock_with_deadline(
    file: File,
    wait: Duration,
    signals: Option<&Signals>,
    what: &str,
) -> Result<Flock<File>, LockError> {
    poll_lock(file, FlockArg::LockExclusiveNonblock, wait, signals, what)
}

/// The same wait for a shared lock (readers).
pub fn lock_shared_with_deadline(
    file: File,
    wait: Duration,
    what: &str,
) -> Result<Flock<File>, LockError> {
    poll_lock(file, FlockArg::LockSharedNonblock, wait, None, what)
}

fn poll_lock(
    mut file: File,
    how: FlockArg,
    wait: Duration,
    signals: Option<&Signals>,
    what: &str,
) -> Result<Flock<File>, LockError> {
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(2);
    loop {
        match Flock::lock(file, how) {
            Ok(lock) => return Ok(lock),
            Err((f, Errno::EWOULDBLOCK)) | Err((f, Errno::EINTR)) => {
                if let Some(s) = signals {
                    s.checkpoint(&format!("{what} was unlocked"))
                        .map_err(|e| LockError::Aborted(e.to_string()))?;
                }
                if Instant::now() >= deadline {
                    return Err(LockError::Busy);
                }
                file = f;
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err((_, e)) => return Err(LockError::Io(format!("flock: {}", e.desc()))),
        }
    }
}

/// Held for the whole run; released when dropped (or when the process dies).
pub struct RunLock {
    _lock: Flock<File>,
}

impl RunLock {
    /// Takes `name` in the state folder `dir` (opened relative to it).
    pub fn acquire(
        dir: &WorkDir,
        name: &str,
        wait: Duration,
        signals: Option<&Signals>,
    ) -> Result<RunLock, Error> {
        let shown = dir.path().join(name);
        let file = dir
            .open_file(name, Access::ReadWrite, Some(0o600))
            .map_err(|m| Error::Io(format!("lock file: {m}")))?
            .ok_or_else(|| Error::Io(format!("lock file {} vanished", shown.display())))?;
        let lock =
            lock_with_deadline(file, wait, signals, "the host lock").map_err(|e| match e {
                LockError::Io(m) => Error::Io(format!("{}: {m}", shown.display())),
                e => e.into_error(),
            })?;
        if !dir
            .still_names(name, &lock)
            .map_err(|m| Error::Io(format!("lock file: {m}")))?
        {
            return Err(Error::Io(format!(
                "lock file {} was replaced while waiting for it",
                shown.display()
            )));
        }
        Ok(RunLock { _lock: lock })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_busy() {
        let d = tempfile::tempdir().unwrap();
        let w = WorkDir::open(d.path(), None).unwrap();
        let first = RunLock::acquire(&w, "run.lock", Duration::from_millis(10), None).unwrap();
        let second = RunLock::acquire(&w, "run.lock", Duration::from_millis(100), None);
        assert_eq!(second.err(), Some(Error::Busy));
        drop(first);
        RunLock::acquire(&w, "run.lock", Duration::from_millis(10), None).unwrap();
    }
}
