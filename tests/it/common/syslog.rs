//! A real rsyslogd (Debian's package) on a socket and an output file of the
//! test's own: the audit anchor is checked against what syslog really kept.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::Fixture;

pub struct Rsyslog {
    pub socket: PathBuf,
    pub output: PathBuf,
    child: Child,
    dir: PathBuf,
}

impl Rsyslog {
    /// rsyslogd with the shipped anchor configuration
    /// (`host-config/rsyslog/ops-warden-anchor.conf`), its socket and file
    /// moved into the test's folder.
    pub fn start(fx: &Fixture) -> Rsyslog {
        let dir = fx.mkdir("rsyslog", 0o700);
        let socket = dir.join("log.sock");
        let output = dir.join("anchor.json");
        let conf = dir.join("rsyslog.conf");
        let shipped = std::fs::read_to_string(
            crate::common::repo().join("host-config/rsyslog/ops-warden-anchor.conf"),
        )
        .unwrap();
        let moved = shipped
            .replace("/run/ops-warden-syslog.sock", &socket.display().to_string())
            .replace(
                "/var/log/ops-warden-anchor.json",
                &output.display().to_string(),
            )
            .replace(" fileGroup=\"adm\"", "");
        assert_ne!(moved, shipped, "the shipped paths moved");
        std::fs::write(
            &conf,
            format!(
                "global(workDirectory=\"{dir}\")\nmodule(load=\"imuxsock\" SysSock.Use=\"off\")\n{moved}",
                dir = dir.display(),
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("rsyslogd.log")).unwrap();
        let child = Command::new("/usr/sbin/rsyslogd")
            .args(["-n", "-f"])
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("rsyslogd (Debian's rsyslog) is installed: tests/setup.sh");
        let r = Rsyslog {
            socket,
            output,
            child,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while !r.socket.exists() {
            assert!(
                Instant::now() < deadline,
                "rsyslogd did not start: {}",
                r.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        r
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("rsyslogd.log")).unwrap_or_default()
    }

    /// What rsyslogd wrote, one line per message as a plain syslog file
    /// shows it (`facility.severity tag message`), once it holds at least
    /// `lines` lines with `needle`.
    pub fn wait_for(&self, needle: &str, lines: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = self.text();
            if text.lines().filter(|l| l.contains(needle)).count() >= lines {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "syslog never got {lines} lines with {needle:?}: {text}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The anchor file rendered as plain syslog lines.
    pub fn text(&self) -> String {
        let raw = std::fs::read_to_string(&self.output).unwrap_or_default();
        let mut out = String::new();
        for line in raw.lines() {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("rsyslog wrote a line that is not JSON ({e}): {line}"));
            let f = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            out.push_str(&format!(
                "{} {}.{} {}{}\n",
                f("time"),
                f("facility"),
                f("severity"),
                f("tag"),
                f("message")
            ));
        }
        out
    }

    /// The anchor file's JSON lines (with the senders' trusted fields).
    pub fn entries(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.output)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
