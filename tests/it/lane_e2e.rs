//! The whole lane, as it is used: ssh (certificate signed by OpenBao's SSH
//! engine) → sshd → ops-warden → OpenBao → Inter-Hub (simulator) → OpenBao →
//! one JSON document back.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::bao::Bao;
use crate::common::lab::{OPERATOR_KEY, OPERATOR_PATH};
use crate::common::scan::assert_run_clean;
use crate::common::sim::Sim;
use crate::common::sshd::{ensure_lane_user, LaneHost, LaneOptions, LANE_USER};
use crate::common::{assert_schema, code_of, evidence, Fixture};
use serde_json::{json, Value};

struct World {
    svc: Fixture,
    bao: Bao,
    sim: Sim,
    host: LaneHost,
    wrapper_token: String,
}

impl World {
    fn start(name: &str) -> World {
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
    fn certificate(&self) -> PathBuf {
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

    fn stored_key(&self) -> Option<(String, String)> {
        crate::common::lab::stored_key(&self.bao)
    }

    fn assert_one_live_stored_key(&self) {
        crate::common::lab::assert_one_live_stored_key(&self.bao, &self.sim);
    }

    fn audit_verifies(&self) {
        let out = self.host.ops_warden(&["audit", "verify"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    /// Scans outputs, the audit log and the simulator's request log.
    fn assert_no_leaks(&self, outs: &[&Output]) {
        let mut secrets = vec![OPERATOR_KEY.to_string(), self.wrapper_token.clone()];
        secrets.push(
            std::fs::read_to_string(self.svc.path("approle/secret_id"))
                .unwrap()
                .trim()
                .into(),
        );
        let runtime = self.stored_key().map(|k| k.0);
        secrets.extend(runtime.clone());
        assert_run_clean(outs, &std::fs::read(&self.host.audit).unwrap(), &secrets);
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
    fn bootstrap_paused_in_key_creation(
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

    fn state_dir_is_clean(&self) {
        let left: Vec<_> = std::fs::read_dir(self.host.fx.path("state"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            // The host lock and the audit seq mark stay; nothing else may.
            .filter(|n| n != "bootstrap.lock" && n != "audit.seq")
            .collect();
        assert!(left.is_empty(), "temp files left: {left:?}");
    }
}

fn step_statuses(doc: &Value) -> Vec<String> {
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

#[test]
fn the_lane_end_to_end() {
    let w = World::start("lane");
    let cert = w.certificate();

    let first = w.host.ssh(&cert, &["bootstrap"]);
    let doc = evidence(&first);
    assert_schema(&doc);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{doc:#}\n{}",
        w.host.sshd_log()
    );
    assert!(
        doc["caller"]["key_id"]
            .as_str()
            .unwrap()
            .starts_with("agt-token-codex-interhub-bootstrap-"),
        "{doc:#}"
    );
    assert_eq!(doc["result"]["runtime_key"]["status"], "created");
    assert!(doc["audit"]["hash"].as_str().unwrap().len() == 64);
    for s in [
        "hub=created",
        "manifest=created",
        "consumer=created",
        "runtime-key=created",
        "event=created",
        "validation=unchanged",
    ] {
        assert!(
            step_statuses(&doc).contains(&s.to_string()),
            "{s}: {:?}",
            step_statuses(&doc)
        );
    }
    w.assert_one_live_stored_key();
    let writes = w.sim.writes();

    let second = w.host.ssh(&cert, &["bootstrap"]);
    let doc2 = evidence(&second);
    assert_eq!(second.status.code(), Some(0), "{doc2:#}");
    assert!(
        step_statuses(&doc2)
            .iter()
            .all(|s| s.ends_with("=reused") || s.ends_with("=unchanged")),
        "{:?}",
        step_statuses(&doc2)
    );
    assert_eq!(w.sim.writes(), writes, "rerun: zero writes");

    let plan = w.host.ssh(&cert, &["bootstrap", "--plan"]);
    assert_eq!(plan.status.code(), Some(0));
    assert_eq!(w.sim.writes(), writes, "--plan: zero writes");
    let gate = w.host.ssh(&cert, &["gate"]);
    assert_eq!(
        gate.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&gate.stdout)
    );
    let verify = w.host.ssh(&cert, &["verify"]);
    let v = evidence(&verify);
    assert_eq!(verify.status.code(), Some(0), "{v:#}");
    assert_eq!(v["result"]["validation"]["token"], "ok");

    w.audit_verifies();
    let shown = w
        .host
        .ops_warden(&["audit", "show", "--outcome", "ok", "--json"]);
    assert_eq!(String::from_utf8(shown.stdout).unwrap().lines().count(), 5);
    w.state_dir_is_clean();
    w.assert_no_leaks(&[&first, &second, &plan, &gate, &verify]);
}

#[test]
fn five_concurrent_bootstraps_leave_one_key() {
    let w = World::start("lane-five");
    let cert = w.certificate();
    let children: Vec<_> = (0..5)
        .map(|_| {
            w.host
                .ssh_command(&cert, &["bootstrap", "--skip-event"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let mut busy = 0;
    for o in &outs {
        let doc = evidence(o);
        assert_schema(&doc);
        match o.status.code() {
            Some(0) => assert!(
                ["created", "reused"]
                    .contains(&doc["result"]["runtime_key"]["status"].as_str().unwrap()),
                "{doc:#}"
            ),
            Some(75) => {
                assert_eq!(doc["outcome"], "busy");
                busy += 1;
            }
            other => panic!("unexpected exit {other:?}: {doc:#}"),
        }
    }
    w.assert_one_live_stored_key();
    w.audit_verifies();
    let log = std::fs::read_to_string(&w.host.audit).unwrap();
    assert_eq!(
        log.matches("\"outcome\":\"busy\"").count(),
        busy,
        "each busy caller has its audit record"
    );
    assert_eq!(log.matches("\"event\":\"result\"").count(), 5);
    let refs: Vec<&Output> = outs.iter().collect();
    w.assert_no_leaks(&refs);
}

#[test]
fn a_client_that_hangs_up_mid_run_loses_nothing() {
    let w = World::start("lane-hup");
    let cert = w.certificate();
    // Key creation is slow: the caller hangs up while ops-warden is inside it.
    let mut client = w.bootstrap_paused_in_key_creation(&cert, 3000);
    client.kill().unwrap();
    let _ = client.wait();
    // ops-warden finishes its critical section and writes its result record.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = std::fs::read_to_string(&w.host.audit).unwrap_or_default();
        if log.matches("\"event\":\"result\"").count() == 1 {
            let result: Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
            assert!(
                ["ok", "aborted"].contains(&result["outcome"].as_str().unwrap()),
                "{result:#}"
            );
            if result["outcome"] == "aborted" {
                assert!(
                    result["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains("SIGHUP"),
                    "{result:#}"
                );
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no result record after the hang-up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // No live key that is not in OpenBao, no temp file.
    let live = w.sim.active_keys();
    assert!(live.len() <= 1);
    if let Some(k) = live.first() {
        assert!(
            w.stored_key()
                .unwrap()
                .0
                .starts_with(k["prefix"].as_str().unwrap()),
            "the live key is stored"
        );
    }
    w.state_dir_is_clean();
    // The next run completes.
    let next = w.host.ssh(&cert, &["bootstrap"]);
    assert_eq!(
        next.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&next.stdout)
    );
    w.assert_one_live_stored_key();
    w.audit_verifies();
    w.assert_no_leaks(&[&next]);
    let _ = code_of(&evidence(&next));
}

/// Pids of this host's running ops-warden force-command processes.
fn warden_pids(host: &LaneHost) -> Vec<i32> {
    let cfg = host.config.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    let c = String::from_utf8_lossy(&c).replace('\0', " ");
                    c.contains(&cfg) && c.contains("force-command")
                })
                .unwrap_or(false)
                // the binary itself, not the login shell that runs it
                && std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e.ends_with("ops-warden"))
        })
        .collect()
}

#[test]
fn a_signal_inside_the_critical_section_aborts_after_it() {
    for sig in [
        nix::sys::signal::Signal::SIGHUP,
        nix::sys::signal::Signal::SIGTERM,
    ] {
        let w = World::start(&format!("lane-{}", sig.as_str().to_lowercase()));
        let cert = w.certificate();
        let client = w.bootstrap_paused_in_key_creation(&cert, 2500);
        let pids = warden_pids(&w.host);
        assert_eq!(pids.len(), 1, "one ops-warden process: {pids:?}");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pids[0]), sig).unwrap();
        let out = client.wait_with_output().unwrap();
        let doc = evidence(&out);
        assert_schema(&doc);
        assert_eq!(doc["outcome"], "aborted", "{doc:#}");
        assert_eq!(out.status.code(), Some(75));
        assert!(
            doc["error"]["message"]
                .as_str()
                .unwrap()
                .contains(sig.as_str()),
            "{doc:#}"
        );
        // The critical section finished: the key exists and is stored.
        assert_eq!(doc["result"]["runtime_key"]["status"], "created", "{doc:#}");
        assert!(step_statuses(&doc).contains(&"runtime-key=created".to_string()));
        assert!(
            !step_statuses(&doc)
                .iter()
                .any(|s| s.starts_with("widgets=")),
            "stopped right after it"
        );
        w.assert_one_live_stored_key();
        w.state_dir_is_clean();
        let log = std::fs::read_to_string(&w.host.audit).unwrap();
        assert!(log
            .lines()
            .last()
            .unwrap()
            .contains("\"outcome\":\"aborted\""));
        let next = w.host.ssh(&cert, &["bootstrap"]);
        let nd = evidence(&next);
        assert_eq!(next.status.code(), Some(0), "{nd:#}");
        assert_eq!(nd["result"]["runtime_key"]["status"], "reused");
        w.assert_one_live_stored_key();
        w.audit_verifies();
        w.assert_no_leaks(&[&out, &next]);
    }
}

#[test]
fn the_reference_ops_ssh_wrapper_calls_the_lane() {
    let w = World::start("e2e-wrapper");
    let home = w.svc.mkdir("operator-home", 0o700);
    let wrapper = |args: &[&str]| {
        Command::new("bash")
            .arg(crate::common::repo().join("host-config/client/ops-ssh-wrapper"))
            .arg("127.0.0.1")
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &home)
            .env("BAO", crate::common::bao::bao_path())
            .env("BAO_ADDR", &w.bao.addr)
            .env("BAO_TOKEN", &w.wrapper_token)
            .env("OPS_SSH_KEY", w.host.fx.path("user"))
            .env("OPS_SSH_USER", LANE_USER)
            .env("OPS_SSH_PORT", w.host.port.to_string())
            .env("OPS_SSH_STRICT", "no")
            .env("OPS_SSH_KNOWN_HOSTS", "/dev/null")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    // Its exit code is ops-warden's, its stdout the evidence.
    let out = wrapper(&["whoami"]);
    let doc = evidence(&out);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert!(doc["caller"]["key_id"]
        .as_str()
        .unwrap()
        .starts_with("agt-token-codex-interhub-bootstrap"));
    let out = wrapper(&["bootstrap"]);
    let doc = evidence(&out);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert_eq!(doc["result"]["runtime_key"]["status"], "created");
    let out = wrapper(&["bootstrap", "--frobnicate"]);
    assert_eq!(out.status.code(), Some(77));
    assert_eq!(code_of(&evidence(&out)), "command-bad-argument");
    w.assert_one_live_stored_key();
    // Nothing secret in what the operator sees.
    let (key, _) = w.stored_key().unwrap();
    for text in [&out.stdout, &out.stderr] {
        let t = String::from_utf8_lossy(text);
        assert!(!t.contains(&w.wrapper_token) && !t.contains(&key) && !t.contains(OPERATOR_KEY));
    }
}
