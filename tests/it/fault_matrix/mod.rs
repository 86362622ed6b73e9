//! Issue 10 §8: the deterministic fault matrix. Every Inter-Hub request and
//! every OpenBao call of a first bootstrap × {5xx, 429 with Retry-After,
//! timeout, reset, malformed body, oversized body, 401, 403, SIGKILL,
//! SIGTERM, SIGHUP}. Faults are injected by the simulator (Inter-Hub) and by
//! a proxy in front of the real OpenBao; timeouts and signals use a hold (the
//! request waits until released), so no cell depends on timing.
//!
//! Each cell asserts: the fault fired (the simulator or the proxy applied it
//! to a request: the faulted request was made); the exit code is the
//! README's for the error code; the audit log's last record is this run's
//! result with the same outcome and code (an intent, after SIGKILL); at most
//! one live key, and it is the stored one (after SIGKILL, or a store that
//! ends `unconfirmed`, at most one live key in all: the run may have left
//! the key it was making live and unstored, journaled for the next run); no temporary file left; and the next run (faults cleared)
//! converges to exactly one live, stored key. Every run's output, the next
//! runs' included, is scanned at the end for every secret any cell issued.
//! The observed table is compared with the committed `wiki/FaultMatrix.md`
//! (`OW_BLESS=1` rewrites it), so each cell's exit and code are asserted
//! exactly.

mod cells;

use std::collections::BTreeMap;
use std::process::{Child, Output, Stdio};

use serde_json::Value;

use crate::common::lab::{Lab, LabOptions};
use crate::common::proxy::Proxy;
use crate::common::{assert_schema, code_of, evidence};

pub(super) use cells::{Service, Target, FAULTS, TARGETS};

/// The matrix's `interhub.orphan_key_age_secs`: a key nobody holds is
/// revoked by the run that follows this much later.
const ORPHAN_AGE_SECS: u64 = 2;

/// What one cell ended in.
struct Cell {
    exit: String,
    code: String,
    key: String,
}

struct Matrix {
    lab: Lab,
    proxy: Proxy,
    /// Every run's output (the cells' and the next runs'), scanned once at
    /// the end for every secret any cell issued (the simulator's record of
    /// issued secrets survives its resets, so a secret issued later is
    /// looked for in earlier output too).
    outputs: std::cell::RefCell<Vec<Output>>,
    config: std::path::PathBuf,
    /// README: error code -> exit code.
    exits: BTreeMap<String, i32>,
}

impl Matrix {
    fn start() -> Matrix {
        let lab = Lab::start("fault-matrix");
        let (proxy, config) = lab.behind_proxy(
            "matrix.toml",
            LabOptions {
                timeout_secs: Some(1),
                retries: Some(1),
                orphan_key_age_secs: Some(ORPHAN_AGE_SECS),
                ..Default::default()
            },
        );
        Matrix {
            lab,
            proxy,
            outputs: Default::default(),
            config,
            exits: crate::common::readme_codes().into_iter().collect(),
        }
    }

    /// Back to a fresh Inter-Hub and an empty runtime key slot.
    fn reset(&self) {
        self.lab.start_over();
        self.proxy.clear_faults();
        self.proxy.release();
    }

    fn spawn(&self) -> Child {
        self.lab
            .force_command(&self.config, "bootstrap")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn held(&self, t: &Target) -> u64 {
        match t.service {
            Service::InterHub => self.lab.sim.state()["held"].as_u64().expect("held"),
            Service::OpenBao => self.proxy.held(),
        }
    }

    /// `[method, path]` of each request the cell's fault was applied to.
    fn fired(&self, t: &Target) -> Vec<Value> {
        match t.service {
            Service::InterHub => self.lab.sim.fired(),
            Service::OpenBao => self.proxy.fired(),
        }
    }

    fn release(&self, t: &Target) {
        match t.service {
            Service::InterHub => self.lab.sim.release(),
            Service::OpenBao => self.proxy.release(),
        }
    }

    fn run_cell(&self, t: &Target, fault: &str) -> Cell {
        self.reset();
        let f = cells::fault(t, fault);
        match t.service {
            Service::InterHub => self.lab.sim.fault(f),
            Service::OpenBao => self.proxy.fault(f),
        }
        let child = self.spawn();
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let out = match fault {
            "SIGKILL" | "SIGTERM" | "SIGHUP" => {
                if !self.wait_held(t) {
                    let out = child.wait_with_output().unwrap();
                    panic!(
                        "{} × {fault}: the request was never held; the run ended: {:#}",
                        t.name,
                        evidence(&out)
                    );
                }
                let sig = match fault {
                    "SIGKILL" => nix::sys::signal::Signal::SIGKILL,
                    "SIGTERM" => nix::sys::signal::Signal::SIGTERM,
                    _ => nix::sys::signal::Signal::SIGHUP,
                };
                nix::sys::signal::kill(pid, sig).unwrap();
                if fault == "SIGKILL" {
                    // Dead before its request was answered: nothing to release yet.
                    let out = child.wait_with_output().unwrap();
                    self.release(t);
                    out
                } else {
                    // Give the signal a moment to land before the answer does.
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    self.release(t);
                    child.wait_with_output().unwrap()
                }
            }
            _ => child.wait_with_output().unwrap(),
        };
        // A fault that matched nothing (a path that changed, a request no
        // longer made) would look like one the run tolerates.
        let fired = self.fired(t);
        assert!(
            !fired.is_empty(),
            "{} × {fault}: the fault never fired: no {} {}… was made; stdout: {}",
            t.name,
            t.method,
            t.path,
            String::from_utf8_lossy(&out.stdout)
        );
        let cell = self.check_run(t, fault, &out);
        // A held request the run gave up on now reaches the server (late).
        self.release(t);
        self.converge(t, fault);
        cell
    }

    /// Whether the faulted request came and is held (within 30 s).
    fn wait_held(&self, t: &Target) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while self.held(t) == 0 {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        true
    }

    /// The cell's own checks; returns what it ended in.
    fn check_run(&self, t: &Target, fault: &str, out: &Output) -> Cell {
        let at = format!("{} × {fault}", t.name);
        let last = last_record(&self.lab.audit);
        if fault == "SIGKILL" {
            assert_eq!(out.status.code(), None, "{at}: killed");
            assert!(out.stdout.is_empty(), "{at}: no evidence after SIGKILL");
            assert_eq!(last["event"], "intent", "{at}: the intent is on disk");
            // The killed run may have left the key it was making live and
            // unstored (the next run revokes it: `converge`); never two.
            let live = self.lab.sim.active_keys();
            assert!(live.len() <= 1, "{at}: {} live keys", live.len());
            self.no_temp_files(&at);
            self.outputs.borrow_mut().push(out.clone());
            return Cell {
                exit: "killed".into(),
                code: "-".into(),
                key: "-".into(),
            };
        }
        let doc = evidence(out);
        assert_schema(&doc);
        let exit = out.status.code().expect("an exit code");
        let code = code_of(&doc).to_string();
        let want = if code == "none" { 0 } else { self.exits[&code] };
        assert_eq!(exit, want, "{at}: exit {exit} is not {code}'s: {doc:#}");
        assert_eq!(last["event"], "result", "{at}");
        assert_eq!(
            last["run_id"], doc["run_id"],
            "{at}: the result record is this run's"
        );
        assert_eq!(last["outcome"], doc["outcome"], "{at}");
        assert_eq!(
            last["error"]["code"].as_str().unwrap_or("none"),
            code,
            "{at}"
        );
        if doc["result"]["runtime_key"]["status"] == "unconfirmed" {
            // The store's answer was lost and the slot could not be read:
            // the key may be the stored one, so it stays live (journaled)
            // and the next run settles it (`converge`); never two.
            let live = self.lab.sim.active_keys();
            assert!(live.len() <= 1, "{at}: {} live keys", live.len());
        } else {
            self.at_most_one_live_stored_key(&at);
        }
        self.no_temp_files(&at);
        self.outputs.borrow_mut().push(out.clone());
        Cell {
            exit: exit.to_string(),
            code,
            key: doc["result"]["runtime_key"]["status"]
                .as_str()
                .unwrap_or("-")
                .to_string(),
        }
    }

    /// The next run, faults cleared, ends with exactly one live, stored key.
    fn converge(&self, t: &Target, fault: &str) {
        self.lab.sim.clear_faults();
        self.proxy.clear_faults();
        let out = self.spawn().wait_with_output().unwrap();
        let doc = evidence(&out);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{} × {fault}: the next run converges: {doc:#}",
            t.name
        );
        // A key nobody holds (a held key creation that reached Inter-Hub
        // after its run was gone) is left until it is an orphan: the run
        // after that revokes it.
        let left = doc["result"]["runtime_key"]["left"].clone();
        self.outputs.borrow_mut().push(out);
        if left.as_array().is_some_and(|l| !l.is_empty()) {
            std::thread::sleep(std::time::Duration::from_millis(
                ORPHAN_AGE_SECS * 1000 + 500,
            ));
            let out = self.spawn().wait_with_output().unwrap();
            let doc = evidence(&out);
            assert_eq!(out.status.code(), Some(0), "{} × {fault}: {doc:#}", t.name);
            assert_eq!(
                doc["result"]["runtime_key"]["revoked"], left,
                "{} × {fault}",
                t.name
            );
            self.outputs.borrow_mut().push(out);
        }
        self.lab.assert_one_live_stored_key();
    }

    fn at_most_one_live_stored_key(&self, at: &str) {
        let live = self.lab.sim.active_keys();
        assert!(live.len() <= 1, "{at}: {} live keys", live.len());
        if let Some(k) = live.first() {
            let stored = self.lab.stored_key().map(|(key, _)| key[..12].to_string());
            assert_eq!(
                stored.as_deref(),
                k["prefix"].as_str(),
                "{at}: the live key is the stored one"
            );
        }
    }

    fn no_temp_files(&self, at: &str) {
        for dir in [self.lab.fx.path("state"), self.lab.fx.path("log")] {
            for e in std::fs::read_dir(&dir).unwrap().flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                assert!(
                    !name.contains(".tmp") && !name.starts_with("helper-"),
                    "{at}: {name} left in {}",
                    dir.display()
                );
            }
        }
    }
}

fn last_record(log: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(log).expect("the audit log");
    serde_json::from_str(text.lines().last().expect("a record")).expect("a record is JSON")
}

/// The matrix as the committed table shows it.
fn render(rows: &[(String, String, Cell)]) -> String {
    let mut s = String::from(
        "# Fault matrix\n\n\
         Generated by `tests/it/fault_matrix` (`OW_BLESS=1 cargo test --test it fault_matrix` \
         rewrites it; the test fails when a run differs). Each row is one cell: a first \
         `bootstrap` with that fault on that request; the run's exit code, error code and \
         runtime key status. In every cell the fault fired (the faulted request was made), \
         the audit log's last record is the run's result (an intent after SIGKILL), at most \
         one key is live and it is the stored one (after SIGKILL or an `unconfirmed` store: \
         at most one key is live, stored or not; the next run settles it), no temporary file is left, and the next run converges to exactly \
         one live, stored key.\n\n\
         Faults: `5xx` (500 on every attempt), `429` (with `Retry-After: 0`), `timeout` (held \
         past the 1 s timeout), `reset` (RST, no answer), `malformed` (not JSON), `oversized` \
         (2 MiB), `401`, `403`, and ops-warden killed (`SIGKILL`) or signalled (`SIGTERM`, \
         `SIGHUP`) while that request is held. Retries: 1.\n\n\
         | request | fault | exit | code | runtime key |\n|---|---|---|---|---|\n",
    );
    for (t, f, c) in rows {
        s.push_str(&format!(
            "| {t} | {f} | {} | {} | {} |\n",
            c.exit, c.code, c.key
        ));
    }
    s
}

#[test]
fn every_request_of_a_bootstrap_under_every_fault() {
    crate::common::deadline(1500);
    let m = Matrix::start();
    let mut rows = Vec::new();
    // OW_MATRIX_ONLY=<request name part>: one row's cells (while debugging;
    // the table is then not compared).
    let only = std::env::var("OW_MATRIX_ONLY").ok();
    for t in TARGETS {
        if only.as_deref().is_some_and(|o| !t.name.contains(o)) {
            continue;
        }
        for f in FAULTS {
            let cell = m.run_cell(t, f);
            rows.push((t.name.to_string(), f.to_string(), cell));
        }
    }
    // One scan of all the runs' stdout, one of their stderr (joined by
    // newlines, which no form of a secret holds) and one of the audit log:
    // every secret's forms are made three times, not once per run.
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    for o in m.outputs.borrow().iter() {
        stdout.extend_from_slice(&o.stdout);
        stdout.push(b'\n');
        stderr.extend_from_slice(&o.stderr);
        stderr.push(b'\n');
    }
    let audit = std::fs::read(&m.lab.audit).expect("the audit log");
    let secrets = m.lab.secrets();
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    crate::common::scan::assert_clean("a run's stdout", &stdout, &secrets);
    crate::common::scan::assert_clean("a run's stderr", &stderr, &secrets);
    crate::common::scan::assert_clean("the audit log", &audit, &secrets);
    // The chain holds across every cell, killed runs included.
    let v = std::process::Command::new(crate::common::bin())
        .arg("--config")
        .arg(&m.config)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stdout)
    );
    if only.is_some() {
        return;
    }
    let table = render(&rows);
    let path = crate::common::repo().join("wiki/FaultMatrix.md");
    if std::env::var_os("OW_BLESS").is_some() {
        std::fs::write(&path, &table).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == table,
        "wiki/FaultMatrix.md differs from this run (OW_BLESS=1 rewrites it):\n{}",
        diff(&committed, &table)
    );
}

fn diff(a: &str, b: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    b.iter()
        .filter(|l| !a.contains(l))
        .map(|l| format!("+ {l}"))
        .chain(
            a.iter()
                .filter(|l| !b.contains(l))
                .map(|l| format!("- {l}")),
        )
        .collect::<Vec<_>>()
        .join("\n")
}

/// The CAS write landed but its answer was lost (a 500 after OpenBao applied
/// it): the slot is read again, the key is found stored, and the run is ok
/// (not revoked: that would leave a dead key in the slot).
#[test]
fn a_store_whose_answer_was_lost_is_found_stored() {
    let m = Matrix::start();
    m.reset();
    m.proxy.fault(serde_json::json!({
        "method": "POST",
        "path": "/v1/secret/data/platform/operators/ops-hub/runtime",
        "status": 500,
        "after": true,
        "count": 1,
    }));
    let out = m.spawn().wait_with_output().unwrap();
    let doc = evidence(&out);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert_eq!(doc["result"]["runtime_key"]["status"], "created");
    let notes = doc["result"]["openbao"]["notes"].to_string();
    assert!(
        notes.contains(
            "the store's answer was lost (openbao-server-error); the key was found stored as v1"
        ),
        "{doc:#}"
    );
    m.lab.assert_one_live_stored_key();
}
