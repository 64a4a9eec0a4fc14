//! The cluster spec as the user wrote it: typed, spanned, no defaults and no logic.
//!
//! Parsing only turns YAML text into these structs. Unknown keys, duplicate keys and wrong
//! types are errors with file:line:col. Every value that needs checking (IPs, URLs, modes,
//! names) stays a spanned string here so `resolve` can check it and point at the exact line.
//!
//! A mistake in one entry does not hide the others: the entry at fault is blanked out (its
//! characters become spaces, so every other line and column holds) and the spec is parsed
//! again, until it parses or a mistake cannot be set aside (a YAML syntax error, a missing
//! key). The mistakes travel with the document, and `resolve` reports them with its own.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_saphyr::{Location as YamlLocation, Spanned};

use crate::diag::{Diagnostic, Location, Report, SourceFile, Span};

mod keys;
mod mask;

/// A spec file that parsed, with the text it came from (for diagnostics) and its directory
/// (relative paths in the spec are relative to it).
#[derive(Debug)]
pub struct SpecDocument {
    pub source: Arc<SourceFile>,
    pub dir: PathBuf,
    /// The spec without the entries named in `mistakes`.
    pub spec: Spec,
    /// Mistakes found while parsing that left the rest of the spec readable.
    pub mistakes: Report,
}

impl SpecDocument {
    /// The diagnostic span of a parsed value.
    pub fn span<T>(&self, value: &Spanned<T>) -> Span {
        span_of(&self.source, &value.referenced)
    }
}

/// Converts a YAML location into a diagnostic span (the file start when it is unknown).
pub fn span_of(source: &Arc<SourceFile>, location: &YamlLocation) -> Span {
    if location.line() == 0 {
        Span::file_start(source)
    } else {
        Span::new(source, location.line(), location.column())
    }
}

/// Spec format version 1. Keys are documented, with their defaults, in docs/spec.md.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub version: Spanned<u32>,
    pub cluster: ClusterSection,
    pub profile: Option<Spanned<String>>,
    pub etcd: EtcdSection,
    /// The etcd sysext image; required except by the container profiles.
    pub sysext: Option<SysextSection>,
    #[serde(default)]
    pub tls: TlsSection,
    #[serde(default)]
    pub ssh_authorized_keys: Vec<Spanned<String>>,
    pub network: Option<NetworkSection>,
    pub matchbox: Option<Spanned<MatchboxSection>>,
    /// Butane files merged into every node's config, in order.
    #[serde(default)]
    pub snippets: Vec<Spanned<SnippetEntry>>,
    /// Scheduled `etcdctl snapshot save` on every member (opt-in).
    pub backup: Option<Spanned<BackupSection>>,
    /// How members apply updates one at a time.
    pub updates: Option<UpdatesSection>,
    /// Scheduled defragmentation, one member at a time under the roll lock (opt-in).
    pub defrag: Option<Spanned<DefragSection>>,
    /// The etcd container image, for the profiles that run etcd in a container.
    pub container: Option<Spanned<ContainerSection>>,
    /// The kubelet of the static-pod profile, from its own sysext image.
    pub kubelet: Option<Spanned<KubeletSection>>,
    /// Prometheus's scrape configuration and alert rules for the cluster (opt-in).
    pub monitoring: Option<Spanned<MonitoringSection>>,
    /// A host firewall on every member (opt-in).
    pub firewall: Option<Spanned<FirewallSection>>,
    /// Members that are not listed: one config for all, found through DNS (instead of `nodes`).
    pub discovery: Option<Spanned<DiscoverySection>>,
    pub nodes: Option<Spanned<Vec<NodeSpec>>>,
}

/// A cluster whose members are not listed: every member boots the same config, takes its
/// name and address from the machine, and finds the others through DNS SRV records under
/// `cluster.domain`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoverySection {
    /// The members that found the cluster: the SRV records name exactly these.
    pub bootstrap: Spanned<Vec<BootstrapMember>>,
    /// Where a member's name and address come from: `dhcp`, or a platform's metadata.
    pub address: Option<Spanned<String>>,
}

/// A founding member: its hostname, and its address when the zone should carry it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapMember {
    pub name: Spanned<String>,
    pub ip: Option<Spanned<String>>,
}

/// The kubelet that runs etcd as a static pod: its release and the sysext image it comes
/// from (verified like etcd's; the key check refuses `update` here: kindling does not roll
/// the kubelet).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeletSection {
    pub version: Spanned<String>,
    pub sysext: SysextSection,
}

/// The etcd image the container profiles run: pinned by digest, like the sysext by its hash.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerSection {
    pub image: Spanned<String>,
    /// Accept an image reference without `@sha256:` (a tag can be moved to other bytes).
    pub allow_unpinned: Option<Spanned<bool>>,
}

/// Snapshots of each member's data, taken by a timer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSection {
    pub dir: Option<Spanned<String>>,
    pub schedule: Option<Spanned<String>>,
    pub keep: Option<Spanned<u32>>,
    pub verify: Option<Spanned<bool>>,
    /// Where each slot's snapshot goes off the node.
    pub s3: Option<Spanned<S3Section>>,
}

/// An S3-compatible bucket the snapshots are uploaded to, one per schedule slot.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Section {
    pub endpoint: Spanned<String>,
    pub bucket: Spanned<String>,
    pub prefix: Option<Spanned<String>>,
    pub region: Option<Spanned<String>>,
    /// A file on the node holding the access key; the spec never holds it.
    pub credentials: Option<Spanned<String>>,
    pub keep: Option<Spanned<u32>>,
    /// A CA file on the node for an endpoint with a private certificate.
    pub ca_file: Option<Spanned<String>>,
}

/// How Prometheus scrapes the members, and when its alerts fire.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringSection {
    /// A `tls.clients` name: Prometheus scrapes the client port over TLS with it.
    pub client: Option<Spanned<String>>,
    /// Where the CA and the client pair are on the Prometheus host.
    pub tls_dir: Option<Spanned<String>>,
    /// The addresses Prometheus scrapes from (CIDRs).
    #[serde(default)]
    pub scrape_from: Vec<Spanned<String>>,
    pub scrape_interval: Option<Spanned<String>>,
    pub alerts: Option<AlertsSection>,
}

/// The alert thresholds a cluster may tune.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSection {
    pub leader_changes: Option<Spanned<u32>>,
    pub fsync_seconds: Option<Spanned<f64>>,
    pub commit_seconds: Option<Spanned<f64>>,
    pub peer_rtt_seconds: Option<Spanned<f64>>,
    pub grpc_failure_percent: Option<Spanned<f64>>,
    pub db_size_percent: Option<Spanned<f64>>,
    pub certificate_warning_days: Option<Spanned<u32>>,
    pub certificate_critical_days: Option<Spanned<u32>>,
}

/// Who may reach a member: the peer port is the members' alone; these open the rest.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirewallSection {
    #[serde(default)]
    pub client_cidrs: Vec<Spanned<String>>,
    #[serde(default)]
    pub metrics_cidrs: Vec<Spanned<String>>,
    /// None keeps SSH open to everyone; an empty list closes it.
    pub ssh_cidrs: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub allow: Vec<Spanned<FirewallAllow>>,
}

/// One more port the firewall opens (node_exporter, a kubelet).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirewallAllow {
    pub port: Spanned<u16>,
    pub protocol: Option<Spanned<String>>,
    pub cidrs: Vec<Spanned<String>>,
}

/// When a member defragments its database: on a schedule, if enough space is free in it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefragSection {
    pub schedule: Option<Spanned<String>>,
    pub min_free_bytes: Option<Spanned<u64>>,
}

/// The cluster-wide roll lock that lets one member at a time restart or reboot.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdatesSection {
    pub lock_ttl_seconds: Option<Spanned<u32>>,
    pub os_reboots: Option<Spanned<bool>>,
}

/// A Butane snippet: its path (relative to the spec), and what of the profile's output it
/// replaces on purpose. Written as a plain path, or as `{ path: …, replaces: [ … ] }`.
#[derive(Debug)]
pub struct SnippetEntry {
    pub path: String,
    pub replaces: Vec<Spanned<String>>,
}

impl<'de> Deserialize<'de> for SnippetEntry {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SnippetVisitor;
        impl<'de> serde::de::Visitor<'de> for SnippetVisitor {
            type Value = SnippetEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a snippet path, or a mapping with path and replaces")
            }
            fn visit_str<E: serde::de::Error>(self, path: &str) -> Result<SnippetEntry, E> {
                Ok(SnippetEntry {
                    path: path.to_string(),
                    replaces: Vec::new(),
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<SnippetEntry, A::Error> {
                const FIELDS: &[&str] = &["path", "replaces"];
                let mut path = None;
                let mut replaces = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "path" => path = Some(map.next_value::<String>()?),
                        "replaces" => replaces = map.next_value()?,
                        other => return Err(serde::de::Error::unknown_field(other, FIELDS)),
                    }
                }
                let path = path.ok_or_else(|| serde::de::Error::missing_field("path"))?;
                Ok(SnippetEntry { path, replaces })
            }
        }
        deserializer.deserialize_any(SnippetVisitor)
    }
}

/// How `kindling matchbox` boots the nodes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchboxSection {
    pub url: Spanned<String>,
    pub channel: Option<Spanned<String>>,
    pub version: Option<Spanned<String>>,
    pub install_disk: Option<Spanned<String>>,
    #[serde(default)]
    pub kernel_args: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    pub name: Spanned<String>,
    pub domain: Option<Spanned<String>>,
    pub state: Option<Spanned<String>>,
    pub token: Option<Spanned<String>>,
    pub ignition: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdSection {
    pub version: Spanned<String>,
    pub ports: Option<PortsSection>,
    pub metrics_listen: Option<Spanned<String>>,
    pub heartbeat_ms: Option<Spanned<u64>>,
    pub election_timeout_ms: Option<Spanned<u64>>,
    pub snapshot_count: Option<Spanned<u64>>,
    pub quota_backend_bytes: Option<Spanned<u64>>,
    pub auto_compaction_mode: Option<Spanned<String>>,
    pub auto_compaction_retention: Option<Spanned<String>>,
    pub log_level: Option<Spanned<String>>,
    pub gomaxprocs: Option<Spanned<u32>>,
    #[serde(default)]
    pub env: EnvMap,
    /// How etcd gets its settings: `env` (an env file) or `file` (etcd's YAML config file).
    pub config: Option<Spanned<String>>,
}

/// Extra `ETCD_*` settings, in the order written (a YAML mapping of name to value).
#[derive(Debug, Default)]
pub struct EnvMap(pub Vec<(Spanned<String>, Spanned<String>)>);

impl<'de> Deserialize<'de> for EnvMap {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EnvVisitor;
        impl<'de> serde::de::Visitor<'de> for EnvVisitor {
            type Value = EnvMap;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping of ETCD_* names to values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<EnvMap, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(EnvMap(entries))
            }
        }
        deserializer.deserialize_map(EnvVisitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortsSection {
    pub client: Option<Spanned<u16>>,
    pub peer: Option<Spanned<u16>>,
    pub metrics: Option<Spanned<u16>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SysextSection {
    pub base_url: Spanned<String>,
    pub arch: Option<Spanned<String>>,
    pub sha256sums: Option<Spanned<String>>,
    pub image: Option<Spanned<String>>,
    pub allow_unverified: Option<Spanned<bool>>,
    pub update: Option<UpdateSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateSection {
    pub enabled: Option<Spanned<bool>>,
    pub on_change: Option<Spanned<String>>,
    pub track: Option<Spanned<String>>,
    pub instances_max: Option<Spanned<u32>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    pub dir: Option<Spanned<String>>,
    pub key_mode: Option<Spanned<String>>,
    /// The algorithm of the keys `pki init` and `pki renew` generate.
    pub key_algorithm: Option<Spanned<String>>,
    pub ca_days: Option<Spanned<u32>>,
    pub leaf_days: Option<Spanned<u32>>,
    /// Extra client certificates (`kube-apiserver`, a backup job, monitoring).
    #[serde(default)]
    pub clients: Vec<Spanned<ClientSpec>>,
}

/// A client certificate issued by `pki init`: its common name and, optionally, organisation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    pub name: Spanned<String>,
    pub organization: Option<Spanned<String>>,
}

/// The nodes' network: the subnet they share and, with static addressing, how each node's
/// interface is set up.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    pub subnet: Option<Spanned<String>>,
    pub addressing: Option<Spanned<String>>,
    pub interface: Option<Spanned<String>>,
    pub gateway: Option<Spanned<String>>,
    pub dns: Option<Vec<Spanned<String>>>,
    pub search_domains: Option<Vec<Spanned<String>>>,
    pub hosts_file: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    pub name: Spanned<String>,
    pub ip: Spanned<String>,
    pub mac: Option<Spanned<String>>,
    /// This member joins the running cluster (after `etcdctl member add`).
    pub join: Option<Spanned<bool>>,
    /// Butane files merged into this node's config after the cluster's snippets.
    #[serde(default)]
    pub snippets: Vec<Spanned<SnippetEntry>>,
    pub overrides: Option<NodeOverrides>,
}

/// Cluster settings this node sets differently. Each key means what it means at the top
/// level of the spec, for this node only.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeOverrides {
    pub etcd: Option<EtcdOverrides>,
    pub network: Option<NetworkOverrides>,
    pub matchbox: Option<MatchboxOverrides>,
    pub ssh_authorized_keys: Option<Vec<Spanned<String>>>,
}

/// The etcd settings a member may set for itself; the ones that must agree across the
/// cluster (version, ports, timing, compaction) are refused by the key check.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdOverrides {
    pub snapshot_count: Option<Spanned<u64>>,
    pub quota_backend_bytes: Option<Spanned<u64>>,
    pub log_level: Option<Spanned<String>>,
    pub gomaxprocs: Option<Spanned<u32>>,
    #[serde(default)]
    pub env: EnvMap,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkOverrides {
    pub interface: Option<Spanned<String>>,
    pub gateway: Option<Spanned<String>>,
    pub dns: Option<Vec<Spanned<String>>>,
    pub search_domains: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchboxOverrides {
    pub install_disk: Option<Spanned<String>>,
    pub kernel_args: Option<Vec<Spanned<String>>>,
}

/// Reads and parses a spec file.
pub fn load(path: &Path) -> Result<SpecDocument, Report> {
    let text = crate::read::text(path, crate::read::SPEC_LIMIT).map_err(|error| {
        let location = match error {
            crate::read::ReadError::NotUtf8 { line, column } => crate::diag::Location::Source(
                Span::new(&SourceFile::unquoted(path, String::new()), line, column),
            ),
            _ => crate::diag::Location::File(path.to_path_buf()),
        };
        Diagnostic::error(
            "spec.unreadable",
            format!("cannot read the spec: {error}"),
            location,
        )
    })?;
    parse(path, text)
}

/// Parses spec text that claims to come from `path`. `Err` holds every mistake found when
/// none of the spec could be read; otherwise the mistakes travel in the document.
pub fn parse(path: &Path, text: String) -> Result<SpecDocument, Report> {
    let source = SourceFile::new(path, text);
    let tree = crate::butane::yaml::parse(&source).ok().flatten();
    let mut masked = mask::Masked::new(&source.text, tree.as_ref());
    let mut mistakes = Report::default();
    for (diagnostic, entry) in keys::check(&source, tree.as_ref()) {
        masked.blank(entry);
        mistakes.push(diagnostic);
    }
    let spec = loop {
        let text = SourceFile::unquoted(source.path.clone(), masked.text().to_string());
        let parsed = parse_yaml::<Spec>(&text, "spec")
            .and_then(|spec| refuse_quoted_numbers(&text).map(|()| spec));
        match parsed {
            Ok(spec) => break spec,
            Err(report) => {
                let Some(diagnostic) = report.diagnostics.into_iter().next() else {
                    return Err(mistakes);
                };
                let diagnostic = relocated(diagnostic, &source);
                let entry = masked.entry_at(&diagnostic.location);
                if !masked.follows_from_a_blank(&diagnostic) {
                    mistakes.push(diagnostic);
                }
                match entry {
                    Some(entry) => masked.blank(entry),
                    None => return Err(mistakes),
                }
            }
        }
    };
    let mut document = SpecDocument {
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        source,
        spec,
        mistakes,
    };
    let version = check_version(&document);
    document.mistakes.extend(version);
    document
        .mistakes
        .diagnostics
        .sort_by_key(|d| match &d.location {
            Location::Source(span) => (span.line, span.column),
            _ => (0, 0),
        });
    Ok(document)
}

/// A finding about the masked text, pointed at the same place in the text as written.
fn relocated(mut diagnostic: Diagnostic, source: &Arc<SourceFile>) -> Diagnostic {
    if let Location::Source(span) = &diagnostic.location {
        diagnostic.location = Location::Source(Span::new(source, span.line, span.column));
    }
    diagnostic
}

/// A number written as a string (`keep: '7'`) is a string: the YAML library would turn it
/// into the number a key wants without a word, although values of the wrong type are errors.
/// Every quoted scalar that reads as a number is masked (same length, so every location
/// holds) and the spec parsed again: where it then fails to parse, a key wanted a number.
fn refuse_quoted_numbers(source: &Arc<SourceFile>) -> Result<(), Report> {
    let quoted = quoted_numbers(&source.text);
    if quoted.is_empty() {
        return Ok(());
    }
    let mut masked = source.text.clone().into_bytes();
    for range in &quoted {
        masked[range.clone()].fill(b'x');
    }
    let masked = SourceFile::unquoted(
        source.path.clone(),
        String::from_utf8(masked).unwrap_or_default(),
    );
    let Err(report) = parse_yaml::<Spec>(&masked, "spec") else {
        return Ok(());
    };
    let first = report.diagnostics.first().and_then(|d| match &d.location {
        Location::Source(span) => Some(span.clone()),
        _ => None,
    });
    let Some(span) = first.filter(|span| {
        quoted.iter().any(|range| {
            let (line, column) = line_column(&source.text, range.start);
            span.line == line && span.column + 1 >= column && span.column <= column
        })
    }) else {
        return Ok(());
    };
    let shown = Span::new(source, span.line, span.column);
    Err(Diagnostic::at(
        "spec.type",
        "a quoted string where a number is expected",
        &shown,
    )
    .with_help("write the number without quotes: quoted, YAML makes it a string")
    .into())
}

/// The byte ranges of the contents of quoted scalars that read as integers.
fn quoted_numbers(text: &str) -> Vec<std::ops::Range<usize>> {
    use granit_parser::{Event, Parser, ScalarStyle};
    let mut ranges = Vec::new();
    for item in Parser::new_from_str(text) {
        let Ok((Event::Scalar(value, style, ..), span)) = item else {
            continue;
        };
        let quoted = matches!(style, ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted);
        let numeric = value.trim().parse::<i128>().is_ok();
        if let (true, true, Some(start), Some(end)) = (
            quoted,
            numeric,
            span.start.byte_offset(),
            span.end.byte_offset(),
        ) && end >= start + 2
        {
            ranges.push(start + 1..end - 1);
        }
    }
    ranges
}

/// The 1-based line and 1-based column of a byte offset.
fn line_column(text: &str, offset: usize) -> (u64, u64) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() as u64 + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u64 + 1;
    (line, column)
}

fn check_version(document: &SpecDocument) -> Report {
    let version = &document.spec.version;
    if version.value == 1 {
        return Report::default();
    }
    Diagnostic::at(
        "spec.version",
        format!("spec version {} is not supported", version.value),
        &document.span(version),
    )
    .with_help("this kindling reads spec `version: 1`")
    .into()
}

/// Strict YAML options shared by every YAML input kindling reads: duplicate keys are
/// errors (the default) and only `true`/`false` are booleans.
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! { strict_booleans: true }
}

/// Parses YAML into `T`; a parse error becomes one diagnostic with the error's location.
/// `what` names the kind of file in the error code (`spec.syntax`, `profile.syntax`).
pub fn parse_yaml<T: for<'de> Deserialize<'de>>(
    source: &Arc<SourceFile>,
    what: &'static str,
) -> Result<T, Report> {
    serde_saphyr::from_str_with_options::<T>(&source.text, options()).map_err(|error| {
        let raw = strip_location_prefix(&error.without_snippet().to_string());
        let span = match (error.location(), location_in_message(&raw)) {
            (Some(location), _) => span_of(source, &location),
            (None, Some((line, column))) => Span::new(source, line, column),
            (None, None) => span_of(source, &YamlLocation::UNKNOWN),
        };
        let (code, help) = classify_yaml_error(what, &raw);
        let message = plain_yaml_message(&raw);
        let mut diagnostic = Diagnostic::at(code, message, &span);
        if let Some(help) = help {
            diagnostic = diagnostic.with_help(help);
        }
        Report::from(diagnostic)
    })
}

/// The YAML library prefixes messages with "line N column M: "; the span says that already.
fn strip_location_prefix(message: &str) -> String {
    let first_line = message.lines().next().unwrap_or(message);
    match first_line.split_once(": ") {
        Some((prefix, rest)) if prefix.starts_with("line ") && prefix.contains(" column ") => {
            rest.to_string()
        }
        _ => first_line.to_string(),
    }
}

/// Some errors (an alias budget breach) carry their place only in the text: "(used at line
/// N, column M)", else "(defined at …)".
fn location_in_message(raw: &str) -> Option<(u64, u64)> {
    let parse = |marker: &str| {
        let rest = &raw[raw.find(marker)? + marker.len()..];
        let (line, rest) = rest.split_once(", column ")?;
        let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
        Some((line.parse().ok()?, column.parse().ok()?))
    };
    parse("(used at line ").or_else(|| parse("(defined at line "))
}

/// The YAML library's message in the spec's own language: no Rust type names, no advice
/// about the library's options, and no location (the diagnostic carries that).
fn plain_yaml_message(raw: &str) -> String {
    let mut message = raw.to_string();
    for marker in [" (defined at line ", " (used at line ", " at line "] {
        if let Some(at) = message.find(marker) {
            message.truncate(at);
        }
    }
    if let Some(key) = message.strip_prefix("duplicate mapping key: ") {
        let key = key.split(", set ").next().unwrap_or(key);
        return format!("the key `{key}` appears twice in this mapping");
    }
    let phrases: [(&str, &str); 7] = [
        (
            "invalid boolean",
            "expected true or false (YAML 1.1's yes, no, on and off are not booleans here)",
        ),
        (
            "multiple YAML documents",
            "the file holds more than one YAML document (a second `---`); kindling reads exactly one",
        ),
        (
            "cannot deserialize null",
            "a value is required here; null (`~` or nothing) is not allowed",
        ),
        (
            "!!binary",
            "a !!binary value cannot stand where text is expected",
        ),
        (
            "budget breached",
            "the file expands to too much data (YAML aliases repeating a large value); kindling refuses it",
        ),
        (
            "expected string scalar",
            "expected a single value here, not a list or a mapping",
        ),
        (
            "expected scalar",
            "expected a single value here, not a list or a mapping",
        ),
    ];
    if let Some((_, plain)) = phrases.iter().find(|(needle, _)| message.contains(needle)) {
        return (*plain).to_string();
    }
    if let Some(at) = message.find("; use Option<") {
        message.truncate(at);
    }
    name_rust_types(&message)
}

/// `expected u16` → `expected a whole number from 0 to 65535`, and the like.
fn name_rust_types(message: &str) -> String {
    const TYPES: [(&str, &str); 8] = [
        ("u8", "a whole number from 0 to 255"),
        ("u16", "a whole number from 0 to 65535"),
        ("u32", "a whole number from 0 to 4294967295"),
        ("u64", "a whole number from 0 to 18446744073709551615"),
        ("i64", "a whole number"),
        ("usize", "a whole number"),
        ("f64", "a number"),
        ("a boolean", "true or false"),
    ];
    let mut message = message.to_string();
    for (rust, plain) in TYPES {
        if message.trim() == format!("invalid {rust}") {
            // Said of `true`, `1.5` and `70000` alike: name what fits, not a cause.
            return format!("expected {plain}");
        }
        message = message.replace(&format!("expected {rust}"), &format!("expected {plain}"));
    }
    message
}

fn classify_yaml_error(what: &'static str, message: &str) -> (&'static str, Option<String>) {
    let codes: [(&str, &str, &str, &str); 5] = [
        (
            "budget breached",
            "spec.too-large",
            "profile.too-large",
            "write the values out instead of repeating a large one through aliases",
        ),
        (
            "unknown field",
            "spec.unknown-key",
            "profile.unknown-key",
            "check the spelling; docs/spec.md lists every key",
        ),
        (
            "duplicate mapping key",
            "spec.duplicate-key",
            "profile.duplicate-key",
            "each key may appear once in a mapping",
        ),
        (
            "missing field",
            "spec.missing-key",
            "profile.missing-key",
            "add the key; docs/spec.md says what it holds",
        ),
        (
            "invalid",
            "spec.type",
            "profile.type",
            "the value has the wrong type or is out of range; docs/spec.md gives each key's type",
        ),
    ];
    for (needle, spec_code, profile_code, help) in codes {
        if message.contains(needle) {
            let code = if what == "spec" {
                spec_code
            } else {
                profile_code
            };
            return (code, Some(help.to_string()));
        }
    }
    let code = if what == "spec" {
        "spec.syntax"
    } else {
        "profile.syntax"
    };
    (code, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<SpecDocument, Report> {
        parse(Path::new("cluster.yaml"), text.to_string())
    }

    const MINIMAL: &str = "version: 1
cluster: { name: c }
etcd: { version: v3.5.21 }
sysext: { base_url: 'http://x/' }
nodes:
  - { name: a, ip: 10.0.0.1 }
";

    #[test]
    fn minimal_spec_parses_with_spans() {
        let document = parse_text(MINIMAL).expect("minimal spec parses");
        let node = &document.spec.nodes.as_ref().unwrap().value[0];
        assert_eq!(node.ip.value, "10.0.0.1");
        assert_eq!(document.span(&node.ip).line, 6);
    }

    fn mistakes(text: &str) -> Vec<Diagnostic> {
        match parse_text(text) {
            Ok(document) => document.mistakes.diagnostics,
            Err(report) => report.diagnostics,
        }
    }

    fn first_error(text: &str) -> Diagnostic {
        mistakes(text)
            .first()
            .expect("spec must be rejected")
            .clone()
    }

    fn line_col(diagnostic: &Diagnostic) -> (u64, u64) {
        match &diagnostic.location {
            crate::diag::Location::Source(span) => (span.line, span.column),
            other => panic!("expected a source location, got {other:?}"),
        }
    }

    #[test]
    fn unknown_key_is_located() {
        let d =
            first_error(&MINIMAL.replace("cluster: { name: c }", "cluster: { name: c, nmae: d }"));
        assert_eq!(d.code, "spec.unknown-key");
        assert_eq!(line_col(&d), (2, 21));
    }

    #[test]
    fn duplicate_key_is_located() {
        let d = first_error(&format!("{MINIMAL}version: 1\n"));
        assert_eq!(d.code, "spec.duplicate-key");
        assert_eq!(line_col(&d).0, 7);
    }

    #[test]
    fn wrong_type_is_located() {
        let d = first_error(&MINIMAL.replace(
            "etcd: { version: v3.5.21 }",
            "etcd: { version: v3.5.21, heartbeat_ms: fast }",
        ));
        assert_eq!(d.code, "spec.type");
        assert_eq!(line_col(&d).0, 3);
    }

    #[test]
    fn yaml_1_1_booleans_are_not_booleans() {
        let d = first_error(&MINIMAL.replace(
            "sysext: { base_url: 'http://x/' }",
            "sysext: { base_url: 'http://x/', allow_unverified: yes }",
        ));
        assert_eq!(d.code, "spec.type");
    }

    #[test]
    fn unsupported_version_is_located() {
        let d = first_error(&MINIMAL.replace("version: 1", "version: 2"));
        assert_eq!(d.code, "spec.version");
        assert_eq!(line_col(&d), (1, 10));
    }

    #[test]
    fn missing_key_is_reported() {
        let d = first_error(&MINIMAL.replace("etcd: { version: v3.5.21 }\n", ""));
        assert_eq!(d.code, "spec.missing-key");
    }
}
