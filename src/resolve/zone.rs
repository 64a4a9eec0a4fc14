//! `kindling dns`: the DNS records a cluster needs, as zone-file lines to paste into the zone
//! of `cluster.domain`. A discovery cluster is found through them (SRV for its founders, A or
//! AAAA for each of them); a listed cluster with a domain needs the A/AAAA records of the
//! names its members advertise.

use std::fmt::Write;
use std::net::IpAddr;

use super::Cluster;
use crate::diag::{Diagnostic, Location, Report};

/// Seconds resolvers may keep a record: short, so that a replaced member is found soon.
const TTL: u32 = 300;

/// The zone-file text for `cluster`, or why it has none.
pub fn zone(cluster: &Cluster, spec: &std::path::Path) -> Result<String, Report> {
    let Some(domain) = &cluster.domain else {
        return Err(Diagnostic::error(
            "dns.domain",
            "the cluster has no cluster.domain: its members are reached by address, and need no DNS records",
            Location::File(spec.to_path_buf()),
        )
        .with_help("set cluster.domain to give members names (with discovery:, it is required)")
        .into());
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "; DNS records of etcd cluster {} (kindling dns), for the zone {domain}.",
        cluster.name
    );
    let _ = writeln!(out, "$ORIGIN {domain}.\n$TTL {TTL}");
    let hosts: Vec<(String, Option<IpAddr>)> = match &cluster.discovery {
        Some(discovery) => {
            let _ = writeln!(
                out,
                "; The founding members: etcd starts the cluster from _etcd-server-ssl, and members\n; and clients find it through _etcd-client-ssl (etcdctl --discovery-srv={domain})."
            );
            for (service, port) in [
                ("_etcd-server-ssl._tcp", cluster.etcd.peer_port),
                ("_etcd-client-ssl._tcp", cluster.etcd.client_port),
            ] {
                for (name, _) in &discovery.bootstrap {
                    let _ = writeln!(out, "{service} IN SRV 0 0 {port} {name}.{domain}.");
                }
            }
            discovery.bootstrap.clone()
        }
        None => cluster
            .nodes
            .iter()
            .map(|n| (n.name.clone(), Some(n.ip)))
            .collect(),
    };
    address_records(&mut out, domain, &hosts, cluster.discovery.is_some());
    Ok(out)
}

fn address_records(
    out: &mut String,
    domain: &str,
    hosts: &[(String, Option<IpAddr>)],
    discovery: bool,
) {
    let _ = writeln!(out, "; Each member's name and address.");
    for (name, ip) in hosts {
        match ip {
            Some(IpAddr::V4(v4)) => {
                let _ = writeln!(out, "{name} IN A {v4}");
            }
            Some(IpAddr::V6(v6)) => {
                let _ = writeln!(out, "{name} IN AAAA {v6}");
            }
            None => {
                let _ = writeln!(
                    out,
                    "; {name}: no address in the spec. Its DHCP server's DNS must answer for {name}.{domain}\n; (dnsmasq does for the hostnames it hands out), or add: {name} IN A <address>"
                );
            }
        }
    }
    if discovery {
        let _ = writeln!(
            out,
            "; Every member, founders and machines that join later alike, needs its A record and a\n; reverse (PTR) record naming <name>.{domain}: etcd accepts a peer's certificate for\n; *.{domain} only from an address whose PTR record is under {domain}."
        );
        for (name, ip) in hosts {
            if let Some(ip) = ip {
                let _ = writeln!(
                    out,
                    "; in the reverse zone: {} IN PTR {name}.{domain}.",
                    reverse_name(*ip)
                );
            }
        }
    }
}

/// The reverse-lookup name of an address (`11.0.0.10.in-addr.arpa.`).
fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let nibbles: Vec<String> = v6
                .octets()
                .iter()
                .rev()
                .flat_map(|b| [b & 0x0f, b >> 4])
                .map(|n| format!("{n:x}"))
                .collect();
            format!("{}.ip6.arpa.", nibbles.join("."))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names() {
        assert_eq!(
            reverse_name("10.0.0.11".parse().unwrap()),
            "11.0.0.10.in-addr.arpa."
        );
        assert!(reverse_name("fd00::1".parse().unwrap()).starts_with("1.0.0.0."));
        assert!(reverse_name("fd00::1".parse().unwrap()).ends_with(".0.0.d.f.ip6.arpa."));
    }
}
