//! `kindling pki init` through the real binary, read back with a real X.509 parser.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{kindling, scratch_copy, snapshot};
use x509_parser::prelude::*;

/// A three-node spec copy without its PKI, so init starts from nothing.
fn fresh_spec() -> tempfile::TempDir {
    let dir = scratch_copy("three-node");
    std::fs::remove_dir_all(dir.path().join("pki")).unwrap();
    dir
}

fn init(dir: &Path, extra: &[&str]) -> std::process::Output {
    kindling()
        .args(["--format", "json", "pki", "init"])
        .arg(dir.join("cluster.yaml"))
        .args(extra)
        .output()
        .unwrap()
}

fn pem_der(path: &Path) -> Vec<u8> {
    let text = std::fs::read(path).unwrap();
    let (_, pem) = parse_x509_pem(&text).unwrap();
    pem.contents
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn creates_a_ca_and_every_leaf_with_the_right_names_and_usages() {
    let dir = fresh_spec();
    assert!(init(dir.path(), &[]).status.success());
    let pki = dir.path().join("pki");
    let ca_der = pem_der(&pki.join("ca.crt"));
    let (_, ca) = X509Certificate::from_der(&ca_der).unwrap();
    assert!(ca.is_ca());
    let ca_days =
        (ca.validity().not_after.timestamp() - ca.validity().not_before.timestamp()) / 86400;
    assert_eq!(ca_days, 3650);
    for node in ["etcd1", "etcd2", "etcd3"] {
        for kind in ["server", "peer"] {
            let der = pem_der(&pki.join(format!("nodes/{node}/{kind}.crt")));
            let (_, cert) = X509Certificate::from_der(&der).unwrap();
            cert.verify_signature(Some(ca.public_key()))
                .expect("signed by the CA");
            let days = (cert.validity().not_after.timestamp()
                - cert.validity().not_before.timestamp())
                / 86400;
            assert_eq!(days, 365);
            let san = cert.subject_alternative_name().unwrap().unwrap().value;
            let names: Vec<String> = san.general_names.iter().map(|n| n.to_string()).collect();
            let ip = format!(
                "IPAddress({})",
                match node {
                    "etcd1" => "0a:00:00:0b",
                    "etcd2" => "0a:00:00:0c",
                    _ => "0a:00:00:0d",
                }
            );
            for wanted in [
                format!("DNSName({node})"),
                "DNSName(localhost)".to_string(),
                ip,
                "IPAddress(7f:00:00:01)".to_string(),
            ] {
                assert!(
                    names.contains(&wanted),
                    "{node}/{kind}: {wanted} missing from {names:?}"
                );
            }
            let eku = cert.extended_key_usage().unwrap().unwrap().value;
            assert!(
                eku.server_auth && eku.client_auth,
                "{node}/{kind}: serverAuth and clientAuth"
            );
            let key = pki.join(format!("nodes/{node}/{kind}.key"));
            assert_eq!(mode(&key), 0o600);
            assert!(
                std::fs::read_to_string(&key)
                    .unwrap()
                    .starts_with("-----BEGIN PRIVATE KEY-----")
            );
            assert_eq!(
                cert.public_key().algorithm.algorithm,
                oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY
            );
        }
    }
    let client_der = pem_der(&pki.join("etcdctl.crt"));
    let (_, client) = X509Certificate::from_der(&client_der).unwrap();
    let eku = client.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);
    assert_eq!(mode(&pki.join("ca.key")), 0o600);
}

#[test]
fn a_domain_adds_the_fqdn_and_validity_flags_are_honoured() {
    let dir = fresh_spec();
    let spec = dir.path().join("cluster.yaml");
    let text = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("  name: k8s0\n", "  name: k8s0\n  domain: kloud.lan\n");
    std::fs::write(&spec, text).unwrap();
    assert!(
        init(dir.path(), &["--leaf-days", "30", "--ca-days", "60"])
            .status
            .success()
    );
    let der = pem_der(&dir.path().join("pki/nodes/etcd2/peer.crt"));
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    let names: Vec<String> = cert
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert!(
        names.contains(&"DNSName(etcd2.kloud.lan)".to_string()),
        "{names:?}"
    );
    assert_eq!(
        (cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp()) / 86400,
        30
    );
}

#[test]
fn running_again_creates_only_what_is_missing_and_never_overwrites() {
    let dir = fresh_spec();
    assert!(init(dir.path(), &[]).status.success());
    let before = snapshot(&dir.path().join("pki"));
    let again = init(dir.path(), &[]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("0 file(s) created, 16 kept"));
    assert_eq!(
        snapshot(&dir.path().join("pki")),
        before,
        "a second run changes nothing"
    );

    let spec = dir.path().join("cluster.yaml");
    let text = std::fs::read_to_string(&spec).unwrap() + "  - { name: etcd4, ip: 10.0.0.14 }\n";
    std::fs::write(&spec, text).unwrap();
    assert!(init(dir.path(), &[]).status.success());
    let after = snapshot(&dir.path().join("pki"));
    let added: Vec<String> = after
        .iter()
        .filter(|f| !before.contains(f))
        .map(|(p, _)| p.display().to_string())
        .collect();
    assert_eq!(
        added,
        [
            "nodes/etcd4/peer.crt",
            "nodes/etcd4/peer.key",
            "nodes/etcd4/server.crt",
            "nodes/etcd4/server.key",
            "proven"
        ],
        "only the new pairs, and the record of proven pairs now listing them"
    );
    assert_eq!(proven_lines(dir.path()), 1 + 2 * 4);
    let ca_der = pem_der(&dir.path().join("pki/ca.crt"));
    let (_, ca) = X509Certificate::from_der(&ca_der).unwrap();
    let new_der = pem_der(&dir.path().join("pki/nodes/etcd4/server.crt"));
    let (_, new_cert) = X509Certificate::from_der(&new_der).unwrap();
    new_cert
        .verify_signature(Some(ca.public_key()))
        .expect("the new node is signed by the existing CA");
}

#[test]
fn a_half_pair_is_an_error_and_nothing_is_written() {
    let dir = fresh_spec();
    assert!(init(dir.path(), &[]).status.success());
    std::fs::remove_file(dir.path().join("pki/nodes/etcd2/peer.key")).unwrap();
    let spec = dir.path().join("cluster.yaml");
    let text = std::fs::read_to_string(&spec).unwrap() + "  - { name: etcd4, ip: 10.0.0.14 }\n";
    std::fs::write(&spec, text).unwrap();
    let before = snapshot(&dir.path().join("pki"));
    let output = init(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(1));
    let findings: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(findings[0]["code"], "pki.half-pair");
    assert!(
        findings[0]["file"]
            .as_str()
            .unwrap()
            .ends_with("nodes/etcd2/peer.crt")
    );
    assert_eq!(
        snapshot(&dir.path().join("pki")),
        before,
        "nothing written, not even etcd4's files"
    );
}

#[test]
fn a_bad_spec_is_refused_before_any_file_is_made() {
    let dir = fresh_spec();
    let spec = dir.path().join("cluster.yaml");
    let text = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("ip: 10.0.0.12,", "ip: nope,");
    std::fs::write(&spec, text).unwrap();
    let output = init(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(!dir.path().join("pki").exists());
}

/// The pairs the `proven` record lists (its lines but the header).
fn proven_lines(dir: &std::path::Path) -> usize {
    std::fs::read_to_string(dir.join("pki/proven"))
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with('#'))
        .count()
}

/// The record lets `check` skip proving a pair only while the CA, certificate and key are
/// byte for byte the ones `pki init` proved: a leaf swapped for one from another CA, or a
/// key swapped for another pair's, is caught although the record is still there.
#[test]
fn the_proven_record_never_hides_a_swapped_certificate_or_key() {
    let dir = fresh_spec();
    assert!(init(dir.path(), &[]).status.success());
    assert_eq!(proven_lines(dir.path()), 1 + 2 * 3);
    let other = fresh_spec();
    assert!(init(other.path(), &[]).status.success());
    let pki = dir.path().join("pki");
    std::fs::copy(
        other.path().join("pki/nodes/etcd1/server.crt"),
        pki.join("nodes/etcd1/server.crt"),
    )
    .unwrap();
    std::fs::copy(
        pki.join("nodes/etcd2/server.key"),
        pki.join("nodes/etcd2/peer.key"),
    )
    .unwrap();
    let output = common::kindling()
        .current_dir(dir.path())
        .args(["check", "cluster.yaml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error[tls.chain]"), "{stderr}");
    assert!(
        stderr.contains("etcd1/server.crt (server certificate) is not signed by the cluster CA"),
        "{stderr}"
    );
    assert!(stderr.contains("error[tls.key-mismatch]"), "{stderr}");
    assert!(
        stderr.contains("etcd2/peer.key does not belong to"),
        "{stderr}"
    );
}

fn pki(dir: &Path, args: &[&str]) -> std::process::Output {
    kindling()
        .args(["--format", "json", "pki"])
        .arg(args[0])
        .arg(dir.join("cluster.yaml"))
        .args(&args[1..])
        .output()
        .unwrap()
}

fn check_codes(dir: &Path) -> Vec<String> {
    let output = kindling()
        .args(["--format", "json", "check"])
        .arg(dir.join("cluster.yaml"))
        .output()
        .unwrap();
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    findings
        .iter()
        .filter(|f| f["code"].as_str().unwrap().starts_with("tls."))
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

fn edit_spec(dir: &Path, old: &str, new: &str) {
    let path = dir.join("cluster.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(old), "{old:?}");
    std::fs::write(path, text.replacen(old, new, 1)).unwrap();
}

#[test]
fn extra_clients_are_issued_by_name_and_organisation_and_checked() {
    let dir = fresh_spec();
    edit_spec(
        dir.path(),
        "  dir: pki\n",
        "  dir: pki\n  clients:\n    - { name: apiserver-etcd-client, organization: \"system:masters\" }\n    - { name: backup }\n",
    );
    assert!(init(dir.path(), &[]).status.success());
    let crt = dir.path().join("pki/clients/apiserver-etcd-client.crt");
    let der = pem_der(&crt);
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    assert_eq!(
        cert.subject().to_string(),
        "CN=apiserver-etcd-client, O=system:masters"
    );
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);
    assert_eq!(mode(&dir.path().join("pki/clients/backup.key")), 0o600);
    assert_eq!(check_codes(dir.path()), Vec::<String>::new());
    // A client certificate that is not the CA's is caught, at the client's line.
    std::fs::copy(
        dir.path().join("pki/ca.crt"),
        dir.path().join("pki/clients/backup.crt"),
    )
    .unwrap();
    assert!(check_codes(dir.path()).contains(&"tls.key-mismatch".to_string()));
}

#[test]
fn a_new_ca_is_never_made_beside_old_leaves() {
    let dir = fresh_spec();
    assert!(init(dir.path(), &[]).status.success());
    std::fs::remove_file(dir.path().join("pki/ca.crt")).unwrap();
    std::fs::remove_file(dir.path().join("pki/ca.key")).unwrap();
    let before = snapshot(&dir.path().join("pki"));
    let output = init(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(1));
    let findings: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(findings[0]["code"], "pki.ca-missing");
    assert!(
        findings[0]["message"]
            .as_str()
            .unwrap()
            .contains("etcdctl.crt and 6 more exist"),
        "{findings}"
    );
    assert_eq!(snapshot(&dir.path().join("pki")), before);
    assert_eq!(
        pki(dir.path(), &["renew", "--node", "etcd1"]).status.code(),
        Some(1),
        "renew needs the CA too"
    );
}

#[test]
fn check_and_pki_init_give_the_same_repair_for_half_a_pair_and_it_works() {
    let dir = fresh_spec();
    assert!(init(dir.path(), &[]).status.success());
    std::fs::remove_file(dir.path().join("pki/nodes/etcd2/peer.key")).unwrap();
    let repair = "kindling pki renew SPEC --node etcd2";
    let refused = init(dir.path(), &[]);
    let findings: serde_json::Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert!(
        findings[0]["help"].as_str().unwrap().contains(repair),
        "{findings}"
    );
    let checked = kindling()
        .args(["--format", "json", "check"])
        .arg(dir.path().join("cluster.yaml"))
        .output()
        .unwrap();
    let findings: serde_json::Value = serde_json::from_slice(&checked.stdout).unwrap();
    let missing = findings
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "tls.missing")
        .unwrap();
    assert!(
        missing["help"].as_str().unwrap().contains(repair),
        "{missing}"
    );

    let ca_before = std::fs::read(dir.path().join("pki/ca.crt")).unwrap();
    let server_before = std::fs::read(dir.path().join("pki/nodes/etcd2/server.key")).unwrap();
    let other_before = std::fs::read(dir.path().join("pki/nodes/etcd1/peer.key")).unwrap();
    let renewed = pki(dir.path(), &["renew", "--node", "etcd2"]);
    assert!(
        renewed.status.success(),
        "{}",
        String::from_utf8_lossy(&renewed.stderr)
    );
    assert_eq!(check_codes(dir.path()), Vec::<String>::new());
    assert_eq!(
        std::fs::read(dir.path().join("pki/ca.crt")).unwrap(),
        ca_before
    );
    assert_ne!(
        std::fs::read(dir.path().join("pki/nodes/etcd2/server.key")).unwrap(),
        server_before,
        "a named node gets new keys for both pairs"
    );
    assert_eq!(
        std::fs::read(dir.path().join("pki/nodes/etcd1/peer.key")).unwrap(),
        other_before,
        "other nodes are left alone"
    );
    assert_eq!(mode(&dir.path().join("pki/nodes/etcd2/peer.key")), 0o600);
}

#[test]
fn renew_replaces_exactly_the_leaves_that_expire_within_the_window() {
    let dir = fresh_spec();
    assert!(init(dir.path(), &["--leaf-days", "20"]).status.success());
    let snapshot_before = snapshot(&dir.path().join("pki"));
    let untouched = pki(dir.path(), &["renew", "--within", "10"]);
    assert!(untouched.status.success());
    let mut after = snapshot(&dir.path().join("pki"));
    let mut before = snapshot_before.clone();
    // Only the proven record is rewritten (with the same lines).
    after.retain(|(p, _)| p != Path::new("proven"));
    before.retain(|(p, _)| p != Path::new("proven"));
    assert_eq!(after, before, "nothing expires within 10 days");

    let renewed = pki(dir.path(), &["renew", "--within", "30"]);
    assert!(renewed.status.success());
    let stderr = String::from_utf8_lossy(&renewed.stderr);
    assert!(stderr.contains("7 pair(s) renewed, 0 valid"), "{stderr}");
    let der = pem_der(&dir.path().join("pki/nodes/etcd3/server.crt"));
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    let days =
        (cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp()) / 86_400;
    assert_eq!(days, 365, "the spec's leaf_days, not the old 20");
    assert_eq!(check_codes(dir.path()), Vec::<String>::new());
    assert_eq!(proven_lines(dir.path()), 7, "every renewed pair is proven");

    let unknown = pki(dir.path(), &["renew", "--node", "etcd9"]);
    assert_eq!(unknown.status.code(), Some(1));
    let findings: serde_json::Value = serde_json::from_slice(&unknown.stdout).unwrap();
    assert_eq!(findings[0]["code"], "pki.unknown-node");
}

/// bad-input-2/02: a window that ends past the year 9999 (the flag is a u32) renews every
/// leaf instead of panicking.
#[test]
fn a_window_past_the_year_9999_renews_every_leaf() {
    let dir = fresh_spec();
    assert!(init(dir.path(), &[]).status.success());
    for days in ["2913000", "4294967295"] {
        let renewed = pki(dir.path(), &["renew", "--within", days]);
        assert_eq!(renewed.status.code(), Some(0), "{renewed:?}");
        let stderr = String::from_utf8_lossy(&renewed.stderr);
        assert!(stderr.contains("7 pair(s) renewed, 0 valid"), "{stderr}");
    }
}

#[test]
fn an_interrupted_renew_is_finished_by_the_next_run_never_leaving_a_mismatched_pair() {
    let dir = fresh_spec();
    assert!(init(dir.path(), &[]).status.success());
    let crashed = kindling()
        .env("KINDLING_TEST_CRASH_AT", "pki-mid-link")
        .args(["pki", "renew"])
        .arg(dir.path().join("cluster.yaml"))
        .args(["--node", "etcd1"])
        .output()
        .unwrap();
    assert!(!crashed.status.success(), "the crash point was reached");
    assert!(dir.path().join("pki/.kindling-pending").exists());
    // The next run (here pki init) finishes the renewal before anything else.
    assert!(init(dir.path(), &[]).status.success());
    assert!(!dir.path().join("pki/.kindling-pending").exists());
    assert_eq!(check_codes(dir.path()), Vec::<String>::new());
}
