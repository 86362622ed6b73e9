//! OpenBao custody against a real OpenBao dev server: AppRole login with the
//! shipped policy, operator key read, CAS stores, the pre-flight, failures.

use std::path::PathBuf;
use std::time::Duration;

use crate::common::bao::Bao;
use crate::common::scan::assert_clean;
use crate::common::Fixture;
use ops_warden::testing::KeyIdPattern;
use ops_warden::testing::OpenBao;
use ops_warden::testing::Secret;
use ops_warden::testing::{verify, CertPolicy, PinnedCa, VerifiedCaller};
use ops_warden::testing::{KeyRecord, Provenance, Stored};
use ops_warden::testing::{KvField, OpenbaoAuth, OpenbaoConfig};

const OPERATOR_KEY: &str = "opk-live-Zq8xW3vN7mR2tY5uI9oP1aS4dF6gH0jK";
const OPERATOR_PATH: &str = "secret/platform/operators/interhub/operator";
const RUNTIME_PATH: &str = "secret/platform/operators/ops-hub/runtime";

fn runtime_key(n: u8) -> String {
    format!(
        "ihk_{:08x}.{}",
        0x1a2b3c00u32 + n as u32,
        format!("R{n}tkQ9vLm2Xw8Zp4Ns7Jd1Hf6Gb3Kc5Vy0TeQaPoW")
            .chars()
            .take(43)
            .collect::<String>()
    )
}

struct Lab {
    fx: Fixture,
    bao: Bao,
}

impl Lab {
    fn new(name: &str) -> Lab {
        let fx = Fixture::new(name);
        let bao = Bao::start(&fx);
        bao.setup_lane(&fx.path("approle"));
        bao.kv_put_stdin(OPERATOR_PATH, "IHUB_OPERATOR_KEY", OPERATOR_KEY);
        Lab { fx, bao }
    }

    fn config(&self) -> OpenbaoConfig {
        OpenbaoConfig {
            addr: self.bao.addr.clone(),
            ca_bundle: None,
            timeout: Duration::from_secs(5),
            retries: 1,
            auth: OpenbaoAuth::AppRole {
                mount: "approle".into(),
                role_id_file: self.fx.path("approle/role_id"),
                secret_id_file: self.fx.path("approle/secret_id"),
            },
            operator_key: KvField {
                mount: "secret".into(),
                path: "platform/operators/interhub/operator".into(),
                field: "IHUB_OPERATOR_KEY".into(),
            },
            runtime_key: KvField {
                mount: "secret".into(),
                path: "platform/operators/ops-hub/runtime".into(),
                field: "OPS_HUB_KEY".into(),
            },
        }
    }

    fn connect(&self) -> Result<OpenBao, ops_warden::testing::Error> {
        OpenBao::connect(&self.config())
    }

    fn secrets(&self) -> Vec<String> {
        let mut v = vec![
            OPERATOR_KEY.to_string(),
            runtime_key(1),
            runtime_key(2),
            runtime_key(3),
        ];
        v.push(
            std::fs::read_to_string(self.fx.path("approle/secret_id"))
                .unwrap()
                .trim()
                .to_string(),
        );
        v
    }
}

/// A caller verified from a real ssh-keygen certificate (the only way to get one).
fn caller(fx: &Fixture) -> VerifiedCaller {
    fx.keygen(&["-t", "ed25519", "-f", "caller-ca"]);
    fx.keygen(&["-t", "ed25519", "-f", "caller"]);
    let cert = fx.sign(
        "caller-ca",
        "caller",
        &crate::common::cert_opts(
            crate::common::KEY_ID,
            Some(crate::common::PRINCIPAL),
            "-1m:+5m",
            &[],
        ),
    );
    let cert = ssh_key::Certificate::from_openssh(&std::fs::read_to_string(cert).unwrap()).unwrap();
    let policy = CertPolicy {
        principal: "agt-interhub-bootstrap".into(),
        require_sole_principal: true,
        key_id_pattern: KeyIdPattern::parse("agt-*-interhub-bootstrap*").unwrap(),
        pinned: vec![PinnedCa::from_openssh(
            &std::fs::read_to_string(fx.path("caller-ca.pub")).unwrap(),
        )
        .unwrap()],
        max_ttl_secs: 900,
        clock_skew_secs: 60,
        allowed_critical_options: vec![],
        require_source_address: false,
        allowed_extensions: vec![],
    };
    verify(&policy, &cert, None, chrono::Utc::now().timestamp() as u64).unwrap()
}

/// Stores runtime key `n` with check-and-set at `cas`.
fn store(bao: &OpenBao, n: u8, cas: u64) -> Stored {
    try_store(bao, n, cas).unwrap()
}

fn try_store(bao: &OpenBao, n: u8, cas: u64) -> Result<Stored, ops_warden::testing::Error> {
    let key = Secret::new(runtime_key(n));
    let record = KeyRecord {
        key: &key,
        client_id: Some("cons_1".into()),
        prefix: Some(runtime_key(n)[..12].to_string()),
        key_id: Some(format!("key_{n}")),
    };
    bao.store_runtime_key(&record, cas, &who())
}

fn who() -> Provenance {
    Provenance {
        run_id: "run-test".into(),
        host: "test-host".into(),
        cert_key_id: "agt-test-interhub-bootstrap".into(),
    }
}

fn code<T>(r: Result<T, ops_warden::testing::Error>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => e.code().to_string(),
    }
}

#[test]
fn custody_with_the_shipped_policy() {
    let lab = Lab::new("custody");
    let who_called = caller(&lab.fx);
    let mut bao = lab
        .connect()
        .expect("AppRole login with the shipped policy");
    assert_eq!(
        lab.bao.live_tokens_named("approle"),
        1,
        "one login token while connected"
    );
    bao.preflight(&bao.lane_needs(true, true))
        .expect("the shipped policy passes the pre-flight");

    let op = bao.read_operator_key(&who_called).unwrap();
    assert_eq!(op.secret().expose(), OPERATOR_KEY);
    assert!(bao.read_runtime_key().unwrap().is_none());
    assert_eq!(bao.runtime_version().unwrap(), 0);

    // First store: create-only, read back.
    let first = store(&bao, 1, 0);
    assert!(matches!(first, Stored::Written { version: 1 }), "{first:?}");
    let stored = bao.read_runtime_key().unwrap().unwrap();
    assert_eq!(stored.key.expose(), runtime_key(1));
    assert_eq!(stored.client_id.as_deref(), Some("cons_1"));
    assert_eq!(stored.key_id.as_deref(), Some("key_1"));
    let meta = lab
        .bao
        .ok(&["kv", "metadata", "get", "-format=json", RUNTIME_PATH]);
    let meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
    assert_eq!(
        meta["data"]["custom_metadata"]["ops_warden_run_id"],
        "run-test"
    );
    assert_eq!(
        meta["data"]["custom_metadata"]["ops_warden_cert_key_id"],
        "agt-test-interhub-bootstrap"
    );

    // A second first-store loses and learns the winner's key.
    match store(&bao, 2, 0) {
        Stored::LostRace { winner } => assert_eq!(winner.key.expose(), runtime_key(1)),
        other => panic!("expected a lost race, got {other:?}"),
    }
    // A stale rotation loses too; a current one wins.
    assert!(matches!(store(&bao, 3, 5), Stored::LostRace { .. }));
    assert!(matches!(store(&bao, 3, 1), Stored::Written { version: 2 }));

    // The login token is revoked at the end.
    assert!(bao.close().unwrap(), "a token this session made is revoked");
    assert_eq!(
        lab.bao.live_tokens_named("approle"),
        0,
        "token revoked by close()"
    );
    let dropped = lab.connect().unwrap();
    drop(dropped);
    assert_eq!(
        lab.bao.live_tokens_named("approle"),
        0,
        "token revoked on drop too"
    );
}

#[test]
fn concurrent_first_stores_end_with_one_key() {
    let lab = Lab::new("race");
    let results: Vec<Stored> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..=4u8)
            .map(|n| {
                let lab = &lab;
                s.spawn(move || store(&lab.connect().unwrap(), n, 0))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners = results
        .iter()
        .filter(|r| matches!(r, Stored::Written { .. }))
        .count();
    assert_eq!(winners, 1, "{results:?}");
    let bao = lab.connect().unwrap();
    let stored = bao.read_runtime_key().unwrap().unwrap();
    for r in &results {
        if let Stored::LostRace { winner } = r {
            assert!(
                winner.key.same_as(&stored.key),
                "losers reuse the stored key"
            );
        }
    }
}

#[test]
fn preflight_and_denials_name_the_path() {
    let lab = Lab::new("denied");
    // Weaken the host policy: runtime key read-only, no operator key.
    let weak = lab.fx.write(
        "weak.hcl",
        "path \"secret/data/platform/operators/ops-hub/runtime\" { capabilities = [\"read\"] }\n",
        0o644,
    );
    lab.bao
        .ok(&["policy", "write", "ops-warden-host", weak.to_str().unwrap()]);
    let bao = lab.connect().unwrap();
    let err = bao.preflight(&bao.lane_needs(true, true)).unwrap_err();
    assert_eq!(err.code(), "openbao-capability-missing");
    let msg = err.to_string();
    assert!(
        msg.contains("read on secret/data/platform/operators/interhub/operator"),
        "{msg}"
    );
    assert!(
        msg.contains("create on secret/data/platform/operators/ops-hub/runtime"),
        "{msg}"
    );
    assert_eq!(err.exit_code(), 77);
    // Nothing was written by the check.
    assert!(!lab.bao.bao(&["kv", "get", RUNTIME_PATH]).status.success());
    // Without the pre-flight, the server's 403s get their own codes.
    assert_eq!(
        code(bao.read_operator_key(&caller(&lab.fx))),
        "openbao-read-denied"
    );
    assert_eq!(code(try_store(&bao, 1, 0)), "openbao-write-denied");
}

#[test]
fn operator_key_value_problems_have_their_own_codes() {
    let lab = Lab::new("values");
    let c = caller(&lab.fx);
    let read = || code(lab.connect().unwrap().read_operator_key(&c));
    assert_eq!(read(), "ok");
    lab.bao.kv_put_stdin(OPERATOR_PATH, "OTHER", "x");
    assert_eq!(read(), "openbao-field-missing");
    lab.bao.kv_put_stdin(OPERATOR_PATH, "IHUB_OPERATOR_KEY", "");
    assert_eq!(read(), "secret-value-empty");
    lab.bao
        .kv_put_stdin(OPERATOR_PATH, "IHUB_OPERATOR_KEY", &"k".repeat(5000));
    assert_eq!(read(), "secret-value-too-long");
    lab.bao
        .kv_put_stdin(OPERATOR_PATH, "IHUB_OPERATOR_KEY", "opk-with\u{1}control");
    assert_eq!(read(), "secret-value-not-printable");
    lab.bao.ok(&["kv", "metadata", "delete", OPERATOR_PATH]);
    assert_eq!(read(), "openbao-not-found");
}

#[test]
fn sealed_stopped_slow_and_tls_failures() {
    let mut lab = Lab::new("faults");
    lab.bao.seal();
    assert_eq!(code(lab.connect()), "openbao-sealed");
    lab.bao.stop();
    assert_eq!(code(lab.connect()), "openbao-unreachable");

    // A server that accepts and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in silent.incoming().flatten() {
            held.push(s);
        }
    });
    let mut cfg = lab.config();
    cfg.addr = format!("http://127.0.0.1:{port}");
    cfg.timeout = Duration::from_secs(1);
    cfg.retries = 0;
    assert_eq!(code(OpenBao::connect(&cfg)), "openbao-timeout");

    // TLS spoken to a plain-HTTP listener.
    let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = plain.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut s in plain.incoming().flatten() {
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    cfg.addr = format!("https://127.0.0.1:{port}");
    assert_eq!(code(OpenBao::connect(&cfg)), "openbao-tls");
}

#[test]
fn credentials_problems() {
    let lab = Lab::new("creds");
    // A wrong secret_id.
    let mut cfg = lab.config();
    let wrong = lab.fx.write(
        "wrong_secret_id",
        "00000000-0000-0000-0000-000000000000\n",
        0o600,
    );
    if let OpenbaoAuth::AppRole { secret_id_file, .. } = &mut cfg.auth {
        *secret_id_file = wrong;
    }
    let err = OpenBao::connect(&cfg).err().unwrap();
    assert_eq!(err.code(), "openbao-auth-failed", "{err}");

    // Token files: missing, too open, invalid, and a good one (not revoked: not ours).
    let token_cfg = |p: PathBuf| OpenbaoConfig {
        auth: OpenbaoAuth::TokenFile(p),
        ..lab.config()
    };
    assert_eq!(
        code(OpenBao::connect(&token_cfg(lab.fx.path("nope")))),
        "openbao-token-file"
    );
    let child = lab.bao.ok(&[
        "token",
        "create",
        "-policy=ops-warden-host",
        "-display-name=agent-sink",
        "-field=token",
    ]);
    let open = lab.fx.write("token-open", &child, 0o644);
    assert_eq!(
        code(OpenBao::connect(&token_cfg(open))),
        "openbao-token-file"
    );
    let bad = lab.fx.write("token-bad", "s.notatoken", 0o600);
    assert_eq!(
        code(OpenBao::connect(&token_cfg(bad))),
        "openbao-auth-failed"
    );
    let good = lab.fx.write("token-good", &child, 0o600);
    let mut bao = OpenBao::connect(&token_cfg(good)).unwrap();
    bao.preflight(&bao.lane_needs(true, true)).unwrap();
    assert!(!bao.close().unwrap(), "a token file's token is not revoked");
    assert_eq!(
        lab.bao.live_tokens_named("agent-sink"),
        1,
        "an agent's token is not ours to revoke"
    );

    // No error text or Debug output holds a secret.
    let mut texts = vec![format!("{err} {err:?}")];
    let bao = lab.connect().unwrap();
    texts.push(format!("{:?}", bao.read_operator_key(&caller(&lab.fx))));
    texts.push(format!("{:?}", try_store(&bao, 1, 0)));
    texts.push(format!("{:?}", try_store(&bao, 2, 0)));
    texts.push(format!("{:?}", bao.read_runtime_key()));
    let mut secrets = lab.secrets();
    secrets.push(child.trim().to_string());
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    for t in &texts {
        assert_clean("error and debug text", t.as_bytes(), &refs);
    }
    assert_clean("bao server log", lab.bao.log().as_bytes(), &refs[..4]);
}

/// setup.sh binds and bounds the AppRole, reruns mint nothing, and a
/// response-wrapped secret_id is unwrapped once by a real `bao agent`, whose
/// token sink serves the lane (`auth = "token-file"`).
#[test]
fn an_agent_token_sink_serves_the_lane() {
    use std::process::{Command, Stdio};
    let lab = crate::common::lab::Lab::start("agent-sink");
    let approle = lab.fx.path("approle");

    // A rerun is idempotent: no second secret_id.
    let first = std::fs::read_to_string(approle.join("secret_id")).unwrap();
    let said = lab.bao.setup_lane_with(&approle, &[]);
    assert!(said.contains("new secret_id: no"), "{said}");
    assert_eq!(
        std::fs::read_to_string(approle.join("secret_id")).unwrap(),
        first
    );
    // Bound to the host's address, with a lifetime.
    let role: serde_json::Value = serde_json::from_str(&lab.bao.ok(&[
        "read",
        "-format=json",
        "auth/approle/role/ops-warden-host",
    ]))
    .unwrap();
    let d = &role["data"];
    assert_eq!(
        d["secret_id_bound_cidrs"],
        serde_json::json!(["127.0.0.1/32"])
    );
    assert_eq!(d["token_bound_cidrs"], serde_json::json!(["127.0.0.1"]));
    assert!(d["secret_id_ttl"].as_u64().unwrap() > 0, "{d:#}");

    // Wrapped delivery: no plain secret_id on disk.
    let wrapped = lab.fx.mkdir("agent-approle", 0o700);
    let said = lab.bao.setup_lane_with(&wrapped, &[("WRAP_TTL", "5m")]);
    assert!(said.contains("new secret_id: yes"), "{said}");
    assert!(!wrapped.join("secret_id").exists());
    let wrapping_token = std::fs::read_to_string(wrapped.join("secret_id.wrapped")).unwrap();

    // The shipped agent config, rendered for this host.
    let sink_dir = lab.fx.mkdir("agent", 0o700);
    let sink = sink_dir.join("ops-warden.token");
    let hcl = std::fs::read_to_string(crate::common::repo().join("host-config/openbao/agent.hcl"))
        .unwrap()
        .replace("@BAO_ADDR@", &lab.bao.addr)
        .replace("@CA_BUNDLE_LINE@", "")
        .replace("@APPROLE_DIR@", &wrapped.display().to_string())
        .replace("@SINK@", &sink.display().to_string());
    assert!(!hcl.contains('@'), "every placeholder filled");
    let hcl_path = lab.fx.write("agent.hcl", &hcl, 0o600);
    let log = std::fs::File::create(sink_dir.join("agent.log")).unwrap();
    let mut agent = Command::new(crate::common::bao::bao_path())
        .arg("agent")
        .arg(format!("-config={}", hcl_path.display()))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &sink_dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(&sink).map_or(true, |m| m.len() == 0) {
        assert!(
            std::time::Instant::now() < deadline,
            "no token in the sink: {}",
            std::fs::read_to_string(sink_dir.join("agent.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !wrapped.join("secret_id.wrapped").exists(),
        "the agent removes the wrapped secret_id after reading it"
    );
    // Single use: the wrapping token no longer unwraps (an interception shows).
    let again = lab.bao.bao(&["unwrap", wrapping_token.trim()]);
    assert!(!again.status.success());

    let text = std::fs::read_to_string(&lab.config).unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("role_id_file") && !l.starts_with("secret_id_file"))
        .map(|l| {
            if l == "auth = \"approle\"" {
                format!(
                    "auth = \"token-file\"\ntoken_file = \"{}\"\n",
                    sink.display()
                )
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let cfg = lab.fx.write("agent-lane.toml", &text, 0o644);
    for expect in ["created", "reused"] {
        let out = lab.force_command(&cfg, "bootstrap").output().unwrap();
        let doc = crate::common::evidence(&out);
        assert_eq!(out.status.code(), Some(0), "{doc:#}");
        assert_eq!(doc["result"]["runtime_key"]["status"], expect);
        // The sink's token belongs to the agent: ops-warden never revokes it.
        assert_eq!(doc["result"]["openbao"]["token_revoked"], false);
    }
    lab.assert_one_live_stored_key();
    let token = std::fs::read_to_string(&sink).unwrap();
    let mut look = lab.bao.bao_cmd(&["token", "lookup", "-format=json"]);
    look.env("BAO_TOKEN", token.trim());
    assert!(
        look.output().unwrap().status.success(),
        "the agent's token still works after two runs"
    );
    let _ = agent.kill();
    let _ = agent.wait();
    let mut secrets = lab.secrets();
    secrets.push(token.trim().to_string());
    secrets.push(wrapping_token.trim().to_string());
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_clean("audit", &std::fs::read(&lab.audit).unwrap(), &refs);
}

#[test]
fn check_config_online_reaches_both_services_and_changes_nothing() {
    use std::process::Command;
    let lab = crate::common::lab::Lab::start("checkcfg-online");
    let run = |cfg: &std::path::Path| {
        let out = Command::new(crate::common::bin())
            .arg("--config")
            .arg(cfg)
            .args(["check-config", "--online"])
            .output()
            .unwrap();
        let doc = crate::common::evidence(&out);
        crate::common::assert_schema_named("check-config.v1.schema.json", &doc);
        (out.status.code(), doc)
    };
    let writes = lab.sim.state()["writes"].clone();
    let (code, doc) = run(&lab.config);
    assert_eq!(code, Some(0), "{doc:#}");
    let names: Vec<&str> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["openbao.login", "openbao.preflight", "interhub.health"]
    );
    assert_eq!(lab.sim.state()["writes"], writes, "nothing written");
    assert!(lab.stored_key().is_none(), "no key made or stored");
    assert_eq!(lab.bao.live_tokens_named("approle"), 0, "its token revoked");

    // OpenBao unreachable: a service check fails, exit 69, the rest still said.
    let cfg = std::fs::read_to_string(&lab.config)
        .unwrap()
        .replace(&lab.bao.addr, "http://127.0.0.1:9");
    let cfg = lab.fx.write("dead-bao.toml", &cfg, 0o644);
    let (code, doc) = run(&cfg);
    assert_eq!(code, Some(69), "{doc:#}");
    assert_eq!(doc["checks"][0]["name"], "openbao.login");
    assert_eq!(doc["checks"][0]["ok"], false);
    assert_eq!(doc["checks"][1]["name"], "interhub.health");
    assert_eq!(doc["checks"][1]["ok"], true);
}
