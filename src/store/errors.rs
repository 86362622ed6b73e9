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

/// What may follow a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Again {
    /// This node cannot have done it (down, sealed, a standby without a
    /// leader, a redirect): another node may, whatever the call.
    Elsewhere,
    /// A transient fault after which the call may have been done: again
    /// only if it may be repeated.
    IfRepeatable,
    /// A refusal, or a fault no repetition mends.
    No,
}

/// What a standby says when it knows no active node to forward to.
const NO_LEADER: [&str; 3] = [
    "active cluster node not found",
    "local node not active",
    "no active node",
];

pub fn again(e: &Error) -> Again {
    match e {
        Error::OpenbaoSealed | Error::OpenbaoNotConnected(_) => Again::Elsewhere,
        Error::OpenbaoUnreachable(_) => Again::IfRepeatable,
        Error::OpenbaoServer {
            status: Some(s),
            detail,
        } => {
            if matches!(s, 307 | 308) || NO_LEADER.iter().any(|n| detail.contains(n)) {
                Again::Elsewhere
            } else if *s == 429 || (500..600).contains(s) {
                Again::IfRepeatable
            } else {
                Again::No
            }
        }
        _ => Again::No,
    }
}

pub fn from_reqwest(e: &reqwest::Error, what: &str) -> Error {
    match classify(e) {
        Transport::Timeout => Error::OpenbaoTimeout(what.into()),
        Transport::Tls => Error::OpenbaoTls(what.into()),
        Transport::Connect => Error::OpenbaoNotConnected(what.into()),
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

    /// A real refused connection, through reqwest and `from_reqwest`.
    fn refused(what: &str) -> Error {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let e = rt
            .block_on(async {
                crate::http::install_crypto_provider();
                reqwest::Client::new()
                    .get(format!("http://127.0.0.1:{port}/"))
                    .send()
                    .await
            })
            .unwrap_err();
        from_reqwest(&e, what)
    }

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
        for (code, then) in [
            (500, Again::IfRepeatable),
            (502, Again::IfRepeatable),
            (429, Again::IfRepeatable),
            (307, Again::Elsewhere),
            (400, Again::No),
            (403, Again::No),
            (404, Again::No),
        ] {
            assert_eq!(again(&e(code, &["x"], Op::Read)), then, "HTTP {code}");
        }
        let standby = e(
            500,
            &["local node not active but active cluster node not found"],
            Op::Write,
        );
        assert_eq!(
            again(&standby),
            Again::Elsewhere,
            "a standby without a leader did nothing"
        );
        assert_eq!(
            again(&Error::OpenbaoSealed),
            Again::Elsewhere,
            "a sealed node did nothing: another node may serve"
        );
        let not_sent = refused("sys/health");
        assert_eq!(not_sent.code(), "openbao-unreachable");
        assert_eq!(again(&not_sent), Again::Elsewhere, "never sent");
        assert_eq!(
            again(&Error::OpenbaoUnreachable("x: request failed".into())),
            Again::IfRepeatable,
            "sent, answer lost: only a repeatable call goes again"
        );
        assert_eq!(
            again(&Error::OpenbaoTimeout("x".into())),
            Again::No,
            "a timeout already waited its full budget"
        );
    }
}
