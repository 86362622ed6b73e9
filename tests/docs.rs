//! Exit codes and error codes are documented once (README.md), and that
//! table is checked against the code.

#[test]
fn every_error_code_is_in_the_readme_with_its_exit_code() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for e in ops_warden::error::catalogue() {
        let row = format!("| `{}` | {} |", e.code(), e.exit_code());
        assert!(readme.contains(&row), "README.md lacks the row {row}");
    }
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
