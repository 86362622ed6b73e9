//! Process hardening, done first in every mode that touches secrets.

use nix::sys::resource::{setrlimit, Resource};
use nix::sys::stat::{umask, Mode};

/// umask 077, no core dumps, not ptrace-able/dumpable, inherited descriptors
/// above 2 close-on-exec. Failures are reported, not ignored: a process that
/// cannot harden itself must not go on to read secrets.
pub fn harden_process() -> Result<(), String> {
    umask(Mode::from_bits_truncate(0o077));
    setrlimit(Resource::RLIMIT_CORE, 0, 0).map_err(|e| format!("RLIMIT_CORE: {e}"))?;
    #[cfg(target_os = "linux")]
    nix::sys::prctl::set_dumpable(false).map_err(|e| format!("PR_SET_DUMPABLE: {e}"))?;
    close_fds::set_fds_cloexec(3, &[]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::resource::getrlimit;

    #[test]
    fn hardening_sets_limits() {
        harden_process().unwrap();
        assert_eq!(getrlimit(Resource::RLIMIT_CORE).unwrap(), (0, 0));
        assert!(!nix::sys::prctl::get_dumpable().unwrap());
        let old = umask(Mode::from_bits_truncate(0o077));
        assert_eq!(old.bits() & 0o777, 0o077);
    }
}
