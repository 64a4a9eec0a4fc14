//! `kindling restore`: the cluster of a spec, rebuilt from one snapshot. Every member fetches
//! the same snapshot at first boot (Ignition checks its hash), restores it into its empty
//! data directory with its own name, the spec's members and a new cluster token, before its
//! etcd starts, once; then runs as usual. The token is new so that a member of the lost
//! cluster that comes back can never join the restored one.

use std::path::PathBuf;

use super::{Cluster, ProfileRef};
use crate::diag::{Diagnostic, Location, Report};

/// What the command line gives: the snapshot here, and where the nodes fetch it.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    pub snapshot: PathBuf,
    pub url: String,
}

/// A restore, checked: the snapshot's hash and the token the restored cluster gets.
#[derive(Debug, Clone)]
pub struct RestoreSettings {
    pub url: String,
    /// `sha256-<hex>`, for Ignition's verification of what it fetches.
    pub hash: String,
    /// The restored cluster's token: the spec's, the snapshot's hash after it.
    pub token: String,
}

/// bbolt's magic number, where an etcd snapshot (a bbolt database) keeps it: the first meta
/// page's, after the 16-byte page header, little-endian.
const BOLT_MAGIC: [u8; 4] = 0xED0C_DAEDu32.to_le_bytes();
const BOLT_MAGIC_AT: usize = 16;

/// Checks the request against the cluster and turns the cluster into the restored one: a new
/// cluster (state `new`) of every member, under the new token.
pub fn apply(cluster: &mut Cluster, request: &RestoreRequest) -> Result<(), Report> {
    let mut report = Report::default();
    let refuse = |code: &'static str, message: String, help: &str| {
        Diagnostic::error(code, message, Location::File(request.snapshot.clone())).with_help(help)
    };
    if cluster.profile.name_or_dir != ProfileRef::Named("flatcar-sysext".into()) {
        report.push(refuse(
            "restore.profile",
            "restore configs are written for the flatcar-sysext profile".into(),
            "with another profile, restore by hand: docs/operations.md, \"Disaster recovery\"",
        ));
    }
    if cluster.discovery.is_some() {
        report.push(refuse(
            "restore.discovery",
            "a discovery cluster's members name themselves at boot, but a restore gives every member its name and the others' addresses before it starts".into(),
            "for the restore, list the members under `nodes:` (names and addresses), drop `discovery:`, and restore: docs/operations.md, \"Disaster recovery\"",
        ));
    }
    let joining: Vec<&str> = cluster
        .nodes
        .iter()
        .filter(|n| n.join)
        .map(|n| n.name.as_str())
        .collect();
    if !joining.is_empty() {
        report.push(refuse(
            "restore.join",
            format!(
                "{} would join a running cluster, but a restore starts every member afresh",
                joining.join(", ")
            ),
            "remove `join: true`: every member of the spec is restored from the snapshot",
        ));
    }
    if !(request.url.starts_with("https://") || request.url.starts_with("http://")) {
        report.push(refuse(
            "restore.url",
            format!("{:?} is not an http(s) URL", request.url),
            "publish the snapshot where the nodes can fetch it (Matchbox's assets, a web server) and give its URL",
        ));
    }
    let hash = match snapshot_hash(&request.snapshot) {
        Ok(hash) => hash,
        Err(refused) => {
            report.extend(refused);
            String::new()
        }
    };
    if report.has_errors() {
        return Err(report);
    }
    let token = format!("{}-restored-{}", cluster.etcd.token, &hash[..12]);
    cluster.etcd.token.clone_from(&token);
    cluster.etcd.state = "new".into();
    cluster.restore = Some(RestoreSettings {
        url: request.url.clone(),
        hash: format!("sha256-{hash}"),
        token,
    });
    Ok(())
}

/// The snapshot's SHA-256 (hex), once it is known to be a bbolt database.
fn snapshot_hash(path: &std::path::Path) -> Result<String, Report> {
    let unreadable = |why: String| {
        Report::from(Diagnostic::error(
            "restore.snapshot",
            format!("{} cannot be read: {why}", path.display()),
            Location::File(path.to_path_buf()),
        ))
    };
    let mut head = [0u8; BOLT_MAGIC_AT + 4];
    let mut file = std::fs::File::open(path).map_err(|e| unreadable(e.to_string()))?;
    std::io::Read::read_exact(&mut file, &mut head).map_err(|e| unreadable(e.to_string()))?;
    if head[BOLT_MAGIC_AT..] != BOLT_MAGIC {
        return Err(Diagnostic::error(
            "restore.snapshot",
            format!("{} is not an etcd snapshot", path.display()),
            Location::File(path.to_path_buf()),
        )
        .with_help("give a file `etcdctl snapshot save` (or kindling's backup) wrote")
        .into());
    }
    super::material::sha256_file(path).map_err(|e| unreadable(e.to_string()))
}
