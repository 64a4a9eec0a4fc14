//! Parity with the reference Butane translator (v0.29.0) on 370 Butane configs nobody on
//! this project wrote: every example of Butane's documentation plus configs covering each
//! field of each version (`tests/butane-parity/`, copied from the shared corpus with the
//! reference's outputs).
//!
//! Each case runs through the real binary as the reference was run (`--strict`, then without
//! it, with `-d` when the case has a files dir). The outcome (clean, warnings only, failure)
//! must match the reference's, so must the warnings (each one's JSON path, line and column:
//! the wording is kindling's own), and the config must be the same after decoding data URLs
//! (gzip undone, `compression` and nulls dropped: key order and gzip bytes may differ). The
//! cases where kindling differs on purpose or has not caught up are listed below with the
//! reason; the test fails when any other case differs, and when a listed case starts to
//! agree (so the list stays true). Every config kindling writes must pass its validator.

mod common;

use std::path::Path;

use serde_json::Value;

/// Cases where kindling's answer differs from the reference's, and why.
const KNOWN: [(&str, &str); 1] = [(
    "fcos15-files-inline-user-compression",
    "kindling refuses contents marked gzip that do not inflate: Ignition fails on them at boot",
)];

#[derive(Debug, PartialEq)]
enum Outcome {
    Clean,
    WarningsOnly,
    Fail,
}

/// A scratch copy of the corpus with what git cannot hold restored from its manifest:
/// empty directories of the files dirs, and the modes of their files.
fn corpus() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(common::repo().join("tests/butane-parity/."))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let manifest = std::fs::read_to_string(dir.path().join("FILES-MANIFEST.tsv")).unwrap();
    for line in manifest.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let path = dir.path().join(fields[0]);
        let mode = u32::from_str_radix(fields[2], 8).unwrap_or(0o644);
        match fields[1] {
            "dir" => {
                std::fs::create_dir_all(&path).unwrap();
                set_mode(&path, mode | 0o700);
            }
            // Butane reads a tree file's executable bits: restore all of them (git keeps only
            // the owner's), readable by the test.
            "file" => set_mode(&path, mode | 0o600),
            _ => {}
        }
    }
    dir
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn decode(url: &str) -> Vec<u8> {
    kindling::ignition::dataurl::decode(url).expect("a data URL kindling or Butane wrote")
}

/// The config with data URLs decoded, as the comparison sees it.
fn normalise(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let source = map.get("source").and_then(Value::as_str);
            let data = source.filter(|s| s.starts_with("data:"));
            let mut out = serde_json::Map::new();
            for (key, child) in map {
                if child.is_null() || (data.is_some() && key == "compression") {
                    continue;
                }
                let normalised = match (key.as_str(), data) {
                    ("source", Some(url)) => {
                        let mut bytes = decode(url);
                        if map.get("compression").and_then(Value::as_str) == Some("gzip")
                            && let Ok(inflated) = kindling::ignition::gunzip(&bytes, 1 << 30)
                        {
                            bytes = inflated;
                        }
                        Value::String(String::from_utf8_lossy(&bytes).into_owned())
                    }
                    _ => normalise(child),
                };
                out.insert(key.clone(), normalised);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(normalise).collect()),
        other => other.clone(),
    }
}

/// One warning as `path line:column`, the form both sides are compared in.
type Warning = String;

/// The reference's warnings, from its messages as the labels record them
/// (`warning at $.a.b, line 6 col 13: message || ...`).
fn reference_warnings(messages: &str) -> Vec<Warning> {
    let mut warnings: Vec<Warning> = messages
        .split(" || ")
        .filter_map(|message| message.strip_prefix("warning at "))
        .map(|rest| {
            let (path, rest) = rest.split_once(", line ").unwrap();
            let (line, rest) = rest.split_once(" col ").unwrap();
            let (column, _message) = rest.split_once(": ").unwrap();
            format!("{path} {line}:{column}")
        })
        .collect();
    warnings.sort();
    warnings
}

/// kindling's warnings for a case, from its JSON diagnostics.
fn kindling_warnings(root: &Path, case: &str, files_dir: &str) -> Vec<Warning> {
    let mut command = common::kindling();
    command
        .current_dir(root)
        .args(["butane", "--format", "json", case]);
    if !files_dir.is_empty() {
        command.arg("-d").arg(files_dir);
    }
    let output = command.output().unwrap();
    let diagnostics: Vec<Value> = serde_json::from_slice(&output.stderr).unwrap_or_default();
    let mut warnings: Vec<Warning> = diagnostics
        .iter()
        .filter(|d| d["severity"] == "warning")
        .map(|d| {
            format!(
                "{} {}:{}",
                d["path"].as_str().unwrap_or(""),
                d["line"],
                d["column"]
            )
        })
        .collect();
    warnings.sort();
    warnings
}

fn run(root: &Path, case: &str, files_dir: &str, strict: bool) -> (bool, Vec<u8>) {
    let mut command = common::kindling();
    command.current_dir(root).arg("butane").arg(case);
    if !files_dir.is_empty() {
        command.arg("-d").arg(files_dir);
    }
    if strict {
        command.arg("--strict");
    }
    let output = command.output().unwrap();
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{case}: exit {:?}: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), output.stdout)
}

#[test]
fn kindling_translates_as_the_reference_butane_does() {
    let root = corpus();
    let labels = std::fs::read_to_string(root.path().join("LABELS.tsv")).unwrap();
    let extra = std::fs::read_to_string(root.path().join("LABELS.extra.tsv")).unwrap();
    let outcomes: std::collections::HashMap<&str, (&str, &str)> = extra
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            (fields[0], (fields[1], fields[4]))
        })
        .collect();
    let (mut total, mut same_outcome, mut same_warnings) = (0, 0, 0);
    let (mut compared, mut same_config) = (0, 0);
    let mut unexpected = Vec::new();
    let mut still_listed = Vec::new();
    for line in labels.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let (case, files_dir) = (fields[0], fields[3]);
        let name = case.trim_start_matches("cases/").trim_end_matches(".bu");
        let (reference_outcome, reference_messages) = outcomes[case];
        let expected = match reference_outcome {
            "clean" => Outcome::Clean,
            "nonstrict-only" => Outcome::WarningsOnly,
            _ => Outcome::Fail,
        };
        let (strict_ok, strict_out) = run(root.path(), case, files_dir, true);
        let (outcome, output) = if strict_ok {
            (Outcome::Clean, strict_out)
        } else {
            match run(root.path(), case, files_dir, false) {
                (true, out) => (Outcome::WarningsOnly, out),
                (false, out) => (Outcome::Fail, out),
            }
        };
        total += 1;
        let mut agrees = outcome == expected;
        same_outcome += usize::from(agrees);
        let mut warnings_differ = String::new();
        if agrees && outcome != Outcome::Fail {
            let ours = kindling_warnings(root.path(), case, files_dir);
            let theirs = reference_warnings(reference_messages);
            if ours != theirs {
                agrees = false;
                warnings_differ = format!("\n  kindling:  {ours:?}\n  reference: {theirs:?}");
            }
        }
        same_warnings += usize::from(agrees);
        let reference = root.path().join(format!("expected/{name}.ign"));
        if outcome != Outcome::Fail {
            let ours: Value = serde_json::from_slice(&output).expect("kindling writes JSON");
            let version = kindling::ignition::SpecVersion::parse(
                ours["ignition"]["version"].as_str().unwrap(),
            )
            .unwrap();
            let report = kindling::validate::validate(&ours, version);
            assert!(
                !report.has_errors(),
                "{case}: kindling wrote a config its validator refuses"
            );
            if reference.exists() {
                compared += 1;
                let theirs: Value =
                    serde_json::from_str(&std::fs::read_to_string(&reference).unwrap()).unwrap();
                let same = normalise(&ours) == normalise(&theirs);
                same_config += usize::from(same);
                agrees &= same;
            }
        }
        let listed = KNOWN.iter().any(|(known, _)| *known == name);
        match (agrees, listed) {
            (false, false) => unexpected.push(format!(
                "{case}: {outcome:?}, reference {expected:?}{warnings_differ}"
            )),
            (true, true) => still_listed.push(name.to_string()),
            _ => {}
        }
    }
    eprintln!(
        "butane parity: outcome {same_outcome}/{total} ({:.1}%), with the same warnings {same_warnings}/{total} ({:.1}%), same config {same_config}/{compared} ({:.1}%)",
        100.0 * same_outcome as f64 / total as f64,
        100.0 * same_warnings as f64 / total as f64,
        100.0 * same_config as f64 / compared as f64
    );
    assert!(
        unexpected.is_empty(),
        "cases that differ from the reference:\n{}",
        unexpected.join("\n")
    );
    assert!(
        still_listed.is_empty(),
        "listed as differing but agreeing now: {still_listed:?}"
    );
}
