//! One bootstrap at a time per host: an exclusive flock with a bounded wait.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};

use crate::error::Error;

/// Held for the whole run; released when dropped (or when the process dies).
pub struct RunLock {
    _lock: Flock<File>,
}

impl RunLock {
    pub fn acquire(path: &Path, wait: Duration) -> Result<RunLock, Error> {
        let deadline = Instant::now() + wait;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC).bits())
            .open(path)
            .map_err(|e| Error::Io(format!("lock file {}: {}", path.display(), e.kind())))?;
        crate::os::files::hand_to_folder_owner(path);
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => return Ok(RunLock { _lock: lock }),
                Err((f, Errno::EWOULDBLOCK)) | Err((f, Errno::EINTR)) => {
                    if Instant::now() >= deadline {
                        return Err(Error::Busy);
                    }
                    file = f;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err((_, e)) => return Err(Error::Io(format!("flock {}: {e}", path.display()))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_busy() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("run.lock");
        let first = RunLock::acquire(&p, Duration::from_millis(10)).unwrap();
        let second = RunLock::acquire(&p, Duration::from_millis(100));
        assert_eq!(second.err(), Some(Error::Busy));
        drop(first);
        RunLock::acquire(&p, Duration::from_millis(10)).unwrap();
    }
}
