//! What keeps a cluster running past its first boot: members that join a running cluster,
//! scheduled snapshots, the roll lock that lets one member at a time restart or reboot, and
//! the extra client certificates other programs use. Values are checked and defaulted here;
//! the profile's templates only print them.

use super::{Cluster, Node, Resolver, value_or, values};
use crate::diag::Span;

/// `backup:` of the spec, with its defaults.
#[derive(Debug)]
pub struct BackupSettings {
    pub dir: String,
    /// A systemd calendar expression.
    pub schedule: String,
    /// Snapshots kept; older ones are deleted after each new one.
    pub keep: u32,
    /// Check each snapshot with `etcdutl snapshot status` (etcdctl's on 3.4) before keeping it.
    pub verify: bool,
    /// Where one member per schedule slot uploads its snapshot.
    pub s3: Option<super::offsite::S3Settings>,
}

/// `defrag:` of the spec, with its defaults.
#[derive(Debug)]
pub struct DefragSettings {
    /// A systemd calendar expression.
    pub schedule: String,
    /// A member defragments only when this much of its database file is free.
    pub min_free_bytes: u64,
}

/// `updates:` of the spec, with its defaults.
#[derive(Debug)]
pub struct UpdatesSettings {
    /// How long the roll lock outlives a member that died holding it.
    pub lock_ttl_seconds: u32,
    /// Take over Flatcar OS update reboots (locksmith is masked).
    pub os_reboots: bool,
}

/// An extra client certificate of `tls.clients`.
#[derive(Debug, Clone)]
pub struct ClientCert {
    pub name: String,
    pub organization: Option<String>,
    pub span: Span,
}

/// What an operator runs on the running cluster before a joining member boots.
#[derive(Debug, Clone)]
pub struct JoinStep {
    pub node: String,
    /// With `firewall:`, run on every running member first: lets the new member in.
    pub firewall: Option<String>,
    /// The `etcdctl member add`, run once against the cluster.
    pub command: String,
}

pub const DEFAULT_LOCK_TTL_SECONDS: u32 = 900;

/// Directories every Flatcar node has, or that kindling's configs put etcd's files in.
/// Ignition applies a directory entry's mode and owner to a directory that exists, so a
/// backup directory of `/var/lib` leaves it 0700 root:root at first boot, and etcd (uid 232)
/// can no longer reach /var/lib/etcd.
const SYSTEM_DIRS: &[&str] = &[
    "/",
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/lib64",
    "/media",
    "/mnt",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/srv",
    "/sys",
    "/tmp",
    "/usr",
    "/var",
    "/var/cache",
    "/var/home",
    "/var/lib",
    "/var/log",
    "/var/mnt",
    "/var/opt",
    "/var/spool",
    "/var/tmp",
    "/var/lib/systemd",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/var/lib/kubelet",
    "/opt/extensions",
    "/etc/extensions",
    "/var/lib/extensions",
];

/// Trees a backup cannot live in on Flatcar: read-only (/usr), gone at reboot (/tmp, /run),
/// not files at all (/proc, /sys, /dev), or configuration (/etc, /boot).
const UNFIT_TREES: &[&str] = &[
    "/usr", "/tmp", "/run", "/proc", "/sys", "/dev", "/etc", "/boot",
];

/// Why `dir` cannot be the backup directory, if it cannot.
fn unfit_backup_dir(dir: &str) -> Option<&'static str> {
    if SYSTEM_DIRS.contains(&dir) {
        return Some(
            "is a system directory: Ignition would make it 0700 root:root at first boot, and etcd (uid 232) and the OS could no longer reach what is in it",
        );
    }
    let inside = |tree: &&str| dir.starts_with(&format!("{tree}/"));
    UNFIT_TREES.iter().find(|tree| inside(tree)).map(|_| {
        "is in a tree that is read-only (/usr), emptied at reboot (/tmp, /run), virtual (/proc, /sys, /dev) or configuration (/etc, /boot) on Flatcar"
    })
}

pub(super) fn resolve_backup(r: &mut Resolver) -> Option<BackupSettings> {
    let section = &r.doc.spec.backup.as_ref()?.value;
    let dir = section.dir.as_ref().map_or_else(
        || "/var/lib/etcd-backup".to_string(),
        |d| r.checked("backup.dir", d, values::node_dir),
    );
    if let Some(written) = &section.dir
        && let Some(why) = unfit_backup_dir(&dir)
    {
        let span = r.span(written);
        r.error(
            "backup.dir",
            &span,
            format!("{dir} {why}"),
            "give the snapshots a directory of their own, such as /var/lib/etcd-backup or /var/mnt/backup/etcd",
        );
    }
    if let Some(written) = &section.dir
        && (dir == super::context::ETCD_LAYOUT.data_dir
            || dir.starts_with(&format!("{}/", super::context::ETCD_LAYOUT.data_dir)))
    {
        let span = r.span(written);
        r.error(
            "backup.dir",
            &span,
            format!("{dir} is etcd's data directory"),
            "keep snapshots outside /var/lib/etcd: a member restored or replaced gets a fresh data directory",
        );
    }
    let schedule = section.schedule.as_ref().map_or_else(
        || "daily".to_string(),
        |s| r.checked("backup.schedule", s, values::calendar),
    );
    let keep = value_or(&section.keep, 7);
    if let Some(written) = &section.keep
        && keep == 0
    {
        let span = r.span(written);
        r.error(
            "backup.keep",
            &span,
            "keep: 0 would delete every snapshot".into(),
            "keep at least 1 snapshot (7 is the default)",
        );
    }
    let s3 = section
        .s3
        .as_ref()
        .map(|s3| super::offsite::resolve_s3(r, &s3.value, keep));
    Some(BackupSettings {
        dir,
        schedule,
        keep,
        verify: value_or(&section.verify, true),
        s3,
    })
}

/// 100 MiB: less is not worth blocking a member for (etcd's mixin flags fragmentation only
/// past 100 MB in use, too).
const DEFAULT_DEFRAG_MIN_FREE: u64 = 100 * 1024 * 1024;

pub(super) fn resolve_defrag(r: &mut Resolver, quota_backend_bytes: u64) -> Option<DefragSettings> {
    let section = &r.doc.spec.defrag.as_ref()?.value;
    let schedule = section.schedule.as_ref().map_or_else(
        || "weekly".to_string(),
        |s| r.checked("defrag.schedule", s, values::calendar),
    );
    let min_free_bytes = value_or(&section.min_free_bytes, DEFAULT_DEFRAG_MIN_FREE);
    if let Some(written) = &section.min_free_bytes {
        let problem = if min_free_bytes == 0 {
            Some((
                "min_free_bytes: 0 defragments every member every time, blocking each for nothing"
                    .to_string(),
                "give the free space worth a defragmentation (100 MiB, 104857600, is the default)",
            ))
        } else if min_free_bytes >= quota_backend_bytes {
            Some((
                format!(
                    "{min_free_bytes} bytes free is more than the database may hold (quota_backend_bytes {quota_backend_bytes}): it would never defragment"
                ),
                "give less than the quota",
            ))
        } else {
            None
        };
        if let Some((message, help)) = problem {
            let span = r.span(written);
            r.error("defrag.min-free", &span, message, help);
        }
    }
    Some(DefragSettings {
        schedule,
        min_free_bytes,
    })
}

pub(super) fn resolve_updates(r: &mut Resolver) -> UpdatesSettings {
    let Some(section) = &r.doc.spec.updates else {
        return UpdatesSettings {
            lock_ttl_seconds: DEFAULT_LOCK_TTL_SECONDS,
            os_reboots: false,
        };
    };
    let lock_ttl_seconds = value_or(&section.lock_ttl_seconds, DEFAULT_LOCK_TTL_SECONDS);
    if let Some(written) = &section.lock_ttl_seconds
        && !(60..=86_400).contains(&lock_ttl_seconds)
    {
        let span = r.span(written);
        r.error(
            "updates.lock-ttl",
            &span,
            format!("a roll lock of {lock_ttl_seconds} s"),
            "give 60 to 86400 seconds: longer than a member takes to reboot and rejoin, short enough that a dead holder does not stall updates for long",
        );
    }
    UpdatesSettings {
        lock_ttl_seconds,
        os_reboots: value_or(&section.os_reboots, false),
    }
}

pub(super) fn resolve_clients(r: &mut Resolver) -> Vec<ClientCert> {
    let mut clients: Vec<ClientCert> = Vec::new();
    for entry in &r.doc.spec.tls.clients {
        let client = &entry.value;
        let name = r.checked("tls.client-name", &client.name, values::client_name);
        let span = r.span(&client.name);
        if let Some(first) = clients.iter().find(|c| c.name == name) {
            let help = format!("{name} is already declared at line {}", first.span.line);
            r.error(
                "tls.client-name",
                &span,
                format!("duplicate client {name}"),
                &help,
            );
            continue;
        }
        let organization = client
            .organization
            .as_ref()
            .map(|o| r.checked("tls.client-organization", o, values::organization));
        clients.push(ClientCert {
            name,
            organization,
            span,
        });
    }
    clients
}

/// A member joins a running cluster one at a time: `cluster.state: existing` says the
/// cluster runs, and the others are the members it will find.
pub(super) fn check_joins(r: &mut Resolver, nodes: &[Node], state: &str) {
    let joining: Vec<&Node> = nodes.iter().filter(|n| n.join).collect();
    for node in &joining {
        let span = join_span(node);
        if state == "new" {
            r.error(
                "spec.join-new-cluster",
                &span,
                format!("{} joins a running cluster, but cluster.state is new: a brand-new cluster has nothing to join", node.name),
                "bootstrap the cluster without `join` first; once it runs, set cluster.state: existing and add members with join: true, one at a time",
            );
        }
    }
    if joining.len() == nodes.len() && !nodes.is_empty() {
        let span = join_span(joining[0]);
        r.error(
            "spec.join-alone",
            &span,
            "every node joins, so no member is left to join".into(),
            "the members already running have no `join`; only the one being added has it",
        );
        return;
    }
    for node in joining.iter().skip(1) {
        let span = join_span(node);
        r.error(
            "spec.join-several",
            &span,
            format!("{} joins together with {}: members join one at a time", node.name, joining[0].name),
            "while two added members are still starting, the majority needs every member that runs, so one failure loses quorum: join one, wait until `etcdctl endpoint health --cluster` is healthy, remove its `join`, then add the next",
        );
    }
}

/// Where the spec says a node joins (its `join:` value).
fn join_span(node: &Node) -> Span {
    node.join_span.clone().unwrap_or_else(|| node.span.clone())
}

/// The `etcdctl member add` to run on the running cluster before each joining node boots.
pub fn join_steps(cluster: &Cluster) -> Vec<JoinStep> {
    cluster
        .nodes
        .iter()
        .filter(|n| n.join)
        .map(|node| JoinStep {
            node: node.name.clone(),
            firewall: cluster.firewall.as_ref().map(|_| {
                format!(
                    "sudo {} {} {}",
                    super::context::FIREWALL_MEMBER_SCRIPT,
                    node.name,
                    node.ip
                )
            }),
            command: format!(
                "etcdctl member add {} --peer-urls=https://{}:{}",
                node.name,
                node.advertise_host(),
                cluster.etcd.peer_port
            ),
        })
        .collect()
}

/// The client URL of every member, as etcdctl dials them: the roll lock must outlive the
/// restart of the member whose script holds it.
pub fn client_endpoints(cluster: &Cluster) -> String {
    if let Some(discovery) = &cluster.discovery {
        // The founding members, by name: the cluster is reachable while one of them is.
        return discovery
            .bootstrap
            .iter()
            .map(|(name, _)| {
                format!(
                    "https://{name}.{}:{}",
                    discovery.domain, cluster.etcd.client_port
                )
            })
            .collect::<Vec<_>>()
            .join(",");
    }
    cluster
        .nodes
        .iter()
        .map(|n| {
            format!(
                "https://{}:{}",
                n.advertise_host(),
                cluster.etcd.client_port
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}
