//! The certificate sshd used, from the `SSH_USER_AUTH` file (`ExposeAuthInfo yes`).
//!
//! The file is `/tmp/sshauth.*`, mode 0600, owned by the login user, one line
//! per authentication method: `publickey <type> <base64>`.

use std::path::Path;

use ssh_key::Certificate;

use crate::error::Error;
use crate::os::files::{read_trusted, Owners, Rule};

const AUTH_INFO_RULE: Rule = Rule {
    what: "SSH_USER_AUTH file",
    owners: Owners::Caller,
    forbidden_mode: 0o177,
    max_size: 64 << 10,
    // sshd writes it into /tmp (sticky, world-writable): owner, mode and
    // O_NOFOLLOW on the file itself are what protect it.
    check_parent: false,
    lane: None,
};

/// Reads the one certificate the session was authenticated with.
pub fn read_certificate(path: &Path) -> Result<Certificate, Error> {
    let bytes = read_trusted(path, AUTH_INFO_RULE).map_err(Error::AuthInfoUntrusted)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::AuthInfoUntrusted("auth info is not UTF-8".into()))?;
    parse_auth_info(&text)
}

/// Picks the certificate out of the auth-info text.
pub fn parse_auth_info(text: &str) -> Result<Certificate, Error> {
    let keys: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("publickey "))
        .collect();
    let line = match keys.as_slice() {
        [] => {
            return Err(Error::NoCertificate(
                "no public key was used to log in".into(),
            ))
        }
        [one] => *one,
        _ => {
            return Err(Error::NoCertificate(
                "more than one public key was used to log in".into(),
            ))
        }
    };
    let mut parts = line.split_ascii_whitespace();
    let (kind, blob) = match (parts.next(), parts.next()) {
        (Some(k), Some(b)) => (k, b),
        _ => return Err(Error::CertMalformed("auth info line is incomplete".into())),
    };
    if !kind.ends_with("-cert-v01@openssh.com") {
        return Err(Error::NoCertificate(format!(
            "logged in with a plain {} key, not a certificate",
            crate::text::escape_untrusted(kind, 64)
        )));
    }
    let cert = Certificate::from_openssh(&format!("{kind} {blob}"))
        .map_err(|e| Error::CertMalformed(e.to_string()))?;
    if cert.algorithm().as_str() != kind.trim_end_matches("-cert-v01@openssh.com") {
        return Err(Error::CertMalformed(
            "certificate type does not match its line".into(),
        ));
    }
    Ok(cert)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_keys_and_garbage() {
        let plain = "publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOnq8qu5ZoT6Gk0ck5a8oHTf5H3kVsZb0a5qS7n2b6uQ\n";
        assert_eq!(parse_auth_info(plain).unwrap_err().code(), "no-certificate");
        assert_eq!(parse_auth_info("").unwrap_err().code(), "no-certificate");
        assert_eq!(
            parse_auth_info("publickey ssh-ed25519-cert-v01@openssh.com AAAA\n")
                .unwrap_err()
                .code(),
            "cert-malformed"
        );
        let two = "publickey a-cert-v01@openssh.com x\npublickey b y\n";
        assert_eq!(parse_auth_info(two).unwrap_err().code(), "no-certificate");
    }
}
