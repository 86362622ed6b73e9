//! The Inter-Hub simulator (tests/sim/interhub_sim.py) on a loopback port.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{repo, Fixture};

pub struct Sim {
    pub port: u16,
    pub base: String,
    pub request_log: PathBuf,
    child: Child,
}

impl Sim {
    pub fn start(fx: &Fixture, operator_key: &str) -> Sim {
        let key_file = fx.write("sim/operator.key", operator_key, 0o600);
        let port_file = fx.path("sim/port");
        let request_log = fx.path("sim/requests.jsonl");
        let child = Command::new("python3")
            .arg(repo().join("tests/sim/interhub_sim.py"))
            .arg("--operator-key-file")
            .arg(&key_file)
            .arg("--port-file")
            .arg(&port_file)
            .arg("--request-log")
            .arg(&request_log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(fx.path("sim/stderr.log")).unwrap())
            .spawn()
            .expect("python3 runs the simulator");
        let deadline = Instant::now() + Duration::from_secs(10);
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(&port_file) {
                if let Ok(p) = p.trim().parse::<u16>() {
                    break p;
                }
            }
            assert!(Instant::now() < deadline, "simulator did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        Sim {
            port,
            base: format!("http://127.0.0.1:{port}"),
            request_log,
            child,
        }
    }

    /// A plain HTTP/1.1 request (Connection: close); returns status and JSON body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let data = body.map(|b| b.to_string()).unwrap_or_default();
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n", data.len());
        if body.is_some() {
            req.push_str("Content-Type: application/json\r\n");
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(&data);
        s.write_all(req.as_bytes()).unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let status: u16 = resp.split(' ').nth(1).unwrap().parse().unwrap();
        let body = resp.split("\r\n\r\n").nth(1).unwrap_or("");
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    pub fn state(&self) -> Value {
        self.request("GET", "/_sim/state", None, &[]).1
    }

    /// Every non-GET request received (token minting aside), whether or
    /// not it changed anything.
    pub fn writes(&self) -> u64 {
        self.state()["write_requests"]
            .as_u64()
            .expect("write_requests")
    }

    /// Active keys (ids and prefixes only; the simulator never shows secrets here).
    pub fn active_keys(&self) -> Vec<Value> {
        self.state()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["status"] == "active")
            .cloned()
            .collect()
    }

    pub fn fault(&self, f: Value) {
        let (st, _) = self.request("POST", "/_sim/faults", Some(&f), &[]);
        assert_eq!(st, 201);
    }

    /// A form-encoded POST (the token route).
    pub fn request_form(&self, path: &str, form: &str) -> (u16, Value) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let status: u16 = resp.split(' ').nth(1).unwrap().parse().unwrap();
        let body = resp.split("\r\n\r\n").nth(1).unwrap_or("");
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    /// Every key (revoked ones too) and access token the simulator issued.
    pub fn issued_secrets(&self) -> Vec<String> {
        let (st, v) = self.request("GET", "/_sim/secrets", None, &[]);
        assert_eq!(st, 200);
        ["keys", "tokens"]
            .iter()
            .flat_map(|k| v[*k].as_array().expect("a list").clone())
            .map(|s| s.as_str().expect("text").to_string())
            .collect()
    }

    /// Lets every request a `hold` fault is keeping go on.
    pub fn release(&self) {
        let (st, _) = self.request("POST", "/_sim/release", None, &[]);
        assert_eq!(st, 200);
    }

    /// Waits until `n` requests are held by `hold` faults.
    pub fn wait_held(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.state()["held"].as_u64() != Some(n) {
            assert!(Instant::now() < deadline, "{n} held requests never came");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Forgets everything: a fresh Inter-Hub (held requests are released).
    pub fn reset(&self) {
        let (st, _) = self.request("POST", "/_sim/reset", None, &[]);
        assert_eq!(st, 200);
    }

    pub fn clear_faults(&self) {
        self.request("DELETE", "/_sim/faults", None, &[]);
    }

    /// Mints an access token with a key, as a client would (form-encoded).
    pub fn token_status(&self, client_id: &str, key: &str) -> u16 {
        let form = format!(
            "grant_type=client_credentials&client_id={client_id}&client_secret={}&scope=framework%3Aread%20hub%3Aops-hub%3Aread%20hub%3Aops-hub%3Awrite",
            key.replace('-', "%2D")
        );
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let req = format!("POST /api/v2/token HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}", form.len());
        s.write_all(req.as_bytes()).unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        resp.split(' ').nth(1).unwrap().parse().unwrap()
    }

    /// Waits until a request with `method` and a path ending in `suffix` arrived.
    pub fn wait_for(&self, method: &str, suffix: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self
            .requests()
            .iter()
            .any(|r| r["method"] == method && r["path"].as_str().unwrap_or("").ends_with(suffix))
        {
            assert!(
                Instant::now() < deadline,
                "no {method} …{suffix} reached the simulator"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.request_log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
