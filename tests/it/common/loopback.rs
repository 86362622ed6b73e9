//! The test services written in Python (the Inter-Hub simulator, the OpenBao
//! fault proxy): started on a loopback port, spoken to in plain HTTP/1.1.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A `tests/sim/` script running until dropped.
pub struct PyService {
    pub port: u16,
    child: Child,
}

impl PyService {
    /// Runs `script` with `args`, then `--port-file <port_file>`, and waits
    /// for the port it writes there; its stderr goes to `stderr_log`.
    pub fn start(script: &str, args: &[&OsStr], port_file: &Path, stderr_log: &Path) -> PyService {
        let child = Command::new("python3")
            .arg(super::repo().join("tests/sim").join(script))
            .args(args)
            .arg("--port-file")
            .arg(port_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(stderr_log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("python3 runs {script}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        let port = loop {
            if let Some(p) = std::fs::read_to_string(port_file)
                .ok()
                .and_then(|p| p.trim().parse::<u16>().ok())
            {
                break p;
            }
            assert!(Instant::now() < deadline, "{script} did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        PyService { port, child }
    }

    /// One request (`Connection: close`); the status and the JSON body
    /// (`null` when there is none).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, Value) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(t) = content_type {
            req.push_str(&format!("Content-Type: {t}\r\n"));
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.write_all(req.as_bytes()).unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let status: u16 = resp.split(' ').nth(1).unwrap().parse().unwrap();
        let body = resp.split("\r\n\r\n").nth(1).unwrap_or("");
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }
}

impl PyService {
    /// SIGKILL: its port refuses connections from now on, and whatever it
    /// was holding is cut.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PyService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
