//! The cluster's certificates, read with a real X.509 parser: do they belong to their keys,
//! chain to the trust anchor (`root.crt`, or else `ca.crt`) through what they present, with
//! every signature algorithm etcd verifies, name every address the member is reached at,
//! allow the right uses, and stay valid long enough? Findings point at the spec line that
//! set the member (or `tls.dir`) and name the certificate file; no key material is ever
//! printed.

use std::net::IpAddr;
use std::path::Path;

use x509_parser::prelude::*;

use super::Context;
use crate::diag::{Diagnostic, Report, Span};
use crate::resolve::material::KeyedCert;
use crate::resolve::{LOCALHOST, Node};
use crate::tls::CertPair;
use crate::tls::chain::{self, ChainProblem};
use crate::tls::keys::certificate_ders;
use crate::tls::proof::{key_matches, trust_text};

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

/// The parsed trust: the anchor members trust, and the CA certificates of `ca.crt`.
struct Trust<'a> {
    anchor: X509Certificate<'a>,
    /// `ca.crt`'s certificates when `root.crt` is the anchor (empty otherwise).
    intermediates: Vec<X509Certificate<'a>>,
    /// The trust files' text, which the `proven` record covers.
    text: String,
}

/// Checks the CA (and the intermediates under `root.crt`), every node's server and peer
/// pair, and the client pairs.
pub fn check(cx: &Context, report: &mut Report) {
    if !cx.material.tls_readable {
        return; // material loading already named the file it could not read
    }
    let paths = &cx.cluster.tls.paths;
    let dir_span = &cx.cluster.tls.dir_span;
    let root_pem = cx.material.root_cert.as_deref();
    let anchor_path = if root_pem.is_some() {
        paths.root()
    } else {
        paths.ca().cert
    };
    let Some(anchor_der) = certificate_ders(cx.material.trust_anchor())
        .into_iter()
        .next()
    else {
        return; // material loading already refused a file that is not PEM
    };
    let ca_ders = if root_pem.is_some() {
        certificate_ders(&cx.material.ca_cert)
    } else {
        Vec::new()
    };
    let unreadable = |path: &Path| {
        Diagnostic::at(
            "tls.unparsable",
            format!("{} is not a readable X.509 certificate", path.display()),
            dir_span,
        )
    };
    let Ok((_, anchor)) = X509Certificate::from_der(&anchor_der) else {
        report.push(unreadable(&anchor_path));
        return;
    };
    let Ok(intermediates) = ca_ders
        .iter()
        .map(|der| X509Certificate::from_der(der).map(|(_, c)| c))
        .collect::<Result<Vec<_>, _>>()
    else {
        report.push(unreadable(&paths.ca().cert));
        return;
    };
    check_ca(cx, &anchor, &anchor_path, report);
    check_intermediates(cx, &anchor, &intermediates, report);
    check_modes(cx, report);
    let trust = Trust {
        anchor,
        intermediates,
        text: trust_text(root_pem, &cx.material.ca_cert),
    };
    let client_files = paths.client();
    let client = Pair {
        files: &client_files,
        pair: &cx.material.client,
        role: Role::Client,
        node: None,
        span: dir_span,
    };
    check_pair(cx, &trust, &client, report);
    for (spec, pair) in cx.cluster.tls.clients.iter().zip(&cx.material.clients) {
        let files = paths.extra_client(&spec.name);
        let extra = Pair {
            files: &files,
            pair,
            role: Role::ExtraClient,
            node: None,
            span: &spec.span,
        };
        check_pair(cx, &trust, &extra, report);
    }
    for (node, tls) in cx.cluster.nodes.iter().zip(&cx.material.nodes) {
        let server_files = paths.server(&node.name);
        let peer_files = paths.peer(&node.name);
        for (files, pair, role) in [
            (&server_files, &tls.server, Role::Server),
            (&peer_files, &tls.peer, Role::Peer),
        ] {
            let pair = Pair {
                files,
                pair,
                role,
                node: Some(node),
                span: &node.span,
            };
            check_pair(cx, &trust, &pair, report);
        }
    }
}

/// Who may read the keys and change the directory: a PKI restored from a tarball or a git
/// checkout can leave ca.key readable by every local user, or the directory writable, so a
/// swapped node key would be shipped by the next render. `pki init` writes keys 0600 (or
/// `tls.key_mode`) and directories 0700.
fn check_modes(cx: &Context, report: &mut Report) {
    use std::os::unix::fs::PermissionsExt;
    let paths = &cx.cluster.tls.paths;
    let span = &cx.cluster.tls.dir_span;
    let mode = |path: &Path| {
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o7777)
    };
    let mut dirs = vec![
        paths.dir().to_path_buf(),
        paths.dir().join("nodes"),
        paths.dir().join("clients"),
    ];
    dirs.extend(cx.cluster.nodes.iter().map(|n| paths.node_dir(&n.name)));
    for dir in dirs {
        if let Some(bits) = mode(&dir).filter(|bits| bits & 0o022 != 0) {
            report.push(
                Diagnostic::warning(
                    "tls.dir-mode",
                    format!("{} is mode {bits:04o}: other users can replace the keys and certificates in it, and render would ship them", dir.display()),
                    crate::diag::Location::Source(span.clone()),
                )
                .with_help(format!("chmod 0700 {}", dir.display())),
            );
        }
    }
    let mut keys = vec![paths.ca().key, paths.client().key];
    keys.extend(
        cx.cluster
            .tls
            .clients
            .iter()
            .map(|c| paths.extra_client(&c.name).key),
    );
    for node in &cx.cluster.nodes {
        keys.extend([paths.server(&node.name).key, paths.peer(&node.name).key]);
    }
    for key in keys {
        if let Some(bits) = mode(&key).filter(|bits| bits & 0o077 != 0) {
            report.push(
                Diagnostic::warning(
                    "tls.key-mode",
                    format!(
                        "{} is mode {bits:04o}: other users can read or change this private key",
                        key.display()
                    ),
                    crate::diag::Location::Source(span.clone()),
                )
                .with_help(format!(
                    "chmod {:04o} {} (tls.key_mode)",
                    cx.cluster.tls.key_mode,
                    key.display()
                )),
            );
        }
    }
}

/// Under `root.crt`, `ca.crt`'s certificates are CAs that chain to it.
fn check_intermediates(
    cx: &Context,
    anchor: &X509Certificate,
    intermediates: &[X509Certificate],
    report: &mut Report,
) {
    if intermediates.is_empty() {
        return;
    }
    let path = cx.cluster.tls.paths.ca().cert;
    for intermediate in intermediates {
        check_ca(cx, intermediate, &path, report);
    }
    if let Err(problem) = chain::verify(intermediates, anchor) {
        let root = cx.cluster.tls.paths.root();
        report.push(chain_finding(
            &problem,
            &format!("{} (the intermediate CA)", path.display()),
            &format!("{} must be signed by the root in {}, directly or through the CAs after it in the file", path.display(), root.display()),
            &cx.cluster.tls.dir_span,
        ));
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

/// Checks one pair against the trust.
fn check_pair(cx: &Context, trust: &Trust, pair: &Pair, report: &mut Report) {
    let path = pair.files.cert.display();
    let ders = certificate_ders(&pair.pair.cert);
    if ders.is_empty() {
        return; // material loading already refused a file that is not PEM
    }
    let Ok(presented) = ders
        .iter()
        .map(|der| X509Certificate::from_der(der).map(|(_, c)| c))
        .collect::<Result<Vec<_>, _>>()
    else {
        report.push(Diagnostic::at(
            "tls.unparsable",
            format!("{path} is not a readable X.509 certificate"),
            pair.span,
        ));
        return;
    };
    let cert = &presented[0];
    if !cx
        .material
        .proven
        .vouches(&trust.text, &pair.pair.cert, pair.pair.key.expose())
    {
        check_key_match(cert, pair, report);
        check_chain(&presented, trust, pair, report);
    }
    check_usages(cert, pair, report);
    if let Some(node) = pair.node {
        check_sans(cert, node, pair, report);
    }
    check_validity(cx, cert, &pair.files.cert, pair.span, report);
    check_outlives_ca(cert, trust, pair, report);
    check_key_strength(cert, pair, report);
}

/// The certificate chains to the anchor through what its file presents, as a member that
/// trusts only the anchor sees it.
fn check_chain(presented: &[X509Certificate], trust: &Trust, pair: &Pair, report: &mut Report) {
    let Err(problem) = chain::verify(presented, &trust.anchor) else {
        return;
    };
    let path = pair.files.cert.display();
    let described = format!("{path} ({} certificate)", pair.role.name());
    let omitted_intermediate = matches!(&problem, ChainProblem::Missing { issuer }
        if trust.intermediates.iter().any(|ca| ca.subject().to_string() == *issuer));
    if omitted_intermediate {
        report.push(
            Diagnostic::at(
                "tls.chain-incomplete",
                format!("{described} does not carry the intermediate CA that signed it: members trust only root.crt and cannot verify it"),
                pair.span,
            )
            .with_help(format!("append the intermediates to it (`cat ca.crt >> {path}`); `{}` writes leaves that way", pair.files.renew_command())),
        );
        return;
    }
    let repair = format!(
        "members trust only the cluster's trust anchor: re-issue the certificate from the cluster CA with `{}`",
        pair.files.renew_command()
    );
    report.push(chain_finding(&problem, &described, &repair, pair.span));
}

/// The finding for a chain that does not hold: an error, or a warning when the signature
/// could not be checked at all.
fn chain_finding(problem: &ChainProblem, described: &str, repair: &str, span: &Span) -> Diagnostic {
    match problem {
        ChainProblem::Unchecked(what) => Diagnostic::warning(
            "tls.signature-unchecked",
            format!("{described} is signed with {what}, which kindling cannot check"),
            crate::diag::Location::Source(span.clone()),
        )
        .with_help("etcd verifies ECDSA (P-256, P-384, P-521), RSA (PKCS#1 v1.5 and PSS) and Ed25519 signatures only: it will most likely refuse this certificate"),
        ChainProblem::Refused(why) => Diagnostic::at(
            "tls.signature",
            format!("{described}: {why}"),
            span,
        )
        .with_help(repair.to_string()),
        ChainProblem::NotSigned { .. } | ChainProblem::Missing { .. } => Diagnostic::at(
            "tls.chain",
            format!("{described} is not signed by the cluster CA ({})", chain::describe(problem)),
            span,
        )
        .with_help(repair.to_string()),
    }
}

/// A leaf valid past its CA stops verifying the day the CA expires: its own date promises
/// more than it will give.
fn check_outlives_ca(cert: &X509Certificate, trust: &Trust, pair: &Pair, report: &mut Report) {
    let ca = trust
        .intermediates
        .iter()
        .chain([&trust.anchor])
        .min_by_key(|ca| ca.validity().not_after.timestamp())
        .unwrap_or(&trust.anchor);
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
        Ok(true) => {}
        Ok(false) => {
            let interrupted = pair
                .files
                .key
                .ancestors()
                .any(|dir| dir.join(".kindling-pending/MANIFEST").exists());
            let help = if interrupted {
                "a `kindling pki renew` or `pki init` was interrupted while replacing this pair: run it again, and it finishes the job from its journal".to_string()
            } else {
                format!(
                    "etcd refuses to start with a mismatched pair: restore the right key, or issue a new pair with `{}`",
                    pair.files.renew_command()
                )
            };
            report.push(
                Diagnostic::at(
                    "tls.key-mismatch",
                    format!(
                        "{} does not belong to {}",
                        key_path.display(),
                        pair.files.cert.display()
                    ),
                    pair.span,
                )
                .with_help(help),
            );
        }
        // Material loading already reported a key kindling cannot read.
        Err(_) => {}
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
/// `127.0.0.1` (etcdctl on the node; also the source address of loopback peers). The
/// `localhost` name `pki init` adds is a convenience nothing rendered dials, so a
/// certificate without it (as the usual openssl recipes make them) is not flagged.
fn check_sans(cert: &X509Certificate, node: &Node, pair: &Pair, report: &mut Report) {
    let (dns, ips) = sans(cert);
    let mut missing = Vec::new();
    if let Some(fqdn) = &node.fqdn
        && !dns.iter().any(|d| d.eq_ignore_ascii_case(fqdn))
    {
        missing.push(fqdn.clone());
    }
    if node.is_every_member()
        && let Some(domain) = &node.fqdn
        && !dns
            .iter()
            .any(|d| d.eq_ignore_ascii_case(&format!("*.{domain}")))
    {
        missing.push(format!("*.{domain}"));
    }
    for ip in [node.ip, LOCALHOST] {
        if ip.is_unspecified() {
            continue;
        }
        if !ips.contains(&ip) {
            missing.push(ip.to_string());
        }
    }
    if !missing.is_empty() {
        report.push(
            Diagnostic::at("tls.san-missing", format!("{} ({} certificate of {}) does not name {}", pair.files.cert.display(), pair.role.name(), node.name, missing.join(", ")), pair.span)
                .with_help(format!("TLS connections to those names will be refused: re-issue the certificate with `{}`", pair.files.renew_command())),
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
