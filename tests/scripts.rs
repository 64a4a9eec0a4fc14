//! Every shell script kindling renders (roll, backup, restore, member, firewall, etcdctl
//! wrappers), read by ShellCheck at warning level: the scripts run as root on every member,
//! unattended, and a quoting or syntax slip there is an outage. Scripts are taken from every
//! golden config, so each profile and option that changes a script is covered.

mod common;

use std::process::Command;

use serde_json::Value;

/// (config, path, text) of every file in the golden configs that starts with a shebang.
fn rendered_scripts() -> Vec<(String, String, String)> {
    let mut scripts = Vec::new();
    let mut cases: Vec<_> = std::fs::read_dir(common::repo().join("golden"))
        .unwrap()
        .map(|e| e.unwrap().path().join("expected"))
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    for expected in cases {
        let mut configs: Vec<_> = std::fs::read_dir(&expected)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "ign"))
            .collect();
        configs.sort();
        for config in configs {
            let json: Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
            for file in json["storage"]["files"].as_array().into_iter().flatten() {
                let Some(source) = file["contents"]["source"].as_str() else {
                    continue;
                };
                let Ok(bytes) = kindling::ignition::dataurl::decode(source) else {
                    continue;
                };
                let text = String::from_utf8_lossy(&bytes).into_owned();
                if text.starts_with("#!/bin/bash") || text.starts_with("#!/bin/sh") {
                    scripts.push((
                        config.display().to_string(),
                        file["path"].as_str().unwrap().to_string(),
                        text,
                    ));
                }
            }
        }
    }
    scripts
}

fn main() {
    let arguments = libtest_mimic::Arguments::from_args();
    let trials = vec![common::trial(
        "every_rendered_script_passes_shellcheck",
        &["shellcheck"],
        every_rendered_script_passes_shellcheck,
    )];
    libtest_mimic::run(&arguments, trials).exit();
}

fn every_rendered_script_passes_shellcheck() {
    let scripts = rendered_scripts();
    assert!(scripts.len() > 40, "{} scripts found", scripts.len());
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (index, (config, path, text)) in scripts.iter().enumerate() {
        let file = dir.path().join(format!("{index}.sh"));
        std::fs::write(&file, text).unwrap();
        let checked = Command::new("shellcheck")
            .args(["--severity=warning", "--external-sources"])
            .arg(&file)
            .output()
            .unwrap();
        if !checked.status.success() {
            failures.push(format!("{config} {path}:\n{}", common::text(&checked)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
