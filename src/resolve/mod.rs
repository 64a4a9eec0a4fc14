//! Spec → Cluster: every default and every derived value, computed once, in typed Rust,
//! and checked. Nothing after this stage decides anything; templates only print.
//!
//! `resolve` needs only the spec text; `material::load` then reads the files the spec
//! points at (certificates, SHA256SUMS, a local image), so `pki init` can run before they
//! exist.

pub mod config_file;
pub mod container;
pub mod context;
pub mod etcd;
pub mod kubelet;
pub mod material;
pub mod network;
pub mod operations;
mod overrides;
pub mod values;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use serde_saphyr::Spanned;

use crate::diag::{Diagnostic, Report, Severity, Span};
use crate::ignition::SpecVersion;
use crate::spec::{EnvMap, NodeSpec, SpecDocument};
use crate::tls::PkiPaths;
use crate::tls::keys::KeyAlgorithm;
use values::Invalid;

/// The built-in profile used when the spec names none.
pub const DEFAULT_PROFILE: &str = "flatcar-sysext";

/// The resolved cluster: what every node's config is computed from.
#[derive(Debug)]
pub struct Cluster {
    pub name: String,
    pub domain: Option<String>,
    pub domain_span: Option<Span>,
    pub ignition: SpecVersion,
    pub profile: ProfileChoice,
    pub etcd: EtcdSettings,
    pub sysext: SysextSettings,
    pub tls: TlsSettings,
    pub ssh_authorized_keys: Vec<String>,
    pub network: network::NetworkSettings,
    pub matchbox: Option<MatchboxSettings>,
    pub backup: Option<operations::BackupSettings>,
    pub updates: operations::UpdatesSettings,
    /// The etcd image of the container profiles (`container:`).
    pub container: Option<container::ContainerSettings>,
    /// The kubelet of the static-pod profile (`kubelet:`).
    pub kubelet: Option<kubelet::KubeletSettings>,
    pub nodes: Vec<Node>,
}

/// How `kindling matchbox` boots the nodes (absent when the spec has no `matchbox:`).
#[derive(Debug)]
pub struct MatchboxSettings {
    /// Where machines reach Matchbox, without a trailing slash.
    pub url: String,
    pub channel: String,
    /// A Flatcar release (`4230.2.3`) or `current`.
    pub version: String,
    /// Install to this disk with flatcar-install, then boot from it; None boots from PXE.
    pub install_disk: Option<String>,
    pub kernel_args: Vec<String>,
    /// The `matchbox:` section of the spec.
    pub span: Span,
}

/// Which profile renders the cluster: a name (looked up in `--profiles DIR`, then the
/// built-in ones) or a directory given as a path in the spec.
#[derive(Debug, Clone)]
pub struct ProfileChoice {
    pub name_or_dir: ProfileRef,
    pub span: Option<Span>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileRef {
    Named(String),
    Dir(PathBuf),
}

#[derive(Debug)]
pub struct EtcdSettings {
    pub version: String,
    pub minor: u32,
    pub patch: u32,
    pub client_port: u16,
    pub peer_port: u16,
    pub metrics_port: u16,
    pub metrics_listen: MetricsListen,
    pub heartbeat_ms: u64,
    pub election_timeout_ms: u64,
    /// (mode, retention); a retention of "0" is etcd's "off".
    pub auto_compaction: (String, String),
    pub state: String,
    pub token: String,
    /// `etcd.config: file`: etcd reads a YAML config file instead of an env file.
    pub config_file: bool,
    /// The cluster's member settings; each node's own (with its overrides) is `Node::tuning`.
    pub tuning: Tuning,
    /// Spec lines of settings later checks point at (None: the default was used).
    pub metrics_listen_span: Option<Span>,
    pub version_span: Span,
}

/// The etcd settings a member may set for itself (`overrides.etcd`).
#[derive(Debug, Clone, Default)]
pub struct Tuning {
    pub snapshot_count: u64,
    pub quota_backend_bytes: u64,
    pub log_level: String,
    pub gomaxprocs: Option<u32>,
    /// Extra `ETCD_*` settings: name, value, and the spec line of the name.
    pub extra_env: Vec<(String, String, Span)>,
    /// Where the quota was set (None: the default was used).
    pub quota_span: Option<Span>,
}

/// Where the plain-HTTP metrics/health endpoint listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsListen {
    Localhost,
    NodeIp,
    Fixed(IpAddr),
}

#[derive(Debug)]
pub struct SysextSettings {
    pub base_url: String,
    pub arch: String,
    /// `etcd-v3.5.21-x86-64.raw`
    pub image_file: String,
    pub allow_unverified: bool,
    pub sha256sums: Option<(PathBuf, Span)>,
    pub local_image: Option<(PathBuf, Span)>,
    pub base_span: Span,
    pub update: UpdateSettings,
}

#[derive(Debug)]
pub struct UpdateSettings {
    pub enabled: bool,
    /// `reboot` or `restart` (refresh sysexts, restart etcd), either under the roll lock.
    pub on_change: String,
    /// `minor` (the release line of etcd.version) or `any`.
    pub track: String,
    /// The sysupdate MatchPattern, with exactly one `@v`.
    pub match_pattern: String,
    pub instances_max: u32,
}

impl UpdateSettings {
    /// No systemd-sysupdate transfer: the image stays as provisioned.
    fn none() -> Self {
        UpdateSettings {
            enabled: false,
            on_change: "restart".to_string(),
            track: "minor".to_string(),
            match_pattern: String::new(),
            instances_max: 2,
        }
    }
}

#[derive(Debug)]
pub struct TlsSettings {
    pub paths: PkiPaths,
    pub dir_span: Span,
    pub key_mode: u32,
    /// The algorithm of the keys kindling generates.
    pub key_algorithm: KeyAlgorithm,
    pub ca_days: u32,
    pub leaf_days: u32,
    pub clients: Vec<operations::ClientCert>,
}

/// One etcd member, with the cluster's settings as they apply to it (its overrides in).
#[derive(Debug)]
pub struct Node {
    pub name: String,
    pub ip: IpAddr,
    pub mac: Option<String>,
    pub fqdn: Option<String>,
    pub span: Span,
    pub ip_span: Span,
    /// Where the spec wrote the MAC address (the node's name when it wrote none).
    pub mac_span: Span,
    /// This member joins the running cluster (`join: true`).
    pub join: bool,
    pub join_span: Option<Span>,
    pub tuning: Tuning,
    pub ssh_authorized_keys: Vec<String>,
    /// flatcar-install's target disk under Matchbox (None: the node runs from PXE).
    pub install_disk: Option<String>,
    /// Extra kernel arguments under Matchbox.
    pub kernel_args: Vec<String>,
    /// The `.network` file's settings, with static addressing.
    pub static_network: Option<network::StaticNetwork>,
    /// The Butane snippets merged into this node's config: the cluster's, then its own.
    pub snippets: Vec<SnippetRef>,
}

/// A Butane snippet as the spec names it.
#[derive(Debug, Clone)]
pub struct SnippetRef {
    /// The file, relative to the spec's directory.
    pub path: PathBuf,
    /// The path as written in the spec.
    pub shown: String,
    pub span: Span,
    /// What of the profile's output the snippet replaces on purpose.
    pub replaces: Vec<(Replaced, Span)>,
}

/// One thing a profile generates that a snippet may replace when it says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replaced {
    /// A file, directory or link (`/etc/hostname`).
    Path(String),
    /// A unit (`etcd.service`).
    Unit(String),
    /// A drop-in of a unit (`etcd.service.d/10-x.conf`).
    Dropin { unit: String, name: String },
    /// A user (`user:core`).
    User(String),
}

impl std::fmt::Display for Replaced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Replaced::Path(path) => f.write_str(path),
            Replaced::Unit(unit) => f.write_str(unit),
            Replaced::Dropin { unit, name } => write!(f, "{unit}.d/{name}"),
            Replaced::User(user) => write!(f, "user:{user}"),
        }
    }
}

impl Node {
    /// The name peers and clients reach this member at: the FQDN when a domain is set.
    pub fn advertise_host(&self) -> String {
        self.fqdn.clone().unwrap_or_else(|| url_host(self.ip))
    }
}

/// An IP formatted for the host part of a URL.
pub fn url_host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// The loopback address local clients (etcdctl on the node) use.
pub const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Collects diagnostics while resolving, so one run reports every problem it can find.
struct Resolver<'a> {
    doc: &'a SpecDocument,
    report: Report,
}

impl<'a> Resolver<'a> {
    fn span<T>(&self, value: &Spanned<T>) -> Span {
        self.doc.span(value)
    }

    fn fail(&mut self, code: &'static str, span: Span, invalid: Invalid) {
        self.report
            .push(Diagnostic::at(code, invalid.message, &span).with_help(invalid.help));
    }

    fn error(&mut self, code: &'static str, span: &Span, message: String, help: &str) {
        self.report
            .push(Diagnostic::at(code, message, span).with_help(help));
    }

    /// Runs a value check; on failure records it and yields `fallback` so resolving goes on.
    fn check<T>(
        &mut self,
        code: &'static str,
        span: Span,
        result: Result<T, Invalid>,
        fallback: T,
    ) -> T {
        result.unwrap_or_else(|invalid| {
            self.fail(code, span, invalid);
            fallback
        })
    }

    /// A spanned string that must pass `rule`: records the problem at its line if not, and
    /// yields the text either way so resolving goes on.
    fn checked(
        &mut self,
        code: &'static str,
        value: &Spanned<String>,
        rule: fn(&str) -> Result<(), Invalid>,
    ) -> String {
        let span = self.span(value);
        self.check(code, span, rule(&value.value), ());
        value.value.clone()
    }

    /// One of a fixed set of words, or `default` when the spec leaves it out.
    fn choice(
        &mut self,
        code: &'static str,
        value: &Option<Spanned<String>>,
        allowed: &[&str],
        default: &str,
    ) -> String {
        let Some(value) = value else {
            return default.to_string();
        };
        if allowed.contains(&value.value.as_str()) {
            return value.value.clone();
        }
        let span = self.span(value);
        self.error(
            code,
            &span,
            format!("{:?} is not one of the allowed values", value.value),
            &format!("use one of: {}", allowed.join(", ")),
        );
        default.to_string()
    }
}

fn value_or<T: Clone>(value: &Option<Spanned<T>>, default: T) -> T {
    value.as_ref().map_or(default, |v| v.value.clone())
}

/// Resolves a parsed spec into a cluster, reporting every problem found.
pub fn resolve(doc: &SpecDocument) -> Result<Cluster, Report> {
    let mut r = Resolver {
        doc,
        report: doc.mistakes.clone(),
    };
    let spec = &doc.spec;
    let name_span = r.span(&spec.cluster.name);
    r.check(
        "spec.cluster-name",
        name_span,
        values::dns_label("cluster name", &spec.cluster.name.value),
        (),
    );
    let domain = spec
        .cluster
        .domain
        .as_ref()
        .map(|d| r.checked("spec.domain", d, values::domain));
    let ignition = resolve_ignition_version(&mut r);
    let profile = resolve_profile(&r);
    let network = network::resolve_settings(&mut r);
    let (mut nodes, misaddressed) = resolve_nodes(&mut r, domain.as_deref(), network.subnet);
    let etcd = resolve_etcd(&mut r);
    check_ports_and_sockets(&mut r, &etcd, &nodes, &misaddressed);
    check_privileged_ports(&mut r, &profile);
    operations::check_joins(&mut r, &nodes, &etcd.state);
    let backup = operations::resolve_backup(&mut r);
    let updates = operations::resolve_updates(&mut r);
    let profile_name = match &profile.name_or_dir {
        ProfileRef::Named(name) => Some(name.clone()),
        ProfileRef::Dir(_) => None,
    };
    let container = container::resolve_container(&mut r, &etcd.version, profile_name.as_deref());
    let sysext = resolve_sysext(&mut r, &etcd, profile_name.as_deref());
    let kubelet = kubelet::resolve_kubelet(&mut r, profile_name.as_deref());
    let tls = resolve_tls(&mut r);
    let ssh_authorized_keys = resolve_ssh_keys(&mut r, &spec.ssh_authorized_keys);
    let matchbox = resolve_matchbox(&mut r);
    let defaults = overrides::Defaults {
        etcd: &etcd,
        network: &network,
        matchbox: matchbox.as_ref(),
        ssh_authorized_keys: &ssh_authorized_keys,
    };
    overrides::apply(&mut r, &mut nodes, &defaults);
    let cluster = Cluster {
        name: spec.cluster.name.value.clone(),
        domain,
        domain_span: spec.cluster.domain.as_ref().map(|d| r.span(d)),
        ignition,
        profile,
        etcd,
        sysext,
        tls,
        ssh_authorized_keys,
        network,
        matchbox,
        backup,
        updates,
        container,
        kubelet,
        nodes,
    };
    // A cluster setting every node inherits is checked once per node: say it once.
    r.report.without_repeats().into_result(cluster)
}

fn resolve_ignition_version(r: &mut Resolver) -> SpecVersion {
    let Some(version) = &r.doc.spec.cluster.ignition else {
        return SpecVersion::V3_4;
    };
    match SpecVersion::parse_rendered(&version.value) {
        Some(v) => v,
        None => {
            let span = r.span(version);
            r.error(
                "spec.ignition-version",
                &span,
                format!(
                    "kindling renders Ignition 3.4.0 or 3.3.0, not {:?}",
                    version.value
                ),
                "use 3.4.0 (current Flatcar) or 3.3.0 (Flatcar releases before 3.4.0 support)",
            );
            SpecVersion::V3_4
        }
    }
}

fn resolve_profile(r: &Resolver) -> ProfileChoice {
    let Some(profile) = &r.doc.spec.profile else {
        return ProfileChoice {
            name_or_dir: ProfileRef::Named(DEFAULT_PROFILE.to_string()),
            span: None,
        };
    };
    let text = &profile.value;
    let looks_like_path = text.contains('/') || text.starts_with('.');
    let name_or_dir = if looks_like_path {
        ProfileRef::Dir(r.doc.dir.join(text))
    } else {
        ProfileRef::Named(text.clone())
    };
    ProfileChoice {
        name_or_dir,
        span: Some(r.span(profile)),
    }
}

/// The nodes, and the names of those whose IP was already reported (not an IP, or used by
/// another node): the socket check leaves them out, so one mistake is reported once.
fn resolve_nodes(
    r: &mut Resolver,
    domain: Option<&str>,
    subnet: Option<ipnet::IpNet>,
) -> (Vec<Node>, HashSet<String>) {
    let spec = &r.doc.spec;
    if spec.nodes.value.is_empty() {
        let span = r.span(&spec.nodes);
        r.error(
            "spec.no-nodes",
            &span,
            "the cluster has no nodes".into(),
            "list at least one node under `nodes:`",
        );
    }
    let nodes: Vec<Node> = spec
        .nodes
        .value
        .iter()
        .map(|node| resolve_node(r, node, domain, subnet))
        .collect();
    let mut misaddressed: HashSet<String> = spec
        .nodes
        .value
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

fn resolve_node(
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
fn check_unique<T>(
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

fn resolve_etcd(r: &mut Resolver) -> EtcdSettings {
    let etcd = &r.doc.spec.etcd;
    let version_span = r.span(&etcd.version);
    let (minor, patch) = r.check(
        "etcd.version",
        version_span,
        values::etcd_version(&etcd.version.value),
        (5, 0),
    );
    let ports = etcd.ports.as_ref();
    let port = |p: Option<&Option<Spanned<u16>>>, default| {
        p.and_then(|p| p.as_ref()).map_or(default, |p| p.value)
    };
    let heartbeat_ms = value_or(&etcd.heartbeat_ms, 100);
    let election_timeout_ms = value_or(&etcd.election_timeout_ms, 1000);
    check_timing(r, heartbeat_ms, election_timeout_ms);
    let state = r.choice(
        "spec.cluster-state",
        &r.doc.spec.cluster.state,
        &["new", "existing"],
        "new",
    );
    let token = resolve_token(r);
    let config_file = r.choice("etcd.config", &etcd.config, &["env", "file"], "env") == "file";
    let auto_compaction = resolve_compaction(r);
    let metrics_listen = resolve_metrics_listen(r);
    let written = TuningSpec {
        snapshot_count: &etcd.snapshot_count,
        quota_backend_bytes: &etcd.quota_backend_bytes,
        log_level: &etcd.log_level,
        gomaxprocs: &etcd.gomaxprocs,
        env: &etcd.env,
    };
    let tuning = resolve_tuning(r, &written, &Tuning::cluster_defaults(), minor);
    EtcdSettings {
        version: etcd.version.value.clone(),
        minor,
        patch,
        client_port: port(ports.map(|p| &p.client), 2379),
        peer_port: port(ports.map(|p| &p.peer), 2380),
        metrics_port: port(ports.map(|p| &p.metrics), 2381),
        metrics_listen,
        heartbeat_ms,
        election_timeout_ms,
        auto_compaction,
        state,
        token,
        config_file,
        tuning,
        metrics_listen_span: etcd.metrics_listen.as_ref().map(|m| r.span(m)),
        version_span: r.span(&etcd.version),
    }
}

/// The network and broadcast addresses of an IPv4 subnet with room for hosts (/30 or wider).
fn is_subnet_reserved(subnet: &ipnet::IpNet, ip: IpAddr) -> bool {
    match subnet {
        ipnet::IpNet::V4(v4) if v4.prefix_len() < 31 => {
            ip == IpAddr::V4(v4.network()) || ip == IpAddr::V4(v4.broadcast())
        }
        _ => false,
    }
}

/// etcd refuses to start unless heartbeat > 0, election ≥ 5 × heartbeat and ≤ 50000 ms.
fn check_timing(r: &mut Resolver, heartbeat_ms: u64, election_timeout_ms: u64) {
    let etcd = &r.doc.spec.etcd;
    let heartbeat_span = etcd.heartbeat_ms.as_ref().map(|h| r.span(h));
    let election_span = etcd.election_timeout_ms.as_ref().map(|e| r.span(e));
    let fallback = r.span(&etcd.version);
    if heartbeat_ms == 0 {
        let span = heartbeat_span.unwrap_or_else(|| fallback.clone());
        r.error(
            "etcd.heartbeat",
            &span,
            "heartbeat_ms must be greater than 0".into(),
            "the usual value is 100",
        );
        return;
    }
    let span = election_span.or(heartbeat_span).unwrap_or(fallback);
    // Saturating: a heartbeat near u64::MAX must be refused, not wrapped into a small number.
    let five_heartbeats = heartbeat_ms.saturating_mul(5);
    if election_timeout_ms < five_heartbeats {
        r.error(
            "etcd.election-timeout",
            &span,
            format!("election_timeout_ms {election_timeout_ms} is less than 5 × heartbeat_ms ({five_heartbeats})"),
            "etcd refuses to start: make the election timeout at least five heartbeats (10× is usual)",
        );
    } else if election_timeout_ms > 50_000 {
        r.error(
            "etcd.election-timeout",
            &span,
            format!("election_timeout_ms {election_timeout_ms} is above etcd's limit of 50000"),
            "etcd refuses to start with an election timeout above 50 s",
        );
    }
}

fn resolve_token(r: &mut Resolver) -> String {
    let cluster = &r.doc.spec.cluster;
    match &cluster.token {
        Some(token) => r.checked("spec.token", token, values::token),
        None => cluster.name.value.clone(),
    }
}

/// Compaction is on by default (periodic, keeping an hour of history): without it the
/// keyspace history grows until the backend quota raises the NOSPACE alarm. A retention of
/// "0" turns it off (for Kubernetes, whose API server compacts by itself).
fn resolve_compaction(r: &mut Resolver) -> (String, String) {
    let etcd = &r.doc.spec.etcd;
    let mode = r.choice(
        "etcd.compaction-mode",
        &etcd.auto_compaction_mode,
        etcd::COMPACTION_MODES,
        "periodic",
    );
    let Some(retention) = etcd.auto_compaction_retention.as_ref() else {
        let default = if mode == "periodic" { "1h" } else { "10000" };
        return (mode, default.to_string());
    };
    let span = r.span(retention);
    let checked = values::env_value(&retention.value)
        .and_then(|()| values::compaction_retention(&mode, &retention.value));
    r.check("etcd.compaction-retention", span, checked, ());
    (mode, retention.value.clone())
}

fn resolve_metrics_listen(r: &mut Resolver) -> MetricsListen {
    let Some(listen) = &r.doc.spec.etcd.metrics_listen else {
        return MetricsListen::Localhost;
    };
    match listen.value.as_str() {
        "localhost" => MetricsListen::Localhost,
        "node" => MetricsListen::NodeIp,
        other => {
            let span = r.span(listen);
            let parsed = values::ip(other).map_err(|invalid| Invalid {
                help: "write localhost (the default), node (the node's IP), or an IP address"
                    .into(),
                ..invalid
            });
            MetricsListen::Fixed(r.check("etcd.metrics-listen", span, parsed, LOCALHOST))
        }
    }
}

/// Settings kindling derives itself: the spec may not set them through `etcd.env`.
const GENERATED_ENV: &[(&str, &str)] = &[
    ("ETCD_NAME", "nodes[].name"),
    ("ETCD_DATA_DIR", "the profile layout"),
    ("ETCD_LISTEN_PEER_URLS", "nodes[].ip and etcd.ports.peer"),
    (
        "ETCD_LISTEN_CLIENT_URLS",
        "nodes[].ip and etcd.ports.client",
    ),
    (
        "ETCD_LISTEN_METRICS_URLS",
        "etcd.metrics_listen and etcd.ports.metrics",
    ),
    (
        "ETCD_INITIAL_ADVERTISE_PEER_URLS",
        "nodes[] and cluster.domain",
    ),
    ("ETCD_ADVERTISE_CLIENT_URLS", "nodes[] and cluster.domain"),
    ("ETCD_INITIAL_CLUSTER", "the node list"),
    ("ETCD_INITIAL_CLUSTER_STATE", "cluster.state"),
    ("ETCD_INITIAL_CLUSTER_TOKEN", "cluster.token"),
    ("ETCD_STRICT_RECONFIG_CHECK", "kindling (always true)"),
    ("ETCD_CLIENT_CERT_AUTH", "kindling (always true)"),
    ("ETCD_TRUSTED_CA_FILE", "the profile layout"),
    ("ETCD_CERT_FILE", "the profile layout"),
    ("ETCD_KEY_FILE", "the profile layout"),
    ("ETCD_PEER_CLIENT_CERT_AUTH", "kindling (always true)"),
    ("ETCD_PEER_TRUSTED_CA_FILE", "the profile layout"),
    ("ETCD_PEER_CERT_FILE", "the profile layout"),
    ("ETCD_PEER_KEY_FILE", "the profile layout"),
    ("ETCD_HEARTBEAT_INTERVAL", "etcd.heartbeat_ms"),
    ("ETCD_ELECTION_TIMEOUT", "etcd.election_timeout_ms"),
    ("ETCD_SNAPSHOT_COUNT", "etcd.snapshot_count"),
    ("ETCD_QUOTA_BACKEND_BYTES", "etcd.quota_backend_bytes"),
    ("ETCD_LOG_LEVEL", "etcd.log_level"),
    ("ETCD_LOGGER", "kindling (zap)"),
    ("ETCD_AUTO_COMPACTION_MODE", "etcd.auto_compaction_mode"),
    (
        "ETCD_AUTO_COMPACTION_RETENTION",
        "etcd.auto_compaction_retention",
    ),
    (
        "ETCD_CONFIG_FILE",
        "nothing: it makes etcd ignore every other setting",
    ),
];

impl Tuning {
    /// etcd's own defaults, which kindling writes out explicitly.
    fn cluster_defaults() -> Tuning {
        Tuning {
            snapshot_count: 10_000,
            quota_backend_bytes: 2 * 1024 * 1024 * 1024,
            log_level: "info".into(),
            gomaxprocs: None,
            extra_env: Vec::new(),
            quota_span: None,
        }
    }
}

/// The member settings as written, under `etcd:` or a node's `overrides.etcd:`.
struct TuningSpec<'a> {
    snapshot_count: &'a Option<Spanned<u64>>,
    quota_backend_bytes: &'a Option<Spanned<u64>>,
    log_level: &'a Option<Spanned<String>>,
    gomaxprocs: &'a Option<Spanned<u32>>,
    env: &'a EnvMap,
}

/// `base` with what `written` sets: values replace, env settings replace the same name in
/// place or are added after the others.
fn resolve_tuning(r: &mut Resolver, written: &TuningSpec, base: &Tuning, minor: u32) -> Tuning {
    if let Some(quota) = written.quota_backend_bytes
        && i64::try_from(quota.value).is_err()
    {
        let span = r.span(quota);
        r.error(
            "etcd.quota-range",
            &span,
            format!(
                "quota_backend_bytes {} is above what etcd's flag holds ({})",
                quota.value,
                i64::MAX
            ),
            "etcd would refuse to start; 8 GiB (8589934592) is the suggested maximum",
        );
    }
    let log_level = r.choice(
        "etcd.log-level",
        written.log_level,
        etcd::LOG_LEVELS,
        &base.log_level,
    );
    let mut extra_env = base.extra_env.clone();
    for (name, value, span) in resolve_extra_env(r, written.env, minor) {
        match extra_env.iter_mut().find(|(known, _, _)| *known == name) {
            Some(existing) => *existing = (name, value, span),
            None => extra_env.push((name, value, span)),
        }
    }
    Tuning {
        snapshot_count: value_or(written.snapshot_count, base.snapshot_count),
        quota_backend_bytes: value_or(written.quota_backend_bytes, base.quota_backend_bytes),
        log_level,
        gomaxprocs: written
            .gomaxprocs
            .as_ref()
            .map(|g| g.value)
            .or(base.gomaxprocs),
        extra_env,
        quota_span: written
            .quota_backend_bytes
            .as_ref()
            .map(|q| r.span(q))
            .or_else(|| base.quota_span.clone()),
    }
}

fn resolve_extra_env(r: &mut Resolver, env: &EnvMap, minor: u32) -> Vec<(String, String, Span)> {
    let mut resolved = Vec::new();
    for (name, value) in &env.0 {
        let name_span = r.span(name);
        let value_span = r.span(value);
        if let Some((_, from)) = GENERATED_ENV
            .iter()
            .find(|(generated, _)| *generated == name.value)
        {
            r.error(
                "etcd.env-reserved",
                &name_span,
                format!("{} is set by kindling", name.value),
                &format!("it comes from {from}; set that instead"),
            );
            continue;
        }
        if !is_env_name(&name.value) {
            r.error(
                "etcd.env-name",
                &name_span,
                format!("{:?} is not an ETCD_* setting name", name.value),
                "names are ETCD_ followed by A-Z, 0-9 and '_'",
            );
            continue;
        }
        if !etcd::is_known_env(minor, &name.value) {
            let help = unknown_env_help(minor, &name.value);
            r.error(
                "etcd.env-unknown",
                &name_span,
                format!("etcd v3.{minor} has no setting {}", name.value),
                &help,
            );
            continue;
        }
        let flag = etcd::flag_of(&name.value);
        r.check(
            "etcd.env-value",
            value_span,
            values::env_value(&value.value)
                .and_then(|()| etcd::check_flag_value(&flag, &value.value)),
            (),
        );
        if writes_config_file(r)
            && let Err(why) = config_file::entry(&name.value, &value.value)
        {
            r.error(
                "etcd.config-file-setting",
                &name_span,
                why,
                "with `etcd.config: file` every setting goes into etcd's YAML config file: write it in the form etcd reads there, or use `etcd.config: env`",
            );
            continue;
        }
        resolved.push((name.value.clone(), value.value.clone(), name_span));
    }
    resolved
}

/// Whether the spec asks for etcd's YAML config file (`etcd.config` itself is checked by
/// `resolve_etcd`).
fn writes_config_file(r: &Resolver) -> bool {
    r.doc
        .spec
        .etcd
        .config
        .as_ref()
        .is_some_and(|c| c.value == "file")
}

fn is_env_name(name: &str) -> bool {
    name.strip_prefix("ETCD_").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    })
}

fn unknown_env_help(minor: u32, name: &str) -> String {
    let lines = etcd::lines_knowing(name);
    if !lines.is_empty() {
        return format!(
            "{name} exists in etcd {}; it was renamed or removed in v3.{minor}",
            lines.join(", ")
        );
    }
    match etcd::closest_env(minor, name) {
        Some(close) => format!("did you mean {close}?"),
        None => "see `etcd --help` for the settings of this release".to_string(),
    }
}

/// Ports below 1024 need a privilege etcd does not have in the Flatcar profiles: it runs as
/// the `etcd` user (sysext) or as uid 232 (container), without CAP_NET_BIND_SERVICE, and
/// Flatcar keeps `net.ipv4.ip_unprivileged_port_start` at 1024, so every member would fail
/// with "bind: permission denied". The static-pod profile runs etcd as root, as kubeadm
/// does; for a profile directory the user is unknown, so it is a warning.
fn check_privileged_ports(r: &mut Resolver, profile: &ProfileChoice) {
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
fn check_ports_and_sockets(
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
fn machine_of(node: &Node, listen_ip: IpAddr) -> Option<IpAddr> {
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

fn resolve_sysext(r: &mut Resolver, etcd: &EtcdSettings, profile: Option<&str>) -> SysextSettings {
    let Some(sysext) = &r.doc.spec.sysext else {
        return no_sysext(r, etcd, profile);
    };
    let mut settings = image_source(r, sysext, "etcd", &etcd.version);
    settings.update = resolve_update(r, etcd, &settings.arch);
    settings
}

/// Where nodes fetch a sysext image (`<extension>-<version>-<arch>.raw`) and how its hash
/// is known; no update of it (the caller adds that for etcd's).
fn image_source(
    r: &mut Resolver,
    sysext: &crate::spec::SysextSection,
    extension: &str,
    version: &str,
) -> SysextSettings {
    let base_span = r.span(&sysext.base_url);
    let base_url = r.check(
        "sysext.base-url",
        base_span.clone(),
        values::http_base_url(&sysext.base_url.value),
        String::new(),
    );
    let arch = r.choice("sysext.arch", &sysext.arch, &["x86-64", "arm64"], "x86-64");
    let image_file = format!("{extension}-{version}-{arch}.raw");
    let path_of = |r: &Resolver, p: &Spanned<String>| (r.doc.dir.join(&p.value), r.span(p));
    let sha256sums = sysext.sha256sums.as_ref().map(|p| path_of(r, p));
    let local_image = sysext.image.as_ref().map(|p| path_of(r, p));
    let allow_unverified = value_or(&sysext.allow_unverified, false);
    if sha256sums.is_none() && local_image.is_none() && !allow_unverified {
        r.error(
            "sysext.hash-missing",
            &base_span,
            format!("no way to verify {image_file}: neither sha256sums nor image is set"),
            "set sha256sums to the published SHA256SUMS file (or image to a local copy); `allow_unverified: true` opts out",
        );
    }
    SysextSettings {
        base_url,
        arch,
        image_file,
        allow_unverified,
        sha256sums,
        local_image,
        base_span,
        update: UpdateSettings::none(),
    }
}

/// A spec without `sysext:`: fine for the container profiles, which fetch no image (and
/// update none); an error for every other profile.
fn no_sysext(r: &mut Resolver, etcd: &EtcdSettings, profile: Option<&str>) -> SysextSettings {
    let start = Span::file_start(&r.doc.source);
    if !profile.is_some_and(|p| container::CONTAINER_PROFILES.contains(&p)) {
        r.error(
            "spec.missing-key",
            &start,
            "the spec has no `sysext:`, which says where nodes fetch the etcd image".into(),
            "add sysext: { base_url: ..., sha256sums: ... } (only the container profiles run without it)",
        );
    }
    SysextSettings {
        base_url: String::new(),
        arch: "x86-64".to_string(),
        image_file: format!("etcd-{}-x86-64.raw", etcd.version),
        allow_unverified: true,
        sha256sums: None,
        local_image: None,
        base_span: start,
        update: UpdateSettings::none(),
    }
}

fn resolve_update(r: &mut Resolver, etcd: &EtcdSettings, arch: &str) -> UpdateSettings {
    let update = r.doc.spec.sysext.as_ref().and_then(|s| s.update.as_ref());
    let on_change = r.choice(
        "sysext.on-change",
        &update.and_then(|u| u.on_change.clone()),
        &["reboot", "restart"],
        "reboot",
    );
    let track = r.choice(
        "sysext.track",
        &update.and_then(|u| u.track.clone()),
        &["minor", "any"],
        "minor",
    );
    let match_pattern = if track == "minor" {
        format!("etcd-v3.{}.@v-{arch}.raw", etcd.minor)
    } else {
        format!("etcd-@v-{arch}.raw")
    };
    let instances = update.and_then(|u| u.instances_max.as_ref());
    let instances_max = instances.map_or(3, |i| i.value);
    if let Some(spanned) = instances
        && instances_max < 2
    {
        let span = r.span(spanned);
        r.error("sysext.instances-max", &span, format!("instances_max {instances_max} leaves no room for an update"), "systemd-sysupdate needs InstancesMax of at least 2 (the current image and the new one)");
    }
    UpdateSettings {
        enabled: update
            .and_then(|u| u.enabled.as_ref())
            .is_none_or(|e| e.value),
        on_change,
        track,
        match_pattern,
        instances_max,
    }
}

fn resolve_tls(r: &mut Resolver) -> TlsSettings {
    let tls = &r.doc.spec.tls;
    let dir = tls
        .dir
        .as_ref()
        .map_or_else(|| "pki".to_string(), |d| d.value.clone());
    let dir_span = tls
        .dir
        .as_ref()
        .map_or_else(|| r.span(&r.doc.spec.cluster.name), |d| r.span(d));
    let key_mode = match &tls.key_mode {
        None => 0o600,
        Some(mode) => {
            let span = r.span(mode);
            let parsed = values::octal_mode(&mode.value).and_then(|m| {
                if m == 0o600 || m == 0o400 {
                    Ok(m)
                } else {
                    Err(Invalid {
                        message: format!("key mode {:o} lets others read private keys", m),
                        help: "use \"0600\" or \"0400\"".into(),
                    })
                }
            });
            r.check("tls.key-mode", span, parsed, 0o600)
        }
    };
    let key_algorithm = match &tls.key_algorithm {
        None => KeyAlgorithm::P256,
        Some(name) => {
            let span = r.span(name);
            let parsed = KeyAlgorithm::parse(&name.value).ok_or_else(|| Invalid {
                message: format!("{:?} is not a key algorithm kindling generates", name.value),
                help: format!("one of {}", KeyAlgorithm::NAMES.join(", ")),
            });
            r.check("tls.key-algorithm", span, parsed, KeyAlgorithm::P256)
        }
    };
    let days = |r: &mut Resolver, value: &Option<Spanned<u32>>, default: u32| match value {
        Some(days) if days.value == 0 => {
            let span = r.span(days);
            r.error(
                "tls.days",
                &span,
                "a validity of 0 days".into(),
                "give the number of days certificates stay valid",
            );
            default
        }
        Some(days) => days.value,
        None => default,
    };
    let ca_days = days(r, &tls.ca_days, 3650);
    let leaf_days = days(r, &tls.leaf_days, 365);
    TlsSettings {
        paths: PkiPaths::new(r.doc.dir.join(dir)),
        dir_span,
        key_mode,
        key_algorithm,
        ca_days,
        leaf_days,
        clients: operations::resolve_clients(r),
    }
}

fn resolve_ssh_keys(r: &mut Resolver, keys: &[Spanned<String>]) -> Vec<String> {
    keys.iter()
        .map(|key| {
            r.checked("spec.ssh-key", key, values::ssh_public_key)
                .trim()
                .to_string()
        })
        .collect()
}

fn resolve_matchbox(r: &mut Resolver) -> Option<MatchboxSettings> {
    let section = &r.doc.spec.matchbox.as_ref()?.value;
    let url_span = r.span(&section.url);
    let url = r.check(
        "matchbox.url",
        url_span,
        values::http_base_url(&section.url.value),
        String::new(),
    );
    let channel = r.choice(
        "matchbox.channel",
        &section.channel,
        &["stable", "beta", "alpha", "lts"],
        "stable",
    );
    let version = section.version.as_ref().map_or_else(
        || "current".to_string(),
        |v| r.checked("matchbox.version", v, values::flatcar_version),
    );
    let install_disk = section
        .install_disk
        .as_ref()
        .map(|disk| r.checked("matchbox.install-disk", disk, values::device_path));
    let kernel_args = section
        .kernel_args
        .iter()
        .map(|arg| r.checked("matchbox.kernel-arg", arg, values::kernel_arg))
        .collect();
    Some(MatchboxSettings {
        url,
        channel,
        version,
        install_disk,
        kernel_args,
        span: r.span(r.doc.spec.matchbox.as_ref()?),
    })
}
