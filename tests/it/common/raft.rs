//! A real 3-node OpenBao raft cluster (tests/lab/raft_cluster.py): started
//! per test, its leader killed and nodes restarted on demand, all of it
//! stopped on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::bao::{bao_path, Bao};
use super::{repo, Fixture};

pub struct Cluster {
    dir: PathBuf,
    /// Node name → plain (management) address and TLS address.
    nodes: Vec<(String, String, Option<String>)>,
    root_token: String,
}

/// A TLS listener on `ip` for every node (hosts in network namespaces).
pub struct Tls<'a> {
    pub ip: &'a str,
    pub cert: &'a Path,
    pub key: &'a Path,
}

impl Cluster {
    pub fn up(fx: &Fixture, tls: Option<Tls>) -> Cluster {
        let dir = fx.mkdir("raft", 0o700);
        let mut args = vec![
            "up".to_string(),
            "--dir".into(),
            dir.display().to_string(),
            "--bao".into(),
            bao_path().display().to_string(),
        ];
        if let Some(t) = &tls {
            args.extend([
                "--tls-addr".to_string(),
                t.ip.to_string(),
                "--tls-cert".into(),
                t.cert.display().to_string(),
                "--tls-key".into(),
                t.key.display().to_string(),
            ]);
        }
        let mut c = Cluster {
            dir,
            nodes: Vec::new(),
            root_token: String::new(),
        };
        let up = c.script(&args.iter().map(String::as_str).collect::<Vec<_>>());
        c.nodes = up["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| {
                (
                    n["name"].as_str().unwrap().to_string(),
                    n["addr"].as_str().unwrap().to_string(),
                    n["tls_addr"].as_str().map(String::from),
                )
            })
            .collect();
        let state: Value =
            serde_json::from_slice(&std::fs::read(c.dir.join("cluster.json")).unwrap()).unwrap();
        c.root_token = state["root_token"].as_str().expect("root token").into();
        c
    }

    fn script(&self, args: &[&str]) -> Value {
        let out = super::succeed(
            Command::new("python3")
                .arg(repo().join("tests/lab/raft_cluster.py"))
                .args(args),
            &format!("raft_cluster.py {args:?}"),
        );
        serde_json::from_slice(&out.stdout).expect("raft_cluster.py prints JSON")
    }

    fn dir_arg(&self) -> String {
        self.dir.display().to_string()
    }

    /// The active node's name, waiting up to `wait_secs` for an election.
    pub fn leader(&self, wait_secs: u32) -> String {
        let v = self.script(&[
            "leader",
            "--dir",
            &self.dir_arg(),
            "--wait",
            &wait_secs.to_string(),
        ]);
        v["leader"].as_str().expect("leader").to_string()
    }

    /// SIGKILLs a node (or "leader"); returns its name.
    pub fn kill(&self, node: &str) -> String {
        let v = self.script(&["kill", "--dir", &self.dir_arg(), "--node", node]);
        v["killed"].as_str().expect("killed").to_string()
    }

    /// Restarts a killed node and unseals it; back as a member that knows the leader.
    pub fn start(&self, node: &str) {
        self.script(&["start", "--dir", &self.dir_arg(), "--node", node]);
    }

    pub fn addr(&self, node: &str) -> &str {
        &self.node(node).1
    }

    pub fn tls_addr(&self, node: &str) -> &str {
        self.node(node).2.as_deref().expect("a TLS listener")
    }

    fn node(&self, name: &str) -> &(String, String, Option<String>) {
        self.nodes
            .iter()
            .find(|n| n.0 == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    pub fn names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.0.clone()).collect()
    }

    /// An admin view through the current leader (root token, every node's
    /// raw audit log for the output scans).
    pub fn admin(&self, home: PathBuf) -> Bao {
        let leader = self.leader(30);
        let logs = vec![self.dir.join("audit.log")];
        Bao::attach(self.addr(&leader), &self.root_token, home, logs)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let down = Command::new("python3")
            .arg(repo().join("tests/lab/raft_cluster.py"))
            .args(["down", "--dir", &self.dir_arg()])
            .output();
        if !down.is_ok_and(|o| o.status.success()) {
            // Its state file went with the fixture: the servers are found
            // by the config path on their command line.
            let _ = Command::new("pkill")
                .args(["-KILL", "-f"])
                .arg(format!("{}/n[0-9]/config.hcl", self.dir.display()))
                .output();
        }
    }
}
