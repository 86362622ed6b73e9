//! The whole lane, as it is used: ssh (certificate signed by OpenBao's SSH
//! engine) → sshd → ops-warden → OpenBao → Inter-Hub (simulator) → OpenBao →
//! one JSON document back. Shared here: the `World` of services and host.

mod concurrent;
mod end_to_end;
mod interruptions;

use std::path::PathBuf;
use std::process::{Output, Stdio};

use crate::common::bao::Bao;
use crate::common::lab::{OPERATOR_KEY, OPERATOR_PATH};
use crate::common::scan::assert_run_clean;
use crate::common::sim::Sim;
use crate::common::sshd::{ensure_lane_user, LaneHost, LaneOptions, LANE_USER};
use crate::common::Fixture;
use serde_json::{json, Value};

pub(super) struct World {
    pub(super) svc: Fixture,
    pub(super) bao: Bao,
    pub(super) sim: Sim,
    pub(super) host: LaneHost,
    pub(super) wrapper_token: String,
}

impl World {
    pub(super) fn start(name: &str) -> World {
        crate::common::require_root();
        ensure_lane_user();
        let svc = Fixture::new(&format!("{name}-svc"));
        let bao = Bao::start(&svc);
        let approle = svc.path("approle");
        bao.setup_lane(&approle);
        // The lane user reads its AppRole files; nobody else can.
        for f in ["", "role_id", "secret_id"] {
            svc.chown(&approle.join(f), LANE_USER);
        }
        bao.kv_put_stdin(OPERATOR_PATH, "IHUB_OPERATOR_KEY", OPERATOR_KEY);
        let sim = Sim::start(&svc, OPERATOR_KEY);
        svc.mkdir("seeds", 0o755);
        for f in ["ops-hub-manifest.draft.json", "ops-hub-widgets.seed.json"] {
            std::fs::copy(
                crate::common::repo().join("seeds").join(f),
                svc.path("seeds").join(f),
            )
            .unwrap();
        }
        let extra = format!(
            "[openbao]\naddr = \"{}\"\nauth = \"approle\"\nrole_id_file = \"{a}/role_id\"\nsecret_id_file = \"{a}/secret_id\"\n\
             [interhub]\nbase_url = \"{}\"\nretries = 2\nmanifest = \"{s}/ops-hub-manifest.draft.json\"\nwidgets = \"{s}/ops-hub-widgets.seed.json\"\n",
            bao.addr,
            sim.base,
            a = approle.display(),
            s = svc.path("seeds").display(),
        );
        let ca = std::fs::read_to_string(approle.join("lane-ca.pub")).unwrap();
        let host = LaneHost::start(
            name,
            LaneOptions {
                pinned_ca: Some(ca),
                extra_config: extra,
                ..Default::default()
            },
        );
        // The operators' tool holds a token that may only sign with the lane's role.
        let wrapper_token = bao
            .ok(&[
                "token",
                "create",
                "-policy=ops-ssh-wrapper",
                "-display-name=codex",
                "-field=token",
            ])
            .trim()
            .to_string();
        World {
            svc,
            bao,
            sim,
            host,
            wrapper_token,
        }
    }

    /// What ops-ssh-wrapper does: a short-lived certificate from OpenBao's SSH CA.
    pub(super) fn certificate(&self) -> PathBuf {
        let out = self
            .bao
            .bao_cmd(&[
                "write",
                "-field=signed_key",
                "ssh-client-signer/sign/interhub-bootstrap",
            ])
            .arg(format!(
                "public_key=@{}",
                self.host.fx.path("user.pub").display()
            ))
            .env("BAO_TOKEN", &self.wrapper_token)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sign: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let p = self.host.fx.path(&format!(
            "bao-cert-{}.pub",
            ops_warden::testing::new_run_id()
        ));
        std::fs::write(&p, &out.stdout).unwrap();
        p
    }

    pub(super) fn stored_key(&self) -> Option<(String, String)> {
        crate::common::lab::stored_key(&self.bao)
    }

    pub(super) fn assert_one_live_stored_key(&self) {
        crate::common::lab::assert_one_live_stored_key(&self.bao, &self.sim);
    }

    pub(super) fn audit_verifies(&self) {
        let out = self.host.ops_warden(&["audit", "verify"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    /// Scans outputs, the audit log and the simulator's request log.
    pub(super) fn assert_no_leaks(&self, outs: &[&Output]) {
        let mut secrets = vec![OPERATOR_KEY.to_string(), self.wrapper_token.clone()];
        secrets.push(
            std::fs::read_to_string(self.svc.path("approle/secret_id"))
                .unwrap()
                .trim()
                .into(),
        );
        let runtime = self.stored_key().map(|k| k.0);
        secrets.extend(runtime.clone());
        // Every token OpenBao issued and every key and access token the
        // simulator issued (revoked ones too).
        secrets.extend(self.bao.issued_secrets());
        secrets.extend(self.sim.issued_secrets());
        assert_run_clean(outs, &std::fs::read(&self.host.audit).unwrap(), &secrets);
        // sshd's own log (the lane's stderr reaches the client, not it, but
        // its debug lines name the session).
        let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        crate::common::scan::assert_clean("sshd log", self.host.sshd_log().as_bytes(), &refs);
        for r in self.sim.requests() {
            let line = r.to_string();
            let path = r["path"].as_str().unwrap();
            if line.contains(OPERATOR_KEY) {
                assert!(
                    path.starts_with("/api/v2/admin/"),
                    "operator key went to {path}"
                );
            }
            if let Some(k) = &runtime {
                if line.contains(k.as_str()) {
                    assert_eq!(path, "/api/v2/token", "runtime key went to {path}");
                }
            }
            assert!(
                !line.contains(&self.wrapper_token) && !line.contains(secrets[2].as_str()),
                "OpenBao credentials reached Inter-Hub"
            );
        }
    }

    /// Starts `ssh … bootstrap` with key creation slowed by `delay_ms`, and
    /// returns once ops-warden is inside the key creation (critical section).
    pub(super) fn bootstrap_paused_in_key_creation(
        &self,
        cert: &std::path::Path,
        delay_ms: u64,
    ) -> std::process::Child {
        self.sim.fault(json!({"method": "POST", "path": "/api/v2/admin/api-consumers/", "delay_ms": delay_ms, "count": 1}));
        let child = self
            .host
            .ssh_command(cert, &["bootstrap"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        self.sim.wait_for("POST", "/keys");
        child
    }

    pub(super) fn state_dir_is_clean(&self) {
        let left: Vec<_> = std::fs::read_dir(self.host.fx.path("state"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            // The host lock, the audit seq mark and the readiness event's
            // marker stay; nothing else may.
            .filter(|n| {
                n != "bootstrap.lock"
                    && n != "audit.seq"
                    && !n.to_string_lossy().starts_with("event-")
            })
            .collect();
        assert!(left.is_empty(), "temp files left: {left:?}");
    }
}

pub(super) fn step_statuses(doc: &Value) -> Vec<String> {
    doc["result"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}={}",
                s["step"].as_str().unwrap(),
                s["status"].as_str().unwrap()
            )
        })
        .collect()
}
