//! `kindling pki init`: creates the cluster's TLS material in the spec's TLS directory.
//!
//! A CA, per node a server and a peer certificate, one etcdctl client certificate and the
//! `tls.clients`; EC P-256 keys; validity set explicitly. It never overwrites a key or
//! certificate: a pair that exists is kept (new node certs are signed by the existing CA), a
//! half pair (cert without key or the reverse) is an error whose help is `pki renew`, and a
//! missing CA beside existing leaves is an error (a new CA would not have signed them).
//! `pki renew` (`tls::renew`) is the one command that replaces leaves.
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

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use super::CertPair;
use crate::diag::{Diagnostic, Location, Report};
use crate::resolve::operations::ClientCert;
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

/// The journal directory of a run, inside the TLS directory.
const PENDING: &str = ".kindling-pending";
/// Its manifest: one `<staged name>\t<target path relative to the TLS directory>` line per file.
const MANIFEST: &str = "MANIFEST";

/// Creates whatever TLS material the cluster is missing.
pub fn init(cluster: &Cluster, validity: Validity, now: OffsetDateTime) -> Result<Outcome, Report> {
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
    super::proof::record(paths.dir(), &paths.ca().cert, &leaves)
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
    let (issuer, ca_not_after) = if ca_present {
        outcome
            .kept
            .extend([ca_pair.cert.clone(), ca_pair.key.clone()]);
        load_issuer(&ca_pair)?
    } else {
        let (params, key) = ca_params(&cluster.name, validity, now)?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| pki_error(&ca_pair.cert, &e))?;
        files.extend(pair_files(
            &ca_pair,
            &cert.pem(),
            &key.serialize_pem(),
            key_mode,
        ));
        let not_after = params.not_after;
        (Issuer::new(params, key), not_after)
    };
    let leaf_not_after = not_after(now, validity.leaf_days, "--leaf-days / tls.leaf_days")?;
    if leaf_not_after > ca_not_after && leaves_present.iter().any(|present| !present) {
        return Err(outlives_ca(validity.leaf_days, ca_not_after, &ca_pair.cert));
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
            key_mode,
        )?);
    }
    Ok(files)
}

/// A new key and a certificate for it signed by `issuer`, as the two files of `pair`.
pub(super) fn issue(
    pair: &CertPair,
    leaf: &Leaf,
    leaf_days: u32,
    now: OffsetDateTime,
    issuer: &Issuer<'static, KeyPair>,
    key_mode: u32,
) -> Result<[NewFile; 2], Report> {
    let key = KeyPair::generate().map_err(|e| pki_error(&pair.key, &e))?;
    let params = leaf_params(leaf, leaf_days, now, &key)?;
    let cert = params
        .signed_by(&key, issuer)
        .map_err(|e| pki_error(&pair.cert, &e))?;
    Ok(pair_files(
        pair,
        &cert.pem(),
        &key.serialize_pem(),
        key_mode,
    ))
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
                    .with_help(format!("pki init never completes half a pair: restore the missing file, or run `{}` to replace both with a new pair", renew_command(pair))),
            );
            false
        }
    }
}

/// The `kindling pki renew` that issues a new pair in place of `pair`: by node or client.
pub fn renew_command(pair: &CertPair) -> String {
    let stem = pair.cert.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let parent = pair.cert.parent();
    let parent_name = parent
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .unwrap_or("");
    let grandparent_name = parent
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .and_then(|n| n.to_str());
    let selector = match (stem, grandparent_name) {
        ("server" | "peer", Some("nodes")) => format!("--node {parent_name}"),
        _ => format!("--client {stem}"),
    };
    format!("kindling pki renew SPEC {selector}")
}

/// The existing CA as an issuer, and when it expires.
pub(super) fn load_issuer(
    pair: &CertPair,
) -> Result<(Issuer<'static, KeyPair>, OffsetDateTime), Report> {
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
    let not_after = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())
        .ok()
        .and_then(|(_, pem)| {
            let cert = pem.parse_x509().ok()?;
            OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp()).ok()
        })
        .ok_or_else(|| file_error(&pair.cert, "is not a readable PEM certificate"))?;
    let issuer = Issuer::from_ca_cert_pem(&cert_pem, key)
        .map_err(|e| file_error(&pair.cert, &format!("is not a usable CA certificate: {e}")))?;
    Ok((issuer, not_after))
}

pub(super) enum Leaf<'a> {
    Client,
    Server(&'a Node),
    Peer(&'a Node),
    Extra(&'a ClientCert),
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
    params.not_before = now - BACKDATE;
    params.not_after = not_after(now, validity.ca_days, "--ca-days / tls.ca_days")?;
    params.serial_number = Some(serial(&key, now));
    Ok((params, key))
}

fn leaf_params(
    leaf: &Leaf,
    leaf_days: u32,
    now: OffsetDateTime,
    key: &KeyPair,
) -> Result<CertificateParams, Report> {
    let mut params = CertificateParams::default();
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.not_before = now - BACKDATE;
    params.not_after = not_after(now, leaf_days, "--leaf-days / tls.leaf_days")?;
    params.serial_number = Some(serial(key, now));
    match leaf {
        Leaf::Client => {
            params.distinguished_name = name("etcdctl");
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        Leaf::Extra(client) => {
            params.distinguished_name = name(&client.name);
            if let Some(organization) = &client.organization {
                params
                    .distinguished_name
                    .push(DnType::OrganizationName, organization.as_str());
            }
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
