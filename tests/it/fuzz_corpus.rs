//! Replays every input in `fuzz/corpus/<target>/` (the seeds and whatever the
//! fuzzers found, crashes included once fixed) through the same entry points
//! the `cargo fuzz` targets call, on stable, in every `cargo test`.

use std::path::PathBuf;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        let data = std::fs::read(&p).unwrap();
        if let Err(panic) = std::panic::catch_unwind(|| run(&data)) {
            panic!("{}: {panic:?}", p.display());
        }
        n += 1;
    }
    assert!(
        n >= 2,
        "{target}: the corpus holds at least its seeds ({n})"
    );
}

#[test]
fn command_corpus() {
    replay("command", ops_warden::fuzzing::command);
}

#[test]
fn auth_info_corpus() {
    replay("auth_info", ops_warden::fuzzing::auth_info);
}

#[test]
fn config_corpus() {
    replay("config", ops_warden::fuzzing::config);
}

#[test]
fn audit_corpus() {
    replay("audit", ops_warden::fuzzing::audit);
}

#[test]
fn anchor_corpus() {
    replay("anchor", ops_warden::fuzzing::anchor);
}
