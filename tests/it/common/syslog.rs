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
    pub fn start(fx: &Fixture) -> Rsyslog {
        let dir = fx.mkdir("rsyslog", 0o700);
        let socket = dir.join("log.sock");
        let output = dir.join("messages");
        let conf = dir.join("rsyslog.conf");
        std::fs::write(
            &conf,
            format!(
                r#"global(workDirectory="{dir}")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{socket}" CreatePath="on")
template(name="ow" type="string" string="%TIMESTAMP:::date-rfc3339% %HOSTNAME% %syslogfacility-text%.%syslogseverity-text% %syslogtag%%msg%\n")
*.* action(type="omfile" file="{output}" template="ow")
"#,
                dir = dir.display(),
                socket = socket.display(),
                output = output.display(),
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

    /// What rsyslogd wrote, once it holds at least `lines` lines with `needle`.
    pub fn wait_for(&self, needle: &str, lines: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = std::fs::read_to_string(&self.output).unwrap_or_default();
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
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
