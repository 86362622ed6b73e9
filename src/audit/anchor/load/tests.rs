use super::*;

const H: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const EXE: &str = "/usr/libexec/ops-warden/ops-warden";

fn senders() -> Senders {
    Senders {
        uids: vec![0, 999],
        exes: vec![EXE.into()],
    }
}

fn payload(host: &str, seq: u64, hash: &str) -> String {
    format!(r#"{{"ow_audit":1,"host":"{host}","seq":{seq},"hash":"{hash}","run_id":"r-1"}}"#)
}

/// A `journalctl -o json` line.
fn journal(uid: &str, exe: Option<&str>, message: &str) -> String {
    let mut m = serde_json::Map::new();
    m.insert("_UID".into(), uid.into());
    if let Some(e) = exe {
        m.insert("_EXE".into(), e.into());
    }
    m.insert("_COMM".into(), "ops-warden".into());
    m.insert("SYSLOG_IDENTIFIER".into(), "ops-warden".into());
    m.insert("MESSAGE".into(), message.into());
    Value::Object(m).to_string()
}

/// A line of the shipped rsyslog template.
fn rsyslog(uid: &str, exe: &str, message: &str) -> String {
    serde_json::json!({"_uid": uid, "_pid": "42", "_exe": exe, "_comm": "ops-warden",
        "tag": "ops-warden[42]:", "message": format!(" {message}")})
    .to_string()
}

fn accepted(v: Verdict) -> (Anchored, bool) {
    match v {
        Verdict::Accepted { record, exe_known } => (record, exe_known),
        other => panic!("not accepted: {other:?}"),
    }
}

#[test]
fn the_lane_user_or_root_running_the_binary_is_accepted_in_both_shapes() {
    let (r, known) = accepted(classify(
        journal("999", Some(EXE), &payload("vm", 3, H)).as_bytes(),
        "vm",
        &senders(),
    ));
    assert_eq!((r.seq, r.hash.as_str(), known), (3, H, true));
    let (r, known) = accepted(classify(
        rsyslog("0", EXE, &payload("vm", 4, H)).as_bytes(),
        "vm",
        &senders(),
    ));
    assert_eq!((r.seq, known), (4, true));
    // The sender had exited before syslog read its executable: the uid alone.
    let (_, known) = accepted(classify(
        rsyslog("999", "", &payload("vm", 5, H)).as_bytes(),
        "vm",
        &senders(),
    ));
    assert!(!known);
}

#[test]
fn other_senders_are_untrusted_whatever_the_payload_claims() {
    let forged = journal("65534", Some("/usr/bin/logger"), &payload("vm", 8, H));
    assert_eq!(
        classify(forged.as_bytes(), "vm", &senders()),
        Verdict::Untrusted("sent by uid 65534".into())
    );
    let other_exe = rsyslog("999", "/usr/bin/python3", &payload("vm", 8, H));
    assert_eq!(
        classify(other_exe.as_bytes(), "vm", &senders()),
        Verdict::Untrusted("sent by uid 999 running /usr/bin/python3".into())
    );
    // Sender fields written into the message itself change nothing.
    let inside = format!(r#"{{"_UID":"0","_EXE":"{EXE}"}} {}"#, payload("vm", 8, H));
    let line = journal("65534", None, &inside);
    assert!(!matches!(
        classify(line.as_bytes(), "vm", &senders()),
        Verdict::Accepted { .. }
    ));
    let inside = journal(
        "65534",
        None,
        &format!("_UID=0 _EXE={EXE} {}", payload("vm", 8, H)),
    );
    assert_eq!(
        classify(inside.as_bytes(), "vm", &senders()),
        Verdict::Untrusted("sent by uid 65534".into())
    );
}

#[test]
fn a_plain_syslog_line_says_nothing_about_its_sender() {
    let plain = format!(
        "2026-12-04T10:00:00Z vm authpriv.info ops-warden[7]: {}",
        payload("vm", 1, H)
    );
    assert_eq!(
        classify(plain.as_bytes(), "vm", &senders()),
        Verdict::Unattributed
    );
    let other = format!("... ops-warden[7]: {}", payload("db", 1, H));
    assert_eq!(
        classify(other.as_bytes(), "vm", &senders()),
        Verdict::OtherHost
    );
    assert_eq!(
        classify(b"sshd[1]: hello", "vm", &senders()),
        Verdict::NotAnchor
    );
}

/// N3: hashes are parsed strictly; odd ones are named, never sliced.
#[test]
fn hashes_that_are_not_64_lowercase_hex_are_bad_lines() {
    for hash in [
        "ab",
        "a\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
        &H.to_uppercase(),
        &H[..63],
        &format!("{H}0"),
    ] {
        let line = journal("999", Some(EXE), &payload("vm", 8, hash));
        assert_eq!(
            classify(line.as_bytes(), "vm", &senders()),
            Verdict::Bad("seq 8: the hash is not 64 lowercase hex".into()),
            "{hash}"
        );
    }
    let no_seq = journal(
        "999",
        Some(EXE),
        r#"{"ow_audit":1,"host":"vm","seq":0,"hash":"x"}"#,
    );
    assert_eq!(
        classify(no_seq.as_bytes(), "vm", &senders()),
        Verdict::Bad("no seq".into())
    );
}

#[test]
fn journald_byte_array_messages_and_failure_traces() {
    let bytes: Vec<u8> = payload("vm", 2, H).into_bytes();
    let line = serde_json::json!({"_UID": "999", "_EXE": EXE, "MESSAGE": bytes}).to_string();
    assert_eq!(
        accepted(classify(line.as_bytes(), "vm", &senders())).0.seq,
        2
    );
    let trace = journal(
        "999",
        Some(EXE),
        r#"{"ow_audit":1,"event":"failure","host":"vm","code":"busy"}"#,
    );
    assert_eq!(
        classify(trace.as_bytes(), "vm", &senders()),
        Verdict::NotAnchor
    );
}

#[test]
fn loading_counts_every_kind_and_keeps_duplicates_apart() {
    let text = [
        journal("999", Some(EXE), &payload("vm", 1, H)),
        journal("999", Some(EXE), &payload("vm", 1, H)),
        journal("999", Some(EXE), &payload("vm", 1, &"f".repeat(64))),
        journal("65534", Some("/usr/bin/logger"), &payload("vm", 2, H)),
        journal("999", Some(EXE), &payload("vm", 3, "ab")),
        journal("999", Some(EXE), &payload("db", 3, H)),
        format!("plain ops-warden[1]: {}", payload("vm", 4, H)),
        "not json at all {\"ow_audit\":1".to_string(),
    ]
    .join("\n");
    let a = load_bytes(text.as_bytes(), "vm", &senders());
    let s = &a.stats;
    assert_eq!(
        (s.accepted, s.untrusted, s.bad, s.other_host, s.unattributed),
        (3, 1, 1, 1, 1)
    );
    assert_eq!(a.by_seq.len(), 1);
    assert_eq!(a.duplicates.len(), 1);
    assert_eq!(a.first_seq(), Some(1));
    assert_eq!(
        s.examples,
        vec![
            "line 4: sent by uid 65534".to_string(),
            "line 5: seq 3: the hash is not 64 lowercase hex".into(),
            "line 7: no sender fields".into(),
        ]
    );
}

/// A line longer than any anchor line is passed over whole: the next line
/// keeps its number, and no piece of the long one is read as a line.
#[test]
fn an_overlong_line_is_passed_over_whole() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("anchor.json");
    let inner = format!("plain ops-warden[1]: {}", payload("vm", 1, H));
    let long = "x".repeat(crate::audit::read::MAX_LINE * 4) + &inner;
    let text = format!("{long}\n{}\n", journal("65534", None, &payload("vm", 2, H)));
    std::fs::write(&p, text).unwrap();
    let a = load(&p, "vm", &senders()).unwrap();
    assert_eq!(
        (a.stats.unattributed, a.stats.untrusted),
        (0, 1),
        "{:?}",
        a.stats
    );
    assert_eq!(
        a.stats.examples,
        vec!["line 2: sent by uid 65534".to_string()]
    );
}
