//! `kindling pki init`: creates the cluster's TLS material in the spec's TLS directory.
//!
//! A CA, per node a server and a peer certificate, one etcdctl client certificate and the
//! `tls.clients`; keys of `tls.key_algorithm` (EC P-256 unless told); validity set
//! explicitly. A CA the operator brings (`ca.crt` and `ca.key`, any key `tls::keys` reads)
//! signs the leaves with the algorithm its key calls for; with `root.crt` beside it, `ca.crt`
//! is an intermediate under that offline root, and each leaf file carries the chain. It never overwrites a key or
//! certificate: a pair that exists is kept (new node certs are signed by the existing CA), a
//! half pair (cert without key or the reverse) is an error whose help is `pki renew`, and a
//! missing CA beside existing leaves is an error (a new CA would not have signed them).
//! `pki renew` (`pki::renew`) is the one command that replaces leaves.
//!
//! Everything is generated in memory first, so a bad validity fails before any file exists.
//! Then the new files are staged in `DIR/.kindling-pending/` with a manifest written last,
//! and linked into place: a run killed before the manifest left nothing, one killed after
//! it is finished by the next `pki init` (which first completes any pending run), so pairs
//! end up whole or absent, never half.
//!
//! Last it rewrites the `proven` record (`tls::proof`): the pairs it created, and the kept
//! ones it proved signed by the CA and matching their keys. That file is the only one
//! `pki init` replaces.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};

use crate::diag::{Diagnostic, Location, Report};
use crate::resolve::operations::ClientCert;
use crate::resolve::{Cluster, Node};
use crate::tls::certificate::{self, Profile, Purpose, San, Signer};
use crate::tls::keys::{self, PrivateKey, PublicKey};
use crate::tls::{CertPair, PkiPaths};

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

/// The journal directory of a run, inside the TLS directory.
const PENDING: &str = ".kindling-pending";
/// Its manifest: one `<staged name>\t<target path relative to the TLS directory>` line per file.
const MANIFEST: &str = "MANIFEST";

/// Creates whatever TLS material the cluster is missing.
pub fn init(cluster: &Cluster, validity: Validity, now: OffsetDateTime) -> Result<Outcome, Report> {
    let now = whole_seconds(now);
    let paths = &cluster.tls.paths;
    // Validities are checked before anything exists on disk.
    let ca_end = not_after(now, validity.ca_days, "--ca-days / tls.ca_days")?;
    let leaf_end = not_after(now, validity.leaf_days, "--leaf-days / tls.leaf_days")?;
    if !paths.ca().cert.exists() && leaf_end > ca_end {
        return Err(outlives_ca(validity.leaf_days, ca_end, &paths.ca().cert));
    }
    crate::emit::tree::make_dirs(paths.dir(), 0o700)?;
    let _lock = crate::emit::tree::hold_lock(paths.dir())?;
    let mut outcome = Outcome::default();
    outcome.created.extend(finish_pending(paths.dir())?);
    let files = plan(cluster, validity, now, &mut outcome)?;
    write_journaled(paths.dir(), &files)?;
    outcome.created.extend(files.into_iter().map(|f| f.path));
    record_proven(cluster)?;
    Ok(outcome)
}

/// Rewrites the `proven` record for every leaf the cluster has.
pub(super) fn record_proven(cluster: &Cluster) -> Result<(), Report> {
    let paths = &cluster.tls.paths;
    let leaves: Vec<CertPair> = leaves(cluster).into_iter().map(|(pair, _)| pair).collect();
    match crate::tls::proof::record(paths, &leaves) {
        Some(text) => crate::emit::replace_file(
            &crate::tls::proof::record_path(paths),
            text.as_bytes(),
            0o600,
        ),
        None => Ok(()),
    }
}

/// A file to write: its path, contents and mode.
pub(super) struct NewFile {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub mode: u32,
}

/// Every leaf pair the cluster has: the etcdctl client's, each node's server and peer, then
/// the extra clients.
pub(super) fn leaves(cluster: &Cluster) -> Vec<(CertPair, Leaf<'_>)> {
    let paths = &cluster.tls.paths;
    let mut wanted = vec![(paths.client(), Leaf::Client)];
    for node in &cluster.nodes {
        wanted.push((paths.server(&node.name), Leaf::Server(node)));
        wanted.push((paths.peer(&node.name), Leaf::Peer(node)));
    }
    for client in &cluster.tls.clients {
        wanted.push((paths.extra_client(&client.name), Leaf::Extra(client)));
    }
    wanted
}

/// Every file the cluster is missing, generated in memory; nothing is written.
fn plan(
    cluster: &Cluster,
    validity: Validity,
    now: OffsetDateTime,
    outcome: &mut Outcome,
) -> Result<Vec<NewFile>, Report> {
    let paths = &cluster.tls.paths;
    let wanted = leaves(cluster);
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
    if !ca_present && leaves_present.iter().any(|present| *present) {
        return Err(ca_missing(&ca_pair, &wanted, &leaves_present));
    }
    let key_mode = cluster.tls.key_mode;
    let mut files = Vec::new();
    let issuer = if ca_present {
        outcome
            .kept
            .extend([ca_pair.cert.clone(), ca_pair.key.clone()]);
        load_issuer(paths)?
    } else {
        if paths.root().exists() {
            return Err(intermediate_missing(paths));
        }
        let (issuer, cert_pem, key_pem) = new_ca(cluster, validity, now)?;
        files.extend(pair_files(&ca_pair, &cert_pem, &key_pem, key_mode));
        issuer
    };
    let leaf_not_after = not_after(now, validity.leaf_days, "--leaf-days / tls.leaf_days")?;
    if leaf_not_after > issuer.not_after && leaves_present.iter().any(|present| !present) {
        return Err(outlives_ca(
            validity.leaf_days,
            issuer.not_after,
            &ca_pair.cert,
        ));
    }
    for ((pair, leaf), present) in wanted.iter().zip(leaves_present) {
        if present {
            outcome.kept.extend([pair.cert.clone(), pair.key.clone()]);
            continue;
        }
        files.extend(issue(
            pair,
            leaf,
            validity.leaf_days,
            now,
            &issuer,
            &cluster.tls,
        )?);
    }
    Ok(files)
}

/// The CA that signs leaves: its key, the name it signs as, its key identifier, and the
/// certificates a leaf appends to itself (the intermediates, when `root.crt` is the anchor).
pub(super) struct Issuing {
    key: PrivateKey,
    name: x509_cert::name::Name,
    key_identifier: Option<Vec<u8>>,
    chain_pem: String,
    pub not_after: OffsetDateTime,
}

/// A new key of the spec's algorithm and a certificate for it signed by `issuer`, as the two
/// files of `pair` (the certificate file followed by the intermediates, if any).
pub(super) fn issue(
    pair: &CertPair,
    leaf: &Leaf,
    leaf_days: u32,
    now: OffsetDateTime,
    issuer: &Issuing,
    tls: &crate::resolve::TlsSettings,
) -> Result<[NewFile; 2], Report> {
    let key = PrivateKey::generate(tls.key_algorithm).map_err(|e| file_error(&pair.key, &e))?;
    let profile = leaf_profile(leaf, leaf_days, now)?;
    let signer = Signer {
        key: &issuer.key,
        name: issuer.name.clone(),
        key_identifier: issuer.key_identifier.clone(),
    };
    let der = certificate::issue(&profile, &key.public_key(), Some(&signer), None)
        .map_err(|e| file_error(&pair.cert, &e))?;
    let cert_pem = keys::pem("CERTIFICATE", &der) + &issuer.chain_pem;
    let key_pem = key.to_pem().map_err(|e| file_error(&pair.key, &e))?;
    Ok(pair_files(pair, &cert_pem, &key_pem, tls.key_mode))
}

/// A new self-signed CA of the spec's key algorithm: the issuer, its certificate and key.
fn new_ca(
    cluster: &Cluster,
    validity: Validity,
    now: OffsetDateTime,
) -> Result<(Issuing, String, String), Report> {
    let ca = cluster.tls.paths.ca();
    let key =
        PrivateKey::generate(cluster.tls.key_algorithm).map_err(|e| file_error(&ca.key, &e))?;
    let profile = Profile {
        common_name: format!("{} etcd CA", cluster.name),
        organization: None,
        purpose: Purpose::Ca,
        not_before: now - BACKDATE,
        not_after: not_after(now, validity.ca_days, "--ca-days / tls.ca_days")?,
    };
    let der = certificate::issue(&profile, &key.public_key(), None, Some(&key))
        .map_err(|e| file_error(&ca.cert, &e))?;
    let key_pem = key.to_pem().map_err(|e| file_error(&ca.key, &e))?;
    let issuer = issuing(key, &der, String::new()).map_err(|e| file_error(&ca.cert, &e))?;
    Ok((issuer, keys::pem("CERTIFICATE", &der), key_pem))
}

/// The issuer for `key` and its CA certificate (DER).
fn issuing(key: PrivateKey, ca_der: &[u8], chain_pem: String) -> Result<Issuing, String> {
    let (_, ca) = X509Certificate::from_der(ca_der)
        .map_err(|_| "is not a readable X.509 certificate".to_string())?;
    let name = certificate::name_from_der(ca.subject().as_raw())?;
    let key_identifier = ca
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        });
    let not_after = OffsetDateTime::from_unix_timestamp(ca.validity().not_after.timestamp())
        .map_err(|_| "has an expiry date kindling cannot represent".to_string())?;
    Ok(Issuing {
        key,
        name,
        key_identifier,
        chain_pem,
        not_after,
    })
}

/// The CA is gone but leaves it signed are still there: a new CA beside them would leave a
/// cluster whose members reject each other.
fn ca_missing(ca: &CertPair, wanted: &[(CertPair, Leaf)], present: &[bool]) -> Report {
    let kept: Vec<String> = wanted
        .iter()
        .zip(present)
        .filter(|(_, present)| **present)
        .map(|((pair, _), _)| pair.cert.display().to_string())
        .collect();
    let shown = match kept.as_slice() {
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} and {} more", rest.len()),
        [] => String::new(),
    };
    Diagnostic::error(
        "pki.ca-missing",
        format!("{} is missing, but {shown} exist: a new CA would not have signed them, and members would reject each other", ca.cert.display()),
        Location::File(ca.cert.clone()),
    )
    .with_help("restore ca.crt and ca.key; or, to start a new PKI, move every certificate and key of the TLS directory away and run pki init again")
    .into()
}

pub(super) fn outlives_ca(leaf_days: u32, ca_end: OffsetDateTime, ca_cert: &Path) -> Report {
    Diagnostic::error(
        "pki.leaf-outlives-ca",
        format!(
            "leaf certificates of {leaf_days} days would outlive the CA, which expires {}",
            ca_end.date()
        ),
        Location::File(ca_cert.to_path_buf()),
    )
    .with_help("give the leaves fewer days (--leaf-days), or a CA more (--ca-days)")
    .into()
}

fn pair_files(pair: &CertPair, cert_pem: &str, key_pem: &str, key_mode: u32) -> [NewFile; 2] {
    [
        NewFile {
            path: pair.cert.clone(),
            bytes: cert_pem.as_bytes().to_vec(),
            mode: 0o644,
        },
        NewFile {
            path: pair.key.clone(),
            bytes: key_pem.as_bytes().to_vec(),
            mode: key_mode,
        },
    ]
}

/// Whether a journaled file may replace one that exists (`pki renew`) or must be new.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Placement {
    New,
    Replace,
}

/// Stages every file in the journal directory, writes the manifest last, moves each file
/// into place, then removes the journal.
fn write_journaled(dir: &Path, files: &[NewFile]) -> Result<(), Report> {
    write_journal(dir, files, Placement::New)
}

/// The journaled write both commands use: a run killed before the manifest is written left
/// nothing; one killed after it is finished by the next `pki init` or `pki renew`.
pub(super) fn write_journal(
    dir: &Path,
    files: &[NewFile],
    placement: Placement,
) -> Result<(), Report> {
    if files.is_empty() {
        return Ok(());
    }
    let pending = dir.join(PENDING);
    crate::emit::tree::make_dirs(&pending, 0o700)?;
    let mut manifest = String::new();
    for (index, file) in files.iter().enumerate() {
        crate::emit::tree::write_file(
            &pending,
            &index.to_string(),
            &crate::emit::tree::Contents::Bytes(file.bytes.clone()),
            file.mode,
        )?;
        let target = file
            .path
            .strip_prefix(dir)
            .ok()
            .and_then(Path::to_str)
            .ok_or_else(|| {
                file_error(&file.path, "is not a UTF-8 path inside the TLS directory")
            })?;
        let mark = if placement == Placement::Replace {
            "\treplace"
        } else {
            ""
        };
        manifest.push_str(&format!("{index}\t{target}{mark}\n"));
    }
    crate::emit::create_new(&pending.join(MANIFEST), manifest.as_bytes(), 0o600)?;
    crate::emit::crash_point("pki-after-manifest");
    finish_pending(dir).map(|_| ())
}

/// Completes a journaled run: links every staged file the manifest lists whose target is
/// missing and checks the ones already there (or, for a `replace` line, renames the staged
/// file over its target; one renamed already is gone from the journal), and removes the
/// journal. A journal without a manifest is a run killed while staging, and is discarded.
/// Returns the files created or replaced.
pub(super) fn finish_pending(dir: &Path) -> Result<Vec<PathBuf>, Report> {
    let pending = dir.join(PENDING);
    if !pending.exists() {
        return Ok(Vec::new());
    }
    let mut created = Vec::new();
    if let Ok(manifest) = crate::read::text(&pending.join(MANIFEST), crate::read::SPEC_LIMIT) {
        for line in manifest.lines() {
            let mut fields = line.split('\t');
            let (Some(staged), Some(target)) = (fields.next(), fields.next()) else {
                continue;
            };
            let replace = fields.next() == Some("replace");
            if staged.contains('/') || target.split('/').any(|part| part == "..") {
                continue;
            }
            let target = dir.join(target);
            let placed = if replace {
                rename_into_place(&pending.join(staged), &target)?
            } else {
                link_into_place(&pending.join(staged), &target)?
            };
            if placed {
                created.push(target);
            }
            crate::emit::crash_point("pki-mid-link");
        }
    }
    std::fs::remove_dir_all(&pending).map_err(|e| Report::io(&pending, "remove", &e))?;
    crate::emit::sync_dir(dir);
    Ok(created)
}

/// Links `staged` at `target`; Ok(false) when the same bytes are already there, an error
/// when other bytes are.
fn link_into_place(staged: &Path, target: &Path) -> Result<bool, Report> {
    if let Some(parent) = target.parent() {
        crate::emit::tree::make_dirs(parent, 0o700)?;
    }
    match std::fs::hard_link(staged, target) {
        Ok(()) => {
            if let Some(parent) = target.parent() {
                crate::emit::sync_dir(parent);
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let same = std::fs::read(staged).ok() == std::fs::read(target).ok();
            if same {
                Ok(false)
            } else {
                Err(Diagnostic::error(
                    "pki.pending-conflict",
                    format!("{} was created by someone else while a pki init was interrupted", target.display()),
                    Location::File(target.to_path_buf()),
                )
                .with_help("move it away (or remove the .kindling-pending directory) and run pki init again")
                .into())
            }
        }
        Err(e) => Err(Report::io(target, "create", &e)),
    }
}

/// Renames `staged` over `target`; Ok(false) when an earlier, interrupted finish already did.
fn rename_into_place(staged: &Path, target: &Path) -> Result<bool, Report> {
    if !staged.exists() {
        return Ok(false);
    }
    if let Some(parent) = target.parent() {
        crate::emit::tree::make_dirs(parent, 0o700)?;
    }
    std::fs::rename(staged, target).map_err(|e| Report::io(target, "replace", &e))?;
    if let Some(parent) = target.parent() {
        crate::emit::sync_dir(parent);
    }
    Ok(true)
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
                    .with_help(format!("pki init never completes half a pair: restore the missing file, or run `{}` to replace both with a new pair", pair.renew_command())),
            );
            false
        }
    }
}

/// The CA the operator keeps in the TLS directory, as an issuer: `ca.key` in any form
/// `tls::keys` reads, `ca.crt` its certificate (followed, under an offline root, by any
/// CA between it and `root.crt`). The intermediates' chain to the root is checked here,
/// before anything is signed.
pub(super) fn load_issuer(paths: &PkiPaths) -> Result<Issuing, Report> {
    let pair = paths.ca();
    let read = |path: &Path| {
        crate::read::text(path, crate::read::SPEC_LIMIT)
            .map_err(|e| file_error(path, &format!("cannot read it: {e}")))
    };
    let cert_pem = read(&pair.cert)?;
    let key_pem = read(&pair.key)?;
    let key = PrivateKey::from_pem(&key_pem).map_err(|problem| {
        let (message, help) = problem.describe(&pair.key);
        Report::from(
            Diagnostic::error("pki.ca-key", message, Location::File(pair.key.clone()))
                .with_help(help),
        )
    })?;
    let ders = keys::certificate_ders(&cert_pem);
    let Some(ca_der) = ders.first() else {
        return Err(file_error(&pair.cert, "holds no PEM certificate"));
    };
    let (_, ca) = X509Certificate::from_der(ca_der)
        .map_err(|_| file_error(&pair.cert, "is not a readable X.509 certificate"))?;
    if PublicKey::from_spki_der(ca.public_key().raw).ok() != Some(key.public_key()) {
        return Err(Diagnostic::error(
            "pki.ca-mismatch",
            format!(
                "{} does not belong to {}",
                pair.key.display(),
                pair.cert.display()
            ),
            Location::File(pair.key.clone()),
        )
        .with_help("ca.key must be the private key of the first certificate in ca.crt")
        .into());
    }
    if !ca.is_ca() {
        return Err(file_error(
            &pair.cert,
            "is not a CA certificate (no basicConstraints CA:TRUE): etcd would not accept what it signs",
        ));
    }
    let chain_pem = if paths.root().exists() {
        check_intermediates(paths, &ders)?;
        ders.iter()
            .map(|der| keys::pem("CERTIFICATE", der))
            .collect()
    } else if ders.len() > 1 {
        return Err(Diagnostic::error(
            "pki.ca-bundle",
            format!("{} holds {} certificates, and there is no root.crt", pair.cert.display(), ders.len()),
            Location::File(pair.cert.clone()),
        )
        .with_help("an intermediate CA goes in ca.crt (with any CA between it and the root after it), its key in ca.key, and the root, which the members trust, alone in root.crt")
        .into());
    } else {
        String::new()
    };
    issuing(key, ca_der, chain_pem).map_err(|e| file_error(&pair.cert, &e))
}

/// `ca.crt` (an intermediate and any CA above it) must chain to `root.crt`.
fn check_intermediates(paths: &PkiPaths, ders: &[Vec<u8>]) -> Result<(), Report> {
    let root_path = paths.root();
    let root_pem = crate::read::text(&root_path, crate::read::SPEC_LIMIT)
        .map_err(|e| file_error(&root_path, &format!("cannot read it: {e}")))?;
    let root_ders = keys::certificate_ders(&root_pem);
    let [root_der] = root_ders.as_slice() else {
        return Err(file_error(
            &root_path,
            "must hold exactly one PEM certificate, the trust anchor",
        ));
    };
    let unreadable = || file_error(&paths.ca().cert, "is not a readable X.509 certificate");
    let (_, root) = X509Certificate::from_der(root_der)
        .map_err(|_| file_error(&root_path, "is not a readable X.509 certificate"))?;
    let chain = ders
        .iter()
        .map(|der| {
            X509Certificate::from_der(der)
                .map(|(_, c)| c)
                .map_err(|_| unreadable())
        })
        .collect::<Result<Vec<_>, _>>()?;
    match crate::tls::chain::verify(&chain, &root) {
        Ok(()) | Err(crate::tls::chain::ChainProblem::Unchecked(_)) => Ok(()),
        Err(problem) => Err(Diagnostic::error(
            "pki.chain",
            format!("{} does not chain to {}: {}", paths.ca().cert.display(), root_path.display(), crate::tls::chain::describe(&problem)),
            Location::File(paths.ca().cert.clone()),
        )
        .with_help("ca.crt must be the intermediate the root signed (followed by any CA between them); root.crt the root itself")
        .into()),
    }
}

/// `root.crt` is there but no intermediate to sign with: kindling never makes one (the
/// root's key stays offline).
fn intermediate_missing(paths: &PkiPaths) -> Report {
    Diagnostic::error(
        "pki.intermediate-missing",
        format!("{} is the trust anchor, but {} and its key are missing", paths.root().display(), paths.ca().cert.display()),
        Location::File(paths.ca().cert.clone()),
    )
    .with_help("with an offline root, kindling signs with an intermediate CA the root issued: put its certificate in ca.crt and its key in ca.key (or remove root.crt to let pki init make a CA of its own)")
    .into()
}

pub(super) enum Leaf<'a> {
    Client,
    Server(&'a Node),
    Peer(&'a Node),
    Extra(&'a ClientCert),
}

fn leaf_profile(leaf: &Leaf, leaf_days: u32, now: OffsetDateTime) -> Result<Profile, Report> {
    let client_only = |common_name: &str, organization: Option<String>| {
        let purpose = Purpose::Leaf {
            sans: Vec::new(),
            server: false,
            client: true,
        };
        (common_name.to_string(), organization, purpose)
    };
    let (common_name, organization, purpose) = match leaf {
        Leaf::Client => client_only("etcdctl", None),
        Leaf::Extra(client) => client_only(&client.name, client.organization.clone()),
        // Peers are clients of each other; servers need clientAuth too, because etcd's gRPC
        // gateway dials its own listener with the server certificate.
        Leaf::Server(node) | Leaf::Peer(node) => (
            node.name.clone(),
            None,
            Purpose::Leaf {
                sans: node_sans(node),
                server: true,
                client: true,
            },
        ),
    };
    Ok(Profile {
        common_name,
        organization,
        purpose,
        not_before: now - BACKDATE,
        not_after: not_after(now, leaf_days, "--leaf-days / tls.leaf_days")?,
    })
}

/// Every name a member is reached at: its name, FQDN, IP, and the loopback names local
/// clients use (127.0.0.1 is also the source address of loopback peer connections).
///
/// The node of a discovery cluster stands for every member: its certificate names the
/// cluster's domain (etcd's SRV discovery requires it) and every name under it, which any
/// member may have; no address (a member's is known at boot only).
fn node_sans(node: &Node) -> Vec<San> {
    if node.is_every_member() {
        let domain = node.fqdn.clone().unwrap_or_default();
        return vec![
            San::Dns(format!("*.{domain}")),
            San::Dns(domain),
            San::Dns("localhost".to_string()),
            San::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ];
    }
    let mut sans = vec![San::Dns(node.name.clone())];
    sans.extend(node.fqdn.clone().map(San::Dns));
    sans.push(San::Dns("localhost".to_string()));
    sans.push(San::Ip(node.ip));
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    if node.ip != localhost {
        sans.push(San::Ip(localhost));
    }
    sans
}

/// `at` without its fraction of a second: certificates hold whole seconds, and a leaf must
/// not end a fraction after the CA it was issued beside.
pub(super) fn whole_seconds(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(0).unwrap_or(at)
}

/// The end of a validity of `days` from now (backdated like the start). X.509 dates end
/// with the year 9999; a validity past it is refused, not wrapped or panicked on.
pub(super) fn not_after(
    now: OffsetDateTime,
    days: u32,
    setting: &str,
) -> Result<OffsetDateTime, Report> {
    (now - BACKDATE)
        .checked_add(Duration::days(i64::from(days)))
        .filter(|end| end.year() <= 9999)
        .ok_or_else(|| {
            Diagnostic::error(
                "pki.validity",
                format!(
                    "a validity of {days} days ends after the year 9999, the last X.509 can express"
                ),
                Location::Nowhere,
            )
            .with_help(format!("give {setting} a smaller number of days"))
            .into()
        })
}

fn file_error(path: &Path, message: &str) -> Report {
    Diagnostic::error(
        "pki.file",
        format!("{}: {message}", path.display()),
        Location::File(path.to_path_buf()),
    )
    .into()
}
