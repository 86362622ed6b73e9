//! Exit codes are documented once (README.md), and that table is checked.

#[test]
fn every_exit_code_is_in_the_readme() {
    // The error-code table itself is a snapshot test of `Code::ALL` (src/error/code.rs).
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for exit in [0, 64, 65, 66, 69, 70, 74, 75, 77, 78] {
        assert!(
            readme.contains(&format!("\n| {exit} | ")),
            "exit {exit} undocumented"
        );
    }
}

#[test]
fn the_ci_script_runs_the_readme_test_command() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run")).unwrap();
    assert!(
        readme
            .lines()
            .any(|l| l.trim_start().starts_with("bash tests/run.sh ")),
        "the README gives the test command as the CI runs it"
    );
    assert!(ci.lines().any(|l| l.trim() == "bash tests/run.sh"));
}

/// README.md's error-code table is what `tests/run.sh` checks against the
/// codes the tests saw at run time (`common::code_of` records each one):
/// it must parse into a real list (each code once, each exit one the exit
/// table documents), or that check would pass on nothing.
#[test]
fn the_readme_error_codes_are_a_real_list() {
    let codes = crate::common::readme_codes();
    assert!(codes.len() > 60, "{} codes in the README", codes.len());
    let mut seen = std::collections::BTreeSet::new();
    for (code, exit) in &codes {
        assert!(seen.insert(code.as_str()), "{code} is listed twice");
        assert!(
            [64, 65, 66, 69, 70, 74, 75, 77, 78].contains(exit),
            "{code}: exit {exit} is not a documented failure exit"
        );
    }
}
