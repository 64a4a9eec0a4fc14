//! The validation corpus (tests/corpus): every invalid config must draw its expected finding
//! (code, JSON path, severity) from the real binary, every valid one none at all even with
//! --strict, and together they must exercise every code the validator has.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::{kindling, repo};
use serde_json::Value;

struct Expected {
    file: String,
    code: String,
    path: String,
    severity: String,
}

fn corpus() -> PathBuf {
    repo().join("tests/corpus")
}

fn expected() -> Vec<Expected> {
    std::fs::read_to_string(corpus().join("expected.tsv"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            Expected {
                file: cols[0].into(),
                code: cols[1].into(),
                path: cols[2].into(),
                severity: cols[3].into(),
            }
        })
        .collect()
}

/// Validates `files` (with `--os flatcar` when the first one's name starts `flatcar-`, for
/// the OS-specific lints) and returns the exit code and the findings.
fn findings(files: &[PathBuf], strict: bool) -> (Option<i32>, Vec<Value>) {
    let mut cmd = kindling();
    cmd.args(["--format", "json", "validate"]).args(files);
    let for_flatcar = files[0]
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("flatcar-"));
    if for_flatcar {
        cmd.args(["--os", "flatcar"]);
    }
    if strict {
        cmd.arg("--strict");
    }
    let output = cmd.output().unwrap();
    let all: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&output.stderr)));
    (output.status.code(), all.as_array().unwrap().clone())
}

#[test]
fn every_invalid_config_draws_its_finding() {
    let cases = expected();
    assert!(
        cases.len() >= 80,
        "the corpus needs at least 80 invalid configs"
    );
    let listed: BTreeSet<String> = cases.iter().map(|c| c.file.clone()).collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(corpus().join("invalid"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        listed, on_disk,
        "expected.tsv and invalid/ list the same files"
    );
    let mut failures = Vec::new();
    for case in &cases {
        let file = corpus().join("invalid").join(&case.file);
        let (status, found) = findings(std::slice::from_ref(&file), false);
        let hit = found.iter().find(|f| {
            f["code"] == case.code.as_str() && f["path"].as_str().unwrap_or("") == case.path
        });
        match hit {
            None => failures.push(format!(
                "{}: no {} at {:?}; got {:?}",
                case.file,
                case.code,
                case.path,
                found
                    .iter()
                    .map(|f| (f["code"].clone(), f["path"].clone()))
                    .collect::<Vec<_>>()
            )),
            Some(finding) => {
                if finding["severity"] != case.severity.as_str() {
                    failures.push(format!(
                        "{}: {} is {}, expected {}",
                        case.file, case.code, finding["severity"], case.severity
                    ));
                }
                if !case.path.is_empty() && finding["line"].as_u64().is_none() {
                    failures.push(format!("{}: finding has no line", case.file));
                }
                let want_status = if case.severity == "error" { 1 } else { 0 };
                if status != Some(want_status) {
                    failures.push(format!(
                        "{}: exit {status:?}, expected {want_status}",
                        case.file
                    ));
                }
                if case.severity == "warning"
                    && findings(std::slice::from_ref(&file), true).0 != Some(1)
                {
                    failures.push(format!(
                        "{}: --strict did not fail on the warning",
                        case.file
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The `ignition.version` a corpus file declares, read as text: some valid files are not
/// serde_json input on purpose (raw bytes that are not UTF-8, a lone surrogate escape).
fn declared_version(file: &std::path::Path) -> String {
    let text = String::from_utf8_lossy(&std::fs::read(file).unwrap()).into_owned();
    let after = &text[text.find("\"version\"").expect("a version") + 9..];
    let start = after.find('"').unwrap() + 1;
    let end = start + after[start..].find('"').unwrap();
    after[start..end].to_string()
}

#[test]
fn every_valid_config_has_no_finding_even_strict() {
    let files: Vec<PathBuf> = std::fs::read_dir(corpus().join("valid"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(files.len() >= 20);
    let versions: BTreeSet<String> = files.iter().map(|f| declared_version(f)).collect();
    assert_eq!(
        versions.into_iter().collect::<Vec<_>>(),
        ["3.0.0", "3.1.0", "3.2.0", "3.3.0", "3.4.0", "3.5.0"]
    );
    let (status, found) = findings(&files, true);
    assert_eq!(found, Vec::<Value>::new());
    assert_eq!(status, Some(0));
}

#[test]
fn the_corpus_covers_every_code_and_every_emitted_code_is_catalogued() {
    let catalogue: BTreeSet<&str> = kindling::validate::CODES
        .iter()
        .map(|(code, _)| *code)
        .collect();
    let covered: BTreeSet<String> = expected().into_iter().map(|c| c.code).collect();
    let missing: Vec<&&str> = catalogue
        .iter()
        .filter(|c| !covered.contains(**c) && **c != "ign.unreadable")
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a corpus case: {missing:?}"
    );
    for code in &covered {
        assert!(
            catalogue.contains(code.as_str()),
            "{code} is not in validate::CODES"
        );
    }
    for (code, severity) in kindling::validate::CODES {
        assert!(matches!(*severity, "error" | "warning"), "{code}");
    }
}

#[test]
fn stdin_several_files_and_exit_codes() {
    let valid = corpus().join("valid/minimal-3.4.ign");
    let output = kindling()
        .args(["validate", "-"])
        .write_stdin(std::fs::read(&valid).unwrap())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let invalid = corpus().join("invalid/path-relative.ign");
    let output = kindling()
        .arg("validate")
        .arg(&valid)
        .arg(&invalid)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("error[ign.path-relative]") && stderr.contains("path-relative.ign:8:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("\"path\": \"etc/a\""),
        "the human format quotes the offending line: {stderr}"
    );
    assert_eq!(
        kindling().arg("validate").output().unwrap().status.code(),
        Some(2),
        "no file is a usage error"
    );
    let output = kindling()
        .args(["--format", "github", "validate"])
        .arg(&invalid)
        .output()
        .unwrap();
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .starts_with("::error title=ign.path-relative,file=")
    );
}

#[test]
fn json_reports_go_to_stdout_and_the_others_to_stderr() {
    let file = corpus().join("invalid/path-relative.ign");
    for (format, on_stdout) in [("json", true), ("human", false), ("github", false)] {
        let output = kindling()
            .args(["--format", format, "validate"])
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        let (report, other) = if on_stdout {
            (&output.stdout, &output.stderr)
        } else {
            (&output.stderr, &output.stdout)
        };
        assert!(
            String::from_utf8_lossy(report).contains("ign.path-relative"),
            "{format}"
        );
        assert!(
            other.is_empty(),
            "{format}: {}",
            String::from_utf8_lossy(other)
        );
    }
}
