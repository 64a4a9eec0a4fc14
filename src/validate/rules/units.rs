//! systemd units and drop-ins: names with a unit type suffix, each unit and drop-in once,
//! contents systemd can parse, an `[Install]` section behind `enabled` (the template's, for
//! an instance), and no file written where a unit or drop-in goes.

use std::collections::{BTreeMap, HashMap};

use crate::json::Lookup;
use serde_json::Value;

use super::nodes::StorageNode;
use crate::diag::Diagnostic;
use crate::validate::{Parsed, array, finding, warning};

const UNIT_SUFFIXES: [&str; 12] = [
    ".service",
    ".socket",
    ".device",
    ".mount",
    ".automount",
    ".swap",
    ".target",
    ".path",
    ".timer",
    ".snapshot",
    ".slice",
    ".scope",
];

/// Units and drop-ins, and the files that would collide with them.
pub(super) fn check(
    config: &Value,
    nodes: &[StorageNode],
    parsed: &Parsed,
    findings: &mut Vec<Diagnostic>,
) {
    check_units(config, parsed, findings);
    check_unit_path_conflicts(config, nodes, findings);
}

fn check_units(config: &Value, parsed: &Parsed, findings: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let units = array(config, "/systemd/units");
    for (index, unit) in units.iter().enumerate() {
        let at = format!("$.systemd.units.{index}");
        let name = unit.member("name").and_then(Value::as_str).unwrap_or("");
        if !UNIT_SUFFIXES
            .iter()
            .any(|suffix| name.len() > suffix.len() && name.ends_with(suffix))
            || name.contains('/')
        {
            findings.push(finding(
                "ign.unit-name",
                format!("{at}.name"),
                format!("{name:?} is not a unit name with a known type suffix"),
            ));
        }
        if let Some(first) = seen.insert(name, index) {
            findings.push(finding(
                "ign.unit-duplicate",
                format!("{at}.name"),
                format!("unit {name} is also configured at $.systemd.units.{first}"),
            ));
        }
        let contents = unit.member("contents").and_then(Value::as_str);
        if let Some(contents) = contents {
            check_unit_text(contents, &format!("{at}.contents"), parsed, findings);
        }
        let enabled = unit.member("enabled").and_then(Value::as_bool) == Some(true);
        // Contents that do not parse are reported as ign.unit-syntax, not as missing [Install];
        // like Ignition, the warning points at the contents that lack it.
        if enabled && contents.is_some_and(|contents| lacks_install(contents, parsed)) {
            findings.push(warning(
                "ign.unit-no-install",
                format!("{at}.contents"),
                format!("{name} is enabled but has no [Install] section, so enabling does nothing"),
            ));
        }
        if enabled && contents.is_none() {
            check_template_install(units, name, parsed, findings);
        }
        check_dropins(unit, &at, parsed, findings);
    }
}

/// Whether unit contents parse and have no `[Install]` section.
fn lacks_install(contents: &str, parsed: &Parsed) -> bool {
    parsed
        .unit_sections(contents)
        .as_ref()
        .as_ref()
        .is_ok_and(|sections| !sections.iter().any(|s| s == "Install"))
}

/// An enabled instance (`a@one.service`) without contents of its own is enabled through its
/// template (`a@.service`), which then needs an `[Install]` section.
fn check_template_install(
    units: &[Value],
    instance: &str,
    parsed: &Parsed,
    findings: &mut Vec<Diagnostic>,
) {
    let Some((prefix, rest)) = instance.split_once('@') else {
        return;
    };
    let Some((_, suffix)) = rest.rsplit_once('.') else {
        return;
    };
    let template = format!("{prefix}@.{suffix}");
    let found = units
        .iter()
        .enumerate()
        .find(|(_, u)| u.member("name").and_then(Value::as_str) == Some(template.as_str()));
    if let Some((index, unit)) = found
        && unit
            .member("contents")
            .and_then(Value::as_str)
            .is_some_and(|contents| lacks_install(contents, parsed))
    {
        findings.push(warning(
            "ign.unit-no-install",
            format!("$.systemd.units.{index}.contents"),
            format!(
                "template unit {template:?} for {instance:?} doesn't have an [Install] section"
            ),
        ));
    }
}

fn check_dropins(unit: &Value, at: &str, parsed: &Parsed, findings: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (index, dropin) in array(unit, "/dropins").iter().enumerate() {
        let at = format!("{at}.dropins.{index}");
        let name = dropin.member("name").and_then(Value::as_str).unwrap_or("");
        if !name.ends_with(".conf") || name.len() <= 5 || name.contains('/') {
            findings.push(finding(
                "ign.dropin-name",
                format!("{at}.name"),
                format!("drop-in name {name:?} must end in .conf"),
            ));
        }
        if let Some(first) = seen.insert(name, index) {
            findings.push(finding(
                "ign.dropin-duplicate",
                format!("{at}.name"),
                format!("drop-in {name} is also configured at index {first}"),
            ));
        }
        if let Some(contents) = dropin.member("contents").and_then(Value::as_str) {
            check_unit_text(contents, &format!("{at}.contents"), parsed, findings);
        }
    }
}

fn check_unit_text(text: &str, at: &str, parsed: &Parsed, findings: &mut Vec<Diagnostic>) {
    if let Err(error) = parsed.unit_sections(text).as_ref() {
        findings.push(finding(
            "ign.unit-syntax",
            at.to_string(),
            format!("line {}: {}", error.line, error.message),
        ));
    }
}

/// A file, directory or link at a unit's own path would fight the unit Ignition writes.
fn check_unit_path_conflicts(
    config: &Value,
    nodes: &[StorageNode],
    findings: &mut Vec<Diagnostic>,
) {
    let mut unit_paths: BTreeMap<String, String> = BTreeMap::new();
    for (index, unit) in array(config, "/systemd/units").iter().enumerate() {
        let name = unit.member("name").and_then(Value::as_str).unwrap_or("");
        if unit.member("contents").is_some_and(|c| !c.is_null()) {
            unit_paths.insert(
                format!("/etc/systemd/system/{name}"),
                format!("$.systemd.units.{index}"),
            );
        }
        for (dropin_index, dropin) in array(unit, "/dropins").iter().enumerate() {
            let dropin_name = dropin.member("name").and_then(Value::as_str).unwrap_or("");
            if dropin.member("contents").is_some_and(|c| !c.is_null()) {
                unit_paths.insert(
                    format!("/etc/systemd/system/{name}.d/{dropin_name}"),
                    format!("$.systemd.units.{index}.dropins.{dropin_index}"),
                );
            }
        }
    }
    for node in nodes {
        if let Some(unit) = node.path().and_then(|p| unit_paths.get(p)) {
            findings.push(finding(
                "ign.unit-path-conflict",
                format!("{}.path", node.json_path()),
                format!(
                    "this {} is at the path of the unit or drop-in at {unit}",
                    node.kind
                ),
            ));
        }
    }
}
