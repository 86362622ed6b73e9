//! SIGHUP (the SSH client went away), SIGTERM and SIGINT are recorded in a
//! flag; the run checks it between steps and never inside the
//! create-store-or-revoke critical section, so a signal cannot leave a live
//! unrecorded key. signal-hook's flag handlers are async-signal-safe stores.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::error::Error;

#[derive(Clone, Default)]
pub struct Signals {
    /// 0 until a signal arrives, then that signal's number.
    which: Arc<AtomicUsize>,
}

impl Signals {
    pub fn install() -> Result<Signals, String> {
        let s = Signals::default();
        for sig in [SIGHUP, SIGTERM, SIGINT] {
            signal_hook::flag::register_usize(sig, Arc::clone(&s.which), sig as usize)
                .map_err(|e| e.to_string())?;
        }
        Ok(s)
    }

    /// `Err(Aborted)` once a signal arrived: call between steps.
    pub fn checkpoint(&self, step: &str) -> Result<(), Error> {
        let name = match self.which.load(Ordering::SeqCst) as i32 {
            0 => return Ok(()),
            SIGHUP => "SIGHUP (client disconnected)",
            SIGTERM => "SIGTERM",
            SIGINT => "SIGINT",
            _ => "a signal",
        };
        Err(Error::Aborted(format!("{name} before {step}")))
    }
}
