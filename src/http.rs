//! The hardened HTTP client both OpenBao and Inter-Hub are reached through:
//! rustls with the ring provider, an optional pinned CA bundle (then system
//! roots are not used), connect and request timeouts, no proxies from the
//! environment, no redirects.

use std::path::Path;
use std::time::Duration;

use reqwest::redirect::Policy;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use crate::os::files::{read_trusted, Rule};

/// Installs ring as the process's rustls provider (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The process's one current-thread runtime, shared by the blocking facades
/// over the async clients (OpenBao, Inter-Hub). A process serves one run, so
/// this is one runtime per run.
pub fn runtime() -> Result<&'static tokio::runtime::Runtime, crate::error::Error> {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    if let Some(rt) = RT.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| crate::error::Error::Internal(format!("runtime: {e}")))?;
    Ok(RT.get_or_init(|| rt))
}

/// Builds a client (call inside the runtime's context). `ca_bundle`: PEM file pinned as the only trust roots.
pub fn client(
    ca_bundle: Option<&Path>,
    timeout: Duration,
    lane_uid: Option<u32>,
) -> Result<reqwest::Client, String> {
    install_crypto_provider();
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .redirect(Policy::none())
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .timeout(timeout)
        .user_agent(concat!("ops-warden/", env!("CARGO_PKG_VERSION")))
        .https_only(false);
    if let Some(ca) = ca_bundle {
        let pem = read_trusted(ca, Rule::CONFIG.named("CA bundle").trusting(lane_uid))?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| format!("CA bundle {}: {e}", ca.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("CA bundle {}: {e}", ca.display()))?;
        }
        if roots.is_empty() {
            return Err(format!("CA bundle {} holds no certificate", ca.display()));
        }
        let tls = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        b = b.tls_backend_preconfigured(tls);
    }
    b.build().map_err(|e| format!("HTTP client: {e}"))
}

/// Why a request failed at the transport level (no HTTP status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Timeout,
    Tls,
    Connect,
    Other,
}

/// Classifies a reqwest error by walking its source chain. A connection
/// that was never made is `Connect` even when it timed out (a node powered
/// off): nothing was sent.
pub fn classify(e: &reqwest::Error) -> Transport {
    if is_tls(e) {
        Transport::Tls
    } else if e.is_connect() {
        Transport::Connect
    } else if e.is_timeout() {
        Transport::Timeout
    } else {
        Transport::Other
    }
}

/// A rustls error anywhere in the chain. `io::Error::source()` skips the
/// error it wraps, so wrapped errors are reached through `get_ref()`.
fn is_tls(err: &(dyn std::error::Error + 'static)) -> bool {
    if err.downcast_ref::<rustls::Error>().is_some() {
        return true;
    }
    if let Some(inner) = err
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        if is_tls(inner) {
            return true;
        }
    }
    err.source().is_some_and(is_tls)
}
