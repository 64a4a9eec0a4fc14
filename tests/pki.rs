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
