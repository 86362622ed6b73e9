//! The Debian package where nothing else is (issue 12): built with cargo-deb,
//! installed with dpkg into a fresh Debian root made by debootstrap (a folder
//! of the test's own, nothing from the checkout in it), activated by the
//! package's installer, served by that root's own sshd, against the test
//! OpenBao and the simulator; then removed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::bao::Bao;
use crate::common::lab::{OPERATOR_KEY, OPERATOR_PATH};
use crate::common::sim::Sim;
use crate::common::{code_of, evidence, free_port, remove_tree, repo, require_root, Fixture};

const CACHE: &str = "/var/cache/ops-warden-test";

fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A minimal Debian (this machine's release) with openssh-server, made once
/// by debootstrap from the configured mirror and kept as a tarball.
fn debian_root_tarball() -> PathBuf {
    let tar = PathBuf::from(CACHE).join("bookworm-minbase-ssh-ca.tar");
    if tar.exists() {
        return tar;
    }
    std::fs::create_dir_all(CACHE).unwrap();
    assert!(
        Path::new("/usr/sbin/debootstrap").exists(),
        "debootstrap is installed by tests/setup.sh (the README's test command runs it)"
    );
    let dir = PathBuf::from(CACHE).join("root.tmp");
    // debootstrap mounts /proc and /sys in the root it makes: a run that
    // stopped half-way may have left them there. Never delete through them.
    assert!(
        remove_tree(&dir),
        "{}: left by an earlier run, with something still mounted in it",
        dir.display()
    );
    run(
        Command::new("debootstrap")
            .args([
                "--variant=minbase",
                "--include=openssh-server,ca-certificates",
                "bookworm",
            ])
            .arg(&dir)
            .arg("http://deb.debian.org/debian"),
        "debootstrap",
    );
    let partial = tar.with_extension("tar.tmp");
    run(
        Command::new("tar")
            .arg("-C")
            .arg(&dir)
            .arg("-cf")
            .arg(&partial)
            .arg("."),
        "tar",
    );
    std::fs::rename(&partial, &tar).unwrap();
    remove_tree(&dir);
    tar
}

/// The Debian root with /dev and /proc mounted; unmounted on drop.
struct Root {
    path: PathBuf,
    sshd: Option<Child>,
    /// What was (or may have been) mounted in the root, in mount order.
    mounts: Vec<PathBuf>,
}

impl Root {
    fn new(fx: &Fixture) -> Root {
        // The guard exists before anything is mounted: whatever fails or
        // panics from here on, its drop unmounts what was mounted, before
        // the fixture's folder (with the root in it) is removed.
        let mut root = Root {
            path: fx.mkdir("root", 0o755),
            sshd: None,
            mounts: Vec::new(),
        };
        run(
            Command::new("tar")
                .arg("-C")
                .arg(&root.path)
                .arg("-xf")
                .arg(debian_root_tarball()),
            "untar the Debian root",
        );
        root.mount(&["--bind", "/dev"], "dev");
        root.mount(&["-t", "proc", "proc"], "proc");
        root
    }

    /// `mount <args> <root>/<at>`, which must succeed; recorded before it
    /// runs (a mount that reports a failure may still have happened).
    fn mount(&mut self, args: &[&str], at: &str) {
        let target = self.path.join(at);
        self.mounts.push(target.clone());
        run(
            Command::new("mount").args(args).arg(&target),
            &format!("mount {}", target.display()),
        );
    }

    fn chroot(&self, args: &[&str]) -> Command {
        let mut c = Command::new("chroot");
        c.arg(&self.path)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LANG", "C")
            .stdin(Stdio::null());
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        String::from_utf8(run(&mut self.chroot(args), &args.join(" ")).stdout).unwrap()
    }

    fn at(&self, p: &str) -> PathBuf {
        self.path.join(p.trim_start_matches('/'))
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        if let Some(mut c) = self.sshd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // In reverse order; lazily if a plain unmount is refused (busy).
        for m in self.mounts.drain(..).rev() {
            let quiet = |c: &mut Command| {
                c.stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            };
            if !quiet(Command::new("umount").arg(&m)) {
                quiet(Command::new("umount").arg("-l").arg(&m));
            }
        }
    }
}

#[test]
fn the_package_installs_serves_the_lane_and_uninstalls() {
    // debootstrap (once, then cached) and a release build with LTO.
    crate::common::deadline(1500);
    require_root();
    let deb = String::from_utf8(
        run(
            Command::new("bash").arg(repo().join("host-config/package/build-deb.sh")),
            "build-deb.sh",
        )
        .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let fx = Fixture::new("package");
    let root = Root::new(&fx);
    assert!(
        !root.at("/usr/libexec/ops-warden").exists(),
        "nothing of ours in a fresh root"
    );

    // dpkg -i: the binary, root-owned; the lane user (system, /bin/sh, no
    // password); the folders; man pages and completions; sshd untouched.
    std::fs::copy(&deb, root.at("/tmp/ops-warden.deb")).unwrap();
    let sshd_before = root.ok(&["sh", "-c", "ls /etc/ssh/sshd_config.d/ 2>/dev/null; true"]);
    root.ok(&["dpkg", "-i", "/tmp/ops-warden.deb"]);
    let passwd = root.ok(&["getent", "passwd", "ihub-bootstrap"]);
    let f: Vec<&str> = passwd.trim().split(':').collect();
    assert_eq!(f[6], "/bin/sh", "{passwd}");
    assert!(
        f[2].parse::<u32>().unwrap() < 1000,
        "a system account: {passwd}"
    );
    let shadow = root.ok(&["getent", "shadow", "ihub-bootstrap"]);
    assert_eq!(shadow.split(':').nth(1), Some("*"), "no password");
    let stat = root.ok(&[
        "stat",
        "-c",
        "%U:%G %a",
        "/usr/libexec/ops-warden/ops-warden",
        "/var/log/ops-warden",
        "/var/lib/ops-warden",
    ]);
    assert_eq!(
        stat.lines().collect::<Vec<_>>(),
        [
            "root:root 755",
            "ihub-bootstrap:adm 2750",
            "ihub-bootstrap:ihub-bootstrap 700"
        ]
    );
    for f in [
        "/usr/share/man/man1/ops-warden-audit-verify.1.gz",
        "/usr/share/bash-completion/completions/ops-warden",
        "/usr/share/ops-warden/seeds/ops-hub-widgets.seed.json",
        "/usr/share/ops-warden/install.sh",
        "/etc/logrotate.d/ops-warden",
        "/usr/lib/tmpfiles.d/ops-warden.conf",
    ] {
        assert!(root.at(f).exists(), "{f} is installed");
    }
    assert_eq!(
        root.ok(&["sh", "-c", "ls /etc/ssh/sshd_config.d/ 2>/dev/null; true"]),
        sshd_before,
        "installing the package changes no sshd setting"
    );
    // A second dpkg -i (an upgrade in place) is idempotent.
    root.ok(&["dpkg", "-i", "/tmp/ops-warden.deb"]);

    // The services, on this machine's loopback (the root shares the network).
    let bao = Bao::start(&fx);
    bao.setup_lane(&fx.path("approle"));
    bao.kv_put_stdin(OPERATOR_PATH, "IHUB_OPERATOR_KEY", OPERATOR_KEY);
    let sim = Sim::start(&fx, OPERATOR_KEY);
    std::fs::write(
        root.at("/tmp/lane-ca.pub"),
        std::fs::read(fx.path("approle/lane-ca.pub")).unwrap(),
    )
    .unwrap();
    // The host's AppRole files, as provisioning delivers them.
    root.ok(&[
        "install",
        "-d",
        "-o",
        "ihub-bootstrap",
        "-m",
        "0700",
        "/etc/ops-warden/approle",
    ]);
    for f in ["role_id", "secret_id"] {
        std::fs::copy(
            fx.path(&format!("approle/{f}")),
            root.at(&format!("/tmp/{f}")),
        )
        .unwrap();
        root.ok(&[
            "install",
            "-o",
            "ihub-bootstrap",
            "-m",
            "0600",
            &format!("/tmp/{f}"),
            &format!("/etc/ops-warden/approle/{f}"),
        ]);
        std::fs::remove_file(root.at(&format!("/tmp/{f}"))).unwrap();
    }
    root.ok(&["ssh-keygen", "-A"]);
    root.ok(&["install", "-d", "-m", "0755", "/run/sshd"]);

    // The installer: renders everything, checks it, changes nothing twice.
    let install = [
        "/usr/share/ops-warden/install.sh",
        "--ca-keys",
        "/tmp/lane-ca.pub",
        "--openbao-addr",
        &bao.addr,
        "--interhub-url",
        &sim.base,
        "--approle-dir",
        "/etc/ops-warden/approle",
        "--no-reload",
    ];
    let first: serde_json::Value = serde_json::from_str(&root.ok(&install)).unwrap();
    assert!(first["changed"].as_array().unwrap().len() >= 4, "{first}");
    let second: serde_json::Value = serde_json::from_str(&root.ok(&install)).unwrap();
    assert_eq!(second["changed"], serde_json::json!([]), "{second}");
    let snippet =
        std::fs::read_to_string(root.at("/etc/ssh/sshd_config.d/50-ops-warden.conf")).unwrap();
    assert!(!snippet.contains('@'), "no placeholder left");
    let online = root
        .chroot(&[
            "/usr/libexec/ops-warden/ops-warden",
            "check-config",
            "--online",
            "--sshd",
        ])
        .output()
        .unwrap();
    assert_eq!(
        online.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&online.stdout)
    );

    // The root's own sshd, with the installed snippet, serves the lane.
    let port = free_port();
    let log = std::fs::File::create(fx.path("sshd.log")).unwrap();
    let mut sshd = root.chroot(&[
        "/usr/sbin/sshd",
        "-D",
        "-e",
        "-p",
        &port.to_string(),
        "-o",
        "ListenAddress=127.0.0.1",
    ]);
    root_sshd(&mut sshd, log);
    let mut root = root;
    root.sshd = Some(sshd.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "sshd: {}",
            std::fs::read_to_string(fx.path("sshd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    fx.keygen(&["-t", "ed25519", "-f", "operator"]);
    // A certificate per run, as ops-ssh-wrapper gets one: the package's
    // default config lets a certificate serve `bootstrap` once.
    let fresh = |name: &str| {
        let cert = bao.sign_ssh(&fx.path("operator.pub"), &[]);
        fx.write(name, &cert, 0o644)
    };
    let cert_file = fresh("operator-cert.pub");
    let ssh_with = |cert_file: &std::path::Path, verb: &str| {
        crate::common::sshd::ssh_to(
            port,
            &fx.path("operator"),
            cert_file,
            "ihub-bootstrap@127.0.0.1",
            &[],
            &[verb],
        )
        .output()
        .unwrap()
    };
    let ssh = |verb: &str| ssh_with(&cert_file, verb);
    let sshd_log = || std::fs::read_to_string(fx.path("sshd.log")).unwrap_or_default();
    let out = ssh("whoami");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        sshd_log()
    );
    let out = ssh("bootstrap");
    let doc = evidence(&out);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert_eq!(doc["result"]["runtime_key"]["status"], "created");
    let out = ssh("bootstrap");
    assert_eq!(code_of(&evidence(&out)), "cert-replayed");
    assert_eq!(out.status.code(), Some(77));
    let out = ssh_with(&fresh("operator-cert-2.pub"), "bootstrap");
    assert_eq!(evidence(&out)["result"]["runtime_key"]["status"], "reused");
    crate::common::lab::assert_one_live_stored_key(&bao, &sim);
    let out = ssh("frobnicate");
    assert_eq!(code_of(&evidence(&out)), "command-unknown-verb");
    let verify = root
        .chroot(&["/usr/libexec/ops-warden/ops-warden", "audit", "verify"])
        .output()
        .unwrap();
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );

    // dpkg --remove: no binary left; the audit trail stays.
    if let Some(mut c) = root.sshd.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
    root.ok(&["dpkg", "--remove", "ops-warden"]);
    assert!(!root.at("/usr/libexec/ops-warden/ops-warden").exists());
    assert!(
        root.at("/var/log/ops-warden/audit.jsonl").exists(),
        "the audit log is kept"
    );
    assert!(root.at("/var/log/ops-warden/audit.jsonl.head").exists());
}

/// sshd in the root logs to a file of the test's.
fn root_sshd(c: &mut Command, log: std::fs::File) {
    c.stdout(Stdio::null()).stderr(log);
}
