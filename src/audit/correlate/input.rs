//! Reading the two inputs of `audit correlate`: the host's trail (result
//! records with an `openbao` object) and the OpenBao file audit log (the
//! response entries that can concern this host), line by line in bounded
//! memory; lines that do not parse are counted and skipped.

use std::collections::{HashMap, HashSet};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta};
use serde::Deserialize;

use super::{esc, show_path, Time};
use crate::audit::read::{next_line, Line};

/// Longest OpenBao audit line read (longer ones are skipped and counted).
pub(super) const BAO_MAX_LINE: usize = 1 << 20;
/// How the file audit device writes an HMAC'd accessor.
const HMAC_PREFIX: &str = "hmac-sha256:";
/// Unauthenticated: never one of the host's custody calls.
const HEALTH: &str = "sys/health";

#[derive(Deserialize)]
struct TrailRecord {
    event: Option<String>,
    run_id: Option<String>,
    seq: Option<u64>,
    ts: Option<String>,
    duration_ms: Option<serde_json::Value>,
    openbao: Option<TrailBao>,
}

#[derive(Deserialize)]
struct TrailBao {
    accessor: Option<String>,
    calls: Option<Vec<TrailCall>>,
}

#[derive(Deserialize)]
struct TrailCall {
    call: Option<String>,
    path: Option<String>,
    request_id: Option<String>,
}

/// A result record with an `openbao` object.
pub(super) struct Run {
    pub(super) run_id: Option<String>,
    pub(super) seq: Option<u64>,
    pub(super) ts: Option<String>,
    pub(super) end: Option<Time>,
    pub(super) start: Option<Time>,
    pub(super) accessor: Option<String>,
}

pub(super) struct HostCall {
    pub(super) run: usize,
    pub(super) call: Option<String>,
    pub(super) path: String,
    pub(super) request_id: Option<String>,
    pub(super) matched: bool,
}

#[derive(Default)]
pub(super) struct Trail {
    pub(super) runs: Vec<Run>,
    pub(super) calls: Vec<HostCall>,
    /// The oldest record's `ts` (any event).
    pub(super) first: Option<Time>,
    pub(super) skipped: u64,
}

impl Trail {
    fn add_line(&mut self, line: &[u8]) {
        if is_blank(line) {
            return;
        }
        let Ok(rec) = serde_json::from_slice::<TrailRecord>(line) else {
            self.skipped += 1;
            return;
        };
        let end = rec.ts.as_deref().and_then(parse_time);
        if let Some(t) = end {
            self.first = Some(self.first.map_or(t, |f| f.min(t)));
        }
        if rec.event.as_deref() != Some("result") {
            return;
        }
        let Some(bao) = rec.openbao else { return };
        let run = self.runs.len();
        for c in bao.calls.unwrap_or_default() {
            self.calls.push(HostCall {
                run,
                call: c.call,
                path: c.path.unwrap_or_default(),
                request_id: c.request_id.filter(|s| !s.is_empty()),
                matched: false,
            });
        }
        let took = rec
            .duration_ms
            .as_ref()
            .and_then(serde_json::Value::as_u64)
            .and_then(|ms| i64::try_from(ms).ok())
            .and_then(TimeDelta::try_milliseconds);
        let start = match (end, took) {
            (Some(t), Some(d)) => t.checked_sub_signed(d).or(Some(t)),
            (t, _) => t,
        };
        self.runs.push(Run {
            run_id: rec.run_id,
            seq: rec.seq,
            ts: rec.ts,
            end,
            start,
            accessor: bao.accessor.filter(|s| !s.is_empty()),
        });
    }
}

/// What makes an OpenBao entry worth keeping.
pub(super) struct Relevance {
    pub(super) ids: HashSet<String>,
    /// Accessor -> the one run that had it (`None`: several runs).
    pub(super) accessors: HashMap<String, Option<usize>>,
}

impl Relevance {
    pub(super) fn of(trail: &Trail) -> Relevance {
        let ids = trail
            .calls
            .iter()
            .filter_map(|c| c.request_id.clone())
            .collect();
        let mut accessors: HashMap<String, Option<usize>> = HashMap::new();
        for (i, run) in trail.runs.iter().enumerate() {
            if let Some(a) = &run.accessor {
                accessors
                    .entry(a.clone())
                    .and_modify(|r| *r = None)
                    .or_insert(Some(i));
            }
        }
        Relevance { ids, accessors }
    }
}

#[derive(Deserialize)]
struct BaoLine {
    time: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    auth: Option<BaoAuth>,
    request: Option<BaoRequest>,
}

#[derive(Deserialize)]
struct BaoAuth {
    accessor: Option<String>,
}

#[derive(Deserialize)]
struct BaoRequest {
    id: Option<String>,
    path: Option<String>,
    client_token_accessor: Option<String>,
}

/// A kept OpenBao response entry.
pub(super) struct Entry {
    pub(super) id: Option<String>,
    pub(super) path: String,
    pub(super) accessor: Option<String>,
    pub(super) time: Option<String>,
    pub(super) at: Option<Time>,
    pub(super) used: bool,
}

#[derive(Default)]
pub(super) struct Bao {
    pub(super) entries: Vec<Entry>,
    pub(super) by_id: HashMap<String, Vec<usize>>,
    pub(super) by_path: HashMap<(String, String), Vec<usize>>,
    pub(super) first: Option<Time>,
    pub(super) last: Option<Time>,
    pub(super) responses: u64,
    pub(super) hmac: bool,
    pub(super) skipped: u64,
    pub(super) too_long: u64,
}

impl Bao {
    fn add_line(&mut self, line: &[u8], rel: &Relevance) {
        if is_blank(line) {
            return;
        }
        let Ok(l) = serde_json::from_slice::<BaoLine>(line) else {
            self.skipped += 1;
            return;
        };
        let at = l.time.as_deref().and_then(parse_time);
        if let Some(t) = at {
            self.first = Some(self.first.map_or(t, |f| f.min(t)));
            self.last = Some(self.last.map_or(t, |f| f.max(t)));
        }
        if l.kind.as_deref() != Some("response") {
            return;
        }
        let Some(req) = l.request else {
            self.skipped += 1;
            return;
        };
        let path = req.path.unwrap_or_default();
        if path == HEALTH {
            return;
        }
        self.responses += 1;
        // A login has no caller token: its accessor is the new token's.
        let accessor = req
            .client_token_accessor
            .or_else(|| l.auth.and_then(|a| a.accessor))
            .filter(|a| !a.is_empty());
        if accessor
            .as_deref()
            .is_some_and(|a| a.starts_with(HMAC_PREFIX))
        {
            self.hmac = true;
        }
        let id = req.id.filter(|s| !s.is_empty());
        let by_id = id.as_deref().is_some_and(|i| rel.ids.contains(i));
        let by_accessor = accessor
            .as_deref()
            .is_some_and(|a| rel.accessors.contains_key(a));
        if !by_id && !by_accessor {
            return;
        }
        let index = self.entries.len();
        if let Some(i) = &id {
            self.by_id.entry(i.clone()).or_default().push(index);
        }
        if let Some(a) = &accessor {
            self.by_path
                .entry((path.clone(), a.clone()))
                .or_default()
                .push(index);
        }
        self.entries.push(Entry {
            id,
            path,
            accessor,
            time: l.time,
            at,
            used: false,
        });
    }

    /// Whether the log's time range may hold the run's calls.
    pub(super) fn covers(&self, run: &Run) -> bool {
        let (Some(first), Some(last)) = (self.first, self.last) else {
            return false;
        };
        !(run.end.is_some_and(|t| t < first) || run.start.is_some_and(|t| t > last))
    }
}

pub(super) fn read_trail(files: &[PathBuf]) -> Result<Trail, String> {
    let mut trail = Trail::default();
    for file in files {
        let mut reader = open(file, "trail file")?;
        let mut buf = Vec::new();
        loop {
            let line = next_line(&mut reader, &mut buf, crate::audit::read::MAX_LINE)
                .map_err(|e| read_error("trail file", file, &e))?;
            match line {
                Line::End => break,
                Line::TooLong => trail.skipped += 1,
                Line::Text => trail.add_line(&buf),
            }
        }
    }
    Ok(trail)
}

pub(super) fn read_bao(path: &Path, rel: &Relevance) -> Result<Bao, String> {
    let mut bao = Bao::default();
    let mut reader = open(path, "OpenBao audit log")?;
    let mut buf = Vec::new();
    loop {
        let line = next_line(&mut reader, &mut buf, BAO_MAX_LINE)
            .map_err(|e| read_error("OpenBao audit log", path, &e))?;
        match line {
            Line::End => break,
            Line::TooLong => bao.too_long += 1,
            Line::Text => bao.add_line(&buf, rel),
        }
    }
    Ok(bao)
}

fn open(path: &Path, what: &str) -> Result<BufReader<Box<dyn Read + Send>>, String> {
    let src = crate::audit::read::open(path)
        .map_err(|e| format!("{what} {}: {}", show_path(path), esc(&e)))?
        .ok_or_else(|| format!("{what} {}: no such file", show_path(path)))?;
    Ok(BufReader::with_capacity(64 << 10, src))
}

fn read_error(what: &str, path: &Path, e: &std::io::Error) -> String {
    format!("{what} {}: read: {}", show_path(path), esc(&e.to_string()))
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

fn parse_time(s: &str) -> Option<Time> {
    DateTime::parse_from_rfc3339(s).ok()
}
