//! `audit show`: filtered review of the audit log.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::escape_untrusted;
use crate::error::Error;

/// Filters for `audit show`.
#[derive(Debug, Default)]
pub struct ShowFilter {
    pub since: Option<DateTime<Utc>>,
    pub key_id: Option<String>,
    pub outcome: Option<String>,
}

impl ShowFilter {
    /// `--since` takes RFC 3339 or a relative age (`90s`, `30m`, `12h`, `7d`).
    pub fn parse_since(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, Error> {
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Ok(t.with_timezone(&Utc));
        }
        let bad = |why: &str| Error::Usage(format!("--since {}: {why}", escape_untrusted(s, 40)));
        let split = s
            .char_indices()
            .last()
            .map(|(i, _)| i)
            .ok_or_else(|| bad("empty"))?;
        let (num, unit) = s.split_at(split);
        let n: i64 = num
            .parse()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| bad("use an RFC 3339 time or an age such as 90m, 12h, 2d, 1w"))?;
        let d = match unit {
            "s" => Duration::try_seconds(n),
            "m" => Duration::try_minutes(n),
            "h" => Duration::try_hours(n),
            "d" => Duration::try_days(n),
            "w" => Duration::try_weeks(n),
            _ => return Err(bad("the unit must be s, m, h, d or w")),
        };
        d.and_then(|d| now.checked_sub_signed(d))
            .ok_or_else(|| bad("that age reaches before any representable time"))
    }

    fn keeps(&self, v: &Value) -> bool {
        if let Some(since) = self.since {
            let ts = v
                .get("ts")
                .and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
            if ts.is_none_or(|t| t.with_timezone(&Utc) < since) {
                return false;
            }
        }
        if let Some(k) = &self.key_id {
            let key = v
                .pointer("/caller/key_id")
                .or_else(|| v.pointer("/certificate/key_id"));
            if key.and_then(Value::as_str) != Some(k.as_str()) {
                return false;
            }
        }
        if let Some(o) = &self.outcome {
            if v.get("outcome").and_then(Value::as_str) != Some(o.as_str()) {
                return false;
            }
        }
        true
    }
}

/// The outcomes a record can have (`--outcome` takes one of these).
pub const OUTCOMES: [&str; 6] = ["ok", "refused", "failed", "usage", "busy", "aborted"];

impl ShowFilter {
    /// `--outcome`, checked against the outcomes records can have.
    pub fn parse_outcome(s: &str) -> Result<String, Error> {
        if OUTCOMES.contains(&s) {
            Ok(s.to_string())
        } else {
            Err(Error::Usage(format!(
                "--outcome {}: use one of {}",
                escape_untrusted(s, 40),
                OUTCOMES.join(", ")
            )))
        }
    }
}

/// A table cell: escaped (no control character or escape sequence from a
/// record reaches the reviewer's terminal) and cut to `width` with `…`.
fn cell(v: Option<&str>, width: usize) -> String {
    let text = escape_untrusted(v.unwrap_or("-"), width * 4);
    if text.chars().count() <= width {
        format!("{text:<width$}")
    } else {
        let cut: String = text.chars().take(width - 1).collect();
        format!("{cut}…")
    }
}

/// A record as `--json` prints it: serialised again (the file's own bytes
/// never reach the terminal), with every character a terminal could act on
/// written as a `\uXXXX` escape. serde_json escapes C0 (U+0000..U+001F)
/// itself; DEL, the C1 controls (U+0080..U+009F: U+009B is a one-byte CSI)
/// and U+2028/U+2029 are escaped here. Outside its strings the JSON text is
/// ASCII, so each of these sits inside a string and its escape is the same
/// JSON value.
fn json_line(v: &Value) -> Result<String, Error> {
    let text = serde_json::to_string(v).map_err(|e| Error::Internal(e.to_string()))?;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}') {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Prints the matching records, as JSON lines or as a table with a header.
/// Reads plain or gzip files; lines that are not records are skipped.
pub fn show(
    path: &Path,
    filter: &ShowFilter,
    json: bool,
    out: &mut dyn Write,
) -> Result<usize, Error> {
    let io = |e: String| Error::Io(format!("{}: {e}", path.display()));
    let src = super::read::open(path)
        .map_err(io)?
        .ok_or_else(|| io("no such file".into()))?;
    let mut reader = std::io::BufReader::new(src);
    let w = |r: std::io::Result<()>| r.map_err(|e| Error::Io(e.to_string()));
    if !json {
        w(writeln!(
            out,
            "{:>7} {:<24} {:<11} {:<8} {:<8} {:<24} {:<32} ERROR",
            "SEQ", "TIME", "EVENT", "RUN", "OUTCOME", "COMMAND", "KEY ID"
        ))?;
    }
    let mut shown = 0;
    let mut raw = Vec::new();
    loop {
        // Bounded: a line longer than any record is passed over whole.
        match super::read::next_line(&mut reader, &mut raw, super::read::MAX_LINE)
            .map_err(|e| io(e.to_string()))?
        {
            super::read::Line::End => break,
            super::read::Line::TooLong => continue,
            super::read::Line::Text => {}
        }
        let line = String::from_utf8_lossy(&raw);
        let line = line.trim_end_matches('\n');
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if !filter.keeps(&v) {
            continue;
        }
        shown += 1;
        if json {
            w(writeln!(out, "{}", json_line(&v)?))?;
            continue;
        }
        let s = |p: &str| v.pointer(p).and_then(Value::as_str);
        let key = s("/caller/key_id").or_else(|| s("/certificate/key_id"));
        let run: Option<String> = s("/run_id").map(|r| r.chars().take(8).collect());
        w(writeln!(
            out,
            "{:>7} {} {} {} {} {} {} {}",
            v.get("seq").and_then(Value::as_u64).unwrap_or(0),
            cell(s("/ts"), 24),
            cell(s("/event"), 11),
            cell(run.as_deref(), 8),
            cell(s("/outcome"), 8),
            cell(s("/command"), 24),
            cell(key, 32),
            cell(s("/error/code"), 28).trim_end(),
        ))?;
    }
    Ok(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text no terminal acts on: no C0, DEL or C1 control, no line separator.
    fn inert(text: &str) -> bool {
        !text
            .chars()
            .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
    }

    /// I-4: a record holding C1 controls (valid JSON) reached the terminal raw.
    #[test]
    fn json_lines_escape_c1_del_and_line_separators() {
        let v = serde_json::json!({
            "command": "a\u{9b}31mb\u{9d}0;title\u{7}c\u{7f}\u{1b}[2J\u{2028}\u{2029}\\\u{85}",
            "caller": {"key_id": "k\u{80}\u{9f}"},
        });
        let line = json_line(&v).unwrap();
        assert!(inert(&line), "{line:?}");
        for esc in [
            "\\u009b", "\\u009d", "\\u007f", "\\u001b", "\\u2028", "\\u0080",
        ] {
            assert!(line.contains(esc), "{esc} in {line}");
        }
        // The same record, and the escaped backslash before U+0085 stays one.
        assert_eq!(serde_json::from_str::<Value>(&line).unwrap(), v);
    }

    #[test]
    fn show_json_prints_no_control_character_from_the_file() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("audit.jsonl");
        let record = "{\"seq\":1,\"outcome\":\"refused\",\"command\":\"x\u{9b}2Jy\"}\n";
        std::fs::write(&path, format!("{record}not a record \u{9b}\n")).unwrap();
        let mut out = Vec::new();
        let n = show(&path, &ShowFilter::default(), true, &mut out).unwrap();
        assert_eq!(n, 1);
        let text = String::from_utf8(out).unwrap();
        assert!(inert(text.trim_end_matches('\n')), "{text:?}");
        let v: Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(v["command"], "x\u{9b}2Jy");
    }
}
