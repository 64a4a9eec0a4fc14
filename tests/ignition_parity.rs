//! Parity with the reference validator (`ignition-validate` from Ignition v2.26) on 1,880
//! configs nobody on this project wrote: Butane's and Ignition's documentation examples,
//! Ignition's own test configs, and one-fault mutations of them (`tests/ignition-parity/`,
//! copied from the shared corpus with the reference's verdicts in `LABELS.tsv`).
//!
//! All of it is validated in one process, as a CI gate would. The test fails on any config
//! the reference rejects and kindling accepts, on any config the reference accepts without
//! a finding that kindling rejects (except for the errors Ignition itself would hit at
//! boot, listed below), on any crash, and when agreement including warnings drops below 97%.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// Errors kindling reports beyond the reference, each one a failure Ignition would hit at
/// boot: inline contents that do not match their hash or do not inflate, a hash that is not
/// hex.
const BOOT_FAILURES: [&str; 3] = ["ign.data-hash-mismatch", "ign.gzip", "ign.hash-hex"];

struct Case {
    file: String,
    version: String,
    reference: String,
}

impl Case {
    /// Whether kindling may report `code` where the reference reports nothing: a boot
    /// failure, or an experimental spec version, which kindling refuses by design.
    fn may_report(&self, code: &str) -> bool {
        BOOT_FAILURES.contains(&code)
            || (code == "ign.version" && self.version.contains("experimental"))
    }
}

fn cases() -> Vec<Case> {
    let labels =
        std::fs::read_to_string(common::repo().join("tests/ignition-parity/LABELS.tsv")).unwrap();
    labels
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            Case {
                file: fields[0].to_string(),
                version: fields[2].to_string(),
                reference: fields[3].to_string(),
            }
        })
        .collect()
}

#[test]
fn kindling_agrees_with_the_reference_validator() {
    let cases = cases();
    assert_eq!(cases.len(), 1880);
    let dir = common::repo().join("tests/ignition-parity/cases");
    let output = common::kindling()
        .current_dir(&dir)
        .args(["--format", "json", "validate"])
        .args(cases.iter().map(|c| c.file.as_str()))
        .output()
        .unwrap();
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "crashed: {:?}",
        output.status
    );
    let findings: Value = serde_json::from_slice(&output.stdout).expect("one JSON array");
    let mut by_file: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for finding in findings.as_array().unwrap() {
        let file = finding["file"].as_str().unwrap_or_default().to_string();
        let code = finding["code"].as_str().unwrap().to_string();
        let severity = finding["severity"].as_str().unwrap().to_string();
        by_file.entry(file).or_default().push((code, severity));
    }
    let mut matrix: BTreeMap<(String, &str), usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for case in &cases {
        let found = by_file.get(&case.file).map(Vec::as_slice).unwrap_or(&[]);
        let errors: BTreeSet<&str> = found
            .iter()
            .filter(|(_, severity)| severity == "error")
            .map(|(code, _)| code.as_str())
            .collect();
        let verdict = if !errors.is_empty() {
            "error"
        } else if found.is_empty() {
            "ok"
        } else {
            "warning"
        };
        *matrix.entry((case.reference.clone(), verdict)).or_default() += 1;
        if case.reference == "error" && verdict != "error" {
            failures.push(format!(
                "{}: the reference rejects it, kindling does not",
                case.file
            ));
        }
        if case.reference == "ok" && !errors.iter().all(|code| case.may_report(code)) {
            failures.push(format!(
                "{}: the reference accepts it, kindling reports {errors:?}",
                case.file
            ));
        }
    }
    let agreeing: usize = matrix
        .iter()
        .filter(|((reference, verdict), _)| reference == verdict)
        .map(|(_, count)| count)
        .sum();
    let agreement = agreeing as f64 / cases.len() as f64;
    let table: Vec<String> = matrix
        .iter()
        .map(|((reference, verdict), count)| {
            format!("reference {reference:7} kindling {verdict:7} {count}")
        })
        .collect();
    println!("{}\nagreement {:.1}%", table.join("\n"), agreement * 100.0);
    assert!(
        failures.is_empty(),
        "{}\n{}",
        failures.join("\n"),
        table.join("\n")
    );
    assert!(
        agreement >= 0.97,
        "agreement {agreement:.3}\n{}",
        table.join("\n")
    );
}
