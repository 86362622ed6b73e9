//! Issue 13 §3–4: a rerun's Inter-Hub requests go out in a few waves, not
//! one after another; a large seed set is written at most 8 requests at a
//! time and a rerun of it reads once and writes nothing. (Wall times are
//! the benchmark's: bench/run.sh.)

use serde_json::{json, Value};

use crate::common::lab::{Lab, LabOptions};
use crate::common::{evidence, sim::Sim};

/// Seconds of the day a request reached the simulator (its log's `ts`).
fn arrival(r: &Value) -> f64 {
    let ts = r["ts"].as_str().expect("ts");
    let time = ts.split('T').nth(1).expect("time").trim_end_matches('Z');
    let mut parts = time.split(':').map(|p| p.parse::<f64>().expect("number"));
    let (h, m, s) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    h * 3600.0 + m * 60.0 + s
}

/// The requests logged since `from`, grouped into waves: with every answer
/// `latency_ms` away, a request that waited for another's answer arrives at
/// least that long after it; requests sent together arrive together.
fn waves(sim: &Sim, from: usize, latency_ms: f64) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut start = f64::NEG_INFINITY;
    let requests = sim.requests();
    let served = requests
        .iter()
        .skip(from)
        .filter(|r| !r["path"].as_str().unwrap_or("").starts_with("/_sim/"));
    for r in served {
        let t = arrival(r);
        let name = format!(
            "{} {}",
            r["method"].as_str().unwrap(),
            r["path"].as_str().unwrap()
        );
        if t - start >= 0.9 * latency_ms / 1000.0 {
            start = t;
            out.push(Vec::new());
        }
        out.last_mut().unwrap().push(name);
    }
    out
}

/// A `bootstrap` with this config that must succeed; its evidence.
fn bootstrap_ok(lab: &Lab, config: &std::path::PathBuf) -> Value {
    let out = lab
        .force_command(config, "bootstrap")
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    evidence(&out)
}

#[test]
fn a_rerun_sends_its_reads_together_and_writes_nothing() {
    let lab = Lab::start("scale-rerun");
    assert_eq!(lab.run("bootstrap").status.code(), Some(0));
    // Far enough that a request sent after another's answer cannot be
    // mistaken for one sent with it, even on a loaded machine.
    lab.sim.set_latency(300);
    lab.sim.clear_counters();
    let from = lab.sim.requests().len();
    let ev = bootstrap_ok(&lab, &lab.config);
    assert_eq!(ev["result"]["runtime_key"]["status"], "reused");
    assert_eq!(lab.sim.writes(), 0, "a rerun writes nothing");
    let waves = waves(&lab.sim, from, 300.0);
    let all: Vec<&String> = waves.iter().flatten().collect();
    let mut sorted: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
    sorted.sort();
    let consumer = lab.sim.state()["consumers"][0]["id"]
        .as_str()
        .expect("consumer id")
        .to_string();
    let keys = format!("GET /api/v2/admin/api-consumers/{consumer}/keys");
    assert_eq!(
        sorted,
        [
            keys.as_str(),
            "GET /api/v2/admin/api-consumers?hub=ops-hub",
            "GET /api/v2/admin/hubs/ops-hub",
            "GET /api/v2/admin/hubs/ops-hub/manifests",
            "GET /api/v2/annotation-categories",
            "GET /api/v2/event-types",
            "GET /api/v2/health",
            "GET /api/v2/hub-registry",
            "GET /api/v2/hubs/ops-hub/widgets",
            "GET /api/v2/widget-types",
            "POST /api/v2/token",
        ],
        "each route once: the validation reuses the gate's registries and the key step's proof"
    );
    // Wave 1: every read that needs nothing but the hub's name; wave 2: the
    // token (the stored key) and the key list (the consumer); wave 3: the
    // widgets (the token).
    assert_eq!(waves.len(), 3, "{waves:#?}");
    assert_eq!(waves[0].len(), 8, "{waves:#?}");
    assert!(
        waves[1].contains(&"POST /api/v2/token".to_string()),
        "{waves:#?}"
    );
    assert_eq!(waves[2], ["GET /api/v2/hubs/ops-hub/widgets"], "{waves:#?}");
    assert_eq!(
        lab.sim.in_flight_max(),
        8,
        "the first wave was in flight at once, and never more than 8"
    );
}

#[test]
fn a_thousand_widgets_go_out_eight_at_a_time_and_a_rerun_only_reads_them() {
    let lab = Lab::start("scale-widgets");
    let widgets: Vec<Value> = (0..1000)
        .map(|i| {
            json!({"key": format!("svc-{i:04}"), "type": "ops.service-status-card",
                   "title": format!("Service {i}"),
                   "config": {"service": format!("svc-{i:04}"), "environment": "production"}})
        })
        .collect();
    let seed = lab.fx.write(
        "many-widgets.json",
        &json!({"hub": "ops-hub", "widgets": widgets}).to_string(),
        0o644,
    );
    let config = lab.write_config(
        "many.toml",
        &LabOptions {
            widgets: Some(seed),
            ..Default::default()
        },
    );
    // A little latency keeps requests in flight long enough to be counted.
    lab.sim.set_latency(5);
    // A refused upsert stops the batch: what was in flight finishes, nothing
    // more is sent.
    lab.sim.fault(json!({"method": "PUT", "path": "/api/v2/hubs/ops-hub/widgets/svc-0003", "status": 422, "count": 1}));
    let out = lab
        .force_command(&config, "bootstrap")
        .output()
        .expect("run");
    assert_eq!(crate::common::code_of(&evidence(&out)), "interhub-rejected");
    assert_eq!(out.status.code(), Some(65));
    let puts = lab.sim.count("PUT");
    // Upserts 0–7 go out; each answer taken lets the next one go (8, 9,
    // 10); the 4th answer (upsert 3) refuses: nothing more is sent.
    assert_eq!(puts, 11, "the batch stopped after the refusal");
    lab.sim.clear_counters();
    let ev = bootstrap_ok(&lab, &config);
    let reported = ev["result"]["widgets"].as_array().expect("widgets");
    assert_eq!(reported.len(), 1000);
    assert_eq!(
        reported.iter().filter(|w| w["status"] == "created").count(),
        1000 - (puts - 1),
        "the widgets the stopped run made are unchanged now"
    );
    let state = lab.sim.state();
    assert_eq!(state["widgets"].as_array().unwrap().len(), 1000);
    let peak = lab.sim.in_flight_max();
    assert!(
        (2..=8).contains(&peak),
        "at most 8 requests in flight, and more than one: {peak}"
    );

    lab.sim.clear_counters();
    let from = lab.sim.requests().len();
    bootstrap_ok(&lab, &config);
    assert_eq!(lab.sim.writes(), 0, "a rerun writes nothing");
    let widget_calls = lab
        .sim
        .requests()
        .iter()
        .skip(from)
        .filter(|r| r["path"].as_str().unwrap_or("").contains("/widgets"))
        .count();
    assert_eq!(widget_calls, 1, "one list call");
}
