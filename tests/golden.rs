//! Golden files: every case under golden/ is rendered by the real binary and compared byte
//! for byte with golden/<case>/expected/. Set KINDLING_UPDATE_GOLDEN=1 to regenerate them on
//! purpose (and say why in the commit).

mod common;

use std::path::Path;

use common::{golden, kindling, repo, snapshot};
use kindling::Options;

const CASES: [&str; 10] = [
    "single-node",
    "three-node",
    "five-node-fqdn",
    "loopback-tls",
    "loopback-config-file",
    "container",
    "kubeadm",
    "snippets",
    "monitored",
    "discovery",
];

fn render_case(case: &str, out: &Path) {
    let spec = golden(case).join("cluster.yaml");
    kindling()
        .arg("render")
        .arg(&spec)
        .arg("-o")
        .arg(out)
        .assert()
        .success();
}

#[test]
fn every_case_matches_its_expected_files() {
    let update = std::env::var_os("KINDLING_UPDATE_GOLDEN").is_some_and(|v| v == "1");
    for case in CASES {
        let expected_dir = golden(case).join("expected");
        let scratch = tempfile::tempdir().unwrap();
        render_case(case, scratch.path());
        let rendered = snapshot(scratch.path());
        if update {
            let _ = std::fs::remove_dir_all(&expected_dir);
            std::fs::create_dir_all(&expected_dir).unwrap();
            for (name, bytes) in &rendered {
                let path = expected_dir.join(name);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, bytes).unwrap();
            }
            continue;
        }
        let expected = snapshot(&expected_dir);
        let names = |files: &[(std::path::PathBuf, Vec<u8>)]| {
            files.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()
        };
        assert_eq!(
            names(&rendered),
            names(&expected),
            "{case}: the set of rendered files differs (KINDLING_UPDATE_GOLDEN=1 regenerates)"
        );
        for ((name, got), (_, want)) in rendered.iter().zip(&expected) {
            assert!(
                got == want,
                "{case}/{}: rendered bytes differ from golden (KINDLING_UPDATE_GOLDEN=1 regenerates)",
                name.display()
            );
        }
    }
}

#[test]
fn the_golden_list_covers_every_case_directory() {
    let mut on_disk: Vec<String> = std::fs::read_dir(repo().join("golden"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CASES.iter().map(|c| c.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

#[test]
fn two_runs_are_byte_identical_compact_and_pretty() {
    for case in CASES {
        for pretty in [false, true] {
            let runs: Vec<Vec<u8>> = (0..2)
                .map(|_| {
                    let spec = golden(case).join("cluster.yaml");
                    let mut cmd = kindling();
                    cmd.arg("render")
                        .arg(&spec)
                        .arg("-o")
                        .arg("-")
                        .arg("--node");
                    cmd.arg(first_node(case));
                    if pretty {
                        cmd.arg("--pretty");
                    }
                    cmd.assert().success().get_output().stdout.clone()
                })
                .collect();
            assert_eq!(runs[0], runs[1], "{case} pretty={pretty}");
            assert!(runs[0].ends_with(b"}\n"), "output ends with a newline");
            let parsed: serde_json::Value = serde_json::from_slice(&runs[0]).unwrap();
            assert!(parsed["ignition"]["version"].is_string());
        }
    }
}

fn first_node(case: &str) -> &'static str {
    match case {
        "single-node" => "etcd0",
        "three-node" | "snippets" | "container" | "kubeadm" | "monitored" => "etcd1",
        "five-node-fqdn" => "eu1-a",
        "discovery" => "members",
        _ => "m1",
    }
}

/// Golden outputs are real Ignition: every expected file must satisfy the spec version's
/// schema and rules on its own (the validator is the one render uses; this pins that the
/// committed files, not just fresh renders, are valid).
#[test]
fn expected_files_validate() {
    for case in CASES {
        // Prometheus's files beside the configs are tests/monitoring.rs's.
        let configs = snapshot(&golden(case).join("expected"))
            .into_iter()
            .filter(|(name, _)| name.extension().is_some_and(|e| e == "ign"));
        for (name, bytes) in configs {
            let config: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let version = kindling::ignition::SpecVersion::parse(
                config["ignition"]["version"].as_str().unwrap(),
            )
            .unwrap();
            let report = kindling::validate::validate(&config, version);
            assert!(
                report.diagnostics.is_empty(),
                "{case}/{}: {}",
                name.display(),
                report.render(kindling::diag::Format::Human)
            );
        }
    }
}

/// `check` compiles for its findings only: for every case it finds what a full compile
/// finds, and prints no config.
#[test]
fn compiling_for_findings_only_finds_the_same_and_prints_nothing() {
    for case in CASES {
        let spec = golden(case).join("cluster.yaml");
        let full = kindling::compile(&spec, &Options::default()).expect(case);
        let findings_only = Options {
            findings_only: true,
            ..Options::default()
        };
        let checked = kindling::compile(&spec, &findings_only).expect(case);
        assert!(!full.nodes.is_empty(), "{case}");
        assert!(checked.nodes.is_empty(), "{case}");
        assert_eq!(
            format!("{:?}", checked.warnings),
            format!("{:?}", full.warnings),
            "{case}"
        );
    }
}
