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
