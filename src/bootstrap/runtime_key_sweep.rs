//! The sweep: no active key of the consumer stays live unless it is the
//! stored one — after every run that touched the key, and at once after a
//! `create_key` whose answer was lost.

use super::{KeyReport, RuntimeStore};
use crate::error::Error;
use crate::interhub::{key_prefix, KeyApi, Lifecycle};

/// Whether a failed `create_key` certainly made no key: Inter-Hub refused
/// the request (a 4xx). A 5xx, a timeout, a reset or a malformed 201 may
/// have made one.
pub(super) fn refused_before_creation(e: &Error) -> bool {
    matches!(
        e,
        Error::InterhubRejected(_) | Error::InterhubAuth(_) | Error::InterhubForbidden(_)
    )
}

/// After a `create_key` whose answer was lost: every active key that is
/// not the stored one is revoked at once. The run still fails with the
/// create's error; if the sweep fails too, with `runtime-key-maybe-created`
/// naming the keys that may be live and unrecorded.
pub(super) fn after_lost_create(
    store: &dyn RuntimeStore,
    api: &dyn KeyApi,
    consumer_id: &str,
    why: Error,
    report: &mut KeyReport,
) -> Error {
    match sweep(store, api, consumer_id, false, report) {
        Ok(()) => why,
        Err(e) => {
            let live = api
                .list_keys(consumer_id)
                .map(|keys| {
                    keys.into_iter()
                        .filter(|k| k.status == Lifecycle::Active)
                        .map(|k| format!("{} ({})", k.id, k.prefix))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_else(|_| "unknown: the key list cannot be read".into());
            Error::RuntimeKeyMaybeCreated(format!(
                "key creation for consumer {consumer_id} failed ({}) and the sweep failed ({}); \
                 active keys: {live}; revoke any that is not the stored one",
                why.code(),
                e.code()
            ))
        }
    }
}

/// Revokes every active key of the consumer that is not the stored one
/// (unrecorded live keys, a rotated-out key). The stored key is read again
/// after the list and right before revoking: another host may have stored a
/// new key since this run looked (or while the list was on its way), and the
/// stored key is never revoked. In plan mode only reports.
pub(super) fn sweep(
    store: &dyn RuntimeStore,
    api: &dyn KeyApi,
    consumer_id: &str,
    plan: bool,
    report: &mut KeyReport,
) -> Result<(), Error> {
    let active: Vec<_> = api
        .list_keys(consumer_id)?
        .into_iter()
        .filter(|k| k.status == Lifecycle::Active)
        .collect();
    // Nothing but the key this run ended with (read from the store and
    // proven): nothing to revoke, nothing to read again.
    if active
        .iter()
        .all(|k| report.prefix.as_ref() == Some(&k.prefix))
    {
        return Ok(());
    }
    // As the primary has it: a lagging replica's answer could name a key
    // that is no longer the stored one.
    let keep = store
        .read_runtime_key_fresh()?
        .map(|s| key_prefix(s.key.expose()));
    for k in active {
        if Some(&k.prefix) == keep.as_ref() {
            continue;
        }
        if plan {
            report.unrecorded.push(k.prefix);
            continue;
        }
        api.revoke_key(consumer_id, &k.id)?;
        report.revoked.push(k.prefix);
    }
    Ok(())
}
