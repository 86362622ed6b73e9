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

/// Issue 10 §9: every error code in README.md is produced through the binary
/// and asserted by at least one test: a `tests/cmd` case, a row of the fault
/// matrix (`wiki/FaultMatrix.md`, asserted exactly), or a statement in
/// `tests/it` that asserts a code (or lists expected codes). Fails listing
/// each code without one.
#[test]
fn every_error_code_is_produced_by_a_test() {
    let repo = crate::common::repo();
    let codes: Vec<String> = crate::common::readme_codes()
        .into_iter()
        .map(|(code, _)| code)
        .collect();
    assert!(codes.len() > 60, "{} codes in the README", codes.len());
    let mut produced = std::collections::BTreeSet::new();
    for e in std::fs::read_dir(repo.join("tests/cmd")).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        let case: toml::Value = toml::from_str(&text).unwrap();
        if let Some(c) = case.get("code").and_then(|c| c.as_str()) {
            produced.insert(c.to_string());
        }
    }
    let matrix = std::fs::read_to_string(repo.join("wiki/FaultMatrix.md")).unwrap();
    for row in matrix.lines().filter(|l| l.starts_with("| ")) {
        if let Some(code) = row.split('|').map(str::trim).nth(4) {
            produced.insert(code.to_string());
        }
    }
    let mut stack = vec![repo.join("tests/it")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            // A statement that asserts a code (or lists expected codes):
            // every string literal in it that is a README code counts.
            let text = std::fs::read_to_string(&p).unwrap();
            for stmt in text.split(';').filter(|s| s.contains("code")) {
                for lit in stmt.split('"').skip(1).step_by(2) {
                    if codes.iter().any(|c| c == lit) {
                        produced.insert(lit.to_string());
                    }
                }
            }
        }
    }
    let missing: Vec<&String> = codes.iter().filter(|c| !produced.contains(*c)).collect();
    assert!(
        missing.is_empty(),
        "error codes no test produces through the binary: {missing:?}"
    );
}
