//! Every key of the spec checked before it is typed, so a spec with three misspelt keys gets
//! three errors at once, each with its line, column and a "did you mean" (the typed parse
//! stops at the first). Keys that exist but do not belong where they are written (a
//! cluster-wide etcd setting under a node's `overrides`) get a message saying where they go.

use std::sync::Arc;

use super::mask::EntryRange;
use crate::butane::yaml::{Node, Value};
use crate::diag::{Diagnostic, SourceFile, Span};

/// What a value of the spec looks like, as far as its keys are concerned.
#[derive(Clone, Copy)]
enum Shape {
    /// A value without keys of its own (a scalar, or a list of scalars).
    Leaf,
    /// A mapping with a fixed set of keys.
    Map(&'static [Key]),
    /// A mapping whose keys are data (`etcd.env`): not checked.
    Open,
    /// A list whose entries have this shape.
    List(&'static Shape),
}

#[derive(Clone, Copy)]
struct Key {
    name: &'static str,
    shape: Shape,
    /// Why the key may not be written here, when it is one that belongs elsewhere.
    refused: Option<&'static str>,
}

const fn key(name: &'static str, shape: Shape) -> Key {
    Key {
        name,
        shape,
        refused: None,
    }
}

const fn leaf(name: &'static str) -> Key {
    key(name, Shape::Leaf)
}

const fn cluster_wide(name: &'static str) -> Key {
    Key {
        name,
        shape: Shape::Leaf,
        refused: Some(
            "every member must use the same value: set it under the top-level `etcd:` instead",
        ),
    }
}

const SNIPPET: Shape = Shape::Map(&[leaf("path"), leaf("replaces")]);

const ETCD_TUNING_AND_ENV: [Key; 5] = [
    leaf("snapshot_count"),
    leaf("quota_backend_bytes"),
    leaf("log_level"),
    leaf("gomaxprocs"),
    key("env", Shape::Open),
];

const ETCD: Shape = Shape::Map(&[
    leaf("version"),
    key(
        "ports",
        Shape::Map(&[leaf("client"), leaf("peer"), leaf("metrics")]),
    ),
    leaf("metrics_listen"),
    leaf("heartbeat_ms"),
    leaf("election_timeout_ms"),
    leaf("auto_compaction_mode"),
    leaf("auto_compaction_retention"),
    leaf("config"),
    ETCD_TUNING_AND_ENV[0],
    ETCD_TUNING_AND_ENV[1],
    ETCD_TUNING_AND_ENV[2],
    ETCD_TUNING_AND_ENV[3],
    ETCD_TUNING_AND_ENV[4],
]);

const ETCD_OVERRIDES: Shape = Shape::Map(&[
    ETCD_TUNING_AND_ENV[0],
    ETCD_TUNING_AND_ENV[1],
    ETCD_TUNING_AND_ENV[2],
    ETCD_TUNING_AND_ENV[3],
    ETCD_TUNING_AND_ENV[4],
    cluster_wide("version"),
    cluster_wide("ports"),
    cluster_wide("metrics_listen"),
    cluster_wide("heartbeat_ms"),
    cluster_wide("election_timeout_ms"),
    cluster_wide("auto_compaction_mode"),
    cluster_wide("auto_compaction_retention"),
    cluster_wide("config"),
]);

const NETWORK: Shape = Shape::Map(&[
    leaf("subnet"),
    leaf("addressing"),
    leaf("interface"),
    leaf("gateway"),
    leaf("dns"),
    leaf("search_domains"),
    leaf("hosts_file"),
]);

const NETWORK_OVERRIDES: Shape = Shape::Map(&[
    leaf("interface"),
    leaf("gateway"),
    leaf("dns"),
    leaf("search_domains"),
    Key {
        name: "subnet",
        shape: Shape::Leaf,
        refused: Some("the nodes share one subnet: set it under the top-level `network:`"),
    },
    Key {
        name: "addressing",
        shape: Shape::Leaf,
        refused: Some("static or DHCP is chosen for the whole cluster under `network:`"),
    },
    Key {
        name: "hosts_file",
        shape: Shape::Leaf,
        refused: Some("the members' /etc/hosts is the same on every node: set it under `network:`"),
    },
]);

const MATCHBOX_OVERRIDES: Shape = Shape::Map(&[
    leaf("install_disk"),
    leaf("kernel_args"),
    Key {
        name: "url",
        shape: Shape::Leaf,
        refused: Some("one Matchbox serves the cluster: set it under the top-level `matchbox:`"),
    },
    Key {
        name: "channel",
        shape: Shape::Leaf,
        refused: Some("the members run one Flatcar channel: set it under `matchbox:`"),
    },
    Key {
        name: "version",
        shape: Shape::Leaf,
        refused: Some("the members run one Flatcar release: set it under `matchbox:`"),
    },
]);

const NODE: Shape = Shape::Map(&[
    leaf("name"),
    leaf("ip"),
    leaf("mac"),
    leaf("join"),
    key("snippets", Shape::List(&SNIPPET)),
    key(
        "overrides",
        Shape::Map(&[
            key("etcd", ETCD_OVERRIDES),
            key("network", NETWORK_OVERRIDES),
            key("matchbox", MATCHBOX_OVERRIDES),
            leaf("ssh_authorized_keys"),
        ]),
    ),
]);

const SPEC: Shape = Shape::Map(&[
    leaf("version"),
    key(
        "cluster",
        Shape::Map(&[
            leaf("name"),
            leaf("domain"),
            leaf("state"),
            leaf("token"),
            leaf("ignition"),
        ]),
    ),
    leaf("profile"),
    key("etcd", ETCD),
    key(
        "sysext",
        Shape::Map(&[
            leaf("base_url"),
            leaf("arch"),
            leaf("sha256sums"),
            leaf("image"),
            leaf("allow_unverified"),
            key(
                "update",
                Shape::Map(&[
                    leaf("enabled"),
                    leaf("on_change"),
                    leaf("track"),
                    leaf("instances_max"),
                ]),
            ),
        ]),
    ),
    key(
        "tls",
        Shape::Map(&[
            leaf("dir"),
            leaf("key_mode"),
            leaf("key_algorithm"),
            leaf("ca_days"),
            leaf("leaf_days"),
            key(
                "clients",
                Shape::List(&Shape::Map(&[leaf("name"), leaf("organization")])),
            ),
        ]),
    ),
    leaf("ssh_authorized_keys"),
    key("network", NETWORK),
    key(
        "matchbox",
        Shape::Map(&[
            leaf("url"),
            leaf("channel"),
            leaf("version"),
            leaf("install_disk"),
            leaf("kernel_args"),
        ]),
    ),
    key("snippets", Shape::List(&SNIPPET)),
    key(
        "backup",
        Shape::Map(&[
            leaf("dir"),
            leaf("schedule"),
            leaf("keep"),
            leaf("verify"),
            key(
                "s3",
                Shape::Map(&[
                    leaf("endpoint"),
                    leaf("bucket"),
                    leaf("prefix"),
                    leaf("region"),
                    leaf("credentials"),
                    leaf("keep"),
                    leaf("ca_file"),
                ]),
            ),
        ]),
    ),
    key(
        "updates",
        Shape::Map(&[leaf("lock_ttl_seconds"), leaf("os_reboots")]),
    ),
    key(
        "defrag",
        Shape::Map(&[leaf("schedule"), leaf("min_free_bytes")]),
    ),
    key(
        "container",
        Shape::Map(&[leaf("image"), leaf("allow_unpinned")]),
    ),
    key(
        "kubelet",
        Shape::Map(&[
            leaf("version"),
            key(
                "sysext",
                Shape::Map(&[
                    leaf("base_url"),
                    leaf("arch"),
                    leaf("sha256sums"),
                    leaf("image"),
                    leaf("allow_unverified"),
                ]),
            ),
        ]),
    ),
    key(
        "monitoring",
        Shape::Map(&[
            leaf("client"),
            leaf("tls_dir"),
            leaf("scrape_from"),
            leaf("scrape_interval"),
            key(
                "alerts",
                Shape::Map(&[
                    leaf("leader_changes"),
                    leaf("fsync_seconds"),
                    leaf("commit_seconds"),
                    leaf("peer_rtt_seconds"),
                    leaf("grpc_failure_percent"),
                    leaf("db_size_percent"),
                    leaf("certificate_warning_days"),
                    leaf("certificate_critical_days"),
                ]),
            ),
        ]),
    ),
    key(
        "firewall",
        Shape::Map(&[
            leaf("client_cidrs"),
            leaf("metrics_cidrs"),
            leaf("ssh_cidrs"),
            key(
                "allow",
                Shape::List(&Shape::Map(&[
                    leaf("port"),
                    leaf("protocol"),
                    leaf("cidrs"),
                ])),
            ),
        ]),
    ),
    key(
        "discovery",
        Shape::Map(&[
            key(
                "bootstrap",
                Shape::List(&Shape::Map(&[leaf("name"), leaf("ip")])),
            ),
            leaf("address"),
        ]),
    ),
    key("nodes", Shape::List(&NODE)),
]);

/// Every key of the spec that is not one, all at once, each with the entry it heads (to be
/// set aside). YAML that does not parse is left to the typed parse, which reports it with its
/// own message.
pub fn check(source: &Arc<SourceFile>, tree: Option<&Node>) -> Vec<(Diagnostic, EntryRange)> {
    let mut found = Vec::new();
    if let Some(root) = tree {
        walk(source, root, &SPEC, "", &mut found);
    }
    found
}

fn walk(
    source: &Arc<SourceFile>,
    node: &Node,
    shape: &Shape,
    at: &str,
    found: &mut Vec<(Diagnostic, EntryRange)>,
) {
    match (shape, &node.value) {
        (Shape::Map(keys), Value::Mapping(entries)) => {
            for entry in entries.iter().filter(|entry| !entry.merged) {
                let path = if at.is_empty() {
                    entry.key.clone()
                } else {
                    format!("{at}.{}", entry.key)
                };
                let span = Span::new(source, entry.key_line, entry.key_column);
                let range = EntryRange {
                    key: entry.key.clone(),
                    range: entry.key_start..entry.value.end.max(entry.key_start),
                };
                match keys.iter().find(|k| k.name == entry.key) {
                    Some(Key {
                        refused: Some(why), ..
                    }) => found.push((
                        Diagnostic::at(
                            "spec.misplaced-key",
                            format!("`{path}` cannot be set here"),
                            &span,
                        )
                        .with_help(*why),
                        range,
                    )),
                    Some(known) => walk(source, &entry.value, &known.shape, &path, found),
                    None => found.push((unknown(&path, &entry.key, keys, &span), range)),
                }
            }
        }
        (Shape::List(item), Value::Sequence(items)) => {
            for (index, child) in items.iter().enumerate() {
                walk(source, child, item, &format!("{at}[{index}]"), found);
            }
        }
        _ => {}
    }
}

fn unknown(path: &str, name: &str, keys: &[Key], span: &Span) -> Diagnostic {
    let allowed = keys.iter().filter(|k| k.refused.is_none()).map(|k| k.name);
    let help = match crate::diag::closest(name, allowed.clone()) {
        Some(close) => format!("did you mean `{close}`?"),
        None => format!(
            "the keys here are: {}",
            allowed.collect::<Vec<_>>().join(", ")
        ),
    };
    Diagnostic::at("spec.unknown-key", format!("unknown key `{path}`"), span).with_help(help)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes_and_places(text: &str) -> Vec<(&'static str, u64, u64, String)> {
        let source = SourceFile::new("cluster.yaml", text.to_string());
        let tree = crate::butane::yaml::parse(&source).unwrap();
        check(&source, tree.as_ref())
            .into_iter()
            .map(|(d, _)| match d.location {
                crate::diag::Location::Source(span) => {
                    (d.code, span.line, span.column, d.help.unwrap_or_default())
                }
                other => panic!("unlocated: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn every_unknown_key_is_reported_with_a_suggestion() {
        let found = codes_and_places(
            "version: 1\ncluster: { name: c, domian: x, tokn: y }\nnodes:\n  - { name: a, ip: 10.0.0.1, overides: {} }\n",
        );
        let codes: Vec<_> = found.iter().map(|f| (f.0, f.1, f.2)).collect();
        assert_eq!(
            codes,
            vec![
                ("spec.unknown-key", 2, 21),
                ("spec.unknown-key", 2, 32),
                ("spec.unknown-key", 4, 30),
            ]
        );
        assert_eq!(found[0].3, "did you mean `domain`?");
        assert_eq!(found[1].3, "did you mean `token`?");
        assert_eq!(found[2].3, "did you mean `overrides`?");
    }

    #[test]
    fn a_cluster_wide_setting_in_overrides_says_where_it_goes() {
        let found = codes_and_places(
            "nodes:\n  - name: a\n    overrides:\n      etcd: { heartbeat_ms: 50, log_level: debug }\n",
        );
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].0, found[0].1, found[0].2),
            ("spec.misplaced-key", 4, 15)
        );
    }

    #[test]
    fn env_names_and_known_keys_pass() {
        let found = codes_and_places(
            "etcd: { version: v3.5.0, env: { ETCD_ANYTHING: x } }\nsnippets: [a.bu, { path: b.bu, replaces: [/etc/x] }]\n",
        );
        assert!(found.is_empty(), "{found:?}");
    }
}
