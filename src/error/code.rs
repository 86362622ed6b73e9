//! Every stable error code, its sysexits(3) exit code and the outcome it
//! gives, in one table. README.md's table is checked against [`Code::ALL`]
//! (a snapshot test), so a code cannot be added, renamed or moved to another
//! exit without the documentation following.

use std::fmt;

/// sysexits(3) codes used by ops-warden. Documented once, in README.md.
pub mod exit {
    pub const OK: u8 = 0;
    pub const USAGE: u8 = 64;
    pub const DATAERR: u8 = 65;
    /// `audit verify` on a host with no audit log yet: no records to check.
    pub const NOINPUT: u8 = 66;
    pub const UNAVAILABLE: u8 = 69;
    pub const SOFTWARE: u8 = 70;
    pub const IOERR: u8 = 74;
    pub const TEMPFAIL: u8 = 75;
    pub const NOPERM: u8 = 77;
    pub const CONFIG: u8 = 78;
}

/// How a run ended, as the evidence's `outcome` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Ok,
    Refused,
    Failed,
    Usage,
    Busy,
    Aborted,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Ok,
        Outcome::Refused,
        Outcome::Failed,
        Outcome::Usage,
        Outcome::Busy,
        Outcome::Aborted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
            Outcome::Usage => "usage",
            Outcome::Busy => "busy",
            Outcome::Aborted => "aborted",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! codes {
    ($($name:ident = $text:literal, $exit:ident;)*) => {
        /// A stable, machine-readable error code (kebab-case on the wire).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $($name,)*
        }

        impl Code {
            /// Every code, in README order.
            pub const ALL: &'static [Code] = &[$(Code::$name,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$name => $text,)*
                }
            }

            /// The sysexits code the process ends with.
            pub fn exit(self) -> u8 {
                match self {
                    $(Code::$name => exit::$exit,)*
                }
            }
        }
    };
}

codes! {
    Usage = "usage", USAGE;
    CommandTooLong = "command-too-long", NOPERM;
    CommandNotPrintable = "command-not-printable", NOPERM;
    CommandShellSyntax = "command-shell-syntax", NOPERM;
    CommandUnknownVerb = "command-unknown-verb", NOPERM;
    CommandBadArgument = "command-bad-argument", NOPERM;
    AuthInfoMissing = "auth-info-missing", NOPERM;
    AuthInfoUntrusted = "auth-info-untrusted", NOPERM;
    NoCertificate = "no-certificate", NOPERM;
    CertMalformed = "cert-malformed", NOPERM;
    CertNotUser = "cert-not-user", NOPERM;
    CaNotPinned = "ca-not-pinned", NOPERM;
    CertSignatureInvalid = "cert-signature-invalid", NOPERM;
    CertNotYetValid = "cert-not-yet-valid", NOPERM;
    CertExpired = "cert-expired", NOPERM;
    CertReplayed = "cert-replayed", NOPERM;
    CertTtlTooLong = "cert-ttl-too-long", NOPERM;
    PrincipalMissing = "principal-missing", NOPERM;
    PrincipalMismatch = "principal-mismatch", NOPERM;
    PrincipalNotSole = "principal-not-sole", NOPERM;
    KeyIdMismatch = "key-id-mismatch", NOPERM;
    CriticalOptionRefused = "critical-option-refused", NOPERM;
    SourceAddressRequired = "source-address-required", NOPERM;
    SourceAddressMismatch = "source-address-mismatch", NOPERM;
    ExtensionRefused = "extension-refused", NOPERM;
    ConfigInvalid = "config-invalid", CONFIG;
    FileUntrusted = "file-untrusted", CONFIG;
    AuditWriteFailed = "audit-write-failed", NOPERM;
    AuditChainBroken = "audit-chain-broken", DATAERR;
    Busy = "busy", TEMPFAIL;
    Aborted = "aborted", TEMPFAIL;
    OpenbaoUnreachable = "openbao-unreachable", UNAVAILABLE;
    OpenbaoTls = "openbao-tls", UNAVAILABLE;
    OpenbaoTimeout = "openbao-timeout", UNAVAILABLE;
    OpenbaoSealed = "openbao-sealed", UNAVAILABLE;
    OpenbaoAuthFailed = "openbao-auth-failed", NOPERM;
    OpenbaoTokenFile = "openbao-token-file", CONFIG;
    OpenbaoReadDenied = "openbao-read-denied", NOPERM;
    OpenbaoWriteDenied = "openbao-write-denied", NOPERM;
    OpenbaoCapabilityMissing = "openbao-capability-missing", NOPERM;
    OpenbaoNotFound = "openbao-not-found", UNAVAILABLE;
    OpenbaoFieldMissing = "openbao-field-missing", UNAVAILABLE;
    SecretValueEmpty = "secret-value-empty", UNAVAILABLE;
    SecretValueTooLong = "secret-value-too-long", UNAVAILABLE;
    SecretValueNotPrintable = "secret-value-not-printable", UNAVAILABLE;
    OpenbaoCasConflict = "openbao-cas-conflict", TEMPFAIL;
    OpenbaoReadBackMismatch = "openbao-read-back-mismatch", SOFTWARE;
    OpenbaoServerError = "openbao-server-error", UNAVAILABLE;
    KeyFileUntrusted = "key-file-untrusted", NOPERM;
    SeedInvalid = "seed-invalid", DATAERR;
    InterhubUnreachable = "interhub-unreachable", UNAVAILABLE;
    InterhubTimeout = "interhub-timeout", UNAVAILABLE;
    InterhubAuthFailed = "interhub-auth-failed", NOPERM;
    InterhubForbidden = "interhub-forbidden", NOPERM;
    InterhubRejected = "interhub-rejected", DATAERR;
    InterhubServerError = "interhub-server-error", UNAVAILABLE;
    InterhubProtocol = "interhub-protocol", UNAVAILABLE;
    RuntimeKeyInvalid = "runtime-key-invalid", NOPERM;
    RuntimeKeyNotStored = "runtime-key-not-stored", UNAVAILABLE;
    RuntimeKeyUnconfirmed = "runtime-key-unconfirmed", TEMPFAIL;
    RuntimeKeyOrphaned = "runtime-key-orphaned", SOFTWARE;
    RuntimeKeyMaybeCreated = "runtime-key-maybe-created", SOFTWARE;
    ValidationFailed = "validation-failed", DATAERR;
    HelperFailed = "helper-failed", UNAVAILABLE;
    IoError = "io-error", IOERR;
    Internal = "internal", SOFTWARE;
}

impl Code {
    /// The evidence `outcome` a run ending in this code has.
    pub fn outcome(self) -> Outcome {
        match (self, self.exit()) {
            (Code::Busy, _) => Outcome::Busy,
            (Code::Aborted, _) => Outcome::Aborted,
            (_, exit::USAGE) => Outcome::Usage,
            (_, exit::NOPERM) => Outcome::Refused,
            _ => Outcome::Failed,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
impl schemars::JsonSchema for Code {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Code".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let codes: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        schemars::json_schema!({
            "description": "A stable error code (README.md, Error codes).",
            "type": "string",
            "enum": codes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The code set, snapshot against README.md's table: every code has its
    /// row with its exit code, and the table has no row without a code.
    #[test]
    fn the_code_set_is_the_readmes_table() {
        let readme = include_str!("../../README.md");
        let table = &readme[readme.find("### Error codes").unwrap()..];
        let table = &table[..table.find("\n## ").unwrap()];
        let rows: Vec<(String, u8)> = table
            .lines()
            .filter_map(|l| {
                let mut cells = l.split('|').map(str::trim).skip(1);
                let code = cells.next()?.strip_prefix('`')?.strip_suffix('`')?;
                Some((code.to_string(), cells.next()?.parse().ok()?))
            })
            .collect();
        let ours: Vec<(String, u8)> = Code::ALL
            .iter()
            .map(|c| (c.as_str().to_string(), c.exit()))
            .collect();
        assert_eq!(
            rows, ours,
            "README.md's error-code table and Code::ALL differ"
        );
    }

    #[test]
    fn codes_are_unique_kebab_case_and_exits_are_sysexits() {
        let mut seen = std::collections::BTreeSet::new();
        for c in Code::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{s}"
            );
            assert!([64, 65, 69, 70, 74, 75, 77, 78].contains(&c.exit()), "{s}");
        }
        assert_eq!(Code::ALL.len(), 66);
    }

    #[test]
    fn outcomes_follow_the_exit_code() {
        assert_eq!(Code::Busy.outcome(), Outcome::Busy);
        assert_eq!(Code::Aborted.outcome(), Outcome::Aborted);
        assert_eq!(Code::OpenbaoCasConflict.outcome(), Outcome::Failed);
        assert_eq!(Code::CertExpired.outcome(), Outcome::Refused);
        assert_eq!(Code::Usage.outcome(), Outcome::Usage);
        assert_eq!(Code::OpenbaoSealed.outcome(), Outcome::Failed);
    }
}
