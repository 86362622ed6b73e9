//! What is decided outside the checked config: an attended run's OpenBao
//! address override (under the config's own rules), and where to trace a
//! failure when the config does not load at all.

use std::path::Path;

use super::raw;
use super::sections::{absolute, check_url, syslog_of};
use super::{Config, Problems};
use crate::audit::anchor::Syslog;
use crate::error::Error;

/// Where an attended run's OpenBao address came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrSource {
    Flag,
    BaoAddr,
    Config,
}

impl AddrSource {
    pub fn describe(self) -> &'static str {
        match self {
            AddrSource::Flag => "--openbao-addr",
            AddrSource::BaoAddr => "BAO_ADDR",
            AddrSource::Config => "the config",
        }
    }
}

/// Applies an attended run's OpenBao address and CA override, under exactly
/// the config's rules: an http(s) URL, plain http only to loopback, and an
/// https address other than the config's needs a pinned CA bundle (the
/// override's or the config's): credentials never go anywhere the config's
/// checks would not have allowed.
pub fn override_openbao(
    cfg: &mut Config,
    addr: Option<(&str, &'static str)>,
    ca_bundle: Option<(&str, &'static str)>,
) -> Result<(), Error> {
    let Some(o) = cfg.openbao.as_mut() else {
        return Ok(());
    };
    let mut p = Problems::default();
    if let Some((c, key)) = ca_bundle {
        o.ca_bundle = Some(absolute(&mut p, key, c));
    }
    if let Some((a, key)) = addr {
        let a = a.trim_end_matches('/');
        check_url(&mut p, key, a);
        if !o.addrs.iter().any(|x| x == a) && a.starts_with("https://") && o.ca_bundle.is_none() {
            p.add(
                key,
                "differs from openbao.addr: pin its CA with --openbao-ca-bundle (or BAO_CACERT)",
            );
        }
        o.addrs = vec![a.to_string()];
    }
    if p.0.is_empty() {
        Ok(())
    } else {
        Err(p.to_error())
    }
}

/// Where to trace a failure when the config does not load: its `[audit]`
/// syslog settings if the file is readable TOML that far, else `/dev/log`.
pub fn syslog_for_failure(path: &Path) -> Option<Syslog> {
    let mut text = String::new();
    let lenient = crate::audit::read::open(path)
        .ok()
        .flatten()
        .and_then(|r| {
            std::io::Read::read_to_string(&mut std::io::Read::take(r, 1 << 20), &mut text).ok()
        })
        .and_then(|_| text.parse::<toml::Table>().ok())
        .and_then(|t| t.get("audit").cloned())
        .and_then(|a| a.try_into::<raw::RawAudit>().ok());
    match lenient {
        Some(a) => syslog_of(&mut Problems::default(), &a),
        None => Some(Syslog::default()),
    }
}
