//! What is decided outside the checked config: an attended run's OpenBao
//! address override (under the config's own rules), and where to trace a
//! failure when the config does not load at all.

use std::path::Path;

use super::raw;
use super::sections::{absolute, check_url, syslog_of};
use super::{Config, Problems};
use crate::audit::anchor::Syslog;
use crate::error::Error;
use crate::os::files::{read_trusted, Rule};

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
            AddrSource::BaoAddr => "the config; BAO_ADDR names one of its nodes",
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
/// syslog settings if the file passes the config's own trust check (owner,
/// mode, folders) and is readable TOML that far, else `/dev/log`. A file
/// that failed its trust check chooses nothing: neither the socket nor
/// whether a trace is sent at all (`syslog = false`).
pub fn syslog_for_failure(path: &Path) -> Option<Syslog> {
    let lenient = read_trusted(path, Rule::CONFIG)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|t| t.get("audit").cloned())
        .and_then(|a| a.try_into::<raw::RawAudit>().ok());
    match lenient {
        Some(a) => syslog_of(&mut Problems::default(), &a),
        None => Some(Syslog::default()),
    }
}

#[cfg(test)]
mod syslog_for_failure_tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const AUDIT: &str = "[audit]\npath = \"/var/log/ops-warden/audit.jsonl\"\n";

    fn config(dir: &Path, text: &str, mode: u32) -> std::path::PathBuf {
        let p = dir.join("ops-warden.toml");
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn a_trusted_config_that_does_not_load_still_chooses_its_syslog() {
        let d = tempfile::tempdir().unwrap();
        let text =
            format!("{AUDIT}syslog_socket = \"/run/other.sock\"\n[lane]\nprincipal = \"\"\n");
        let p = config(d.path(), &text, 0o644);
        let s = syslog_for_failure(&p).unwrap();
        assert_eq!(s.socket, Path::new("/run/other.sock"));
        let p = config(d.path(), &format!("{AUDIT}syslog = false\n"), 0o644);
        assert_eq!(syslog_for_failure(&p), None);
    }

    /// I-7: a config that failed its trust check chose where the trace went.
    #[test]
    fn an_untrusted_config_chooses_neither_the_socket_nor_the_switch() {
        let d = tempfile::tempdir().unwrap();
        let text = format!("{AUDIT}syslog_socket = \"/run/elsewhere.sock\"\n");
        let p = config(d.path(), &text, 0o666);
        assert_eq!(syslog_for_failure(&p), Some(Syslog::default()));
        let p = config(d.path(), &format!("{AUDIT}syslog = false\n"), 0o646);
        assert_eq!(syslog_for_failure(&p), Some(Syslog::default()));
    }
}
