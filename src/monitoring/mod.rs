//! Prometheus's view of a cluster, written from what kindling knows: every member's
//! metrics listener with its scheme and certificate, the alerts of etcd's monitoring mixin
//! with thresholds from the spec (member count, quorum, each member's quota), and the
//! certificate expiry alerts nothing else can write, since nothing scrapes a certificate
//! file's `notAfter`.
//!
//! The files hold no secret: the scrape configuration names where the client key is on
//! the Prometheus host, it never carries it, so the files may be published (Matchbox's
//! assets, Terraform outputs).

use std::fmt::Write as _;
use std::path::Path;

use x509_parser::prelude::{FromDer, X509Certificate};

use crate::resolve::material::Material;
use crate::resolve::monitoring::{AlertThresholds, MonitoringSettings, QuotaLimit, Scrape, target};
use crate::resolve::{Cluster, url_host};
use crate::tls::keys::certificate_ders;

/// The scrape configuration's file name; the rules file is `<job>.rules.yml` beside it.
pub const SCRAPE_CONFIG: &str = "prometheus.yml";

/// One file of the monitoring output, named relative to its directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitoringFile {
    pub name: String,
    pub text: String,
}

/// The scrape configuration and the alert rules of `cluster`, or nothing when the spec has
/// no `monitoring:`. `spec_name` is the spec's file name, for the commands the alerts name.
pub fn files(cluster: &Cluster, material: &Material, spec_name: &str) -> Vec<MonitoringFile> {
    let Some(settings) = &cluster.monitoring else {
        return Vec::new();
    };
    let rules_name = format!("{}.rules.yml", settings.job);
    vec![
        MonitoringFile {
            name: SCRAPE_CONFIG.into(),
            text: scrape_config(cluster, settings, material, &rules_name, spec_name),
        },
        MonitoringFile {
            text: rules(cluster, settings, material, spec_name),
            name: rules_name,
        },
    ]
}

/// A YAML double-quoted scalar (JSON's string syntax, which YAML reads the same).
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// A YAML single-quoted scalar, for PromQL, whose own strings are double-quoted.
fn single_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn scrape_config(
    cluster: &Cluster,
    settings: &MonitoringSettings,
    material: &Material,
    rules_name: &str,
    spec_name: &str,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Prometheus scrape configuration of etcd cluster {}, written by kindling from {spec_name}.\n\
         # Every render rewrites it; the alert rules beside it know each certificate's expiry date,\n\
         # so render again after `kindling pki renew`.",
        cluster.name
    );
    let _ = writeln!(
        out,
        "global:\n  scrape_interval: {0}\n  evaluation_interval: {0}\nrule_files:\n  - {1}\nscrape_configs:\n  - job_name: {2}",
        settings.scrape_interval,
        quoted(rules_name),
        quoted(&settings.job)
    );
    if let Scrape::ClientPort { client, tls_dir } = &settings.scrape {
        let anchor = if material.root_cert.is_some() {
            "root.crt"
        } else {
            "ca.crt"
        };
        let _ = writeln!(
            out,
            "    # The client port asks every caller for a certificate: copy the spec's tls.dir files\n    \
             # {anchor}, clients/{client}.crt and clients/{client}.key (0600, readable by Prometheus) here.\n    \
             scheme: https\n    tls_config:\n      ca_file: {}\n      cert_file: {}\n      key_file: {}",
            quoted(&format!("{tls_dir}/{anchor}")),
            quoted(&format!("{tls_dir}/{client}.crt")),
            quoted(&format!("{tls_dir}/{client}.key")),
        );
    } else {
        let _ = writeln!(out, "    scheme: http");
    }
    let _ = writeln!(out, "    static_configs:");
    for node in &cluster.nodes {
        let (ip, port) = target(settings, &cluster.etcd, node);
        let _ = writeln!(
            out,
            "      - targets: [{}]\n        labels: {{ member: {} }}",
            quoted(&format!("{}:{port}", url_host(ip))),
            quoted(&node.name)
        );
    }
    out
}

/// One alerting rule.
struct Alert {
    name: &'static str,
    expr: String,
    for_: &'static str,
    severity: &'static str,
    labels: Vec<(&'static str, String)>,
    summary: String,
    description: String,
}

fn rules(
    cluster: &Cluster,
    settings: &MonitoringSettings,
    material: &Material,
    spec_name: &str,
) -> String {
    let (members, quorum) = (settings.members, settings.quorum);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Alerts of etcd cluster {} ({members} members, quorum {quorum}), written by kindling from\n\
         # {spec_name}: etcd's monitoring mixin with the spec's thresholds, and the expiry of every\n\
         # certificate in its tls.dir. Every render rewrites it.\n\
         groups:\n  - name: {}\n    rules:",
        cluster.name,
        quoted(&settings.job)
    );
    let mut alerts = mixin_alerts(cluster, settings, members, quorum);
    alerts.extend(certificate_alerts(
        cluster,
        &settings.alerts,
        material,
        spec_name,
    ));
    for alert in &alerts {
        write_alert(&mut out, cluster, alert);
    }
    out
}

fn write_alert(out: &mut String, cluster: &Cluster, alert: &Alert) {
    let _ = writeln!(
        out,
        "      - alert: {}\n        expr: {}",
        alert.name,
        single_quoted(&alert.expr)
    );
    if alert.for_ != "0s" {
        let _ = writeln!(out, "        for: {}", alert.for_);
    }
    let _ = writeln!(
        out,
        "        labels:\n          severity: {}\n          cluster: {}",
        alert.severity,
        quoted(&cluster.name)
    );
    for (name, value) in &alert.labels {
        let _ = writeln!(out, "          {name}: {}", quoted(value));
    }
    let _ = writeln!(
        out,
        "        annotations:\n          summary: {}\n          description: {}",
        quoted(&alert.summary),
        quoted(&alert.description)
    );
}

fn mixin_alerts(
    cluster: &Cluster,
    settings: &MonitoringSettings,
    members: usize,
    quorum: usize,
) -> Vec<Alert> {
    let job = format!("job={}", quoted(&settings.job));
    let t = &settings.alerts;
    let up = format!("(count(up{{{job}}} == 1) or vector(0))");
    let quantile = |metric: &str, by: &str| {
        format!("histogram_quantile(0.99, sum by ({by}le) (rate({metric}_bucket{{{job}}}[5m])))")
    };
    let failed_codes = "Unknown|FailedPrecondition|ResourceExhausted|Internal|Unavailable|DataLoss|DeadlineExceeded";
    let per_method = "instance, member, grpc_service, grpc_method";
    let mut alerts = vec![
        Alert {
            name: "EtcdMembersDown",
            expr: format!("{members} - {up} > 0"),
            for_: "10m",
            severity: "critical",
            labels: Vec::new(),
            summary: format!("Members of etcd cluster {} are down.", cluster.name),
            description: format!(
                "{{{{ $value }}}} of the {members} members of etcd cluster {} do not answer Prometheus.",
                cluster.name
            ),
        },
        Alert {
            name: "EtcdInsufficientMembers",
            expr: format!("{up} < {quorum}"),
            for_: "3m",
            severity: "critical",
            labels: Vec::new(),
            summary: format!("etcd cluster {} has lost its quorum.", cluster.name),
            description: format!(
                "Only {{{{ $value }}}} of {members} members answer; etcd needs {quorum} to accept writes."
            ),
        },
        Alert {
            name: "EtcdNoLeader",
            expr: format!("etcd_server_has_leader{{{job}}} == 0"),
            for_: "1m",
            severity: "critical",
            labels: Vec::new(),
            summary: "An etcd member has no leader.".into(),
            description: "Member {{ $labels.member }} has no leader: it serves no request that needs consensus.".into(),
        },
        Alert {
            name: "EtcdHighNumberOfLeaderChanges",
            expr: format!(
                "increase(etcd_server_leader_changes_seen_total{{{job}}}[15m]) >= {}",
                t.leader_changes
            ),
            for_: "5m",
            severity: "warning",
            labels: Vec::new(),
            summary: "etcd leaders change often.".into(),
            description: "Member {{ $labels.member }} saw {{ $value }} leader changes in 15 minutes: slow disks, an overloaded network or members restarting.".into(),
        },
        Alert {
            name: "EtcdHighNumberOfFailedGRPCRequests",
            expr: format!(
                "100 * sum by ({per_method}) (rate(grpc_server_handled_total{{{job}, grpc_code=~\"{failed_codes}\"}}[5m])) / sum by ({per_method}) (rate(grpc_server_handled_total{{{job}}}[5m])) > {}",
                t.grpc_failure_percent
            ),
            for_: "10m",
            severity: "warning",
            labels: Vec::new(),
            summary: "etcd requests fail.".into(),
            description: "{{ $value | humanize }}% of {{ $labels.grpc_method }} requests to member {{ $labels.member }} fail.".into(),
        },
        Alert {
            name: "EtcdHighFsyncDurations",
            expr: format!(
                "{} > {}",
                quantile("etcd_disk_wal_fsync_duration_seconds", "instance, member, "),
                t.fsync_seconds
            ),
            for_: "10m",
            severity: "warning",
            labels: Vec::new(),
            summary: "etcd's WAL fsync is slow.".into(),
            description: "The 99th percentile of member {{ $labels.member }}'s WAL fsync is {{ $value | humanizeDuration }}: its disk is too slow for etcd.".into(),
        },
        Alert {
            name: "EtcdHighCommitDurations",
            expr: format!(
                "{} > {}",
                quantile("etcd_disk_backend_commit_duration_seconds", "instance, member, "),
                t.commit_seconds
            ),
            for_: "10m",
            severity: "warning",
            labels: Vec::new(),
            summary: "etcd's backend commits are slow.".into(),
            description: "The 99th percentile of member {{ $labels.member }}'s backend commit is {{ $value | humanizeDuration }}.".into(),
        },
        Alert {
            name: "EtcdMemberCommunicationSlow",
            expr: format!(
                "{} > {}",
                quantile("etcd_network_peer_round_trip_time_seconds", "instance, member, To, "),
                t.peer_rtt_seconds
            ),
            for_: "10m",
            severity: "warning",
            labels: Vec::new(),
            summary: "etcd members reach each other slowly.".into(),
            description: "The 99th percentile round trip from member {{ $labels.member }} to {{ $labels.To }} is {{ $value | humanizeDuration }}.".into(),
        },
    ];
    alerts.extend(quota_alerts(settings, &job));
    alerts
}

/// Database size near the quota: one rule per quota the members have (a member may set its
/// own), so each compares against its own.
fn quota_alerts(settings: &MonitoringSettings, job: &str) -> Vec<Alert> {
    let every_member = settings.quota_limits.len() == 1;
    settings
        .quota_limits
        .iter()
        .map(|QuotaLimit { quota, limit, members }| {
            let selector = if every_member {
                job.to_string()
            } else {
                format!("{job}, member=~{}", quoted(&members.join("|")))
            };
            Alert {
                name: "EtcdDatabaseNearQuota",
                expr: format!("etcd_mvcc_db_total_size_in_bytes{{{selector}}} > {limit}"),
                for_: "10m",
                severity: "warning",
                labels: Vec::new(),
                summary: "An etcd database nears its quota.".into(),
                description: format!(
                    "Member {{{{ $labels.member }}}}'s database is {{{{ $value | humanize1024 }}}}B, over {}% of its quota of {quota} bytes; at the quota etcd refuses every write (NOSPACE). Compact and defragment, or raise quota_backend_bytes.",
                    settings.alerts.db_size_percent
                ),
            }
        })
        .collect()
}

/// One certificate kindling knows: what it is, its file under tls.dir, and how it is renewed.
struct KnownCertificate {
    what: String,
    file: String,
    pem: String,
    renew: String,
}

fn known_certificates(
    cluster: &Cluster,
    material: &Material,
    spec_name: &str,
) -> Vec<KnownCertificate> {
    let renew = |selector: String| {
        format!(
            "run `kindling pki renew {spec_name} {selector}`, render, and deliver the new config (docs/operations.md#certificates-over-time)"
        )
    };
    let ca_renewal = "a CA is not renewed by `kindling pki renew`: follow docs/operations.md#certificates-over-time".to_string();
    let mut known = vec![KnownCertificate {
        what: "the cluster CA".into(),
        file: "ca.crt".into(),
        pem: material.ca_cert.clone(),
        renew: ca_renewal.clone(),
    }];
    if let Some(root) = &material.root_cert {
        known.push(KnownCertificate {
            what: "the root CA".into(),
            file: "root.crt".into(),
            pem: root.clone(),
            renew: ca_renewal,
        });
    }
    for (node, tls) in cluster.nodes.iter().zip(&material.nodes) {
        for (kind, pair) in [("server", &tls.server), ("peer", &tls.peer)] {
            known.push(KnownCertificate {
                what: format!("{}'s {kind} certificate", node.name),
                file: format!("nodes/{}/{kind}.crt", node.name),
                pem: pair.cert.clone(),
                renew: renew(format!("--node {}", node.name)),
            });
        }
    }
    known.push(KnownCertificate {
        what: "the etcdctl client certificate".into(),
        file: "etcdctl.crt".into(),
        pem: material.client.cert.clone(),
        renew: renew("--client etcdctl".into()),
    });
    for (client, pair) in cluster.tls.clients.iter().zip(&material.clients) {
        known.push(KnownCertificate {
            what: format!("the {} client certificate", client.name),
            file: format!("clients/{}.crt", client.name),
            pem: pair.cert.clone(),
            renew: format!(
                "run `kindling pki renew {spec_name} --client {}` and give the new pair to the program that uses it",
                client.name
            ),
        });
    }
    known
}

/// Two rules per certificate (warning, then critical), firing ahead of its `notAfter`.
fn certificate_alerts(
    cluster: &Cluster,
    t: &AlertThresholds,
    material: &Material,
    spec_name: &str,
) -> Vec<Alert> {
    let mut alerts = Vec::new();
    for known in known_certificates(cluster, material, spec_name) {
        let Some(not_after) = not_after(&known.pem) else {
            continue; // `check` refused it already
        };
        let expires = time::OffsetDateTime::from_unix_timestamp(not_after)
            .map(|t| t.date().to_string())
            .unwrap_or_default();
        for (severity, days) in [
            ("warning", t.certificate_warning_days),
            ("critical", t.certificate_critical_days),
        ] {
            alerts.push(Alert {
                name: "EtcdCertificateExpiry",
                expr: format!("vector({not_after} - time()) < {}", u64::from(days) * 86_400),
                for_: "0s",
                severity,
                labels: vec![("certificate", known.file.clone())],
                summary: format!("{} expires within {days} days.", capitalized(&known.what)),
                description: format!(
                    "{} ({} in the spec's tls.dir) expires on {expires}, in {{{{ $value | humanizeDuration }}}}: {}.",
                    capitalized(&known.what),
                    known.file,
                    known.renew
                ),
            });
        }
    }
    alerts
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// The `notAfter` of the first certificate of a PEM text, as Unix seconds.
fn not_after(pem: &str) -> Option<i64> {
    let der = certificate_ders(pem).into_iter().next()?;
    let (_, cert) = X509Certificate::from_der(&der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// The spec's file name, as the alerts' commands name it.
pub fn spec_name(spec_path: &Path) -> String {
    spec_path
        .file_name()
        .map_or_else(|| "SPEC".into(), |n| n.to_string_lossy().into_owned())
}
