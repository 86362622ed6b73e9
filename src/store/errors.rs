//! vaultrs errors into user-facing [`Error`]s.
//!
//! vaultrs/rustify errors may carry raw response bodies: they are never
//! printed with `{:?}`; only the status, the operation and the path (and, for
//! unexpected answers, OpenBao's own short error text, escaped) are kept.

use vaultrs::error::ClientError;

use crate::error::Error;
use crate::http::{classify, Transport};

/// What was being done, for precise codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Health,
    Login,
    Read,
    Write,
    Other,
}

/// Whether a failed idempotent call may be tried again.
pub fn retryable(e: &Error) -> bool {
    match e {
        Error::OpenbaoUnreachable(_) => true,
        Error::OpenbaoServer {
            status: Some(s), ..
        } => *s == 429 || (500..600).contains(s),
        _ => false,
    }
}

pub fn from_reqwest(e: &reqwest::Error, what: &str) -> Error {
    match classify(e) {
        Transport::Timeout => Error::OpenbaoTimeout(what.into()),
        Transport::Tls => Error::OpenbaoTls(what.into()),
        Transport::Connect => Error::OpenbaoUnreachable(format!("{what}: connection failed")),
        Transport::Other => Error::OpenbaoUnreachable(format!("{what}: request failed")),
    }
}

pub fn from_status(code: u16, errors: &[String], op: Op, path: &str) -> Error {
    let first = errors
        .first()
        .map(|e| crate::text::escape_untrusted(e.trim(), 160))
        .unwrap_or_default();
    let sealed = errors.iter().any(|e| e.contains("sealed"));
    match (code, op) {
        (503, _) if sealed => Error::OpenbaoSealed,
        (400, Op::Write) if first.contains("check-and-set") => {
            Error::OpenbaoCasConflict(path.into())
        }
        (400 | 403, Op::Login) => Error::OpenbaoAuthFailed(format!("{path}: {first}")),
        (403, Op::Read) => Error::OpenbaoReadDenied(path.into()),
        (403, Op::Write) => Error::OpenbaoWriteDenied(path.into()),
        (403, _) => Error::OpenbaoAuthFailed(format!("{path}: permission denied")),
        (404, _) => Error::OpenbaoNotFound(path.into()),
        _ => Error::OpenbaoServer {
            status: Some(code),
            detail: format!("HTTP {code} on {path}: {first}"),
        },
    }
}

pub fn from_client(e: ClientError, op: Op, path: &str) -> Error {
    match e {
        ClientError::APIError { code, errors } => from_status(code, &errors, op, path),
        ClientError::RestClientError { source } => from_rest(source, op, path),
        ClientError::ResponseEmptyError | ClientError::ResponseDataEmptyError => {
            Error::openbao_server(format!("empty answer on {path}"))
        }
        _ => Error::openbao_server(format!("unexpected answer on {path}")),
    }
}

fn from_rest(e: rustify::errors::ClientError, op: Op, path: &str) -> Error {
    use rustify::errors::ClientError as R;
    match e {
        R::ServerResponseError { code, content } => {
            // Not a JSON `errors` body: keep only whether it says sealed.
            let sealed = content.as_deref().is_some_and(|c| c.contains("sealed"));
            let errors = if sealed {
                vec!["sealed".to_string()]
            } else {
                Vec::new()
            };
            from_status(code, &errors, op, path)
        }
        R::RequestError { source, .. } => match source.downcast_ref::<reqwest::Error>() {
            Some(re) => from_reqwest(re, path),
            None => Error::OpenbaoUnreachable(format!("{path}: request failed")),
        },
        R::ReqwestBuildError { .. } => Error::Internal("cannot build the OpenBao request".into()),
        _ => Error::openbao_server(format!("unexpected answer on {path}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_precise_codes_and_only_transient_ones_retry() {
        let e = |code, errs: &[&str], op| {
            from_status(
                code,
                &errs.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                op,
                "secret/data/x",
            )
        };
        assert_eq!(
            e(503, &["Vault is sealed"], Op::Read).code(),
            "openbao-sealed"
        );
        assert_eq!(
            e(
                400,
                &["check-and-set parameter did not match the current version"],
                Op::Write
            )
            .code(),
            "openbao-cas-conflict"
        );
        assert_eq!(
            e(400, &["invalid role or secret ID"], Op::Login).code(),
            "openbao-auth-failed"
        );
        assert_eq!(
            e(403, &["permission denied"], Op::Read).code(),
            "openbao-read-denied"
        );
        assert_eq!(
            e(403, &["permission denied"], Op::Write).code(),
            "openbao-write-denied"
        );
        assert_eq!(e(404, &[], Op::Read).code(), "openbao-not-found");
        for (code, retry) in [
            (500, true),
            (502, true),
            (429, true),
            (400, false),
            (403, false),
            (404, false),
        ] {
            assert_eq!(retryable(&e(code, &["x"], Op::Read)), retry, "HTTP {code}");
        }
        assert!(
            !retryable(&Error::OpenbaoSealed),
            "sealed is reported, not hammered"
        );
        assert!(retryable(&Error::OpenbaoUnreachable("x".into())));
        assert!(
            !retryable(&Error::OpenbaoTimeout("x".into())),
            "a timeout already waited its full budget"
        );
    }
}
