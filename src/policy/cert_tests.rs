//! Certificate policy against certificates made by the real `ssh-keygen`.

use super::*;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        let lab = Lab {
            dir: tempfile::tempdir().unwrap(),
        };
        lab.keygen(&["-t", "ed25519", "-f", "ca"]);
        lab.keygen(&["-t", "ed25519", "-f", "other-ca"]);
        lab.keygen(&["-t", "ed25519", "-f", "user"]);
        lab
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn keygen(&self, args: &[&str]) {
        let out = Command::new("ssh-keygen")
            .current_dir(self.dir.path())
            .args(["-q", "-N", "", "-C", "test"])
            .args(args)
            .output()
            .expect("ssh-keygen is installed (openssh-client)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    /// Signs `user.pub` with `ca` and the given ssh-keygen options.
    fn sign(&self, ca: &str, opts: &[&str]) -> Certificate {
        let _ = std::fs::remove_file(self.path("user-cert.pub"));
        let out = Command::new("ssh-keygen")
            .current_dir(self.dir.path())
            .args(["-q", "-s", ca])
            .args(opts)
            .arg("user.pub")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        read_cert(&self.path("user-cert.pub"))
    }
    fn policy(&self) -> CertPolicy {
        let ca = std::fs::read_to_string(self.path("ca.pub")).unwrap();
        CertPolicy {
            principal: "agt-interhub-bootstrap".into(),
            require_sole_principal: true,
            key_id_pattern: KeyIdPattern::parse("agt-*-interhub-bootstrap*").unwrap(),
            pinned: vec![PinnedCa::from_openssh(&ca).unwrap()],
            max_ttl_secs: 20 * 60,
            clock_skew_secs: 60,
            allowed_critical_options: vec!["source-address".into()],
            require_source_address: false,
            allowed_extensions: vec![],
            single_use_verbs: vec!["bootstrap".into()],
        }
    }
}

fn read_cert(p: &Path) -> Certificate {
    Certificate::from_openssh(&std::fs::read_to_string(p).unwrap()).unwrap()
}

const GOOD: &[&str] = &[
    "-I",
    "agt-codex-interhub-bootstrap",
    "-n",
    "agt-interhub-bootstrap",
    "-V",
    "-1m:+5m",
    "-O",
    "clear",
];

fn with(extra: &[&'static str]) -> Vec<&'static str> {
    let mut v = GOOD.to_vec();
    v.extend_from_slice(extra);
    v
}

fn now() -> u64 {
    chrono::Utc::now().timestamp() as u64
}

fn code(r: Result<VerifiedCaller, Error>) -> &'static str {
    r.map(|_| "ok").unwrap_or_else(|e| e.code().as_str())
}

#[test]
fn good_certificate_is_verified() {
    let lab = Lab::new();
    let cert = lab.sign("ca", GOOD);
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let caller = verify(&lab.policy(), &cert, Some(ip), now()).unwrap();
    assert_eq!(caller.key_id(), "agt-codex-interhub-bootstrap");
    let c = caller.to_caller();
    assert_eq!(c.principal, "agt-interhub-bootstrap");
    assert_eq!(c.client_address.as_deref(), Some("127.0.0.1"));
    assert!(c.ca_fingerprint.starts_with("SHA256:"));
}

#[test]
fn each_violation_has_its_own_code() {
    let lab = Lab::new();
    let p = lab.policy();
    let t = now();
    let ip = Some("127.0.0.1".parse().unwrap());
    let check = |opts: &[&str], ca: &str| code(verify(&p, &lab.sign(ca, opts), ip, t));
    assert_eq!(check(GOOD, "other-ca"), "ca-not-pinned");
    assert_eq!(check(&with(&["-h"]), "ca"), "cert-not-user");
    let base = [
        "-I",
        "agt-codex-interhub-bootstrap",
        "-n",
        "agt-interhub-bootstrap",
        "-O",
        "clear",
    ];
    let v = |range: &'static str| {
        let mut o = base.to_vec();
        o.extend(["-V", range]);
        o
    };
    assert_eq!(check(&v("-2h:-1h"), "ca"), "cert-expired");
    assert_eq!(check(&v("+1h:+1h5m"), "ca"), "cert-not-yet-valid");
    assert_eq!(check(&v("-1m:+2h"), "ca"), "cert-ttl-too-long");
    assert_eq!(
        check(
            &[
                "-I",
                "agt-codex-interhub-bootstrap",
                "-V",
                "-1m:+5m",
                "-O",
                "clear"
            ],
            "ca"
        ),
        "principal-missing"
    );
    assert_eq!(
        check(
            &[
                "-I",
                "agt-codex-interhub-bootstrap",
                "-n",
                "root",
                "-V",
                "-1m:+5m",
                "-O",
                "clear"
            ],
            "ca"
        ),
        "principal-mismatch"
    );
    assert_eq!(
        check(
            &[
                "-I",
                "agt-codex-interhub-bootstrap",
                "-n",
                "agt-interhub-bootstrap,root",
                "-V",
                "-1m:+5m",
                "-O",
                "clear"
            ],
            "ca"
        ),
        "principal-not-sole"
    );
    assert_eq!(
        check(
            &[
                "-I",
                "someone-else",
                "-n",
                "agt-interhub-bootstrap",
                "-V",
                "-1m:+5m",
                "-O",
                "clear"
            ],
            "ca"
        ),
        "key-id-mismatch"
    );
    assert_eq!(
        check(&with(&["-O", "force-command=/bin/sh"]), "ca"),
        "critical-option-refused"
    );
    assert_eq!(
        check(&with(&["-O", "source-address=10.9.9.0/24"]), "ca"),
        "source-address-mismatch"
    );
    assert_eq!(
        check(&with(&["-O", "source-address=127.0.0.0/8,::1"]), "ca"),
        "ok"
    );
    assert_eq!(
        check(&with(&["-O", "permit-pty"]), "ca"),
        "extension-refused"
    );
    // Extensions are an allowlist: an unknown custom one is refused too.
    assert_eq!(
        check(&with(&["-O", "extension:login@example.com=x"]), "ca"),
        "extension-refused"
    );
}

#[test]
fn allowed_extensions_are_the_only_ones_accepted() {
    let lab = Lab::new();
    let mut p = lab.policy();
    p.allowed_extensions = vec!["login@example.com".into()];
    let ip = Some("127.0.0.1".parse().unwrap());
    let mut opts = GOOD.to_vec();
    opts.extend(["-O", "extension:login@example.com=x"]);
    assert_eq!(code(verify(&p, &lab.sign("ca", &opts), ip, now())), "ok");
    let mut opts = GOOD.to_vec();
    opts.extend(["-O", "permit-pty"]);
    assert_eq!(
        code(verify(&p, &lab.sign("ca", &opts), ip, now())),
        "extension-refused"
    );
}

#[test]
fn source_address_can_be_required_and_force_command_allowed() {
    let lab = Lab::new();
    let mut p = lab.policy();
    p.require_source_address = true;
    p.allowed_critical_options.push("force-command".into());
    let ip = Some("127.0.0.1".parse().unwrap());
    assert_eq!(
        code(verify(&p, &lab.sign("ca", GOOD), ip, now())),
        "source-address-required"
    );
    let cert = lab.sign(
        "ca",
        &with(&[
            "-O",
            "source-address=127.0.0.1",
            "-O",
            "force-command=bootstrap",
        ]),
    );
    assert_eq!(code(verify(&p, &cert, ip, now())), "ok");
    assert_eq!(
        code(verify(&p, &cert, None, now())),
        "source-address-mismatch"
    );
}

#[test]
fn clock_skew_is_bounded() {
    let lab = Lab::new();
    let p = lab.policy();
    let cert = lab.sign("ca", GOOD);
    let before = cert.valid_before();
    assert_eq!(code(verify(&p, &cert, None, before + 30)), "ok");
    assert_eq!(code(verify(&p, &cert, None, before + 61)), "cert-expired");
}

#[test]
fn tampered_signature_is_refused() {
    use base64::Engine;
    let lab = Lab::new();
    lab.sign("ca", GOOD);
    let text = std::fs::read_to_string(lab.path("user-cert.pub")).unwrap();
    let mut parts = text.split_whitespace();
    let (kind, blob) = (parts.next().unwrap(), parts.next().unwrap());
    let engine = base64::engine::general_purpose::STANDARD;
    let mut bytes = engine.decode(blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let forged = Certificate::from_openssh(&format!("{kind} {}", engine.encode(&bytes))).unwrap();
    assert_eq!(
        code(verify(&lab.policy(), &forged, None, now())),
        "cert-signature-invalid"
    );
}

#[test]
fn ecdsa_ca_is_supported() {
    let lab = Lab::new();
    lab.keygen(&["-t", "ecdsa", "-b", "256", "-f", "ec-ca"]);
    let mut p = lab.policy();
    let ec = std::fs::read_to_string(lab.path("ec-ca.pub")).unwrap();
    p.pinned = vec![PinnedCa::from_openssh(&ec).unwrap()];
    assert_eq!(
        code(verify(&p, &lab.sign("ec-ca", GOOD), None, now())),
        "ok"
    );
    assert_eq!(
        code(verify(&p, &lab.sign("ca", GOOD), None, now())),
        "ca-not-pinned"
    );
}

#[test]
fn rsa_ca_is_supported() {
    let lab = Lab::new();
    lab.keygen(&["-t", "rsa", "-b", "3072", "-f", "rsa-ca"]);
    let mut p = lab.policy();
    let rsa = std::fs::read_to_string(lab.path("rsa-ca.pub")).unwrap();
    p.pinned = vec![PinnedCa::from_openssh(&rsa).unwrap()];
    let cert = lab.sign("rsa-ca", GOOD);
    assert_eq!(code(verify(&p, &cert, None, now())), "ok");
}
