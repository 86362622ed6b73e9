//! The audit trail as auditors use it, through the binary: anchored in a
//! real rsyslogd, verified against it, rotated by the real logrotate, read
//! with `audit show` (issue 11). Shared here: a service-less `Host`.

mod accountability;
mod anchor;
mod review;
mod rotation;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::syslog::Rsyslog;
use crate::common::{assert_schema_named, bin, evidence, Fixture};

/// A host with no services: a config whose audit records are anchored in
/// the test's rsyslogd. Runs are refusals (no SSH auth info), which write an
/// intent and a result like any run.
pub(super) struct Host {
    pub(super) fx: Fixture,
    pub(super) config: PathBuf,
    pub(super) log: PathBuf,
    pub(super) syslog: Rsyslog,
}

impl Host {
    pub(super) fn new(name: &str) -> Host {
        let fx = Fixture::new(name);
        fx.keygen(&["-t", "ed25519", "-f", "lane-ca"]);
        let syslog = Rsyslog::start(&fx);
        let log = fx.mkdir("log", 0o750).join("audit.jsonl");
        fx.mkdir("state", 0o700);
        let config = fx.write(
            "ops-warden.toml",
            &format!(
                "[lane]\nprincipal = \"agt-interhub-bootstrap\"\n\
                 key_id_pattern = \"agt-*-interhub-bootstrap*\"\nca_keys_file = \"{}\"\n\
                 max_ttl_secs = 900\n[audit]\npath = \"{}\"\nsyslog_socket = \"{}\"\n\
                 [state]\ndir = \"{}\"\n\
                 [openbao]\naddr = \"http://127.0.0.1:9\"\nauth = \"token-file\"\ntoken_file = \"{}\"\n\
                 [interhub]\nbase_url = \"http://127.0.0.1:9\"\nmanifest = \"{repo}/seeds/ops-hub-manifest.draft.json\"\n\
                 widgets = \"{repo}/seeds/ops-hub-widgets.seed.json\"\n",
                fx.path("lane-ca.pub").display(),
                log.display(),
                syslog.socket.display(),
                fx.path("state").display(),
                fx.write("token", "t", 0o600).display(),
                repo = crate::common::repo().display(),
            ),
            0o644,
        );
        Host {
            fx,
            config,
            log,
            syslog,
        }
    }

    /// One refused run (as sshd would start it, without auth info).
    pub(super) fn run(&self) -> Output {
        self.run_with(&self.config)
    }

    pub(super) fn run_with(&self, config: &Path) -> Output {
        Command::new(bin())
            .arg("--config")
            .arg(config)
            .arg("force-command")
            .env_clear()
            .env("SSH_ORIGINAL_COMMAND", "whoami")
            .env("SSH_CONNECTION", "192.0.2.7 40000 127.0.0.1 22")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    pub(super) fn ow(&self, args: &[&str]) -> Output {
        Command::new(bin())
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// `audit verify` with `args`; the JSON report and the exit code.
    pub(super) fn verify(&self, args: &[&str]) -> (serde_json::Value, Option<i32>) {
        let mut a = vec!["audit", "verify"];
        a.extend_from_slice(args);
        let out = self.ow(&a);
        let doc = evidence(&out);
        assert_schema_named("audit-verify.v1.schema.json", &doc);
        (doc, out.status.code())
    }

    pub(super) fn anchor(&self) -> String {
        self.syslog.output.display().to_string()
    }

    pub(super) fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }
}
