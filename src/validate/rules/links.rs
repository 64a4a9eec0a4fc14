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
    for owner in ["user", "group"].into_iter().filter(|o| {
        hard && node
            .value
            .member(o)
            .is_some_and(|v| v.as_object().is_some_and(|m| !m.is_empty()))
    }) {
        findings.push(warning(
            "ign.hardlink-owner",
            format!("{}.{owner}", node.json_path()),
            format!("a hard link shares its target's owner: this {owner} is ignored"),
        ));
    }
    if hard && directories.contains(&target) {
        findings.push(finding(
            "ign.hardlink-dir",
            format!("{}.target", node.json_path()),
            format!("hard link to {target}, a configured directory"),
        ));
    }
}
