//! Spec → Cluster: every default and every derived value, computed once, in typed Rust,
//! and checked. Nothing after this stage decides anything; templates only print.
//!
//! `resolve` needs only the spec text; `material::load` then reads the files the spec
//! points at (certificates, SHA256SUMS, a local image), so `pki init` can run before they
//! exist.

mod cluster;
pub mod config_file;
pub mod container;
pub mod context;
pub mod discovery;
pub mod etcd;
mod etcd_settings;
pub mod firewall;
pub mod kubelet;
mod matchbox;
pub mod material;
pub mod monitoring;
pub mod network;
mod nodes;
pub mod offsite;
pub mod operations;
mod overrides;
mod ports;
pub mod restore;
mod sysext;
mod tls;
pub mod values;
pub mod zone;

pub use ports::listen_sockets;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use serde_saphyr::Spanned;

use crate::diag::{Diagnostic, Report, Span};
use crate::ignition::SpecVersion;
use crate::spec::SpecDocument;
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
    /// Scheduled defragmentation under the roll lock (`defrag:`).
    pub defrag: Option<operations::DefragSettings>,
    /// Set by `kindling restore`: every member restores this snapshot before its first start.
    pub restore: Option<restore::RestoreSettings>,
    /// The etcd image of the container profiles (`container:`).
    pub container: Option<container::ContainerSettings>,
    /// The kubelet of the static-pod profile (`kubelet:`).
    pub kubelet: Option<kubelet::KubeletSettings>,
    /// Prometheus's scrape configuration and alerts (`monitoring:`).
    pub monitoring: Option<monitoring::MonitoringSettings>,
    /// Every member's host firewall (`firewall:`).
    pub firewall: Option<firewall::FirewallSettings>,
    /// Members found through DNS, all booting one config (`discovery:`).
    pub discovery: Option<discovery::DiscoverySettings>,
    pub nodes: Vec<Node>,
    /// What resolving found worth a warning: the commands that go on report it.
    pub warnings: Report,
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
    /// Whether this node stands for every member of a discovery cluster (one config, the
    /// name and address decided at boot).
    pub fn is_every_member(&self) -> bool {
        self.ip.is_unspecified()
    }

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
    let ignition = cluster::resolve_ignition_version(&mut r);
    let profile = cluster::resolve_profile(&r);
    let network = network::resolve_settings(&mut r);
    let discovery = discovery::resolve_discovery(&mut r, domain.as_deref());
    let (mut nodes, misaddressed) = match &spec.discovery {
        Some(written) => {
            let span = r.span(written);
            (
                vec![discovery::members_node(span, domain.as_deref())],
                Default::default(),
            )
        }
        None => nodes::resolve_nodes(&mut r, domain.as_deref(), network.subnet),
    };
    let etcd = etcd_settings::resolve_etcd(&mut r);
    ports::check_ports_and_sockets(&mut r, &etcd, &nodes, &misaddressed);
    ports::check_privileged_ports(&mut r, &profile);
    operations::check_joins(&mut r, &nodes, &etcd.state);
    let backup = operations::resolve_backup(&mut r);
    let updates = operations::resolve_updates(&mut r);
    let defrag = operations::resolve_defrag(&mut r, etcd.tuning.quota_backend_bytes);
    let profile_name = match &profile.name_or_dir {
        ProfileRef::Named(name) => Some(name.clone()),
        ProfileRef::Dir(_) => None,
    };
    let container = container::resolve_container(&mut r, &etcd.version, profile_name.as_deref());
    let sysext = sysext::resolve_sysext(&mut r, &etcd, profile_name.as_deref());
    let kubelet = kubelet::resolve_kubelet(&mut r, profile_name.as_deref());
    let tls = tls::resolve_tls(&mut r);
    let monitoring =
        monitoring::resolve_monitoring(&mut r, &etcd, &tls.clients, &spec.cluster.name.value);
    let firewall = firewall::resolve_firewall(&mut r, &etcd);
    if let Some(settings) = &monitoring {
        monitoring::check_certificate_window(&mut r, settings, tls.leaf_days);
    }
    if let (Some(firewall), Some(monitoring)) = (&firewall, &monitoring) {
        firewall::check_scrapes(&mut r, firewall, monitoring, &nodes);
    }
    discovery::check_plan(&mut r, &profile);
    let ssh_authorized_keys = nodes::resolve_ssh_keys(&mut r, &spec.ssh_authorized_keys);
    let matchbox = matchbox::resolve_matchbox(&mut r);
    let defaults = overrides::Defaults {
        etcd: &etcd,
        network: &network,
        matchbox: matchbox.as_ref(),
        ssh_authorized_keys: &ssh_authorized_keys,
    };
    overrides::apply(&mut r, &mut nodes, &defaults);
    let mut monitoring = monitoring;
    if let Some(settings) = &mut monitoring {
        monitoring::count_members(settings, &nodes);
    }
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
        defrag,
        restore: None,
        container,
        kubelet,
        monitoring,
        firewall,
        discovery,
        nodes,
        warnings: Report::default(),
    };
    // A cluster setting every node inherits is checked once per node: say it once.
    let report = r.report.without_repeats();
    if report.has_errors() {
        return Err(report);
    }
    Ok(Cluster {
        warnings: report,
        ..cluster
    })
}
