//! `discovery:`: a cluster whose members are not listed. Every member boots one config, takes
//! its name and address from the machine (DHCP, or the platform's metadata as Flatcar's
//! `coreos-metadata.service` writes it) and finds the others through DNS SRV records under
//! `cluster.domain`. Resolving checks the plan and makes the one node the config is rendered
//! for; what only the machine knows is decided at boot by the member script.

use std::net::{IpAddr, Ipv4Addr};

use super::{Node, Resolver, Tuning, values};
use crate::diag::Span;

/// The name of the one config every member boots (`members.ign`).
pub const MEMBERS: &str = "members";

/// `discovery:` of the spec, checked.
#[derive(Debug)]
pub struct DiscoverySettings {
    /// `cluster.domain`: the SRV records are `_etcd-server-ssl._tcp.<domain>` and
    /// `_etcd-client-ssl._tcp.<domain>`; every member is `<hostname>.<domain>`.
    pub domain: String,
    /// The founding members' hostnames, and their addresses when the spec gives them.
    pub bootstrap: Vec<(String, Option<IpAddr>)>,
    pub address: AddressSource,
}

/// Where a member's name and address come from at boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressSource {
    /// The machine's hostname and the address networkd's DHCP client got.
    Dhcp,
    /// The variables `coreos-metadata.service` writes to /run/metadata/flatcar.
    Metadata(&'static Platform),
}

/// A platform's metadata variables, as Flatcar names them: Afterburn's attributes with
/// `COREOS_` for `AFTERBURN_`, `EC2` for `AWS` and `GCE` for `GCP` (Flatcar's "Referencing
/// dynamic data"). `tests/discovery.rs` holds these to the names in that documentation.
#[derive(Debug, PartialEq, Eq)]
pub struct Platform {
    pub name: &'static str,
    /// The machine's hostname; None where the platform sets the hostname itself (Azure).
    pub hostname: Option<&'static str>,
    /// The machine's private IPv4 address.
    pub private_ipv4: &'static str,
}

pub const PLATFORMS: &[Platform] = &[
    Platform {
        name: "aws",
        hostname: Some("COREOS_EC2_HOSTNAME"),
        private_ipv4: "COREOS_EC2_IPV4_LOCAL",
    },
    Platform {
        name: "azure",
        hostname: None,
        private_ipv4: "COREOS_AZURE_IPV4_DYNAMIC",
    },
    Platform {
        name: "gcp",
        hostname: Some("COREOS_GCE_HOSTNAME"),
        private_ipv4: "COREOS_GCE_IP_LOCAL_0",
    },
    Platform {
        name: "digitalocean",
        hostname: Some("COREOS_DIGITALOCEAN_HOSTNAME"),
        private_ipv4: "COREOS_DIGITALOCEAN_IPV4_PRIVATE_0",
    },
    Platform {
        name: "openstack",
        hostname: Some("COREOS_OPENSTACK_HOSTNAME"),
        private_ipv4: "COREOS_OPENSTACK_IPV4_LOCAL",
    },
    Platform {
        name: "equinixmetal",
        hostname: Some("COREOS_PACKET_HOSTNAME"),
        private_ipv4: "COREOS_PACKET_IPV4_PRIVATE_0",
    },
    Platform {
        name: "custom",
        hostname: Some("COREOS_CUSTOM_HOSTNAME"),
        private_ipv4: "COREOS_CUSTOM_PRIVATE_IPV4",
    },
];

pub(super) fn resolve_discovery(
    r: &mut Resolver,
    domain: Option<&str>,
) -> Option<DiscoverySettings> {
    let written = r.doc.spec.discovery.as_ref()?;
    let span = r.span(written);
    let section = &written.value;
    if let Some(nodes) = &r.doc.spec.nodes {
        let nodes_span = r.span(nodes);
        r.error(
            "discovery.nodes",
            &nodes_span,
            "`nodes:` and `discovery:` exclude each other".into(),
            "with discovery every member boots one config and names itself: drop `nodes:`, or drop `discovery:` to list the members",
        );
    }
    let Some(domain) = domain else {
        r.error(
            "discovery.domain",
            &span,
            "discovery needs cluster.domain".into(),
            "set cluster.domain: the SRV records and every member's name live under it (etcd.example.com)",
        );
        return None;
    };
    let bootstrap = bootstrap_members(r, section);
    let address = match &section.address {
        None => AddressSource::Dhcp,
        Some(source) if source.value == "dhcp" => AddressSource::Dhcp,
        Some(source) => match PLATFORMS.iter().find(|p| p.name == source.value) {
            Some(platform) => AddressSource::Metadata(platform),
            None => {
                let span = r.span(source);
                let names: Vec<&str> = PLATFORMS.iter().map(|p| p.name).collect();
                r.error(
                    "discovery.address",
                    &span,
                    format!(
                        "{:?} is not a source of addresses kindling knows",
                        source.value
                    ),
                    &format!("use dhcp or a platform: {}", names.join(", ")),
                );
                AddressSource::Dhcp
            }
        },
    };
    Some(DiscoverySettings {
        domain: domain.to_string(),
        bootstrap,
        address,
    })
}

fn bootstrap_members(
    r: &mut Resolver,
    section: &crate::spec::DiscoverySection,
) -> Vec<(String, Option<IpAddr>)> {
    let list = &section.bootstrap;
    if list.value.is_empty() {
        let span = r.span(list);
        r.error(
            "discovery.bootstrap",
            &span,
            "no founding members".into(),
            "name the members that start the cluster (three, or five), as their hostnames",
        );
    }
    let mut seen: Vec<String> = Vec::new();
    let mut members = Vec::new();
    for member in &list.value {
        let name = r.checked("discovery.bootstrap", &member.name, |n| {
            values::dns_label("member name", n)
        });
        if seen.contains(&name) {
            let span = r.span(&member.name);
            r.error(
                "discovery.bootstrap",
                &span,
                format!("{name} is listed twice"),
                "every founding member is one machine with its own hostname",
            );
        }
        seen.push(name.clone());
        let ip = member.ip.as_ref().map(|ip| {
            let span = r.span(ip);
            r.check(
                "discovery.bootstrap-ip",
                span,
                values::node_ip(&ip.value),
                super::LOCALHOST,
            )
        });
        members.push((name, ip));
    }
    if members.len() == 2 {
        let span = r.span(list);
        r.error(
            "discovery.bootstrap",
            &span,
            "two founding members lose quorum when either one is down".into(),
            "found the cluster with three members (or one, for a test)",
        );
    }
    members
}

/// The node the one config is rendered for: it stands for every member, so it has no name
/// or address of its own (the member script decides them at boot): its address is the
/// unspecified one, and its FQDN the cluster's domain, which its certificates name along
/// with `*.<domain>`.
pub(super) fn members_node(span: Span, domain: Option<&str>) -> Node {
    Node {
        name: MEMBERS.to_string(),
        ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        mac: None,
        fqdn: domain.map(str::to_string),
        span: span.clone(),
        ip_span: span.clone(),
        mac_span: span,
        join: false,
        join_span: None,
        tuning: Tuning::default(),
        ssh_authorized_keys: Vec::new(),
        install_disk: None,
        kernel_args: Vec::new(),
        static_network: None,
        snippets: Vec::new(),
    }
}

/// The Matchbox label every member's iPXE request carries (`etcd-cluster=<name>`): one group
/// selects them all by it, since no member's MAC is known.
pub const MATCHBOX_LABEL: &str = "etcd-cluster";

/// Refuses what a config shared by unlisted members cannot carry yet, each at the line
/// that asks for it: whatever needs a member's own name or address before it boots.
pub(super) fn check_plan(r: &mut Resolver, profile: &super::ProfileChoice) {
    let spec = &r.doc.spec;
    if spec.discovery.is_none() {
        return;
    }
    let mut refused: Vec<(Span, &str)> = Vec::new();
    if let super::ProfileRef::Named(name) = &profile.name_or_dir
        && name != super::DEFAULT_PROFILE
    {
        let span = profile
            .span
            .clone()
            .unwrap_or_else(|| r.span(&spec.cluster.name));
        refused.push((
            span,
            "the flatcar-container and kubeadm-static-pod profiles",
        ));
    }
    if let super::ProfileRef::Dir(_) = &profile.name_or_dir {
        let span = profile
            .span
            .clone()
            .unwrap_or_else(|| r.span(&spec.cluster.name));
        refused.push((span, "a profile directory"));
    }
    if let Some(config) = spec.etcd.config.as_ref().filter(|c| c.value == "file") {
        refused.push((
            r.span(config),
            "etcd.config: file (the member's settings are written at boot, as env)",
        ));
    }
    if let Some(listen) = spec
        .etcd
        .metrics_listen
        .as_ref()
        .filter(|m| m.value == "node")
    {
        refused.push((
            r.span(listen),
            "etcd.metrics_listen: node (the address is known at boot only)",
        ));
    }
    if let Some(network) = &spec.network {
        if let Some(addressing) = network.addressing.as_ref().filter(|a| a.value == "static") {
            refused.push((
                r.span(addressing),
                "static addressing (every member gets its address from DHCP or the platform)",
            ));
        }
        if let Some(hosts) = network.hosts_file.as_ref().filter(|h| h.value) {
            refused.push((
                r.span(hosts),
                "network.hosts_file (members are found through DNS)",
            ));
        }
    }
    if let Some(firewall) = &spec.firewall {
        refused.push((
            r.span(firewall),
            "firewall: (its member list is the spec's nodes)",
        ));
    }
    if let Some(monitoring) = &spec.monitoring {
        refused.push((
            r.span(monitoring),
            "monitoring: (its targets are the spec's nodes)",
        ));
    }
    for (span, what) in refused {
        r.error(
            "discovery.unsupported",
            &span,
            format!("a discovery cluster cannot have {what}"),
            "list the members under `nodes:` for this, or leave it out",
        );
    }
}
