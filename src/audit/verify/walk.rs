//! The chain walk: lines parsed and hashed by the workers, links checked in
//! order by one thread.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc::{channel, sync_channel, Receiver};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::super::anchor::Anchor;
use super::super::read::{self, Chunks};
use super::VerifyReport;

/// One line, as the workers see it.
pub(super) struct LineInfo {
    pub(super) seq: u64,
    pub(super) prev: [u8; 32],
    pub(super) hash: [u8; 32],
    pub(super) chain_start: bool,
    pub(super) host: Option<String>,
}

#[derive(Deserialize)]
struct Minimal<'a> {
    seq: u64,
    #[serde(borrow)]
    prev: &'a str,
    #[serde(default, borrow)]
    event: Option<&'a str>,
    #[serde(default, borrow)]
    host: Option<&'a str>,
}

fn parse_line(raw: &[u8]) -> Result<LineInfo, String> {
    let m: Minimal = serde_json::from_slice(raw).map_err(|e| {
        if e.is_data() {
            "record lacks seq or prev".to_string()
        } else {
            "record does not parse".to_string()
        }
    })?;
    let mut prev = [0u8; 32];
    hex::decode_to_slice(m.prev, &mut prev).map_err(|_| "prev is not a SHA-256".to_string())?;
    let chain_start = m.event == Some("chain-start");
    Ok(LineInfo {
        seq: m.seq,
        prev,
        hash: Sha256::digest(raw).into(),
        chain_start,
        host: if chain_start {
            m.host.map(String::from)
        } else {
            None
        },
    })
}

/// A chunk of whole lines and its place in the file.
type Numbered = (usize, Vec<u8>);

/// A chunk's lines; on the first bad line, its index and why.
pub(super) type Parsed = (Vec<LineInfo>, Option<(usize, String)>, bool);

pub(super) fn parse_chunk(chunk: &[u8]) -> Parsed {
    let complete = chunk.last() == Some(&b'\n');
    let body = if complete {
        &chunk[..chunk.len() - 1]
    } else {
        chunk
    };
    let mut out = Vec::with_capacity(chunk.len() / 256);
    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        match parse_line(raw) {
            Ok(l) => out.push(l),
            Err(e) => return (out, Some((i, e)), complete),
        }
    }
    (out, None, complete)
}

pub(super) const EMPTY: &str = "file is empty (a log always starts with chain-start)";

/// The state carried from line to line and file to file.
#[derive(Default)]
pub(super) struct Walk {
    pub(super) prev: Option<(u64, [u8; 32])>,
    pub(super) first_seq: Option<u64>,
    /// The first record's `prev` (what it says came before the files given).
    pub(super) first_prev: Option<[u8; 32]>,
    /// The host every chain-start must name (the verifier's).
    pub(super) expect_host: Option<String>,
    pub(super) lines_in_file: usize,
    pub(super) anchor: Option<Anchor>,
    pub(super) anchor_matched: u64,
    pub(super) anchor_bad: Option<(u64, String)>,
    /// Records from the anchor's first seq on without an anchor line.
    pub(super) unanchored: u64,
    pub(super) first_unanchored: Option<u64>,
    /// Records older than the anchor's first line.
    pub(super) before_anchor: u64,
}

impl Walk {
    pub(super) fn file(
        &mut self,
        file: &Path,
        report: &mut VerifyReport,
    ) -> Result<(), (usize, String)> {
        self.lines_in_file = 0;
        let src = read::open(file)
            .map_err(|e| (0, e))?
            .ok_or((0, "no such file".to_string()))?;
        let (tx, rx) = sync_channel::<Numbered>(2);
        let (done_tx, done_rx) = channel::<(usize, Parsed)>();
        let rx = Arc::new(Mutex::new(rx));
        std::thread::scope(|s| -> Result<(), (usize, String)> {
            let reader = s.spawn(move || -> Result<usize, String> {
                let mut chunks = Chunks::new(src);
                let mut n = 0;
                while let Some(c) = chunks.next_chunk()? {
                    if tx.send((n, c)).is_err() {
                        break; // the walk stopped early
                    }
                    n += 1;
                }
                Ok(n)
            });
            for _ in 0..2 {
                let rx: Arc<Mutex<Receiver<Numbered>>> = Arc::clone(&rx);
                let done = done_tx.clone();
                s.spawn(move || loop {
                    let next = rx.lock().map(|r| r.recv());
                    let Ok(Ok((i, chunk))) = next else { break };
                    if done.send((i, parse_chunk(&chunk))).is_err() {
                        break;
                    }
                });
            }
            drop(done_tx);
            let mut pending: BTreeMap<usize, Parsed> = BTreeMap::new();
            let mut want = 0;
            let mut result = Ok(());
            for (i, parsed) in done_rx.iter() {
                pending.insert(i, parsed);
                while let Some((lines, bad, complete)) = pending.remove(&want) {
                    want += 1;
                    if result.is_ok() {
                        result = self.chunk(lines, bad, complete, report);
                    }
                }
                if result.is_err() {
                    break;
                }
            }
            drop(done_rx);
            drop(rx);
            let read = reader
                .join()
                .unwrap_or_else(|_| Err("reader panicked".into()));
            result?;
            match read {
                Ok(0) => Err((1, EMPTY.to_string())),
                Ok(_) => Ok(()),
                Err(e) => Err((self.lines_in_file + 1, e)),
            }
        })
    }

    pub(super) fn chunk(
        &mut self,
        lines: Vec<LineInfo>,
        bad: Option<(usize, String)>,
        complete: bool,
        report: &mut VerifyReport,
    ) -> Result<(), (usize, String)> {
        let base = self.lines_in_file;
        let count = lines.len();
        for (i, l) in lines.into_iter().enumerate() {
            self.line(base + i + 1, l)?;
            report.records += 1;
        }
        self.lines_in_file += count;
        if let Some((_, why)) = bad {
            let n = self.lines_in_file + 1;
            // The last line without a newline is a truncated record.
            return Err((
                n,
                if complete {
                    why
                } else {
                    "last record is incomplete (truncated)".into()
                },
            ));
        }
        if !complete {
            return Err((
                self.lines_in_file.max(1),
                "last record is incomplete (truncated)".into(),
            ));
        }
        Ok(())
    }

    pub(super) fn line(&mut self, n: usize, l: LineInfo) -> Result<(), (usize, String)> {
        if n == 1 {
            if !l.chain_start {
                return Err((
                    1,
                    "file does not begin with chain-start: leading records were removed".into(),
                ));
            }
            match &self.prev {
                None if l.seq == 1 && l.prev != [0u8; 32] => {
                    return Err((
                        1,
                        "first record of the chain does not start at genesis".into(),
                    ))
                }
                None => {
                    self.first_seq = Some(l.seq);
                    self.first_prev = Some(l.prev);
                }
                Some(p) => {
                    check_link(p, l.seq, &l.prev).map_err(|w| (1, format!("{w} (across files)")))?
                }
            }
        } else if let Some(p) = &self.prev {
            if let Err(w) = check_link(p, l.seq, &l.prev) {
                // A continuous seq with a broken link means the line before was altered.
                return Err(if l.seq == p.0 + 1 { (n - 1, w) } else { (n, w) });
            }
        }
        if l.chain_start {
            self.check_host(n, l.host.as_deref())?;
        }
        self.compare_with_anchor(&l);
        self.prev = Some((l.seq, l.hash));
        Ok(())
    }
}

impl Walk {
    /// A chain-start must name the verifier's host: the log does not get to
    /// choose which anchor lines it is compared with.
    fn check_host(&self, n: usize, host: Option<&str>) -> Result<(), (usize, String)> {
        match &self.expect_host {
            Some(want) if host != Some(want.as_str()) => Err((
                n,
                format!(
                    "the chain-start names host {}, not {want}: a log of another host, \
                     or its host was rewritten (give --host for a log copied from elsewhere)",
                    host.map_or("(none)".into(), |h| format!(
                        "{:?}",
                        crate::text::escape_untrusted(h, 64)
                    ))
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Every record from the anchor's first seq on is compared by seq.
    fn compare_with_anchor(&mut self, l: &LineInfo) {
        let Some(a) = &self.anchor else { return };
        match a.by_seq.get(&l.seq) {
            Some(kept) if kept.hash == hex::encode(l.hash) => self.anchor_matched += 1,
            Some(kept) => {
                if self.anchor_bad.is_none() {
                    self.anchor_bad = Some((
                        l.seq,
                        format!(
                            "seq {}: the anchor keeps a different record (run {}): the log was rewritten",
                            l.seq,
                            kept.run_id.as_deref().unwrap_or("-")
                        ),
                    ));
                }
            }
            None if a.first_seq().is_some_and(|first| l.seq >= first) => {
                self.unanchored += 1;
                self.first_unanchored.get_or_insert(l.seq);
            }
            None => self.before_anchor += 1,
        }
    }
}

fn check_link(prev: &(u64, [u8; 32]), seq: u64, rec_prev: &[u8; 32]) -> Result<(), String> {
    if seq != prev.0 + 1 {
        return Err(format!(
            "seq {seq} follows seq {}: records removed or reordered",
            prev.0
        ));
    }
    if rec_prev != &prev.1 {
        return Err(format!(
            "seq {}: record altered (its hash no longer matches the next record's prev)",
            prev.0
        ));
    }
    Ok(())
}
