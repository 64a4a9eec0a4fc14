//! `kindling pki renew`: new leaf certificates, signed by the cluster's existing CA, in place
//! of ones that expire soon, that are named, or that lost half their pair.
//!
//! Each renewed pair gets a new key and a certificate for the spec as it is now (a node's
//! new IP or domain is picked up). The files keep their names, so the profile and every
//! node config refer to them unchanged. Replacement is journaled like `pki init`: a run
//! killed midway is finished by the next `pki init` or `pki renew`, never left with a key
//! that does not match its certificate. The CA itself is never renewed here.

use std::path::PathBuf;

use time::OffsetDateTime;

use super::init::{self, Leaf, NewFile, Placement};
use crate::diag::{Diagnostic, Location, Report};
use crate::resolve::Cluster;
use crate::tls::CertPair;

/// Which leaves to renew.
#[derive(Debug, Default, Clone)]
pub struct Selection {
    /// Renew leaves that expire within this many days (when no leaf is named).
    pub within_days: u32,
    /// Node names: their server and peer pairs.
    pub nodes: Vec<String>,
    /// Client names: `etcdctl` or a `tls.clients` name.
    pub clients: Vec<String>,
}

/// Why a pair was renewed, for the command's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Named,
    Expiring(OffsetDateTime),
    HalfPair,
    Unreadable,
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub renewed: Vec<(PathBuf, Reason)>,
    /// Pairs left as they were: valid beyond the window.
    pub kept: usize,
    /// Pairs that do not exist at all: `pki init` creates those.
    pub absent: Vec<PathBuf>,
}

/// Renews the selected leaves of the cluster.
pub fn renew(
    cluster: &Cluster,
    selection: &Selection,
    leaf_days: u32,
    now: OffsetDateTime,
) -> Result<Outcome, Report> {
    let now = init::whole_seconds(now);
    check_names(cluster, selection)?;
    let paths = &cluster.tls.paths;
    let ca = paths.ca();
    if !(ca.cert.exists() && ca.key.exists()) {
        return Err(Diagnostic::error(
            "pki.ca-missing",
            format!("{} and its key are needed to renew leaves, signed by the same CA the members trust", ca.cert.display()),
            Location::File(ca.cert.clone()),
        )
        .with_help("restore the CA; a new one would be a new PKI (move everything away and run pki init)")
        .into());
    }
    crate::emit::tree::make_dirs(paths.dir(), 0o700)?;
    let _lock = crate::emit::tree::hold_lock(paths.dir())?;
    init::finish_pending(paths.dir())?;
    let issuer = init::load_issuer(paths)?;
    let ca_end = issuer.not_after;
    let leaf_end = init::not_after(now, leaf_days, "--leaf-days / tls.leaf_days")?;
    let mut outcome = Outcome::default();
    let mut files: Vec<NewFile> = Vec::new();
    for (pair, leaf) in init::leaves(cluster) {
        let Some(reason) = reason(&pair, &leaf, selection, now, &mut outcome) else {
            continue;
        };
        if leaf_end > ca_end {
            return Err(init::outlives_ca(leaf_days, ca_end, &ca.cert));
        }
        files.extend(init::issue(
            &pair,
            &leaf,
            leaf_days,
            now,
            &issuer,
            &cluster.tls,
        )?);
        outcome.renewed.push((pair.cert.clone(), reason));
    }
    init::write_journal(paths.dir(), &files, Placement::Replace)?;
    init::record_proven(cluster)?;
    Ok(outcome)
}

/// Every named node and client must exist in the spec: a typo must not renew nothing.
fn check_names(cluster: &Cluster, selection: &Selection) -> Result<(), Report> {
    let mut report = Report::default();
    for node in &selection.nodes {
        if !cluster.nodes.iter().any(|n| &n.name == node) {
            let known: Vec<&str> = cluster.nodes.iter().map(|n| n.name.as_str()).collect();
            report.push(
                Diagnostic::error(
                    "pki.unknown-node",
                    format!("the spec has no node {node}"),
                    Location::Nowhere,
                )
                .with_help(format!("nodes: {}", known.join(", "))),
            );
        }
    }
    for client in &selection.clients {
        let known = client == "etcdctl" || cluster.tls.clients.iter().any(|c| &c.name == client);
        if !known {
            let mut names = vec!["etcdctl"];
            names.extend(cluster.tls.clients.iter().map(|c| c.name.as_str()));
            report.push(
                Diagnostic::error(
                    "pki.unknown-client",
                    format!("the spec has no client certificate {client}"),
                    Location::Nowhere,
                )
                .with_help(format!(
                    "clients: {} (tls.clients declares more)",
                    names.join(", ")
                )),
            );
        }
    }
    report.into_result(())
}

/// Why `pair` is renewed, or None when it is kept (or absent, which is `pki init`'s work).
fn reason(
    pair: &CertPair,
    leaf: &Leaf,
    selection: &Selection,
    now: OffsetDateTime,
    outcome: &mut Outcome,
) -> Option<Reason> {
    let named = !selection.nodes.is_empty() || !selection.clients.is_empty();
    let selected = match leaf {
        Leaf::Client => selection.clients.iter().any(|c| c == "etcdctl"),
        Leaf::Server(node) | Leaf::Peer(node) => selection.nodes.contains(&node.name),
        Leaf::Extra(client) => selection.clients.contains(&client.name),
    };
    match (pair.cert.exists(), pair.key.exists()) {
        (false, false) => {
            if selected || !named {
                outcome.absent.push(pair.cert.clone());
            }
            None
        }
        (true, true) if named => selected.then_some(Reason::Named),
        (true, true) => match expiry(pair) {
            // A window past the year 9999 holds every certificate's end.
            Some(end)
                if now
                    .checked_add(time::Duration::days(i64::from(selection.within_days)))
                    .is_none_or(|horizon| end <= horizon) =>
            {
                Some(Reason::Expiring(end))
            }
            // A certificate that cannot be read is replaced by one that can.
            None => Some(Reason::Unreadable),
            Some(_) => {
                outcome.kept += 1;
                None
            }
        },
        _ if named && !selected => None,
        _ => Some(Reason::HalfPair),
    }
}

fn expiry(pair: &CertPair) -> Option<OffsetDateTime> {
    let text = crate::read::text(&pair.cert, crate::read::SPEC_LIMIT).ok()?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(text.as_bytes()).ok()?;
    let cert = pem.parse_x509().ok()?;
    OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp()).ok()
}
