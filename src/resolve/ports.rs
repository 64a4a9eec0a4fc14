//! Ports and listeners across the cluster: ports an unprivileged etcd cannot bind, and no
//! two members listening on one address and port.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use super::{
    EtcdSettings, LOCALHOST, MetricsListen, Node, ProfileChoice, ProfileRef, Resolver, url_host,
};
use crate::diag::{Diagnostic, Severity};

/// Ports below 1024 need a privilege etcd does not have in the Flatcar profiles: it runs as
/// the `etcd` user (sysext) or as uid 232 (container), without CAP_NET_BIND_SERVICE, and
/// Flatcar keeps `net.ipv4.ip_unprivileged_port_start` at 1024, so every member would fail
/// with "bind: permission denied". The static-pod profile runs etcd as root, as kubeadm
/// does; for a profile directory the user is unknown, so it is a warning.
pub(super) fn check_privileged_ports(r: &mut Resolver, profile: &ProfileChoice) {
    let Some(ports) = r.doc.spec.etcd.ports.as_ref() else {
        return;
    };
    let runs_as = match &profile.name_or_dir {
        ProfileRef::Named(name) if name == "kubeadm-static-pod" => return,
        ProfileRef::Named(_) => Severity::Error,
        ProfileRef::Dir(_) => Severity::Warning,
    };
    let written = [
        ("client", &ports.client),
        ("peer", &ports.peer),
        ("metrics", &ports.metrics),
    ];
    for (name, port) in written {
        let Some(port) = port else { continue };
        if (1..1024).contains(&port.value) {
            let span = r.span(port);
            let message = format!(
                "the {name} port {} is below 1024, which only a privileged process may bind",
                port.value
            );
            let help = "etcd runs as an unprivileged user: every member would fail with \"bind: permission denied\"; use a port from 1024 up (2379, 2380 and 2381 are etcd's own)";
            let diagnostic = match runs_as {
                Severity::Error => Diagnostic::at("etcd.port-privileged", message, &span),
                Severity::Warning => Diagnostic::warning(
                    "etcd.port-privileged",
                    message,
                    crate::diag::Location::Source(span),
                ),
            };
            r.report.push(diagnostic.with_help(help));
        }
    }
}

/// Client, peer and metrics ports must differ; and no two members may listen on the same
/// address and port (a cluster on one host's loopback addresses, for example).
/// Nodes in `misaddressed` had their IP reported already and are left out of the socket
/// check, which would only repeat that finding as clashes.
pub(super) fn check_ports_and_sockets(
    r: &mut Resolver,
    etcd: &EtcdSettings,
    nodes: &[Node],
    misaddressed: &HashSet<String>,
) {
    let spec_ports = r.doc.spec.etcd.ports.as_ref();
    let named = [
        (
            "client",
            etcd.client_port,
            spec_ports.and_then(|p| p.client.as_ref()),
        ),
        (
            "peer",
            etcd.peer_port,
            spec_ports.and_then(|p| p.peer.as_ref()),
        ),
        (
            "metrics",
            etcd.metrics_port,
            spec_ports.and_then(|p| p.metrics.as_ref()),
        ),
    ];
    let fallback = r.span(&r.doc.spec.etcd.version);
    for (i, (name, port, spanned)) in named.iter().enumerate() {
        let own_span = spanned.map(|s| r.span(s));
        if *port == 0 {
            let span = own_span.clone().unwrap_or_else(|| fallback.clone());
            r.error(
                "etcd.port",
                &span,
                format!("the {name} port is 0"),
                "use a port from 1 to 65535",
            );
        }
        if let Some((other, _, other_spanned)) = named[..i].iter().find(|(_, p, _)| p == port) {
            // Point at whichever of the two ports the spec wrote (a default has no line).
            let span = own_span
                .or_else(|| other_spanned.map(|s| r.span(s)))
                .unwrap_or_else(|| fallback.clone());
            r.error(
                "etcd.port-clash",
                &span,
                format!("the {name} port {port} is also the {other} port"),
                "client, peer and metrics need three different ports",
            );
        }
    }
    let mut sockets: HashMap<(Option<IpAddr>, IpAddr, u16), String> = HashMap::new();
    for node in nodes.iter().filter(|n| !misaddressed.contains(&n.name)) {
        for (ip, port, purpose) in listen_sockets(etcd, node) {
            let this = format!("{}'s {purpose} listener", node.name);
            let key = (machine_of(node, ip), ip, port);
            if let Some(first) = sockets.get(&key) {
                let help = if purpose == "metrics" {
                    "these members share one host: set `etcd.metrics_listen: node` so each listens on its own IP"
                } else {
                    "give each member its own IP address"
                };
                r.error(
                    "etcd.socket-clash",
                    &node.ip_span,
                    format!("{this} on {}:{port} clashes with {first}", url_host(ip)),
                    help,
                );
            } else {
                sockets.insert(key, this);
            }
        }
    }
}

/// Which machine a listener address belongs to: loopback and wildcard addresses are private
/// to the member's machine; members whose own IP is a loopback address share one machine.
/// Other addresses are unique network-wide (None).
pub(super) fn machine_of(node: &Node, listen_ip: IpAddr) -> Option<IpAddr> {
    let machine_local = listen_ip.is_loopback() || listen_ip.is_unspecified();
    match (machine_local, node.ip.is_loopback()) {
        (false, _) => None,
        (true, true) => Some(LOCALHOST),
        (true, false) => Some(node.ip),
    }
}

/// The (address, port, purpose) sockets a member listens on; `context` turns the same
/// list into URLs, so the check and the config can never disagree.
pub fn listen_sockets(etcd: &EtcdSettings, node: &Node) -> Vec<(IpAddr, u16, &'static str)> {
    let mut sockets = vec![
        (node.ip, etcd.peer_port, "peer"),
        (node.ip, etcd.client_port, "client"),
    ];
    if !node.ip.is_loopback() {
        sockets.push((LOCALHOST, etcd.client_port, "client"));
    }
    let metrics_ip = match etcd.metrics_listen {
        MetricsListen::Localhost => LOCALHOST,
        MetricsListen::NodeIp => node.ip,
        MetricsListen::Fixed(ip) => ip,
    };
    sockets.push((metrics_ip, etcd.metrics_port, "metrics"));
    sockets
}
