//! The cluster's certificates, read with a real X.509 parser: do they belong to their keys,
//! chain to the spec's CA, name every address the member is reached at, allow the right
//! uses, and stay valid long enough? Findings point at the spec line that set the member
//! (or `tls.dir`) and name the certificate file; no key material is ever printed.

use std::net::IpAddr;
use std::path::Path;

use x509_parser::prelude::*;

use super::Context;
use crate::diag::{Diagnostic, Report, Span};
use crate::resolve::material::KeyedCert;
use crate::resolve::{LOCALHOST, Node};
use crate::tls::CertPair;
use crate::tls::pki::renew_command;
use crate::tls::proof::{key_matches, pem_der, signed_by};

/// What a certificate is for, which decides the extended key usages it needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Server,
    Peer,
    Client,
    /// A `tls.clients` certificate.
    ExtraClient,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Peer => "peer",
            Role::Client => "etcdctl client",
            Role::ExtraClient => "client",
        }
    }
}

/// Checks the CA, every node's server and peer pair, and the etcdctl client pair.
pub fn check(cx: &Context, report: &mut Report) {
    let paths = &cx.cluster.tls.paths;
    let dir_span = &cx.cluster.tls.dir_span;
    let Some(ca_der) = pem_der(&cx.material.ca_cert) else {
        return; // material loading already refused a file that is not PEM
    };
    let Ok((_, ca)) = X509Certificate::from_der(&ca_der) else {
        report.push(Diagnostic::at(
            "tls.unparsable",
            format!(
                "{} is not a readable X.509 certificate",
                paths.ca().cert.display()
            ),
            dir_span,
        ));
        return;
    };
    check_ca(cx, &ca, &paths.ca().cert, report);
    let client_files = paths.client();
    let client = Pair {
        files: &client_files,
        pair: &cx.material.client,
        role: Role::Client,
        node: None,
        span: dir_span,
    };
    check_pair(cx, (&ca, &ca_der), &client, report);
    for (spec, pair) in cx.cluster.tls.clients.iter().zip(&cx.material.clients) {
        let files = paths.extra_client(&spec.name);
        let extra = Pair {
            files: &files,
            pair,
            role: Role::ExtraClient,
            node: None,
            span: &spec.span,
        };
        check_pair(cx, (&ca, &ca_der), &extra, report);
    }
    for (node, tls) in cx.cluster.nodes.iter().zip(&cx.material.nodes) {
        let server_files = paths.server(&node.name);
        let peer_files = paths.peer(&node.name);
        check_pair(
            cx,
            (&ca, &ca_der),
            &Pair {
                files: &server_files,
                pair: &tls.server,
                role: Role::Server,
                node: Some(node),
                span: &node.span,
            },
            report,
        );
        check_pair(
            cx,
            (&ca, &ca_der),
            &Pair {
                files: &peer_files,
                pair: &tls.peer,
                role: Role::Peer,
                node: Some(node),
                span: &node.span,
            },
            report,
        );
    }
}

struct Pair<'a> {
    files: &'a CertPair,
    pair: &'a KeyedCert,
    role: Role,
    node: Option<&'a Node>,
    span: &'a Span,
}

fn check_ca(cx: &Context, ca: &X509Certificate, path: &Path, report: &mut Report) {
    let span = &cx.cluster.tls.dir_span;
    if !ca.is_ca() {
        report.push(
            Diagnostic::at("tls.ca-not-ca", format!("{} is not a CA certificate (no basicConstraints CA:TRUE)", path.display()), span)
                .with_help("etcd cannot verify peers or clients against it; `kindling pki init` in an empty directory makes a proper CA"),
        );
    }
    check_validity(cx, ca, path, span, report);
}

/// Checks one pair against the CA (parsed, and its DER bytes).
fn check_pair(
    cx: &Context,
    (ca, ca_der): (&X509Certificate, &[u8]),
    pair: &Pair,
    report: &mut Report,
) {
    let path = pair.files.cert.display();
    let Some(der) = pem_der(&pair.pair.cert) else {
        return;
    };
    let Ok((_, cert)) = X509Certificate::from_der(&der) else {
        report.push(Diagnostic::at(
            "tls.unparsable",
            format!("{path} is not a readable X.509 certificate"),
            pair.span,
        ));
        return;
    };
    if !cx
        .material
        .proven
        .vouches(ca_der, &der, pair.pair.key.expose())
    {
        prove(&cert, ca, pair, report);
    }
    check_usages(&cert, pair, report);
    if let Some(node) = pair.node {
        check_sans(&cert, node, pair, report);
    }
    check_validity(cx, &cert, &pair.files.cert, pair.span, report);
    check_outlives_ca(&cert, ca, pair, report);
    check_key_strength(&cert, pair, report);
}

/// The key is the certificate's, and the CA signed the certificate (what the `proven`
/// record vouches for when it lists the pair).
fn prove(cert: &X509Certificate, ca: &X509Certificate, pair: &Pair, report: &mut Report) {
    let path = pair.files.cert.display();
    check_key_match(cert, pair, report);
    if !signed_by(cert, ca) {
        report.push(
            Diagnostic::at("tls.chain", format!("{path} ({} certificate) is not signed by the cluster CA", pair.role.name()), pair.span)
                .with_help(format!("members trust only tls.dir/ca.crt: re-issue the certificate from that CA with `{}`", renew_command(pair.files))),
        );
    }
}

/// A leaf valid past its CA stops verifying the day the CA expires: its own date promises
/// more than it will give.
fn check_outlives_ca(
    cert: &X509Certificate,
    ca: &X509Certificate,
    pair: &Pair,
    report: &mut Report,
) {
    if cert.validity().not_after.timestamp() > ca.validity().not_after.timestamp() {
        report.push(
            Diagnostic::warning(
                "tls.outlives-ca",
                format!(
                    "{} is valid until {}, after the CA expires on {}",
                    pair.files.cert.display(),
                    cert.validity().not_after,
                    ca.validity().not_after
                ),
                crate::diag::Location::Source(pair.span.clone()),
            )
            .with_help("it stops verifying when the CA expires: renew the CA before then, or issue leaves that end with it"),
        );
    }
}

/// The private key's public half must be the certificate's public key.
fn check_key_match(cert: &X509Certificate, pair: &Pair, report: &mut Report) {
    let key_path = &pair.files.key;
    match key_matches(cert, pair.pair.key.expose()) {
        Some(true) => {}
        Some(false) => report.push(
            Diagnostic::at("tls.key-mismatch", format!("{} does not belong to {}", key_path.display(), pair.files.cert.display()), pair.span)
                .with_help(format!("etcd refuses to start with a mismatched pair: restore the right key, or issue a new pair with `{}`", renew_command(pair.files))),
        ),
        None => report.push(Diagnostic::warning(
            "tls.key-unchecked",
            format!("{} is in a key format kindling cannot read, so whether it matches {} is unchecked", key_path.display(), pair.files.cert.display()),
            crate::diag::Location::Source(pair.span.clone()),
        )),
    }
}

fn check_usages(cert: &X509Certificate, pair: &Pair, report: &mut Report) {
    let eku = cert.extended_key_usage().ok().flatten().map(|e| e.value);
    let (server, client) = eku.map_or((false, false), |e| {
        (e.server_auth || e.any, e.client_auth || e.any)
    });
    let missing: Vec<&str> = match pair.role {
        Role::Peer => [
            (!server).then_some("serverAuth"),
            (!client).then_some("clientAuth"),
        ]
        .into_iter()
        .flatten()
        .collect(),
        Role::Server => [(!server).then_some("serverAuth")]
            .into_iter()
            .flatten()
            .collect(),
        Role::Client | Role::ExtraClient => [(!client).then_some("clientAuth")]
            .into_iter()
            .flatten()
            .collect(),
    };
    if !missing.is_empty() {
        let why = match pair.role {
            Role::Peer => "a member is both server and client of its peers",
            Role::Server => "clients refuse a server certificate without it",
            Role::Client | Role::ExtraClient => "members refuse a client certificate without it",
        };
        report.push(
            Diagnostic::at(
                "tls.usage",
                format!(
                    "{} ({} certificate) lacks extended key usage {}",
                    pair.files.cert.display(),
                    pair.role.name(),
                    missing.join(" and ")
                ),
                pair.span,
            )
            .with_help(why),
        );
    }
}

/// Every name the member is reached at: its advertised host (FQDN or IP), its IP, and
/// `127.0.0.1`/`localhost` (etcdctl on the node; also the source address of loopback peers).
fn check_sans(cert: &X509Certificate, node: &Node, pair: &Pair, report: &mut Report) {
    let (dns, ips) = sans(cert);
    let mut missing = Vec::new();
    if let Some(fqdn) = &node.fqdn
        && !dns.iter().any(|d| d.eq_ignore_ascii_case(fqdn))
    {
        missing.push(fqdn.clone());
    }
    for ip in [node.ip, LOCALHOST] {
        if !ips.contains(&ip) {
            missing.push(ip.to_string());
        }
    }
    if !dns.iter().any(|d| d == "localhost") {
        missing.push("localhost".to_string());
    }
    if !missing.is_empty() {
        report.push(
            Diagnostic::at("tls.san-missing", format!("{} ({} certificate of {}) does not name {}", pair.files.cert.display(), pair.role.name(), node.name, missing.join(", ")), pair.span)
                .with_help("TLS connections to those names will be refused: re-issue the certificate (remove the pair and run `kindling pki init`)"),
        );
    }
}

fn sans(cert: &X509Certificate) -> (Vec<String>, Vec<IpAddr>) {
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    if let Ok(Some(extension)) = cert.subject_alternative_name() {
        for name in &extension.value.general_names {
            match name {
                GeneralName::DNSName(d) => dns.push(d.to_string()),
                GeneralName::IPAddress(bytes) => {
                    if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                        ips.push(IpAddr::from(v4));
                    } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                        ips.push(IpAddr::from(v6));
                    }
                }
                _ => {}
            }
        }
    }
    (dns, ips)
}

fn check_validity(
    cx: &Context,
    cert: &X509Certificate,
    path: &Path,
    span: &Span,
    report: &mut Report,
) {
    let now = cx.options.now.unix_timestamp();
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    let day = 86_400;
    if now < not_before {
        report.push(
            Diagnostic::at(
                "tls.not-yet-valid",
                format!(
                    "{} is not valid until {}",
                    path.display(),
                    cert.validity().not_before
                ),
                span,
            )
            .with_help("check the clock of the machine that issued it"),
        );
    } else if now > not_after {
        report.push(
            Diagnostic::at(
                "tls.expired",
                format!(
                    "{} expired on {}",
                    path.display(),
                    cert.validity().not_after
                ),
                span,
            )
            .with_help("re-issue it: remove the pair and run `kindling pki init`"),
        );
    } else if not_after - now < i64::from(cx.options.expiry_warning_days) * day {
        let days = (not_after - now) / day;
        report.push(
            Diagnostic::warning(
                "tls.expiring",
                format!(
                    "{} expires in {days} day(s), on {}",
                    path.display(),
                    cert.validity().not_after
                ),
                crate::diag::Location::Source(span.clone()),
            )
            .with_help("re-issue it before then"),
        );
    }
}

fn check_key_strength(cert: &X509Certificate, pair: &Pair, report: &mut Report) {
    if let Ok(x509_parser::public_key::PublicKey::RSA(rsa)) = cert.public_key().parsed()
        && rsa.key_size() < 2048
    {
        report.push(
            Diagnostic::warning(
                "tls.weak-key",
                format!(
                    "{} has a {}-bit RSA key",
                    pair.files.cert.display(),
                    rsa.key_size()
                ),
                crate::diag::Location::Source(pair.span.clone()),
            )
            .with_help("use RSA 2048 or more, or EC P-256 as `kindling pki init` does"),
        );
    }
}
