//! The nodes' network: the subnet, DHCP or static addressing, and what a static node's
//! systemd-networkd file says (address with the subnet's prefix, gateway, DNS, search
//! domains, and the interface it matches, by MAC or by name). Node overrides are applied
//! here, so the profile's template prints one finished value per line.

use std::net::IpAddr;

use serde_saphyr::Spanned;

use super::values::{self, Invalid};
use super::{Node, Resolver};
use crate::diag::Span;
use crate::spec::{NetworkOverrides, NodeSpec};

/// The network settings shared by every node.
#[derive(Debug, Default)]
pub struct NetworkSettings {
    pub subnet: Option<ipnet::IpNet>,
    /// `addressing: static`: every node gets a networkd file with its address.
    pub static_addressing: bool,
    /// Write the members into `/etc/hosts`.
    pub hosts_file: bool,
}

/// One node's static address, as its `.network` file states it.
#[derive(Debug, Clone)]
pub struct StaticNetwork {
    /// `10.0.0.11/24`: the node's IP with the subnet's prefix length.
    pub address: String,
    pub gateway: Option<IpAddr>,
    pub dns: Vec<IpAddr>,
    pub search_domains: Vec<String>,
    /// The interface is matched by exactly one of these.
    pub match_mac: Option<String>,
    pub match_name: Option<String>,
}

pub(super) fn resolve_settings(r: &mut Resolver) -> NetworkSettings {
    let Some(network) = &r.doc.spec.network else {
        return NetworkSettings::default();
    };
    let subnet = network.subnet.as_ref().and_then(|subnet| {
        let span = r.span(subnet);
        let parsed = subnet.value.parse::<ipnet::IpNet>().map_err(|_| Invalid {
            message: format!("{:?} is not a subnet", subnet.value),
            help: "write it in CIDR form, e.g. 10.0.0.0/24".into(),
        });
        r.check("spec.subnet", span, parsed.map(Some), None)
    });
    let addressing = r.choice(
        "spec.addressing",
        &network.addressing,
        &["dhcp", "static"],
        "dhcp",
    );
    let static_addressing = addressing == "static";
    if static_addressing
        && network.subnet.is_none()
        && let Some(written) = &network.addressing
    {
        let span = r.span(written);
        r.error(
            "spec.network-static",
            &span,
            "static addressing needs network.subnet".into(),
            "the prefix length of each node's address comes from the subnet: add subnet: 10.0.0.0/24 (your own)",
        );
    }
    if !static_addressing {
        let given = [
            ("interface", network.interface.as_ref().map(|v| r.span(v))),
            ("gateway", network.gateway.as_ref().map(|v| r.span(v))),
            (
                "dns",
                network
                    .dns
                    .as_ref()
                    .and_then(|v| v.first())
                    .map(|v| r.span(v)),
            ),
            (
                "search_domains",
                network
                    .search_domains
                    .as_ref()
                    .and_then(|v| v.first())
                    .map(|v| r.span(v)),
            ),
        ];
        for (key, span) in given {
            if let Some(span) = span {
                dhcp_conflict(r, &format!("network.{key}"), &span);
            }
        }
    }
    NetworkSettings {
        subnet,
        static_addressing,
        hosts_file: network.hosts_file.as_ref().is_some_and(|h| h.value),
    }
}

fn dhcp_conflict(r: &mut Resolver, key: &str, span: &Span) {
    r.error(
        "spec.network-dhcp",
        span,
        format!("{key} applies to static addressing, and this network uses DHCP"),
        "set network.addressing: static, or leave it out: the DHCP server hands out the gateway, DNS and domains",
    );
}

/// The node's `.network` settings, when the cluster uses static addressing.
pub(super) fn resolve_static(
    r: &mut Resolver,
    settings: &NetworkSettings,
    spec: &NodeSpec,
    node: &Node,
) -> Option<StaticNetwork> {
    let own = spec.overrides.as_ref().and_then(|o| o.network.as_ref());
    if !settings.static_addressing {
        if let Some(own) = own {
            overrides_without_static(r, own);
        }
        return None;
    }
    let subnet = settings.subnet?;
    let cluster = r.doc.spec.network.as_ref()?;
    let gateway = pick(own.map(|o| &o.gateway), cluster.gateway.as_ref())
        .and_then(|gateway| resolve_gateway(r, gateway, subnet, node));
    let dns = own
        .and_then(|o| o.dns.as_ref())
        .or(cluster.dns.as_ref())
        .map(|list| {
            list.iter()
                .filter_map(|server| {
                    let span = r.span(server);
                    r.check("spec.dns", span, values::ip(&server.value).map(Some), None)
                })
                .collect()
        })
        .unwrap_or_default();
    let search_domains = own
        .and_then(|o| o.search_domains.as_ref())
        .or(cluster.search_domains.as_ref())
        .map(|list| {
            list.iter()
                .map(|domain| r.checked("spec.search-domain", domain, values::domain))
                .collect()
        })
        .unwrap_or_default();
    let interface = pick(own.map(|o| &o.interface), cluster.interface.as_ref())
        .map(|name| r.checked("spec.interface", name, values::interface_name));
    if interface.is_none() && node.mac.is_none() {
        r.error(
            "spec.network-match",
            &node.span,
            format!("node {} has no MAC and no interface name for its static address", node.name),
            "networkd matches the interface by MAC (add mac: to the node) or by name (network.interface, or overrides.network.interface)",
        );
    }
    Some(StaticNetwork {
        address: format!("{}/{}", node.ip, subnet.prefix_len()),
        gateway,
        dns,
        search_domains,
        match_mac: interface.is_none().then(|| node.mac.clone()).flatten(),
        match_name: interface,
    })
}

fn overrides_without_static(r: &mut Resolver, own: &NetworkOverrides) {
    let spans = [
        ("interface", own.interface.as_ref().map(|v| r.span(v))),
        ("gateway", own.gateway.as_ref().map(|v| r.span(v))),
        (
            "dns",
            own.dns.as_ref().and_then(|v| v.first()).map(|v| r.span(v)),
        ),
        (
            "search_domains",
            own.search_domains
                .as_ref()
                .and_then(|v| v.first())
                .map(|v| r.span(v)),
        ),
    ];
    for (key, span) in spans {
        if let Some(span) = span {
            dhcp_conflict(r, &format!("overrides.network.{key}"), &span);
        }
    }
}

fn resolve_gateway(
    r: &mut Resolver,
    gateway: &Spanned<String>,
    subnet: ipnet::IpNet,
    node: &Node,
) -> Option<IpAddr> {
    let span = r.span(gateway);
    let ip = r.check(
        "spec.gateway",
        span.clone(),
        values::ip(&gateway.value).map(Some),
        None,
    )?;
    if !subnet.contains(&ip) {
        r.error(
            "spec.gateway",
            &span,
            format!("gateway {ip} is outside network.subnet {subnet}"),
            "a gateway must be reachable on the nodes' own subnet",
        );
        return None;
    }
    if ip == node.ip {
        r.error(
            "spec.gateway",
            &span,
            format!("gateway {ip} is node {}'s own address", node.name),
            "the gateway is the router of the subnet, not a member",
        );
        return None;
    }
    Some(ip)
}

/// The node's own value when it sets one, else the cluster's.
fn pick<'a>(
    own: Option<&'a Option<Spanned<String>>>,
    cluster: Option<&'a Spanned<String>>,
) -> Option<&'a Spanned<String>> {
    own.and_then(Option::as_ref).or(cluster)
}
