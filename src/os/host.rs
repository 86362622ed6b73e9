//! This host's name and the wall clock, as records and evidence write them.

use chrono::{SecondsFormat, Utc};

/// Now, RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The host name (escaped, capped), or `unknown`.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|h| crate::text::escape_untrusted(&h, 128))
        .unwrap_or_else(|| "unknown".into())
}
