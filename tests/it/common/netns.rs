//! Test hosts on one machine: a bridge in this namespace and N network
//! namespaces, each with a veth on the bridge and one address. Created by
//! the test, removed on drop; traffic stays on that bridge.

use std::process::Command;

pub struct Net {
    /// The bridge's address (the services listen there).
    pub gateway: String,
    /// (namespace, address) of each host.
    pub hosts: Vec<(String, String)>,
    bridge: String,
}

fn ip(args: &[&str]) {
    super::succeed(
        Command::new("ip").args(args),
        &format!("ip {}", args.join(" ")),
    );
}

impl Net {
    /// A /24 in 10.77.0.0/16 picked by `tag`, and `n` hosts in it.
    pub fn up(n: usize) -> Net {
        super::require_root();
        // Two fleets of one test process (tests run in parallel) get their
        // own bridge, namespaces and subnet.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let nth = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 10;
        let tag = (std::process::id() % 1_000) * 10 + nth;
        let subnet = 10 + tag % 240;
        let bridge = format!("owb{tag}");
        let gateway = format!("10.77.{subnet}.1");
        let mut net = Net {
            gateway: gateway.clone(),
            hosts: Vec::new(),
            bridge: bridge.clone(),
        };
        net.cleanup();
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&["addr", "add", &format!("{gateway}/24"), "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        for i in 1..=n {
            let ns = format!("ow-fleet-{tag}-{i}");
            let veth = format!("owv{tag}x{i}");
            let addr = format!("10.77.{subnet}.{}", 10 + i);
            ip(&["netns", "add", &ns]);
            net.hosts.push((ns.clone(), addr.clone()));
            ip(&[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ]);
            ip(&["link", "set", &veth, "master", &bridge, "up"]);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                "eth0",
            ]);
            ip(&["-n", &ns, "link", "set", "eth0", "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        net
    }

    /// Removes what a run with this tag (this one, or a crashed earlier one
    /// that got the same pid) left.
    fn cleanup(&self) {
        let tag = self.bridge.trim_start_matches("owb").to_string();
        let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
        for line in String::from_utf8_lossy(&list.stdout).lines() {
            let ns = line.split_whitespace().next().unwrap_or("");
            if ns.starts_with(&format!("ow-fleet-{tag}-")) {
                let _ = Command::new("ip").args(["netns", "del", ns]).output();
            }
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // Deleting a namespace deletes its veth end, and so the pair.
        for (ns, _) in &self.hosts {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
    }
}
