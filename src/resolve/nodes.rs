//! The `nodes:` section and `ssh_authorized_keys`: each member's name, address and MAC,
//! checked for repeats and against the subnet.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use serde_saphyr::Spanned;

use super::{LOCALHOST, Node, Resolver, Tuning, values};
use crate::diag::Span;
use crate::spec::NodeSpec;

/// The nodes, and the names of those whose IP was already reported (not an IP, or used by
/// another node): the socket check leaves them out, so one mistake is reported once.
pub(super) fn resolve_nodes(
    r: &mut Resolver,
    domain: Option<&str>,
    subnet: Option<ipnet::IpNet>,
) -> (Vec<Node>, HashSet<String>) {
    let spec = &r.doc.spec;
    let listed: &[NodeSpec] = spec.nodes.as_ref().map_or(&[], |n| &n.value);
    if listed.is_empty() {
        let span = spec
            .nodes
            .as_ref()
            .map_or_else(|| r.span(&spec.cluster.name), |nodes| r.span(nodes));
        r.error(
            "spec.no-nodes",
            &span,
            "the cluster has no nodes".into(),
            "list at least one node under `nodes:` (or describe members found by DNS under `discovery:`)",
        );
    }
    let nodes: Vec<Node> = listed
        .iter()
        .map(|node| resolve_node(r, node, domain, subnet))
        .collect();
    let mut misaddressed: HashSet<String> = listed
        .iter()
        .filter(|node| values::node_ip(&node.ip.value).is_err())
        .map(|node| node.name.value.clone())
        .collect();
    check_unique(
        r,
        "spec.duplicate-node-name",
        &nodes,
        |n| (n.name.clone(), n.span.clone()),
        "node name",
    );
    let addressed: Vec<&Node> = nodes
        .iter()
        .filter(|n| !misaddressed.contains(&n.name))
        .collect();
    let repeated = check_unique(
        r,
        "spec.duplicate-ip",
        &addressed,
        |n| (n.ip.to_string(), n.ip_span.clone()),
        "IP address",
    );
    misaddressed.extend(repeated.into_iter().map(|i| addressed[i].name.clone()));
    let with_macs: Vec<&Node> = nodes.iter().filter(|n| n.mac.is_some()).collect();
    check_unique(
        r,
        "spec.duplicate-mac",
        &with_macs,
        |n| (n.mac.clone().unwrap_or_default(), n.mac_span.clone()),
        "MAC address",
    );
    (nodes, misaddressed)
}

pub(super) fn resolve_node(
    r: &mut Resolver,
    node: &NodeSpec,
    domain: Option<&str>,
    subnet: Option<ipnet::IpNet>,
) -> Node {
    let span = r.span(&node.name);
    let ip_span = r.span(&node.ip);
    r.check(
        "spec.node-name",
        span.clone(),
        values::dns_label("node name", &node.name.value),
        (),
    );
    let parsed = values::node_ip(&node.ip.value);
    // An IP that is not valid is reported once; the placeholder is not checked further.
    let valid = parsed.is_ok();
    let ip = r.check("spec.ip", ip_span.clone(), parsed, LOCALHOST);
    if let Some(subnet) = subnet.filter(|_| valid) {
        if !subnet.contains(&ip) {
            r.error(
                "spec.ip-outside-subnet",
                &ip_span,
                format!(
                    "node {} has IP {ip}, outside network.subnet {subnet}",
                    node.name.value
                ),
                "fix the IP, or widen network.subnet",
            );
        } else if is_subnet_reserved(&subnet, ip) {
            r.error(
                "spec.ip",
                &ip_span,
                format!("{ip} is the network or broadcast address of {subnet}"),
                "give the node a host address of the subnet",
            );
        }
    }
    let mac_span = node
        .mac
        .as_ref()
        .map_or_else(|| span.clone(), |mac| r.span(mac));
    let mac = node.mac.as_ref().map(|mac| {
        r.check(
            "spec.mac",
            mac_span.clone(),
            values::mac(&mac.value),
            String::new(),
        )
    });
    Node {
        name: node.name.value.clone(),
        ip,
        mac,
        fqdn: domain.map(|d| format!("{}.{d}", node.name.value)),
        span,
        ip_span,
        mac_span,
        join: node.join.as_ref().is_some_and(|j| j.value),
        join_span: node.join.as_ref().map(|j| r.span(j)),
        // The cluster's settings with this node's overrides: `overrides::apply` fills them.
        tuning: Tuning::default(),
        ssh_authorized_keys: Vec::new(),
        install_disk: None,
        kernel_args: Vec::new(),
        static_network: None,
        snippets: Vec::new(),
    }
}

/// Reports the second and later occurrence of each key, pointing back at the first, and
/// returns the indices of those repeats.
pub(super) fn check_unique<T>(
    r: &mut Resolver,
    code: &'static str,
    items: &[T],
    key: impl Fn(&T) -> (String, Span),
    what: &str,
) -> Vec<usize> {
    let mut seen: HashMap<String, Span> = HashMap::new();
    let mut repeated = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let (value, span) = key(item);
        if let Some(first) = seen.get(&value) {
            let help = format!(
                "{what} {value} is already used at line {}; every node needs its own",
                first.line
            );
            r.error(code, &span, format!("duplicate {what} {value}"), &help);
            repeated.push(index);
        } else {
            seen.insert(value, span);
        }
    }
    repeated
}

/// The network and broadcast addresses of an IPv4 subnet with room for hosts (/30 or wider).
pub(super) fn is_subnet_reserved(subnet: &ipnet::IpNet, ip: IpAddr) -> bool {
    match subnet {
        ipnet::IpNet::V4(v4) if v4.prefix_len() < 31 => {
            ip == IpAddr::V4(v4.network()) || ip == IpAddr::V4(v4.broadcast())
        }
        _ => false,
    }
}

pub(super) fn resolve_ssh_keys(r: &mut Resolver, keys: &[Spanned<String>]) -> Vec<String> {
    keys.iter()
        .map(|key| {
            r.checked("spec.ssh-key", key, values::ssh_public_key)
                .trim()
                .to_string()
        })
        .collect()
}
