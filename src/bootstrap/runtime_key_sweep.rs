//! The sweep: which active keys of the consumer a run may revoke.
//!
//! A fleet shares one slot, so a key that is not the stored one may be
//! another host's, made a moment ago and about to be stored. A run revokes
//! only a key it can prove is dead to everyone:
//! - its own key that it failed to store, or that lost the race (revoked
//!   where that happens, in `store_or_revoke`);
//! - the key its own successful check-and-set displaced (that version is
//!   gone from the slot: no check-and-set can bring it back), and a key its
//!   own helper printed (its secret came from this run);
//! - a key this host made in a run that is gone and never stored (the
//!   host's custody journal; the run lock proves the run is gone);
//! - a key older than any run may hold one unstored (`orphan_age`: a run
//!   stores a key it made within half of it, or revokes it).
//!
//! Every other active key that is not the stored one is left, and named in
//! the evidence (`left`), for a later sweep.

use chrono::{DateTime, Utc};

use super::{Custody, KeyReport, Pending};
use crate::error::Error;
use crate::interhub::{key_prefix, KeyInfo, Lifecycle};

/// Whether a failed `create_key` certainly made no key: Inter-Hub refused
/// the request (a 4xx). A 5xx, a timeout, a reset or a malformed 201 may
/// have made one.
pub(super) fn refused_before_creation(e: &Error) -> bool {
    matches!(
        e,
        Error::InterhubRejected(_) | Error::InterhubAuth(_) | Error::InterhubForbidden(_)
    )
}

/// What the sweep does with one active key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The stored key.
    Keep,
    /// Provably dead to everyone: revoke (the reason, for the tests).
    Revoke(Why),
    /// Maybe another host's key on its way into the slot: leave it.
    Leave,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Why {
    Ours,
    DeadRun,
    Orphan,
}

/// What the sweep knows when it judges a key.
pub(super) struct Facts<'a> {
    /// The stored key's prefix, as the active node has it.
    pub stored: Option<&'a str>,
    /// This run's own keys: the one its check-and-set displaced, any its
    /// helper printed.
    pub ours: &'a [String],
    /// Keys this host made in runs that are gone.
    pub dead_runs: &'a [Pending],
    pub orphan_age: chrono::Duration,
    pub now: DateTime<Utc>,
}

/// The rule, as a pure function of what is known.
pub(super) fn verdict(k: &KeyInfo, f: &Facts) -> Verdict {
    if Some(k.prefix.as_str()) == f.stored {
        return Verdict::Keep;
    }
    if f.ours.contains(&k.prefix) {
        return Verdict::Revoke(Why::Ours);
    }
    if f.dead_runs.iter().any(|p| p.id == k.id) {
        return Verdict::Revoke(Why::DeadRun);
    }
    match k.age(f.now) {
        Some(age) if age > f.orphan_age => Verdict::Revoke(Why::Orphan),
        // Young, or of unknown age: maybe another host's key in flight.
        _ => Verdict::Leave,
    }
}

/// Revokes the active keys of the consumer that are provably dead (see the
/// module's rule); names the others in `report.left`. The stored key is read
/// again from the active node after the list, so a key another host stored
/// meanwhile is kept. In plan mode only reports (`unrecorded`: what a run
/// would revoke).
pub(super) fn sweep(
    c: &Custody,
    consumer_id: &str,
    plan: bool,
    ours: &[String],
    report: &mut KeyReport,
) -> Result<(), Error> {
    let active: Vec<_> = c
        .api
        .list_keys(consumer_id)?
        .into_iter()
        .filter(|k| k.status == Lifecycle::Active)
        .collect();
    let dead_runs = c.journal.unsettled(c.run);
    // Nothing but the key this run ended with (read from the store and
    // proven): nothing to revoke, nothing to read again.
    if active
        .iter()
        .all(|k| report.prefix.as_ref() == Some(&k.prefix))
    {
        if !plan {
            settle(c, &dead_runs);
        }
        return Ok(());
    }
    // As the primary has it: a lagging replica's answer could name a key
    // that is no longer the stored one.
    let keep = c
        .store
        .read_runtime_key_fresh()?
        .map(|s| key_prefix(s.key.expose()));
    let facts = Facts {
        stored: keep.as_deref(),
        ours,
        dead_runs: &dead_runs,
        orphan_age: chrono::Duration::from_std(c.orphan_age)
            .unwrap_or_else(|_| chrono::Duration::hours(1)),
        now: Utc::now(),
    };
    // Every key is judged and acted on; a revocation that fails leaves its
    // key named in `left` (and journaled, if it was a dead run's), and the
    // run fails with the first such error at the end.
    let mut failed = None;
    let mut not_revoked = Vec::new();
    for k in &active {
        match verdict(k, &facts) {
            Verdict::Keep => {}
            Verdict::Leave => report.left.push(k.prefix.clone()),
            Verdict::Revoke(_) if plan => report.unrecorded.push(k.prefix.clone()),
            Verdict::Revoke(_) => match c.api.revoke_key(consumer_id, &k.id) {
                Ok(()) => report.revoked.push(k.prefix.clone()),
                Err(e) => {
                    report.left.push(k.prefix.clone());
                    not_revoked.push(k.id.as_str());
                    failed.get_or_insert(e);
                }
            },
        }
    }
    if !plan {
        let settled: Vec<Pending> = dead_runs
            .iter()
            .filter(|p| !not_revoked.contains(&p.id.as_str()))
            .cloned()
            .collect();
        settle(c, &settled);
    }
    failed.map_or(Ok(()), Err)
}

/// A dead run's key is settled once swept: stored (kept), revoked now, or
/// no longer active.
fn settle(c: &Custody, dead_runs: &[Pending]) {
    let ids: Vec<&str> = dead_runs.iter().map(|p| p.id.as_str()).collect();
    if !ids.is_empty() {
        c.journal.settled(&ids);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, age_secs: Option<i64>, now: DateTime<Utc>) -> KeyInfo {
        KeyInfo {
            id: id.into(),
            prefix: format!("ihk_{id}"),
            status: Lifecycle::Active,
            created_at: age_secs.map(|a| (now - chrono::Duration::seconds(a)).to_rfc3339()),
        }
    }

    /// Every row of the rule: (stored, displaced, dead run, age) → verdict.
    #[test]
    fn only_keys_provably_dead_to_everyone_are_revoked() {
        let now = Utc::now();
        let dead = [Pending {
            id: "d".into(),
            prefix: "ihk_d".into(),
            run: "gone".into(),
        }];
        let ours = ["ihk_p".to_string()];
        let facts = Facts {
            stored: Some("ihk_s"),
            ours: &ours,
            dead_runs: &dead,
            orphan_age: chrono::Duration::seconds(3600),
            now,
        };
        let rows: &[(&str, Option<i64>, Verdict)] = &[
            // The stored key is kept, however old.
            ("s", Some(99_999), Verdict::Keep),
            // This run's own (what its store displaced, what its helper
            // printed) goes, however young.
            ("p", Some(1), Verdict::Revoke(Why::Ours)),
            // A dead run of this host made it and never stored it.
            ("d", Some(1), Verdict::Revoke(Why::DeadRun)),
            ("d", None, Verdict::Revoke(Why::DeadRun)),
            // Older than a run can hold a key unstored.
            ("o", Some(3601), Verdict::Revoke(Why::Orphan)),
            // Young: maybe another host's key on its way into the slot.
            ("y", Some(3599), Verdict::Leave),
            ("y", Some(0), Verdict::Leave),
            // Unknown age: never proven dead.
            ("u", None, Verdict::Leave),
        ];
        for (id, age, want) in rows {
            assert_eq!(
                verdict(&key(id, *age, now), &facts),
                *want,
                "key {id} age {age:?}"
            );
        }
        // Nothing stored (a fresh slot): the same rules for the rest.
        let bare = Facts {
            stored: None,
            ours: &[],
            dead_runs: &[],
            ..facts
        };
        assert_eq!(verdict(&key("s", Some(5), now), &bare), Verdict::Leave);
        assert_eq!(verdict(&key("p", Some(5), now), &bare), Verdict::Leave);
        assert_eq!(
            verdict(&key("o", Some(4000), now), &bare),
            Verdict::Revoke(Why::Orphan)
        );
        // A timestamp that does not parse is an unknown age.
        let mut odd = key("x", Some(9999), now);
        odd.created_at = Some("yesterday".into());
        assert_eq!(verdict(&odd, &bare), Verdict::Leave);
    }
}
