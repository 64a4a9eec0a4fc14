//! The kubeadm-static-pod profile against what consumes its output: the manifest parses as
//! a Kubernetes `v1/Pod` (k8s-openapi) with no field the type does not know, its etcd flags
//! are the flatcar-sysext profile's env file line by line, the etcdctl wrapper hands
//! containerd the pinned image and the caller's settings, and `kindling kubeadm` prints the
//! `etcd.external` block the README shows. (`systemd-analyze verify` of the kubelet drop-in
//! is in tests/etcd_cluster.rs, beside the other unit checks.)

mod common;

use std::path::Path;

use common::{golden, kindling, render_and_materialize, render_spec_and_materialize, repo};
use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

const NODES: [&str; 3] = ["etcd1", "etcd2", "etcd3"];
const MANIFEST: &str = "etc/kubernetes/manifests/etcd.yaml";

fn manifest_value(root: &Path) -> Value {
    let text = std::fs::read_to_string(root.join(MANIFEST)).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("not YAML: {e}\n{text}"))
}

/// The manifest as k8s-openapi's `Pod`, after checking that serializing the typed value
/// gives back exactly the document: a field the type does not know would be dropped.
fn parse_pod(root: &Path) -> Pod {
    let document = manifest_value(root);
    let pod: Pod = serde_json::from_value(document.clone()).expect("a v1/Pod");
    let typed = serde_json::to_value(&pod).unwrap();
    assert_eq!(
        typed, document,
        "the manifest has fields a v1/Pod does not know"
    );
    pod
}

fn flag_name(env: &str) -> String {
    env.trim_start_matches("ETCD_")
        .to_ascii_lowercase()
        .replace('_', "-")
}

/// The flatcar-sysext layout's path of a file, in kubeadm's layout.
fn in_kubeadm_layout(value: &str) -> String {
    match value.strip_prefix("/etc/etcd/pki/") {
        Some(file) => format!("/etc/kubernetes/pki/etcd/{file}"),
        None => value.to_string(),
    }
}

/// `NAME=value` lines of an env file, in order.
fn env_lines(file: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.split_once('=').unwrap();
            (name.to_string(), value.to_string())
        })
        .collect()
}

#[test]
fn the_manifest_is_a_v1_pod_with_no_unknown_field_and_probes_on_the_metrics_listener() {
    let dir = tempfile::tempdir().unwrap();
    render_and_materialize("kubeadm", dir.path());
    for node in NODES {
        let root = dir.path().join(node);
        let pod = parse_pod(&root);
        let metadata = &pod.metadata;
        assert_eq!(metadata.name.as_deref(), Some("etcd"));
        assert_eq!(metadata.namespace.as_deref(), Some("kube-system"));
        let spec = pod.spec.expect("a pod spec");
        assert_eq!(spec.host_network, Some(true));
        let [container] = spec.containers.as_slice() else {
            panic!("one container expected")
        };
        let image = container.image.as_deref().unwrap();
        assert!(image.contains("@sha256:"), "{image}");
        let command = container.command.clone().unwrap();
        let metrics = command
            .iter()
            .find_map(|arg| arg.strip_prefix("--listen-metrics-urls="))
            .expect("a metrics listener");
        for probe in [&container.liveness_probe, &container.startup_probe] {
            let get = probe.as_ref().unwrap().http_get.as_ref().unwrap();
            let port = match &get.port {
                k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(port) => *port,
                other => panic!("a numeric port expected, got {other:?}"),
            };
            let url = format!(
                "{}://{}:{port}",
                get.scheme.as_deref().unwrap().to_ascii_lowercase(),
                get.host.as_deref().unwrap()
            );
            assert_eq!(url, metrics, "a probe asks what etcd does not serve");
        }
        let mounts: Vec<&str> = container
            .volume_mounts
            .iter()
            .flatten()
            .map(|m| m.mount_path.as_str())
            .collect();
        assert_eq!(mounts, ["/var/lib/etcd", "/etc/kubernetes/pki/etcd"]);
        for file in ["ca.crt", "server.crt", "server.key", "peer.crt", "peer.key"] {
            let path = format!("etc/kubernetes/pki/etcd/{file}");
            assert!(root.join(&path).is_file(), "{path} missing");
            let flag_path = format!("/{path}");
            assert!(
                command.iter().any(|arg| arg.ends_with(&flag_path)),
                "no flag names {flag_path}"
            );
        }
        assert!(
            root.join("etc/kubernetes/pki/etcd/healthcheck-client.crt")
                .is_file()
        );
    }
}

#[test]
fn the_pods_flags_are_the_sysext_profiles_env_file_line_by_line() {
    let dir = tempfile::tempdir().unwrap();
    render_and_materialize("three-node", &dir.path().join("sysext"));
    render_and_materialize("kubeadm", &dir.path().join("kubeadm"));
    let etcd_section = |case: &str| -> Vec<String> {
        let spec = std::fs::read_to_string(golden(case).join("cluster.yaml")).unwrap();
        let mut lines = spec.lines().skip_while(|l| *l != "etcd:");
        let head = lines.next().map(str::to_string);
        head.into_iter()
            .chain(lines.take_while(|l| l.starts_with(' ')).map(str::to_string))
            .collect()
    };
    assert_eq!(
        etcd_section("three-node"),
        etcd_section("kubeadm"),
        "the two golden specs must set etcd alike for this comparison to mean anything"
    );
    for node in NODES {
        let env = env_lines(
            &dir.path()
                .join("sysext")
                .join(node)
                .join("etc/etcd/etcd.env"),
        );
        let pod = parse_pod(&dir.path().join("kubeadm").join(node));
        let container = &pod.spec.unwrap().containers[0];
        let command = container.command.clone().unwrap();
        assert_eq!(command[0], "etcd");
        let flags: Vec<(String, String)> = command[1..]
            .iter()
            .map(|arg| {
                let (name, value) = arg
                    .strip_prefix("--")
                    .and_then(|a| a.split_once('='))
                    .unwrap_or_else(|| panic!("not --flag=value: {arg}"));
                (name.to_string(), value.to_string())
            })
            .collect();
        let expected: Vec<(String, String)> = env
            .iter()
            .filter(|(name, _)| name.starts_with("ETCD_"))
            .map(|(name, value)| (flag_name(name), in_kubeadm_layout(value)))
            .collect();
        assert!(expected.len() > 20, "{expected:?}");
        for (index, (got, want)) in flags.iter().zip(&expected).enumerate() {
            assert_eq!(got, want, "{node}: setting {index} differs");
        }
        assert_eq!(flags.len(), expected.len(), "{node}: flag count");
        let process: Vec<(String, String)> = env
            .iter()
            .filter(|(name, _)| !name.starts_with("ETCD_"))
            .cloned()
            .collect();
        let pod_env: Vec<(String, String)> = container
            .env
            .iter()
            .flatten()
            .map(|v| (v.name.clone(), v.value.clone().unwrap_or_default()))
            .collect();
        assert_eq!(pod_env, process, "{node}: the pod's environment");
        assert_eq!(process, [("GOMAXPROCS".to_string(), "2".to_string())]);
    }
}

#[test]
fn with_a_config_file_the_pod_mounts_it_and_passes_only_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let case = golden("kubeadm");
    let spec = std::fs::read_to_string(case.join("cluster.yaml"))
        .unwrap()
        .replace(
            "dir: ../three-node/pki",
            &format!("dir: {}", golden("three-node").join("pki").display()),
        )
        .replace(
            "sha256sums: SHA256SUMS",
            &format!("sha256sums: {}", case.join("SHA256SUMS").display()),
        )
        .replace(
            "  version: v3.5.21\n",
            "  version: v3.5.21\n  config: file\n",
        );
    assert!(spec.contains("config: file"));
    std::fs::write(dir.path().join("cluster.yaml"), spec).unwrap();
    render_spec_and_materialize(&dir.path().join("cluster.yaml"), dir.path());
    let root = dir.path().join("etcd1");
    let pod = parse_pod(&root);
    let container = &pod.spec.unwrap().containers[0];
    assert_eq!(
        container.command.clone().unwrap(),
        ["etcd", "--config-file=/etc/kubernetes/etcd/etcd.conf.yml"]
    );
    let config_mount = container
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path == "/etc/kubernetes/etcd")
        .expect("the config directory is mounted");
    assert_eq!(config_mount.read_only, Some(true));
    let config = std::fs::read_to_string(root.join("etc/kubernetes/etcd/etcd.conf.yml")).unwrap();
    assert!(
        config.contains("  cert-file: \"/etc/kubernetes/pki/etcd/server.crt\"\n"),
        "{config}"
    );
}

#[test]
fn the_etcdctl_wrapper_hands_containerd_the_pinned_image_and_the_callers_settings() {
    let dir = tempfile::tempdir().unwrap();
    render_and_materialize("kubeadm", &dir.path().join("nodes"));
    let wrapper = std::fs::read_to_string(dir.path().join("nodes/etcd1/opt/bin/etcdctl")).unwrap();
    // A ctr that records its arguments and the env file it was given.
    let record = dir.path().join("record");
    let ctr = dir.path().join("ctr");
    std::fs::write(
        &ctr,
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$RECORD\"\nwhile [ $# -gt 0 ]; do\n  [ \"$1\" = --env-file ] && cp \"$2\" \"$RECORD.env\"\n  shift\ndone\n",
    )
    .unwrap();
    let tool = dir.path().join("etcdctl");
    std::fs::write(
        &tool,
        wrapper.replace("/usr/bin/ctr", &ctr.display().to_string()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    for file in [&ctr, &tool] {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let output = std::process::Command::new(&tool)
        .args(["endpoint", "health", "--write-out=table"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("RECORD", &record)
        .env("ETCDCTL_ENDPOINTS", "https://10.0.0.12:2379")
        .env("ETCDCTL_CACERT", "/etc/kubernetes/pki/etcd/ca.crt")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let args: Vec<String> = std::fs::read_to_string(&record)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let digest = "0".repeat(64);
    let image = format!("registry.k8s.io/etcd@sha256:{digest}");
    let expected_head = [
        "--namespace",
        "k8s.io",
        "run",
        "--rm",
        "--net-host",
        "--env-file",
    ];
    assert_eq!(&args[..6], expected_head, "{args:?}");
    let expected_tail = [
        "--mount",
        "type=bind,src=/etc/kubernetes/pki/etcd,dst=/etc/kubernetes/pki/etcd,options=rbind:ro",
        "--mount",
        "type=bind,src=/var/lib/etcd-backup,dst=/var/lib/etcd-backup,options=rbind:rw",
        image.as_str(),
    ];
    assert_eq!(&args[7..12], expected_tail, "{args:?}");
    assert!(args[12].starts_with("kindling-etcdctl-"), "{args:?}");
    assert_eq!(
        &args[13..],
        [
            "/usr/local/bin/etcdctl",
            "endpoint",
            "health",
            "--write-out=table"
        ]
    );
    let env = std::fs::read_to_string(record.with_extension("env")).unwrap();
    let mut env_lines: Vec<&str> = env.lines().collect();
    env_lines.sort();
    assert_eq!(
        env_lines,
        [
            "ETCDCTL_CACERT=/etc/kubernetes/pki/etcd/ca.crt",
            "ETCDCTL_ENDPOINTS=https://10.0.0.12:2379"
        ]
    );
    assert!(
        !Path::new(&args[6]).exists(),
        "the wrapper left its env file behind"
    );
}

#[test]
fn kubeadm_prints_the_etcd_external_block_the_readme_shows() {
    let output = kindling()
        .arg("kubeadm")
        .arg(golden("kubeadm").join("cluster.yaml"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let block = String::from_utf8(output.stdout).unwrap();
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains(&block),
        "README.md does not show what `kindling kubeadm golden/kubeadm/cluster.yaml` prints:\n{block}"
    );
    let config: Value = serde_saphyr::from_str(&block).unwrap();
    assert_eq!(config["apiVersion"], "kubeadm.k8s.io/v1beta4");
    assert_eq!(config["kind"], "ClusterConfiguration");
    let external = &config["etcd"]["external"];
    assert_eq!(
        external["endpoints"],
        serde_json::json!([
            "https://10.0.0.11:2379",
            "https://10.0.0.12:2379",
            "https://10.0.0.13:2379"
        ])
    );
    assert_eq!(
        external["certFile"],
        "/etc/kubernetes/pki/apiserver-etcd-client.crt"
    );
    assert!(
        golden("three-node")
            .join("pki/clients/apiserver-etcd-client.crt")
            .is_file(),
        "the certificate the block names is issued"
    );
}

#[test]
fn kubeadm_refuses_a_spec_without_the_control_planes_certificate() {
    let output = kindling()
        .args(["--format", "json", "kubeadm"])
        .arg(golden("three-node").join("cluster.yaml"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    // With --format json the report is the only thing on stdout: no block is printed.
    let findings: Value = serde_json::from_slice(&output.stdout).unwrap();
    let finding = &findings[0];
    assert_eq!(finding["code"], "kubeadm.client", "{finding}");
    // A mistake of the command line (the default --client), not of any spec line.
    assert!(finding.get("line").is_none(), "{finding}");
    let other = kindling()
        .args(["kubeadm", "--client", "monitoring"])
        .arg(golden("kubeadm").join("cluster.yaml"))
        .output()
        .unwrap();
    assert_eq!(other.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert!(stderr.contains("--client monitoring"), "{stderr}");
    // Pointed at the clients the spec lists, and naming them.
    assert!(stderr.contains("cluster.yaml:"), "{stderr}");
    assert!(
        stderr.contains("tls.clients names apiserver-etcd-client"),
        "{stderr}"
    );
}

#[test]
fn the_exported_profile_is_complete_without_its_base_and_holds_only_what_it_uses() {
    let dir = tempfile::tempdir().unwrap();
    let exported = dir.path().join("profiles/kubeadm-static-pod");
    kindling()
        .args(["profile", "export", "kubeadm-static-pod"])
        .arg(&exported)
        .assert()
        .success();
    for unused in [
        "etcd.service.hbs",
        "sysupdate-transfer.conf.hbs",
        "etcd.env.hbs",
    ] {
        assert!(!exported.join(unused).exists(), "{unused} was exported");
    }
    // Without `templates_from`, every template must come from the exported directory.
    let manifest = exported.join("profile.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(text.contains("templates_from: flatcar-sysext\n"));
    std::fs::write(
        &manifest,
        text.replace("templates_from: flatcar-sysext\n", ""),
    )
    .unwrap();
    let out = dir.path().join("out");
    kindling()
        .arg("render")
        .arg(golden("kubeadm").join("cluster.yaml"))
        .arg("-o")
        .arg(&out)
        .arg("--profiles")
        .arg(dir.path().join("profiles"))
        .assert()
        .success();
    assert_eq!(
        common::snapshot(&out),
        common::snapshot(&golden("kubeadm").join("expected"))
    );
}
