//! `kindling pki init`: creates the cluster's TLS material in the spec's TLS directory.
//!
//! A CA, per node a server and a peer certificate, and one etcdctl client certificate;
//! EC P-256 keys; validity set explicitly. It never overwrites: a pair that exists is kept
//! (new node certs are signed by the existing CA), a half pair (cert without key or the
//! reverse) is an error, and nothing is written until every pair has been checked.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use super::CertPair;
use crate::diag::{Diagnostic, Location, Report};
use crate::emit;
use crate::resolve::{Cluster, Node};

/// Validity in days, from the spec's `tls` section or the command line.
#[derive(Clone, Copy, Debug)]
pub struct Validity {
    pub ca_days: u32,
    pub leaf_days: u32,
}

/// What `init` did, for the command's summary.
#[derive(Debug, Default)]
pub struct Outcome {
    pub created: Vec<PathBuf>,
    pub kept: Vec<PathBuf>,
}

/// Certificates are valid from an hour before creation, so a node whose clock is a little
/// behind the machine that ran `pki init` still accepts them.
const BACKDATE: Duration = Duration::hours(1);

/// Creates whatever TLS material the cluster is missing.
pub fn init(cluster: &Cluster, validity: Validity, now: OffsetDateTime) -> Result<Outcome, Report> {
    let paths = &cluster.tls.paths;
    let mut wanted: Vec<(CertPair, Leaf)> = vec![(paths.client(), Leaf::Client)];
    for node in &cluster.nodes {
        wanted.push((paths.server(&node.name), Leaf::Server(node)));
        wanted.push((paths.peer(&node.name), Leaf::Peer(node)));
    }
    let ca_pair = paths.ca();
    let mut report = Report::default();
    let ca_present = presence(&ca_pair, &mut report);
    let leaves_present: Vec<bool> = wanted
        .iter()
        .map(|(pair, _)| presence(pair, &mut report))
        .collect();
    if report.has_errors() {
        return Err(report);
    }
    let mut outcome = Outcome::default();
    let key_mode = cluster.tls.key_mode;
    let issuer = if ca_present {
        outcome
            .kept
            .extend([ca_pair.cert.clone(), ca_pair.key.clone()]);
        load_issuer(&ca_pair)?
    } else {
        let (params, key) = ca_params(&cluster.name, validity, now)?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| pki_error(&ca_pair.cert, &e))?;
        write_pair(
            &ca_pair,
            &cert.pem(),
            &key.serialize_pem(),
            key_mode,
            &mut outcome,
        )?;
        Issuer::new(params, key)
    };
    for ((pair, leaf), present) in wanted.iter().zip(leaves_present) {
        if present {
            outcome.kept.extend([pair.cert.clone(), pair.key.clone()]);
            continue;
        }
        let key = KeyPair::generate().map_err(|e| pki_error(&pair.key, &e))?;
        let params = leaf_params(leaf, validity, now, &key)?;
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(|e| pki_error(&pair.cert, &e))?;
        write_pair(
            pair,
            &cert.pem(),
            &key.serialize_pem(),
            key_mode,
            &mut outcome,
        )?;
    }
    Ok(outcome)
}

/// Whether a pair exists; a half pair is an error, never silently completed.
fn presence(pair: &CertPair, report: &mut Report) -> bool {
    match (pair.cert.exists(), pair.key.exists()) {
        (true, true) => true,
        (false, false) => false,
        (cert, _) => {
            let (present, missing) = if cert {
                (&pair.cert, &pair.key)
            } else {
                (&pair.key, &pair.cert)
            };
            report.push(
                Diagnostic::error("pki.half-pair", format!("{} exists but {} does not", present.display(), missing.display()), Location::File(present.clone()))
                    .with_help("kindling never overwrites TLS files: restore the missing one, or move both away to have them created anew"),
            );
            false
        }
    }
}

fn load_issuer(pair: &CertPair) -> Result<Issuer<'static, KeyPair>, Report> {
    let read = |path: &Path| {
        crate::read::text(path, crate::read::SPEC_LIMIT)
            .map_err(|e| file_error(path, &format!("cannot read it: {e}")))
    };
    let cert_pem = read(&pair.cert)?;
    let key_pem = read(&pair.key)?;
    let key = KeyPair::from_pem(&key_pem).map_err(|_| {
        file_error(
            &pair.key,
            "is not an unencrypted PEM private key rcgen can use",
        )
    })?;
    Issuer::from_ca_cert_pem(&cert_pem, key)
        .map_err(|e| file_error(&pair.cert, &format!("is not a usable CA certificate: {e}")))
}

fn write_pair(
    pair: &CertPair,
    cert_pem: &str,
    key_pem: &str,
    key_mode: u32,
    outcome: &mut Outcome,
) -> Result<(), Report> {
    emit::create_new(&pair.key, key_pem.as_bytes(), key_mode)?;
    emit::create_new(&pair.cert, cert_pem.as_bytes(), 0o644)?;
    outcome
        .created
        .extend([pair.cert.clone(), pair.key.clone()]);
    Ok(())
}

enum Leaf<'a> {
    Client,
    Server(&'a Node),
    Peer(&'a Node),
}

fn ca_params(
    cluster_name: &str,
    validity: Validity,
    now: OffsetDateTime,
) -> Result<(CertificateParams, KeyPair), Report> {
    let key = KeyPair::generate().map_err(|e| pki_error(Path::new("ca.key"), &e))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = name(&format!("{cluster_name} etcd CA"));
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut params, now, validity.ca_days);
    params.serial_number = Some(serial(&key, now));
    Ok((params, key))
}

fn leaf_params(
    leaf: &Leaf,
    validity: Validity,
    now: OffsetDateTime,
    key: &KeyPair,
) -> Result<CertificateParams, Report> {
    let mut params = CertificateParams::default();
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    set_validity(&mut params, now, validity.leaf_days);
    params.serial_number = Some(serial(key, now));
    match leaf {
        Leaf::Client => {
            params.distinguished_name = name("etcdctl");
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        Leaf::Server(node) | Leaf::Peer(node) => {
            params.distinguished_name = name(&node.name);
            params.subject_alt_names = node_sans(node)?;
            // Peers are clients of each other; servers need clientAuth too, because etcd's
            // gRPC gateway dials its own listener with the server certificate.
            params.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
        }
    }
    Ok(params)
}

/// Every name a member is reached at: its name, FQDN, IP, and the loopback names local
/// clients use (127.0.0.1 is also the source address of loopback peer connections).
fn node_sans(node: &Node) -> Result<Vec<SanType>, Report> {
    let mut dns = vec![node.name.clone()];
    dns.extend(node.fqdn.clone());
    dns.push("localhost".to_string());
    let mut sans = Vec::new();
    for name in dns {
        let ia5 = name.clone().try_into().map_err(|_| {
            file_error(
                Path::new(&node.name),
                &format!("{name} cannot be a certificate name"),
            )
        })?;
        sans.push(SanType::DnsName(ia5));
    }
    sans.push(SanType::IpAddress(node.ip));
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    if node.ip != localhost {
        sans.push(SanType::IpAddress(localhost));
    }
    Ok(sans)
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

fn set_validity(params: &mut CertificateParams, now: OffsetDateTime, days: u32) {
    let start = now - BACKDATE;
    params.not_before = start;
    params.not_after = start + Duration::days(i64::from(days));
}

/// A positive 128-bit serial derived from the (random) public key and the time.
fn serial(key: &KeyPair, now: OffsetDateTime) -> SerialNumber {
    let mut hasher = Sha256::new();
    hasher.update(key.public_key_raw());
    hasher.update(now.unix_timestamp().to_be_bytes());
    let mut bytes = hasher.finalize()[..16].to_vec();
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::from_slice(&bytes)
}

fn pki_error(path: &Path, error: &rcgen::Error) -> Report {
    file_error(path, &format!("certificate generation failed: {error}"))
}

fn file_error(path: &Path, message: &str) -> Report {
    Diagnostic::error(
        "pki.file",
        format!("{}: {message}", path.display()),
        Location::File(path.to_path_buf()),
    )
    .into()
}
