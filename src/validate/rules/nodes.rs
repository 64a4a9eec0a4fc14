//! Files, directories and links share one namespace keyed by path: every path absolute
//! and clean, used once, not below a link the config creates; owners given by id or by
//! name, not both; modes within 0..=0o7777 (special bits warned about: Ignition before
//! spec 3.6.0 ignores them).

use std::collections::HashMap;

use crate::json::Lookup;
use serde_json::Value;

use crate::diag::Diagnostic;
use crate::ignition::SpecVersion;
use crate::validate::{array, finding, warning};

/// A file, directory or link: they share one namespace keyed by path.
pub(super) struct StorageNode<'a> {
    pub(super) kind: &'static str,
    /// Where it stands: `files` and 3 for `$.storage.files.3`.
    list: &'static str,
    index: usize,
    pub(super) value: &'a Value,
}

impl StorageNode<'_> {
    pub(super) fn path(&self) -> Option<&str> {
        self.value.member("path").and_then(Value::as_str)
    }

    /// `$.storage.files.3`, written out only for a finding (a config has hundreds of
    /// nodes, and almost never a finding).
    pub(super) fn json_path(&self) -> String {
        format!("$.storage.{}.{}", self.list, self.index)
    }
}

pub(super) fn storage_nodes(config: &Value) -> Vec<StorageNode<'_>> {
    let mut nodes = Vec::new();
    for (kind, list) in [
        ("file", "files"),
        ("directory", "directories"),
        ("link", "links"),
    ] {
        for (index, value) in array(config, &format!("/storage/{list}"))
            .iter()
            .enumerate()
        {
            nodes.push(StorageNode {
                kind,
                list,
                index,
                value,
            });
        }
    }
    nodes
}

/// A path is usable when it is absolute and cleaning it changes nothing.
pub(super) fn path_problem(path: &str) -> Option<&'static str> {
    if !path.starts_with('/') {
        return Some("path is not absolute");
    }
    let unclean = path.len() > 1 && path.ends_with('/')
        || path.contains("//")
        || path.split('/').any(|part| part == "." || part == "..");
    unclean.then_some("path is not in simplest form (no //, /./, /../ or trailing /)")
}

/// Paths, owners and modes of every file, directory and link.
pub(super) fn check(nodes: &[StorageNode], version: SpecVersion, findings: &mut Vec<Diagnostic>) {
    check_node_paths(nodes, findings);
    check_nodes(nodes, version, findings);
}

fn check_node_paths(nodes: &[StorageNode], findings: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<&str, &StorageNode> = HashMap::new();
    let links: Vec<&str> = nodes
        .iter()
        .filter(|n| n.kind == "link")
        .filter_map(StorageNode::path)
        .collect();
    for node in nodes {
        let Some(path) = node.path() else { continue };
        let at = || format!("{}.path", node.json_path());
        if let Some(problem) = path_problem(path) {
            let code = if path.starts_with('/') {
                "ign.path-unclean"
            } else {
                "ign.path-relative"
            };
            findings.push(finding(code, at(), format!("{problem}: {path:?}")));
        }
        if let Some(first) = seen.insert(path, node) {
            findings.push(finding(
                "ign.path-duplicate",
                at(),
                format!("{path} is also configured at {}", first.json_path()),
            ));
        }
        if let Some(link) = links.iter().find(|link| {
            path.len() > link.len()
                && path.starts_with(*link)
                && path.as_bytes()[link.len()] == b'/'
        }) {
            findings.push(finding(
                "ign.path-under-link",
                at(),
                format!("{path} lies under {link}, which is a link"),
            ));
        }
    }
}

fn check_nodes(nodes: &[StorageNode], version: SpecVersion, findings: &mut Vec<Diagnostic>) {
    let directories: Vec<&str> = nodes
        .iter()
        .filter(|n| n.kind == "directory")
        .filter_map(StorageNode::path)
        .collect();
    for node in nodes {
        for owner in ["user", "group"] {
            let value = &node.value[owner];
            // An empty name is no name to Ignition.
            if value.member("id").is_some_and(|v| !v.is_null())
                && value
                    .member("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| !n.is_empty())
            {
                findings.push(finding(
                    "ign.owner-both",
                    format!("{}.{owner}", node.json_path()),
                    format!("{owner} sets both id and name"),
                ));
            }
        }
        if let Some(mode) = node.value.member("mode").and_then(Value::as_i64) {
            check_mode(mode, node, version, findings);
        }
        match node.kind {
            "file" => super::files::check_file(node, findings),
            "link" => super::links::check_link(node, &directories, version, findings),
            _ => {}
        }
    }
}

fn check_mode(mode: i64, node: &StorageNode, version: SpecVersion, findings: &mut Vec<Diagnostic>) {
    let at = || format!("{}.mode", node.json_path());
    if !(0..=0o7777).contains(&mode) {
        findings.push(finding(
            "ign.mode-range",
            at(),
            format!("mode {mode} is outside 0..=0o7777 (written in decimal)"),
        ));
    } else if mode & 0o7000 != 0 && version <= SpecVersion::V3_5 {
        findings.push(warning("ign.mode-special", at(), format!("mode 0{mode:o} sets setuid/setgid/sticky bits, which Ignition before spec 3.6 ignores")));
    }
}
