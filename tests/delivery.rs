//! Delivery through the real binary: the Matchbox tree (layout, JSON fields, MAC
//! normalisation, atomic replacement, other clusters untouched, a crash mid-write) and the
//! Terraform external data source protocol.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Output;

use common::{golden, kindling, scratch_copy, snapshot, terraform};
use serde_json::Value;

fn matchbox(spec: &Path, out: &Path, extra: &[&str]) -> Output {
    kindling()
        .args(["--format", "json", "matchbox"])
        .arg(spec)
        .arg("-o")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// The first error of the one JSON array a failed command prints.
fn first_finding(output: &Output) -> Value {
    let findings: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&output.stderr)));
    let all = findings.as_array().expect("a JSON array").clone();
    all.iter()
        .find(|f| f["severity"] == "error")
        .cloned()
        .unwrap_or_else(|| all[0].clone())
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// A data directory with another cluster's files and Matchbox's own assets in it.
fn populated_data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("matchbox");
    for (path, text) in [
        ("groups/other-x.json", "{\"id\": \"other-x\"}\n"),
        ("profiles/other-x.json", "{\"id\": \"other-x\"}\n"),
        (
            "ignition/other-x.ign",
            "{\"ignition\": {\"version\": \"3.4.0\"}}\n",
        ),
        (
            "assets/flatcar/4230.2.3/flatcar_production_pxe.vmlinuz",
            "kernel",
        ),
    ] {
        let path = data.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

#[test]
fn a_pxe_tree_has_ids_equal_to_file_names_and_serves_the_rendered_configs() {
    let dir = populated_data_dir();
    let data = dir.path().join("matchbox");
    let before_other = snapshot(&data);
    let spec = golden("three-node").join("cluster.yaml");
    let output = matchbox(&spec, &data, &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for node in ["etcd1", "etcd2", "etcd3"] {
        let id = format!("k8s0-{node}");
        let group = json(&data.join(format!("groups/{id}.json")));
        let profile = json(&data.join(format!("profiles/{id}.json")));
        assert_eq!(group["id"], id.as_str());
        assert_eq!(group["profile"], id.as_str());
        assert_eq!(group["metadata"]["node"], node);
        assert_eq!(profile["id"], id.as_str());
        assert_eq!(profile["ignition_id"], format!("{id}.ign"));
        let args: Vec<&str> = profile["boot"]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(args.contains(&"flatcar.first_boot=yes"));
        assert!(args.contains(&"flatcar.config.url=http://matchbox.example.com:8080/ignition?uuid=${uuid}&mac=${mac:hexhyp}"));
        assert_eq!(
            profile["boot"]["kernel"],
            "/assets/flatcar/4230.2.3/flatcar_production_pxe.vmlinuz"
        );
        let ign = data.join(format!("ignition/{id}.ign"));
        assert_eq!(
            std::fs::read(&ign).unwrap(),
            std::fs::read(golden("three-node").join(format!("expected/{node}.ign"))).unwrap()
        );
        assert_eq!(mode(&ign), 0o600, "configs hold private keys");
    }
    assert_eq!(
        json(&data.join("groups/k8s0-etcd2.json"))["selector"],
        serde_json::json!({"mac": "52:54:00:00:00:12"})
    );
    let transfer = std::fs::read_to_string(data.join("assets/extensions/etcd-k8s0.conf")).unwrap();
    assert!(
        transfer.contains("Type=url-file")
            && transfer.contains("CurrentSymlink=/etc/extensions/etcd.raw")
    );
    let after = snapshot(&data);
    for file in &before_other {
        assert!(
            after.contains(file),
            "{} of another cluster changed",
            file.0.display()
        );
    }
}

#[test]
fn install_to_disk_adds_an_installer_and_an_installed_group_with_normalised_macs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("mb");
    let output = matchbox(
        &golden("five-node-fqdn").join("cluster.yaml"),
        &data,
        &["--mode", "0640"],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let installed = json(&data.join("groups/prod-eu1-eu1-b.json"));
    assert_eq!(
        installed["selector"],
        serde_json::json!({"mac": "0c:c4:7a:00:02:0a", "os": "installed"}),
        "written 0C-C4-7A-00-02-0A in the spec"
    );
    let install = json(&data.join("groups/prod-eu1-eu1-b-install.json"));
    assert_eq!(
        install["selector"],
        serde_json::json!({"mac": "0c:c4:7a:00:02:0a"})
    );
    assert_eq!(install["profile"], "prod-eu1-eu1-b-install");
    assert!(
        json(&data.join("profiles/prod-eu1-eu1-b.json"))
            .get("boot")
            .is_none()
    );
    let installer = json(&data.join("ignition/prod-eu1-eu1-b-install.ign"));
    assert!(
        kindling::validate::validate(&installer, kindling::ignition::SpecVersion::V3_3).is_empty()
    );
    let unit = installer["systemd"]["units"][0]["contents"]
        .as_str()
        .unwrap();
    assert!(unit.contains("flatcar-install -d /dev/disk/by-id/nvme-eu1-system -C lts -V current -i /tmp/ignition.json"), "{unit}");
    assert!(
        unit.contains("\"https://matchbox.kloud.lan/ignition?mac=0c:c4:7a:00:02:0a&os=installed\""),
        "{unit}"
    );
    assert_eq!(mode(&data.join("ignition/prod-eu1-eu1-b.ign")), 0o640);
    let args = json(&data.join("profiles/prod-eu1-eu1-b-install.json"))["boot"]["args"].clone();
    assert!(
        args.as_array()
            .unwrap()
            .contains(&Value::from("console=ttyS0,115200n8"))
    );
}

#[test]
fn images_are_published_with_sha256sums_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    std::fs::create_dir(&images).unwrap();
    let name = "etcd-v3.5.21-x86-64.raw";
    std::fs::write(images.join(name), format!("kindling test image {name}")).unwrap();
    let data = dir.path().join("mb");
    let spec = golden("three-node").join("cluster.yaml");
    assert!(
        matchbox(&spec, &data, &["--images", images.to_str().unwrap()])
            .status
            .success()
    );
    let sums = std::fs::read_to_string(data.join("assets/extensions/SHA256SUMS")).unwrap();
    let published = std::fs::read_to_string(golden("three-node").join("SHA256SUMS")).unwrap();
    let line = published.lines().find(|l| l.ends_with(name)).unwrap();
    assert_eq!(sums, format!("{line}\n"));
    assert_eq!(
        std::fs::read(data.join("assets/extensions").join(name)).unwrap(),
        std::fs::read(images.join(name)).unwrap()
    );

    std::fs::write(images.join(name), "some other build").unwrap();
    let before = snapshot(&data);
    let output = matchbox(&spec, &data, &["--images", images.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(first_finding(&output)["code"], "sysext.hash-mismatch");
    assert_eq!(snapshot(&data), before);
}

/// What is beside the data directory (no lock file stays there once a run ends).
fn siblings(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn a_failing_spec_leaves_the_tree_byte_identical() {
    let dir = populated_data_dir();
    let data = dir.path().join("matchbox");
    let case = scratch_copy("three-node");
    let spec = case.path().join("cluster.yaml");
    assert!(matchbox(&spec, &data, &[]).status.success());
    let before = snapshot(&data);
    let text = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("ip: 10.0.0.12,", "ip: 10.0.0.11,");
    std::fs::write(&spec, text).unwrap();
    let output = matchbox(&spec, &data, &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(first_finding(&output)["code"], "spec.duplicate-ip");
    assert_eq!(snapshot(&data), before);
    assert_eq!(
        siblings(dir.path()),
        ["matchbox"],
        "no staging directory is left behind"
    );
}

#[test]
fn a_removed_node_disappears_and_other_clusters_stay() {
    let dir = populated_data_dir();
    let data = dir.path().join("matchbox");
    let case = scratch_copy("three-node");
    let spec = case.path().join("cluster.yaml");
    assert!(matchbox(&spec, &data, &[]).status.success());
    let text = std::fs::read_to_string(&spec).unwrap().replace(
        "  - { name: etcd3, ip: 10.0.0.13, mac: \"52:54:00:00:00:13\" }\n",
        "",
    );
    std::fs::write(&spec, text).unwrap();
    assert!(matchbox(&spec, &data, &[]).status.success());
    for gone in [
        "groups/k8s0-etcd3.json",
        "profiles/k8s0-etcd3.json",
        "ignition/k8s0-etcd3.ign",
    ] {
        assert!(!data.join(gone).exists(), "{gone} is stale");
    }
    assert!(data.join("groups/k8s0-etcd2.json").exists());
    assert!(data.join("groups/other-x.json").exists());
    assert!(
        data.join("assets/flatcar/4230.2.3/flatcar_production_pxe.vmlinuz")
            .exists()
    );
}

#[test]
fn a_crash_mid_write_leaves_the_live_tree_and_the_next_run_recovers() {
    let dir = populated_data_dir();
    let data = dir.path().join("matchbox");
    let spec = golden("three-node").join("cluster.yaml");
    let before = snapshot(&data);
    let output = kindling()
        .env("KINDLING_TEST_CRASH_AT", "tree-mid-write")
        .arg("matchbox")
        .arg(&spec)
        .arg("-o")
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(
        output.status.signal(),
        Some(6),
        "the process aborted mid-write"
    );
    assert_eq!(snapshot(&data), before, "the live tree is untouched");
    assert_eq!(
        siblings(dir.path()),
        [
            ".matchbox.kindling-lock",
            ".matchbox.kindling-staging",
            "matchbox"
        ],
        "the half-built staging tree and the lock file of the killed run are beside it"
    );
    assert!(matchbox(&spec, &data, &[]).status.success());
    assert_eq!(
        siblings(dir.path()),
        ["matchbox"],
        "the next run removed the leftover"
    );
    assert!(data.join("groups/k8s0-etcd1.json").exists());
}

/// Inode and modification time of every file and directory under `dir`.
fn identities(dir: &Path) -> std::collections::BTreeMap<String, (u64, i64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let mut all = std::collections::BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
        let name = path.strip_prefix(dir).unwrap().display().to_string();
        all.insert(name, (meta.ino(), meta.mtime(), meta.mtime_nsec()));
    }
    all
}

#[test]
fn rendering_an_unchanged_spec_again_leaves_the_output_untouched() {
    let case = scratch_copy("three-node");
    let render = || {
        let output = kindling()
            .current_dir(case.path())
            .args(["render", "cluster.yaml", "-o", "out"])
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stderr).unwrap()
    };
    assert!(render().contains("wrote 3 config(s) to out\n"));
    let out = case.path().join("out");
    let before = identities(&out);
    assert!(render().contains("wrote 0 config(s) to out; 3 unchanged\n"));
    assert_eq!(
        identities(&out),
        before,
        "no file or directory was replaced"
    );
}

#[test]
fn matchbox_rewrites_only_the_files_a_change_reaches() {
    let dir = populated_data_dir();
    let data = dir.path().join("matchbox");
    let case = scratch_copy("three-node");
    let spec = case.path().join("cluster.yaml");
    assert!(matchbox(&spec, &data, &[]).status.success());
    let first = identities(&data);
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, text.replace("gomaxprocs: 2", "gomaxprocs: 4")).unwrap();
    assert!(matchbox(&spec, &data, &[]).status.success());
    let second = identities(&data);
    for node in ["etcd1", "etcd2", "etcd3"] {
        for unchanged in [
            format!("groups/k8s0-{node}.json"),
            format!("profiles/k8s0-{node}.json"),
        ] {
            assert_eq!(
                second[&unchanged], first[&unchanged],
                "{unchanged} was rewritten"
            );
        }
        let config = format!("ignition/k8s0-{node}.ign");
        assert_ne!(second[&config], first[&config], "{config} changed");
    }
    assert_eq!(second["groups/other-x.json"], first["groups/other-x.json"]);
    assert_ne!(second[""], first[""], "the new tree was swapped in");
}

#[test]
fn matchbox_needs_macs_and_a_matchbox_section() {
    let case = scratch_copy("three-node");
    let spec = case.path().join("cluster.yaml");
    let text = std::fs::read_to_string(&spec)
        .unwrap()
        .replace(", mac: \"52:54:00:00:00:12\"", "");
    std::fs::write(&spec, text).unwrap();
    let out = case.path().join("mb");
    let finding = first_finding(&matchbox(&spec, &out, &[]));
    assert_eq!(finding["code"], "matchbox.no-mac");
    assert_eq!(finding["line"], 21);
    assert!(!out.exists());
    let finding = first_finding(&matchbox(
        &golden("single-node").join("cluster.yaml"),
        &out,
        &[],
    ));
    assert_eq!(finding["code"], "matchbox.missing");
}

#[test]
fn terraform_answers_one_object_of_strings() {
    let cwd = golden("three-node");
    let output = terraform("{\"spec\": \"cluster.yaml\"}", &cwd);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: serde_json::Map<String, Value> = serde_json::from_slice(&output.stdout).unwrap();
    let keys: Vec<&str> = result.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "etcd1",
            "etcd1_sha256",
            "etcd2",
            "etcd2_sha256",
            "etcd3",
            "etcd3_sha256"
        ]
    );
    assert!(result.values().all(Value::is_string));
    let expected = std::fs::read(cwd.join("expected/etcd2.ign")).unwrap();
    assert_eq!(
        result["etcd2"].as_str().unwrap().as_bytes(),
        expected.as_slice()
    );
    use sha2::Digest;
    assert_eq!(
        result["etcd2_sha256"],
        hex::encode(sha2::Sha256::digest(&expected)).as_str()
    );

    let one = terraform(
        "{\"spec\": \"cluster.yaml\", \"node\": \"etcd1\", \"pretty\": \"true\", \"ignition\": \"3.3.0\"}",
        &cwd,
    );
    let result: serde_json::Map<String, Value> = serde_json::from_slice(&one.stdout).unwrap();
    assert_eq!(
        result.keys().map(String::as_str).collect::<Vec<_>>(),
        ["rendered", "sha256"]
    );
    let rendered = result["rendered"].as_str().unwrap();
    assert!(
        rendered.starts_with("{\n  \"ignition\": {\n    \"version\": \"3.3.0\""),
        "{rendered}"
    );
}

#[test]
fn terraform_errors_are_one_line_on_stderr_with_nothing_on_stdout() {
    let cwd = tempfile::tempdir().unwrap();
    let spec = golden("three-node").join("cluster.yaml");
    let spec = spec.to_str().unwrap();
    let cases = [
        ("not json".to_string(), "terraform.query"),
        ("[\"spec\"]".to_string(), "terraform.query"),
        (
            format!("{{\"spec\": \"{spec}\", \"pretty\": true}}"),
            "terraform.query",
        ),
        (
            format!("{{\"spec\": \"{spec}\", \"nodes\": \"etcd1\"}}"),
            "terraform.query",
        ),
        (
            format!("{{\"spec\": \"{spec}\", \"ignition\": \"3.2.0\"}}"),
            "terraform.query",
        ),
        ("{}".to_string(), "terraform.query"),
        (
            "{\"spec\": \"missing.yaml\"}".to_string(),
            "spec.unreadable",
        ),
        (
            format!("{{\"spec\": \"{spec}\", \"node\": \"etcd9\"}}"),
            "cli.unknown-node",
        ),
    ];
    for (stdin, code) in cases {
        let output = terraform(&stdin, cwd.path());
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(1), "{stdin}");
        assert!(
            output.stdout.is_empty(),
            "{stdin}: stdout must be empty on failure"
        );
        assert_eq!(stderr.lines().count(), 1, "{stdin}: {stderr}");
        assert!(
            stderr.starts_with(&format!("kindling: error[{code}]")),
            "{stdin}: {stderr}"
        );
    }
    assert_eq!(
        std::fs::read_dir(cwd.path()).unwrap().count(),
        0,
        "terraform writes no files"
    );
}

/// Prometheus's files reach a user through every path the configs do: Matchbox's assets
/// (0644: they hold no secret) and the Terraform result, byte for byte as `render` writes
/// them.
#[test]
fn monitoring_files_are_delivered_by_matchbox_and_terraform() {
    let expected = golden("monitored").join("expected/monitoring");
    let scrape = std::fs::read(expected.join("prometheus.yml")).unwrap();
    let rules = std::fs::read(expected.join("etcd-k8s0.rules.yml")).unwrap();

    let data = populated_data_dir();
    let out = data.path().join("matchbox");
    let case = scratch_copy("monitored");
    let spec = case.path().join("cluster.yaml");
    std::fs::write(
        &spec,
        std::fs::read_to_string(&spec).unwrap().replace(
            "network: { subnet: 10.0.0.0/24 }",
            "network: { subnet: 10.0.0.0/24 }\nmatchbox: { url: http://matchbox.example.com:8080, version: 4230.2.3, install_disk: /dev/sda }",
        ),
    )
    .unwrap();
    let output = matchbox(&spec, &out, &[]);
    assert!(output.status.success(), "{}", common::text(&output));
    let published = out.join("assets/monitoring/k8s0");
    assert_eq!(
        std::fs::read(published.join("prometheus.yml")).unwrap(),
        scrape
    );
    assert_eq!(
        std::fs::read(published.join("etcd-k8s0.rules.yml")).unwrap(),
        rules
    );
    assert_eq!(mode(&published.join("prometheus.yml")), 0o644);

    let answer = terraform("{\"spec\": \"cluster.yaml\"}", &golden("monitored"));
    assert!(answer.status.success(), "{}", common::text(&answer));
    let result: serde_json::Map<String, Value> = serde_json::from_slice(&answer.stdout).unwrap();
    assert_eq!(
        result["monitoring_prometheus_yml"]
            .as_str()
            .unwrap()
            .as_bytes(),
        scrape
    );
    assert_eq!(
        result["monitoring_rules_yml"].as_str().unwrap().as_bytes(),
        rules
    );
    let plain = terraform("{\"spec\": \"cluster.yaml\"}", &golden("three-node"));
    let result: serde_json::Map<String, Value> = serde_json::from_slice(&plain.stdout).unwrap();
    assert!(
        !result.contains_key("monitoring_rules_yml"),
        "only with monitoring:"
    );
}
