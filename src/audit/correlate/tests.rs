use super::*;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// The run's AppRole token (as in the OpenBao 2.7.2 sample).
const ACC: &str = "zBxdHuQjsmfXIeG56V9CwwGl";
/// The root token that set OpenBao up: never one of the host's.
const ROOT_ACC: &str = "USgaaEXxN9Jmt3Uw8NnmTD6G";
const HMAC_ACC: &str =
    "hmac-sha256:6177d029cafc851843f76edb635b59370039031196084673827456a9ab9d6011";
/// The trail's first record.
const T0: &str = "2026-12-04T19:04:20.000Z";
/// The result record's `ts` (the run took 400 ms: it started at 23.600).
const TS: &str = "2026-12-04T19:04:24.000Z";

fn write_lines(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let p = dir.join(name);
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(&p, text).unwrap();
    p
}

fn call(call: &str, path: &str, id: Option<&str>) -> Value {
    json!({"call": call, "path": path, "request_id": id})
}

fn result(run: &str, seq: u64, ts: &str, accessor: Option<&str>, calls: Vec<Value>) -> String {
    json!({"event": "result", "run_id": run, "seq": seq, "ts": ts, "outcome": "ok",
           "duration_ms": 400, "openbao": {"accessor": accessor, "calls": calls}})
    .to_string()
}

fn chain_start(ts: &str) -> String {
    json!({"event": "chain-start", "seq": 1, "ts": ts, "host": "vm", "prev": "00"}).to_string()
}

/// One run's calls: (call, request id suffix, path, when OpenBao logs it).
/// The last two answer 204: the host has no request id for them.
const CALLS: [(&str, &str, &str, &str); 5] = [
    ("login", "login", "auth/approle/login", "23.720"),
    ("read", "read", "secret/data/ops/operator-key", "23.750"),
    ("store", "store", "secret/data/ops/runtime-key", "23.800"),
    (
        "metadata",
        "meta",
        "secret/metadata/ops/runtime-key",
        "23.850",
    ),
    ("revoke-self", "revoke", "auth/token/revoke-self", "23.870"),
];

/// A time of the test day: `at("23.500")` is 19:04:23.500.
fn at(seconds: &str) -> String {
    format!("2026-12-04T19:04:{seconds}Z")
}

fn run_calls(p: &str) -> Vec<Value> {
    let with_id = |i: usize, suffix: &str| (i < 3).then(|| format!("{p}-{suffix}"));
    CALLS
        .iter()
        .enumerate()
        .map(|(i, (c, suffix, path, _))| call(c, path, with_id(i, suffix).as_deref()))
        .collect()
}

/// A request line and its response line, as the file audit device writes them.
fn entry(time: &str, id: &str, path: &str, accessor: &str) -> Vec<String> {
    let login = path.ends_with("/login");
    let mut req =
        json!({"id": id, "operation": "update", "namespace": {"id": "root"}, "path": path});
    let token = json!({"accessor": accessor, "token_type": "service"});
    // A login's caller has no token; its answer carries the new one.
    let (caller, answer_auth, answer) = if login {
        (
            json!({"token_type": "default"}),
            token.clone(),
            json!({"auth": token}),
        )
    } else {
        req["client_token_accessor"] = json!(accessor);
        (token.clone(), token, json!({"mount_type": "kv"}))
    };
    let request = json!({"time": time, "type": "request", "auth": caller, "request": req});
    let response = json!({"time": time, "type": "response", "auth": answer_auth,
                          "request": req, "response": answer});
    vec![request.to_string(), response.to_string()]
}

/// What OpenBao logs for `run_calls(p)` made with `accessor`.
fn run_entries(p: &str, accessor: &str) -> Vec<String> {
    CALLS
        .iter()
        .flat_map(|(_, suffix, path, t)| entry(&at(t), &format!("{p}-{suffix}"), path, accessor))
        .collect()
}

/// A log from 23.500 to 23.990: a root entry, the runs' entries, a health check.
fn log_with(runs: &[(&str, &str)]) -> Vec<String> {
    let mut v = entry(&at("23.500"), "root-1", "sys/audit", ROOT_ACC);
    for (p, acc) in runs {
        v.extend(run_entries(p, acc));
    }
    v.push(
        json!({"time": at("23.990"), "type": "response", "auth": {},
               "request": {"id": "h-1", "operation": "read", "path": "sys/health"}})
        .to_string(),
    );
    v
}

fn one_run_trail(dir: &Path) -> PathBuf {
    write_lines(
        dir,
        "audit.jsonl",
        &[
            chain_start(T0),
            result("r-1", 2, TS, Some(ACC), run_calls("a")),
        ],
    )
}

/// Correlates the one-run trail with `log`.
fn one_run(log: &[String]) -> CorrelateReport {
    let d = tempfile::tempdir().unwrap();
    let bao = write_lines(d.path(), "bao.jsonl", log);
    correlate(&[one_run_trail(d.path())], &bao)
}

/// (missing_in_openbao_total, missing_on_host_total)
fn missing(r: &CorrelateReport) -> (u64, u64) {
    (r.missing_in_openbao_total, r.missing_on_host_total)
}

#[test]
fn every_call_found_is_ok() {
    let r = one_run(&log_with(&[("a", ACC)]));
    assert!(r.ok, "{r:?}");
    let counts = (r.runs, r.host_calls, r.matched, r.not_covered);
    assert_eq!(counts, (1, 5, 5, 0));
    // The root entry and the five of the run; sys/health is left out.
    assert_eq!(r.openbao_entries, 6);
    assert_eq!(missing(&r), (0, 0));
    assert!(r.notes.is_empty(), "{:?}", r.notes);
    assert_eq!(r.reason, None);
    assert_eq!(r.schema, SCHEMA);
    let s = r.summary();
    assert_eq!(
        s,
        "ok: 5 of 5 calls of 1 runs matched (0 not covered, 6 OpenBao entries)"
    );
}

#[test]
fn a_request_id_openbao_lacks_is_missing_in_openbao() {
    let mut log = log_with(&[("a", ACC)]);
    log.retain(|l| !l.contains("\"a-read\""));
    let r = one_run(&log);
    assert!(!r.ok);
    assert_eq!((r.matched, r.not_covered), (4, 0));
    assert_eq!(missing(&r), (1, 0));
    assert_eq!(
        serde_json::to_value(&r.missing_in_openbao).unwrap(),
        json!([{"run_id": "r-1", "seq": 2, "call": "read", "path": "secret/data/ops/operator-key",
                "request_id": "a-read", "time": TS}])
    );
    let s = r.summary();
    assert!(s.starts_with("MISMATCH: 1 host call(s) missing"), "{s}");
}

#[test]
fn an_action_with_the_runs_token_the_trail_lacks_is_missing_on_host() {
    let mut log = log_with(&[("a", ACC)]);
    log.extend(entry(&at("23.860"), "x-1", "secret/data/ops/other", ACC));
    let r = one_run(&log);
    assert!(!r.ok);
    assert_eq!(r.matched, 5);
    assert_eq!(missing(&r), (0, 1));
    assert_eq!(
        serde_json::to_value(&r.missing_on_host).unwrap(),
        json!([{"run_id": "r-1", "seq": 2, "call": null, "path": "secret/data/ops/other",
                "request_id": "x-1", "time": at("23.860")}])
    );
    let s = r.summary();
    assert!(s.contains(", 1 OpenBao action(s)"), "{s}");
}

/// A 204 is matched by path and the run's own accessor, never another token's.
#[test]
fn a_call_without_request_id_is_matched_by_accessor_and_path() {
    let d = tempfile::tempdir().unwrap();
    let trail = write_lines(
        d.path(),
        "audit.jsonl",
        &[
            chain_start(T0),
            result("r-1", 2, TS, Some("accessor-a"), run_calls("a")),
            result("r-2", 3, TS, Some("accessor-b"), run_calls("b")),
        ],
    );
    let mut log = log_with(&[("a", "accessor-a"), ("b", "accessor-b")]);
    log.retain(|l| !l.contains("\"b-meta\""));
    let meta = "secret/metadata/ops/runtime-key";
    log.extend(entry(&at("23.860"), "c-meta", meta, "other-host"));
    let bao = write_lines(d.path(), "bao.jsonl", &log);
    let r = correlate(&[trail], &bao);
    assert_eq!((r.runs, r.host_calls, r.matched), (2, 10, 9));
    assert_eq!(missing(&r), (1, 0));
    assert_eq!(
        serde_json::to_value(&r.missing_in_openbao).unwrap(),
        json!([{"run_id": "r-2", "seq": 3, "call": "metadata", "path": meta,
                "request_id": null, "time": TS}])
    );
}

#[test]
fn hmaced_accessors_give_a_note_and_no_false_missing() {
    let mut log = log_with(&[("a", HMAC_ACC)]);
    log.extend(entry(
        &at("23.860"),
        "x-1",
        "secret/data/ops/other",
        HMAC_ACC,
    ));
    let r = one_run(&log);
    assert!(r.ok, "{r:?}");
    // The three calls with a request id match; the two 204s cannot.
    assert_eq!((r.matched, r.not_covered), (3, 2));
    assert_eq!(missing(&r), (0, 0));
    assert_eq!(r.notes.len(), 1, "{:?}", r.notes);
    let note = &r.notes[0];
    assert!(note.contains("hmac_accessor = \"false\""), "{note}");
    assert!(note.contains(": 2 call(s) without a request id"), "{note}");
}

#[test]
fn runs_outside_the_openbao_log_are_not_covered() {
    let d = tempfile::tempdir().unwrap();
    let read = |id| call("read", "secret/data/ops/operator-key", Some(id));
    let meta = call("metadata", "secret/metadata/ops/runtime-key", None);
    let late = "2026-12-04T19:10:00.000Z";
    let trail = write_lines(
        d.path(),
        "audit.jsonl",
        &[
            chain_start(T0),
            // Ended before the log's first entry (23.500).
            result(
                "r-0",
                2,
                &at("21.000"),
                Some("early"),
                vec![read("old-read")],
            ),
            result("r-1", 3, TS, Some(ACC), run_calls("a")),
            // Started (ts - 400 ms) after the log's last entry (23.990).
            result("r-9", 4, late, Some("late"), vec![read("new-read"), meta]),
        ],
    );
    let bao = write_lines(d.path(), "bao.jsonl", &log_with(&[("a", ACC)]));
    let r = correlate(&[trail], &bao);
    assert!(r.ok, "{r:?}");
    let counts = (r.runs, r.host_calls, r.matched, r.not_covered);
    assert_eq!(counts, (3, 8, 5, 3));
    assert_eq!(missing(&r), (0, 0));
}

/// An OpenBao entry older than the trail's first record is not covered by
/// the trail (rotated away); one after it is missing on the host.
#[test]
fn openbao_entries_older_than_the_trail_are_not_covered() {
    let d = tempfile::tempdir().unwrap();
    let mut log = log_with(&[("a", ACC)]);
    log.extend(entry(&at("22.000"), "pre-1", "secret/data/ops/other", ACC));
    let bao = write_lines(d.path(), "bao.jsonl", &log);
    let check = |first: &str| {
        let run = result("r-1", 2, TS, Some(ACC), run_calls("a"));
        let trail = write_lines(d.path(), "audit.jsonl", &[chain_start(first), run]);
        let r = correlate(&[trail], &bao);
        (r.not_covered, r.missing_on_host_total)
    };
    assert_eq!(check(at("23.000").as_str()), (1, 0));
    assert_eq!(check(at("21.000").as_str()), (0, 1));
}

#[test]
fn garbage_lines_in_both_inputs_are_skipped_and_counted() {
    let d = tempfile::tempdir().unwrap();
    let mut trail_text: Vec<u8> = Vec::new();
    for l in [
        chain_start(T0),
        "not json".into(),
        "{".into(),
        String::new(),
        "\u{1}".into(),
        r#"{"event":"result","seq":"x","openbao":{"calls":[]}}"#.into(),
        r#"{"event":"result","openbao":{"calls":"nope"}}"#.into(),
        r#"{"event":"result","run_id":"r-x","openbao":null}"#.into(),
        result("r-1", 2, TS, Some(ACC), run_calls("a")),
    ] {
        trail_text.extend_from_slice(l.as_bytes());
        trail_text.push(b'\n');
    }
    trail_text.extend_from_slice(b"\xff\xfe{\"event\":\"result\"}\n");
    let trail = d.path().join("audit.jsonl");
    std::fs::write(&trail, trail_text).unwrap();

    let mut log = log_with(&[("a", ACC)]);
    log.push("garbage".into());
    log.push(r#"{"type":"response"}"#.into());
    log.push(r#"{"type":"response","request":{"id":5}}"#.into());
    log.push(r#"{"time":"not a time","type":"request"}"#.into());
    log.push("x".repeat(1_500_000));
    let bao = write_lines(d.path(), "bao.jsonl", &log);
    let mut f = std::fs::OpenOptions::new().append(true).open(&bao).unwrap();
    // A line that is not UTF-8, then a last line cut short (no newline).
    f.write_all(b"\xff\xfe\n{\"type\":\"resp").unwrap();
    drop(f);

    let r = correlate(&[trail], &bao);
    assert!(r.ok, "{r:?}");
    let counts = (r.runs, r.host_calls, r.matched, r.openbao_entries);
    assert_eq!(counts, (1, 5, 5, 6));
    let too_long = "1 OpenBao audit line(s) longer than 1048576 bytes were skipped: \
                    calls they logged show as missing_in_openbao";
    assert_eq!(
        r.notes,
        [
            "6 trail line(s) did not parse and were skipped",
            "5 OpenBao audit line(s) did not parse and were skipped",
            too_long,
        ]
    );
}

#[test]
fn a_missing_openbao_log_fails_with_a_reason() {
    let d = tempfile::tempdir().unwrap();
    let trail = one_run_trail(d.path());
    let r = correlate(&[trail], &d.path().join("nope.jsonl"));
    assert!(!r.ok);
    assert_eq!((r.runs, r.host_calls, r.matched), (1, 5, 0));
    let reason = r.reason.clone().unwrap();
    assert!(reason.starts_with("OpenBao audit log "), "{reason}");
    assert!(reason.ends_with("nope.jsonl: no such file"), "{reason}");
    let s = r.summary();
    assert!(s.starts_with("MISMATCH: cannot correlate: "), "{s}");
}

#[test]
fn a_missing_trail_file_or_none_fails_with_a_reason() {
    let d = tempfile::tempdir().unwrap();
    let bao = write_lines(d.path(), "bao.jsonl", &log_with(&[("a", ACC)]));
    let r = correlate(&[d.path().join("gone.jsonl")], &bao);
    assert!(!r.ok);
    assert_eq!((r.runs, r.openbao_entries), (0, 0));
    assert!(r.reason.unwrap().ends_with("gone.jsonl: no such file"));
    let r = correlate(&[], &bao);
    assert!(!r.ok);
    assert_eq!(r.reason.as_deref(), Some("no trail file given"));
}

#[test]
fn a_gzipped_rotated_trail_is_read() {
    let d = tempfile::tempdir().unwrap();
    let run = result("r-1", 2, TS, Some(ACC), run_calls("a"));
    let text = format!("{}\n{run}\n", chain_start(T0));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    let trail = d.path().join("audit.jsonl.1.gz");
    std::fs::write(&trail, gz.finish().unwrap()).unwrap();
    let bao = write_lines(d.path(), "bao.jsonl", &log_with(&[("a", ACC)]));
    let r = correlate(&[trail], &bao);
    assert!(r.ok, "{r:?}");
    assert_eq!((r.runs, r.matched), (1, 5));
}

#[test]
fn lists_are_capped_and_untrusted_text_is_escaped() {
    let d = tempfile::tempdir().unwrap();
    let ids: Vec<String> = (0..120).map(|i| format!("m{i}")).collect();
    let calls = ids
        .iter()
        .map(|id| call("read", "p", Some(id.as_str())))
        .collect();
    let run = result("r-1", 2, TS, Some(ACC), calls);
    let trail = write_lines(d.path(), "audit.jsonl", &[chain_start(T0), run]);
    let mut log = log_with(&[]);
    log.extend(entry(&at("23.860"), "x-1", "secret/data/\u{1b}[2J", ACC));
    let bao = write_lines(d.path(), "bao.jsonl", &log);
    let r = correlate(&[trail], &bao);
    let listed = (r.missing_in_openbao.len(), r.missing_in_openbao_total);
    assert_eq!(listed, (100, 120));
    assert_eq!(r.missing_on_host_total, 1);
    assert_eq!(r.missing_on_host[0].path, "secret/data/\\u{1b}[2J");
}
