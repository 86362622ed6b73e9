//! ops-warden: the sshd ForceCommand of the `agt-interhub-bootstrap` lane.
//!
//! Layers, bottom to top; a module uses only modules of its own layer or
//! below (`tests::layers_hold` checks every `crate::` path):
//!
//! 0. `error`, `secret`, `text`, `os` — codes, secrets, escaping, hardening,
//!    trusted files, folders by descriptor, locks, signals
//! 1. `audit`, `env`, `ssh`, `policy`, `http` — the hash-chained log, what
//!    sshd hands over, the certificate envelope, the hardened HTTP client
//! 2. `config` — the host config, checked per section
//! 3. `store` (OpenBao), `interhub` (the API client)
//! 4. `bootstrap` — seeds, the steps, the runtime-key critical section, the helper
//! 5. `evidence` — the typed stdout document
//! 6. `run` (the one run skeleton: force-command and attended side by side),
//!    `lane` (the verbs' work), `check` (check-config)
//! 7. `cli`, and `fuzzing`/`testing` (entry points for fuzz targets and the
//!    integration tests)
//!
//! Only `cli`, `fuzzing`, `testing` and [`VERSION`] are public: everything
//! else is `pub(crate)`, so the compiler reports what nothing uses.
// No unsafe code, with one audited exception: os::session (a helper's
// session made before exec); `tests::unsafe_lives_in_one_file` keeps it so.
#![deny(unsafe_code)]

/// This build's version, carried by every audit record.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where the package installs the binary (sshd's ForceCommand): anchor
/// lines sent by it are accepted by `audit verify --anchor`.
pub const INSTALLED_BINARY: &str = "/usr/libexec/ops-warden/ops-warden";

pub(crate) mod audit;
pub(crate) mod bootstrap;
pub(crate) mod check;
pub mod cli;
pub(crate) mod config;
pub(crate) mod env;
pub(crate) mod error;
pub(crate) mod evidence;
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod http;
pub(crate) mod interhub;
pub(crate) mod lane;
pub(crate) mod os;
pub(crate) mod policy;
pub(crate) mod run;
pub(crate) mod secret;
pub(crate) mod ssh;
pub(crate) mod store;
#[doc(hidden)]
pub mod testing;
pub(crate) mod text;

#[cfg(test)]
mod tests {
    /// Each module's layer (see the crate docs).
    const LAYERS: &[(&str, u8)] = &[
        ("error", 0),
        ("secret", 0),
        ("text", 0),
        ("os", 0),
        ("audit", 1),
        ("env", 1),
        ("ssh", 1),
        ("policy", 1),
        ("http", 1),
        ("config", 2),
        ("store", 3),
        ("interhub", 3),
        ("bootstrap", 4),
        ("evidence", 5),
        ("run", 6),
        ("lane", 6),
        ("check", 6),
        ("cli", 7),
        ("fuzzing", 7),
        ("testing", 7),
    ];

    /// Every file under `src/`: its path there and its text.
    fn source_files() -> Vec<(String, String)> {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        let mut stack = vec![src.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p.strip_prefix(&src).unwrap().to_string_lossy().to_string();
                    files.push((rel, std::fs::read_to_string(&p).unwrap()));
                }
            }
        }
        files
    }

    fn layer(m: &str) -> Option<u8> {
        LAYERS.iter().find(|(n, _)| *n == m).map(|(_, l)| *l)
    }

    /// No module reaches up: every `crate::x` path in a module's code (its
    /// tests aside) names a module of the same layer or below.
    #[test]
    fn layers_hold() {
        let mut upward = Vec::new();
        for (rel, text) in source_files() {
            let top = rel.split('/').next().unwrap().trim_end_matches(".rs");
            if rel.ends_with("_tests.rs") || top == "lib" || top == "main" {
                continue;
            }
            let from = layer(top).unwrap_or_else(|| panic!("{rel}: module not in LAYERS"));
            let code = text.split("#[cfg(test)]").next().unwrap();
            for (i, _) in code.match_indices("crate::") {
                let to: String = code[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if let Some(l) = layer(&to) {
                    if l > from {
                        upward.push(format!("{rel} -> {to}"));
                    }
                }
            }
        }
        assert!(upward.is_empty(), "upward imports: {upward:?}");
    }

    /// The crate denies `unsafe`; the one exception (a session made before
    /// exec) stays in one small file, where every block says why it is sound.
    #[test]
    fn unsafe_lives_in_one_file() {
        let found: Vec<String> = source_files()
            .into_iter()
            .filter(|(_, text)| text.contains(concat!("unsafe", " {")))
            .map(|(rel, _)| rel)
            .collect();
        assert_eq!(found, ["os/session.rs"]);
    }
}
