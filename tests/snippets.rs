//! Butane snippets through the real binary: each snippet error is located in the snippet
//! file (or at its entry in the spec) and leaves the output as it was; every command that
//! renders (render, check, check --golden, matchbox, terraform) sees the merged configs,
//! and materialize writes what the snippets add. Also `kindling show`, `profile export` and
//! the all-at-once report of unknown spec keys.

mod common;

use std::path::Path;
use std::process::Output;

use common::{kindling, scratch_copy, snapshot, terraform};
use serde_json::Value;

/// Runs kindling with `--format json` and returns the output.
fn run(args: &[&str], spec: &Path, extra: &[&str]) -> Output {
    kindling()
        .args(["--format", "json"])
        .args(args)
        .arg(spec)
        .args(extra)
        .output()
        .unwrap()
}

fn findings(output: &Output) -> Vec<Value> {
    let stream = if output.stdout.starts_with(b"[") {
        &output.stdout
    } else {
        &output.stderr
    };
    let parsed: Value = serde_json::from_slice(stream).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    parsed.as_array().expect("an array").clone()
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn edit(dir: &Path, old: &str, new: &str) {
    let path = dir.join("cluster.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(old), "{old:?} not in the spec");
    std::fs::write(path, text.replacen(old, new, 1)).unwrap();
}

/// A copy of golden/snippets.
fn snippets_case() -> tempfile::TempDir {
    scratch_copy("snippets")
}

/// Renders into a prefilled directory and checks the render failed with `code` at
/// `file:line` and wrote nothing.
fn refused(dir: &Path, code: &str, file_suffix: &str, line: u64) -> Value {
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("etcd1.ign"), b"previous run\n").unwrap();
    let before = snapshot(&out);
    let output = run(
        &["render"],
        &dir.join("cluster.yaml"),
        &["-o", out.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let all = findings(&output);
    let finding = all
        .iter()
        .find(|f| f["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in {all:#?}"))
        .clone();
    assert!(
        finding["file"]
            .as_str()
            .is_some_and(|f| f.ends_with(file_suffix)),
        "{finding}"
    );
    assert_eq!(finding["line"], line, "{finding}");
    assert_eq!(snapshot(&out), before, "the output directory changed");
    finding
}

#[test]
fn a_snippet_that_takes_over_a_profile_file_names_both_origins() {
    let dir = snippets_case();
    edit(
        dir.path(),
        "      - path: snippets/asset-hostname.bu\n        replaces: [/etc/hostname]\n",
        "      - snippets/asset-hostname.bu\n",
    );
    let finding = refused(dir.path(), "snippet.conflict", "asset-hostname.bu", 7);
    let message = finding["message"].as_str().unwrap();
    assert!(message.contains("/etc/hostname"), "{message}");
    assert!(
        message.contains("profiles/flatcar-sysext/profile.yaml"),
        "{message}"
    );
    assert!(
        finding["help"].as_str().unwrap().contains("replaces"),
        "{finding}"
    );
}

#[test]
fn a_snippet_unit_that_redefines_etcd_service_is_refused_but_a_new_dropin_is_not() {
    let dir = snippets_case();
    write(
        dir.path(),
        "snippets/site.bu",
        "variant: flatcar\nversion: 1.1.0\nsystemd:\n  units:\n    - name: etcd.service\n      enabled: false\n",
    );
    refused(dir.path(), "snippet.conflict", "site.bu", 5);
}

#[test]
fn replaces_naming_nothing_the_snippet_takes_over_is_refused() {
    let dir = snippets_case();
    edit(
        dir.path(),
        "replaces: [/etc/hostname]",
        "replaces: [/etc/hostname, user:core]",
    );
    refused(dir.path(), "snippet.replaces-unused", "cluster.yaml", 36);
}

#[test]
fn a_butane_error_in_a_snippet_points_into_the_snippet() {
    let dir = snippets_case();
    write(
        dir.path(),
        "snippets/backup-disk.bu",
        "variant: flatcar\nversion: 1.1.0\nstorage:\n  files:\n    - path: /etc/x\n      mode: lots\n",
    );
    refused(dir.path(), "butane.type", "backup-disk.bu", 6);
}

#[test]
fn a_snippet_newer_than_the_rendered_ignition_is_refused() {
    let dir = snippets_case();
    write(
        dir.path(),
        "snippets/backup-disk.bu",
        "variant: fcos\nversion: 1.6.0\n",
    );
    refused(dir.path(), "snippet.version", "cluster.yaml", 40);
}

#[test]
fn a_snippet_may_not_replace_the_whole_config() {
    let dir = snippets_case();
    write(
        dir.path(),
        "snippets/backup-disk.bu",
        "variant: flatcar\nversion: 1.1.0\nignition:\n  config:\n    replace:\n      source: http://example.com/other.ign\n",
    );
    refused(dir.path(), "snippet.replace-config", "cluster.yaml", 40);
}

#[test]
fn a_finding_about_the_merged_config_points_at_the_snippet_line() {
    let dir = snippets_case();
    write(
        dir.path(),
        "snippets/backup-disk.bu",
        "variant: flatcar\nversion: 1.1.0\nsystemd:\n  units:\n    - name: no-such.service\n      dropins:\n        - name: x.conf\n          contents: \"[Service]\\nNice=5\\n\"\n",
    );
    let output = run(
        &["render"],
        &dir.path().join("cluster.yaml"),
        &["-o", dir.path().join("out").to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let all = findings(&output);
    let lint = all
        .iter()
        .find(|f| f["code"] == "ign.dropin-unknown-unit")
        .unwrap_or_else(|| panic!("{all:#?}"));
    assert!(
        lint["file"]
            .as_str()
            .unwrap()
            .ends_with("snippets/backup-disk.bu"),
        "{lint}"
    );
    assert_eq!(lint["line"], 5, "{lint}");
}

#[test]
fn a_snippet_warning_is_reported_once_however_many_nodes_use_it() {
    let dir = snippets_case();
    let site = dir.path().join("snippets/site.bu");
    let text = std::fs::read_to_string(&site).unwrap();
    std::fs::write(
        &site,
        text.replace("storage:\n", "storage:\n  colour: blue\n"),
    )
    .unwrap();
    let output = run(
        &["render"],
        &dir.path().join("cluster.yaml"),
        &["-o", dir.path().join("out").to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let unused: Vec<Value> = findings(&output)
        .into_iter()
        .filter(|f| f["code"] == "butane.unused-key")
        .collect();
    assert_eq!(unused.len(), 1, "{unused:#?}");
    assert!(unused[0]["file"].as_str().unwrap().ends_with("site.bu"));
}

#[test]
fn check_golden_sees_a_changed_snippet() {
    let dir = snippets_case();
    let golden = common::golden("snippets").join("expected");
    let clean = run(
        &["check"],
        &dir.path().join("cluster.yaml"),
        &["--golden", golden.to_str().unwrap()],
    );
    assert_eq!(clean.status.code(), Some(0), "{clean:?}");
    let conf = dir.path().join("snippets/timesyncd.conf");
    std::fs::write(&conf, "[Time]\nNTP=ntp3.lab.example.com\n").unwrap();
    let drifted = run(
        &["check"],
        &dir.path().join("cluster.yaml"),
        &["--golden", golden.to_str().unwrap()],
    );
    assert_eq!(drifted.status.code(), Some(1));
    let all = findings(&drifted);
    let changed: Vec<&Value> = all
        .iter()
        .filter(|f| f["code"] == "drift.changed")
        .collect();
    assert_eq!(changed.len(), 3, "every member uses the site snippet");
    let message = changed[0]["message"].as_str().unwrap();
    assert!(
        message.contains("+           NTP=ntp3.lab.example.com"),
        "{message}"
    );
}

#[test]
fn matchbox_and_terraform_deliver_the_merged_configs_and_node_overrides() {
    let dir = snippets_case();
    let spec = dir.path().join("cluster.yaml");
    let data = dir.path().join("matchbox");
    let output = run(&["matchbox"], &spec, &["-o", data.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let served = std::fs::read(data.join("ignition/k8s0-etcd2.ign")).unwrap();
    let expected = std::fs::read(common::golden("snippets").join("expected/etcd2.ign")).unwrap();
    assert_eq!(
        served, expected,
        "Matchbox serves the rendered, merged config"
    );
    let profile: Value = serde_json::from_slice(
        &std::fs::read(data.join("profiles/k8s0-etcd3-install.json")).unwrap(),
    )
    .unwrap();
    assert!(
        profile["name"].as_str().unwrap().contains("/dev/nvme0n1"),
        "{profile}"
    );
    assert!(
        profile["boot"]["args"]
            .as_array()
            .unwrap()
            .contains(&Value::from("console=ttyS0,115200n8"))
    );
    let etcd1: Value = serde_json::from_slice(
        &std::fs::read(data.join("profiles/k8s0-etcd1-install.json")).unwrap(),
    )
    .unwrap();
    assert!(etcd1["name"].as_str().unwrap().contains("/dev/sda"));

    let query = serde_json::json!({"spec": spec.to_str().unwrap(), "node": "etcd2"});
    let answer = terraform(&query.to_string(), dir.path());
    assert!(answer.status.success(), "{answer:?}");
    let result: Value = serde_json::from_slice(&answer.stdout).unwrap();
    assert_eq!(result["rendered"].as_str().unwrap().as_bytes(), expected);
}

#[test]
fn materialize_writes_what_the_snippets_add() {
    let root = tempfile::tempdir().unwrap();
    let config = common::golden("snippets").join("expected/etcd1.ign");
    kindling()
        .arg("materialize")
        .arg(&config)
        .arg("--root")
        .arg(root.path())
        .assert()
        .success();
    let hostname = std::fs::read_to_string(root.path().join("etc/hostname")).unwrap();
    assert_eq!(hostname, "dc1-r12-u07\n");
    let network = std::fs::read_to_string(
        root.path()
            .join("etc/systemd/network/10-kindling-static.network"),
    )
    .unwrap();
    assert!(
        network.contains("MACAddress=52:54:00:00:00:11\n"),
        "{network}"
    );
    assert!(network.contains("Address=10.0.0.11/24\n"), "{network}");
    assert!(
        root.path()
            .join("etc/systemd/system/node-exporter.service")
            .is_file()
    );
    let ntp = std::fs::read_to_string(
        root.path()
            .join("etc/systemd/timesyncd.conf.d/10-site.conf"),
    )
    .unwrap();
    assert!(ntp.contains("ntp1.lab.example.com"));
}

#[test]
fn show_prints_a_readable_config_without_private_keys() {
    let config = common::golden("snippets").join("expected/etcd1.ign");
    let output = kindling().arg("show").arg(&config).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let shown = String::from_utf8(output.stdout).unwrap();
    assert!(
        shown.starts_with("ignition:\n  version: 3.4.0\n"),
        "{shown}"
    );
    assert!(
        shown.contains("        inline: |\n          dc1-r12-u07\n"),
        "{shown}"
    );
    assert!(shown.contains("[private key redacted, fingerprint "));
    let key =
        std::fs::read_to_string(common::golden("snippets").join("pki/nodes/etcd1/server.key"))
            .unwrap();
    for line in key.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!shown.contains(line), "key material in the view");
    }
    let broken = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(broken.path(), "{\n  \"ignition\": ,\n}\n").unwrap();
    let output = kindling()
        .args(["--format", "json", "show"])
        .arg(broken.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let finding: Value = serde_json::from_slice(&output.stderr).unwrap();
    assert_eq!(finding[0]["code"], "show.json");
    assert_eq!(finding[0]["line"], 2);
}

#[test]
fn an_exported_profile_renders_what_the_built_in_one_does() {
    let dir = scratch_copy("three-node");
    let exported = dir.path().join("my-profile");
    kindling()
        .args(["profile", "export", "flatcar-sysext"])
        .arg(&exported)
        .assert()
        .success();
    assert!(exported.join("profile.yaml").is_file());
    assert!(exported.join("etcd.service.hbs").is_file());
    edit(
        dir.path(),
        "profile: flatcar-sysext",
        "profile: ./my-profile",
    );
    let out = dir.path().join("out");
    let output = run(
        &["render"],
        &dir.path().join("cluster.yaml"),
        &["-o", out.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        snapshot(&out),
        snapshot(&common::golden("three-node").join("expected"))
    );
    let again = kindling()
        .args(["--format", "json", "profile", "export", "flatcar-sysext"])
        .arg(&exported)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stdout).contains("profile.export-exists"));
}

#[test]
fn every_unknown_spec_key_is_reported_at_once_and_nothing_is_written() {
    let dir = snippets_case();
    edit(
        dir.path(),
        "  gomaxprocs: 2\n",
        "  gomaxprocs: 2\n  snapshot_cont: 5\n",
    );
    edit(
        dir.path(),
        "  hosts_file: true\n",
        "  hosts_file: true\n  gatway: 10.0.0.1\n",
    );
    edit(
        dir.path(),
        "        log_level: debug\n",
        "        log_levle: debug\n",
    );
    let out = dir.path().join("out");
    let output = run(
        &["render"],
        &dir.path().join("cluster.yaml"),
        &["-o", out.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(!out.exists());
    let all = findings(&output);
    let got: Vec<(String, u64, String)> = all
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                f["help"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "spec.unknown-key".into(),
                11,
                "did you mean `snapshot_count`?".into()
            ),
            (
                "spec.unknown-key".into(),
                25,
                "did you mean `gateway`?".into()
            ),
            (
                "spec.unknown-key".into(),
                48,
                "did you mean `log_level`?".into()
            ),
        ]
    );
}

#[test]
fn terraform_finds_named_profiles_in_the_query_profiles_directory() {
    let dir = scratch_copy("three-node");
    kindling()
        .args(["profile", "export", "flatcar-sysext"])
        .arg(dir.path().join("profiles/site-etcd"))
        .assert()
        .success();
    edit(dir.path(), "profile: flatcar-sysext", "profile: site-etcd");
    let spec = dir.path().join("cluster.yaml");
    let without = terraform(
        &serde_json::json!({"spec": spec.to_str().unwrap()}).to_string(),
        dir.path(),
    );
    assert_eq!(without.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&without.stderr).contains("site-etcd"));
    let query = serde_json::json!({
        "spec": spec.to_str().unwrap(),
        "profiles": dir.path().join("profiles").to_str().unwrap(),
    });
    let with = terraform(&query.to_string(), dir.path());
    assert!(with.status.success(), "{with:?}");
    let result: Value = serde_json::from_slice(&with.stdout).unwrap();
    let expected = std::fs::read(common::golden("three-node").join("expected/etcd1.ign")).unwrap();
    assert_eq!(result["etcd1"].as_str().unwrap().as_bytes(), expected);
}

/// `replaces` means replacement: the snippet's user stands alone (its SSH keys, not the
/// profile's plus its own, as Ignition's merge of lists would make them).
#[test]
fn a_replaced_part_is_the_snippets_alone() {
    let dir = snippets_case();
    write(
        dir.path(),
        "snippets/core.bu",
        "variant: flatcar\nversion: 1.1.0\npasswd:\n  users:\n    - name: core\n      ssh_authorized_keys: [ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAISnippetOnlyKey000000000000000000000 site@example]\n",
    );
    edit(
        dir.path(),
        "        replaces: [/etc/hostname]\n",
        "        replaces: [/etc/hostname]\n      - path: snippets/core.bu\n        replaces: [user:core]\n",
    );
    let output = run(
        &["render"],
        &dir.path().join("cluster.yaml"),
        &["-o", "-", "--node", "etcd1"],
    );
    assert!(output.status.success(), "{output:?}");
    let config: Value = serde_json::from_slice(&output.stdout).unwrap();
    let users = config["passwd"]["users"].as_array().unwrap();
    let core: Vec<&Value> = users.iter().filter(|u| u["name"] == "core").collect();
    assert_eq!(core.len(), 1, "{users:?}");
    assert_eq!(
        core[0]["sshAuthorizedKeys"],
        serde_json::json!([
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAISnippetOnlyKey000000000000000000000 site@example"
        ])
    );
    let hostname: Vec<&Value> = config["storage"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["path"] == "/etc/hostname")
        .collect();
    assert_eq!(hostname.len(), 1);
}
