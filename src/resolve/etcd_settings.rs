//! The `etcd:` section: timing, compaction, metrics listener, and the member settings
//! (tuning and `etcd.env`) a node's overrides may change.

use serde_saphyr::Spanned;

use super::values::{self, Invalid};
use super::{
    EtcdSettings, LOCALHOST, MetricsListen, Resolver, Tuning, config_file, etcd, value_or,
};
use crate::diag::Span;
use crate::spec::EnvMap;

pub(super) fn resolve_etcd(r: &mut Resolver) -> EtcdSettings {
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
    let token = super::cluster::resolve_token(r);
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

/// etcd refuses to start unless heartbeat > 0, election ≥ 5 × heartbeat and ≤ 50000 ms.
pub(super) fn check_timing(r: &mut Resolver, heartbeat_ms: u64, election_timeout_ms: u64) {
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

/// Compaction is on by default (periodic, keeping an hour of history): without it the
/// keyspace history grows until the backend quota raises the NOSPACE alarm. A retention of
/// "0" turns it off (for Kubernetes, whose API server compacts by itself).
pub(super) fn resolve_compaction(r: &mut Resolver) -> (String, String) {
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

pub(super) fn resolve_metrics_listen(r: &mut Resolver) -> MetricsListen {
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
pub(super) const GENERATED_ENV: &[(&str, &str)] = &[
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
pub(super) struct TuningSpec<'a> {
    pub(super) snapshot_count: &'a Option<Spanned<u64>>,
    pub(super) quota_backend_bytes: &'a Option<Spanned<u64>>,
    pub(super) log_level: &'a Option<Spanned<String>>,
    pub(super) gomaxprocs: &'a Option<Spanned<u32>>,
    pub(super) env: &'a EnvMap,
}

/// `base` with what `written` sets: values replace, env settings replace the same name in
/// place or are added after the others.
pub(super) fn resolve_tuning(
    r: &mut Resolver,
    written: &TuningSpec,
    base: &Tuning,
    minor: u32,
) -> Tuning {
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

pub(super) fn resolve_extra_env(
    r: &mut Resolver,
    env: &EnvMap,
    minor: u32,
) -> Vec<(String, String, Span)> {
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
pub(super) fn writes_config_file(r: &Resolver) -> bool {
    r.doc
        .spec
        .etcd
        .config
        .as_ref()
        .is_some_and(|c| c.value == "file")
}

pub(super) fn is_env_name(name: &str) -> bool {
    name.strip_prefix("ETCD_").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    })
}

pub(super) fn unknown_env_help(minor: u32, name: &str) -> String {
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
