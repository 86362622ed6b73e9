//! `audit correlate`: the host's audit trail against an OpenBao file audit
//! device log. Every OpenBao call a run made (its result record's
//! `openbao.calls`) should be in the OpenBao log, and every action OpenBao
//! logged for one of this host's tokens should be in the trail.
//!
//! A call is matched by its request id; a call whose answer had no body (no
//! request id: a 204) by its path and the run's token accessor. Only the
//! OpenBao response entries that can concern this host are kept (their
//! request id is in the trail, or their accessor is), so memory follows the
//! trail, not the OpenBao log.
//!
//! Coverage: a run is outside the OpenBao log when it ended (`ts`) before the
//! log's first entry or started (`ts` minus `duration_ms`) after its last
//! one; an OpenBao entry is outside the trail when it is older than the
//! trail's first record (rotated away). Both count as `not_covered`.

use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use crate::text::escape_untrusted;

mod input;

use input::{read_bao, read_trail, Bao, Relevance, Trail, BAO_MAX_LINE};

/// The `schema` of the report.
pub const SCHEMA: &str = "ops-warden/audit-correlate/v1";

/// Entries listed per missing list (the totals count them all).
const LISTED: usize = 100;
/// Cap of an untrusted string in the report.
const CAP: usize = 200;
/// Cap of a file name in the report.
const PATH_CAP: usize = 512;

type Time = DateTime<FixedOffset>;

/// What `ops-warden audit correlate` reports.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(
    test,
    schemars(
        transform = crate::text::schema::all_required,
        title = "ops-warden audit correlate, version 1",
        description = "What `ops-warden audit correlate --json` prints: the host's audit trail matched against an OpenBao file audit device log."
    )
)]
#[serde(deny_unknown_fields)]
pub struct CorrelateReport {
    /// Always `ops-warden/audit-correlate/v1`.
    #[cfg_attr(test, schemars(extend("const" = SCHEMA)))]
    pub schema: &'static str,
    /// Both missing lists are empty and both inputs were read.
    pub ok: bool,
    pub trail_files: Vec<String>,
    pub openbao_audit: String,
    /// Result records with an `openbao` object.
    pub runs: u64,
    /// Calls listed in those records.
    pub host_calls: u64,
    /// Host calls found in the OpenBao log.
    pub matched: u64,
    /// Host calls outside the OpenBao log's time range or not matchable
    /// (see `notes`), and OpenBao entries older than the trail.
    pub not_covered: u64,
    /// OpenBao response entries read (`sys/health` left out).
    pub openbao_entries: u64,
    /// Host calls the OpenBao log lacks (the first 100).
    pub missing_in_openbao: Vec<Missing>,
    /// OpenBao actions with one of the trail's tokens that the trail lacks
    /// (the first 100).
    pub missing_on_host: Vec<Missing>,
    pub missing_in_openbao_total: u64,
    pub missing_on_host_total: u64,
    pub notes: Vec<String>,
    /// Why an input could not be read.
    pub reason: Option<String>,
}

/// One custody action seen on one side only (strings escaped and capped).
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(test, schemars(transform = crate::text::schema::all_required))]
#[serde(deny_unknown_fields)]
pub struct Missing {
    /// The run (for an OpenBao entry: the run whose token made it, when one
    /// run alone had that token).
    pub run_id: Option<String>,
    /// The `seq` of the run's result record.
    pub seq: Option<u64>,
    /// The host's name for the call (`null` for an OpenBao entry).
    pub call: Option<String>,
    pub path: String,
    pub request_id: Option<String>,
    /// The result record's `ts`, or the OpenBao entry's `time`.
    pub time: Option<String>,
}

/// Matches the trail files (oldest first) against the OpenBao audit log.
pub fn correlate(trail: &[PathBuf], openbao_audit: &Path) -> CorrelateReport {
    let mut report = CorrelateReport::new(trail, openbao_audit);
    if trail.is_empty() {
        return report.failed("no trail file given".into());
    }
    let mut host = match read_trail(trail) {
        Ok(t) => t,
        Err(e) => return report.failed(e),
    };
    report.runs = host.runs.len() as u64;
    report.host_calls = host.calls.len() as u64;
    let rel = Relevance::of(&host);
    let mut bao = match read_bao(openbao_audit, &rel) {
        Ok(b) => b,
        Err(e) => return report.failed(e),
    };
    report.openbao_entries = bao.responses;
    report.matched = match_calls(&mut host, &mut bao);
    let unmatchable = host_side(&host, &bao, &mut report);
    openbao_side(&host, &bao, &rel, &mut report);
    add_notes(&host, &bao, &unmatchable, &mut report);
    report.ok = report.missing_in_openbao_total == 0 && report.missing_on_host_total == 0;
    report
}

impl CorrelateReport {
    fn new(trail: &[PathBuf], openbao_audit: &Path) -> CorrelateReport {
        CorrelateReport {
            schema: SCHEMA,
            ok: false,
            trail_files: trail.iter().map(|p| show_path(p)).collect(),
            openbao_audit: show_path(openbao_audit),
            runs: 0,
            host_calls: 0,
            matched: 0,
            not_covered: 0,
            openbao_entries: 0,
            missing_in_openbao: Vec::new(),
            missing_on_host: Vec::new(),
            missing_in_openbao_total: 0,
            missing_on_host_total: 0,
            notes: Vec::new(),
            reason: None,
        }
    }

    fn failed(mut self, reason: String) -> CorrelateReport {
        self.ok = false;
        self.reason = Some(reason);
        self
    }

    /// One human line: `ok: ...` or `MISMATCH: ...`.
    pub fn summary(&self) -> String {
        if let Some(r) = &self.reason {
            return format!("MISMATCH: cannot correlate: {r}");
        }
        let mut counts = format!(
            "{} of {} calls of {} runs matched ({} not covered, {} OpenBao entries)",
            self.matched, self.host_calls, self.runs, self.not_covered, self.openbao_entries
        );
        if !self.notes.is_empty() {
            counts = format!("{counts}; {} note(s)", self.notes.len());
        }
        if self.ok {
            return format!("ok: {counts}");
        }
        let first = self
            .missing_in_openbao
            .first()
            .or(self.missing_on_host.first())
            .map(|m| format!("; first: {}", m.describe()))
            .unwrap_or_default();
        format!(
            "MISMATCH: {} host call(s) missing in the OpenBao audit log, {} OpenBao \
             action(s) with this host's tokens missing on the host; {counts}{first}",
            self.missing_in_openbao_total, self.missing_on_host_total
        )
    }
}

impl Missing {
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(r) = &self.run_id {
            parts.push(format!("run {r}"));
        }
        if let Some(s) = self.seq {
            parts.push(format!("seq {s}"));
        }
        if let Some(c) = &self.call {
            parts.push(c.clone());
        }
        parts.push(self.path.clone());
        if let Some(id) = &self.request_id {
            parts.push(format!("request {id}"));
        }
        parts.join(" ")
    }
}

/// Marks the calls found in the OpenBao log; returns how many.
fn match_calls(trail: &mut Trail, bao: &mut Bao) -> u64 {
    let mut matched = 0;
    for call in trail.calls.iter_mut() {
        let Some(list) = call.request_id.as_deref().and_then(|id| bao.by_id.get(id)) else {
            continue;
        };
        for &i in list {
            if let Some(e) = bao.entries.get_mut(i) {
                e.used = true;
            }
        }
        call.matched = true;
        matched += 1;
    }
    // Then the calls without a request id, so that none takes an entry a
    // request id names.
    for call in trail.calls.iter_mut() {
        if call.matched || call.request_id.is_some() {
            continue;
        }
        let Some(accessor) = trail.runs.get(call.run).and_then(|r| r.accessor.clone()) else {
            continue;
        };
        let Some(list) = bao.by_path.get(&(call.path.clone(), accessor)) else {
            continue;
        };
        let free = list
            .iter()
            .copied()
            .find(|&i| bao.entries.get(i).is_some_and(|e| !e.used));
        if let Some(e) = free.and_then(|i| bao.entries.get_mut(i)) {
            e.used = true;
            call.matched = true;
            matched += 1;
        }
    }
    matched
}

/// In-range calls without a request id that could not be matched at all.
#[derive(Default)]
struct Unmatchable {
    no_accessor: u64,
    hmac: u64,
}

fn host_side(trail: &Trail, bao: &Bao, report: &mut CorrelateReport) -> Unmatchable {
    let mut out = Unmatchable::default();
    for call in trail.calls.iter().filter(|c| !c.matched) {
        let Some(run) = trail.runs.get(call.run) else {
            continue;
        };
        if !bao.covers(run) {
            report.not_covered += 1;
            continue;
        }
        if call.request_id.is_none() && (run.accessor.is_none() || bao.hmac) {
            if run.accessor.is_none() {
                out.no_accessor += 1;
            } else {
                out.hmac += 1;
            }
            report.not_covered += 1;
            continue;
        }
        report.missing_in_openbao_total += 1;
        if report.missing_in_openbao.len() < LISTED {
            report.missing_in_openbao.push(Missing {
                run_id: run.run_id.as_deref().map(esc),
                seq: run.seq,
                call: call.call.as_deref().map(esc),
                path: esc(&call.path),
                request_id: call.request_id.as_deref().map(esc),
                time: run.ts.as_deref().map(esc),
            });
        }
    }
    out
}

fn openbao_side(trail: &Trail, bao: &Bao, rel: &Relevance, report: &mut CorrelateReport) {
    for e in bao.entries.iter().filter(|e| !e.used) {
        let Some(owner) = e.accessor.as_deref().and_then(|a| rel.accessors.get(a)) else {
            continue;
        };
        // Older than the trail's first record: rotated away, not compared.
        if e.at.zip(trail.first).is_some_and(|(at, first)| at < first) {
            report.not_covered += 1;
            continue;
        }
        report.missing_on_host_total += 1;
        if report.missing_on_host.len() < LISTED {
            let run = owner.and_then(|i| trail.runs.get(i));
            report.missing_on_host.push(Missing {
                run_id: run.and_then(|r| r.run_id.as_deref()).map(esc),
                seq: run.and_then(|r| r.seq),
                call: None,
                path: esc(&e.path),
                request_id: e.id.as_deref().map(esc),
                time: e.time.as_deref().map(esc),
            });
        }
    }
}

fn add_notes(trail: &Trail, bao: &Bao, un: &Unmatchable, report: &mut CorrelateReport) {
    let notes = &mut report.notes;
    if bao.hmac {
        notes.push(format!(
            "the OpenBao audit device HMACs token accessors (declare it with \
             hmac_accessor = \"false\"): {} call(s) without a request id could not be \
             matched (counted as not covered), and actions made with this host's tokens \
             that the trail lacks cannot be found",
            un.hmac
        ));
    }
    if un.no_accessor > 0 {
        notes.push(format!(
            "{} call(s) had neither a request id nor a token accessor: not matchable \
             (counted as not covered)",
            un.no_accessor
        ));
    }
    if bao.first.is_none() {
        notes.push("the OpenBao audit log has no timed entry: it covers no host call".into());
    }
    if trail.skipped > 0 {
        notes.push(format!(
            "{} trail line(s) did not parse and were skipped",
            trail.skipped
        ));
    }
    if bao.skipped > 0 {
        notes.push(format!(
            "{} OpenBao audit line(s) did not parse and were skipped",
            bao.skipped
        ));
    }
    if bao.too_long > 0 {
        notes.push(format!(
            "{} OpenBao audit line(s) longer than {BAO_MAX_LINE} bytes were skipped: \
             calls they logged show as missing_in_openbao",
            bao.too_long
        ));
    }
}

fn esc(s: &str) -> String {
    escape_untrusted(s, CAP)
}

fn show_path(p: &Path) -> String {
    escape_untrusted(&p.display().to_string(), PATH_CAP)
}

#[cfg(test)]
mod tests;
