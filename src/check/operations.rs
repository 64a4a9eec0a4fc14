//! What makes a config that validates fail an operator months later: updates fetched over
//! plain HTTP without verification, PXE machines that keep etcd's data in RAM, advertised
//! names nothing resolves, and an etcd upgrade path etcd documents as unsafe.

use crate::diag::{Diagnostic, Location, Report};
use crate::resolve::Cluster;

/// The first v3.5 patch etcd supports upgrading to v3.6 from (etcd.io, "How to Prevent a
/// Common Failure when Upgrading etcd v3.5 to v3.6": v3.5.1 to v3.5.19 may turn voting
/// members into learners during the upgrade).
pub const FIRST_3_5_PATCH_FOR_3_6: u32 = 20;

pub fn check(cluster: &Cluster, report: &mut Report) {
    check_update_transport(cluster, report);
    check_pxe_persistence(cluster, report);
    check_peer_names(cluster, report);
    check_upgrade_path(cluster, report);
}

/// systemd-sysupdate runs with `Verify=false` (no signed SHA256SUMS exists for etcd
/// images), so over plain HTTP anyone on the path can hand a node another image.
fn check_update_transport(cluster: &Cluster, report: &mut Report) {
    let sysext = &cluster.sysext;
    if !sysext.update.enabled || !sysext.base_url.starts_with("http://") {
        return;
    }
    report.push(
        Diagnostic::warning(
            "sysext.insecure-updates",
            "updates are fetched over plain HTTP and systemd-sysupdate does not verify them (Verify=false)",
            Location::Source(sysext.base_span.clone()),
        )
        .with_help("serve the images over https (the first image is still checked by its hash), or set sysext.update.enabled: false and update by re-provisioning"),
    );
}

/// Without an install disk a PXE-booted machine runs from RAM: /var/lib/etcd is gone at
/// every reboot, and the member cannot rejoin with its old identity.
fn check_pxe_persistence(cluster: &Cluster, report: &mut Report) {
    let Some(matchbox) = &cluster.matchbox else {
        return;
    };
    let diskless: Vec<&str> = cluster
        .nodes
        .iter()
        .filter(|n| n.install_disk.is_none())
        .map(|n| n.name.as_str())
        .collect();
    if diskless.is_empty() {
        return;
    }
    report.push(
        Diagnostic::warning(
            "matchbox.no-install-disk",
            format!(
                "{} boot from PXE on every boot and keep /var/lib/etcd in RAM: a reboot loses the member's data",
                diskless.join(", ")
            ),
            Location::Source(matchbox.span.clone()),
        )
        .with_help("set matchbox.install_disk (or a node's overrides.matchbox.install_disk) so flatcar-install puts the OS and /var on a disk"),
    );
}

/// Members advertise `<node>.<domain>`; with neither /etc/hosts nor DNS servers in the
/// configs, those names resolve only if the site's DNS knows them.
fn check_peer_names(cluster: &Cluster, report: &mut Report) {
    let (Some(domain), Some(span)) = (&cluster.domain, &cluster.domain_span) else {
        return;
    };
    if cluster.discovery.is_some() {
        // Found through DNS by design: the member script waits until its name resolves.
        return;
    }
    let dns_given = cluster
        .nodes
        .iter()
        .all(|n| n.static_network.as_ref().is_some_and(|s| !s.dns.is_empty()));
    if cluster.network.hosts_file || dns_given {
        return;
    }
    let example = cluster
        .nodes
        .first()
        .map_or_else(String::new, |n| format!(" (e.g. {}.{domain})", n.name));
    report.push(
        Diagnostic::warning(
            "network.unresolved-peers",
            format!("members advertise names under {domain}{example}, and nothing in the configs makes them resolve"),
            Location::Source(span.clone()),
        )
        .with_help("set network.hosts_file: true (harmless when DNS knows the names too), or make sure the DNS server the nodes use (from DHCP, or network.dns) answers for every member"),
    );
}

/// With `track: any`, sysupdate takes the newest release, 3.6 included, from whatever 3.5
/// patch the cluster runs.
fn check_upgrade_path(cluster: &Cluster, report: &mut Report) {
    let etcd = &cluster.etcd;
    let update = &cluster.sysext.update;
    if etcd.minor != 5
        || etcd.patch >= FIRST_3_5_PATCH_FOR_3_6
        || !update.enabled
        || update.track != "any"
    {
        return;
    }
    report.push(
        Diagnostic::warning(
            "etcd.upgrade-path",
            format!(
                "with update.track: any, systemd-sysupdate may move these members from {} straight to v3.6, and etcd requires v3.5.{FIRST_3_5_PATCH_FOR_3_6} or later first",
                etcd.version
            ),
            Location::Source(etcd.version_span.clone()),
        )
        .with_help(format!("upgrade to v3.5.{FIRST_3_5_PATCH_FOR_3_6} or later with update.track: minor first, then allow 3.6 (etcd.io: \"upgrading etcd v3.5 to v3.6\" — members may turn into learners)")),
    );
}
