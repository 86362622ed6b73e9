//! A child process in a session of its own from its first instruction.
//!
//! The crate denies `unsafe`; this is its one audited exception. A session
//! made by the child itself before `exec` (rather than by `setsid(1)` after
//! it) leaves no moment in which the child runs in our process group: from
//! the instant `spawn` returns, killing the child's group reaches it and
//! everything it starts, and it has no controlling terminal to read from or
//! type into.
#![allow(unsafe_code)]

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `cmd`'s child call `setsid(2)` between fork and exec: it leads a
/// new session and process group whose id is its pid.
pub fn in_new_session(cmd: &mut Command) {
    // SAFETY: the hook runs in the forked child before exec. It calls only
    // setsid(2), which is async-signal-safe; it allocates nothing and takes
    // no lock (nix's setsid is a direct libc call, and an Errno becomes an
    // io::Error without allocating).
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_leads_its_own_session_at_once() {
        let mut cmd = Command::new("/bin/cat");
        cmd.arg("/proc/self/stat");
        in_new_session(&mut cmd);
        let out = cmd.output().unwrap();
        let stat = String::from_utf8(out.stdout).unwrap();
        // pid (comm) state ppid pgrp session ...
        let after = stat.rsplit_once(") ").unwrap().1;
        let f: Vec<&str> = after.split_whitespace().collect();
        let pid = stat.split_whitespace().next().unwrap();
        assert_eq!(f[2], pid, "process group is its own");
        assert_eq!(f[3], pid, "session is its own");
        assert_eq!(f[4], "0", "no controlling terminal");
    }
}
