//! Entry points shared by the `cargo fuzz` targets (`fuzz/`) and the test that
//! replays their corpora on stable (`tests/it/fuzz_corpus.rs`): each takes
//! arbitrary bytes and must neither panic nor hang, whatever they hold.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// `SSH_ORIGINAL_COMMAND` as sshd hands it over (any bytes).
pub fn command(data: &[u8]) {
    let parsed = crate::ssh::command::parse(Some(OsStr::from_bytes(data)));
    if let Ok(verb) = parsed {
        // What is accepted must print and parse back to itself.
        let canonical = verb.canonical();
        let again = crate::ssh::command::parse(Some(OsStr::new(&canonical)))
            .expect("a canonical command parses");
        assert_eq!(again.canonical(), canonical);
    }
    let _ = crate::ssh::command::display_untrusted(Some(OsStr::from_bytes(data)));
}

/// The CA every fuzzed certificate is checked against (an ed25519 key).
const FUZZ_CA: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDzGUD/gB1QpvlqgqhMxi0MvvlNod+SqRS7UhKzeH/gi fuzz-ca";

/// An `SSH_USER_AUTH` file's text, then the certificate check on whatever
/// certificate it yields.
pub fn auth_info(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cert) = crate::ssh::auth_info::parse_auth_info(text) else {
        return;
    };
    let policy = crate::policy::cert::CertPolicy {
        principal: "agt-interhub-bootstrap".into(),
        require_sole_principal: true,
        key_id_pattern: crate::policy::glob::KeyIdPattern::parse("agt-*-interhub-bootstrap*")
            .expect("pattern"),
        pinned: vec![crate::policy::cert::PinnedCa::from_openssh(FUZZ_CA).expect("fuzz CA")],
        max_ttl_secs: 900,
        clock_skew_secs: 60,
        allowed_critical_options: vec!["source-address".into()],
        require_source_address: false,
        allowed_extensions: vec![],
        single_use_verbs: vec!["bootstrap".into()],
    };
    let client = Some("127.0.0.1".parse().expect("address"));
    let _ = crate::policy::cert::verify(&policy, &cert, client, 1_700_000_000);
    let _ = crate::policy::cert::describe(&cert);
}

/// A config file's text (validation only; files it names need not exist).
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::config::from_str(text);
    }
}

/// An audit log's bytes through the verifier.
pub fn audit(data: &[u8]) {
    let r = crate::audit::verify_bytes(data);
    assert!(r.ok || r.first_bad.is_some(), "a failure names its line");
}

/// A syslog file's bytes through the anchor reader (`audit verify --anchor`):
/// whatever the lines hold, only well-formed records of accepted senders
/// are kept, and every ignored line is counted.
pub fn anchor(data: &[u8]) {
    let senders = crate::audit::anchor::Senders {
        uids: vec![0, 999],
        exes: vec![crate::INSTALLED_BINARY.into()],
    };
    let a = crate::audit::anchor::load_bytes(data, "vm", &senders);
    for r in a.by_seq.values() {
        assert!(crate::audit::anchor::is_sha256_hex(&r.hash));
        assert!(r.seq >= 1);
    }
    let s = &a.stats;
    assert!(a.by_seq.len() as u64 + a.duplicates.len() as u64 <= s.accepted);
    assert!(s.examples.len() <= 8);
    assert!(s.exe_unknown <= s.accepted);
}
