//! Each section of the config checked on its own: every problem is
//! collected with its key (`section.key`), and a section still yields a
//! value (with its defaults) so the others are checked too.

use std::path::PathBuf;
use std::time::Duration;

use super::raw;
use super::{InterhubConfig, KvField, LaneUser, OpenbaoAuth, OpenbaoConfig, Problems, Runner};
use crate::audit::anchor::{facility_code, Syslog};
use crate::os::files::{read_trusted, Rule};
use crate::policy::cert::{CertPolicy, PinnedCa};
use crate::policy::glob::KeyIdPattern;

/// `[lane]`: the login account and the certificate policy.
pub(super) fn lane(p: &mut Problems, l: raw::RawLane) -> (Option<LaneUser>, Option<CertPolicy>) {
    let lane_user = match &l.user {
        Some(name) => match nix::unistd::User::from_name(name) {
            Ok(Some(u)) => Some(LaneUser {
                name: name.clone(),
                uid: u.uid.as_raw(),
                gid: u.gid.as_raw(),
                shell: u.shell,
            }),
            _ => {
                p.add("lane.user", format!("no such user {name:?}"));
                None
            }
        },
        None => None,
    };
    if l.principal.is_empty()
        || !l
            .principal
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
    {
        p.add("lane.principal", "must be a non-empty principal name");
    }
    let key_id_pattern = KeyIdPattern::parse(&l.key_id_pattern)
        .map_err(|e| p.add("lane.key_id_pattern", e))
        .ok();
    let mut ca_lines = l.ca_keys.clone();
    let mut ca_file_failed = false;
    if let Some(f) = &l.ca_keys_file {
        let path = absolute(p, "lane.ca_keys_file", f);
        match read_trusted(
            &path,
            Rule::CONFIG
                .named("CA keys file")
                .trusting(lane_user.as_ref().map(|u| u.uid)),
        ) {
            Ok(b) => ca_lines.extend(
                String::from_utf8_lossy(&b)
                    .lines()
                    .map(str::trim)
                    .filter(|s| !s.is_empty() && !s.starts_with('#'))
                    .map(String::from),
            ),
            Err(e) => {
                ca_file_failed = true;
                p.add("lane.ca_keys_file", e)
            }
        }
    }
    let mut pinned = Vec::new();
    for (i, line) in ca_lines.iter().enumerate() {
        match PinnedCa::from_openssh(line) {
            Ok(ca) => pinned.push(ca),
            Err(e) => p.add(
                &format!("lane.ca_keys[{i}]"),
                format!("not an OpenSSH public key: {e}"),
            ),
        }
    }
    if ca_lines.is_empty() && !ca_file_failed {
        p.add(
            "lane.ca_keys",
            "pin at least one CA (ca_keys or ca_keys_file)",
        );
    }
    if l.max_ttl_secs == 0 || l.max_ttl_secs > 24 * 3600 {
        p.add("lane.max_ttl_secs", "must be between 1 and 86400");
    }
    if l.clock_skew_secs > 600 {
        p.add("lane.clock_skew_secs", "must be at most 600");
    }
    for o in &l.allowed_critical_options {
        if !["source-address", "force-command", "verify-required"].contains(&o.as_str()) {
            p.add(
                "lane.allowed_critical_options",
                format!("unknown option {o:?}"),
            );
        }
    }
    if l.require_source_address
        && !l
            .allowed_critical_options
            .iter()
            .any(|o| o == "source-address")
    {
        p.add(
            "lane.require_source_address",
            "needs source-address in allowed_critical_options",
        );
    }
    for v in &l.single_use_verbs {
        if !crate::policy::replay::VERBS.contains(&v.as_str()) {
            p.add(
                "lane.single_use_verbs",
                format!(
                    "{} is not one of {}",
                    crate::text::escape_untrusted(v, 32),
                    crate::policy::replay::VERBS.join(", ")
                ),
            );
        }
    }
    let policy = key_id_pattern.map(|key_id_pattern| CertPolicy {
        principal: l.principal,
        require_sole_principal: l.require_sole_principal,
        key_id_pattern,
        pinned,
        max_ttl_secs: l.max_ttl_secs,
        clock_skew_secs: l.clock_skew_secs,
        allowed_critical_options: l.allowed_critical_options,
        require_source_address: l.require_source_address,
        allowed_extensions: l.allowed_extensions,
        single_use_verbs: l.single_use_verbs,
    });
    (lane_user, policy)
}

/// `[audit]`: the log, its syslog anchor and the group that reads it.
pub(super) fn audit(
    p: &mut Problems,
    a: &raw::RawAudit,
) -> (PathBuf, Option<Syslog>, Option<(String, u32)>) {
    let audit_path = absolute(p, "audit.path", &a.path);
    let audit_syslog = syslog_of(p, a);
    let audit_group = a
        .group
        .as_ref()
        .and_then(|g| match nix::unistd::Group::from_name(g) {
            Ok(Some(grp)) => Some((g.clone(), grp.gid.as_raw())),
            _ => {
                p.add("audit.group", format!("no such group {g:?}"));
                None
            }
        });
    (audit_path, audit_syslog, audit_group)
}

/// `[state]`: the state folder and how long the locks are waited for.
pub(super) fn state(p: &mut Problems, s: &raw::RawState) -> (PathBuf, Duration) {
    let state_dir = absolute(p, "state.dir", &s.dir);
    if s.lock_wait_secs > 300 {
        p.add("state.lock_wait_secs", "must be at most 300");
    }
    (state_dir, Duration::from_secs(s.lock_wait_secs))
}

/// `[openbao]`: where, how to log in, and the two KV locations.
pub(super) fn openbao(
    p: &mut Problems,
    o: raw::RawOpenbao,
    lane_uid: Option<u32>,
) -> OpenbaoConfig {
    let addrs: Vec<String> = o
        .addr
        .list()
        .into_iter()
        .map(|a| a.trim_end_matches('/').to_string())
        .collect();
    if addrs.is_empty() || addrs.len() > 16 {
        p.add("openbao.addr", "must name 1 to 16 addresses");
    }
    for (i, a) in addrs.iter().enumerate() {
        check_url(p, "openbao.addr", a);
        if addrs[..i].contains(a) {
            p.add("openbao.addr", format!("{a} is listed twice"));
        }
    }
    if o.failover_secs == 0 || o.failover_secs > 300 {
        p.add("openbao.failover_secs", "must be between 1 and 300");
    }
    let ca_bundle = o
        .ca_bundle
        .as_deref()
        .map(|c| absolute(p, "openbao.ca_bundle", c));
    if o.timeout_secs == 0 || o.timeout_secs > 300 {
        p.add("openbao.timeout_secs", "must be between 1 and 300");
    }
    if o.retries > 10 {
        p.add("openbao.retries", "must be at most 10");
    }
    if o.retry_backoff_ms == 0 || o.retry_backoff_ms > 10_000 {
        p.add("openbao.retry_backoff_ms", "must be between 1 and 10000");
    }
    let auth = match o.auth.as_str() {
        "approle" => {
            let need = |p: &mut Problems, k: &str, v: &Option<String>| match v {
                Some(v) => absolute(p, k, v),
                None => {
                    p.add(k, "required with auth = \"approle\"");
                    PathBuf::new()
                }
            };
            OpenbaoAuth::AppRole {
                mount: o.approle_mount.clone(),
                role_id_file: need(p, "openbao.role_id_file", &o.role_id_file),
                secret_id_file: need(p, "openbao.secret_id_file", &o.secret_id_file),
            }
        }
        "token-file" => match &o.token_file {
            Some(t) => OpenbaoAuth::TokenFile(absolute(p, "openbao.token_file", t)),
            None => {
                p.add("openbao.token_file", "required with auth = \"token-file\"");
                OpenbaoAuth::TokenFile(PathBuf::new())
            }
        },
        other => {
            p.add(
                "openbao.auth",
                format!("{other:?}: use \"approle\" or \"token-file\""),
            );
            OpenbaoAuth::TokenFile(PathBuf::new())
        }
    };
    let operator_key = kv(p, "openbao.operator_key", o.operator_key);
    let runtime_key = kv(p, "openbao.runtime_key", o.runtime_key);
    OpenbaoConfig {
        addrs,
        failover: Duration::from_secs(o.failover_secs),
        ca_bundle,
        timeout: Duration::from_secs(o.timeout_secs),
        retries: o.retries,
        retry_backoff: Duration::from_millis(o.retry_backoff_ms),
        lane_uid,
        auth,
        operator_key,
        runtime_key,
    }
}

/// `[interhub]`: the API, its trust, the hub and the seeds.
pub(super) fn interhub(
    p: &mut Problems,
    i: raw::RawInterhub,
    lane_uid: Option<u32>,
) -> InterhubConfig {
    check_url(p, "interhub.base_url", &i.base_url);
    // Inter-Hub "cannot be impersonated" only with a pinned CA.
    if i.base_url.starts_with("https://")
        && !is_loopback_url(&i.base_url)
        && i.ca_bundle.is_none()
        && !i.use_system_roots
    {
        p.add(
            "interhub.ca_bundle",
            "required for a non-loopback https base_url (pin Inter-Hub's CA), \
             unless use_system_roots = true says the system roots are meant",
        );
    }
    if i.use_system_roots && i.ca_bundle.is_some() {
        p.add(
            "interhub.use_system_roots",
            "contradicts interhub.ca_bundle: choose one",
        );
    }
    let slug_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if !slug_ok(&i.hub) {
        p.add("interhub.hub", "must be a lowercase slug");
    }
    if !slug_ok(&i.consumer) {
        p.add("interhub.consumer", "must be a lowercase slug");
    }
    if i.timeout_secs == 0 || i.timeout_secs > 300 {
        p.add("interhub.timeout_secs", "must be between 1 and 300");
    }
    if i.retries > 10 {
        p.add("interhub.retries", "must be at most 10");
    }
    if i.retry_backoff_ms == 0 || i.retry_backoff_ms > 10_000 {
        p.add("interhub.retry_backoff_ms", "must be between 1 and 10000");
    }
    if !(2..=86_400).contains(&i.orphan_key_age_secs) {
        p.add(
            "interhub.orphan_key_age_secs",
            "must be between 2 and 86400",
        );
    }
    InterhubConfig {
        base_url: i.base_url.trim_end_matches('/').to_string(),
        ca_bundle: i
            .ca_bundle
            .as_deref()
            .map(|c| absolute(p, "interhub.ca_bundle", c)),
        timeout: Duration::from_secs(i.timeout_secs),
        retries: i.retries,
        retry_backoff: Duration::from_millis(i.retry_backoff_ms),
        orphan_key_age: Duration::from_secs(i.orphan_key_age_secs),
        lane_uid,
        hub: i.hub,
        consumer: i.consumer,
        manifest: absolute(p, "interhub.manifest", &i.manifest),
        widgets: absolute(p, "interhub.widgets", &i.widgets),
    }
}

/// `[runner]`: the native steps, or the site's helper.
pub(super) fn runner(p: &mut Problems, r: raw::RawRunner) -> Runner {
    match r.kind.as_str() {
        "native" => Runner::Native,
        "command" => {
            if r.argv.is_empty() || !r.argv[0].starts_with('/') {
                p.add("runner.argv", "must start with an absolute program path");
            }
            if r.timeout_secs == 0 || r.timeout_secs > 3600 {
                p.add("runner.timeout_secs", "must be between 1 and 3600");
            }
            Runner::Command {
                argv: r.argv,
                timeout: Duration::from_secs(r.timeout_secs),
                workdir: r
                    .workdir
                    .as_deref()
                    .map(|w| absolute(p, "runner.workdir", w)),
            }
        }
        other => {
            p.add(
                "runner.kind",
                format!("{other:?}: use \"native\" or \"command\""),
            );
            Runner::Native
        }
    }
}

pub(super) fn absolute(p: &mut Problems, key: &str, v: &str) -> PathBuf {
    if !v.starts_with('/') {
        p.add(key, "must be an absolute path");
    }
    PathBuf::from(v)
}

pub(super) fn check_url(p: &mut Problems, key: &str, v: &str) {
    let ok = (v.starts_with("https://") || v.starts_with("http://"))
        && reqwest::Url::parse(v).is_ok_and(|u| u.host().is_some() && u.query().is_none());
    if !ok {
        p.add(key, "must be an http(s) URL with a host and no query");
    }
    if v.starts_with("http://") && !is_loopback_url(v) {
        p.add(key, "plain http is only allowed to a loopback address");
    }
}

pub(super) fn is_loopback_url(v: &str) -> bool {
    reqwest::Url::parse(v)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .is_some_and(|h| {
            h == "localhost"
                || h.trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|a| a.is_loopback())
        })
}

fn kv(p: &mut Problems, key: &str, raw: raw::RawKvField) -> KvField {
    let seg_ok = |s: &str| {
        !s.is_empty()
            && s.split('/').all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            })
    };
    if !seg_ok(&raw.mount) || raw.mount.contains('/') {
        p.add(
            &format!("{key}.mount"),
            "must be one path segment of [A-Za-z0-9._-]",
        );
    }
    if !seg_ok(&raw.path) {
        p.add(
            &format!("{key}.path"),
            "must be /-separated segments of [A-Za-z0-9._-]",
        );
    }
    if raw.field.is_empty()
        || !raw
            .field
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        p.add(&format!("{key}.field"), "must be [A-Za-z0-9_]+");
    }
    KvField {
        mount: raw.mount,
        path: raw.path,
        field: raw.field,
    }
}

pub(super) fn syslog_of(p: &mut Problems, a: &raw::RawAudit) -> Option<Syslog> {
    if !a.syslog {
        return None;
    }
    let socket = absolute(p, "audit.syslog_socket", &a.syslog_socket);
    let facility = facility_code(&a.syslog_facility).unwrap_or_else(|| {
        p.add(
            "audit.syslog_facility",
            "use authpriv, auth, daemon, user or local0..local7",
        );
        10
    });
    Some(Syslog { socket, facility })
}
