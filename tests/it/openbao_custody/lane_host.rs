//! OpenBao through the binary: a `bao agent` token sink serves the lane; `check-config --online`.

use std::time::Duration;

use crate::common::scan::assert_clean;

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
        [
            "openbao.login",
            "openbao.preflight",
            "openbao.revoke",
            "interhub.health"
        ]
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
