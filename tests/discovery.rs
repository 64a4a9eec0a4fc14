//! `discovery:` clusters without booting them: the metadata variables each platform's
//! members read are the ones Flatcar documents, the plan checks name their lines, and the
//! zone `kindling dns` prints is one a DNS server loads (BIND's named-checkzone). Booting
//! them is tests/boot.rs's (`one_config_…`).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use common::{golden, kindling, scratch_copy};
use kindling::resolve::discovery::PLATFORMS;
use serde_json::Value;

fn main() {
    let arguments = libtest_mimic::Arguments::from_args();
    let trials = vec![
        common::trial(
            "every_platform_reads_the_variables_flatcar_documents_for_it",
            &[],
            every_platform_reads_the_variables_flatcar_documents_for_it,
        ),
        common::trial(
            "discovery_plans_that_cannot_work_are_refused_at_their_lines",
            &[],
            discovery_plans_that_cannot_work_are_refused_at_their_lines,
        ),
        common::trial(
            "the_zone_is_what_the_golden_holds_and_bind_loads_it",
            &["named-checkzone"],
            the_zone_is_what_the_golden_holds_and_bind_loads_it,
        ),
        common::trial(
            "matchbox_serves_the_one_config_to_every_machine_with_the_cluster_label",
            &[],
            matchbox_serves_the_one_config_to_every_machine_with_the_cluster_label,
        ),
        common::trial(
            "join_and_restore_say_why_they_do_not_apply_to_a_discovery_cluster",
            &[],
            join_and_restore_say_why_they_do_not_apply_to_a_discovery_cluster,
        ),
        common::trial(
            "a_shared_certificate_without_the_domain_names_is_refused",
            &["openssl"],
            a_shared_certificate_without_the_domain_names_is_refused,
        ),
        common::trial(
            "check_golden_compares_the_one_config",
            &[],
            check_golden_compares_the_one_config,
        ),
    ];
    libtest_mimic::run(&arguments, trials).exit();
}

/// Afterburn's attributes per platform, as tests/discovery/metadata-attributes.md copies them.
fn documented() -> BTreeMap<String, Vec<String>> {
    let text =
        std::fs::read_to_string(common::repo().join("tests/discovery/metadata-attributes.md"))
            .unwrap();
    text.lines()
        .filter_map(|line| line.split_once(": AFTERBURN_"))
        .map(|(platform, _)| {
            let names = text
                .lines()
                .find(|l| l.starts_with(&format!("{platform}: ")))
                .unwrap()
                .split_whitespace()
                .skip(1)
                .map(String::from)
                .collect();
            (platform.to_string(), names)
        })
        .collect()
}

/// Flatcar's name of an Afterburn attribute, by the rule its documentation states.
fn flatcar_name(afterburn: &str) -> String {
    afterburn
        .replacen("AFTERBURN_", "COREOS_", 1)
        .replacen("_AWS_", "_EC2_", 1)
        .replacen("_GCP_", "_GCE_", 1)
}

/// The member script rendered for `address`, from golden/discovery.
fn member_script(address: &str) -> String {
    let dir = scratch_copy("discovery");
    let spec = dir.path().join("cluster.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(
        &spec,
        text.replace(
            "discovery:\n",
            &format!("discovery:\n  address: {address}\n"),
        ),
    )
    .unwrap();
    let output = kindling()
        .args(["render"])
        .arg(&spec)
        .args(["-o", "-", "--node", "members"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", common::text(&output));
    let config: Value = serde_json::from_slice(&output.stdout).unwrap();
    let file = config["storage"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "/opt/bin/kindling-etcd-member")
        .unwrap();
    let source = file["contents"]["source"].as_str().unwrap();
    String::from_utf8(kindling::ignition::dataurl::decode(source).unwrap()).unwrap()
}

fn every_platform_reads_the_variables_flatcar_documents_for_it() {
    let documented = documented();
    assert!(PLATFORMS.len() >= 7);
    for platform in PLATFORMS {
        let afterburn = if platform.name == "equinixmetal" {
            "packet"
        } else {
            platform.name
        };
        let names: Vec<String> = documented[afterburn]
            .iter()
            .map(|n| flatcar_name(n))
            .collect();
        let script = member_script(platform.name);
        for variable in platform.hostname.iter().chain([&platform.private_ipv4]) {
            assert!(
                names.contains(&variable.to_string()),
                "{}: {variable} is not in {names:?}",
                platform.name
            );
        }
        assert!(
            script.contains(&format!("ipv4_var={}\n", platform.private_ipv4)),
            "{}",
            platform.name
        );
        assert!(
            script.contains(&format!(
                "hostname_var={}\n",
                platform.hostname.unwrap_or("")
            )),
            "{}",
            platform.name
        );
    }
    let dhcp = member_script("dhcp");
    assert!(dhcp.contains("hostname_var=\nipv4_var=\n"));
}

/// The run failed (exit 1) naming `code`.
fn assert_refused(output: &Output, code: &str) {
    assert_eq!(output.status.code(), Some(1), "{}", common::text(output));
    assert!(
        common::text(output).contains(code),
        "no {code}: {}",
        common::text(output)
    );
}

fn check(dir: &Path) -> Output {
    kindling()
        .args(["--format", "json", "check"])
        .arg(dir.join("cluster.yaml"))
        .output()
        .unwrap()
}

/// (code, line) of every error.
fn errors(output: &Output) -> Vec<(String, u64)> {
    let all: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&output.stderr)));
    all.as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// Edits to golden/discovery's spec, the code they must raise, and its line.
type SpecCase = (&'static [(&'static str, &'static str)], &'static str, u64);

fn discovery_plans_that_cannot_work_are_refused_at_their_lines() {
    let golden_case = check(&golden("discovery"));
    assert_eq!(
        golden_case.status.code(),
        Some(0),
        "{}",
        common::text(&golden_case)
    );
    let cases: &[SpecCase] = &[
        (
            &[(
                "    - { name: etcd3 }\n",
                "nodes:\n  - { name: x, ip: 10.0.0.9 }\n",
            )],
            "discovery.nodes",
            22,
        ),
        (
            &[("  domain: etcd.example.net\n", "")],
            "discovery.domain",
            17,
        ),
        (
            &[("    - { name: etcd3 }\n", "    - { name: etcd1 }\n")],
            "discovery.bootstrap",
            21,
        ),
        (
            &[("    - { name: etcd3 }\n", "    - { name: Etcd_3 }\n")],
            "discovery.bootstrap",
            21,
        ),
        (
            &[("    - { name: etcd3 }\n", "")],
            "discovery.bootstrap",
            19,
        ),
        (
            &[(
                "{ name: etcd1, ip: 10.0.0.11 }",
                "{ name: etcd1, ip: 10.0.0.256 }",
            )],
            "discovery.bootstrap-ip",
            19,
        ),
        (
            &[("discovery:\n", "discovery:\n  address: ec2\n")],
            "discovery.address",
            18,
        ),
        (
            &[("backup: {}\n", "backup: {}\nfirewall: {}\n")],
            "discovery.unsupported",
            17,
        ),
        (
            &[(
                "profile: flatcar-sysext\n",
                "profile: flatcar-container\ncontainer: { image: \"quay.io/coreos/etcd:v3.5.21@sha256:0000000000000000000000000000000000000000000000000000000000000000\" }\n",
            )],
            "discovery.unsupported",
            6,
        ),
        (
            &[(
                "  version: v3.5.21\n",
                "  version: v3.5.21\n  config: file\n",
            )],
            "discovery.unsupported",
            9,
        ),
    ];
    for (edits, code, line) in cases {
        let dir = scratch_copy("discovery");
        let spec = dir.path().join("cluster.yaml");
        let mut text = std::fs::read_to_string(&spec).unwrap();
        for (old, new) in *edits {
            assert!(text.contains(old), "{old:?}");
            text = text.replace(old, new);
        }
        std::fs::write(&spec, text).unwrap();
        let output = check(dir.path());
        assert_eq!(
            output.status.code(),
            Some(1),
            "{code}: {}",
            common::text(&output)
        );
        assert!(
            errors(&output).contains(&(code.to_string(), *line)),
            "{code} at line {line}: {:?}",
            errors(&output)
        );
    }
}

fn the_zone_is_what_the_golden_holds_and_bind_loads_it() {
    let output = kindling()
        .args(["dns"])
        .arg(golden("discovery").join("cluster.yaml"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", common::text(&output));
    let zone = String::from_utf8(output.stdout).unwrap();
    let expected = std::fs::read_to_string(golden("discovery").join("dns.zone")).unwrap();
    assert_eq!(
        zone, expected,
        "kindling dns differs from golden/discovery/dns.zone"
    );
    // Pasted into a zone that has its SOA and NS records, BIND loads it: three SRV targets of
    // each service, A records for the two founders the spec gives addresses.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("zone");
    std::fs::write(
        &file,
        format!("$ORIGIN etcd.example.net.\n$TTL 300\n@ IN SOA ns.example. hostmaster.example. 1 3600 600 86400 300\n@ IN NS ns.example.\n{zone}"),
    )
    .unwrap();
    let loaded = std::process::Command::new("named-checkzone")
        .args(["-D", "-i", "local", "etcd.example.net"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(loaded.status.success(), "{}", common::text(&loaded));
    let records = String::from_utf8_lossy(&loaded.stdout);
    for (service, port) in [("_etcd-server-ssl", 2380), ("_etcd-client-ssl", 2379)] {
        for n in 1..=3 {
            let want = format!("{service}._tcp.etcd.example.net.");
            assert!(
                records.lines().any(|l| l.starts_with(&want)
                    && l.ends_with(&format!("SRV\t0 0 {port} etcd{n}.etcd.example.net."))),
                "{service} etcd{n}: {records}"
            );
        }
    }
    assert!(records.contains("etcd1.etcd.example.net.") && records.contains("10.0.0.11"));
    // A listed cluster with a domain gets the A records of its members' names, and one
    // without a domain is told it needs none.
    let listed = kindling()
        .args(["dns"])
        .arg(golden("five-node-fqdn").join("cluster.yaml"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains("eu1-a IN A 10.20.1.10\n"));
    let none = kindling()
        .args(["--format", "json", "dns"])
        .arg(golden("three-node").join("cluster.yaml"))
        .output()
        .unwrap();
    assert_refused(&none, "dns.domain");
}

fn matchbox_serves_the_one_config_to_every_machine_with_the_cluster_label() {
    let dir = scratch_copy("discovery");
    let spec = dir.path().join("cluster.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(
        &spec,
        text.replace(
            "backup: {}\n",
            "backup: {}\nmatchbox: { url: \"http://matchbox.example.com:8080\", version: 4230.2.3 }\n",
        ),
    )
    .unwrap();
    let tree = dir.path().join("matchbox");
    let made = kindling()
        .args(["matchbox"])
        .arg(&spec)
        .arg("-o")
        .arg(&tree)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", common::text(&made));
    let json = |path: &str| -> Value {
        serde_json::from_slice(&std::fs::read(tree.join(path)).unwrap()).unwrap()
    };
    let group = json("groups/fleet-members.json");
    assert_eq!(
        group["selector"],
        serde_json::json!({ "etcd-cluster": "fleet" })
    );
    assert_eq!(group["profile"], "fleet-members");
    let profile = json("profiles/fleet-members.json");
    let args = profile["boot"]["args"].to_string();
    assert!(
        args.contains("/ignition?uuid=${uuid}&mac=${mac:hexhyp}&etcd-cluster=fleet"),
        "{args}"
    );
    let rendered = kindling()
        .args(["render"])
        .arg(&spec)
        .args(["-o", "-", "--node", "members"])
        .output()
        .unwrap();
    assert_eq!(
        std::fs::read(tree.join("ignition/fleet-members.ign")).unwrap(),
        rendered.stdout
    );
    let checked = check(dir.path());
    assert_eq!(checked.status.code(), Some(0), "{}", common::text(&checked));
}

fn join_and_restore_say_why_they_do_not_apply_to_a_discovery_cluster() {
    let dir = scratch_copy("discovery");
    let spec = dir.path().join("cluster.yaml");
    let join = kindling()
        .args(["--format", "json", "join"])
        .arg(&spec)
        .output()
        .unwrap();
    assert_refused(&join, "join.discovery");
    let snapshot = dir.path().join("snap.db");
    std::fs::write(&snapshot, b"not a snapshot").unwrap();
    let out = dir.path().join("out");
    let restore = kindling()
        .args(["--format", "json", "restore"])
        .arg(&spec)
        .arg("--snapshot")
        .arg(&snapshot)
        .args([
            "--snapshot-url",
            "http://matchbox.example.com:8080/snap.db",
            "-o",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert_refused(&restore, "restore.discovery");
    assert!(!out.exists(), "nothing written");
}

fn a_shared_certificate_without_the_domain_names_is_refused() {
    use common::openssl::{Form, Key, Openssl, member_extensions};
    let dir = scratch_copy("discovery");
    common::protect_keys(dir.path());
    let openssl = Openssl { dir: dir.path() };
    // What an operator's openssl recipe might make for "every member": the domain, no
    // wildcard for the members' own names.
    for role in ["server", "peer"] {
        let key = format!("pki/nodes/members/{role}.key");
        let cert = format!("pki/nodes/members/{role}.crt");
        openssl.new_key(&key, Key::P256, Form::Pkcs8);
        openssl.leaf(
            &key,
            &cert,
            "/CN=members",
            &member_extensions("DNS:etcd.example.net,DNS:localhost,IP:127.0.0.1"),
            ("pki/ca.crt", "pki/ca.key"),
            &[],
        );
    }
    common::protect_keys(dir.path());
    let output = check(dir.path());
    assert_eq!(output.status.code(), Some(1), "{}", common::text(&output));
    let all: Value = serde_json::from_slice(&output.stdout).unwrap();
    let missing: Vec<&Value> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "tls.san-missing")
        .collect();
    assert!(!missing.is_empty(), "{all}");
    assert!(
        missing.iter().all(|f| f["message"]
            .as_str()
            .unwrap()
            .contains("*.etcd.example.net")),
        "{missing:?}"
    );
}

fn check_golden_compares_the_one_config() {
    let dir = scratch_copy("discovery");
    common::protect_keys(dir.path());
    let output = kindling()
        .args(["check"])
        .arg(dir.path().join("cluster.yaml"))
        .arg("--golden")
        .arg(golden("discovery").join("expected"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", common::text(&output));
    let drifted = scratch_copy("discovery");
    common::protect_keys(drifted.path());
    let spec = drifted.path().join("cluster.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, text.replace("backup: {}\n", "")).unwrap();
    let output = kindling()
        .args(["--format", "json", "check"])
        .arg(&spec)
        .arg("--golden")
        .arg(golden("discovery").join("expected"))
        .output()
        .unwrap();
    assert_refused(&output, "drift.changed");
}
