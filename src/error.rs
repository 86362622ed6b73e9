//! The one error type a user can see.
//!
//! Every variant has a stable kebab-case [`Error::code`] (it goes into the
//! evidence and the audit log, and callers match on it) and a sysexits(3)
//! exit code from [`Error::exit_code`]. The `Display` text is the message a
//! person reads; it never holds a secret (only paths, field names, ids, key
//! prefixes and status codes are ever interpolated).

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

/// What went wrong, as the caller and the auditor see it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    // ---- usage and the SSH command ----
    /// No command was given (an interactive `ssh host`).
    Usage(String),
    /// `SSH_ORIGINAL_COMMAND` is longer than the bound.
    CommandTooLong {
        len: usize,
        max: usize,
    },
    /// `SSH_ORIGINAL_COMMAND` holds a byte outside printable ASCII (newline, tab, NUL, UTF-8).
    CommandNotPrintable,
    /// `SSH_ORIGINAL_COMMAND` holds shell syntax; no shell is ever run.
    CommandShellSyntax,
    /// The verb is not in the fixed set.
    CommandUnknownVerb(String),
    /// The verb is known but an argument is not.
    CommandBadArgument(String),

    // ---- the SSH environment and the certificate ----
    /// `SSH_USER_AUTH` is not set: sshd lacks `ExposeAuthInfo yes`, or this is not sshd.
    AuthInfoMissing,
    /// The auth-info file failed its owner, mode, type or size check.
    AuthInfoUntrusted(String),
    /// The auth-info file does not hold exactly one publickey certificate.
    NoCertificate(String),
    CertMalformed(String),
    CertNotUser,
    CaNotPinned(String),
    CertSignatureInvalid,
    CertNotYetValid,
    CertExpired,
    CertTtlTooLong {
        ttl_secs: u64,
        max_secs: u64,
    },
    PrincipalMissing,
    PrincipalMismatch,
    PrincipalNotSole,
    KeyIdMismatch,
    CriticalOptionRefused(String),
    SourceAddressRequired,
    SourceAddressMismatch,
    ExtensionRefused(String),

    // ---- configuration and trusted files ----
    Config(String),
    FileUntrusted(String),

    // ---- audit ----
    /// The audit record could not be written: fail closed.
    AuditWrite(String),
    /// `audit verify` found a broken chain.
    AuditBroken(String),

    // ---- locking and signals ----
    Busy,
    Aborted(String),

    // ---- OpenBao ----
    OpenbaoUnreachable(String),
    OpenbaoTls(String),
    OpenbaoTimeout(String),
    OpenbaoSealed,
    OpenbaoAuthFailed(String),
    OpenbaoTokenFile(String),
    OpenbaoReadDenied(String),
    OpenbaoWriteDenied(String),
    OpenbaoCapabilityMissing(String),
    OpenbaoNotFound(String),
    OpenbaoFieldMissing(String),
    SecretValueEmpty(String),
    SecretValueTooLong(String),
    SecretValueNotPrintable(String),
    OpenbaoCasConflict(String),
    OpenbaoReadBackMismatch,
    OpenbaoServer(String),

    // ---- attended key files ----
    KeyFileUntrusted(String),

    // ---- seeds ----
    SeedInvalid(String),

    // ---- Inter-Hub ----
    InterhubUnreachable(String),
    InterhubTimeout(String),
    InterhubAuth(String),
    InterhubForbidden(String),
    InterhubRejected(String),
    InterhubServer(String),
    InterhubProtocol(String),
    RuntimeKeyInvalid(String),
    /// A created key could not be stored and was revoked.
    RuntimeKeyNotStored(String),
    /// Worst case: a created key could neither be stored nor revoked.
    RuntimeKeyOrphaned(String),
    ValidationFailed(String),

    // ---- helper runner ----
    HelperFailed(String),

    // ---- anything else ----
    Io(String),
    Internal(String),
}

impl Error {
    /// The stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        use Error::*;
        match self {
            Usage(_) => "usage",
            CommandTooLong { .. } => "command-too-long",
            CommandNotPrintable => "command-not-printable",
            CommandShellSyntax => "command-shell-syntax",
            CommandUnknownVerb(_) => "command-unknown-verb",
            CommandBadArgument(_) => "command-bad-argument",
            AuthInfoMissing => "auth-info-missing",
            AuthInfoUntrusted(_) => "auth-info-untrusted",
            NoCertificate(_) => "no-certificate",
            CertMalformed(_) => "cert-malformed",
            CertNotUser => "cert-not-user",
            CaNotPinned(_) => "ca-not-pinned",
            CertSignatureInvalid => "cert-signature-invalid",
            CertNotYetValid => "cert-not-yet-valid",
            CertExpired => "cert-expired",
            CertTtlTooLong { .. } => "cert-ttl-too-long",
            PrincipalMissing => "principal-missing",
            PrincipalMismatch => "principal-mismatch",
            PrincipalNotSole => "principal-not-sole",
            KeyIdMismatch => "key-id-mismatch",
            CriticalOptionRefused(_) => "critical-option-refused",
            SourceAddressRequired => "source-address-required",
            SourceAddressMismatch => "source-address-mismatch",
            ExtensionRefused(_) => "extension-refused",
            Config(_) => "config-invalid",
            FileUntrusted(_) => "file-untrusted",
            AuditWrite(_) => "audit-write-failed",
            AuditBroken(_) => "audit-chain-broken",
            Busy => "busy",
            Aborted(_) => "aborted",
            OpenbaoUnreachable(_) => "openbao-unreachable",
            OpenbaoTls(_) => "openbao-tls",
            OpenbaoTimeout(_) => "openbao-timeout",
            OpenbaoSealed => "openbao-sealed",
            OpenbaoAuthFailed(_) => "openbao-auth-failed",
            OpenbaoTokenFile(_) => "openbao-token-file",
            OpenbaoReadDenied(_) => "openbao-read-denied",
            OpenbaoWriteDenied(_) => "openbao-write-denied",
            OpenbaoCapabilityMissing(_) => "openbao-capability-missing",
            OpenbaoNotFound(_) => "openbao-not-found",
            OpenbaoFieldMissing(_) => "openbao-field-missing",
            SecretValueEmpty(_) => "secret-value-empty",
            SecretValueTooLong(_) => "secret-value-too-long",
            SecretValueNotPrintable(_) => "secret-value-not-printable",
            OpenbaoCasConflict(_) => "openbao-cas-conflict",
            OpenbaoReadBackMismatch => "openbao-read-back-mismatch",
            OpenbaoServer(_) => "openbao-server-error",
            KeyFileUntrusted(_) => "key-file-untrusted",
            SeedInvalid(_) => "seed-invalid",
            InterhubUnreachable(_) => "interhub-unreachable",
            InterhubTimeout(_) => "interhub-timeout",
            InterhubAuth(_) => "interhub-auth-failed",
            InterhubForbidden(_) => "interhub-forbidden",
            InterhubRejected(_) => "interhub-rejected",
            InterhubServer(_) => "interhub-server-error",
            InterhubProtocol(_) => "interhub-protocol",
            RuntimeKeyInvalid(_) => "runtime-key-invalid",
            RuntimeKeyNotStored(_) => "runtime-key-not-stored",
            RuntimeKeyOrphaned(_) => "runtime-key-orphaned",
            ValidationFailed(_) => "validation-failed",
            HelperFailed(_) => "helper-failed",
            Io(_) => "io-error",
            Internal(_) => "internal",
        }
    }

    /// The sysexits code the process ends with.
    pub fn exit_code(&self) -> u8 {
        use Error::*;
        match self {
            Usage(_) => exit::USAGE,
            CommandTooLong { .. }
            | CommandNotPrintable
            | CommandShellSyntax
            | CommandUnknownVerb(_)
            | CommandBadArgument(_)
            | AuthInfoMissing
            | AuthInfoUntrusted(_)
            | NoCertificate(_)
            | CertMalformed(_)
            | CertNotUser
            | CaNotPinned(_)
            | CertSignatureInvalid
            | CertNotYetValid
            | CertExpired
            | CertTtlTooLong { .. }
            | PrincipalMissing
            | PrincipalMismatch
            | PrincipalNotSole
            | KeyIdMismatch
            | CriticalOptionRefused(_)
            | SourceAddressRequired
            | SourceAddressMismatch
            | ExtensionRefused(_)
            | AuditWrite(_)
            | KeyFileUntrusted(_)
            | OpenbaoReadDenied(_)
            | OpenbaoWriteDenied(_)
            | OpenbaoCapabilityMissing(_)
            | OpenbaoAuthFailed(_)
            | InterhubAuth(_)
            | InterhubForbidden(_)
            | RuntimeKeyInvalid(_) => exit::NOPERM,
            Config(_) | FileUntrusted(_) | OpenbaoTokenFile(_) => exit::CONFIG,
            SeedInvalid(_) | AuditBroken(_) | InterhubRejected(_) | ValidationFailed(_) => {
                exit::DATAERR
            }
            Busy | Aborted(_) | OpenbaoCasConflict(_) => exit::TEMPFAIL,
            OpenbaoUnreachable(_)
            | OpenbaoTls(_)
            | OpenbaoTimeout(_)
            | OpenbaoSealed
            | OpenbaoServer(_)
            | OpenbaoNotFound(_)
            | OpenbaoFieldMissing(_)
            | SecretValueEmpty(_)
            | SecretValueTooLong(_)
            | SecretValueNotPrintable(_)
            | InterhubUnreachable(_)
            | InterhubTimeout(_)
            | InterhubServer(_)
            | InterhubProtocol(_)
            | HelperFailed(_)
            | RuntimeKeyNotStored(_) => exit::UNAVAILABLE,
            OpenbaoReadBackMismatch | RuntimeKeyOrphaned(_) | Internal(_) => exit::SOFTWARE,
            Io(_) => exit::IOERR,
        }
    }

    /// The evidence `outcome` for this error.
    pub fn outcome(&self) -> &'static str {
        match self.exit_code() {
            exit::USAGE => "usage",
            exit::NOPERM => "refused",
            exit::TEMPFAIL if matches!(self, Error::Busy) => "busy",
            exit::TEMPFAIL if matches!(self, Error::Aborted(_)) => "aborted",
            _ => "failed",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Error::*;
        match self {
            Usage(m) => write!(f, "{m}"),
            CommandTooLong { len, max } => {
                write!(f, "command is {len} bytes; at most {max} are accepted")
            }
            CommandNotPrintable => f.write_str("command holds bytes outside printable ASCII"),
            CommandShellSyntax => {
                f.write_str("command holds shell syntax; no shell runs here, send a bare verb")
            }
            CommandUnknownVerb(v) => write!(f, "unknown verb {v:?}; try `help`"),
            CommandBadArgument(a) => write!(f, "argument not accepted: {a}"),
            AuthInfoMissing => f.write_str(
                "SSH_USER_AUTH is not set (sshd needs `ExposeAuthInfo yes` for this lane)",
            ),
            AuthInfoUntrusted(m) => write!(f, "SSH auth info not trusted: {m}"),
            NoCertificate(m) => write!(f, "no usable SSH certificate: {m}"),
            CertMalformed(m) => write!(f, "certificate does not parse: {m}"),
            CertNotUser => f.write_str("certificate is a host certificate, not a user certificate"),
            CaNotPinned(fp) => write!(
                f,
                "certificate signed by CA {fp}, which this lane does not pin"
            ),
            CertSignatureInvalid => f.write_str("certificate signature does not verify"),
            CertNotYetValid => f.write_str("certificate is not valid yet"),
            CertExpired => f.write_str("certificate has expired"),
            CertTtlTooLong { ttl_secs, max_secs } => write!(
                f,
                "certificate lifetime is {ttl_secs}s; this lane accepts at most {max_secs}s"
            ),
            PrincipalMissing => {
                f.write_str("certificate lists no principals (that would mean any principal)")
            }
            PrincipalMismatch => f.write_str("certificate does not carry this lane's principal"),
            PrincipalNotSole => {
                f.write_str("certificate carries other principals besides this lane's")
            }
            KeyIdMismatch => f.write_str("certificate key id does not match this lane's pattern"),
            CriticalOptionRefused(o) => write!(f, "critical option {o:?} is not allowed here"),
            SourceAddressRequired => f.write_str("certificate has no source-address restriction"),
            SourceAddressMismatch => {
                f.write_str("client address is outside the certificate's source-address")
            }
            ExtensionRefused(e) => write!(f, "certificate extension {e:?} is refused by this lane"),
            Config(m) => write!(f, "configuration: {m}"),
            FileUntrusted(m) => write!(f, "file not trusted: {m}"),
            AuditWrite(m) => write!(f, "audit log cannot be written, refusing to run: {m}"),
            AuditBroken(m) => write!(f, "audit chain broken: {m}"),
            Busy => f.write_str("another run holds the lock on this host; try again later"),
            Aborted(m) => write!(f, "run aborted: {m}"),
            OpenbaoUnreachable(m) => write!(f, "OpenBao unreachable: {m}"),
            OpenbaoTls(m) => write!(f, "OpenBao TLS failure: {m}"),
            OpenbaoTimeout(m) => write!(f, "OpenBao request timed out: {m}"),
            OpenbaoSealed => f.write_str("OpenBao is sealed"),
            OpenbaoAuthFailed(m) => write!(f, "OpenBao login failed: {m}"),
            OpenbaoTokenFile(m) => write!(f, "OpenBao token file: {m}"),
            OpenbaoReadDenied(p) => write!(f, "OpenBao denied read on {p}"),
            OpenbaoWriteDenied(p) => write!(f, "OpenBao denied write on {p}"),
            OpenbaoCapabilityMissing(m) => write!(f, "OpenBao policy is missing {m}"),
            OpenbaoNotFound(p) => write!(f, "no secret at {p}"),
            OpenbaoFieldMissing(m) => write!(f, "secret field missing: {m}"),
            SecretValueEmpty(m) => write!(f, "secret {m} is empty"),
            SecretValueTooLong(m) => write!(f, "secret {m} is longer than allowed"),
            SecretValueNotPrintable(m) => {
                write!(f, "secret {m} holds bytes outside printable ASCII")
            }
            OpenbaoCasConflict(m) => write!(f, "another writer stored first: {m}"),
            OpenbaoReadBackMismatch => {
                f.write_str("the value read back from OpenBao differs from the one written")
            }
            OpenbaoServer(m) => write!(f, "OpenBao error: {m}"),
            KeyFileUntrusted(m) => write!(f, "key file refused: {m}"),
            SeedInvalid(m) => write!(f, "seed invalid: {m}"),
            InterhubUnreachable(m) => write!(f, "Inter-Hub unreachable: {m}"),
            InterhubTimeout(m) => write!(f, "Inter-Hub request timed out: {m}"),
            InterhubAuth(m) => write!(f, "Inter-Hub refused the credential: {m}"),
            InterhubForbidden(m) => write!(f, "Inter-Hub forbids this: {m}"),
            InterhubRejected(m) => write!(f, "Inter-Hub rejected the request: {m}"),
            InterhubServer(m) => write!(f, "Inter-Hub server error: {m}"),
            InterhubProtocol(m) => write!(f, "Inter-Hub answered unexpectedly: {m}"),
            RuntimeKeyInvalid(m) => write!(f, "stored runtime key no longer works: {m}"),
            RuntimeKeyNotStored(m) => {
                write!(f, "runtime key could not be stored and was revoked: {m}")
            }
            RuntimeKeyOrphaned(m) => write!(
                f,
                "runtime key could neither be stored nor revoked; revoke it by hand: {m}"
            ),
            ValidationFailed(m) => write!(f, "validation failed: {m}"),
            HelperFailed(m) => write!(f, "bootstrap helper failed: {m}"),
            Io(m) => write!(f, "I/O error: {m}"),
            Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One instance of every variant: README's table of codes is tested against it.
pub fn catalogue() -> Vec<Error> {
    use Error::*;
    let s = String::new;
    vec![
        Usage(s()),
        CommandTooLong { len: 0, max: 0 },
        CommandNotPrintable,
        CommandShellSyntax,
        CommandUnknownVerb(s()),
        CommandBadArgument(s()),
        AuthInfoMissing,
        AuthInfoUntrusted(s()),
        NoCertificate(s()),
        CertMalformed(s()),
        CertNotUser,
        CaNotPinned(s()),
        CertSignatureInvalid,
        CertNotYetValid,
        CertExpired,
        CertTtlTooLong {
            ttl_secs: 0,
            max_secs: 0,
        },
        PrincipalMissing,
        PrincipalMismatch,
        PrincipalNotSole,
        KeyIdMismatch,
        CriticalOptionRefused(s()),
        SourceAddressRequired,
        SourceAddressMismatch,
        ExtensionRefused(s()),
        Config(s()),
        FileUntrusted(s()),
        AuditWrite(s()),
        AuditBroken(s()),
        Busy,
        Aborted(s()),
        OpenbaoUnreachable(s()),
        OpenbaoTls(s()),
        OpenbaoTimeout(s()),
        OpenbaoSealed,
        OpenbaoAuthFailed(s()),
        OpenbaoTokenFile(s()),
        OpenbaoReadDenied(s()),
        OpenbaoWriteDenied(s()),
        OpenbaoCapabilityMissing(s()),
        OpenbaoNotFound(s()),
        OpenbaoFieldMissing(s()),
        SecretValueEmpty(s()),
        SecretValueTooLong(s()),
        SecretValueNotPrintable(s()),
        OpenbaoCasConflict(s()),
        OpenbaoReadBackMismatch,
        OpenbaoServer(s()),
        KeyFileUntrusted(s()),
        SeedInvalid(s()),
        InterhubUnreachable(s()),
        InterhubTimeout(s()),
        InterhubAuth(s()),
        InterhubForbidden(s()),
        InterhubRejected(s()),
        InterhubServer(s()),
        InterhubProtocol(s()),
        RuntimeKeyInvalid(s()),
        RuntimeKeyNotStored(s()),
        RuntimeKeyOrphaned(s()),
        ValidationFailed(s()),
        HelperFailed(s()),
        Io(s()),
        Internal(s()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_kebab_case_and_exits_are_sysexits() {
        let samples = [
            Error::Usage(String::new()),
            Error::CommandShellSyntax,
            Error::CertExpired,
            Error::Config(String::new()),
            Error::Busy,
            Error::OpenbaoSealed,
            Error::Internal(String::new()),
            Error::Io(String::new()),
            Error::SeedInvalid(String::new()),
        ];
        for e in samples {
            let code = e.code();
            assert!(code.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
            assert!(
                [64, 65, 69, 70, 74, 75, 77, 78].contains(&e.exit_code()),
                "{code}"
            );
        }
        assert_eq!(Error::Busy.outcome(), "busy");
        assert_eq!(Error::CertExpired.outcome(), "refused");
        assert_eq!(Error::Usage(String::new()).outcome(), "usage");
        assert_eq!(Error::OpenbaoSealed.outcome(), "failed");
    }

    #[test]
    fn catalogue_holds_every_code_of_code_fn() {
        let src = include_str!("error.rs");
        let body = &src[src.find("pub fn code(").unwrap()..src.find("pub fn exit_code(").unwrap()];
        let in_code_fn: std::collections::BTreeSet<&str> = body
            .lines()
            .filter_map(|l| l.split("=> \"").nth(1)?.split('"').next())
            .collect();
        let listed: std::collections::BTreeSet<&str> =
            catalogue().iter().map(Error::code).collect();
        assert_eq!(listed.len(), catalogue().len(), "a variant is listed twice");
        assert_eq!(listed, in_code_fn, "catalogue() and code() disagree");
    }
}
