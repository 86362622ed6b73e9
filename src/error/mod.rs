//! The one error type a user can see.
//!
//! Every variant has a stable kebab-case [`Error::code`] (it goes into the
//! evidence and the audit log, and callers match on it) and a sysexits(3)
//! exit code from [`Error::exit_code`]. The `Display` text is the message a
//! person reads; it never holds a secret (only paths, field names, ids, key
//! prefixes and status codes are ever interpolated).

use std::fmt;

mod code;

pub use code::{exit, Code, Outcome};

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
    /// This certificate (CA, serial) was used before for a single-use verb.
    CertReplayed {
        serial: u64,
    },
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
    /// Sent (perhaps done), its answer lost.
    OpenbaoUnreachable(String),
    /// No connection was made: the call was never sent (another node may be
    /// asked, whatever the call). Reported as `openbao-unreachable`.
    OpenbaoNotConnected(String),
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
    /// Another OpenBao error; `status` (when there was one) decides retries.
    OpenbaoServer {
        status: Option<u16>,
        detail: String,
    },

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
    /// Inter-Hub said `invalid_client` for the key: it is dead.
    RuntimeKeyDead(String),
    /// The store's outcome is unknown; the key stays journaled.
    RuntimeKeyUnconfirmed(String),
    /// A created key could not be stored and was revoked.
    RuntimeKeyNotStored(String),
    /// Worst case: a created key could neither be stored nor revoked.
    RuntimeKeyOrphaned(String),
    /// `create_key` failed in a way that may have made a key, and the sweep
    /// that would revoke it failed too.
    RuntimeKeyMaybeCreated(String),
    ValidationFailed(String),

    // ---- helper runner ----
    HelperFailed(String),

    // ---- anything else ----
    Io(String),
    Internal(String),
}

impl Error {
    /// The stable, machine-readable code (its exit code and outcome come with it).
    pub fn code(&self) -> Code {
        use Error::*;
        match self {
            Usage(_) => Code::Usage,
            CommandTooLong { .. } => Code::CommandTooLong,
            CommandNotPrintable => Code::CommandNotPrintable,
            CommandShellSyntax => Code::CommandShellSyntax,
            CommandUnknownVerb(_) => Code::CommandUnknownVerb,
            CommandBadArgument(_) => Code::CommandBadArgument,
            AuthInfoMissing => Code::AuthInfoMissing,
            AuthInfoUntrusted(_) => Code::AuthInfoUntrusted,
            NoCertificate(_) => Code::NoCertificate,
            CertMalformed(_) => Code::CertMalformed,
            CertNotUser => Code::CertNotUser,
            CaNotPinned(_) => Code::CaNotPinned,
            CertSignatureInvalid => Code::CertSignatureInvalid,
            CertNotYetValid => Code::CertNotYetValid,
            CertExpired => Code::CertExpired,
            CertReplayed { .. } => Code::CertReplayed,
            CertTtlTooLong { .. } => Code::CertTtlTooLong,
            PrincipalMissing => Code::PrincipalMissing,
            PrincipalMismatch => Code::PrincipalMismatch,
            PrincipalNotSole => Code::PrincipalNotSole,
            KeyIdMismatch => Code::KeyIdMismatch,
            CriticalOptionRefused(_) => Code::CriticalOptionRefused,
            SourceAddressRequired => Code::SourceAddressRequired,
            SourceAddressMismatch => Code::SourceAddressMismatch,
            ExtensionRefused(_) => Code::ExtensionRefused,
            Config(_) => Code::ConfigInvalid,
            FileUntrusted(_) => Code::FileUntrusted,
            AuditWrite(_) => Code::AuditWriteFailed,
            AuditBroken(_) => Code::AuditChainBroken,
            Busy => Code::Busy,
            Aborted(_) => Code::Aborted,
            OpenbaoUnreachable(_) | OpenbaoNotConnected(_) => Code::OpenbaoUnreachable,
            OpenbaoTls(_) => Code::OpenbaoTls,
            OpenbaoTimeout(_) => Code::OpenbaoTimeout,
            OpenbaoSealed => Code::OpenbaoSealed,
            OpenbaoAuthFailed(_) => Code::OpenbaoAuthFailed,
            OpenbaoTokenFile(_) => Code::OpenbaoTokenFile,
            OpenbaoReadDenied(_) => Code::OpenbaoReadDenied,
            OpenbaoWriteDenied(_) => Code::OpenbaoWriteDenied,
            OpenbaoCapabilityMissing(_) => Code::OpenbaoCapabilityMissing,
            OpenbaoNotFound(_) => Code::OpenbaoNotFound,
            OpenbaoFieldMissing(_) => Code::OpenbaoFieldMissing,
            SecretValueEmpty(_) => Code::SecretValueEmpty,
            SecretValueTooLong(_) => Code::SecretValueTooLong,
            SecretValueNotPrintable(_) => Code::SecretValueNotPrintable,
            OpenbaoCasConflict(_) => Code::OpenbaoCasConflict,
            OpenbaoReadBackMismatch => Code::OpenbaoReadBackMismatch,
            OpenbaoServer { .. } => Code::OpenbaoServerError,
            KeyFileUntrusted(_) => Code::KeyFileUntrusted,
            SeedInvalid(_) => Code::SeedInvalid,
            InterhubUnreachable(_) => Code::InterhubUnreachable,
            InterhubTimeout(_) => Code::InterhubTimeout,
            InterhubAuth(_) => Code::InterhubAuthFailed,
            InterhubForbidden(_) => Code::InterhubForbidden,
            InterhubRejected(_) => Code::InterhubRejected,
            InterhubServer(_) => Code::InterhubServerError,
            InterhubProtocol(_) => Code::InterhubProtocol,
            RuntimeKeyInvalid(_) | RuntimeKeyDead(_) => Code::RuntimeKeyInvalid,
            RuntimeKeyUnconfirmed(_) => Code::RuntimeKeyUnconfirmed,
            RuntimeKeyNotStored(_) => Code::RuntimeKeyNotStored,
            RuntimeKeyOrphaned(_) => Code::RuntimeKeyOrphaned,
            RuntimeKeyMaybeCreated(_) => Code::RuntimeKeyMaybeCreated,
            ValidationFailed(_) => Code::ValidationFailed,
            HelperFailed(_) => Code::HelperFailed,
            Io(_) => Code::IoError,
            Internal(_) => Code::Internal,
        }
    }

    /// The sysexits code the process ends with.
    pub fn exit_code(&self) -> u8 {
        self.code().exit()
    }

    /// The evidence `outcome` for this error.
    pub fn outcome(&self) -> Outcome {
        self.code().outcome()
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
            CertReplayed { serial } => write!(
                f,
                "certificate serial {serial} was used before for this verb on this host; \
                 get a fresh certificate for every run"
            ),
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
            OpenbaoNotConnected(m) => write!(f, "OpenBao unreachable: {m}: connection failed"),
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
            OpenbaoServer { detail, .. } => write!(f, "OpenBao error: {detail}"),
            KeyFileUntrusted(m) => write!(f, "key file refused: {m}"),
            SeedInvalid(m) => write!(f, "seed invalid: {m}"),
            InterhubUnreachable(m) => write!(f, "Inter-Hub unreachable: {m}"),
            InterhubTimeout(m) => write!(f, "Inter-Hub request timed out: {m}"),
            InterhubAuth(m) => write!(f, "Inter-Hub refused the credential: {m}"),
            InterhubForbidden(m) => write!(f, "Inter-Hub forbids this: {m}"),
            InterhubRejected(m) => write!(f, "Inter-Hub rejected the request: {m}"),
            InterhubServer(m) => write!(f, "Inter-Hub server error: {m}"),
            InterhubProtocol(m) => write!(f, "Inter-Hub answered unexpectedly: {m}"),
            RuntimeKeyInvalid(m) | RuntimeKeyDead(m) => {
                write!(f, "stored runtime key no longer works: {m}")
            }
            RuntimeKeyUnconfirmed(m) => write!(f, "runtime key store not confirmed: {m}"),
            RuntimeKeyNotStored(m) => {
                write!(f, "runtime key could not be stored and was revoked: {m}")
            }
            RuntimeKeyOrphaned(m) => write!(
                f,
                "runtime key could neither be stored nor revoked; revoke it by hand: {m}"
            ),
            RuntimeKeyMaybeCreated(m) => write!(
                f,
                "a runtime key may have been created and is left to the orphan sweep: {m}"
            ),
            ValidationFailed(m) => write!(f, "validation failed: {m}"),
            HelperFailed(m) => write!(f, "bootstrap helper failed: {m}"),
            Io(m) => write!(f, "I/O error: {m}"),
            Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl Error {
    /// An OpenBao error without an HTTP status (an empty or odd answer).
    pub fn openbao_server(detail: impl Into<String>) -> Error {
        Error::OpenbaoServer {
            status: None,
            detail: detail.into(),
        }
    }
}

impl std::error::Error for Error {}
