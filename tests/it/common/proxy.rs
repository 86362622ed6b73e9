//! The fault-injecting proxy (tests/sim/fault_proxy.py) in front of OpenBao.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{repo, Fixture};

pub struct Proxy {
    pub addr: String,
    port: u16,
    child: Child,
}

impl Proxy {
    pub fn start(fx: &Fixture, upstream: &str) -> Proxy {
        let port_file = fx.path("proxy.port");
        let child = Command::new("python3")
            .arg(repo().join("tests/sim/fault_proxy.py"))
            .arg("--upstream")
            .arg(upstream)
            .arg("--port-file")
            .arg(&port_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(fx.path("proxy.log")).unwrap())
            .spawn()
            .expect("python3 runs the proxy");
        let deadline = Instant::now() + Duration::from_secs(10);
        let port = loop {
            if let Some(p) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|p| p.trim().parse::<u16>().ok())
            {
                break p;
            }
            assert!(Instant::now() < deadline, "the proxy did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        Proxy {
            addr: format!("http://127.0.0.1:{port}"),
            port,
            child,
        }
    }

    fn control(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let data = body.map(|b| b.to_string()).unwrap_or_default();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{data}",
            data.len()
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        serde_json::from_str(resp.split("\r\n\r\n").nth(1).unwrap_or("")).unwrap()
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

    pub fn held(&self) -> u64 {
        self.control("GET", "/_proxy/state", None)["held"]
            .as_u64()
            .expect("held")
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
