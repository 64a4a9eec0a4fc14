//! `monitoring:` of the spec: how Prometheus reaches every member's metrics (the scheme,
//! port and certificate follow from where etcd serves them) and the thresholds of the
//! alerts, each checked against what the metric can show so no alert is written that can
//! never fire.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_saphyr::Spanned;

use super::operations::ClientCert;
use super::values::{self, Invalid};
use super::{EtcdSettings, MetricsListen, Node, Resolver};
use crate::diag::{Diagnostic, Location, Span, closest};
use crate::spec::{AlertsSection, MonitoringSection};

/// `monitoring:` of the spec, with its defaults.
#[derive(Debug)]
pub struct MonitoringSettings {
    /// Prometheus's job name, `etcd-<cluster>`: every alert selects it.
    pub job: String,
    pub scrape: Scrape,
    /// Where Prometheus scrapes from, as the spec wrote it.
    pub scrape_from: Vec<(ipnet::IpNet, Span)>,
    /// A Prometheus duration (`30s`).
    pub scrape_interval: String,
    pub alerts: AlertThresholds,
    /// The spec's member count and the quorum of it: what the members-down and
    /// insufficient-members alerts compare with.
    pub members: usize,
    pub quorum: usize,
    /// One database-size alert per quota the members have (a member may set its own).
    pub quota_limits: Vec<QuotaLimit>,
    pub span: Span,
}

/// A database quota, the size at which its alert fires, and the members that have it.
#[derive(Debug, Clone)]
pub struct QuotaLimit {
    pub quota: u64,
    pub limit: u64,
    pub members: Vec<String>,
}

/// How Prometheus reaches the members' `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scrape {
    /// The client port over TLS with a `tls.clients` certificate, the only way in when the
    /// metrics listener is on localhost (etcd asks every client port caller for a certificate).
    ClientPort { client: String, tls_dir: String },
    /// The plain-HTTP metrics listener, where it listens beyond the node itself.
    MetricsPort,
}

/// The alert thresholds, defaults from etcd's monitoring mixin.
#[derive(Debug, Clone)]
pub struct AlertThresholds {
    /// Leader changes a member sees in 15 minutes.
    pub leader_changes: u32,
    pub fsync_seconds: f64,
    pub commit_seconds: f64,
    pub peer_rtt_seconds: f64,
    /// Failed gRPC requests, percent of all, per method.
    pub grpc_failure_percent: f64,
    /// Database size, percent of the member's quota.
    pub db_size_percent: f64,
    pub certificate_warning_days: u32,
    pub certificate_critical_days: u32,
}

const DEFAULTS: AlertThresholds = AlertThresholds {
    leader_changes: 4,
    fsync_seconds: 0.5,
    commit_seconds: 0.25,
    peer_rtt_seconds: 0.15,
    grpc_failure_percent: 1.0,
    db_size_percent: 80.0,
    certificate_warning_days: 30,
    certificate_critical_days: 7,
};

/// The largest finite bucket of etcd's disk histograms (`ExponentialBuckets(0.001, 2, 14)`):
/// `histogram_quantile` never answers more, so a threshold at or above it never fires.
pub const DISK_HISTOGRAM_TOP_SECONDS: f64 = 8.192;
/// The same for the peer round-trip histogram (`ExponentialBuckets(0.0001, 2, 14)`).
pub const PEER_RTT_HISTOGRAM_TOP_SECONDS: f64 = 0.8192;
/// The rate window of the alerts: it must hold two scrapes for a rate to exist.
pub const RATE_WINDOW_SECONDS: u64 = 300;

pub(super) fn resolve_monitoring(
    r: &mut Resolver,
    etcd: &EtcdSettings,
    clients: &[ClientCert],
    cluster_name: &str,
) -> Option<MonitoringSettings> {
    let written = r.doc.spec.monitoring.as_ref()?;
    let span = r.span(written);
    let section = &written.value;
    let scrape = resolve_scrape(r, section, etcd, clients, cluster_name, &span);
    let scrape_from = section
        .scrape_from
        .iter()
        .filter_map(|cidr| {
            let span = r.span(cidr);
            let parsed = values::cidr(&cidr.value).map(Some);
            r.check("monitoring.cidr", span.clone(), parsed, None)
                .map(|net| (net, span))
        })
        .collect();
    let scrape_interval = resolve_scrape_interval(r, section.scrape_interval.as_ref());
    let alerts = resolve_alerts(r, section.alerts.as_ref());
    Some(MonitoringSettings {
        job: format!("etcd-{cluster_name}"),
        scrape,
        scrape_from,
        scrape_interval,
        alerts,
        members: 0,
        quorum: 0,
        quota_limits: Vec::new(),
        span,
    })
}

/// The numbers the alerts take from the members, once their own settings (`overrides`) are
/// applied: how many, the quorum, and each quota's alert size.
pub(super) fn count_members(settings: &mut MonitoringSettings, nodes: &[Node]) {
    settings.members = nodes.len();
    settings.quorum = nodes.len() / 2 + 1;
    let mut by_quota: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for node in nodes {
        by_quota
            .entry(node.tuning.quota_backend_bytes)
            .or_default()
            .push(node.name.clone());
    }
    let percent = settings.alerts.db_size_percent;
    settings.quota_limits = by_quota
        .into_iter()
        .map(|(quota, members)| QuotaLimit {
            quota,
            limit: (quota as f64 * percent / 100.0).floor() as u64,
            members,
        })
        .collect();
}

fn resolve_scrape(
    r: &mut Resolver,
    section: &MonitoringSection,
    etcd: &EtcdSettings,
    clients: &[ClientCert],
    cluster_name: &str,
    span: &Span,
) -> Scrape {
    let tls_dir = section.tls_dir.as_ref().map_or_else(
        || format!("/etc/prometheus/etcd-{cluster_name}"),
        |dir| r.checked("monitoring.tls-dir", dir, values::node_dir),
    );
    if let Some(client) = &section.client {
        if !clients.iter().any(|c| c.name == client.value) {
            let names: Vec<&str> = clients.iter().map(|c| c.name.as_str()).collect();
            let help = match closest(&client.value, names.iter().copied()) {
                Some(near) => format!("did you mean {near:?}? (a name under tls.clients)"),
                None => "add it under tls.clients (`- { name: prometheus }`), then `kindling pki init` issues its certificate".to_string(),
            };
            let span = r.span(client);
            r.error(
                "monitoring.client",
                &span,
                format!("{:?} is not a client of tls.clients", client.value),
                &help,
            );
        }
        return Scrape::ClientPort {
            client: client.value.clone(),
            tls_dir,
        };
    }
    if metrics_reachable(etcd) {
        return Scrape::MetricsPort;
    }
    r.error(
        "monitoring.client-required",
        span,
        "the metrics listen on localhost only, so Prometheus must scrape the client port, which asks for a client certificate".into(),
        "name a tls.clients certificate as monitoring.client (`client: prometheus`), or set etcd.metrics_listen: node",
    );
    Scrape::MetricsPort
}

/// Whether the plain-HTTP metrics listener can be reached from another machine.
pub fn metrics_reachable(etcd: &EtcdSettings) -> bool {
    match etcd.metrics_listen {
        MetricsListen::Localhost => false,
        MetricsListen::NodeIp => true,
        MetricsListen::Fixed(ip) => !ip.is_loopback(),
    }
}

/// Where Prometheus finds a member's metrics: its address and port.
pub fn target(settings: &MonitoringSettings, etcd: &EtcdSettings, node: &Node) -> (IpAddr, u16) {
    match settings.scrape {
        Scrape::ClientPort { .. } => (node.ip, etcd.client_port),
        Scrape::MetricsPort => match etcd.metrics_listen {
            MetricsListen::Fixed(ip) if !ip.is_unspecified() => (ip, etcd.metrics_port),
            _ => (node.ip, etcd.metrics_port),
        },
    }
}

fn resolve_scrape_interval(r: &mut Resolver, written: Option<&Spanned<String>>) -> String {
    let Some(written) = written else {
        return "30s".to_string();
    };
    let span = r.span(written);
    let checked = prometheus_duration(&written.value).and_then(|millis| {
        if millis == 0 {
            return Err(Invalid {
                message: "a scrape interval of 0 never scrapes".into(),
                help: "write a Prometheus duration such as 30s or 1m".into(),
            });
        }
        if millis > RATE_WINDOW_SECONDS * 1000 / 2 {
            return Err(Invalid {
                message: format!(
                    "a scrape interval of {} leaves fewer than two samples in the alerts' 5-minute rate window, so the rate alerts could never fire",
                    written.value
                ),
                help: "scrape at least every 2m30s (30s is usual)".into(),
            });
        }
        Ok(())
    });
    r.check("monitoring.scrape-interval", span, checked, ());
    written.value.clone()
}

/// Milliseconds of a Prometheus duration, read as Prometheus reads it (`model.ParseDuration`):
/// units y, w, d, h, m, s, ms, each at most once and in that order, or a bare `0`.
pub fn prometheus_duration(text: &str) -> Result<u64, Invalid> {
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 24 * 3_600_000),
        ("w", 7 * 24 * 3_600_000),
        ("d", 24 * 3_600_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let refused = || Invalid {
        message: format!("{text:?} is not a Prometheus duration"),
        help:
            "write a number and a unit, largest unit first: 30s, 1m, 1h30m (units y w d h m s ms)"
                .into(),
    };
    if text == "0" {
        return Ok(0);
    }
    if text.is_empty() {
        return Err(refused());
    }
    let mut rest = text;
    let mut next_unit = 0;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(refused());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| refused())?;
        rest = &rest[digits..];
        let found = UNITS[next_unit..]
            .iter()
            .enumerate()
            // "m" would take the "m" of "ms": the longer unit is tried where both fit.
            .filter(|(_, (unit, _))| rest.starts_with(unit))
            .max_by_key(|(_, (unit, _))| unit.len());
        let Some((offset, (unit, millis))) = found else {
            return Err(refused());
        };
        rest = &rest[unit.len()..];
        next_unit += offset + 1;
        total = number
            .checked_mul(*millis)
            .and_then(|m| total.checked_add(m))
            .ok_or_else(refused)?;
    }
    Ok(total)
}

fn resolve_alerts(r: &mut Resolver, section: Option<&AlertsSection>) -> AlertThresholds {
    let Some(section) = section else {
        return DEFAULTS;
    };
    let leader_changes = r.bounded_u32(
        &section.leader_changes,
        DEFAULTS.leader_changes,
        1,
        "at least one leader change: 0 would fire all the time",
    );
    let fsync_seconds = r.threshold(
        &section.fsync_seconds,
        DEFAULTS.fsync_seconds,
        DISK_HISTOGRAM_TOP_SECONDS,
        "etcd's WAL fsync histogram tops out at 8.192 s: the 99th percentile never reads more",
    );
    let commit_seconds = r.threshold(
        &section.commit_seconds,
        DEFAULTS.commit_seconds,
        DISK_HISTOGRAM_TOP_SECONDS,
        "etcd's backend commit histogram tops out at 8.192 s: the 99th percentile never reads more",
    );
    let peer_rtt_seconds = r.threshold(
        &section.peer_rtt_seconds,
        DEFAULTS.peer_rtt_seconds,
        PEER_RTT_HISTOGRAM_TOP_SECONDS,
        "etcd's peer round-trip histogram tops out at 0.8192 s: the 99th percentile never reads more",
    );
    let grpc_failure_percent = r.threshold(
        &section.grpc_failure_percent,
        DEFAULTS.grpc_failure_percent,
        100.0,
        "a share of failed requests is never above 100 percent",
    );
    let db_size_percent = r.threshold(
        &section.db_size_percent,
        DEFAULTS.db_size_percent,
        100.0,
        "etcd raises its NOSPACE alarm and refuses writes at 100 percent of the quota, so the alert must come before",
    );
    let certificate_warning_days = r.bounded_u32(
        &section.certificate_warning_days,
        DEFAULTS.certificate_warning_days,
        1,
        "at least a day before a certificate expires",
    );
    let certificate_critical_days = r.bounded_u32(
        &section.certificate_critical_days,
        DEFAULTS
            .certificate_critical_days
            .min(certificate_warning_days),
        1,
        "at least a day before a certificate expires",
    );
    if certificate_critical_days > certificate_warning_days
        && let Some(written) = &section.certificate_critical_days
    {
        let span = r.span(written);
        r.error(
            "monitoring.alert-threshold",
            &span,
            format!(
                "the critical alert ({certificate_critical_days} days ahead) would fire before the warning ({certificate_warning_days} days ahead)"
            ),
            "make certificate_critical_days smaller than certificate_warning_days",
        );
    }
    AlertThresholds {
        leader_changes,
        fsync_seconds,
        commit_seconds,
        peer_rtt_seconds,
        grpc_failure_percent,
        db_size_percent,
        certificate_warning_days,
        certificate_critical_days,
    }
}

impl Resolver<'_> {
    /// A threshold above zero and below `never` (where the alert could never fire).
    fn threshold(
        &mut self,
        value: &Option<Spanned<f64>>,
        default: f64,
        never: f64,
        why: &str,
    ) -> f64 {
        let Some(written) = value else {
            return default;
        };
        let span = self.span(written);
        let threshold = written.value;
        if threshold.is_nan() || threshold <= 0.0 {
            self.error(
                "monitoring.alert-threshold",
                &span,
                format!("a threshold of {threshold} fires all the time"),
                "give a value above 0",
            );
            return default;
        }
        if threshold >= never {
            self.error(
                "monitoring.alert-threshold",
                &span,
                format!("a threshold of {threshold} can never fire"),
                &format!("{why}; give a value below {never}"),
            );
            return default;
        }
        threshold
    }

    fn bounded_u32(
        &mut self,
        value: &Option<Spanned<u32>>,
        default: u32,
        least: u32,
        why: &str,
    ) -> u32 {
        let Some(written) = value else {
            return default;
        };
        if written.value < least {
            let span = self.span(written);
            self.error(
                "monitoring.alert-threshold",
                &span,
                format!("a threshold of {} fires all the time", written.value),
                &format!("give {why}"),
            );
            return default;
        }
        written.value
    }
}

/// A certificate warning window as long as the certificates live fires from the day they
/// are issued: said once, where the window is written.
pub(super) fn check_certificate_window(
    r: &mut Resolver,
    settings: &MonitoringSettings,
    leaf_days: u32,
) {
    let Some(written) = r
        .doc
        .spec
        .monitoring
        .as_ref()
        .and_then(|m| m.value.alerts.as_ref())
        .and_then(|a| a.certificate_warning_days.as_ref())
    else {
        return;
    };
    if settings.alerts.certificate_warning_days < leaf_days {
        return;
    }
    let span = r.span(written);
    r.report.push(
        Diagnostic::warning(
            "monitoring.alert-threshold",
            format!(
                "certificates live {leaf_days} days (tls.leaf_days), so a warning {} days ahead fires from the day they are issued",
                settings.alerts.certificate_warning_days
            ),
            Location::Source(span),
        )
        .with_help("give fewer days than tls.leaf_days (30 is usual)"),
    );
}

#[cfg(test)]
mod tests {
    use super::prometheus_duration;

    #[test]
    fn durations_as_prometheus_reads_them() {
        assert_eq!(prometheus_duration("30s").unwrap(), 30_000);
        assert_eq!(prometheus_duration("1m30s").unwrap(), 90_000);
        assert_eq!(prometheus_duration("1h").unwrap(), 3_600_000);
        assert_eq!(prometheus_duration("500ms").unwrap(), 500);
        assert_eq!(prometheus_duration("1m500ms").unwrap(), 60_500);
        assert_eq!(prometheus_duration("0").unwrap(), 0);
        for bad in ["", "30", "s", "1s1m", "1m1m", "1.5s", "-1s", "30 s", "1S"] {
            assert!(
                prometheus_duration(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }
}
