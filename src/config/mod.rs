//! Configuration in two phases: [`raw`] as written, then [`Config`] as
//! checked. Validation reports every error at once, each with its key.

pub mod raw;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::audit::anchor::{facility_code, Syslog};
use crate::error::Error;
use crate::os::files::{read_trusted, Rule};
use crate::policy::cert::{CertPolicy, PinnedCa};
use crate::policy::glob::KeyIdPattern;

pub const DEFAULT_PATH: &str = "/etc/ops-warden/ops-warden.toml";

/// A KV v2 location: mount, path and field, each checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvField {
    pub mount: String,
    pub path: String,
    pub field: String,
}

impl KvField {
    /// `mount/path#field`, for messages and evidence.
    pub fn display(&self) -> String {
        format!("{}/{}#{}", self.mount, self.path, self.field)
    }
    /// The KV v2 API path for data (`mount/data/path`).
    pub fn data_path(&self) -> String {
        format!("{}/data/{}", self.mount, self.path)
    }
    pub fn metadata_path(&self) -> String {
        format!("{}/metadata/{}", self.mount, self.path)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenbaoAuth {
    AppRole {
        mount: String,
        role_id_file: PathBuf,
        secret_id_file: PathBuf,
    },
    TokenFile(PathBuf),
}

#[derive(Debug, Clone)]
pub struct OpenbaoConfig {
    pub addr: String,
    pub ca_bundle: Option<PathBuf>,
    pub timeout: Duration,
    pub retries: u32,
    pub auth: OpenbaoAuth,
    pub operator_key: KvField,
    pub runtime_key: KvField,
}

#[derive(Debug, Clone)]
pub struct InterhubConfig {
    pub base_url: String,
    pub ca_bundle: Option<PathBuf>,
    pub timeout: Duration,
    pub retries: u32,
    pub hub: String,
    pub consumer: String,
    pub manifest: PathBuf,
    pub widgets: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    Native,
    Command {
        argv: Vec<String>,
        timeout: Duration,
        workdir: Option<PathBuf>,
    },
}

/// The lane's login account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub shell: PathBuf,
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: PathBuf,
    /// `lane.user`, looked up: the account sshd runs ops-warden as.
    pub lane_user: Option<LaneUser>,
    pub lane: CertPolicy,
    pub audit_path: PathBuf,
    /// Where audit records are anchored (`None`: `audit.syslog = false`).
    pub audit_syslog: Option<Syslog>,
    /// `audit.group`, looked up: who may read the trail.
    pub audit_group: Option<(String, u32)>,
    pub state_dir: PathBuf,
    pub lock_wait: Duration,
    pub openbao: Option<OpenbaoConfig>,
    pub interhub: Option<InterhubConfig>,
    pub runner: Runner,
}

/// Every problem found, with the key it belongs to.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<(String, String)>);

impl Problems {
    fn add(&mut self, key: &str, msg: impl Into<String>) {
        self.0.push((key.to_string(), msg.into()));
    }
    pub fn to_error(&self) -> Error {
        Error::Config(
            self.0
                .iter()
                .map(|(k, m)| format!("{k}: {m}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

/// Loads the config file (trusted only after its owner/mode check) and validates it.
pub fn load(path: &Path) -> Result<Config, Error> {
    let bytes = read_trusted(path, Rule::CONFIG).map_err(Error::FileUntrusted)?;
    let text = String::from_utf8(bytes).map_err(|_| Error::Config("config is not UTF-8".into()))?;
    from_str(path, &text).map_err(|p| p.to_error())
}

/// Loads the config for `check-config`: every problem kept apart, with its
/// key (`(file)` for the file's own trust check, `(toml)` for syntax, with
/// line and column).
pub fn load_for_check(path: &Path) -> Result<Config, Problems> {
    let mut p = Problems::default();
    let bytes = match read_trusted(path, Rule::CONFIG) {
        Ok(b) => b,
        Err(e) => {
            p.add("(file)", e);
            return Err(p);
        }
    };
    let Ok(text) = String::from_utf8(bytes) else {
        p.add("(file)", "is not UTF-8");
        return Err(p);
    };
    from_str(path, &text)
}

/// `line L, column C: message` for a TOML error.
fn toml_problem(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {}", e.message())
        }
        None => e.message().to_string(),
    }
}

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
        if a != o.addr && a.starts_with("https://") && o.ca_bundle.is_none() {
            p.add(
                key,
                "differs from openbao.addr: pin its CA with --openbao-ca-bundle (or BAO_CACERT)",
            );
        }
        o.addr = a.to_string();
    }
    if p.0.is_empty() {
        Ok(())
    } else {
        Err(p.to_error())
    }
}

fn syslog_of(p: &mut Problems, a: &raw::RawAudit) -> Option<Syslog> {
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

fn absolute(p: &mut Problems, key: &str, v: &str) -> PathBuf {
    if !v.starts_with('/') {
        p.add(key, "must be an absolute path");
    }
    PathBuf::from(v)
}

fn check_url(p: &mut Problems, key: &str, v: &str) {
    let ok = (v.starts_with("https://") || v.starts_with("http://"))
        && reqwest::Url::parse(v).is_ok_and(|u| u.host().is_some() && u.query().is_none());
    if !ok {
        p.add(key, "must be an http(s) URL with a host and no query");
    }
    if v.starts_with("http://") && !is_loopback_url(v) {
        p.add(key, "plain http is only allowed to a loopback address");
    }
}

fn is_loopback_url(v: &str) -> bool {
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

fn validate(source: &Path, raw: raw::RawConfig) -> Result<Config, Problems> {
    let mut p = Problems::default();
    let l = raw.lane;
    let lane_user = match &l.user {
        Some(name) => match nix::unistd::User::from_name(name) {
            Ok(Some(u)) => {
                crate::os::files::trust_lane_user(u.uid.as_raw());
                Some(LaneUser {
                    name: name.clone(),
                    uid: u.uid.as_raw(),
                    gid: u.gid.as_raw(),
                    shell: u.shell,
                })
            }
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
        let path = absolute(&mut p, "lane.ca_keys_file", f);
        match read_trusted(&path, Rule::CONFIG.named("CA keys file")) {
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

    let audit_path = absolute(&mut p, "audit.path", &raw.audit.path);
    let audit_syslog = syslog_of(&mut p, &raw.audit);
    let audit_group =
        raw.audit
            .group
            .as_ref()
            .and_then(|g| match nix::unistd::Group::from_name(g) {
                Ok(Some(grp)) => Some((g.clone(), grp.gid.as_raw())),
                _ => {
                    p.add("audit.group", format!("no such group {g:?}"));
                    None
                }
            });
    let state_dir = absolute(&mut p, "state.dir", &raw.state.dir);
    if raw.state.lock_wait_secs > 300 {
        p.add("state.lock_wait_secs", "must be at most 300");
    }

    let openbao = raw.openbao.map(|o| {
        check_url(&mut p, "openbao.addr", &o.addr);
        let ca_bundle = o
            .ca_bundle
            .as_deref()
            .map(|c| absolute(&mut p, "openbao.ca_bundle", c));
        if o.timeout_secs == 0 || o.timeout_secs > 300 {
            p.add("openbao.timeout_secs", "must be between 1 and 300");
        }
        if o.retries > 10 {
            p.add("openbao.retries", "must be at most 10");
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
                    role_id_file: need(&mut p, "openbao.role_id_file", &o.role_id_file),
                    secret_id_file: need(&mut p, "openbao.secret_id_file", &o.secret_id_file),
                }
            }
            "token-file" => match &o.token_file {
                Some(t) => OpenbaoAuth::TokenFile(absolute(&mut p, "openbao.token_file", t)),
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
        let operator_key = kv(&mut p, "openbao.operator_key", o.operator_key);
        let runtime_key = kv(&mut p, "openbao.runtime_key", o.runtime_key);
        OpenbaoConfig {
            addr: o.addr.trim_end_matches('/').to_string(),
            ca_bundle,
            timeout: Duration::from_secs(o.timeout_secs),
            retries: o.retries,
            auth,
            operator_key,
            runtime_key,
        }
    });

    let interhub = raw.interhub.map(|i| {
        check_url(&mut p, "interhub.base_url", &i.base_url);
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
        InterhubConfig {
            base_url: i.base_url.trim_end_matches('/').to_string(),
            ca_bundle: i
                .ca_bundle
                .as_deref()
                .map(|c| absolute(&mut p, "interhub.ca_bundle", c)),
            timeout: Duration::from_secs(i.timeout_secs),
            retries: i.retries,
            hub: i.hub,
            consumer: i.consumer,
            manifest: absolute(&mut p, "interhub.manifest", &i.manifest),
            widgets: absolute(&mut p, "interhub.widgets", &i.widgets),
        }
    });

    let runner = match raw.runner.kind.as_str() {
        "native" => Runner::Native,
        "command" => {
            if raw.runner.argv.is_empty() || !raw.runner.argv[0].starts_with('/') {
                p.add("runner.argv", "must start with an absolute program path");
            }
            if raw.runner.timeout_secs == 0 || raw.runner.timeout_secs > 3600 {
                p.add("runner.timeout_secs", "must be between 1 and 3600");
            }
            Runner::Command {
                argv: raw.runner.argv,
                timeout: Duration::from_secs(raw.runner.timeout_secs),
                workdir: raw
                    .runner
                    .workdir
                    .as_deref()
                    .map(|w| absolute(&mut p, "runner.workdir", w)),
            }
        }
        other => {
            p.add(
                "runner.kind",
                format!("{other:?}: use \"native\" or \"command\""),
            );
            Runner::Native
        }
    };

    if !p.0.is_empty() {
        return Err(p);
    }
    Ok(Config {
        lane_user,
        source: source.to_path_buf(),
        lane: CertPolicy {
            principal: l.principal,
            require_sole_principal: l.require_sole_principal,
            key_id_pattern: key_id_pattern.expect("checked above"),
            pinned,
            max_ttl_secs: l.max_ttl_secs,
            clock_skew_secs: l.clock_skew_secs,
            allowed_critical_options: l.allowed_critical_options,
            require_source_address: l.require_source_address,
            allowed_extensions: l.allowed_extensions,
        },
        audit_path,
        audit_syslog,
        audit_group,
        state_dir,
        lock_wait: Duration::from_secs(raw.state.lock_wait_secs),
        openbao,
        interhub,
        runner,
    })
}

/// Parses and validates config text (no file checks on the config itself);
/// used by tests and `check-config`.
pub fn from_str(source: &Path, text: &str) -> Result<Config, Problems> {
    let raw: raw::RawConfig = toml::from_str(text).map_err(|e| {
        let mut p = Problems::default();
        p.add("(toml)", toml_problem(text, &e));
        p
    })?;
    validate(source, raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOnq8qu5ZoT6Gk0ck5a8oHTf5H3kVsZb0a5qS7n2b6uQ lane-ca";

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let text = format!(
            r#"
[lane]
principal = ""
key_id_pattern = "*"
ca_keys = ["{CA}", "not a key"]
max_ttl_secs = 0
[audit]
path = "relative/audit.jsonl"
[openbao]
addr = "http://10.0.0.1:8200"
auth = "approle"
[runner]
kind = "command"
"#
        );
        let p = from_str(Path::new("x.toml"), &text).unwrap_err();
        let keys: Vec<&str> = p.0.iter().map(|(k, _)| k.as_str()).collect();
        for k in [
            "lane.principal",
            "lane.key_id_pattern",
            "lane.ca_keys[1]",
            "lane.max_ttl_secs",
            "audit.path",
            "openbao.addr",
            "openbao.role_id_file",
            "openbao.secret_id_file",
            "runner.argv",
        ] {
            assert!(keys.contains(&k), "{k} missing from {keys:?}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let text = format!(
            "[lane]\nprincipal='p'\nkey_id_pattern='a*'\nca_keys=['{CA}']\nmax_ttl_secs=600\nsurprise=1\n[audit]\npath='/a'\n"
        );
        let p = from_str(Path::new("x.toml"), &text).unwrap_err();
        assert!(p.0[0].1.contains("surprise"), "{:?}", p.0);
    }

    #[test]
    fn example_config_parses() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/host-config/ops-warden.toml.example"
        ))
        .unwrap();
        // The example names files that exist only on a host; only parse-level checks matter here.
        let p = from_str(Path::new("example"), &text);
        if let Err(p) = p {
            // The CA file and the lane user exist only on a host.
            let host_only = ["lane.ca_keys_file", "lane.user"];
            assert!(
                p.0.iter().all(|(k, _)| host_only.contains(&k.as_str())),
                "{:?}",
                p.0
            );
        }
    }

    fn minimal(extra: &str) -> String {
        format!(
            "[lane]\nprincipal='p'\nkey_id_pattern='a*'\nca_keys=['{CA}']\nmax_ttl_secs=600\n\
             [audit]\npath='/a'\n{extra}"
        )
    }

    fn problems(extra: &str) -> Vec<(String, String)> {
        from_str(Path::new("x.toml"), &minimal(extra))
            .err()
            .map(|p| p.0)
            .unwrap_or_default()
    }

    const IH: &str = "[interhub]\nmanifest='/m'\nwidgets='/w'\n";

    #[test]
    fn safe_defaults() {
        let cfg = from_str(Path::new("x.toml"), &minimal("")).unwrap();
        assert!(cfg.lane.require_sole_principal, "safe when omitted");
        assert!(
            cfg.lane.allowed_extensions.is_empty(),
            "no extension allowed"
        );
        // Inter-Hub over non-loopback https needs a pinned CA, or an explicit word.
        let p = problems(&format!("{IH}base_url='https://hub.example'\n"));
        assert!(p.iter().any(|(k, _)| k == "interhub.ca_bundle"), "{p:?}");
        assert!(problems(&format!(
            "{IH}base_url='https://hub.example'\nca_bundle='/etc/ca.pem'\n"
        ))
        .is_empty());
        assert!(problems(&format!(
            "{IH}base_url='https://hub.example'\nuse_system_roots=true\n"
        ))
        .is_empty());
        assert!(problems(&format!("{IH}base_url='http://127.0.0.1:8080'\n")).is_empty());
        let p = problems(&format!(
            "{IH}base_url='https://hub.example'\nuse_system_roots=true\nca_bundle='/c'\n"
        ));
        assert!(
            p.iter().any(|(k, _)| k == "interhub.use_system_roots"),
            "{p:?}"
        );
    }

    #[test]
    fn an_openbao_override_passes_the_configs_rules() {
        let base =
            "[openbao]\naddr='https://bao.example:8200'\nauth='token-file'\ntoken_file='/t'\n";
        let load = || from_str(Path::new("x.toml"), &minimal(base)).unwrap();
        let over = |addr: &str, ca: Option<&str>| {
            let mut c = load();
            override_openbao(
                &mut c,
                Some((addr, "--openbao-addr")),
                ca.map(|c| (c, "--openbao-ca-bundle")),
            )
            .map(|_| c.openbao.unwrap())
        };
        let e = over("http://10.0.0.5:8200", None).unwrap_err().to_string();
        assert!(
            e.contains("--openbao-addr: plain http is only allowed to a loopback"),
            "{e}"
        );
        let e = over("https://other.example:8200", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("pin its CA"), "{e}");
        let o = over("https://other.example:8200", Some("/etc/ca.pem")).unwrap();
        assert_eq!(o.addr, "https://other.example:8200");
        assert_eq!(o.ca_bundle.as_deref(), Some(Path::new("/etc/ca.pem")));
        assert!(
            over("https://bao.example:8200/", None).is_ok(),
            "the same address"
        );
        assert!(over("http://127.0.0.1:8200", None).is_ok(), "loopback http");
        let e = over("https://other.example:8200", Some("rel.pem"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--openbao-ca-bundle: must be an absolute path"),
            "{e}"
        );
    }
}
