//! The attended path: an operator on the host with an operator key file.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Barrier;

use crate::common::lab::{Lab, OPERATOR_KEY};
use crate::common::scan::{assert_clean, assert_run_clean};
use crate::common::{assert_schema, bin, code_of, evidence};

#[test]
fn the_operator_key_file_is_checked_used_and_removed() {
    let lab = Lab::start("attended");
    // Too open: refused, saying why, and left alone.
    let open = lab.fx.write("op-open.key", OPERATOR_KEY, 0o644);
    let out = crate::common::attended(&lab.config, &open, &[])
        .output()
        .unwrap();
    let doc = evidence(&out);
    assert_schema(&doc);
    assert_eq!(code_of(&doc), "key-file-untrusted");
    assert_eq!(out.status.code(), Some(77));
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("mode 0644"),
        "{doc:#}"
    );
    assert!(open.exists());
    assert!(
        lab.sim.state()["hubs"].as_array().unwrap().is_empty(),
        "nothing happened"
    );

    // Owned by someone else: refused.
    crate::common::sshd::ensure_lane_user();
    let theirs = lab.fx.write("op-theirs.key", OPERATOR_KEY, 0o600);
    lab.fx.chown(&theirs, crate::common::sshd::LANE_USER);
    let out = crate::common::attended(&lab.config, &theirs, &[])
        .output()
        .unwrap();
    let doc = evidence(&out);
    assert_eq!(code_of(&doc), "key-file-untrusted");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("owned by uid"),
        "{doc:#}"
    );

    // A symlink to a good file: refused.
    let good = lab.fx.write("op.key", &format!("{OPERATOR_KEY}\n"), 0o600);
    let link = lab.fx.path("op-link.key");
    std::os::unix::fs::symlink(&good, &link).unwrap();
    let out = crate::common::attended(&lab.config, &link, &[])
        .output()
        .unwrap();
    assert_eq!(code_of(&evidence(&out)), "key-file-untrusted");

    // Good: used, then removed; the runtime key lands in OpenBao.
    let out = crate::common::attended(&lab.config, &good, &[])
        .output()
        .unwrap();
    let doc = evidence(&out);
    assert_schema(&doc);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert_eq!(doc["mode"], "attended");
    assert_eq!(doc["result"]["runtime_key"]["status"], "created");
    assert_eq!(doc["result"]["operator_key_file_removed"], true);
    assert!(
        !good.exists(),
        "the operator key file is removed after the run"
    );
    lab.assert_one_live_stored_key();

    // --keep-operator-key-file keeps it; a supplied runtime key file is proven and reused.
    let kept = lab.fx.write("op-kept.key", OPERATOR_KEY, 0o600);
    let (runtime, _) = lab.stored_key().unwrap();
    let rt_file = lab.fx.write("runtime.key", &runtime, 0o600);
    let out = crate::common::attended(
        &lab.config,
        &kept,
        &[
            "--keep-operator-key-file",
            "--runtime-key-file",
            rt_file.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    let doc = evidence(&out);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert_eq!(doc["result"]["runtime_key"]["status"], "reused");
    assert!(kept.exists());
    lab.assert_one_live_stored_key();

    // A supplied key that differs from the stored one is refused.
    let wrong = lab.fx.write(
        "runtime-wrong.key",
        "ihk_00000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        0o600,
    );
    let out = crate::common::attended(
        &lab.config,
        &kept,
        &[
            "--keep-operator-key-file",
            "--runtime-key-file",
            wrong.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert_eq!(code_of(&evidence(&out)), "runtime-key-invalid");

    // BAO_ADDR is honoured in attended use only, and only when it names one
    // of openbao.addr's entries (N5): with the config pointing elsewhere it
    // is ignored, and said so.
    let cfg = std::fs::read_to_string(&lab.config)
        .unwrap()
        .replace(&lab.bao.addr, "http://127.0.0.1:9");
    let cfg = lab.fx.write("wrong-addr.toml", &cfg, 0o644);
    let out = crate::common::attended(&cfg, &kept, &["--keep-operator-key-file"])
        .env("BAO_ADDR", &lab.bao.addr)
        .env("VAULT_SKIP_VERIFY", "1")
        .output()
        .unwrap();
    assert_eq!(code_of(&evidence(&out)), "openbao-unreachable");
    assert!(String::from_utf8_lossy(&out.stderr).contains("is ignored"));
    let forced = lab
        .force_command(&cfg, "bootstrap")
        .env("BAO_ADDR", &lab.bao.addr)
        .output()
        .unwrap();
    assert_eq!(
        code_of(&evidence(&forced)),
        "openbao-unreachable",
        "sshd's client cannot redirect OpenBao"
    );

    let secrets = lab.secrets();
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_clean("audit", &std::fs::read(&lab.audit).unwrap(), &refs);
    audit_verifies(&lab);
}

/// `audit verify` over the lab's trail passes.
fn audit_verifies(lab: &Lab) {
    let av = Command::new(bin())
        .arg("--config")
        .arg(&lab.config)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert_eq!(
        av.status.code(),
        Some(0),
        "the audit chain verifies: {}",
        String::from_utf8_lossy(&av.stdout)
    );
}

/// Accepts connections on a loopback port and records whether any came.
fn capture_listener() -> (String, std::sync::mpsc::Receiver<Vec<u8>>) {
    use std::io::Read;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", l.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let mut s = s.unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_millis(500)))
                .unwrap();
            let mut buf = vec![0u8; 8192];
            let n = s.read(&mut buf).unwrap_or(0);
            let _ = tx.send(buf[..n].to_vec());
        }
    });
    (addr, rx)
}

#[test]
fn a_stale_vault_addr_never_receives_the_hosts_credentials() {
    let lab = Lab::start("attended-addr");
    let key = lab.fx.write("op.key", OPERATOR_KEY, 0o600);

    // VAULT_ADDR alone redirects nothing: the config's address is used, and
    // stderr says which address that is before any credential is sent.
    let (trap, caught) = capture_listener();
    let out = crate::common::attended(&lab.config, &key, &["--keep-operator-key-file"])
        .env("VAULT_ADDR", &trap)
        .output()
        .unwrap();
    let doc = evidence(&out);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert!(
        caught.try_recv().is_err(),
        "nothing was sent to VAULT_ADDR's address"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("OpenBao at {} (from the config)", lab.bao.addr)),
        "{err}"
    );
    assert!(err.contains("VAULT_ADDR/VAULT_CACERT are ignored"), "{err}");

    // An explicit --openbao-addr is honoured (config pointing elsewhere).
    let cfg = std::fs::read_to_string(&lab.config)
        .unwrap()
        .replace(&lab.bao.addr, "http://127.0.0.1:9");
    let cfg = lab.fx.write("wrong-addr.toml", &cfg, 0o644);
    let out = crate::common::attended(
        &cfg,
        &key,
        &["--keep-operator-key-file", "--openbao-addr", &lab.bao.addr],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:#}", evidence(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!(
        "OpenBao at {} (from --openbao-addr)",
        lab.bao.addr
    )));

    // N5: BAO_ADDR that is not one of openbao.addr's entries is ignored,
    // even a loopback port any local user may have bound: the listener there
    // receives nothing (no role_id, no secret_id), and the run uses the
    // config's address and says why.
    let (trap, caught) = capture_listener();
    let out = crate::common::attended(&lab.config, &key, &["--keep-operator-key-file"])
        .env("BAO_ADDR", &trap)
        .output()
        .unwrap();
    let doc = evidence(&out);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert!(
        caught
            .recv_timeout(std::time::Duration::from_secs(1))
            .is_err(),
        "nothing was sent to BAO_ADDR's address"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("BAO_ADDR={trap} is ignored")),
        "{err}"
    );
    assert!(
        err.contains(&format!("OpenBao at {} (from the config)", lab.bao.addr)),
        "{err}"
    );
    // BAO_ADDR naming one of the configured nodes changes nothing (the
    // whole node list and its CA stay), and is said.
    let out = crate::common::attended(&lab.config, &key, &["--keep-operator-key-file"])
        .env("BAO_ADDR", &lab.bao.addr)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:#}", evidence(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!(
        "OpenBao at {} (from the config; BAO_ADDR names one of its nodes)",
        lab.bao.addr
    )));

    // Another https address without a pinned CA: refused, nothing sent.
    let (trap, caught) = capture_listener();
    let https = trap.replace("http://", "https://");
    let out = crate::common::attended(
        &lab.config,
        &key,
        &["--keep-operator-key-file", "--openbao-addr", &https],
    )
    .output()
    .unwrap();
    let doc = evidence(&out);
    assert_eq!(code_of(&doc), "config-invalid", "{doc:#}");
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--openbao-addr: differs from openbao.addr: pin its CA"));
    assert!(caught.try_recv().is_err());

    let secrets = lab.secrets();
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_clean("audit", &std::fs::read(&lab.audit).unwrap(), &refs);
}

/// Every file and folder under `dir` (not `dir` itself), depth first.
fn everything_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let is_dir = std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir());
        out.push(p.clone());
        if is_dir {
            everything_under(&p, out);
        }
    }
}

/// Everything in `dir` is owned by `dir`'s owner, who is not root.
fn assert_owned_by_folder_owner(dir: &Path) {
    let owner = std::fs::metadata(dir).unwrap().uid();
    assert_ne!(owner, 0, "{} is the lane user's", dir.display());
    let mut all = Vec::new();
    everything_under(dir, &mut all);
    let wrong: Vec<String> = all
        .iter()
        .filter_map(|p| {
            let uid = std::fs::symlink_metadata(p).ok()?.uid();
            (uid != owner).then(|| format!("{} (uid {uid})", p.display()))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "owned by another than {}'s owner (uid {owner}): {wrong:?}",
        dir.display()
    );
}

/// Issue 18 §4: twenty attended root runs started together on one host
/// (one config, one state folder, one audit log): each is ok or `busy`
/// (exit 75), none fails to write its audit record, at least one is ok; the
/// audit chain verifies, and nothing in the lane's folders became root's.
#[test]
fn twenty_attended_root_runs_sharing_one_lane_are_ok_or_busy() {
    crate::common::require_root();
    // The lab's config waits 1 s for a lock (`state.lock_wait_secs`): a
    // run that does not get it ends `busy` promptly.
    let lab = Lab::start("attended-twenty");
    // Each run its own operator key file (a run removes its file).
    let keys: Vec<PathBuf> = (0..20)
        .map(|i| lab.fx.write(&format!("op-{i}.key"), OPERATOR_KEY, 0o600))
        .collect();
    let start = Barrier::new(keys.len());
    let outs: Vec<Output> = std::thread::scope(|s| {
        let handles: Vec<_> = keys
            .iter()
            .map(|k| {
                let mut cmd = crate::common::attended(&lab.config, k, &[]);
                let start = &start;
                s.spawn(move || {
                    start.wait();
                    cmd.output().expect("the attended run starts")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let (mut ok, mut busy) = (0, 0);
    for (i, o) in outs.iter().enumerate() {
        let doc = evidence(o);
        assert_schema(&doc);
        let code = code_of(&doc).to_string();
        assert_ne!(code, "audit-write-failed", "run {i}: {doc:#}");
        match o.status.code() {
            Some(0) => {
                let status = doc["result"]["runtime_key"]["status"].as_str();
                assert!(
                    matches!(status, Some("created" | "reused")),
                    "run {i}: {doc:#}"
                );
                ok += 1;
            }
            Some(75) if code == "busy" => busy += 1,
            other => panic!(
                "run {i}: exit {other:?} ({code}), neither ok nor busy: {doc:#}\n{}",
                String::from_utf8_lossy(&o.stderr)
            ),
        }
    }
    eprintln!("twenty attended runs at once: {ok} ok, {busy} busy");
    assert!(ok >= 1, "at least one run is ok ({busy} busy)");
    lab.assert_one_live_stored_key();
    audit_verifies(&lab);
    for dir in ["state", "log"] {
        assert_owned_by_folder_owner(&lab.fx.path(dir));
    }
    let audit = std::fs::read(&lab.audit).unwrap();
    let refs: Vec<&Output> = outs.iter().collect();
    assert_run_clean(&refs, &audit, &lab.secrets());
}
