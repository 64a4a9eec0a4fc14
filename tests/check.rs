//! `kindling check` through the real binary: one failing case per check, built from the
//! golden PKI plus deliberate damage made at test time (wrong SAN, swapped key, expired
//! certificate, foreign CA…), each asserting its code and the spec line it points at.

mod common;

use std::path::Path;
use std::process::Output;

use common::{kindling, scratch_copy};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    SanType,
};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

/// The line of `etcd1` in golden/three-node/cluster.yaml.
const ETCD1_LINE: u64 = 20;

fn check(dir: &Path, extra: &[&str]) -> Output {
    kindling()
        .args(["--format", "json", "check"])
        .arg(dir.join("cluster.yaml"))
        .args(extra)
        .output()
        .unwrap()
}

fn findings(output: &Output) -> Vec<Value> {
    let all: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&output.stderr)));
    all.as_array().unwrap().clone()
}

fn find<'a>(all: &'a [Value], code: &str) -> &'a Value {
    all.iter()
        .find(|f| f["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in {all:?}"))
}

fn edit_spec(dir: &Path, old: &str, new: &str) {
    let path = dir.join("cluster.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(old), "{old:?}");
    std::fs::write(path, text.replacen(old, new, 1)).unwrap();
}

/// What a test certificate should look like; the defaults match what `pki init` makes.
struct Leaf {
    sans: Vec<SanType>,
    usages: Vec<ExtendedKeyUsagePurpose>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

fn etcd1_leaf() -> Leaf {
    let now = OffsetDateTime::now_utc();
    Leaf {
        sans: vec![
            SanType::DnsName("etcd1".try_into().unwrap()),
            SanType::DnsName("localhost".try_into().unwrap()),
            SanType::IpAddress("10.0.0.11".parse().unwrap()),
            SanType::IpAddress("127.0.0.1".parse().unwrap()),
        ],
        usages: vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
        not_before: now - Duration::days(1),
        not_after: now + Duration::days(365),
    }
}

fn golden_issuer(dir: &Path) -> Issuer<'static, KeyPair> {
    let key = KeyPair::from_pem(&std::fs::read_to_string(dir.join("pki/ca.key")).unwrap()).unwrap();
    Issuer::from_ca_cert_pem(
        &std::fs::read_to_string(dir.join("pki/ca.crt")).unwrap(),
        key,
    )
    .unwrap()
}

/// Replaces `pki/nodes/etcd1/<kind>.{crt,key}` with a fresh pair signed by `issuer`.
fn replace_etcd1(dir: &Path, kind: &str, leaf: Leaf, issuer: &Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, "etcd1");
    params.subject_alt_names = leaf.sans;
    params.extended_key_usages = leaf.usages;
    params.not_before = leaf.not_before;
    params.not_after = leaf.not_after;
    let cert = params.signed_by(&key, issuer).unwrap();
    let base = dir.join("pki/nodes/etcd1");
    std::fs::write(base.join(format!("{kind}.crt")), cert.pem()).unwrap();
    std::fs::write(base.join(format!("{kind}.key")), key.serialize_pem()).unwrap();
}

fn assert_error_at_etcd1(output: &Output, code: &str) -> Value {
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let all = findings(output);
    let finding = find(&all, code).clone();
    assert_eq!(finding["severity"], "error");
    assert_eq!(finding["line"], ETCD1_LINE, "{finding}");
    assert!(finding["file"].as_str().unwrap().ends_with("cluster.yaml"));
    finding
}

/// The (code, line) of every warning.
fn warnings(output: &Output) -> Vec<(String, u64)> {
    findings(output)
        .iter()
        .filter(|f| f["severity"] == "warning")
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn the_golden_cluster_passes_with_two_warnings_that_go_away_as_their_hints_say() {
    let dir = scratch_copy("three-node");
    let expected = common::golden("three-node").join("expected");
    let output = check(dir.path(), &["--golden", expected.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "warnings alone pass");
    assert!(findings(&output).iter().all(|f| f["severity"] == "warning"));
    assert_eq!(
        warnings(&output),
        [
            ("sysext.insecure-updates".to_string(), 11),
            ("matchbox.no-install-disk".to_string(), 18),
        ]
    );
    assert_eq!(check(dir.path(), &["--strict"]).status.code(), Some(1));
    // Each warning goes away with what its hint says.
    edit_spec(dir.path(), "base_url: http://", "base_url: https://");
    edit_spec(
        dir.path(),
        "version: 4230.2.3 }",
        "version: 4230.2.3, install_disk: /dev/sda }",
    );
    assert_eq!(check(dir.path(), &["--strict"]).status.code(), Some(0));
    assert_eq!(findings(&check(dir.path(), &[])), Vec::<Value>::new());
}

/// A copy of three-node with nothing to warn about: images over https, an install disk.
fn clean_three_node() -> tempfile::TempDir {
    let dir = scratch_copy("three-node");
    edit_spec(dir.path(), "base_url: http://", "base_url: https://");
    edit_spec(
        dir.path(),
        "version: 4230.2.3 }",
        "version: 4230.2.3, install_disk: /dev/sda }",
    );
    dir
}

#[test]
fn fqdn_members_without_a_way_to_resolve_them_are_warned_about() {
    let dir = scratch_copy("five-node-fqdn");
    let output = check(dir.path(), &[]);
    assert_eq!(
        warnings(&output),
        [
            ("etcd.metrics-exposed".to_string(), 12),
            ("network.unresolved-peers".to_string(), 6),
        ]
    );
    edit_spec(
        dir.path(),
        "network: { subnet: \"10.20.0.0/16\" }",
        "network: { subnet: \"10.20.0.0/16\", hosts_file: true }",
    );
    assert!(
        !warnings(&check(dir.path(), &[]))
            .iter()
            .any(|(c, _)| c == "network.unresolved-peers")
    );
}

#[test]
fn an_update_path_from_an_old_3_5_patch_to_3_6_is_warned_about() {
    // By the spec: `track: any` lets sysupdate jump from v3.5.19 to 3.6.
    let dir = scratch_copy("three-node");
    edit_spec(
        dir.path(),
        "  sha256sums: SHA256SUMS\n",
        "  sha256sums: SHA256SUMS\n  update: { track: any }\n",
    );
    let old = "etcd-v3.5.21-x86-64.raw";
    let sums = std::fs::read_to_string(dir.path().join("SHA256SUMS")).unwrap();
    std::fs::write(
        dir.path().join("SHA256SUMS"),
        sums.replace(old, "etcd-v3.5.19-x86-64.raw"),
    )
    .unwrap();
    edit_spec(dir.path(), "version: v3.5.21", "version: v3.5.19");
    assert!(warnings(&check(dir.path(), &[])).contains(&("etcd.upgrade-path".to_string(), 7)));
    edit_spec(
        dir.path(),
        "update: { track: any }",
        "update: { track: minor }",
    );
    assert!(
        !warnings(&check(dir.path(), &[]))
            .iter()
            .any(|(c, _)| c == "etcd.upgrade-path")
    );

    // By the committed configs: they install v3.5.19, the spec now v3.6.5.
    let committed = dir.path().join("committed");
    let rendered = kindling()
        .arg("render")
        .arg(dir.path().join("cluster.yaml"))
        .arg("-o")
        .arg(&committed)
        .output()
        .unwrap();
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let sums = std::fs::read_to_string(dir.path().join("SHA256SUMS")).unwrap();
    std::fs::write(
        dir.path().join("SHA256SUMS"),
        format!("{sums}{}", sums.replace("etcd-v3.5.19", "etcd-v3.6.5")),
    )
    .unwrap();
    edit_spec(dir.path(), "version: v3.5.19", "version: v3.6.5");
    let output = check(dir.path(), &["--golden", committed.to_str().unwrap()]);
    let upgrade = find(&findings(&output), "etcd.upgrade-path").clone();
    assert_eq!(upgrade["severity"], "warning");
    assert!(
        upgrade["message"]
            .as_str()
            .unwrap()
            .contains("v3.5.19 straight to v3.6"),
        "{upgrade}"
    );
}

#[test]
fn a_key_that_belongs_to_another_cert() {
    let dir = scratch_copy("three-node");
    let nodes = dir.path().join("pki/nodes");
    std::fs::copy(
        nodes.join("etcd2/server.key"),
        nodes.join("etcd1/server.key"),
    )
    .unwrap();
    let finding = assert_error_at_etcd1(&check(dir.path(), &[]), "tls.key-mismatch");
    assert!(
        finding["message"]
            .as_str()
            .unwrap()
            .contains("etcd1/server.key")
    );
}

#[test]
fn a_cert_from_another_ca() {
    let dir = scratch_copy("three-node");
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "k8s0 etcd CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let foreign = Issuer::new(params, KeyPair::generate().unwrap());
    replace_etcd1(dir.path(), "peer", etcd1_leaf(), &foreign);
    assert_error_at_etcd1(&check(dir.path(), &[]), "tls.chain");
}

#[test]
fn a_ca_that_is_not_a_ca() {
    let dir = scratch_copy("three-node");
    let key_pem = std::fs::read_to_string(dir.path().join("pki/ca.key")).unwrap();
    let key = KeyPair::from_pem(&key_pem).unwrap();
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "k8s0 etcd CA");
    params.is_ca = IsCa::NoCa;
    std::fs::write(
        dir.path().join("pki/ca.crt"),
        params.self_signed(&key).unwrap().pem(),
    )
    .unwrap();
    let output = check(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(1));
    let all = findings(&output);
    assert!(
        find(&all, "tls.ca-not-ca")["message"]
            .as_str()
            .unwrap()
            .contains("ca.crt")
    );
}

#[test]
fn a_peer_cert_without_the_loopback_names() {
    let dir = scratch_copy("three-node");
    let issuer = golden_issuer(dir.path());
    let mut leaf = etcd1_leaf();
    leaf.sans.retain(|s| {
        !matches!(s, SanType::IpAddress(ip) if ip.is_loopback())
            && !matches!(s, SanType::DnsName(d) if d.as_str() == "localhost")
    });
    replace_etcd1(dir.path(), "peer", leaf, &issuer);
    let finding = assert_error_at_etcd1(&check(dir.path(), &[]), "tls.san-missing");
    let message = finding["message"].as_str().unwrap();
    assert!(
        message.contains("127.0.0.1") && !message.contains("localhost"),
        "{message}"
    );
}

#[test]
fn an_fqdn_the_cert_does_not_name() {
    let dir = scratch_copy("three-node");
    edit_spec(
        dir.path(),
        "  name: k8s0\n",
        "  name: k8s0\n  domain: kloud.lan\n",
    );
    let output = check(dir.path(), &[]);
    let all = findings(&output);
    let finding = find(&all, "tls.san-missing");
    assert!(
        finding["message"]
            .as_str()
            .unwrap()
            .contains("etcd1.kloud.lan"),
        "{finding}"
    );
}

#[test]
fn a_peer_cert_without_client_auth() {
    let dir = scratch_copy("three-node");
    let issuer = golden_issuer(dir.path());
    let mut leaf = etcd1_leaf();
    leaf.usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    replace_etcd1(dir.path(), "peer", leaf, &issuer);
    let finding = assert_error_at_etcd1(&check(dir.path(), &[]), "tls.usage");
    assert!(finding["message"].as_str().unwrap().contains("clientAuth"));
}

#[test]
fn expired_and_not_yet_valid_certs_are_errors() {
    let now = OffsetDateTime::now_utc();
    for (code, from, to) in [
        (
            "tls.expired",
            now - Duration::days(400),
            now - Duration::days(35),
        ),
        (
            "tls.not-yet-valid",
            now + Duration::days(10),
            now + Duration::days(400),
        ),
    ] {
        let dir = scratch_copy("three-node");
        let issuer = golden_issuer(dir.path());
        let mut leaf = etcd1_leaf();
        leaf.not_before = from;
        leaf.not_after = to;
        replace_etcd1(dir.path(), "server", leaf, &issuer);
        assert_error_at_etcd1(&check(dir.path(), &[]), code);
        let render = kindling()
            .arg("render")
            .arg(dir.path().join("cluster.yaml"))
            .arg("-o")
            .arg(dir.path().join("out"))
            .output()
            .unwrap();
        assert_eq!(
            render.status.code(),
            Some(1),
            "render refuses what check calls an error"
        );
        assert!(!dir.path().join("out").exists());
    }
}

#[test]
fn a_leaf_outliving_the_ca_is_a_warning() {
    let dir = scratch_copy("three-node");
    let issuer = golden_issuer(dir.path());
    let mut leaf = etcd1_leaf();
    // The golden CA lasts a century; this leaf lasts longer.
    leaf.not_after = OffsetDateTime::now_utc() + Duration::days(365 * 150);
    replace_etcd1(dir.path(), "peer", leaf, &issuer);
    let output = check(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(0));
    let all = findings(&output);
    let finding = find(&all, "tls.outlives-ca");
    assert_eq!(finding["severity"], "warning");
    assert_eq!(finding["line"], ETCD1_LINE, "{finding}");
}

#[test]
fn a_cert_expiring_soon_is_a_warning_within_the_window() {
    let dir = scratch_copy("three-node");
    let issuer = golden_issuer(dir.path());
    let mut leaf = etcd1_leaf();
    leaf.not_after = OffsetDateTime::now_utc() + Duration::days(10);
    replace_etcd1(dir.path(), "server", leaf, &issuer);
    let output = check(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(0), "a warning alone passes");
    assert_eq!(
        find(&findings(&output), "tls.expiring")["severity"],
        "warning"
    );
    assert_eq!(check(dir.path(), &["--strict"]).status.code(), Some(1));
    let narrow = check(dir.path(), &["--expiry-days", "5"]);
    assert!(
        !warnings(&narrow)
            .iter()
            .any(|(code, _)| code == "tls.expiring")
    );
}

#[test]
fn a_weak_rsa_key_is_a_warning() {
    let has_openssl = std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_openssl {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "openssl is needed to make an RSA-1024 certificate"
        );
        eprintln!("!!! SKIPPED: openssl not installed");
        return;
    }
    let dir = scratch_copy("three-node");
    let base = dir.path().join("pki/nodes/etcd1");
    let ext = dir.path().join("ext.cnf");
    std::fs::write(&ext, "subjectAltName=DNS:etcd1,DNS:localhost,IP:10.0.0.11,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n").unwrap();
    let run = |args: &[&str]| {
        assert!(
            std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap()
                .status
                .success(),
            "openssl {args:?}"
        )
    };
    let key = base.join("server.key");
    let csr = dir.path().join("server.csr");
    let cert = base.join("server.crt");
    run(&[
        "req",
        "-new",
        "-newkey",
        "rsa:1024",
        "-nodes",
        "-subj",
        "/CN=etcd1",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        csr.to_str().unwrap(),
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        csr.to_str().unwrap(),
        "-CA",
        "pki/ca.crt",
        "-CAkey",
        "pki/ca.key",
        "-CAcreateserial",
        "-days",
        "90",
        "-extfile",
        ext.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
    ]);
    let output = check(dir.path(), &[]);
    let all = findings(&output);
    let finding = find(&all, "tls.weak-key");
    assert_eq!(finding["severity"], "warning");
    assert_eq!(finding["line"], ETCD1_LINE);
}

#[test]
fn member_counts_get_the_quorum_table() {
    let dir = scratch_copy("three-node");
    edit_spec(
        dir.path(),
        "  - { name: etcd3, ip: 10.0.0.13, mac: \"52:54:00:00:00:13\" }\n",
        "",
    );
    let output = check(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(0));
    let all = findings(&output);
    let even = find(&all, "etcd.even-members");
    assert!(
        even["help"]
            .as_str()
            .unwrap()
            .contains("2 (2, 0) <- this cluster, 3 (2, 1)"),
        "{even}"
    );
    let printed = kindling()
        .args(["check"])
        .arg(dir.path().join("cluster.yaml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&printed.stderr);
    assert!(
        !stderr.contains("more bytes"),
        "a help line was cut: {stderr}"
    );
    let single = kindling()
        .args(["--format", "json", "check"])
        .arg(common::golden("single-node").join("cluster.yaml"))
        .output()
        .unwrap();
    assert_eq!(
        find(&findings(&single), "etcd.single-member")["severity"],
        "warning"
    );
}

#[test]
fn etcd_settings_that_would_bite() {
    let dir = scratch_copy("three-node");
    edit_spec(
        dir.path(),
        "ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK: \"true\"",
        "ETCD_DISCOVERY_SRV: kloud.lan",
    );
    let finding = find(&findings(&check(dir.path(), &[])), "etcd.discovery-mixed").clone();
    assert_eq!(
        (finding["severity"].as_str(), finding["line"].as_u64()),
        (Some("error"), Some(9))
    );

    let dir = scratch_copy("three-node");
    edit_spec(
        dir.path(),
        "  gomaxprocs: 2\n",
        "  gomaxprocs: 2\n  quota_backend_bytes: 10737418240\n  metrics_listen: node\n",
    );
    let all = findings(&check(dir.path(), &[]));
    assert_eq!(find(&all, "etcd.quota-large")["line"], 9);
    assert_eq!(find(&all, "etcd.metrics-exposed")["line"], 10);
}

#[test]
fn a_sysext_hash_problem_is_reported_by_check() {
    let dir = scratch_copy("three-node");
    edit_spec(dir.path(), "  version: v3.5.21\n", "  version: v3.5.22\n");
    let output = check(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        find(&findings(&output), "sysext.sha256sums-entry")["line"],
        12
    );
}

#[test]
fn drift_shows_a_readable_diff_without_key_material() {
    let dir = scratch_copy("three-node");
    edit_spec(dir.path(), "gomaxprocs: 2", "gomaxprocs: 3");
    let issuer = golden_issuer(dir.path());
    replace_etcd1(dir.path(), "server", etcd1_leaf(), &issuer);
    let new_key = std::fs::read_to_string(dir.path().join("pki/nodes/etcd1/server.key")).unwrap();
    let old_key =
        std::fs::read_to_string(common::golden("three-node").join("pki/nodes/etcd1/server.key"))
            .unwrap();
    let golden = dir.path().join("committed");
    common::copy_tree(
        &common::golden("three-node").join("expected"),
        &golden,
        &|_| false,
    );
    let output = check(dir.path(), &["--golden", golden.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let all = findings(&output);
    let drift = all
        .iter()
        .find(|f| f["code"] == "drift.changed" && f["message"].as_str().unwrap().contains("etcd1"))
        .expect("etcd1 drifted");
    let message = drift["message"].as_str().unwrap();
    let changed = |sign: &str, text: &str| {
        message.lines().any(|l| {
            l.trim_start()
                .strip_prefix(sign)
                .is_some_and(|rest| rest.trim() == text)
        })
    };
    assert!(
        changed("-", "GOMAXPROCS=2") && changed("+", "GOMAXPROCS=3"),
        "{message}"
    );
    assert!(
        message.contains("[private key redacted, fingerprint "),
        "{message}"
    );
    for key in [&new_key, &old_key] {
        for line in key.lines().filter(|l| !l.starts_with("-----")) {
            assert!(
                !stderr.contains(line),
                "private key material leaked into the output"
            );
        }
    }
    std::fs::remove_file(golden.join("etcd3.ign")).unwrap();
    assert!(
        findings(&check(dir.path(), &["--golden", golden.to_str().unwrap()]))
            .iter()
            .any(|f| f["code"] == "drift.missing")
    );
}

#[test]
fn human_output_says_when_all_is_well() {
    let dir = clean_three_node();
    let output = kindling()
        .arg("check")
        .arg(dir.path().join("cluster.yaml"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no problems found"));
}

#[test]
fn etcd_3_6_deprecated_names_warn_and_both_names_fail() {
    let dir = scratch_copy("five-node-fqdn");
    let spec = dir.path().join("cluster.yaml");
    let env_line = std::fs::read_to_string(&spec)
        .unwrap()
        .lines()
        .position(|l| l.trim_start().starts_with("env:"))
        .unwrap() as u64
        + 1;
    edit_spec(
        dir.path(),
        "env: { ETCD_FEATURE_GATES",
        "env: { ETCD_EXPERIMENTAL_CORRUPT_CHECK_TIME: 5m, ETCD_FEATURE_GATES",
    );
    let output = check(dir.path(), &[]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "deprecated alone is a warning"
    );
    let deprecated = find(&findings(&output), "etcd.env-deprecated").clone();
    assert_eq!(deprecated["line"], env_line);
    assert!(
        deprecated["help"]
            .as_str()
            .unwrap()
            .contains("ETCD_CORRUPT_CHECK_TIME")
    );

    edit_spec(
        dir.path(),
        "ETCD_EXPERIMENTAL_CORRUPT_CHECK_TIME: 5m",
        "ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK: \"true\"",
    );
    let output = check(dir.path(), &[]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "the feature gate InitialCorruptCheck is set too"
    );
    assert_eq!(
        find(&findings(&output), "etcd.env-both-names")["line"],
        env_line
    );
}

#[test]
fn a_joining_node_gets_its_member_add_printed_and_join_says_when_there_is_none() {
    let dir = scratch_copy("three-node");
    let none = kindling()
        .args(["--format", "json", "join"])
        .arg(dir.path().join("cluster.yaml"))
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(1));
    assert_eq!(findings(&none)[0]["code"], "join.none");

    edit_spec(
        dir.path(),
        "  name: k8s0\n",
        "  name: k8s0\n  state: existing\n",
    );
    let spec = dir.path().join("cluster.yaml");
    let text = std::fs::read_to_string(&spec).unwrap()
        + "  - { name: etcd4, ip: 10.0.0.14, join: true }\n";
    std::fs::write(&spec, text).unwrap();
    assert!(
        kindling()
            .args(["pki", "init"])
            .arg(&spec)
            .output()
            .unwrap()
            .status
            .success()
    );
    let command = "etcdctl member add etcd4 --peer-urls=https://10.0.0.14:2380";
    let joined = kindling().arg("join").arg(&spec).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&joined.stdout),
        format!("{command}\n")
    );
    let checked = kindling().arg("check").arg(&spec).output().unwrap();
    assert_eq!(checked.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&checked.stderr).contains(command));
}

/// `kindling check` applies the cluster's lints whatever runs etcd: the same spec under each
/// built-in profile (their extra sections appended, so no line moves) gets the same
/// findings, errors and warnings alike.
#[test]
fn every_profile_gets_the_same_cluster_lints() {
    let pinned = format!(
        "container: {{ image: \"registry.k8s.io/etcd:3.5.21-0@sha256:{}\" }}\n",
        "a".repeat(64)
    );
    let kubelet = "kubelet: { version: v1.34.2, sysext: { base_url: \"https://x/\", allow_unverified: true } }\n";
    let variants = [
        ("flatcar-sysext", String::new()),
        ("flatcar-container", pinned.clone()),
        ("kubeadm-static-pod", format!("{pinned}{kubelet}")),
    ];
    let foreign = {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "k8s0 etcd CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        Issuer::new(params, KeyPair::generate().unwrap())
    };
    let mut seen = Vec::new();
    for (profile, extra) in &variants {
        let dir = scratch_copy("three-node");
        // Two members (a quorum table warning) and a peer certificate from another CA.
        edit_spec(
            dir.path(),
            "  - { name: etcd3, ip: 10.0.0.13, mac: \"52:54:00:00:00:13\" }\n",
            extra,
        );
        edit_spec(
            dir.path(),
            "profile: flatcar-sysext",
            &format!("profile: {profile}"),
        );
        replace_etcd1(dir.path(), "peer", etcd1_leaf(), &foreign);
        let output = check(dir.path(), &[]);
        assert_eq!(output.status.code(), Some(1), "{profile}");
        let mut codes: Vec<(String, String, u64)> = findings(&output)
            .iter()
            .map(|f| {
                (
                    f["code"].as_str().unwrap().to_string(),
                    f["severity"].as_str().unwrap().to_string(),
                    f["line"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        codes.sort();
        seen.push((profile, codes));
    }
    let (_, first) = &seen[0];
    let has = |code: &str| first.iter().any(|(c, _, _)| c == code);
    assert!(has("tls.chain") && has("etcd.even-members"), "{first:?}");
    for (profile, codes) in &seen[1..] {
        assert_eq!(codes, first, "{profile} lints differently");
    }
}

/// Edits of golden/monitored's spec, the code they must bring and the line it must name.
type SpecCase = (&'static [(&'static str, &'static str)], &'static str, u64);

/// A copy of golden/monitored (Prometheus over the client port, a firewall) with `edits`.
fn monitored_with(edits: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = scratch_copy("monitored");
    for (old, new) in edits {
        edit_spec(dir.path(), old, new);
    }
    dir
}

#[test]
fn monitoring_and_firewall_mistakes_are_refused_at_their_lines() {
    let cases: &[SpecCase] = &[
        (
            &[("client: prometheus", "client: prometeus")],
            "monitoring.client",
            19,
        ),
        (
            &[("  client: prometheus\n", "")],
            "monitoring.client-required",
            19,
        ),
        (
            &[("scrape_from: [10.0.9.5]", "scrape_from: [10.0.9.5/24]")],
            "monitoring.cidr",
            20,
        ),
        (
            &[(
                "  client: prometheus\n",
                "  client: prometheus\n  scrape_interval: 5m\n",
            )],
            "monitoring.scrape-interval",
            20,
        ),
        (
            &[(
                "  client: prometheus\n",
                "  client: prometheus\n  scrape_interval: 30\n",
            )],
            "monitoring.scrape-interval",
            20,
        ),
        (
            &[(
                "  client: prometheus\n",
                "  client: prometheus\n  tls_dir: prometheus\n",
            )],
            "monitoring.tls-dir",
            20,
        ),
        (
            &[("db_size_percent: 75", "db_size_percent: 100")],
            "monitoring.alert-threshold",
            21,
        ),
        (
            &[("db_size_percent: 75", "fsync_seconds: 8.192")],
            "monitoring.alert-threshold",
            21,
        ),
        (
            &[("db_size_percent: 75", "peer_rtt_seconds: 0")],
            "monitoring.alert-threshold",
            21,
        ),
        (
            &[("db_size_percent: 75", "leader_changes: 0")],
            "monitoring.alert-threshold",
            21,
        ),
        (
            &[("db_size_percent: 75", "certificate_critical_days: 60")],
            "monitoring.alert-threshold",
            21,
        ),
        (&[("10.0.8.0/24", "10.0.8.1/24")], "firewall.cidr", 23),
        (&[("10.0.8.0/24", "10.0.8.0/33")], "firewall.cidr", 23),
        (&[("port: 9100", "port: 2379")], "firewall.port", 26),
        (&[("port: 9100", "port: 22")], "firewall.port", 26),
        (
            &[("port: 9100,", "port: 9100, protocol: sctp,")],
            "firewall.protocol",
            26,
        ),
        (
            &[("10.0.8.0/24, 10.0.9.5, ", "10.0.8.0/24, ")],
            "firewall.scrape-dropped",
            20,
        ),
    ];
    for (edits, code, line) in cases {
        let dir = monitored_with(edits);
        let output = check(dir.path(), &[]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{code}: {}",
            common::text(&output)
        );
        let all = findings(&output);
        let finding = find(&all, code);
        assert_eq!(finding["severity"], "error", "{finding}");
        assert_eq!(finding["line"], *line, "{code}: {finding}");
    }
    let typo = monitored_with(&[("client: prometheus", "client: prometeus")]);
    let all = findings(&check(typo.path(), &[]));
    let help = find(&all, "monitoring.client")["help"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(help.contains("\"prometheus\""), "{help}");
}

#[test]
fn monitoring_and_firewall_warnings_name_their_lines_and_the_golden_case_has_none() {
    let golden = check(monitored_with(&[]).path(), &[]);
    assert_eq!(
        warnings(&golden),
        [("sysext.insecure-updates".to_string(), 9)]
    );
    let cases: &[SpecCase] = &[
        (
            &[("  scrape_from: [10.0.9.5]\n", "")],
            "firewall.scrape-unknown",
            19,
        ),
        (
            &[("  ssh_cidrs:", "  metrics_cidrs: [10.0.9.5]\n  ssh_cidrs:")],
            "firewall.metrics-unreachable",
            24,
        ),
        (
            &[(
                "certificate_warning_days: 45",
                "certificate_warning_days: 400",
            )],
            "monitoring.alert-threshold",
            21,
        ),
    ];
    for (edits, code, line) in cases {
        let output = check(monitored_with(edits).path(), &[]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{code}: {}",
            common::text(&output)
        );
        assert!(
            warnings(&output).contains(&(code.to_string(), *line)),
            "{code} at line {line}: {:?}",
            warnings(&output)
        );
    }
    // Metrics on the node's address are exposed without a firewall, not with one.
    let listen = (
        "  version: v3.5.21\n",
        "  version: v3.5.21\n  metrics_listen: node\n",
    );
    let firewalled = check(monitored_with(&[listen]).path(), &[]);
    assert!(
        !warnings(&firewalled)
            .iter()
            .any(|(c, _)| c == "etcd.metrics-exposed")
    );
    let open = monitored_with(&[
        listen,
        (
            "firewall:\n  client_cidrs: [10.0.8.0/24, 10.0.9.5, \"fd00:8::/64\"]\n  ssh_cidrs: [10.0.7.0/24]\n  allow:\n    - { port: 9100, cidrs: [10.0.9.5] }\n",
            "",
        ),
    ]);
    assert!(warnings(&check(open.path(), &[])).contains(&("etcd.metrics-exposed".to_string(), 8)));
}

#[test]
fn with_a_firewall_join_first_lets_the_new_member_through_on_the_running_ones() {
    let dir = monitored_with(&[
        ("  name: k8s0\n", "  name: k8s0\n  state: existing\n"),
        (
            "mac: \"52:54:00:00:00:13\" }\n",
            "mac: \"52:54:00:00:00:13\" }\n  - { name: etcd4, ip: 10.0.0.14, join: true }\n",
        ),
    ]);
    let output = kindling()
        .args(["join", "cluster.yaml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", common::text(&output));
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "# on every running member, before etcd4 boots:\n\
         sudo /opt/bin/kindling-firewall-member etcd4 10.0.0.14\n\
         # then once, against the cluster:\n\
         etcdctl member add etcd4 --peer-urls=https://10.0.0.14:2380\n"
    );
}

#[test]
fn s3_backup_mistakes_are_refused_at_their_lines() {
    let cases: &[SpecCase] = &[
        (
            &[("endpoint: https://", "endpoint: ")],
            "backup.s3-endpoint",
            29,
        ),
        (
            &[(
                "endpoint: https://s3.eu-west-1.amazonaws.com",
                "endpoint: https://s3.eu-west-1.amazonaws.com/k8s0-etcd-backups",
            )],
            "backup.s3-endpoint",
            29,
        ),
        (
            &[("endpoint: https://", "endpoint: https://AKIA:secret@")],
            "backup.s3-endpoint",
            29,
        ),
        (
            &[("bucket: k8s0-etcd-backups", "bucket: K8s0_backups")],
            "backup.s3-bucket",
            30,
        ),
        (
            &[("prefix: etcd/", "prefix: /etcd/")],
            "backup.s3-prefix",
            31,
        ),
        (
            &[("region: eu-west-1", "region: EU West")],
            "backup.s3-region",
            32,
        ),
        (
            &[(
                "region: eu-west-1",
                "region: eu-west-1\n    credentials: backup.env",
            )],
            "backup.s3-credentials",
            33,
        ),
        (
            &[(
                "region: eu-west-1",
                "region: eu-west-1\n    ca_file: \"/etc/my ca.pem\"",
            )],
            "backup.s3-ca-file",
            33,
        ),
        (
            &[("region: eu-west-1", "region: eu-west-1\n    keep: 0")],
            "backup.s3-keep",
            33,
        ),
    ];
    for (edits, code, line) in cases {
        let output = check(monitored_with(edits).path(), &[]);
        let all = findings(&output);
        let finding = find(&all, code);
        assert_eq!(finding["severity"], "error", "{finding}");
        assert_eq!(finding["line"], *line, "{code}: {finding}");
        assert_eq!(output.status.code(), Some(1), "{code}");
    }
    // Snapshots hold every key: a plain-http endpoint is a warning at its line.
    let plain = check(
        monitored_with(&[("endpoint: https://", "endpoint: http://")]).path(),
        &[],
    );
    assert_eq!(plain.status.code(), Some(0));
    assert!(
        warnings(&plain).contains(&("backup.s3-plain-http".to_string(), 29)),
        "{:?}",
        warnings(&plain)
    );
}
