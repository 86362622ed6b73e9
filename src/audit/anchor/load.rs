//! Reading the anchor back: which syslog lines count, and for which host.
//!
//! A line counts only when syslog itself says who sent it: the sender's uid
//! (from the kernel's socket credentials) and, when syslog could still read
//! it, the sender's executable. Two line shapes carry those fields:
//! - `journalctl -o json` (`_UID`, `_EXE`, `_COMM`, `MESSAGE`);
//! - rsyslog with the shipped template (`host-config/rsyslog/`), whose
//!   imuxsock input annotates trusted properties (`_uid`, `_exe`, `_comm`,
//!   `message`).
//!
//! Accepted: the lane user or root, running the installed binary. A line
//! from anyone else is ignored and counted (`untrusted`); a line without
//! sender fields (a plain syslog file) is ignored and counted
//! (`unattributed`); a line whose payload is not an anchor record (bad seq,
//! a hash that is not 64 lowercase hex, cut by syslog) is counted and named
//! (`bad`). Nothing in a line can make the reader panic.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::MARKER;
use crate::audit::read::{next_line, Line, MAX_LINE};

/// Who may have sent an anchor line.
#[derive(Debug, Clone, Default)]
pub struct Senders {
    /// Accepted uids (root and the lane user).
    pub uids: Vec<u32>,
    /// Accepted executables (the installed binary); a line whose sender's
    /// executable syslog recorded must name one of them.
    pub exes: Vec<String>,
}

/// One record as the anchor kept it (its hash checked: 64 lowercase hex).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct Anchored {
    pub host: Option<String>,
    pub seq: u64,
    pub hash: String,
    pub run_id: Option<String>,
}

/// What one line is, for the anchor of one host.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No anchor payload here (another program's line, a failure trace).
    NotAnchor,
    /// An anchor line of another host.
    OtherHost,
    /// An anchor line without sender fields.
    Unattributed,
    /// An anchor line from a sender that is not accepted (why).
    Untrusted(String),
    /// An accepted sender's line whose payload is not an anchor record (why).
    Bad(String),
    /// An anchor record; `exe_known` when syslog recorded the executable.
    Accepted { record: Anchored, exe_known: bool },
}

/// How many lines of each kind were passed over, with the first few named.
#[derive(Debug, Default, Clone, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(test, schemars(transform = crate::text::schema::all_required))]
pub struct LineStats {
    /// Accepted anchor lines of this host.
    pub accepted: u64,
    /// Of those, lines whose sender's executable syslog could not read (a
    /// process that had already exited): accepted on the uid alone.
    pub exe_unknown: u64,
    /// Anchor lines from other senders (forged or foreign): ignored.
    pub untrusted: u64,
    /// Anchor lines without sender fields: ignored.
    pub unattributed: u64,
    /// Accepted senders' lines that are not anchor records: ignored.
    pub bad: u64,
    /// Anchor lines of other hosts.
    pub other_host: u64,
    /// The first few ignored lines, `line N: why`.
    pub examples: Vec<String>,
}

/// How many ignored lines are named in [`LineStats::examples`].
const EXAMPLES: usize = 8;

/// The anchor's records for one host, by seq (a seq the anchor holds twice
/// with different hashes is a chain that was restarted or rewritten).
#[derive(Debug, Default)]
pub struct Anchor {
    pub by_seq: HashMap<u64, Anchored>,
    pub duplicates: Vec<(u64, String, String)>,
    pub stats: LineStats,
    first: Option<u64>,
}

impl Anchor {
    /// The lowest seq the anchor holds: records from there on are expected
    /// to have an anchor line.
    pub fn first_seq(&self) -> Option<u64> {
        self.first
    }

    fn take(&mut self, n: u64, verdict: Verdict) {
        let s = &mut self.stats;
        let example = match verdict {
            Verdict::NotAnchor => return,
            Verdict::OtherHost => {
                s.other_host += 1;
                return;
            }
            Verdict::Unattributed => {
                s.unattributed += 1;
                "no sender fields".to_string()
            }
            Verdict::Untrusted(why) => {
                s.untrusted += 1;
                why
            }
            Verdict::Bad(why) => {
                s.bad += 1;
                why
            }
            Verdict::Accepted { record, exe_known } => {
                s.accepted += 1;
                s.exe_unknown += u64::from(!exe_known);
                self.keep(record);
                return;
            }
        };
        if s.examples.len() < EXAMPLES {
            s.examples.push(format!("line {n}: {example}"));
        }
    }

    fn keep(&mut self, a: Anchored) {
        self.first = Some(self.first.map_or(a.seq, |f| f.min(a.seq)));
        match self.by_seq.get(&a.seq) {
            Some(old) if old.hash != a.hash => {
                self.duplicates.push((a.seq, old.hash.clone(), a.hash));
            }
            Some(_) => {}
            None => {
                self.by_seq.insert(a.seq, a);
            }
        }
    }
}

/// Reads every accepted anchor line of `host` from a syslog file.
pub fn load(path: &Path, host: &str, senders: &Senders) -> Result<Anchor, String> {
    let src = crate::audit::read::open(path)?
        .ok_or_else(|| format!("{}: no such file", path.display()))?;
    let mut reader = std::io::BufReader::new(src);
    let mut anchor = Anchor::default();
    let mut line = Vec::new();
    for n in 1.. {
        // A line longer than any anchor line is passed over whole.
        match next_line(&mut reader, &mut line, MAX_LINE * 4).map_err(|e| e.to_string())? {
            Line::End => break,
            Line::TooLong => {}
            Line::Text => anchor.take(n, classify(&line, host, senders)),
        }
    }
    Ok(anchor)
}

/// [`load`] over bytes already in memory (the fuzz target's entry).
pub fn load_bytes(bytes: &[u8], host: &str, senders: &Senders) -> Anchor {
    let mut anchor = Anchor::default();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        anchor.take(i as u64 + 1, classify(line, host, senders));
    }
    anchor
}

/// What one syslog line is for `host`'s anchor.
pub fn classify(line: &[u8], host: &str, senders: &Senders) -> Verdict {
    let text = String::from_utf8_lossy(line);
    let trimmed = text.trim();
    let with_sender = trimmed
        .starts_with('{')
        .then(|| serde_json::from_str::<Map<String, Value>>(trimmed).ok())
        .flatten()
        .filter(|m| field(m, "_UID").is_some());
    let Some(fields) = with_sender else {
        // A plain syslog line, or JSON that does not say who sent it.
        if !text.contains(MARKER) {
            return Verdict::NotAnchor;
        }
        return match payload(&text).filter(is_record) {
            Some(p) if p.get("host").and_then(Value::as_str) != Some(host) => Verdict::OtherHost,
            Some(_) => Verdict::Unattributed,
            None => Verdict::NotAnchor,
        };
    };
    let Some(p) = message(&fields)
        .filter(|m| m.contains(MARKER))
        .and_then(|m| payload(&m))
        .filter(is_record)
    else {
        return Verdict::NotAnchor;
    };
    if p.get("host").and_then(Value::as_str) != Some(host) {
        return Verdict::OtherHost;
    }
    let exe_known = match sender(&fields, senders) {
        Ok(known) => known,
        Err(why) => return Verdict::Untrusted(why),
    };
    match record(&p) {
        Ok(record) => Verdict::Accepted { record, exe_known },
        Err(why) => Verdict::Bad(why),
    }
}

/// A field by its journald name or the lowercase name rsyslog writes.
fn field<'a>(m: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    m.get(name).or_else(|| m.get(&name.to_ascii_lowercase()))
}

/// A field's text: journald writes numbers as strings, and a value that is
/// not UTF-8 as an array of bytes.
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(bytes) => {
            let b: Option<Vec<u8>> = bytes
                .iter()
                .map(|x| x.as_u64().and_then(|n| u8::try_from(n).ok()))
                .collect();
            Some(String::from_utf8_lossy(&b?).into_owned())
        }
        _ => None,
    }
}

fn message(m: &Map<String, Value>) -> Option<String> {
    field(m, "MESSAGE").and_then(text_of)
}

/// `Ok(exe_known)` when the sender is accepted, else why not.
fn sender(m: &Map<String, Value>, senders: &Senders) -> Result<bool, String> {
    let uid = field(m, "_UID").and_then(text_of).unwrap_or_default();
    let Ok(n) = uid.trim().parse::<u32>() else {
        return Err(format!(
            "sender uid {} does not parse",
            crate::text::escape_untrusted(&uid, 16)
        ));
    };
    if !senders.uids.contains(&n) {
        return Err(format!("sent by uid {n}"));
    }
    let exe = field(m, "_EXE").and_then(text_of).unwrap_or_default();
    let exe = exe.strip_suffix(" (deleted)").unwrap_or(&exe);
    if exe.is_empty() {
        return Ok(false);
    }
    if senders.exes.iter().any(|e| e == exe) {
        Ok(true)
    } else {
        Err(format!(
            "sent by uid {n} running {}",
            crate::text::escape_untrusted(exe, 120)
        ))
    }
}

/// The JSON object from a message's first `{`.
fn payload(message: &str) -> Option<Map<String, Value>> {
    let at = message.find('{')?;
    serde_json::from_str(message[at..].trim_end()).ok()
}

/// An anchor payload for a record (not a failure trace).
fn is_record(p: &Map<String, Value>) -> bool {
    p.get("ow_audit") == Some(&Value::from(1)) && p.get("event") != Some(&Value::from("failure"))
}

/// The record a payload names, strictly: seq ≥ 1, hash 64 lowercase hex.
fn record(p: &Map<String, Value>) -> Result<Anchored, String> {
    let seq = p
        .get("seq")
        .and_then(Value::as_u64)
        .filter(|&s| s >= 1)
        .ok_or("no seq")?;
    let hash = p.get("hash").and_then(Value::as_str).unwrap_or_default();
    if !is_sha256_hex(hash) {
        return Err(format!("seq {seq}: the hash is not 64 lowercase hex"));
    }
    Ok(Anchored {
        host: p.get("host").and_then(Value::as_str).map(String::from),
        seq,
        hash: hash.to_string(),
        run_id: p
            .get("run_id")
            .and_then(Value::as_str)
            .map(|r| crate::text::escape_untrusted(r, 64)),
    })
}

/// 64 lowercase hex digits (a SHA-256 as the audit log writes it).
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests;
