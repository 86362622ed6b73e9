//! The Inter-Hub simulator (tests/sim/interhub_sim.py) on a loopback port.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::loopback::PyService;
use super::Fixture;

pub struct Sim {
    pub port: u16,
    pub base: String,
    pub request_log: PathBuf,
    operator_key: String,
    svc: PyService,
}

impl Sim {
    pub fn start(fx: &Fixture, operator_key: &str) -> Sim {
        Self::start_with(fx, operator_key, &[])
    }

    /// Also listening over TLS on `ip` (a fleet's bridge address), with
    /// this certificate; returns the simulator and that listener's base URL.
    pub fn start_tls(
        fx: &Fixture,
        operator_key: &str,
        ip: &str,
        cert: &std::path::Path,
        key: &std::path::Path,
    ) -> (Sim, String) {
        let port_file = fx.path("sim/tls-port");
        let sim = Self::start_with(
            fx,
            operator_key,
            &[
                OsStr::new("--tls-host"),
                OsStr::new(ip),
                OsStr::new("--tls-cert"),
                cert.as_os_str(),
                OsStr::new("--tls-key"),
                key.as_os_str(),
                OsStr::new("--tls-port-file"),
                port_file.as_os_str(),
            ],
        );
        let port = std::fs::read_to_string(&port_file).expect("the TLS listener's port");
        (sim, format!("https://{ip}:{}", port.trim()))
    }

    fn start_with(fx: &Fixture, operator_key: &str, extra: &[&OsStr]) -> Sim {
        let key_file = fx.write("sim/operator.key", operator_key, 0o600);
        let request_log = fx.path("sim/requests.jsonl");
        let mut args = vec![
            OsStr::new("--operator-key-file"),
            key_file.as_os_str(),
            OsStr::new("--request-log"),
            request_log.as_os_str(),
        ];
        args.extend_from_slice(extra);
        let svc = PyService::start(
            "interhub_sim.py",
            &args,
            &fx.path("sim/port"),
            &fx.path("sim/stderr.log"),
        );
        Sim {
            port: svc.port,
            base: format!("http://127.0.0.1:{}", svc.port),
            request_log,
            operator_key: operator_key.to_string(),
            svc,
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
        let data = body.map(|b| b.to_string()).unwrap_or_default();
        let ctype = body.map(|_| "application/json");
        self.svc.request(method, path, ctype, headers, &data)
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

    /// Revokes the one live key at Inter-Hub, as an operator would (a key
    /// that leaked, or someone else's doing).
    pub fn revoke_the_live_key(&self) {
        let live = self.active_keys();
        assert_eq!(live.len(), 1, "one live key to revoke");
        let cons = self.state()["consumers"][0]["id"]
            .as_str()
            .expect("consumer id")
            .to_string();
        let id = live[0]["id"].as_str().expect("key id");
        let bearer = format!("Bearer {}", self.operator_key);
        let (st, _) = self.request(
            "DELETE",
            &format!("/api/v2/admin/api-consumers/{cons}/keys/{id}"),
            None,
            &[("Authorization", &bearer)],
        );
        assert_eq!(st, 204);
    }

    /// A form-encoded POST (the token route).
    pub fn request_form(&self, path: &str, form: &str) -> (u16, Value) {
        let ctype = Some("application/x-www-form-urlencoded");
        self.svc.request("POST", path, ctype, &[], form)
    }

    /// Every key (revoked ones too) and access token this simulator process
    /// issued, resets included (the simulator keeps an append-only record).
    pub fn issued_secrets(&self) -> Vec<String> {
        let (st, v) = self.request("GET", "/_sim/secrets", None, &[]);
        assert_eq!(st, 200);
        ["keys", "tokens"]
            .iter()
            .flat_map(|k| v[*k].as_array().expect("a list").clone())
            .map(|s| s.as_str().expect("text").to_string())
            .collect()
    }

    /// `[method, path]` of each request a fault was applied to since the
    /// faults were last cleared (`clear_faults`, `reset`): proof that the
    /// faulted request was made.
    pub fn fired(&self) -> Vec<Value> {
        self.state()["fired"].as_array().expect("fired").clone()
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
        self.request_form("/api/v2/token", &form).0
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

    /// Every answer `ms` away from now on (a distant Inter-Hub).
    pub fn set_latency(&self, ms: u64) {
        let (st, _) = self.request(
            "POST",
            "/_sim/latency",
            Some(&serde_json::json!({"ms": ms})),
            &[],
        );
        assert_eq!(st, 200);
    }

    /// Restarts the in-flight high-water mark and the write count.
    pub fn clear_counters(&self) {
        assert_eq!(self.request("DELETE", "/_sim/counters", None, &[]).0, 200);
    }

    /// Most requests in flight at once since the last reset.
    pub fn in_flight_max(&self) -> u64 {
        self.state()["in_flight_max"]
            .as_u64()
            .expect("in_flight_max")
    }

    /// How many `method` requests reached the simulator.
    pub fn count(&self, method: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r["method"] == method)
            .count()
    }

    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.request_log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}
