//! The embedded JSON schemas (schemas/ignition-<version>.json), compiled once per process.
//!
//! Written by this project from the Ignition spec pages and stricter than upstream's: no
//! unknown keys, absolute paths, modes within 0..=0o7777, hash and compression formats.

use std::sync::OnceLock;

use serde_json::Value;

use super::{finding, json_path};
use crate::diag::Report;
use crate::ignition::SpecVersion;

const SCHEMA_3_3: &str = include_str!("../../schemas/ignition-3.3.0.json");
const SCHEMA_3_4: &str = include_str!("../../schemas/ignition-3.4.0.json");

/// The schema text for a version kindling has a schema for.
pub fn schema_text(version: SpecVersion) -> Option<&'static str> {
    match version {
        SpecVersion::V3_3 => Some(SCHEMA_3_3),
        SpecVersion::V3_4 => Some(SCHEMA_3_4),
        _ => None,
    }
}

fn compiled(version: SpecVersion) -> Option<&'static jsonschema::Validator> {
    static V3_3: OnceLock<jsonschema::Validator> = OnceLock::new();
    static V3_4: OnceLock<jsonschema::Validator> = OnceLock::new();
    let cell = match version {
        SpecVersion::V3_3 => &V3_3,
        SpecVersion::V3_4 => &V3_4,
        _ => return None,
    };
    let text = schema_text(version)?;
    Some(cell.get_or_init(|| {
        // The schemas are part of the binary and covered by tests: a failure here is a
        // build defect, not something a user's input can cause.
        let schema: Value = serde_json::from_str(text).expect("embedded schema is valid JSON");
        jsonschema::validator_for(&schema).expect("embedded schema compiles")
    }))
}

/// Schema findings for `config` (empty for versions without an embedded schema).
pub fn check(config: &Value, version: SpecVersion) -> Report {
    let mut report = Report::default();
    let Some(validator) = compiled(version) else {
        return report;
    };
    for error in validator.iter_errors(config) {
        let path = json_path(error.instance_path().as_str());
        report.push(finding("ign.schema", path, error.to_string()));
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schemas_differ_only_where_the_spec_did() {
        let v33: Value = serde_json::from_str(SCHEMA_3_3).unwrap();
        let mut v34: Value = serde_json::from_str(SCHEMA_3_4).unwrap();
        let defs = v34.pointer_mut("/$defs").unwrap();
        defs.pointer_mut("/luks/properties")
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove("discard");
        defs.pointer_mut("/luks/properties")
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove("openOptions");
        defs.pointer_mut("/tang/properties")
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove("advertisement");
        *v34.pointer_mut("/properties/ignition/properties/version/const")
            .unwrap() = json!("3.3.0");
        *v34.pointer_mut("/$id").unwrap() = v33["$id"].clone();
        *v34.pointer_mut("/title").unwrap() = v33["title"].clone();
        assert_eq!(v33, v34);
    }

    fn codes_at(config: Value, version: SpecVersion) -> Vec<(String, String)> {
        check(&config, version)
            .diagnostics
            .into_iter()
            .map(|d| (d.code.to_string(), d.place()))
            .collect()
    }

    #[test]
    fn strict_where_upstream_is_loose() {
        let ok = json!({"ignition": {"version": "3.4.0"}, "storage": {"files": [{"path": "/a", "mode": 420}]}});
        assert!(codes_at(ok, SpecVersion::V3_4).is_empty());
        let cases = [
            (
                json!({"ignition": {"version": "3.4.0"}, "storage": {"files": [{"path": "/a", "contnets": {}}]}}),
                "$.storage.files.0",
            ),
            (
                json!({"ignition": {"version": "3.4.0"}, "storage": {"files": [{"path": "a"}]}}),
                "$.storage.files.0.path",
            ),
            (
                json!({"ignition": {"version": "3.4.0"}, "storage": {"files": [{"path": "/a", "mode": 4096}]}}),
                "$.storage.files.0.mode",
            ),
            (
                json!({"ignition": {"version": "3.4.0"}, "storage": {"files": [{"path": "/a", "contents": {"compression": "xz"}}]}}),
                "$.storage.files.0.contents.compression",
            ),
            (
                json!({"ignition": {"version": "3.4.0"}, "storage": {"files": [{"path": "/a", "contents": {"source": "http://x", "verification": {"hash": "md5-00"}}}]}}),
                "$.storage.files.0.contents.verification.hash",
            ),
            (
                json!({"ignition": {"version": "3.3.0"}}),
                "$.ignition.version",
            ),
        ];
        for (config, path) in cases {
            assert_eq!(
                codes_at(config, SpecVersion::V3_4),
                vec![("ign.schema".to_string(), path.to_string())]
            );
        }
    }

    #[test]
    fn luks_discard_is_3_4_only() {
        let luks = |v: &str| json!({"ignition": {"version": v}, "storage": {"luks": [{"name": "x", "discard": true}]}});
        assert!(codes_at(luks("3.4.0"), SpecVersion::V3_4).is_empty());
        assert_eq!(codes_at(luks("3.3.0"), SpecVersion::V3_3).len(), 1);
    }
}
