//! The values a profile's templates may print for one node, all computed here.
//!
//! A template sees exactly this structure (serialized to JSON); it never computes. The
//! env file, for instance, is a list of name/value pairs built below in typed Rust.

use serde::Serialize;

use super::config_file::{Section, yaml_quoted};
use super::material::{KeyedCert, Material, NodeTls};
use super::{Cluster, LOCALHOST, Node, firewall, listen_sockets, url_host};
use crate::secret::Secret;

/// Where things live on the node. One place, so the env file, the etcdctl profile and
/// the file entries of a profile always agree.
#[derive(Debug, Serialize)]
pub struct Layout {
    pub data_dir: &'static str,
    pub config_dir: &'static str,
    pub env_file: &'static str,
    /// etcd's YAML config file, with `etcd.config: file`.
    pub config_file: &'static str,
    pub pki_dir: &'static str,
    pub ca_cert: &'static str,
    pub server_cert: &'static str,
    pub server_key: &'static str,
    pub peer_cert: &'static str,
    pub peer_key: &'static str,
    pub client_cert: &'static str,
    pub client_key: &'static str,
    pub image_dir: &'static str,
    pub extension_link: &'static str,
    /// The networkd file of static addressing; it sorts before Flatcar's `zz-default.network`.
    pub network_file: &'static str,
    /// The systemd unit that runs etcd (the kubelet, for a static pod): what the roll and
    /// backup units wait for.
    pub etcd_unit: &'static str,
}

/// The layout of the Flatcar profiles: everything etcd's under /etc/etcd.
pub const ETCD_LAYOUT: Layout = Layout {
    data_dir: "/var/lib/etcd",
    config_dir: "/etc/etcd",
    env_file: "/etc/etcd/etcd.env",
    config_file: "/etc/etcd/etcd.conf.yml",
    pki_dir: "/etc/etcd/pki",
    ca_cert: "/etc/etcd/pki/ca.crt",
    server_cert: "/etc/etcd/pki/server.crt",
    server_key: "/etc/etcd/pki/server.key",
    peer_cert: "/etc/etcd/pki/peer.crt",
    peer_key: "/etc/etcd/pki/peer.key",
    client_cert: "/etc/etcd/pki/etcdctl.crt",
    client_key: "/etc/etcd/pki/etcdctl.key",
    image_dir: "/opt/extensions/etcd",
    extension_link: "/etc/extensions/etcd.raw",
    network_file: "/etc/systemd/network/10-kindling-static.network",
    etcd_unit: "etcd.service",
};

/// kubeadm's layout (`kubeadm init phase certs etcd-*`): the certificates under
/// /etc/kubernetes/pki/etcd, the etcdctl certificate as `healthcheck-client`.
pub const KUBEADM_LAYOUT: Layout = Layout {
    data_dir: "/var/lib/etcd",
    config_dir: "/etc/kubernetes/etcd",
    env_file: "/etc/kubernetes/etcd/etcd.env",
    config_file: "/etc/kubernetes/etcd/etcd.conf.yml",
    pki_dir: "/etc/kubernetes/pki/etcd",
    ca_cert: "/etc/kubernetes/pki/etcd/ca.crt",
    server_cert: "/etc/kubernetes/pki/etcd/server.crt",
    server_key: "/etc/kubernetes/pki/etcd/server.key",
    peer_cert: "/etc/kubernetes/pki/etcd/peer.crt",
    peer_key: "/etc/kubernetes/pki/etcd/peer.key",
    client_cert: "/etc/kubernetes/pki/etcd/healthcheck-client.crt",
    client_key: "/etc/kubernetes/pki/etcd/healthcheck-client.key",
    image_dir: "/opt/extensions/etcd",
    extension_link: "/etc/extensions/etcd.raw",
    network_file: "/etc/systemd/network/10-kindling-static.network",
    etcd_unit: "kubelet.service",
};

/// The layouts a profile manifest may choose (`layout:`), by name.
pub const LAYOUTS: [(&str, &Layout); 2] = [("etcd", &ETCD_LAYOUT), ("kubeadm", &KUBEADM_LAYOUT)];

/// Where kindling's scripts live on the node: /opt/bin is on Flatcar's PATH, /usr is read-only.
const ROLL_SCRIPT: &str = "/opt/bin/kindling-etcd-roll";
const BACKUP_SCRIPT: &str = "/opt/bin/kindling-etcd-backup";
/// Where `kindling restore` configs put the snapshot, and the script that restores it.
const RESTORE_DIR: &str = "/var/lib/etcd-restore";
const RESTORE_SNAPSHOT: &str = "/var/lib/etcd-restore/snapshot.db";
const RESTORE_SCRIPT: &str = "/opt/bin/kindling-etcd-restore";
/// The script `kindling join` names: it lets a new member through a running firewall.
pub const FIREWALL_MEMBER_SCRIPT: &str = "/opt/bin/kindling-firewall-member";

/// One `NAME=value` line of an env file.
#[derive(Debug, Serialize)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

fn var(name: &str, value: impl ToString) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: value.to_string(),
    }
}

#[derive(Debug, Serialize)]
pub struct NodeContext {
    pub cluster: ClusterValues,
    pub node: NodeValues,
    pub layout: &'static Layout,
    pub etcd: EtcdValues,
    pub sysext: SysextValues,
    pub tls: TlsValues,
    pub network: NetworkValues,
    pub roll: RollValues,
    pub backup: BackupValues,
    pub defrag: DefragValues,
    pub restore: RestoreValues,
    pub firewall: FirewallValues,
    pub container: ContainerValues,
    pub kubelet: KubeletValues,
    pub pod: PodValues,
    pub ssh_authorized_keys: Vec<String>,
    pub discovery: DiscoveryValues,
}

/// The standalone kubelet of the static-pod profile, and the Kubernetes sysext it runs from.
#[derive(Debug, Serialize)]
pub struct KubeletValues {
    /// `v1.34.2` (empty when the spec has no `kubelet:`).
    pub version: String,
    pub image_file: String,
    pub image_path: String,
    pub image_url: String,
    /// `sha256-<hex>`, or empty when the spec opted out of verification.
    pub image_hash: String,
    /// The link's name is the extension name baked into the image (kubernetes).
    pub extension_link: &'static str,
    pub image_dir: &'static str,
    /// The KubeletConfiguration of the standalone kubelet.
    pub config_file: &'static str,
    pub static_pod_dir: &'static str,
    /// Flatcar's containerd, which the kubelet runs the pod with.
    pub runtime_endpoint: &'static str,
}

/// The etcd static pod: its command line, YAML-quoted, and its probes.
#[derive(Debug, Serialize)]
pub struct PodValues {
    /// Every argument of etcd's command, each a quoted YAML scalar.
    pub command: Vec<String>,
    /// The pod's environment (GOMAXPROCS), values quoted.
    pub env: Vec<EnvVar>,
    /// `kubeadm.kubernetes.io/etcd.advertise-client-urls`, quoted.
    pub advertise_client_urls: String,
    /// The plain-HTTP metrics listener the probes ask.
    pub probe_host: String,
    pub probe_port: u16,
    /// kubeadm's probe paths: liveness ignores a full disk (NOSPACE) and asks this member
    /// alone; startup waits for the cluster (etcd 3.4 knows only `/health`).
    pub liveness_path: &'static str,
    pub startup_path: &'static str,
}

/// The etcd container of the container profiles.
#[derive(Debug, Serialize)]
pub struct ContainerValues {
    /// The pinned image reference (empty when the spec has no `container:`).
    pub image: String,
    /// The container's name under the runtime.
    pub name: &'static str,
    /// Where etcd's release images keep the programs.
    pub bin_dir: &'static str,
    /// The name containerd keeps the pulled image under (what `ctr run` is given).
    pub containerd_name: String,
}

/// The roll lock script and its units: a member restarts or reboots only while it holds the
/// cluster-wide lock, so at most one member is down at a time.
#[derive(Debug, Serialize)]
pub struct RollValues {
    pub script: &'static str,
    /// The etcd key of the lock (one per cluster).
    pub lock_key: String,
    pub lock_ttl_seconds: u32,
    /// Every member's client URL, so the lock outlives this member's own restart.
    pub endpoints: String,
    /// This member's own client URL, to see that it is healthy again.
    pub local_endpoint: String,
    /// What the sysext update does when the image changed: `restart` or `reboot`.
    pub sysext_action: String,
    pub os_reboots: bool,
}

/// `backup:` of the spec, for the backup script and its timer.
#[derive(Debug, Serialize)]
pub struct BackupValues {
    pub enabled: bool,
    pub script: &'static str,
    pub dir: String,
    pub schedule: String,
    pub keep: u32,
    pub verify: bool,
    pub s3: S3Values,
}

/// `backup.s3`: the bucket one member per schedule slot uploads to, and the etcd keys that
/// decide which member.
#[derive(Debug, Default, Serialize)]
pub struct S3Values {
    pub enabled: bool,
    pub endpoint: String,
    pub bucket: String,
    pub prefix: String,
    pub region: String,
    pub credentials: String,
    pub keep: u32,
    pub ca_file: String,
    /// Held (bound to a lease) by the member uploading now.
    pub claim_key: String,
    /// The last schedule slot whose snapshot is in the bucket.
    pub uploaded_key: String,
}

/// `defrag:` of the spec, for the roll script's `defrag` action and its timer.
#[derive(Debug, Serialize)]
pub struct DefragValues {
    pub enabled: bool,
    pub schedule: String,
    pub min_free_bytes: u64,
}

/// `kindling restore`: the snapshot every member fetches, and what it restores it as.
#[derive(Debug, Serialize)]
pub struct RestoreValues {
    pub enabled: bool,
    pub dir: &'static str,
    pub snapshot_path: &'static str,
    pub snapshot_url: String,
    /// `sha256-<hex>`: Ignition checks what it fetched against it.
    pub snapshot_hash: String,
    pub script: &'static str,
    /// The restored cluster's token (also the env file's).
    pub token: String,
    /// The member's `--initial-advertise-peer-urls`.
    pub peer_url: String,
    /// Every member, as `--initial-cluster` takes them (empty unless restoring).
    pub initial_cluster: String,
}

/// `firewall:` of the spec: the rule lines of each address family, in iptables-restore's
/// format, and where Flatcar's restore units read them.
#[derive(Debug, Serialize)]
pub struct FirewallValues {
    pub enabled: bool,
    pub ipv4_file: &'static str,
    pub ipv6_file: &'static str,
    pub members_chain: &'static str,
    /// Adds a member that joins later to the running rules and to the files.
    pub member_script: &'static str,
    pub ipv4_lines: String,
    pub ipv6_lines: String,
}

/// The node's networkd file (with static addressing) and `/etc/hosts` (when asked for).
#[derive(Debug, Serialize)]
pub struct NetworkValues {
    pub static_addressing: bool,
    pub match_mac: Option<String>,
    pub match_name: Option<String>,
    /// `10.0.0.11/24`
    pub address: String,
    pub gateway: Option<String>,
    pub dns: Vec<String>,
    /// Search domains, space-separated as networkd's `Domains=` takes them.
    pub domains: String,
    pub hosts_file: bool,
    pub hosts: Vec<HostLine>,
    /// The same lines as text, `ip<TAB>names`, joined by newlines.
    pub hosts_lines: String,
}

/// One `/etc/hosts` line: an address and the names it answers to, space-separated.
#[derive(Debug, Serialize)]
pub struct HostLine {
    pub ip: String,
    pub names: String,
}

#[derive(Debug, Serialize)]
pub struct ClusterValues {
    pub name: String,
    pub domain: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct NodeValues {
    pub name: String,
    pub ip: String,
    pub fqdn: Option<String>,
    /// The member's name where a script prints it: the name, or with `discovery:` the
    /// shell expression that reads the name the member script chose at boot.
    pub script_name: String,
    /// The member's name in a unit's description: the name, or with `discovery:` systemd's
    /// `%l` (the short hostname, which is the member's name).
    pub unit_name: String,
    /// The config names this one node (false with `discovery:`: the machine names itself).
    pub named: bool,
}

/// `discovery:`: how the member script names the member, finds its address and the cluster.
#[derive(Debug, Default, Serialize)]
pub struct DiscoveryValues {
    pub enabled: bool,
    pub domain: String,
    /// The founding members' hostnames, space-separated.
    pub bootstrap: String,
    /// `dhcp`, or the platform whose metadata the member reads.
    pub address: String,
    /// The metadata variables of the name and the address (empty with DHCP, and the name's
    /// on a platform that sets the hostname itself).
    pub hostname_var: String,
    pub ipv4_var: String,
    pub script: &'static str,
    /// What the member script writes at boot and etcd.service reads after the env file.
    pub member_env: &'static str,
    pub peer_port: u16,
    pub client_port: u16,
}

/// The member script of a discovery cluster.
pub const MEMBER_SCRIPT: &str = "/opt/bin/kindling-etcd-member";
/// The settings only the booted machine knows, written by the member script.
pub const MEMBER_ENV: &str = "/run/etcd/member.env";

/// The settings `discovery:` leaves to the member script: who the member is, where it
/// listens, and how it finds the cluster.
const DECIDED_AT_BOOT: [&str; 7] = [
    "ETCD_NAME",
    "ETCD_LISTEN_PEER_URLS",
    "ETCD_LISTEN_CLIENT_URLS",
    "ETCD_INITIAL_ADVERTISE_PEER_URLS",
    "ETCD_ADVERTISE_CLIENT_URLS",
    "ETCD_INITIAL_CLUSTER",
    "ETCD_INITIAL_CLUSTER_STATE",
];

fn discovery_values(cluster: &Cluster) -> DiscoveryValues {
    let Some(discovery) = &cluster.discovery else {
        return DiscoveryValues::default();
    };
    let (address, hostname_var, ipv4_var) = match discovery.address {
        super::discovery::AddressSource::Dhcp => ("dhcp", "", ""),
        super::discovery::AddressSource::Metadata(platform) => (
            platform.name,
            platform.hostname.unwrap_or(""),
            platform.private_ipv4,
        ),
    };
    DiscoveryValues {
        enabled: true,
        domain: discovery.domain.clone(),
        bootstrap: discovery
            .bootstrap
            .iter()
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        address: address.to_string(),
        hostname_var: hostname_var.to_string(),
        ipv4_var: ipv4_var.to_string(),
        script: MEMBER_SCRIPT,
        member_env: MEMBER_ENV,
        peer_port: cluster.etcd.peer_port,
        client_port: cluster.etcd.client_port,
    }
}

#[derive(Debug, Serialize)]
pub struct EtcdValues {
    pub version: String,
    /// Every line of `/etc/etcd/etcd.env`, in order (empty with `etcd.config: file`).
    pub env: Vec<EnvVar>,
    /// The same lines as text, `NAME=value`, joined by newlines. A template prints one
    /// value far faster than it loops over a list (a fifth of a node's render went to
    /// `{{#each}}` over the env).
    pub env_lines: String,
    /// Which of the two ways etcd gets its settings (`etcd.config`); exactly one is true.
    pub env_file: bool,
    pub config_file: bool,
    /// With `etcd.config: file`: the same settings as etcd's YAML config file.
    pub config: ConfigFileValues,
    /// With the env file: the same settings as etcd's flags (`--name=value`, in env order).
    pub flags: Vec<String>,
    /// The process environment that is not an etcd setting (GOMAXPROCS), for a unit or a
    /// pod that does not read the env file.
    pub process_env: Vec<EnvVar>,
    /// The `ETCDCTL_*` settings for `/etc/profile.d/etcdctl.sh`.
    pub etcdctl_env: Vec<EnvVar>,
    /// `export NAME=value` for each of `etcdctl_env`, joined by newlines.
    pub etcdctl_exports: String,
    /// Whether the release ships etcdutl (v3.5 and later).
    pub has_etcdutl: bool,
}

/// The lines of etcd's YAML config file, by section; every value is already YAML.
#[derive(Debug, Default, Serialize)]
pub struct ConfigFileValues {
    pub top: Vec<ConfigLine>,
    pub client_transport: Vec<ConfigLine>,
    pub peer_transport: Vec<ConfigLine>,
}

#[derive(Debug, Serialize)]
pub struct ConfigLine {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Serialize)]
pub struct SysextValues {
    pub name: &'static str,
    pub image_file: String,
    pub image_path: String,
    pub image_url: String,
    /// `sha256-<hex>`, or empty when the spec opted out of verification.
    pub image_hash: String,
    pub base_url: String,
    pub match_pattern: String,
    pub instances_max: u32,
    pub update_enabled: bool,
}

#[derive(Debug, Serialize)]
pub struct TlsValues {
    pub key_mode: String,
    pub ca_cert: String,
    pub server_cert: String,
    pub server_key: Secret,
    pub peer_cert: String,
    pub peer_key: Secret,
    pub client_cert: String,
    pub client_key: Secret,
}

/// Makes each node's template context. The values every node shares (the founding
/// members, the client endpoints) are computed once, here; a node's own context is made
/// where the node is compiled, on whichever core compiles it.
pub struct NodeContexts<'a> {
    cluster: &'a Cluster,
    material: &'a Material,
    layout: &'static Layout,
    founders: String,
    endpoints: String,
}

impl<'a> NodeContexts<'a> {
    pub fn new(cluster: &'a Cluster, material: &'a Material, layout: &'static Layout) -> Self {
        NodeContexts {
            cluster,
            material,
            layout,
            founders: initial_cluster(cluster, None),
            endpoints: super::operations::client_endpoints(cluster),
        }
    }

    /// The long texts every node's context holds: the founding members and the client
    /// endpoints.
    pub fn shared_texts(&self) -> [&str; 2] {
        [&self.founders, &self.endpoints]
    }

    /// The template context of `node` (one of the cluster's), whose certificates are
    /// `node_tls`.
    pub fn node(&self, node: &Node, node_tls: &NodeTls) -> NodeContext {
        let (cluster, material, layout) = (self.cluster, self.material, self.layout);
        let member = member_env(cluster, node, &self.founders, layout);
        let pod = pod_values(cluster, node, &member, layout);
        let etcd = etcd_values(cluster, node, member, layout);
        NodeContext {
            cluster: ClusterValues {
                name: cluster.name.clone(),
                domain: cluster.domain.clone(),
            },
            node: NodeValues {
                name: node.name.clone(),
                ip: node.ip.to_string(),
                fqdn: node.fqdn.clone(),
                script_name: if cluster.discovery.is_some() {
                    format!("$(sed -n 's/^ETCD_NAME=//p' {MEMBER_ENV})")
                } else {
                    node.name.clone()
                },
                unit_name: if cluster.discovery.is_some() {
                    "%l".to_string()
                } else {
                    node.name.clone()
                },
                named: cluster.discovery.is_none(),
            },
            discovery: discovery_values(cluster),
            layout,
            sysext: sysext_values(cluster, material, layout),
            kubelet: kubelet_values(cluster, material),
            pod,
            etcd,
            tls: tls_values(cluster, material, &node_tls.server, &node_tls.peer),
            network: network_values(cluster, node),
            roll: roll_values(cluster, node, &self.endpoints),
            backup: backup_values(cluster),
            defrag: DefragValues {
                enabled: cluster.defrag.is_some(),
                schedule: cluster
                    .defrag
                    .as_ref()
                    .map_or_else(String::new, |d| d.schedule.clone()),
                min_free_bytes: cluster.defrag.as_ref().map_or(0, |d| d.min_free_bytes),
            },
            restore: restore_values(cluster, node, &self.founders),
            firewall: firewall_values(cluster),
            container: container_values(cluster),
            ssh_authorized_keys: node.ssh_authorized_keys.clone(),
        }
    }
}

/// The member's settings (`env`, from `member_env`), as env file lines or as the config
/// file and the unit's environment, and as flags when the profile prints them.
fn etcd_values(cluster: &Cluster, node: &Node, env: Vec<EnvVar>, layout: &Layout) -> EtcdValues {
    let config_file = cluster.etcd.config_file;
    let config = if config_file {
        config_file_values(env.iter().filter(|v| is_setting(v)))
    } else {
        ConfigFileValues::default()
    };
    let flags = if config_file {
        Vec::new()
    } else {
        member_flags(&env)
    };
    let process_env = env
        .iter()
        .filter(|v| !is_setting(v))
        .map(|v| var(&v.name, &v.value))
        .collect();
    let env = if config_file { Vec::new() } else { env };
    let etcdctl_env = etcdctl_env(cluster, node, layout);
    EtcdValues {
        version: cluster.etcd.version.clone(),
        env_lines: joined_lines(&env, ""),
        env,
        env_file: !config_file,
        config_file,
        config,
        flags,
        process_env,
        etcdctl_exports: joined_lines(&etcdctl_env, "export "),
        etcdctl_env,
        has_etcdutl: cluster.etcd.minor >= 5,
    }
}

/// Whether a line of the member env is an etcd setting (`ETCD_*`), not the process
/// environment (`GOMAXPROCS`).
fn is_setting(var: &EnvVar) -> bool {
    var.name.starts_with("ETCD_")
}

/// The member env's settings as etcd's flags (`--name=value`, in env order).
fn member_flags(env: &[EnvVar]) -> Vec<String> {
    env.iter()
        .filter(|v| is_setting(v))
        .map(|v| format!("--{}={}", super::etcd::flag_of(&v.name), v.value))
        .collect()
}

/// `{lead}NAME=value` for each of `vars`, joined by newlines.
fn joined_lines(vars: &[EnvVar], lead: &str) -> String {
    let length = vars
        .iter()
        .map(|var| lead.len() + var.name.len() + 1 + var.value.len() + 1)
        .sum();
    let mut text = String::with_capacity(length);
    for (index, var) in vars.iter().enumerate() {
        if index > 0 {
            text.push('\n');
        }
        text.extend([lead, &var.name, "=", &var.value]);
    }
    text
}

/// Resolve refused every extra setting the file cannot hold, and kindling's own settings
/// all fit, so no entry is dropped here.
fn config_file_values<'a>(settings: impl Iterator<Item = &'a EnvVar>) -> ConfigFileValues {
    let mut values = ConfigFileValues::default();
    for entry in settings.filter_map(|v| super::config_file::entry(&v.name, &v.value).ok()) {
        let line = ConfigLine {
            key: entry.key,
            value: entry.value,
        };
        match entry.section {
            Section::Top => values.top.push(line),
            Section::ClientTransport => values.client_transport.push(line),
            Section::PeerTransport => values.peer_transport.push(line),
        }
    }
    values
}

fn network_values(cluster: &Cluster, node: &Node) -> NetworkValues {
    let hosts = if cluster.network.hosts_file {
        cluster
            .nodes
            .iter()
            .map(|member| HostLine {
                ip: member.ip.to_string(),
                names: match &member.fqdn {
                    Some(fqdn) => format!("{fqdn} {}", member.name),
                    None => member.name.clone(),
                },
            })
            .collect()
    } else {
        Vec::new()
    };
    let static_network = node.static_network.as_ref();
    NetworkValues {
        static_addressing: static_network.is_some(),
        match_mac: static_network.and_then(|s| s.match_mac.clone()),
        match_name: static_network.and_then(|s| s.match_name.clone()),
        address: static_network
            .map(|s| s.address.clone())
            .unwrap_or_default(),
        gateway: static_network.and_then(|s| s.gateway.map(|g| g.to_string())),
        dns: static_network
            .map(|s| s.dns.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
        domains: static_network
            .map(|s| s.search_domains.join(" "))
            .unwrap_or_default(),
        hosts_file: cluster.network.hosts_file,
        hosts_lines: hosts
            .iter()
            .map(|host| format!("{}\t{}", host.ip, host.names))
            .collect::<Vec<_>>()
            .join("\n"),
        hosts,
    }
}

/// `ETCD_INITIAL_CLUSTER`: the members that are not joining, plus `joining` when given. A
/// joining member must list exactly the members it will find and itself; the others keep
/// the list they were bootstrapped with, so adding a member leaves their configs unchanged.
fn initial_cluster(cluster: &Cluster, joining: Option<&Node>) -> String {
    cluster
        .nodes
        .iter()
        .filter(|n| !n.join || joining.is_some_and(|j| j.name == n.name))
        .map(|n| {
            format!(
                "{}=https://{}:{}",
                n.name,
                n.advertise_host(),
                cluster.etcd.peer_port
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `https://a:1,https://b:1` for the sockets of one purpose.
fn listen_urls(cluster: &Cluster, node: &Node, purpose: &str, scheme: &str) -> String {
    listen_sockets(&cluster.etcd, node)
        .into_iter()
        .filter(|(_, _, p)| *p == purpose)
        .map(|(ip, port, _)| format!("{scheme}://{}:{port}", url_host(ip)))
        .collect::<Vec<_>>()
        .join(",")
}

fn member_env(cluster: &Cluster, node: &Node, founders: &str, layout: &Layout) -> Vec<EnvVar> {
    let etcd = &cluster.etcd;
    let host = node.advertise_host();
    let (initial_cluster, state) = if node.join {
        (initial_cluster(cluster, Some(node)), "existing")
    } else {
        (founders.to_string(), etcd.state.as_str())
    };
    let mut env = vec![
        var("ETCD_NAME", &node.name),
        var("ETCD_DATA_DIR", layout.data_dir),
        var(
            "ETCD_LISTEN_PEER_URLS",
            listen_urls(cluster, node, "peer", "https"),
        ),
        var(
            "ETCD_LISTEN_CLIENT_URLS",
            listen_urls(cluster, node, "client", "https"),
        ),
        var(
            "ETCD_LISTEN_METRICS_URLS",
            listen_urls(cluster, node, "metrics", "http"),
        ),
        var(
            "ETCD_INITIAL_ADVERTISE_PEER_URLS",
            format!("https://{host}:{}", etcd.peer_port),
        ),
        var(
            "ETCD_ADVERTISE_CLIENT_URLS",
            format!("https://{host}:{}", etcd.client_port),
        ),
        // Moved in, not copied again: a large cluster's list is tens of kilobytes.
        EnvVar {
            name: "ETCD_INITIAL_CLUSTER".to_string(),
            value: initial_cluster,
        },
        var("ETCD_INITIAL_CLUSTER_STATE", state),
        var("ETCD_INITIAL_CLUSTER_TOKEN", &etcd.token),
        var("ETCD_STRICT_RECONFIG_CHECK", "true"),
        var("ETCD_CLIENT_CERT_AUTH", "true"),
        var("ETCD_TRUSTED_CA_FILE", layout.ca_cert),
        var("ETCD_CERT_FILE", layout.server_cert),
        var("ETCD_KEY_FILE", layout.server_key),
        var("ETCD_PEER_CLIENT_CERT_AUTH", "true"),
        var("ETCD_PEER_TRUSTED_CA_FILE", layout.ca_cert),
        var("ETCD_PEER_CERT_FILE", layout.peer_cert),
        var("ETCD_PEER_KEY_FILE", layout.peer_key),
        var("ETCD_HEARTBEAT_INTERVAL", etcd.heartbeat_ms),
        var("ETCD_ELECTION_TIMEOUT", etcd.election_timeout_ms),
        var("ETCD_SNAPSHOT_COUNT", node.tuning.snapshot_count),
        var("ETCD_QUOTA_BACKEND_BYTES", node.tuning.quota_backend_bytes),
        var("ETCD_LOG_LEVEL", &node.tuning.log_level),
    ];
    if etcd.minor == 4 {
        // 3.4 still defaults to the deprecated capnslog logger and warns at every start;
        // zap is what 3.5 and later use anyway.
        env.push(var("ETCD_LOGGER", "zap"));
    }
    let (mode, retention) = &etcd.auto_compaction;
    env.push(var("ETCD_AUTO_COMPACTION_MODE", mode));
    env.push(var("ETCD_AUTO_COMPACTION_RETENTION", retention));
    env.extend(
        node.tuning
            .extra_env
            .iter()
            .map(|(name, value, _)| var(name, value)),
    );
    if let Some(procs) = node.tuning.gomaxprocs {
        env.push(var("GOMAXPROCS", procs));
    }
    if cluster.discovery.is_some() {
        env.retain(|v| !DECIDED_AT_BOOT.contains(&v.name.as_str()));
    }
    env
}

/// etcdctl on the node talks to its own member over the loopback listener (or the node's
/// own address when the node IP is a loopback address itself).
fn etcdctl_env(cluster: &Cluster, node: &Node, layout: &Layout) -> Vec<EnvVar> {
    vec![
        var("ETCDCTL_ENDPOINTS", local_client(cluster, node)),
        var("ETCDCTL_CACERT", layout.ca_cert),
        var("ETCDCTL_CERT", layout.client_cert),
        var("ETCDCTL_KEY", layout.client_key),
    ]
}

fn local_client(cluster: &Cluster, node: &Node) -> String {
    let local = if node.ip.is_loopback() {
        node.ip
    } else {
        LOCALHOST
    };
    format!("https://{}:{}", url_host(local), cluster.etcd.client_port)
}

fn roll_values(cluster: &Cluster, node: &Node, endpoints: &str) -> RollValues {
    RollValues {
        script: ROLL_SCRIPT,
        lock_key: format!("kindling/{}/roll-lock", cluster.name),
        lock_ttl_seconds: cluster.updates.lock_ttl_seconds,
        endpoints: endpoints.to_string(),
        local_endpoint: local_client(cluster, node),
        sysext_action: cluster.sysext.update.on_change.clone(),
        os_reboots: cluster.updates.os_reboots,
    }
}

fn backup_values(cluster: &Cluster) -> BackupValues {
    let backup = cluster.backup.as_ref();
    BackupValues {
        enabled: backup.is_some(),
        script: BACKUP_SCRIPT,
        dir: backup.map_or_else(String::new, |b| b.dir.clone()),
        schedule: backup.map_or_else(String::new, |b| b.schedule.clone()),
        keep: backup.map_or(0, |b| b.keep),
        verify: backup.is_some_and(|b| b.verify),
        s3: backup
            .and_then(|b| b.s3.as_ref())
            .map_or_else(S3Values::default, |s3| S3Values {
                enabled: true,
                endpoint: s3.endpoint.clone(),
                bucket: s3.bucket.clone(),
                prefix: s3.prefix.clone(),
                region: s3.region.clone(),
                credentials: s3.credentials.clone(),
                keep: s3.keep,
                ca_file: s3.ca_file.clone(),
                claim_key: format!("kindling/{}/backup-uploading", cluster.name),
                uploaded_key: format!("kindling/{}/backup-uploaded", cluster.name),
            }),
    }
}

fn restore_values(cluster: &Cluster, node: &Node, founders: &str) -> RestoreValues {
    let restore = cluster.restore.as_ref();
    RestoreValues {
        enabled: restore.is_some(),
        dir: RESTORE_DIR,
        snapshot_path: RESTORE_SNAPSHOT,
        snapshot_url: restore.map_or_else(String::new, |r| r.url.clone()),
        snapshot_hash: restore.map_or_else(String::new, |r| r.hash.clone()),
        script: RESTORE_SCRIPT,
        token: restore.map_or_else(String::new, |r| r.token.clone()),
        peer_url: format!(
            "https://{}:{}",
            node.advertise_host(),
            cluster.etcd.peer_port
        ),
        initial_cluster: restore.map_or_else(String::new, |_| founders.to_string()),
    }
}

fn firewall_values(cluster: &Cluster) -> FirewallValues {
    let lines = |ipv6| {
        cluster
            .firewall
            .as_ref()
            .map_or_else(String::new, |firewall| {
                firewall::rule_lines(firewall, &cluster.etcd, &cluster.nodes, ipv6).join("\n")
            })
    };
    FirewallValues {
        enabled: cluster.firewall.is_some(),
        ipv4_file: firewall::IPV4_RULES,
        ipv6_file: firewall::IPV6_RULES,
        members_chain: firewall::MEMBERS_CHAIN,
        member_script: FIREWALL_MEMBER_SCRIPT,
        ipv4_lines: lines(false),
        ipv6_lines: lines(true),
    }
}

fn sysext_values(cluster: &Cluster, material: &Material, layout: &Layout) -> SysextValues {
    let sysext = &cluster.sysext;
    SysextValues {
        name: "etcd",
        image_file: sysext.image_file.clone(),
        image_path: format!("{}/{}", layout.image_dir, sysext.image_file),
        image_url: format!("{}/{}", sysext.base_url, sysext.image_file),
        image_hash: material.image_hash.clone().unwrap_or_default(),
        base_url: sysext.base_url.clone(),
        match_pattern: sysext.update.match_pattern.clone(),
        instances_max: sysext.update.instances_max,
        update_enabled: sysext.update.enabled,
    }
}

fn container_values(cluster: &Cluster) -> ContainerValues {
    let image = cluster
        .container
        .as_ref()
        .map(|c| c.image.clone())
        .unwrap_or_default();
    let containerd_name = super::values::container_image(&image)
        .map(|parsed| parsed.containerd_name())
        .unwrap_or_default();
    ContainerValues {
        image,
        name: "etcd-member",
        bin_dir: "/usr/local/bin",
        containerd_name,
    }
}

fn kubelet_values(cluster: &Cluster, material: &Material) -> KubeletValues {
    const IMAGE_DIR: &str = "/opt/extensions/kubernetes";
    let kubelet = cluster.kubelet.as_ref();
    let image_file = kubelet.map_or_else(String::new, |k| k.image.image_file.clone());
    KubeletValues {
        version: kubelet.map_or_else(String::new, |k| k.version.clone()),
        image_path: format!("{IMAGE_DIR}/{image_file}"),
        image_url: kubelet.map_or_else(String::new, |k| {
            format!("{}/{}", k.image.base_url, k.image.image_file)
        }),
        image_file,
        image_hash: material.kubelet_image_hash.clone().unwrap_or_default(),
        extension_link: "/etc/extensions/kubernetes.raw",
        image_dir: IMAGE_DIR,
        config_file: "/etc/kubernetes/kubelet-standalone.yaml",
        static_pod_dir: "/etc/kubernetes/manifests",
        runtime_endpoint: "unix:///run/containerd/containerd.sock",
    }
}

/// The static pod of `node`, whose member env (from `member_env`) is `env`.
fn pod_values(cluster: &Cluster, node: &Node, env: &[EnvVar], layout: &Layout) -> PodValues {
    let mut command = vec!["etcd".to_string()];
    if cluster.etcd.config_file {
        command.push(format!("--config-file={}", layout.config_file));
    } else {
        command.extend(member_flags(env));
    }
    let metrics = listen_sockets(&cluster.etcd, node)
        .into_iter()
        .find(|(_, _, purpose)| *purpose == "metrics")
        .map_or(LOCALHOST, |(ip, _, _)| ip);
    let probe_ip = if metrics.is_unspecified() {
        LOCALHOST
    } else {
        metrics
    };
    let (liveness_path, startup_path) = if cluster.etcd.minor >= 5 {
        (
            "/health?exclude=NOSPACE&serializable=true",
            "/health?serializable=false",
        )
    } else {
        ("/health", "/health")
    };
    PodValues {
        command: command.iter().map(|arg| yaml_quoted(arg)).collect(),
        env: env
            .iter()
            .filter(|v| !is_setting(v))
            .map(|v| var(&v.name, yaml_quoted(&v.value)))
            .collect(),
        advertise_client_urls: yaml_quoted(&format!(
            "https://{}:{}",
            node.advertise_host(),
            cluster.etcd.client_port
        )),
        probe_host: probe_ip.to_string(),
        probe_port: cluster.etcd.metrics_port,
        liveness_path,
        startup_path,
    }
}

fn tls_values(
    cluster: &Cluster,
    material: &Material,
    server: &KeyedCert,
    peer: &KeyedCert,
) -> TlsValues {
    TlsValues {
        key_mode: format!("0{:o}", cluster.tls.key_mode),
        ca_cert: material.trust_anchor().to_string(),
        server_cert: server.cert.clone(),
        server_key: server.key.clone(),
        peer_cert: peer.cert.clone(),
        peer_key: peer.key.clone(),
        client_cert: material.client.cert.clone(),
        client_key: material.client.key.clone(),
    }
}
