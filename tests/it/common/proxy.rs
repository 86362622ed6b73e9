//! The fault-injecting proxy (tests/sim/fault_proxy.py) in front of OpenBao.

use std::ffi::OsStr;

use serde_json::Value;

use super::loopback::PyService;
use super::Fixture;

pub struct Proxy {
    pub addr: String,
    svc: PyService,
}

impl Proxy {
    pub fn start(fx: &Fixture, upstream: &str) -> Proxy {
        Self::start_named(fx, upstream, "proxy")
    }

    /// Another proxy in the same fixture (`name` keeps its files apart).
    pub fn start_named(fx: &Fixture, upstream: &str, name: &str) -> Proxy {
        let svc = PyService::start(
            "fault_proxy.py",
            &[OsStr::new("--upstream"), OsStr::new(upstream)],
            &fx.path(&format!("{name}.port")),
            &fx.path(&format!("{name}.log")),
        );
        Proxy {
            addr: format!("http://127.0.0.1:{}", svc.port),
            svc,
        }
    }

    fn control(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let data = body.map(|b| b.to_string()).unwrap_or_default();
        let (status, answer) = self.svc.request(method, path, None, &[], &data);
        assert_eq!(status, 200, "{path}: {answer}");
        answer
    }

    pub fn fault(&self, f: Value) {
        self.control("POST", "/_proxy/faults", Some(&f));
    }

    pub fn clear_faults(&self) {
        self.control("DELETE", "/_proxy/faults", None);
    }

    pub fn release(&self) {
        self.control("POST", "/_proxy/release", None);
    }

    /// Gone, like the node behind it: a request it holds is cut, and its
    /// port refuses connections.
    pub fn kill(&mut self) {
        self.svc.kill();
    }

    /// `[method, path]` of each request a fault was applied to since the
    /// faults were last cleared: proof that the faulted request was made.
    pub fn fired(&self) -> Vec<Value> {
        self.control("GET", "/_proxy/state", None)["fired"]
            .as_array()
            .expect("fired")
            .clone()
    }

    pub fn held(&self) -> u64 {
        self.control("GET", "/_proxy/state", None)["held"]
            .as_u64()
            .expect("held")
    }
}
