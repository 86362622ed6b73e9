//! One certificate, one run: a certificate (its CA and serial) used once for
//! a single-use verb (`lane.single_use_verbs`, `bootstrap` by default) is
//! refused for it afterwards on this host until it expires.
//!
//! Each use is a file `cert-used.<ca>.<serial>` in the lane's state folder,
//! created exclusively (`O_EXCL`): of two runs racing with one certificate,
//! exactly one creates it. The file holds the certificate's `valid_before`;
//! files of certificates expired (beyond the clock skew) are removed by the
//! next claim. A run consumes its certificate whatever its outcome, so a
//! retry after a failed run needs a fresh certificate.

use std::io::Write;

use crate::error::Error;
use crate::os::dir::WorkDir;

/// The verbs `lane.single_use_verbs` may name.
pub const VERBS: [&str; 3] = ["bootstrap", "gate", "verify"];

const PREFIX: &str = "cert-used.";

/// The certificate as the claim needs it.
pub struct Use<'a> {
    pub ca_fingerprint: &'a str,
    pub serial: u64,
    pub valid_before: u64,
}

/// Claims the certificate's one use, or refuses it with `cert-replayed`.
/// `Err(Error::Internal)` when the state folder does not take the claim.
pub fn claim(state: &WorkDir, cert: &Use, now: u64, skew: u64) -> Result<(), Error> {
    prune(state, now, skew);
    let ca = crate::text::sha256_hex(cert.ca_fingerprint.as_bytes());
    let name = format!("{PREFIX}{}.{}", &ca[..16], cert.serial);
    let fail = |m: String| Error::Internal(format!("the certificate's use was not recorded: {m}"));
    match state.claim(&name, 0o600).map_err(fail)? {
        None => Err(Error::CertReplayed {
            serial: cert.serial,
        }),
        Some(mut f) => {
            writeln!(f, "{}", cert.valid_before).map_err(|e| fail(e.to_string()))?;
            Ok(())
        }
    }
}

/// Removes the uses of certificates that expired more than `skew` ago.
fn prune(state: &WorkDir, now: u64, skew: u64) {
    let Ok(names) = state.list() else { return };
    for name in names.iter().filter(|n| n.starts_with(PREFIX)) {
        let expired = state
            .read_file(name, 32)
            .ok()
            .flatten()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|t| t.trim().parse::<u64>().ok())
            .is_some_and(|before| before.saturating_add(skew) < now);
        if expired {
            let _ = state.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> (tempfile::TempDir, WorkDir) {
        let d = tempfile::tempdir().unwrap();
        let w = WorkDir::open(d.path(), None).unwrap();
        (d, w)
    }

    fn cert(serial: u64, valid_before: u64) -> Use<'static> {
        Use {
            ca_fingerprint: "SHA256:abc",
            serial,
            valid_before,
        }
    }

    #[test]
    fn a_certificate_serves_once_until_it_expires() {
        let (_d, s) = state();
        claim(&s, &cert(7, 1000), 500, 60).unwrap();
        let e = claim(&s, &cert(7, 1000), 600, 60).unwrap_err();
        assert_eq!(e.code().as_str(), "cert-replayed");
        // Another serial, or the same serial from another CA, is another certificate.
        claim(&s, &cert(8, 1000), 600, 60).unwrap();
        let other_ca = Use {
            ca_fingerprint: "SHA256:def",
            ..cert(7, 1000)
        };
        claim(&s, &other_ca, 600, 60).unwrap();
        // Expired beyond the skew: pruned (the certificate check refuses it anyway).
        assert_eq!(s.list().unwrap().len(), 3);
        claim(&s, &cert(9, 5000), 1061, 60).unwrap();
        assert_eq!(
            s.list().unwrap(),
            vec![format!(
                "{PREFIX}{}.9",
                &crate::text::sha256_hex(b"SHA256:abc")[..16]
            )]
        );
    }

    #[test]
    fn of_runs_racing_with_one_certificate_exactly_one_wins() {
        let (_d, s) = state();
        let wins = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|t| {
            for _ in 0..16 {
                t.spawn(|| {
                    let w = s.try_clone().unwrap();
                    if claim(&w, &cert(42, 9000), 100, 60).is_ok() {
                        wins.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(wins.into_inner(), 1);
    }
}
