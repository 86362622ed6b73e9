//! Unit tests of the sshd_config reader (`sshd_scan.rs`).

use super::*;

fn login() -> (String, Vec<String>) {
    ("ow-lane".into(), vec!["ow-lane".into(), "adm".into()])
}

fn applies(line: &str) -> Applies {
    let (user, groups) = login();
    let w = words(line);
    match_applies(
        &w[1..],
        &Login {
            user: &user,
            groups: &groups,
        },
    )
}

fn scan_of(main: &Path) -> Scan {
    let (user, groups) = login();
    scan(
        main,
        &Login {
            user: &user,
            groups: &groups,
        },
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn lines_split_as_sshd_splits_them() {
    assert_eq!(
        words("  AcceptEnv=LANG \"LC_ALL X\" 'a b'c  # comment"),
        ["AcceptEnv", "LANG", "LC_ALL X", "a bc"]
    );
    assert_eq!(
        words("AcceptEnv = A\\ B \\\"C"),
        ["AcceptEnv", "A B", "\"C"]
    );
    assert!(words("# AcceptEnv LANG").is_empty());
    assert!(words("   ").is_empty());
    assert_eq!(words("Match User \"a,b\""), ["Match", "User", "a,b"]);
}

#[test]
fn pattern_lists_follow_sshd() {
    assert_eq!(list_match("ow-lane", "ow-lane"), Some(true));
    assert_eq!(list_match("ow-lane", "ow-*"), Some(true));
    assert_eq!(list_match("ow-lane", "o?-l*e"), Some(true));
    assert_eq!(list_match("ow-lane", "*,!root"), Some(true));
    assert_eq!(list_match("ow-lane", "*,!ow-lane"), Some(false));
    // A list of negations alone matches nobody in sshd.
    assert_eq!(list_match("ow-lane", "!root"), None);
    assert_eq!(list_match("ow-lane", "root,deploy"), None);
    assert!(group_match(&login().1, "adm"));
    assert!(!group_match(&login().1, "*,!adm"));
    assert!(!group_match(&login().1, "wheel"));
}

#[test]
fn match_blocks_are_judged_for_the_lane_user() {
    assert_eq!(applies("Match All"), Applies::Always);
    assert_eq!(applies("Match User ow-lane"), Applies::Always);
    assert_eq!(applies("Match user=ow-lane group adm"), Applies::Always);
    assert_eq!(applies("Match User deploy"), Applies::Never);
    assert_eq!(applies("Match User *,!ow-lane"), Applies::Never);
    assert_eq!(applies("Match Group wheel"), Applies::Never);
    assert_eq!(applies("Match Invalid-User"), Applies::Never);
    assert_eq!(applies("Match Address 10.0.0.0/8"), Applies::Maybe);
    assert_eq!(applies("Match LocalPort 2222"), Applies::Maybe);
    assert_eq!(applies("Match User ow-lane Host *.example"), Applies::Maybe);
    assert_eq!(
        applies("Match Address 10.0.0.0/8 User deploy"),
        Applies::Never
    );
    // Unknown or malformed criteria: assume the block applies.
    assert_eq!(applies("Match Version 9.9"), Applies::Maybe);
    assert_eq!(applies("Match User"), Applies::Maybe);
}

#[test]
fn globs_match_as_glob_does() {
    assert!(wildcard("*.conf", "50-ops-warden.conf", true));
    assert!(wildcard("[0-9]*.conf", "50-x.conf", true));
    assert!(!wildcard("[!0-9]*.conf", "50-x.conf", true));
    assert!(!wildcard("*.conf", "50-x.conf.bak", true));
    assert!(wildcard("a\\*", "a*", true));
    assert!(!wildcard("a\\*", "ab", true));
    assert!(wildcard("[ab", "[ab", true));
}

/// I-2: the reviewer's case. `sshd -T` at 127.0.0.1 passed; a site block
/// for 10.0.0.0/8 gave the lane user LANG LC_* LD_PRELOAD there.
#[test]
fn a_block_for_another_address_is_found_with_its_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    write(
        dir,
        "conf.d/50-ops-warden.conf",
        &format!("Match User ow-lane\n    ForceCommand /x\n    AcceptEnv {DUMMY_NAME}\n"),
    );
    write(
        dir,
        "conf.d/60-site.conf",
        "# site\nMatch Address 10.0.0.0/8\n  AcceptEnv LANG LC_* LD_PRELOAD\n",
    );
    write(dir, "conf.d/.hidden.conf", "AcceptEnv HIDDEN\n");
    write(
        dir,
        "conf.d/70-other.conf",
        "Match User deploy\n  AcceptEnv ANY\n",
    );
    let main = write(
        dir,
        "sshd_config",
        &format!(
            "Include {}/conf.d/*.conf\nAcceptEnv LANG LC_*\nMatch Group adm\nAcceptEnv {DUMMY_NAME}\n",
            dir.display()
        ),
    );
    let s = scan_of(&main);
    assert_eq!(s.files, 4, "{s:?}");
    assert_eq!(s.problems.len(), 1, "{s:?}");
    let p = &s.problems[0];
    assert!(
        p.starts_with(&format!(
            "{}/conf.d/60-site.conf:3: AcceptEnv LANG LC_* LD_PRELOAD",
            dir.display()
        )),
        "{p}"
    );
    assert!(p.contains("in a Match block"), "{p}");
}

#[test]
fn the_global_list_counts_when_no_block_always_replaces_it() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    // A Match block in an included file ends with that file: the line
    // after the Include is global again.
    write(
        dir,
        "a.conf",
        &format!("Match Address 10.0.0.0/8\nAcceptEnv {DUMMY_NAME}\n"),
    );
    let main = write(
        dir,
        "sshd_config",
        &format!("Include {}/a.conf\nAcceptEnv LANG\n", dir.display()),
    );
    let s = scan_of(&main);
    assert_eq!(s.problems.len(), 1, "{s:?}");
    assert!(
        s.problems[0].starts_with(&format!("{}:2: AcceptEnv LANG (global", main.display())),
        "{s:?}"
    );
}

#[test]
fn an_include_inside_a_match_block_is_judged_with_it() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    write(dir, "never.conf", "AcceptEnv NEVER\n");
    write(dir, "maybe.conf", "Match User ow-lane\nAcceptEnv MAYBE\n");
    let main = write(
        dir,
        "sshd_config",
        &format!(
            "Match User deploy\nInclude {0}/never.conf\nMatch LocalPort 2222\nInclude {0}/maybe.conf\n\
             Match User ow-lane\nAcceptEnv {DUMMY_NAME}\n",
            dir.display()
        ),
    );
    let s = scan_of(&main);
    assert_eq!(s.files, 3, "{s:?}");
    assert_eq!(s.problems.len(), 1, "{s:?}");
    assert!(
        s.problems[0].contains("maybe.conf:2: AcceptEnv MAYBE"),
        "{s:?}"
    );
}

#[test]
fn an_unreadable_file_is_a_problem_and_a_missing_include_is_not() {
    let d = tempfile::tempdir().unwrap();
    let main = write(
        d.path(),
        "sshd_config",
        &format!(
            "Include {}/none/*.conf {}/gone.conf\n",
            d.path().display(),
            d.path().display()
        ),
    );
    let s = scan_of(&main);
    assert!(s.problems.is_empty(), "{s:?}");
    let s = scan_of(&d.path().join("no-such-config"));
    assert_eq!(s.problems.len(), 1, "{s:?}");
}
