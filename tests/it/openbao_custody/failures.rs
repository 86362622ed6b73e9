//! Failures with their own codes: capabilities, 403s, bad key values, sealed/slow/TLS, credentials.

use std::path::PathBuf;
use std::time::Duration;

use super::{caller, code, try_store, Lab, OPERATOR_PATH, RUNTIME_PATH};
use crate::common::scan::assert_clean;
use ops_warden::testing::{OpenBao, OpenbaoAuth, OpenbaoConfig};

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
    cfg.addrs = vec![format!("http://127.0.0.1:{port}")];
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
    cfg.addrs = vec![format!("https://127.0.0.1:{port}")];
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
