//! Reads the files a resolved spec points at: the TLS material and the sysext images' hashes.
//!
//! This is still the resolve stage (values are derived and checked here), kept apart
//! because it touches the filesystem and `pki init` must run without it.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::{Cluster, SysextSettings};
use crate::diag::{Diagnostic, Location, Report, SourceFile, Span};
use crate::secret::Secret;
use crate::tls::CertPair;

/// Everything a node's config needs that is not in the spec text.
#[derive(Debug)]
pub struct Material {
    /// `sha256-<hex>` of the sysext image, or None when the spec opted out.
    pub image_hash: Option<String>,
    /// `sha256-<hex>` of the kubelet's Kubernetes sysext image (the static-pod profile).
    pub kubelet_image_hash: Option<String>,
    /// `ca.crt`: the CA that signs the leaves (then any CA between it and `root.crt`).
    pub ca_cert: String,
    /// `root.crt`, the trust anchor when `ca.crt` is an intermediate.
    pub root_cert: Option<String>,
    pub client: KeyedCert,
    /// The `tls.clients` pairs, in the spec's order.
    pub clients: Vec<KeyedCert>,
    /// In the order of `Cluster::nodes`.
    pub nodes: Vec<NodeTls>,
    /// The pairs `pki init` already proved, which `check` need not prove again.
    pub proven: crate::tls::proof::Proven,
    /// Every certificate and key file was read (else the TLS checks have nothing to check).
    pub tls_readable: bool,
}

#[derive(Debug, Clone)]
pub struct KeyedCert {
    pub cert: String,
    pub key: Secret,
}

#[derive(Debug, Clone)]
pub struct NodeTls {
    pub server: KeyedCert,
    pub peer: KeyedCert,
}

/// Loads and checks the material for every node, reporting every missing or bad file. The
/// material comes back even then, so the checks that do not need the missing file still run.
pub fn load(cluster: &Cluster) -> (Material, Report) {
    let mut images = Report::default();
    let image_hash = verified_hash(&cluster.sysext, &mut images);
    let kubelet_image_hash = cluster
        .kubelet
        .as_ref()
        .and_then(|kubelet| verified_hash(&kubelet.image, &mut images));
    let mut report = Report::default();
    let paths = &cluster.tls.paths;
    let span = &cluster.tls.dir_span;
    let ca_cert = read_cert(&paths.ca().cert, span, &mut report);
    let root_cert = paths
        .root()
        .exists()
        .then(|| read_cert(&paths.root(), span, &mut report));
    check_trust_shape(paths, &ca_cert, root_cert.as_deref(), &mut report);
    let client = read_pair(&paths.client(), span, &mut report);
    let clients = cluster
        .tls
        .clients
        .iter()
        .map(|c| read_pair(&paths.extra_client(&c.name), &c.span, &mut report))
        .collect();
    let nodes = cluster
        .nodes
        .iter()
        .map(|node| NodeTls {
            server: read_pair(&paths.server(&node.name), &node.span, &mut report),
            peer: read_pair(&paths.peer(&node.name), &node.span, &mut report),
        })
        .collect();
    let tls_readable = !report.has_errors();
    images.extend(report);
    let material = Material {
        image_hash,
        kubelet_image_hash,
        ca_cert,
        root_cert,
        client,
        clients,
        nodes,
        proven: crate::tls::proof::Proven::load(paths.dir()),
        tls_readable,
    };
    (material, images)
}

impl Material {
    /// What members and clients trust: `root.crt` when there is one, else `ca.crt`.
    pub fn trust_anchor(&self) -> &str {
        self.root_cert.as_deref().unwrap_or(&self.ca_cert)
    }
}

/// `root.crt` is one certificate; `ca.crt` holds more than one only under a `root.crt`.
fn check_trust_shape(
    paths: &crate::tls::PkiPaths,
    ca_cert: &str,
    root_cert: Option<&str>,
    report: &mut Report,
) {
    let count = |text: &str| crate::tls::keys::certificate_ders(text).len();
    if let Some(root) = root_cert
        && count(root) > 1
    {
        report.push(
            Diagnostic::error(
                "tls.root-bundle",
                format!("{} holds {} certificates", paths.root().display(), count(root)),
                Location::File(paths.root()),
            )
            .with_help("root.crt is the one trust anchor; the intermediates go in ca.crt, after the CA that signs the leaves"),
        );
    }
    if root_cert.is_none() && count(ca_cert) > 1 {
        report.push(
            Diagnostic::error(
                "tls.ca-bundle",
                format!("{} holds {} certificates, and there is no root.crt", paths.ca().cert.display(), count(ca_cert)),
                Location::File(paths.ca().cert.clone()),
            )
            .with_help("an intermediate CA goes in ca.crt (with any CA between it and the root after it), its key in ca.key, and the root, which the members trust, alone in root.crt"),
        );
    }
}

fn read_pair(pair: &CertPair, span: &Span, report: &mut Report) -> KeyedCert {
    KeyedCert {
        cert: read_cert(&pair.cert, span, report),
        key: read_key(&pair.key, span, report),
    }
}

fn read_text(path: &Path, span: &Span, report: &mut Report) -> Option<String> {
    match crate::read::text(path, crate::read::SPEC_LIMIT) {
        Ok(text) => Some(text),
        Err(error) => {
            report.push(
                Diagnostic::at(
                    "tls.missing",
                    format!("cannot read {}: {error}", path.display()),
                    span,
                )
                .with_help(missing_help(path)),
            );
            None
        }
    }
}

/// What to do about a missing certificate or key, the same advice `pki init` gives: an
/// interrupted run is finished by running it again; a lone half of a pair is never
/// completed (a new key would not match the old certificate), so it is restored or replaced
/// with a new pair by `pki renew`.
fn missing_help(path: &Path) -> String {
    let pending = path
        .ancestors()
        .any(|dir| dir.join(".kindling-pending/MANIFEST").exists());
    let partner = match path.extension().and_then(|e| e.to_str()) {
        Some("key") => path.with_extension("crt"),
        _ => path.with_extension("key"),
    };
    if pending {
        "a `kindling pki init` was interrupted: run it again to finish it".to_string()
    } else if partner.exists() {
        let pair = CertPair {
            cert: path.with_extension("crt"),
            key: path.with_extension("key"),
        };
        format!(
            "{} exists without it: restore the file, or run `{}` to replace both with a new pair",
            partner.display(),
            pair.renew_command()
        )
    } else {
        "run `kindling pki init SPEC` to create the missing certificates".to_string()
    }
}

fn read_cert(path: &Path, span: &Span, report: &mut Report) -> String {
    let Some(text) = read_text(path, span, report) else {
        return String::new();
    };
    if pem_blocks_of(&text, "CERTIFICATE").is_none() {
        report.push(not_pem(
            path,
            "a PEM certificate (-----BEGIN CERTIFICATE-----)",
            "the file must hold PEM certificates only: the certificate, then any intermediate CA certificates it presents",
        ));
    }
    text
}

fn read_key(path: &Path, span: &Span, report: &mut Report) -> Secret {
    let Some(text) = read_text(path, span, report) else {
        return Secret::new(String::new());
    };
    use crate::tls::keys::{KeyKind, KeyProblem};
    match KeyKind::of_pem(&text) {
        Err(KeyProblem::Encrypted) => {
            let (message, help) = KeyProblem::Encrypted.describe(path);
            report.push(
                Diagnostic::error(
                    "tls.encrypted-key",
                    message,
                    Location::File(path.to_path_buf()),
                )
                .with_help(help),
            );
        }
        Err(problem) => {
            let code = match problem {
                KeyProblem::NotAKey(_) => "tls.not-pem",
                _ => "tls.key",
            };
            let (message, help) = problem.describe(path);
            report.push(
                Diagnostic::error(code, message, Location::File(path.to_path_buf()))
                    .with_help(help),
            );
        }
        Ok(_) if !is_printable(&text) => report.push(not_pem(
            path,
            "a PEM private key",
            "the file must hold printable ASCII only",
        )),
        Ok(_) => {}
    }
    Secret::new(text)
}

/// How many PEM blocks the file holds when it is nothing but blocks of `label` (and the
/// whitespace between them), in printable ASCII; None otherwise.
fn pem_blocks_of(text: &str, label: &str) -> Option<usize> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut rest = text.trim_start();
    let mut count = 0;
    while !rest.is_empty() {
        let body = rest.strip_prefix(&begin)?;
        let close = body.find(&end)?;
        if body[..close].contains("-----") {
            return None;
        }
        rest = body[close + end.len()..].trim_start();
        count += 1;
    }
    (count > 0 && is_printable(text)).then_some(count)
}

fn is_printable(text: &str) -> bool {
    text.bytes()
        .all(|b| b == b'\n' || b == b'\r' || (0x20..0x7f).contains(&b))
}

fn not_pem(path: &Path, expected: &str, help: &str) -> Diagnostic {
    Diagnostic::error(
        "tls.not-pem",
        format!("{} is not {expected}", path.display()),
        Location::File(path.to_path_buf()),
    )
    .with_help(help)
}

/// The image hash from SHA256SUMS and/or a local image; both given must agree.
fn verified_hash(sysext: &SysextSettings, report: &mut Report) -> Option<String> {
    let published = sysext
        .sha256sums
        .as_ref()
        .and_then(|(path, span)| hash_from_sums(path, span, &sysext.image_file, report));
    let local = sysext
        .local_image
        .as_ref()
        .and_then(|(path, span)| hash_file(path, span, report).map(|hex| (hex, span)));
    match (published, local) {
        (Some(published), Some((local, span))) if published != local => {
            report.push(
                Diagnostic::at(
                    "sysext.hash-mismatch",
                    format!("the local image hashes to {local}, but SHA256SUMS says {published}"),
                    span,
                )
                .with_help(
                    "the image and SHA256SUMS come from different builds: re-download one of them",
                ),
            );
            None
        }
        (Some(hex), _) | (None, Some((hex, _))) => Some(format!("sha256-{hex}")),
        (None, None) => None,
    }
}

fn hash_from_sums(
    path: &Path,
    span: &Span,
    image_file: &str,
    report: &mut Report,
) -> Option<String> {
    let text = match crate::read::text(path, crate::read::SPEC_LIMIT) {
        Ok(text) => text,
        Err(error) => {
            report.push(
                Diagnostic::at(
                    "sysext.sha256sums-unreadable",
                    format!("cannot read {}: {error}", path.display()),
                    span,
                )
                .with_help(
                    "SHA256SUMS lists the hash of each image: `kindling sysext build` writes it beside the image it builds; for an image from Flatcar's sysext-bakery, download the release's SHA256SUMS with it",
                ),
            );
            return None;
        }
    };
    // The spec may name any file here; its lines are located but never quoted.
    let source = SourceFile::unquoted(path, text);
    for (index, line) in source.text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Some((hex, name)) = parse_sums_line(line) else {
            let line_span = Span::new(&source, index as u64 + 1, 1);
            report.push(
                Diagnostic::at(
                    "sysext.sha256sums-format",
                    "this line is not in sha256sum format",
                    &line_span,
                )
                .with_help(
                    "each line is 64 hex digits, two spaces (or space and '*'), and a file name",
                ),
            );
            return None;
        };
        if name == image_file {
            return Some(hex.to_ascii_lowercase());
        }
    }
    report.push(
        Diagnostic::at(
            "sysext.sha256sums-entry",
            format!("{} has no line for {image_file}", path.display()),
            span,
        )
        .with_help("publish the image beside SHA256SUMS, or check the version and the arch"),
    );
    None
}

/// `<64 hex>  <name>` (or `<64 hex> *<name>`), as sha256sum writes it.
pub fn parse_sums_line(line: &str) -> Option<(&str, &str)> {
    let (hex, rest) = line.split_once(' ')?;
    let name = rest.strip_prefix(' ').or_else(|| rest.strip_prefix('*'))?;
    let hex_ok = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    (hex_ok && !name.is_empty()).then_some((hex, name))
}

fn hash_file(path: &Path, span: &Span, report: &mut Report) -> Option<String> {
    sha256_file(path)
        .map_err(|error| {
            report.push(Diagnostic::at(
                "sysext.image-unreadable",
                format!("cannot read {}: {error}", path.display()),
                span,
            ));
        })
        .ok()
}

/// The lower-case hex SHA-256 of a file, read in chunks (images are large).
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_lines() {
        let hex = "a".repeat(64);
        assert_eq!(
            parse_sums_line(&format!("{hex}  etcd.raw")),
            Some((hex.as_str(), "etcd.raw"))
        );
        assert_eq!(
            parse_sums_line(&format!("{hex} *etcd.raw")),
            Some((hex.as_str(), "etcd.raw"))
        );
        assert_eq!(parse_sums_line(&format!("{hex} etcd.raw")), None);
        assert_eq!(parse_sums_line("abc  etcd.raw"), None);
    }

    #[test]
    fn pem_shape() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_blocks_of(pem, "CERTIFICATE"), Some(1));
        assert_eq!(
            pem_blocks_of(&format!("{pem}\n{pem}"), "CERTIFICATE"),
            Some(2)
        );
        assert_eq!(pem_blocks_of("hello", "CERTIFICATE"), None);
        assert_eq!(pem_blocks_of(&format!("{pem}hello"), "CERTIFICATE"), None);
        assert_eq!(pem_blocks_of("", "CERTIFICATE"), None);
        let key = pem.replace("CERTIFICATE", "PRIVATE KEY");
        assert_eq!(pem_blocks_of(&format!("{pem}{key}"), "CERTIFICATE"), None);
        assert_eq!(
            pem_blocks_of(&pem.replace("MIIB", "MI\u{1b}IB"), "CERTIFICATE"),
            None
        );
    }
}
