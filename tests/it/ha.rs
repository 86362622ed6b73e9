//! Issue 13 §1: OpenBao as a real 3-node raft cluster. The leader is killed
//! at each OpenBao call of a first bootstrap (the fault matrix's OpenBao
//! requests: health, login, pre-flight, the reads, the slot version, the
//! check-and-set store, its read-back, custom metadata, revoke-self), once
//! before the leader saw the call and once after it did it (its answer
//! lost). Each run completes on the new leader, no live key exists outside
//! OpenBao, and the next run converges.
//!
//! How: the config lists three addresses, the first a fault proxy in front
//! of the leader. The proxy holds the chosen call; the test kills the leader
//! and then the proxy (so that address now refuses connections, as a dead
//! node's does, and the held call is cut).

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::lab::{Lab, LabOptions};
use crate::common::proxy::Proxy;
use crate::common::raft::Cluster;
use crate::common::scan::assert_run_clean;
use crate::common::{evidence, Fixture};
use crate::fault_matrix::{Service, TARGETS};

/// A lab whose OpenBao is a raft cluster, set up as a host's would be.
pub(crate) fn cluster_lab(name: &str) -> (Lab, Cluster) {
    let fx = Fixture::new(name);
    let cluster = Cluster::up(&fx, None);
    let admin = cluster.admin(fx.mkdir("bao-home", 0o700));
    admin.ok(&["secrets", "enable", "-path=secret", "kv-v2"]);
    (Lab::on(fx, admin), cluster)
}

/// Points the lab's admin view at the current leader.
fn follow_leader(lab: &mut Lab, cluster: &Cluster) {
    let leader = cluster.leader(30);
    lab.bao.addr = cluster.addr(&leader).to_string();
}

#[test]
fn the_leader_killed_at_each_openbao_call() {
    crate::common::deadline(900);
    // (Bindings drop in reverse: the cluster stops before the lab's folder goes.)
    let (mut lab, cluster) = cluster_lab("ha-calls");
    let mut outputs = Vec::new();
    let mut table = Vec::new();
    let calls = TARGETS.iter().filter(|t| t.service == Service::OpenBao);
    for (i, t) in calls.enumerate() {
        let (name, method, path) = (t.name, t.method, t.path);
        for after in [false, true] {
            // Each cell: a fresh Inter-Hub, an empty slot, three live nodes.
            follow_leader(&mut lab, &cluster);
            lab.start_over();
            let leader = cluster.leader(30);
            let others: Vec<String> = cluster
                .names()
                .into_iter()
                .filter(|n| *n != leader)
                .collect();
            let cell = format!("{i}-{}", if after { "after" } else { "before" });
            let mut proxy =
                Proxy::start_named(&lab.fx, cluster.addr(&leader), &format!("proxy-{cell}"));
            let mut addrs = vec![proxy.addr.clone()];
            addrs.extend(others.iter().map(|n| cluster.addr(n).to_string()));
            let config = lab.write_config(
                &format!("ha-{cell}.toml"),
                &LabOptions {
                    openbao_addrs: addrs,
                    failover_secs: Some(30),
                    timeout_secs: Some(5),
                    ..Default::default()
                },
            );
            proxy.fault(
                json!({"method": method, "path": path, "hold": true, "after": after, "count": 1}),
            );
            let child = lab
                .force_command(&config, "bootstrap")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(30);
            while proxy.held() == 0 {
                assert!(
                    Instant::now() < deadline,
                    "{name}: the call never reached the leader"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            cluster.kill(&leader);
            proxy.kill();
            let out = child.wait_with_output().unwrap();
            follow_leader(&mut lab, &cluster);
            let doc = evidence(&out);
            let code = doc["error"]["code"].as_str().unwrap_or("none").to_string();
            table.push(format!(
                "{name} ({}): exit {:?}, {code}, key {}",
                if after {
                    "done, answer lost"
                } else {
                    "not seen"
                },
                out.status.code(),
                doc["result"]["runtime_key"]["status"]
            ));
            assert_eq!(
                out.status.code(),
                Some(0),
                "{name}, after={after}: completes on the new leader: {doc:#}"
            );
            lab.assert_one_live_stored_key();
            // The next run, on the cluster as it is now (the old leader
            // still down): converges.
            let next = lab
                .force_command(&config_of_nodes(&lab, &cluster, &cell), "bootstrap")
                .output()
                .unwrap();
            assert_eq!(
                next.status.code(),
                Some(0),
                "{name}: the next run: {:#}",
                evidence(&next)
            );
            lab.assert_one_live_stored_key();
            outputs.push(out);
            outputs.push(next);
            cluster.start(&leader);
        }
    }
    eprintln!("{}", table.join("\n"));
    let audit = std::fs::read(&lab.audit).expect("audit log");
    let refs: Vec<&std::process::Output> = outputs.iter().collect();
    assert_run_clean(&refs, &audit, &lab.secrets());
}

/// A config listing every node directly (a dead one refuses connections).
fn config_of_nodes(lab: &Lab, cluster: &Cluster, cell: &str) -> std::path::PathBuf {
    lab.write_config(
        &format!("nodes-{cell}.toml"),
        &LabOptions {
            openbao_addrs: cluster
                .names()
                .iter()
                .map(|n| cluster.addr(n).to_string())
                .collect(),
            failover_secs: Some(30),
            ..Default::default()
        },
    )
}
