//! Issue 13 §2: a fleet. Eight hosts, each in its own network namespace
//! with its own sshd, config, state, audit log and AppRole (bound to its own
//! address), run `bootstrap` at the same moment against one OpenBao raft
//! cluster and one Inter-Hub, both reached over TLS on the fleet's bridge.
//! Exactly one live runtime key exists afterwards and it is the stored one;
//! every host's evidence is ok (created, reused, or race lost and reused:
//! each host runs once, so its own lock never answers `busy`); every host's
//! audit chain verifies. Then the same race with the
//! leader killed during it (when the first key is being created).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::common::bao::Bao;
use crate::common::lab::{
    assert_one_live_stored_key, stored_key, OPERATOR_KEY, OPERATOR_PATH, RUNTIME_PATH,
};
use crate::common::netns::Net;
use crate::common::raft::{Cluster, Tls};
use crate::common::scan::assert_run_clean;
use crate::common::sim::Sim;
use crate::common::sshd::{ensure_lane_user, LaneHost, LaneOptions, LANE_USER};
use crate::common::{assert_schema, code_of, evidence, repo, Fixture};

/// Eight in CI; `OW_FLEET_HOSTS` raises it (tests/lab/fleet-heavy.sh).
fn hosts() -> usize {
    std::env::var("OW_FLEET_HOSTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| (2..=200).contains(n))
        .unwrap_or(8)
}

/// A CA and a server certificate for `ip` (and loopback), by openssl.
fn tls_files(fx: &Fixture, ip: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = fx.mkdir("tls", 0o755);
    let run = |args: &[&str]| {
        crate::common::succeed(
            Command::new("openssl").current_dir(&dir).args(args),
            &format!("openssl {args:?}"),
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=ow-fleet-ca",
            "-days",
            "1",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "tls.key",
            "-out",
            "tls.csr",
            "-subj",
            "/CN=ow-fleet",
        ],
    ]
    .concat());
    std::fs::write(
        dir.join("ext.cnf"),
        format!("subjectAltName=IP:{ip},IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "tls.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "tls.pem",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
    ]);
    (dir.join("ca.pem"), dir.join("tls.pem"), dir.join("tls.key"))
}

struct Fleet {
    hosts: Vec<LaneHost>,
    sim: Sim,
    admin: Bao,
    cluster: Cluster,
    svc: Fixture,
    net: Net,
}

impl Fleet {
    fn start(name: &str) -> Fleet {
        ensure_lane_user();
        let net = Net::up(hosts());
        let svc = Fixture::new(&format!("{name}-svc"));
        let (ca, cert, key) = tls_files(&svc, &net.gateway);
        let cluster = Cluster::up(
            &svc,
            Some(Tls {
                ip: &net.gateway,
                cert: &cert,
                key: &key,
            }),
        );
        let admin = cluster.admin(svc.mkdir("bao-home", 0o700));
        admin.ok(&["secrets", "enable", "-path=secret", "kv-v2"]);
        admin.kv_put_stdin(OPERATOR_PATH, "IHUB_OPERATOR_KEY", OPERATOR_KEY);
        let (sim, sim_base) = Sim::start_tls(&svc, OPERATOR_KEY, &net.gateway, &cert, &key);
        svc.mkdir("seeds", 0o755);
        for f in ["ops-hub-manifest.draft.json", "ops-hub-widgets.seed.json"] {
            std::fs::copy(repo().join("seeds").join(f), svc.path("seeds").join(f)).unwrap();
        }
        let bao_addrs: Vec<String> = cluster
            .names()
            .iter()
            .map(|n| cluster.tls_addr(n).to_string())
            .collect();
        let mut hosts = Vec::new();
        for (i, (ns, addr)) in net.hosts.iter().enumerate() {
            // Each host its own AppRole, usable only from its own address.
            let approle = svc.path(&format!("approle-{i}"));
            admin.setup_lane_with(
                &approle,
                &[
                    ("ROLE_NAME", &format!("ops-warden-host-{i}")),
                    ("HOST_CIDRS", &format!("{addr}/32")),
                ],
            );
            for f in ["", "role_id", "secret_id"] {
                svc.chown(&approle.join(f), LANE_USER);
            }
            let extra = format!(
                "[openbao]\naddr = {bao_addrs:?}\nca_bundle = \"{ca}\"\nfailover_secs = 30\nretry_backoff_ms = 20\n\
                 auth = \"approle\"\nrole_id_file = \"{a}/role_id\"\nsecret_id_file = \"{a}/secret_id\"\n\
                 [interhub]\nbase_url = \"{sim_base}\"\nca_bundle = \"{ca}\"\nretries = 3\nretry_backoff_ms = 20\n\
                 manifest = \"{s}/ops-hub-manifest.draft.json\"\nwidgets = \"{s}/ops-hub-widgets.seed.json\"\n",
                ca = ca.display(),
                a = approle.display(),
                s = svc.path("seeds").display(),
            );
            let lane_ca = std::fs::read_to_string(approle.join("lane-ca.pub")).unwrap();
            hosts.push(LaneHost::start(
                &format!("{name}-h{i}"),
                LaneOptions {
                    pinned_ca: Some(lane_ca),
                    extra_config: extra,
                    netns: Some((ns.clone(), addr.clone())),
                    ..Default::default()
                },
            ));
        }
        Fleet {
            hosts,
            sim,
            admin,
            cluster,
            svc,
            net,
        }
    }

    /// One operator certificate from OpenBao's SSH CA, for every host.
    fn certificate(&self) -> PathBuf {
        let signed = self.admin.sign_ssh(&self.hosts[0].fx.path("user.pub"), &[]);
        let p = self
            .svc
            .path(&format!("cert-{}.pub", ops_warden::testing::new_run_id()));
        std::fs::write(&p, signed).unwrap();
        p
    }

    /// Every host runs `bootstrap` at the same moment; `during` runs once
    /// they are all on their way. Outputs in host order.
    fn race(&self, during: impl FnOnce()) -> Vec<Output> {
        let cert = self.certificate();
        let cmds = (0..self.hosts.len())
            .map(|i| self.ssh_bootstrap(i, &cert, &[]))
            .collect();
        self.race_commands(cmds, during)
    }

    /// `ssh … bootstrap <flags>` to host `i`, with `cert`.
    fn ssh_bootstrap(&self, i: usize, cert: &Path, flags: &[&str]) -> Command {
        let mut remote = vec!["bootstrap"];
        remote.extend_from_slice(flags);
        crate::common::sshd::ssh_to(
            22,
            &self.hosts[0].fx.path("user"),
            cert,
            &format!("{LANE_USER}@{}", self.hosts[i].addr),
            &[],
            &remote,
        )
    }

    /// Root on host `i` running the attended `bootstrap` itself (no ssh):
    /// in the host's network namespace (so OpenBao sees the host's address,
    /// the only one its AppRole accepts), with the host's config, a clean
    /// environment and an operator key file of its own (`tag` names it; the
    /// run removes it).
    fn attended_bootstrap(&self, i: usize, tag: &str) -> Command {
        let h = &self.hosts[i];
        let key =
            h.fx.write(&format!("operator-{tag}.key"), OPERATOR_KEY, 0o600);
        let mut c = Command::new("ip");
        c.args([
            "netns",
            "exec",
            self.net.hosts[i].0.as_str(),
            "/usr/bin/env",
            "-i",
            "PATH=/usr/bin:/bin",
        ])
        .arg(crate::common::bin())
        .args(crate::common::attended_args(&h.config, &key, &[]))
        .stdin(Stdio::null());
        c
    }

    /// Runs every command at the same moment; `during` runs once they are
    /// all on their way. Outputs in the commands' order.
    fn race_commands(&self, cmds: Vec<Command>, during: impl FnOnce()) -> Vec<Output> {
        let start = Arc::new(Barrier::new(cmds.len()));
        std::thread::scope(|s| {
            let handles: Vec<_> = cmds
                .into_iter()
                .map(|mut cmd| {
                    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
                    let start = start.clone();
                    s.spawn(move || {
                        start.wait();
                        cmd.output().expect("the run starts")
                    })
                })
                .collect();
            during();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        })
    }

    /// Each host's evidence is ok (created, reused, race lost); one live
    /// key, stored; every audit chain verifies.
    fn assert_converged(&self, outs: &[Output]) -> Vec<String> {
        let mut seen = Vec::new();
        for (i, o) in outs.iter().enumerate() {
            let doc = evidence(o);
            assert_schema(&doc);
            let key = &doc["result"]["runtime_key"];
            match o.status.code() {
                Some(0) => {
                    let status = key["status"].as_str().unwrap_or("");
                    assert!(["created", "reused"].contains(&status), "host {i}: {doc:#}");
                    seen.push(if key["race_lost"] == true {
                        "race lost, reused".to_string()
                    } else {
                        status.to_string()
                    });
                    eprintln!(
                        "host {i}: {status} {} v{} revoked {} notes {}",
                        key["prefix"],
                        key["kv_version"],
                        key["revoked"],
                        doc["result"]["openbao"]["notes"]
                    );
                }

                other => panic!(
                    "host {i}: exit {other:?}: {doc:#}\n{}",
                    String::from_utf8_lossy(&o.stderr)
                ),
            }
        }
        assert_one_live_stored_key(&self.admin, &self.sim);
        for (i, h) in self.hosts.iter().enumerate() {
            let out = h.ops_warden(&["audit", "verify"]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "host {i}'s audit chain: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        seen
    }

    /// A fresh Inter-Hub and an empty slot; no host remembers an event.
    fn reset(&self) {
        self.sim.reset();
        let _ = self.admin.bao(&["kv", "metadata", "delete", RUNTIME_PATH]);
        for h in &self.hosts {
            crate::common::lab::forget_posted_events(&h.fx.path("state"));
        }
    }

    fn scan(&self, outs: &[Output]) {
        let mut secrets = vec![OPERATOR_KEY.to_string()];
        for i in 0..self.hosts.len() {
            for f in ["role_id", "secret_id"] {
                let p = self.svc.path(&format!("approle-{i}/{f}"));
                secrets.push(std::fs::read_to_string(p).unwrap().trim().to_string());
            }
        }
        secrets.extend(self.admin.issued_secrets());
        secrets.extend(self.sim.issued_secrets());
        // Each output once, then each host's audit and sshd logs.
        let refs: Vec<&Output> = outs.iter().collect();
        assert_run_clean(&refs, &[], &secrets);
        for h in &self.hosts {
            let audit = std::fs::read(&h.audit).expect("audit log");
            assert_run_clean(&[], &audit, &secrets);
            assert_no_secret_in(&h.fx.path("sshd.log"), &secrets);
        }
    }
}

fn assert_no_secret_in(path: &Path, secrets: &[String]) {
    let text = std::fs::read(path).unwrap_or_default();
    crate::common::scan::assert_clean(
        &path.display().to_string(),
        &text,
        &secrets.iter().map(String::as_str).collect::<Vec<_>>(),
    );
}

#[test]
fn eight_hosts_race_to_one_stored_key_even_when_the_leader_dies() {
    crate::common::deadline(900);
    let mut fleet = Fleet::start("fleet");
    let first = fleet.race(|| {});
    let seen = fleet.assert_converged(&first);
    eprintln!("race: {seen:?}");
    assert_eq!(
        seen.iter().filter(|s| *s == "created").count(),
        1,
        "one host created the key: {seen:?}"
    );
    // Everyone again: all reuse it.
    let again = fleet.race(|| {});
    let seen = fleet.assert_converged(&again);
    assert!(seen.iter().all(|s| s == "reused"), "{seen:?}");

    // The same race from scratch, the leader killed as the first key is made.
    fleet.reset();
    let leader = fleet.cluster.leader(30);
    let during = fleet.race(|| {
        fleet.sim.wait_for("POST", "/keys");
        fleet.cluster.kill(&leader);
    });
    let new_leader = fleet.cluster.leader(30);
    assert_ne!(new_leader, leader);
    fleet.admin.addr = fleet.cluster.addr(&new_leader).to_string();
    let seen = fleet.assert_converged(&during);
    eprintln!("race with the leader killed: {seen:?}");
    let mut all = first;
    all.extend(again);
    all.extend(during);
    fleet.scan(&all);
}

/// How a host runs in a round of the rotation race.
#[derive(Clone, Copy)]
enum Mode {
    /// `ssh … bootstrap --rotate`
    Rotate,
    /// `ssh … bootstrap`
    Plain,
    /// Root on the host: `ops-warden bootstrap --operator-key-file F`.
    Attended,
}

impl Mode {
    /// Round-robin by host and round: each host takes each mode in turn.
    fn of(host: usize, round: usize) -> Mode {
        match (host + round) % 3 {
            0 => Mode::Rotate,
            1 => Mode::Plain,
            _ => Mode::Attended,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Rotate => "ssh bootstrap --rotate",
            Mode::Plain => "ssh bootstrap",
            Mode::Attended => "attended bootstrap",
        }
    }
}

/// Ten in CI; `OW_FLEET_ROUNDS` sets another number.
fn rounds() -> usize {
    std::env::var("OW_FLEET_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=1000).contains(n))
        .unwrap_or(10)
}

/// Codes no racing run may end with, whatever the others do.
const NEVER: [&str; 3] = ["runtime-key-invalid", "runtime-key-orphaned", "internal"];

/// Mode → (status of an ok run, or code of a failed one) → how many.
type Tally = BTreeMap<&'static str, BTreeMap<String, usize>>;

fn describe(t: &Tally) -> String {
    t.iter()
        .map(|(mode, seen)| {
            let seen: Vec<String> = seen.iter().map(|(s, n)| format!("{s}×{n}")).collect();
            format!("{mode} → {}", seen.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Key creations (`POST …/keys`) that reached the simulator so far.
fn key_creations(sim: &Sim) -> usize {
    std::fs::read_to_string(&sim.request_log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("/keys"))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| {
            r["method"] == "POST" && r["path"].as_str().is_some_and(|p| p.ends_with("/keys"))
        })
        .count()
}

/// Waits until a key creation beyond the first `before` reached Inter-Hub.
fn wait_for_key_creation(sim: &Sim, before: usize, round: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while key_creations(sim) <= before {
        assert!(
            Instant::now() < deadline,
            "round {round}: no key creation reached Inter-Hub"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Issue 18 §1: hosts rotating (`bootstrap --rotate`), bootstrapping
/// (`bootstrap`) and bootstrapping attended (root on the host) at the same
/// moment, round after round, modes taken in turn; in rounds 2, 5 and 8 the
/// raft leader is killed as the first key is being created, and restarted
/// after the round. A racing run may fail while another host rotates (its
/// proven key revoked under it, busy, OpenBao during the election, an
/// unconfirmed store), but never with `runtime-key-invalid`,
/// `runtime-key-orphaned` or `internal`; after every race the stored key
/// mints a token (the slot never holds a revoked key); then a plain
/// `bootstrap` on every host is ok without `--rotate`, leaving exactly one
/// live key, the stored one; every audit chain verifies; nothing leaks.
#[test]
fn a_fleet_rotating_and_bootstrapping_at_once_never_bricks_the_lane() {
    crate::common::deadline(1500);
    let mut fleet = Fleet::start("fleet-rot");
    let n = fleet.hosts.len();
    let mut all = Vec::new();
    let mut lines = Vec::new();
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    for round in 1..=rounds() {
        let kill = [2, 5, 8].contains(&round);
        let leader = fleet.cluster.leader(30);
        fleet.admin.addr = fleet.cluster.addr(&leader).to_string();
        let cert = fleet.certificate();
        let modes: Vec<Mode> = (0..n).map(|i| Mode::of(i, round)).collect();
        let cmds = modes
            .iter()
            .enumerate()
            .map(|(i, m)| match m {
                Mode::Rotate => fleet.ssh_bootstrap(i, &cert, &["--rotate"]),
                Mode::Plain => fleet.ssh_bootstrap(i, &cert, &[]),
                Mode::Attended => fleet.attended_bootstrap(i, &format!("round-{round}")),
            })
            .collect();
        let before = key_creations(&fleet.sim);
        let mut killed = None;
        let outs = fleet.race_commands(cmds, || {
            if kill {
                wait_for_key_creation(&fleet.sim, before, round);
                killed = Some(fleet.cluster.kill(&leader));
            }
        });
        if let Some(k) = &killed {
            let now = fleet.cluster.leader(60);
            assert_ne!(&now, k, "round {round}: a new leader");
            fleet.admin.addr = fleet.cluster.addr(&now).to_string();
        }

        let mut raced = Tally::new();
        for (i, (o, m)) in outs.iter().zip(&modes).enumerate() {
            let doc = evidence(o);
            assert_schema(&doc);
            let key = &doc["result"]["runtime_key"];
            let seen = if o.status.code() == Some(0) {
                let status = key["status"].as_str().unwrap_or("").to_string();
                assert!(
                    ["created", "reused", "rotated", "replaced"].contains(&status.as_str()),
                    "round {round}, host {i} ({}): ok with status {status:?}: {doc:#}",
                    m.name()
                );
                if key["race_lost"] == true {
                    format!("{status} (race lost)")
                } else {
                    status
                }
            } else {
                let code = code_of(&doc).to_string();
                assert!(
                    !NEVER.contains(&code.as_str()),
                    "round {round}, host {i} ({}): exit {:?}, {code}: {doc:#}\n{}",
                    m.name(),
                    o.status.code(),
                    String::from_utf8_lossy(&o.stderr)
                );
                *codes.entry(code.clone()).or_default() += 1;
                code
            };
            *raced.entry(m.name()).or_default().entry(seen).or_default() += 1;
        }
        // The slot never holds a revoked key.
        let (key, client) = stored_key(&fleet.admin)
            .unwrap_or_else(|| panic!("round {round}: no key is stored after the race"));
        assert_eq!(
            fleet.sim.token_status(&client, &key),
            200,
            "round {round}: the stored key mints a token after the race ({})",
            describe(&raced)
        );

        // Every host once more, plainly: ok without --rotate, one live key.
        let settle = fleet.race(|| {});
        let mut settled = Tally::new();
        for (i, o) in settle.iter().enumerate() {
            let doc = evidence(o);
            assert_schema(&doc);
            let status = doc["result"]["runtime_key"]["status"]
                .as_str()
                .unwrap_or("")
                .to_string();
            assert_eq!(
                o.status.code(),
                Some(0),
                "round {round}, host {i}: the plain bootstrap after the race ({}): {doc:#}\n{}",
                code_of(&doc),
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(
                ["reused", "created", "replaced"].contains(&status.as_str()),
                "round {round}, host {i}: the plain bootstrap after the race: {doc:#}"
            );
            *settled
                .entry(Mode::Plain.name())
                .or_default()
                .entry(status)
                .or_default() += 1;
        }
        assert_one_live_stored_key(&fleet.admin, &fleet.sim);
        for (i, h) in fleet.hosts.iter().enumerate() {
            let out = h.ops_warden(&["audit", "verify"]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "round {round}: host {i}'s audit chain: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        let line = format!(
            "round {round}{}: {} | then on every host: {}",
            killed
                .as_deref()
                .map(|k| format!(" (leader {k} killed at the first key creation)"))
                .unwrap_or_default(),
            describe(&raced),
            describe(&settled)
        );
        eprintln!("{line}");
        lines.push(line);
        all.extend(outs);
        all.extend(settle);

        // The killed node back; a leader before the next round.
        if let Some(k) = killed {
            fleet.cluster.start(&k);
            let now = fleet.cluster.leader(60);
            fleet.admin.addr = fleet.cluster.addr(&now).to_string();
        }
    }
    eprintln!(
        "rotation race, {n} hosts, {} rounds:\n{}\nfailed racing runs by code: {codes:?}",
        lines.len(),
        lines.join("\n")
    );
    fleet.scan(&all);
}
