//! The test services written in Python (the Inter-Hub simulator, the OpenBao
//! fault proxy): started on a loopback port, spoken to in plain HTTP/1.1.

use std::ffi::OsStr;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long one request to a test service may take, connect to last byte:
/// a hung service fails the test that asked, instead of hanging it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A `tests/sim/` script running until dropped.
pub struct PyService {
    pub port: u16,
    script: String,
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
        PyService {
            port,
            script: script.to_string(),
            child,
        }
    }

    /// One request (`Connection: close`); the status and the JSON body
    /// (`null` when there is none). Panics, naming the service and the
    /// request, if it takes more than `REQUEST_TIMEOUT` in all.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, Value) {
        let what = format!("{method} {path} to {} on port {}", self.script, self.port);
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut s =
            TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT).unwrap_or_else(|e| failed(&what, e));
        s.set_write_timeout(Some(REQUEST_TIMEOUT))
            .unwrap_or_else(|e| failed(&what, e));
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
        s.write_all(req.as_bytes())
            .unwrap_or_else(|e| failed(&what, e));
        // Read to the end, within what is left of the time allowed.
        let mut raw = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .unwrap_or_else(|| failed(&what, ErrorKind::TimedOut.into()));
            s.set_read_timeout(Some(left))
                .unwrap_or_else(|e| failed(&what, e));
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => failed(&what, e),
            }
        }
        let resp = String::from_utf8_lossy(&raw);
        let status: u16 = resp
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("{what}: not an HTTP answer: {resp:?}"));
        let body = resp.split("\r\n\r\n").nth(1).unwrap_or("");
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }
}

/// A request to a test service that failed: a timeout says the service hangs.
fn failed(what: &str, e: std::io::Error) -> ! {
    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
        panic!(
            "{what}: no answer within {} s (the service hangs)",
            REQUEST_TIMEOUT.as_secs()
        );
    }
    panic!("{what}: {e}");
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
