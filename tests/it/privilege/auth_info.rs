//! The auth-info file (`SSH_USER_AUTH`): a plain file of its own, never a FIFO, link or procfs.

use std::path::Path;
use std::process::{Command, Stdio};

use super::{finish_within, lane_folders};
use crate::common::{bin, code_of, evidence, require_root, Fixture};

/// ops-warden as sshd would run it, with `auth` as `SSH_USER_AUTH`.
fn force_command(config: &Path, auth: &Path) -> Command {
    let mut c = Command::new(bin());
    c.arg("--config")
        .arg(config)
        .arg("force-command")
        .env_clear()
        .env("SSH_ORIGINAL_COMMAND", "whoami")
        .env("SSH_USER_AUTH", auth)
        .env("SSH_CONNECTION", "127.0.0.1 40000 127.0.0.1 22")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

#[test]
fn the_auth_info_file_must_be_a_plain_file_of_its_own() {
    require_root();
    let fx = Fixture::new("priv-auth-info");
    let (_log, _state, config) = lane_folders(&fx);
    fx.keygen(&["-t", "ed25519", "-f", "user"]);
    let cert = fx.sign(
        "lane-ca",
        "user",
        &crate::common::cert_opts(
            crate::common::KEY_ID,
            Some(crate::common::PRINCIPAL),
            "-1m:+10m",
            &[],
        ),
    );
    let line = std::fs::read_to_string(&cert).unwrap();
    let line = line
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let good = fx.write("sshauth", &format!("publickey {line}\n"), 0o600);
    let out = finish_within(force_command(&config, &good).spawn().unwrap(), 20, "good");
    assert_eq!(out.status.code(), Some(0), "{:#}", evidence(&out));

    // A FIFO: refused at once (it used to block until a writer came).
    let fifo = fx.path("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let out = finish_within(force_command(&config, &fifo).spawn().unwrap(), 10, "FIFO");
    assert_eq!(code_of(&evidence(&out)), "auth-info-untrusted");
    assert_eq!(out.status.code(), Some(77));

    // A hard link to the caller's file.
    let hard = fx.path("sshauth-hard");
    std::fs::hard_link(&good, &hard).unwrap();
    let out = finish_within(force_command(&config, &hard).spawn().unwrap(), 10, "link");
    let doc = evidence(&out);
    assert_eq!(code_of(&doc), "auth-info-untrusted", "{doc:#}");
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("2 links"));

    // procfs: a certificate line smuggled in through an environment variable.
    let mut c = force_command(&config, Path::new("/proc/self/environ"));
    c.env("SMUGGLED", format!("\npublickey {line}\n"));
    let out = finish_within(c.spawn().unwrap(), 10, "procfs");
    let doc = evidence(&out);
    assert_eq!(code_of(&doc), "auth-info-untrusted", "{doc:#}");
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("procfs or sysfs"));
}
