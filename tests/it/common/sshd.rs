//! A real OpenSSH server on 127.0.0.1 running ops-warden as the ForceCommand,
//! configured from host-config/'s own snippet.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{bin, free_port, repo, Fixture};

pub const LANE_USER: &str = "ow-lane";
/// The lane user's home: an empty folder that is root's, as the package
/// makes it (a home the lane user could write is where PAM would read
/// `~/.pam_environment` before ops-warden starts).
pub const LANE_HOME: &str = "/var/lib/ow-lane-home";
static USER_LOCK: Mutex<()> = Mutex::new(());

/// Makes [`LANE_HOME`]: root:root, 0755.
pub fn ensure_lane_home() {
    let home = Path::new(LANE_HOME);
    std::fs::create_dir_all(home).unwrap();
    nix::unistd::chown(
        home,
        Some(nix::unistd::Uid::from_raw(0)),
        Some(nix::unistd::Gid::from_raw(0)),
    )
    .unwrap();
    std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Creates the lane user once: /bin/sh shell (it runs the ForceCommand), no
/// password but not locked (`usermod -p '*'`, since UsePAM is off), home
/// [`LANE_HOME`] (a user an older run made with a home of its own is moved).
pub fn ensure_lane_user() {
    let _g = USER_LOCK.lock().unwrap();
    ensure_lane_home();
    match nix::unistd::User::from_name(LANE_USER).unwrap() {
        None => {
            let st = Command::new("useradd")
                .args(["-M", "-d", LANE_HOME, "-s", "/bin/sh", LANE_USER])
                .status()
                .expect("useradd");
            assert!(st.success(), "useradd {LANE_USER}");
        }
        Some(u) if u.dir != Path::new(LANE_HOME) => {
            let st = Command::new("usermod")
                .args(["-d", LANE_HOME, LANE_USER])
                .status()
                .expect("usermod");
            assert!(
                st.success(),
                "usermod -d {LANE_HOME} {LANE_USER} (a process of {LANE_USER} still running?)"
            );
        }
        Some(_) => {}
    }
    let st = Command::new("usermod")
        .args(["-p", "*", LANE_USER])
        .status()
        .unwrap();
    assert!(st.success());
}

/// Paths of one lane host: keys, certs, config, audit, sshd.
pub struct LaneHost {
    pub fx: Fixture,
    pub port: u16,
    /// The address sshd listens on (127.0.0.1, or its network namespace's).
    pub addr: String,
    child: Child,
    pub config: PathBuf,
    pub audit: PathBuf,
}

/// Knobs a test may set before the host starts.
pub struct LaneOptions {
    pub max_ttl_secs: u64,
    /// Extra TOML appended to the config (openbao/interhub sections).
    pub extra_config: String,
    /// Lines added to the `[lane]` table.
    pub lane_extra: String,
    /// The CA the lane pins (and sshd trusts), e.g. OpenBao's SSH CA; a
    /// generated `lane-ca` when `None`.
    pub pinned_ca: Option<String>,
    /// (namespace, address): sshd runs in that network namespace, on port 22
    /// of that address (a host of a fleet).
    pub netns: Option<(String, String)>,
    /// The product's default: a certificate serves `bootstrap` once. Off
    /// (`lane.single_use_verbs = []`) for the tests that reuse one
    /// certificate for many runs; `gate_sshd` tests it on.
    pub single_use: bool,
}

impl Default for LaneOptions {
    fn default() -> Self {
        LaneOptions {
            max_ttl_secs: 20 * 60,
            extra_config: String::new(),
            lane_extra: String::new(),
            pinned_ca: None,
            netns: None,
            single_use: false,
        }
    }
}

impl LaneHost {
    /// Keys: `lane-ca` (pinned by ops-warden and trusted by sshd), `other-ca`
    /// (trusted by sshd only), `user` (the caller's key).
    pub fn start(name: &str, opts: LaneOptions) -> LaneHost {
        super::require_root();
        ensure_lane_user();
        let fx = Fixture::new(name);
        fx.keygen(&["-t", "ed25519", "-f", "lane-ca"]);
        fx.keygen(&["-t", "ed25519", "-f", "other-ca"]);
        fx.keygen(&["-t", "ed25519", "-f", "user"]);
        fx.keygen(&["-t", "ed25519", "-f", "host_key"]);
        let lane_ca = match &opts.pinned_ca {
            Some(ca) => format!("{}\n", ca.trim()),
            None => std::fs::read_to_string(fx.path("lane-ca.pub")).unwrap(),
        };
        let other_ca = std::fs::read_to_string(fx.path("other-ca.pub")).unwrap();
        let sshd_cas = fx.write(
            "etc/sshd-trusted-cas.pub",
            &format!("{lane_ca}{other_ca}"),
            0o644,
        );
        fx.write("etc/lane-ca.pub", &lane_ca, 0o644);
        fx.write(
            &format!("etc/principals/{LANE_USER}"),
            &std::fs::read_to_string(
                repo().join("host-config/sshd/auth_principals.ihub-bootstrap"),
            )
            .unwrap(),
            0o644,
        );
        std::fs::set_permissions(fx.path("etc"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(
            fx.path("etc/principals"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();

        // The binary where the lane user can run it.
        fx.mkdir("bin", 0o755);
        let exe = fx.path("bin/ops-warden");
        std::fs::copy(bin(), &exe).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();

        let log_dir = fx.mkdir("log", 0o750);
        fx.chown(&log_dir, LANE_USER);
        let state_dir = fx.mkdir("state", 0o700);
        fx.chown(&state_dir, LANE_USER);
        let audit = log_dir.join("audit.jsonl");
        let config = fx.write(
            "etc/ops-warden.toml",
            &format!(
                "[lane]\nprincipal = \"agt-interhub-bootstrap\"\nuser = \"{LANE_USER}\"\nrequire_sole_principal = true\n\
                 key_id_pattern = \"agt-*-interhub-bootstrap*\"\nca_keys_file = \"{}\"\n\
                 max_ttl_secs = {}\n{}\n[audit]\npath = \"{}\"\n[state]\ndir = \"{}\"\nlock_wait_secs = 2\n{}",
                fx.path("etc/lane-ca.pub").display(),
                opts.max_ttl_secs,
                if opts.single_use {
                    opts.lane_extra.clone()
                } else {
                    format!("single_use_verbs = []\n{}", opts.lane_extra)
                },
                audit.display(),
                state_dir.display(),
                opts.extra_config,
            ),
            0o644,
        );

        let snippet = std::fs::read_to_string(repo().join("host-config/sshd/50-ops-warden.conf"))
            .unwrap()
            .replace("@LANE_USER@", LANE_USER)
            .replace("@CA_KEYS@", &sshd_cas.display().to_string())
            .replace(
                "@PRINCIPALS_DIR@",
                &fx.path("etc/principals").display().to_string(),
            )
            .replace("@OPS_WARDEN@", &exe.display().to_string())
            .replace("@CONFIG@", &config.display().to_string());
        let (port, addr) = match &opts.netns {
            Some((_, ip)) => (22, ip.clone()),
            None => (free_port(), "127.0.0.1".to_string()),
        };
        let sshd_config = fx.write(
            "etc/sshd_config",
            &format!(
                "Port {port}\nListenAddress {addr}\nHostKey {}\nPidFile {}\nUsePAM no\n\
                 StrictModes yes\nLogLevel VERBOSE\nPubkeyAuthentication yes\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nAuthorizedKeysFile none\nAllowUsers {LANE_USER}\n\
                 MaxStartups 30:30:60\n\
                 # A permissive global list, as hosts have (Debian: LANG LC_*);\n\
                 # the lane's Match block must replace it.\n\
                 AcceptEnv LANG LC_* LD_PRELOAD BASH_ENV\n{snippet}\n",
                fx.path("host_key").display(),
                fx.path("sshd.pid").display(),
            ),
            0o644,
        );
        std::fs::create_dir_all("/run/sshd").unwrap();
        std::fs::set_permissions("/run/sshd", std::fs::Permissions::from_mode(0o755)).unwrap();
        let check = Command::new(sshd_path())
            .args(["-t", "-f"])
            .arg(&sshd_config)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "sshd -t: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let log = std::fs::File::create(fx.path("sshd.log")).unwrap();
        let mut sshd = match &opts.netns {
            Some((ns, _)) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, sshd_path()]);
                c
            }
            None => Command::new(sshd_path()),
        };
        let child = sshd
            .args(["-D", "-e", "-f"])
            .arg(&sshd_config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("sshd starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect((addr.as_str(), port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not listen: {}",
                std::fs::read_to_string(fx.path("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        LaneHost {
            fx,
            port,
            addr,
            child,
            config,
            audit,
        }
    }

    /// A certificate for `user.pub` from `ca` with ssh-keygen options.
    pub fn cert(&self, ca: &str, opts: &[&str]) -> PathBuf {
        self.fx.sign(ca, "user", opts)
    }

    /// The usual good certificate.
    pub fn good_cert(&self) -> PathBuf {
        self.cert(
            "lane-ca",
            &super::cert_opts(super::KEY_ID, Some(super::PRINCIPAL), "-1m:+5m", &[]),
        )
    }

    pub fn ssh_command(&self, cert: &Path, remote: &[&str]) -> Command {
        self.ssh_command_opts(cert, &[], remote)
    }

    /// ssh with extra client options (before the destination).
    pub fn ssh_command_opts(&self, cert: &Path, opts: &[&str], remote: &[&str]) -> Command {
        ssh_to(
            self.port,
            &self.fx.path("user"),
            cert,
            &format!("{LANE_USER}@{}", self.addr),
            opts,
            remote,
        )
    }

    pub fn ssh(&self, cert: &Path, remote: &[&str]) -> Output {
        self.ssh_command(cert, remote).output().expect("ssh runs")
    }

    /// Runs ops-warden on the host side (as root) with this host's config.
    pub fn ops_warden(&self, args: &[&str]) -> Output {
        Command::new(bin())
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .unwrap()
    }

    /// `sshd -T` for a connection of the lane user from 127.0.0.1.
    pub fn effective_settings(&self) -> String {
        let out = super::succeed(
            Command::new(sshd_path())
                .args(["-T", "-C"])
                .arg(format!("user={LANE_USER},host=localhost,addr=127.0.0.1"))
                .arg("-f")
                .arg(self.fx.path("etc/sshd_config")),
            "sshd -T",
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn sshd_log(&self) -> String {
        std::fs::read_to_string(self.fx.path("sshd.log")).unwrap_or_default()
    }
}

/// ssh to `dest` on loopback `port` with exactly `key` and its certificate
/// `cert` (no config, agent or known hosts, no TTY); `opts` go before the
/// destination, `remote` after it.
pub fn ssh_to(
    port: u16,
    key: &Path,
    cert: &Path,
    dest: &str,
    opts: &[&str],
    remote: &[&str],
) -> Command {
    let mut c = Command::new("ssh");
    c.args(["-F", "/dev/null", "-p", &port.to_string()])
        .arg("-i")
        .arg(key)
        .arg("-o")
        .arg(format!("CertificateFile={}", cert.display()))
        .args([
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "ConnectTimeout=10",
            "-T",
        ])
        .args(opts)
        .arg(dest)
        .args(remote)
        .stdin(Stdio::null());
    c
}

impl Drop for LaneHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sshd_path() -> &'static str {
    if Path::new("/usr/sbin/sshd").exists() {
        "/usr/sbin/sshd"
    } else {
        "sshd"
    }
}
