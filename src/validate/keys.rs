//! Keys as Ignition's decoder reads them: Go's `encoding/json` matches an object key to a
//! field without regard to case, so `"Path"` sets `path` (and Ignition warns that the key
//! `Path` is unused). Before anything else is checked, such keys are renamed to the field
//! they set, guided by the strict schema of the config's version, and each rename is
//! reported as a warning at the key as written: what is then validated (and materialized)
//! is what the node applies.

use serde_json::{Map, Value};

use super::tree::Tree;
use super::warning;
use crate::diag::Diagnostic;
use crate::ignition::SpecVersion;

/// Renames every case-variant key of `config` to the property it sets; returns a warning
/// for each.
pub fn fold(config: &mut Value, version: SpecVersion) -> Vec<Diagnostic> {
    let schema = super::schema::tree(version);
    let mut findings = Vec::new();
    walk(
        config,
        schema,
        schema,
        &mut String::from("$"),
        &mut findings,
    );
    findings
}

/// Walks `value` beside its schema `node`; `at` is the path so far, extended in place for
/// each member (and restored), as most walks find nothing to report.
fn walk(
    value: &mut Value,
    node: &Tree,
    root: &Tree,
    at: &mut String,
    findings: &mut Vec<Diagnostic>,
) {
    let node = resolve(node, root);
    let length = at.len();
    match value {
        Value::Object(members) => {
            let Some(properties) = node.get("properties").and_then(Tree::as_object) else {
                return;
            };
            rename_case_variants(members, properties, at, findings);
            for (key, member) in members.iter_mut() {
                if let Some((_, property)) = properties.iter().find(|(name, _)| name == key) {
                    at.push('.');
                    at.push_str(key);
                    walk(member, property, root, at, findings);
                    at.truncate(length);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = node.get("items") {
                for (index, item) in items.iter_mut().enumerate() {
                    at.push('.');
                    at.push_str(&index.to_string());
                    walk(item, item_schema, root, at, findings);
                    at.truncate(length);
                }
            }
        }
        _ => {}
    }
}

/// `{"$ref": "#/$defs/x"}` → the definition; any other node as it is.
fn resolve<'a>(node: &'a Tree, root: &'a Tree) -> &'a Tree {
    let target = node
        .get("$ref")
        .and_then(Tree::as_str)
        .and_then(|reference| reference.strip_prefix('#'))
        .and_then(|pointer| root.pointer(pointer));
    target.unwrap_or(node)
}

fn rename_case_variants(
    members: &mut Map<String, Value>,
    properties: &[(&str, Tree)],
    at: &str,
    findings: &mut Vec<Diagnostic>,
) {
    let is_property = |key: &str| properties.iter().any(|(name, _)| *name == key);
    let renames: Vec<(String, String)> = members
        .keys()
        .filter(|key| !is_property(key))
        .filter_map(|key| {
            let (property, _) = properties
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(key))?;
            (!members.contains_key(*property)).then(|| (key.clone(), property.to_string()))
        })
        .collect();
    for (written, property) in renames {
        if let Some(value) = members.remove(&written) {
            findings.push(warning(
                "ign.unknown-key",
                format!("{at}.{written}"),
                format!("unknown key {written:?}: Ignition reads it as {property:?} (keys match without regard to case); write {property:?}"),
            ));
            members.insert(property, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn case_variants_set_their_field_and_are_reported() {
        let mut config = json!({"ignition": {"version": "3.4.0"}, "Storage": {"files": [{"PATH": "/a", "Mode": 420}]}});
        let findings = fold(&mut config, SpecVersion::V3_4);
        assert_eq!(config["storage"]["files"][0]["path"], "/a");
        assert_eq!(config["storage"]["files"][0]["mode"], 420);
        let paths: Vec<String> = findings.iter().map(Diagnostic::place).collect();
        assert_eq!(
            paths,
            [
                "$.Storage",
                "$.storage.files.0.PATH",
                "$.storage.files.0.Mode"
            ]
        );
    }

    #[test]
    fn an_exact_key_wins_and_unknown_keys_stay() {
        let mut config = json!({"ignition": {"version": "3.4.0"}, "storage": {"files": [{"path": "/a", "Path": "/b", "nonsense": 1}]}});
        assert!(fold(&mut config, SpecVersion::V3_4).is_empty());
        assert_eq!(config["storage"]["files"][0]["path"], "/a");
        assert_eq!(config["storage"]["files"][0]["Path"], "/b");
    }
}
