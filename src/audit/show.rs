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

/// Prints the matching records, as JSON lines or as a table.
pub fn show(
    path: &Path,
    filter: &ShowFilter,
    json: bool,
    out: &mut dyn Write,
) -> Result<usize, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Io(format!("{}: {}", path.display(), e.kind())))?;
    let mut shown = 0;
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if !filter.keeps(&v) {
            continue;
        }
        shown += 1;
        let res = if json {
            writeln!(out, "{line}")
        } else {
            let s = |p: &str| {
                v.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or("-")
                    .to_string()
            };
            writeln!(
                out,
                "{:>6} {} {:<11} {:<8} {:<24} {:<30} {}",
                v.get("seq").and_then(Value::as_u64).unwrap_or(0),
                s("/ts"),
                s("/event"),
                s("/outcome"),
                s("/command"),
                if s("/caller/key_id") != "-" {
                    s("/caller/key_id")
                } else {
                    s("/certificate/key_id")
                },
                s("/error/code"),
            )
        };
        res.map_err(|e| Error::Io(e.to_string()))?;
    }
    Ok(shown)
}
