//! The privilege boundary on the host: what the lane account can do to a root
//! ops-warden through the folders it owns (issue 8 §1, §3). Shared here: the
//! lane's folders and config, and a bounded wait for a child.

mod audit_lock;
mod auth_info;
mod check_config;
mod helper;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use crate::common::sshd::{ensure_lane_user, LANE_USER};
use crate::common::Fixture;

pub(super) fn lane_ids() -> (u32, u32) {
    let u = nix::unistd::User::from_name(LANE_USER).unwrap().unwrap();
    (u.uid.as_raw(), u.gid.as_raw())
}

/// A minimal host: the lane's folders owned by the lane user, a config that
/// needs no services (the attended run appends its intent before any).
pub(super) fn lane_folders(fx: &Fixture) -> (PathBuf, PathBuf, PathBuf) {
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
pub(super) fn with_services(fx: &Fixture, config: &Path) -> PathBuf {
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

/// Waits for `child` at most `secs`; kills it and fails if it is still running.
pub(super) fn finish_within(mut child: Child, secs: u64, what: &str) -> std::process::Output {
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
