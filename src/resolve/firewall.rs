//! `firewall:` of the spec: who may reach a member. The peer port is open to the members
//! alone (the list comes from the nodes, so it cannot leave one out), the client port to
//! the members and the listed networks, the metrics listener to the monitoring networks,
//! SSH to everyone unless told otherwise; everything else that arrives is dropped.
//!
//! The rules are written for Flatcar's `iptables-restore.service` and
//! `ip6tables-restore.service` (docs/profiles.md says why those); this module derives the
//! rule lines, the templates print them.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::monitoring::{MonitoringSettings, Scrape, metrics_reachable};
use super::{EtcdSettings, Node, Resolver, values};
use crate::diag::{Diagnostic, Location, Span};

/// The chain every member's address is accepted in: `kindling-firewall-member` adds a
/// member that joins later to it on the running nodes.
pub const MEMBERS_CHAIN: &str = "KINDLING-MEMBERS";

/// Where Flatcar's restore units read the rules from.
pub const IPV4_RULES: &str = "/var/lib/iptables/rules-save";
pub const IPV6_RULES: &str = "/var/lib/ip6tables/rules-save";

/// `firewall:` of the spec, checked.
#[derive(Debug)]
pub struct FirewallSettings {
    pub client_cidrs: Vec<IpNet>,
    pub metrics_cidrs: Vec<IpNet>,
    pub ssh_cidrs: Vec<IpNet>,
    pub allow: Vec<ExtraPort>,
    pub span: Span,
}

/// A port the spec opens beyond etcd's and SSH.
#[derive(Debug)]
pub struct ExtraPort {
    pub port: u16,
    pub protocol: String,
    pub cidrs: Vec<IpNet>,
}

const SSH_PORT: u16 = 22;

pub(super) fn resolve_firewall(r: &mut Resolver, etcd: &EtcdSettings) -> Option<FirewallSettings> {
    let written = r.doc.spec.firewall.as_ref()?;
    let span = r.span(written);
    let section = &written.value;
    let client_cidrs = cidrs(r, &section.client_cidrs);
    let metrics_cidrs = cidrs(r, &section.metrics_cidrs);
    if !metrics_reachable(etcd)
        && let Some(first) = section.metrics_cidrs.first()
    {
        let span = r.span(first);
        r.report.push(
            Diagnostic::warning(
                "firewall.metrics-unreachable",
                "the metrics listen on localhost only: opening their port to these networks lets nothing in",
                Location::Source(span),
            )
            .with_help("set etcd.metrics_listen: node to serve them on the node's address, or scrape the client port (monitoring.client)"),
        );
    }
    // 0.0.0.0/0 and ::/0.
    let everyone: Vec<IpNet> = vec![Ipv4Net::default().into(), Ipv6Net::default().into()];
    let ssh_cidrs = section
        .ssh_cidrs
        .as_ref()
        .map_or(everyone, |written| cidrs(r, written));
    let taken = [
        (
            etcd.client_port,
            "the client port: list its networks in firewall.client_cidrs",
        ),
        (
            etcd.peer_port,
            "the peer port, which only members may reach",
        ),
        (
            etcd.metrics_port,
            "the metrics port: list its networks in firewall.metrics_cidrs",
        ),
        (SSH_PORT, "SSH: list its networks in firewall.ssh_cidrs"),
    ];
    let mut allow = Vec::new();
    for entry in &section.allow {
        let port = entry.value.port.value;
        if let Some((_, why)) = taken.iter().find(|(taken, _)| *taken == port) {
            let span = r.span(&entry.value.port);
            r.error(
                "firewall.port",
                &span,
                format!("port {port} is {why}"),
                "firewall.allow is for other ports (a node exporter, a kubelet)",
            );
            continue;
        }
        if port == 0 {
            let span = r.span(&entry.value.port);
            r.error(
                "firewall.port",
                &span,
                "port 0 is no port".into(),
                "give a port from 1 to 65535",
            );
            continue;
        }
        let protocol = r.choice(
            "firewall.protocol",
            &entry.value.protocol,
            &["tcp", "udp"],
            "tcp",
        );
        let cidrs = cidrs(r, &entry.value.cidrs);
        allow.push(ExtraPort {
            port,
            protocol,
            cidrs,
        });
    }
    Some(FirewallSettings {
        client_cidrs,
        metrics_cidrs,
        ssh_cidrs,
        allow,
        span,
    })
}

fn cidrs(r: &mut Resolver, written: &[serde_saphyr::Spanned<String>]) -> Vec<IpNet> {
    written
        .iter()
        .filter_map(|cidr| {
            let span = r.span(cidr);
            r.check(
                "firewall.cidr",
                span,
                values::cidr(&cidr.value).map(Some),
                None,
            )
        })
        .collect()
}

/// Refuses a firewall that drops Prometheus on its way to the port it scrapes, and says
/// when kindling cannot tell (no `monitoring.scrape_from`).
pub(super) fn check_scrapes(
    r: &mut Resolver,
    firewall: &FirewallSettings,
    monitoring: &MonitoringSettings,
    nodes: &[Node],
) {
    let (allowed, port_name): (Vec<IpNet>, &str) = match monitoring.scrape {
        Scrape::ClientPort { .. } => (
            nodes
                .iter()
                .map(|n| IpNet::from(n.ip))
                .chain(firewall.client_cidrs.iter().copied())
                .collect(),
            "the client port (firewall.client_cidrs)",
        ),
        Scrape::MetricsPort => (
            firewall.metrics_cidrs.clone(),
            "the metrics port (firewall.metrics_cidrs)",
        ),
    };
    if monitoring.scrape_from.is_empty() {
        r.report.push(
            Diagnostic::warning(
                "firewall.scrape-unknown",
                "with a firewall, kindling cannot tell whether Prometheus gets in",
                Location::Source(monitoring.span.clone()),
            )
            .with_help("list the addresses Prometheus scrapes from in monitoring.scrape_from"),
        );
        return;
    }
    for (source, span) in &monitoring.scrape_from {
        if allowed.iter().any(|net| net.contains(source)) {
            continue;
        }
        r.error(
            "firewall.scrape-dropped",
            span,
            format!("the firewall drops Prometheus at {source} on its way to {port_name}"),
            &format!("add {source} (or a network holding it) to the firewall's list for that port"),
        );
    }
}

/// The rule lines (iptables-restore's format, after the chain declarations) that let
/// traffic of one address family in, for one member.
pub fn rule_lines(
    firewall: &FirewallSettings,
    etcd: &EtcdSettings,
    nodes: &[Node],
    ipv6: bool,
) -> Vec<String> {
    let family = |net: &&IpNet| matches!(net, IpNet::V6(_)) == ipv6;
    let mut lines = Vec::new();
    let mut accept = |port: u16, protocol: &str, nets: &[IpNet], comment: &str| {
        for net in nets.iter().filter(family) {
            lines.push(format!(
                "-A INPUT -p {protocol} -s {net} --dport {port} -m comment --comment \"{comment}\" -j ACCEPT"
            ));
        }
    };
    accept(SSH_PORT, "tcp", &firewall.ssh_cidrs, "ssh");
    let mut members = vec![format!(
        "-A INPUT -p tcp -m multiport --dports {},{} -j {MEMBERS_CHAIN}",
        etcd.client_port, etcd.peer_port
    )];
    accept(
        etcd.client_port,
        "tcp",
        &firewall.client_cidrs,
        "etcd client",
    );
    if metrics_reachable(etcd) {
        accept(
            etcd.metrics_port,
            "tcp",
            &firewall.metrics_cidrs,
            "etcd metrics",
        );
    }
    for extra in &firewall.allow {
        accept(extra.port, &extra.protocol, &extra.cidrs, "firewall.allow");
    }
    members.extend(lines);
    for node in nodes.iter().filter(|n| n.ip.is_ipv6() == ipv6) {
        members.push(member_line(node.ip, &node.name));
    }
    members
}

/// The line that accepts one member's address in the members' chain.
pub fn member_line(ip: IpAddr, name: &str) -> String {
    format!(
        "-A {MEMBERS_CHAIN} -s {} -m comment --comment \"member {name}\" -j ACCEPT",
        IpNet::from(ip)
    )
}
