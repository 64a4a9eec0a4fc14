//! Checks that go beyond valid Ignition: what would keep the cluster from forming or working
//! once the machines boot. TLS material (`tls`), the etcd cluster itself (here), and drift
//! against committed configs (`drift`). `compile` runs `run` on every render, so
//! `kindling render` refuses what `kindling check` reports as an error.

pub mod drift;
pub mod operations;
pub mod tls;

use time::OffsetDateTime;

use crate::diag::{Diagnostic, Location, Report};
use crate::resolve::material::Material;
use crate::resolve::{Cluster, MetricsListen, Tuning, etcd};

/// Inputs of the checks that are not in the spec.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The time certificates are checked against.
    pub now: OffsetDateTime,
    /// Warn about certificates that expire within this many days.
    pub expiry_warning_days: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            now: OffsetDateTime::now_utc(),
            expiry_warning_days: 30,
        }
    }
}

/// What the checks look at.
pub struct Context<'a> {
    pub cluster: &'a Cluster,
    pub material: &'a Material,
    pub options: Options,
}

/// Runs every check.
pub fn run(cx: &Context) -> Report {
    let mut report = Report::default();
    tls::check(cx, &mut report);
    check_member_count(cx.cluster, &mut report);
    check_discovery(cx.cluster, &mut report);
    check_deprecated_names(cx.cluster, &mut report);
    check_quota(cx.cluster, &mut report);
    check_metrics_exposure(cx.cluster, &mut report);
    operations::check(cx.cluster, &mut report);
    report.without_repeats()
}

/// The member settings of the cluster and of every node: a node's overrides can add env
/// settings and a quota the cluster's own do not have.
fn tunings(cluster: &Cluster) -> impl Iterator<Item = &Tuning> {
    std::iter::once(&cluster.etcd.tuning).chain(cluster.nodes.iter().map(|n| &n.tuning))
}

/// The quorum table, short enough for one help line: members (majority, failures
/// tolerated), this cluster's size marked.
fn quorum_table(current: usize) -> String {
    let rows: Vec<String> = (1..=7)
        .map(|n| {
            let marker = if n == current { " <- this cluster" } else { "" };
            format!("{n} ({}, {}){marker}", n / 2 + 1, (n - 1) / 2)
        })
        .collect();
    format!(
        "members (majority, failures tolerated): {}",
        rows.join(", ")
    )
}

fn check_member_count(cluster: &Cluster, report: &mut Report) {
    // A discovery cluster starts with its founders; later members join one at a time.
    let count = cluster
        .discovery
        .as_ref()
        .map_or(cluster.nodes.len(), |d| d.bootstrap.len());
    let Some(first) = cluster.nodes.first() else {
        return;
    };
    let location = Location::Source(first.span.clone());
    if count == 1 {
        report.push(
            Diagnostic::warning(
                "etcd.single-member",
                "a one-member cluster tolerates no failure: fine for tests, not for production",
                location,
            )
            .with_help(quorum_table(count)),
        );
    } else if count.is_multiple_of(2) {
        let message = format!(
            "{count} members tolerate no more failures than {}, and need a larger majority",
            count - 1
        );
        report.push(
            Diagnostic::warning("etcd.even-members", message, location)
                .with_help(format!("use an odd member count: {}", quorum_table(count))),
        );
    }
}

/// kindling always writes a static initial cluster; discovery settings would fight it.
fn check_discovery(cluster: &Cluster, report: &mut Report) {
    for (name, _, span) in tunings(cluster).flat_map(|t| &t.extra_env) {
        if name.starts_with("ETCD_DISCOVERY") {
            report.push(
                Diagnostic::at("etcd.discovery-mixed", format!("{name} cannot be combined with the static ETCD_INITIAL_CLUSTER kindling writes"), span)
                    .with_help("etcd refuses to start with both; kindling bootstraps from the node list, so drop the discovery setting"),
            );
        }
    }
}

/// etcd 3.6 still accepts the old experimental names but deprecates them, and refuses to
/// start when a setting is given under both its old and its new name.
fn check_deprecated_names(cluster: &Cluster, report: &mut Report) {
    if cluster.etcd.minor < 6 {
        return;
    }
    for tuning in tunings(cluster) {
        check_deprecated_env(&tuning.extra_env, report);
    }
}

fn check_deprecated_env(env: &[(String, String, crate::diag::Span)], report: &mut Report) {
    let gates = env
        .iter()
        .find(|(name, _, _)| name == "ETCD_FEATURE_GATES")
        .map_or("", |(_, value, _)| value.as_str());
    for (name, _, span) in env {
        let Some(replacement) = etcd::deprecated_in_3_6(name) else {
            continue;
        };
        let (instead, both) = match replacement {
            etcd::Replacement::Flag(flag) => {
                let new = etcd::env_name(flag);
                let both = env.iter().any(|(other, _, _)| *other == new);
                (new, both)
            }
            etcd::Replacement::FeatureGate(gate) => {
                let both = gates
                    .split(',')
                    .any(|entry| entry.trim().split('=').next() == Some(gate));
                (format!("ETCD_FEATURE_GATES={gate}=true"), both)
            }
        };
        if both {
            report.push(
                Diagnostic::at("etcd.env-both-names", format!("{name} and {instead} set the same thing"), span)
                    .with_help("etcd 3.6 refuses to start when both the deprecated and the new name are given: keep only the new one"),
            );
        } else {
            report.push(
                Diagnostic::warning(
                    "etcd.env-deprecated",
                    format!("{name} is deprecated in etcd 3.6 and removed in 3.7"),
                    Location::Source(span.clone()),
                )
                .with_help(format!("use {instead}")),
            );
        }
    }
}

const QUOTA_WARNING_BYTES: u64 = 8 * 1024 * 1024 * 1024;

fn check_quota(cluster: &Cluster, report: &mut Report) {
    for tuning in tunings(cluster) {
        let quota = tuning.quota_backend_bytes;
        if quota <= QUOTA_WARNING_BYTES {
            continue;
        }
        let span = tuning
            .quota_span
            .clone()
            .unwrap_or_else(|| cluster.etcd.version_span.clone());
        report.push(
            Diagnostic::warning("etcd.quota-large", format!("quota_backend_bytes {quota} is above 8 GiB"), Location::Source(span))
                .with_help("etcd warns about it and larger databases make defragmentation and snapshots slow; 8 GiB is the suggested maximum"),
        );
    }
}

/// A firewall (`firewall:`) limits the metrics port to its `metrics_cidrs`: then they are not
/// exposed.
fn check_metrics_exposure(cluster: &Cluster, report: &mut Report) {
    if cluster.firewall.is_some() {
        return;
    }
    let exposed = match cluster.etcd.metrics_listen {
        MetricsListen::Localhost => false,
        MetricsListen::NodeIp => cluster.nodes.iter().any(|n| !n.ip.is_loopback()),
        MetricsListen::Fixed(ip) => !ip.is_loopback(),
    };
    if exposed {
        let span = cluster
            .etcd
            .metrics_listen_span
            .clone()
            .unwrap_or_else(|| cluster.etcd.version_span.clone());
        report.push(
            Diagnostic::warning("etcd.metrics-exposed", "the metrics and health endpoint listens on a network address over plain HTTP", Location::Source(span))
                .with_help("anyone who reaches it can read metrics: keep metrics_listen: localhost, or add a `firewall:` section (its metrics_cidrs say who may read them)"),
        );
    }
}
