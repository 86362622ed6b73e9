//! What `audit verify` reports (JSON with `--json`, else a summary line).

use std::path::PathBuf;

use serde::Serialize;

use super::super::AuditRef;
use super::SCHEMA;

/// What the caller vouches for.
#[derive(Debug, Default, Clone)]
pub struct VerifyOptions {
    /// The log is new: a missing head file is expected.
    pub allow_new: bool,
    /// The first file's predecessors are knowingly not given.
    pub allow_partial: bool,
    /// A syslog file holding the anchor lines.
    pub anchor: Option<PathBuf>,
    /// The host whose log this is, as the writer records it: every
    /// chain-start must name it, and only its anchor lines count. `None`
    /// (library callers only) checks no host.
    pub host: Option<String>,
    /// Who may have sent anchor lines.
    pub senders: crate::audit::anchor::Senders,
    /// A record in the period the anchor covers without an anchor line fails.
    pub require_anchored: bool,
}

/// The verdict in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Ok,
    Broken,
    /// No log yet (a fresh host): nothing to verify.
    Empty,
}

/// What the anchor comparison found.
#[derive(Debug, Default, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(test, schemars(transform = crate::text::schema::all_required))]
pub struct AnchorReport {
    pub file: String,
    /// The host whose anchor lines were compared (the verifier's choice).
    pub host: String,
    /// Records of this host the anchor holds (accepted lines, by seq).
    pub records: u64,
    /// Of those, found in the log with the same hash.
    pub matched: u64,
    /// Older than the first file given (rotated away): not compared.
    pub not_covered: u64,
    /// Log records from the anchor's first seq on that have no anchor line.
    pub unanchored: u64,
    /// The first of them.
    pub first_unanchored: Option<u64>,
    /// Log records older than the anchor's first line (not compared).
    pub before_anchor: u64,
    /// The anchor file's lines: accepted, and ignored by kind.
    pub lines: crate::audit::anchor::LineStats,
}

/// The result of a verification, printed as JSON (or a summary).
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(
    test,
    schemars(
        transform = crate::text::schema::all_required,
        title = "ops-warden audit verify, version 1",
        description = "What `ops-warden audit verify --json` prints: the verdict on a hash-chained audit log."
    )
)]
#[serde(deny_unknown_fields)]
pub struct VerifyReport {
    /// Always `ops-warden/audit-verify/v1`.
    #[cfg_attr(test, schemars(extend("const" = SCHEMA)))]
    pub schema: &'static str,
    pub ok: bool,
    pub status: Status,
    pub files: Vec<String>,
    pub records: u64,
    pub first_seq: Option<u64>,
    pub last: Option<AuditRef>,
    /// `audit-chain-broken` when broken (the README's error code).
    pub code: Option<crate::error::Code>,
    /// `file:line` of the first record that is wrong.
    pub first_bad: Option<String>,
    pub reason: Option<String>,
    /// Whether the end of the chain was checked against the head file.
    pub head_checked: bool,
    /// The first file starts after seq 1 and its predecessors were not given.
    pub partial: bool,
    /// A shared lock on the live log was held (no append was half-done).
    pub locked: bool,
    pub anchor: Option<AnchorReport>,
}

impl VerifyReport {
    /// Nothing verified yet (`ok` only once every check has passed).
    pub(super) fn failing(files: Vec<String>) -> VerifyReport {
        VerifyReport {
            schema: SCHEMA,
            ok: false,
            status: Status::Broken,
            files,
            records: 0,
            first_seq: None,
            last: None,
            code: None,
            first_bad: None,
            reason: None,
            head_checked: false,
            partial: false,
            locked: false,
            anchor: None,
        }
    }

    pub(super) fn fail(&mut self, at: Option<String>, why: String) {
        self.ok = false;
        self.status = Status::Broken;
        if self.reason.is_none() {
            self.first_bad = at;
            self.reason = Some(why);
        }
    }

    /// The report as it is printed: its error code set from the verdict.
    pub fn finished(mut self) -> VerifyReport {
        self.code = (self.status == Status::Broken).then_some(crate::error::Code::AuditChainBroken);
        self
    }

    /// A short human summary (for a terminal).
    pub fn summary(&self) -> String {
        let mut s = match self.status {
            Status::Ok => format!(
                "ok: {} records, seq {}..{}",
                self.records,
                self.first_seq.unwrap_or(0),
                self.last.as_ref().map_or(0, |l| l.seq)
            ),
            Status::Empty => "no records yet (no audit log on this host)".to_string(),
            Status::Broken => format!(
                "BROKEN (audit-chain-broken) at {}: {}",
                self.first_bad.as_deref().unwrap_or("-"),
                crate::text::escape_untrusted(self.reason.as_deref().unwrap_or("-"), 400)
            ),
        };
        if self.partial {
            s.push_str("; partial (earlier files not given)");
        }
        if let Some(a) = &self.anchor {
            s.push_str(&format!(
                "; anchor ({}): {} of {} records matched, {} older, {} log records unanchored; \
                 ignored lines: {} untrusted, {} without sender, {} bad",
                a.host,
                a.matched,
                a.records,
                a.not_covered,
                a.unanchored,
                a.lines.untrusted,
                a.lines.unattributed,
                a.lines.bad
            ));
        }
        s
    }
}
