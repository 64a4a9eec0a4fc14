//! Links: a target (required from spec 3.3.0), no hard link to a directory, and no owner
//! on a hard link (it shares its target's inode, so Ignition ignores it).

use crate::json::Lookup;
use serde_json::Value;

use super::nodes::StorageNode;
use crate::diag::Diagnostic;
use crate::ignition::SpecVersion;
use crate::validate::{finding, warning};

pub(super) fn check_link(
    node: &StorageNode,
    directories: &[&str],
    version: SpecVersion,
    findings: &mut Vec<Diagnostic>,
) {
    let target = node.value.member("target").and_then(Value::as_str);
    let Some(target) = target.filter(|t| !t.is_empty()) else {
        // Ignition requires a target from spec 3.3.0 on; before, it accepts the config.
        if version >= SpecVersion::V3_3 {
            findings.push(finding(
                "ign.link-target",
                format!("{}.target", node.json_path()),
                "link target is required",
            ));
        }
        return;
    };
    let hard = node.value.member("hard").and_then(Value::as_bool) == Some(true);
    if hard {
        check_hard_link_owner(node, findings);
    }
    // Ignition cleans the target and joins a relative one to the link's own path (not its
    // directory) before comparing it with the directories.
    let resolved = resolve_hard_target(node.path().unwrap_or("/"), target);
    if hard && directories.contains(&resolved.as_str()) {
        findings.push(finding(
            "ign.hardlink-dir",
            format!("{}.target", node.json_path()),
            format!("hard link to {target}, a configured directory"),
        ));
    }
}

/// A hard link shares its target's inode, so Ignition ignores an owner given to it: one
/// warning per owner field set, where Ignition puts it.
fn check_hard_link_owner(node: &StorageNode, findings: &mut Vec<Diagnostic>) {
    for owner in ["user", "group"] {
        for field in ["id", "name"] {
            let set = node
                .value
                .member(owner)
                .and_then(|o| o.member(field))
                .is_some_and(|v| !v.is_null());
            if set {
                findings.push(warning(
                    "ign.hardlink-owner",
                    format!("{}.{owner}.{field}", node.json_path()),
                    format!(
                        "a hard link shares its target's owner: this {owner} {field} is ignored"
                    ),
                ));
            }
        }
    }
}

/// A hard link's target as Ignition compares it: `path.Clean`ed, and when relative, joined
/// to the link's own path.
fn resolve_hard_target(link: &str, target: &str) -> String {
    let joined = if target.starts_with('/') {
        target.to_string()
    } else {
        format!("{link}/{target}")
    };
    crate::validate::lint::clean_path(&joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_link_targets_resolve_as_ignition_resolves_them() {
        assert_eq!(resolve_hard_target("/a/l", "/etc/d/"), "/etc/d");
        assert_eq!(resolve_hard_target("/a/l", "/etc/./x/../d"), "/etc/d");
        // Relative to the link's own path, Ignition's quirk: `../d` from /a/l is /a/d.
        assert_eq!(resolve_hard_target("/a/l", "../d"), "/a/d");
        assert_eq!(resolve_hard_target("/a/l", "d"), "/a/l/d");
    }
}
