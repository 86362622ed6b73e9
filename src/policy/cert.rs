//! The certificate envelope: the only place a [`VerifiedCaller`] is made.
//!
//! `ssh_key::Certificate::validate_at` checks the signature, that the CA is in
//! a fingerprint list, and the time window, with one opaque error. It does not
//! check user vs host type, principals (empty means *any*), critical options,
//! lifetime or extensions. So the specific conditions are checked first, each
//! with its own code, and `validate_at` runs last for the signature.

use std::net::IpAddr;

use serde::Serialize;
use ssh_key::{certificate::CertType, Certificate, Fingerprint, HashAlg, PublicKey};

use super::glob::KeyIdPattern;
use crate::error::Error;

/// A CA this lane pins.
#[derive(Debug, Clone)]
pub struct PinnedCa {
    pub fingerprint: Fingerprint,
}

impl PinnedCa {
    /// From an OpenSSH public key line (`ssh-ed25519 AAAA... comment`).
    pub fn from_openssh(line: &str) -> Result<PinnedCa, String> {
        let key = PublicKey::from_openssh(line.trim()).map_err(|e| e.to_string())?;
        Ok(PinnedCa {
            fingerprint: key.fingerprint(HashAlg::Sha256),
        })
    }
}

/// The lane's certificate policy, from the validated config.
#[derive(Debug, Clone)]
pub struct CertPolicy {
    pub principal: String,
    pub require_sole_principal: bool,
    pub key_id_pattern: KeyIdPattern,
    pub pinned: Vec<PinnedCa>,
    pub max_ttl_secs: u64,
    pub clock_skew_secs: u64,
    pub allowed_critical_options: Vec<String>,
    pub require_source_address: bool,
    /// Extensions a certificate may carry (an allowlist; empty: none).
    pub allowed_extensions: Vec<String>,
    /// Verbs a certificate serves once only (see [`crate::policy::replay`]).
    pub single_use_verbs: Vec<String>,
}

/// A caller whose certificate passed every check. Only [`verify`] makes one.
#[derive(Debug, Clone)]
#[must_use]
pub struct VerifiedCaller {
    principal: String,
    key_id: String,
    serial: u64,
    ca_fingerprint: String,
    valid_after: u64,
    valid_before: u64,
    client_address: Option<IpAddr>,
    critical_options: Vec<String>,
    extensions: Vec<String>,
}

impl VerifiedCaller {
    /// The certificate's identity for its one use (see [`super::replay`]).
    pub fn single_use(&self) -> super::replay::Use<'_> {
        super::replay::Use {
            ca_fingerprint: &self.ca_fingerprint,
            serial: self.serial,
            valid_before: self.valid_before,
        }
    }
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
    pub fn principal(&self) -> &str {
        &self.principal
    }
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// The evidence/audit form (all non-secret).
    pub fn to_caller(&self) -> Caller {
        Caller {
            principal: self.principal.clone(),
            key_id: self.key_id.clone(),
            serial: self.serial,
            ca_fingerprint: self.ca_fingerprint.clone(),
            valid_after: rfc3339(self.valid_after),
            valid_before: rfc3339(self.valid_before),
            client_address: self.client_address.map(|a| a.to_string()),
            critical_options: self.critical_options.clone(),
            extensions: self.extensions.clone(),
        }
    }
}

/// A verified caller as the evidence and the audit log show it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(test, schemars(transform = crate::text::schema::all_required))]
#[serde(deny_unknown_fields)]
pub struct Caller {
    pub principal: String,
    pub key_id: String,
    pub serial: u64,
    /// `SHA256:…` of the signing CA.
    pub ca_fingerprint: String,
    pub valid_after: String,
    pub valid_before: String,
    pub client_address: Option<String>,
    pub critical_options: Vec<String>,
    pub extensions: Vec<String>,
}

/// What was presented, on a refusal (escaped, capped): who tried.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PresentedCert {
    pub key_id: String,
    pub serial: u64,
    /// At most 16, each escaped and capped.
    pub principals: Vec<String>,
    pub ca_fingerprint: String,
    pub valid_after: String,
    pub valid_before: String,
}

/// What is known about a certificate before (or whether or not) it passes:
/// recorded on refusals so an auditor sees who tried.
pub fn describe(cert: &Certificate) -> PresentedCert {
    PresentedCert {
        key_id: crate::text::escape_untrusted(cert.key_id(), 256),
        serial: cert.serial(),
        principals: cert
            .valid_principals()
            .iter()
            .take(16)
            .map(|p| crate::text::escape_untrusted(p, 128))
            .collect(),
        ca_fingerprint: cert
            .signature_key()
            .fingerprint(HashAlg::Sha256)
            .to_string(),
        valid_after: rfc3339(cert.valid_after()),
        valid_before: rfc3339(cert.valid_before()),
    }
}

fn rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| "forever".into())
}

/// The client's address, from `SSH_CONNECTION`.
pub fn client_address(ssh_connection: Option<&str>) -> Option<IpAddr> {
    ssh_connection?.split(' ').next()?.parse().ok()
}

/// Checks `cert` against `policy` at time `now` (Unix seconds).
pub fn verify(
    policy: &CertPolicy,
    cert: &Certificate,
    client: Option<IpAddr>,
    now: u64,
) -> Result<VerifiedCaller, Error> {
    if cert.cert_type() != CertType::User {
        return Err(Error::CertNotUser);
    }
    let ca_fp = cert.signature_key().fingerprint(HashAlg::Sha256);
    if !policy.pinned.iter().any(|p| p.fingerprint == ca_fp) {
        return Err(Error::CaNotPinned(ca_fp.to_string()));
    }
    let (after, before) = (cert.valid_after(), cert.valid_before());
    if now.saturating_add(policy.clock_skew_secs) < after {
        return Err(Error::CertNotYetValid);
    }
    if now >= before.saturating_add(policy.clock_skew_secs) {
        return Err(Error::CertExpired);
    }
    // The signature (and the CA pin again) at an instant inside the window,
    // since the skew was already allowed for above.
    let at = now.clamp(after, before.saturating_sub(1).max(after));
    cert.validate_at(at, [&ca_fp])
        .map_err(|_| Error::CertSignatureInvalid)?;

    let ttl = before.saturating_sub(after);
    if ttl > policy.max_ttl_secs {
        return Err(Error::CertTtlTooLong {
            ttl_secs: ttl,
            max_secs: policy.max_ttl_secs,
        });
    }
    let principals = cert.valid_principals();
    if principals.is_empty() {
        return Err(Error::PrincipalMissing);
    }
    if !principals.iter().any(|p| p == &policy.principal) {
        return Err(Error::PrincipalMismatch);
    }
    if policy.require_sole_principal && principals.len() != 1 {
        return Err(Error::PrincipalNotSole);
    }
    let key_id = cert.key_id();
    // The glob's `*` matches any byte: the key id itself must be printable,
    // since it reaches the audit log, OpenBao metadata and a reviewer's terminal.
    let printable = key_id.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if key_id.len() > 256 || !printable || !policy.key_id_pattern.matches(key_id) {
        return Err(Error::KeyIdMismatch);
    }
    for name in cert.critical_options().keys() {
        if !policy.allowed_critical_options.iter().any(|a| a == name) {
            return Err(Error::CriticalOptionRefused(crate::text::escape_untrusted(
                name, 64,
            )));
        }
    }
    match cert.critical_options().get("source-address") {
        Some(list) => {
            let addr = client.ok_or(Error::SourceAddressMismatch)?;
            if !source_address_allows(list, addr)? {
                return Err(Error::SourceAddressMismatch);
            }
        }
        None if policy.require_source_address => return Err(Error::SourceAddressRequired),
        None => {}
    }
    for name in cert.extensions().keys() {
        if !policy.allowed_extensions.iter().any(|a| a == name) {
            return Err(Error::ExtensionRefused(name.clone()));
        }
    }
    Ok(VerifiedCaller {
        principal: policy.principal.clone(),
        key_id: key_id.to_string(),
        serial: cert.serial(),
        ca_fingerprint: ca_fp.to_string(),
        valid_after: after,
        valid_before: before,
        client_address: client,
        critical_options: cert.critical_options().keys().cloned().collect(),
        extensions: cert.extensions().keys().cloned().collect(),
    })
}

/// `source-address` is a comma-separated list of addresses and CIDR blocks.
fn source_address_allows(list: &str, addr: IpAddr) -> Result<bool, Error> {
    let mut any = false;
    for item in list.split(',').map(str::trim) {
        let net: ipnet::IpNet = match item.parse::<ipnet::IpNet>() {
            Ok(n) => n,
            Err(_) => item
                .parse::<IpAddr>()
                .map(ipnet::IpNet::from)
                .map_err(|_| {
                    Error::CertMalformed("source-address holds an invalid entry".into())
                })?,
        };
        any |= net.contains(&addr);
    }
    Ok(any)
}

#[cfg(test)]
#[path = "cert_tests.rs"]
mod tests;
