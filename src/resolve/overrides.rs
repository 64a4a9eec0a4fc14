//! Per-node settings: each node starts from the cluster's settings and takes what its
//! `overrides:` sets (etcd tuning and env, Matchbox install disk and kernel arguments, SSH
//! keys, network details), plus its own snippets after the cluster's.

use serde_saphyr::Spanned;

use super::network::{self, NetworkSettings};
use super::{EtcdSettings, MatchboxSettings, Node, Replaced, Resolver, SnippetRef, values};
use crate::spec::SnippetEntry;

/// The cluster-wide values a node's overrides start from.
pub(super) struct Defaults<'a> {
    pub etcd: &'a EtcdSettings,
    pub network: &'a NetworkSettings,
    pub matchbox: Option<&'a MatchboxSettings>,
    pub ssh_authorized_keys: &'a [String],
}

/// Fills in every node's own settings.
pub(super) fn apply(r: &mut Resolver, nodes: &mut [Node], defaults: &Defaults) {
    let doc = r.doc;
    let cluster_snippets = snippet_refs(r, &doc.spec.snippets);
    let Some(listed) = &doc.spec.nodes else {
        // The one node of a discovery cluster: the cluster's settings, nothing of its own.
        for node in nodes.iter_mut() {
            node.tuning = defaults.etcd.tuning.clone();
            node.ssh_authorized_keys = defaults.ssh_authorized_keys.to_vec();
            boot(r, node, None, defaults.matchbox);
            node.snippets = cluster_snippets.clone();
        }
        return;
    };
    for (spec, node) in listed.value.iter().zip(nodes.iter_mut()) {
        let own = spec.overrides.as_ref();
        let etcd = own.and_then(|o| o.etcd.as_ref());
        node.tuning = match etcd {
            Some(etcd) => {
                let written = super::etcd_settings::TuningSpec {
                    snapshot_count: &etcd.snapshot_count,
                    quota_backend_bytes: &etcd.quota_backend_bytes,
                    log_level: &etcd.log_level,
                    gomaxprocs: &etcd.gomaxprocs,
                    env: &etcd.env,
                };
                super::etcd_settings::resolve_tuning(
                    r,
                    &written,
                    &defaults.etcd.tuning,
                    defaults.etcd.minor,
                )
            }
            None => defaults.etcd.tuning.clone(),
        };
        node.ssh_authorized_keys = match own.and_then(|o| o.ssh_authorized_keys.as_ref()) {
            Some(keys) => super::nodes::resolve_ssh_keys(r, keys),
            None => defaults.ssh_authorized_keys.to_vec(),
        };
        boot(
            r,
            node,
            own.and_then(|o| o.matchbox.as_ref()),
            defaults.matchbox,
        );
        node.static_network = network::resolve_static(r, defaults.network, spec, node);
        node.snippets = cluster_snippets.clone();
        node.snippets.extend(snippet_refs(r, &spec.snippets));
    }
}

/// The node's install disk and kernel arguments: its own when it sets them.
fn boot(
    r: &mut Resolver,
    node: &mut Node,
    own: Option<&crate::spec::MatchboxOverrides>,
    cluster: Option<&MatchboxSettings>,
) {
    let Some(cluster) = cluster else {
        let written = own.and_then(|o| {
            o.install_disk
                .as_ref()
                .or_else(|| o.kernel_args.as_ref().and_then(|args| args.first()))
        });
        if let Some(first) = written {
            let span = r.span(first);
            r.error(
                "spec.matchbox-override",
                &span,
                format!(
                    "node {} overrides Matchbox settings, but the spec has no `matchbox:`",
                    node.name
                ),
                "add a top-level matchbox: section (its url at least), or drop overrides.matchbox",
            );
        }
        return;
    };
    node.install_disk = match own.and_then(|o| o.install_disk.as_ref()) {
        Some(disk) => Some(r.checked("matchbox.install-disk", disk, values::device_path)),
        None => cluster.install_disk.clone(),
    };
    node.kernel_args = match own.and_then(|o| o.kernel_args.as_ref()) {
        Some(args) => args
            .iter()
            .map(|arg| r.checked("matchbox.kernel-arg", arg, values::kernel_arg))
            .collect(),
        None => cluster.kernel_args.clone(),
    };
}

fn snippet_refs(r: &mut Resolver, entries: &[Spanned<SnippetEntry>]) -> Vec<SnippetRef> {
    entries
        .iter()
        .map(|entry| {
            let span = r.span(entry);
            if entry.value.path.trim().is_empty() {
                r.error(
                    "spec.snippet-path",
                    &span,
                    "a snippet with an empty path".into(),
                    "give the Butane file's path, relative to the spec",
                );
            }
            let replaces = entry
                .value
                .replaces
                .iter()
                .filter_map(|item| {
                    let item_span = r.span(item);
                    let parsed = r.check(
                        "spec.snippet-replaces",
                        item_span.clone(),
                        replaced(&item.value).map(Some),
                        None,
                    );
                    parsed.map(|parsed| (parsed, item_span))
                })
                .collect();
            SnippetRef {
                path: r.doc.dir.join(&entry.value.path),
                shown: entry.value.path.clone(),
                span,
                replaces,
            }
        })
        .collect()
}

const UNIT_SUFFIXES: [&str; 11] = [
    ".service",
    ".socket",
    ".timer",
    ".mount",
    ".automount",
    ".swap",
    ".target",
    ".path",
    ".slice",
    ".scope",
    ".device",
];

/// Reads one `replaces` item: `/a/path`, `name.service`, `name.service.d/x.conf` or
/// `user:name`.
fn replaced(text: &str) -> Result<Replaced, values::Invalid> {
    let is_unit = |name: &str| {
        UNIT_SUFFIXES
            .iter()
            .any(|suffix| name.len() > suffix.len() && name.ends_with(suffix))
            && !name.contains(['/', ' '])
    };
    if text.starts_with('/') && !text.split('/').any(|part| part == "..") {
        return Ok(Replaced::Path(text.to_string()));
    }
    if let Some(user) = text.strip_prefix("user:")
        && !user.is_empty()
        && !user.contains([' ', ':', '/'])
    {
        return Ok(Replaced::User(user.to_string()));
    }
    if let Some((unit, name)) = text.split_once(".d/")
        && is_unit(unit)
        && name.ends_with(".conf")
        && !name.contains('/')
    {
        return Ok(Replaced::Dropin {
            unit: unit.to_string(),
            name: name.to_string(),
        });
    }
    if is_unit(text) {
        return Ok(Replaced::Unit(text.to_string()));
    }
    Err(values::Invalid {
        message: format!("{text:?} names nothing a profile generates"),
        help: "write an absolute path (/etc/hostname), a unit (etcd.service), a drop-in (etcd.service.d/10-x.conf) or a user (user:core)".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_items_are_read_by_their_form() {
        assert_eq!(
            replaced("/etc/hostname").ok(),
            Some(Replaced::Path("/etc/hostname".into()))
        );
        assert_eq!(
            replaced("etcd.service").ok(),
            Some(Replaced::Unit("etcd.service".into()))
        );
        assert_eq!(
            replaced("etcd.service.d/10-x.conf").ok(),
            Some(Replaced::Dropin {
                unit: "etcd.service".into(),
                name: "10-x.conf".into()
            })
        );
        assert_eq!(
            replaced("user:core").ok(),
            Some(Replaced::User("core".into()))
        );
        assert!(replaced("etc/hostname").is_err());
        assert!(replaced("/etc/../x").is_err());
        assert!(replaced("core").is_err());
    }
}
