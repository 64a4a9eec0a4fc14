//! The embedded JSON schemas (schemas/ignition-<version>.json): as static trees (written by
//! build.rs) for the quick walk in `accept`, and parsed and compiled once per process only
//! when that walk cannot vouch for a config.
//!
//! Written by this project from the Ignition spec pages and stricter than upstream's: no
//! unknown keys, absolute paths, modes within 0..=0o7777, hash and compression formats.

use std::sync::OnceLock;

use serde_json::Value;

use jsonschema::error::ValidationErrorKind;

use super::tree::Tree;
use super::{finding, json_path, warning};
use crate::diag::Report;
use crate::ignition::SpecVersion;

const SCHEMAS: [(SpecVersion, &str); 6] = [
    (
        SpecVersion::V3_0,
        include_str!("../../schemas/ignition-3.0.0.json"),
    ),
    (
        SpecVersion::V3_1,
        include_str!("../../schemas/ignition-3.1.0.json"),
    ),
    (
        SpecVersion::V3_2,
        include_str!("../../schemas/ignition-3.2.0.json"),
    ),
    (
        SpecVersion::V3_3,
        include_str!("../../schemas/ignition-3.3.0.json"),
    ),
    (
        SpecVersion::V3_4,
        include_str!("../../schemas/ignition-3.4.0.json"),
    ),
    (
        SpecVersion::V3_5,
        include_str!("../../schemas/ignition-3.5.0.json"),
    ),
];

/// The schema text for a spec version.
pub fn schema_text(version: SpecVersion) -> &'static str {
    SCHEMAS
        .iter()
        .find(|(v, _)| *v == version)
        .map_or("", |(_, text)| text)
}

include!(concat!(env!("OUT_DIR"), "/schema_trees.rs"));

/// The schema of a spec version as a static tree (embedded by build.rs; nothing to parse).
pub fn tree(version: SpecVersion) -> &'static Tree {
    SCHEMA_TREES
        .iter()
        .find(|(text, _)| *text == version.as_str())
        .map_or(&Tree::Bool(false), |(_, tree)| tree)
}

/// The schema of a spec version as JSON, parsed once per process (for the compiled
/// schema, and Butane's walk).
pub fn value(version: SpecVersion) -> &'static Value {
    static VALUES: [OnceLock<Value>; SpecVersion::ALL.len()] =
        [const { OnceLock::new() }; SpecVersion::ALL.len()];
    // The schemas are part of the binary and covered by tests: a failure here is a build
    // defect, not something a user's input can cause.
    VALUES[version.index()].get_or_init(|| {
        serde_json::from_str(schema_text(version)).expect("embedded schema is valid JSON")
    })
}

fn compiled(version: SpecVersion) -> &'static jsonschema::Validator {
    static VALIDATORS: [OnceLock<jsonschema::Validator>; SpecVersion::ALL.len()] =
        [const { OnceLock::new() }; SpecVersion::ALL.len()];
    VALIDATORS[version.index()].get_or_init(|| {
        jsonschema::validator_for(value(version)).expect("embedded schema compiles")
    })
}

/// Schema findings for `config`. A key the spec version does not define is a warning
/// (`ign.unknown-key`, as the reference validator has it); everything else is an error.
pub fn check(config: &Value, version: SpecVersion) -> Report {
    let mut report = Report::default();
    let schema = tree(version);
    if super::accept::accepts(schema, schema, config) {
        return report;
    }
    for error in compiled(version).iter_errors(config) {
        let path = json_path(error.instance_path().as_str());
        if let ValidationErrorKind::AdditionalProperties { unexpected } = error.kind() {
            for key in unexpected {
                let message = format!(
                    "unknown key {key:?}: spec {} does not define it here",
                    version.as_str()
                );
                report.push(warning("ign.unknown-key", format!("{path}.{key}"), message));
            }
            continue;
        }
        report.push(finding("ign.schema", path, error.to_string()));
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(version: SpecVersion) -> Value {
        serde_json::from_str(schema_text(version)).unwrap()
    }

    /// Removes what `newer` added over `older` (the Ignition migration notes) and checks
    /// that nothing else differs.
    fn assert_step(older: SpecVersion, newer: SpecVersion, added: &[&str]) {
        let mut newer_schema = schema(newer);
        let older_schema = schema(older);
        for pointer in added {
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            newer_schema
                .pointer_mut(parent)
                .unwrap()
                .as_object_mut()
                .unwrap()
                .remove(key)
                .unwrap_or_else(|| panic!("{pointer} missing in {}", newer.as_str()));
        }
        for key in ["$id", "title"] {
            newer_schema[key] = older_schema[key].clone();
        }
        *newer_schema
            .pointer_mut("/properties/ignition/properties/version/const")
            .unwrap() = json!(older.as_str());
        assert_eq!(
            older_schema,
            newer_schema,
            "{} → {}",
            older.as_str(),
            newer.as_str()
        );
    }

    #[test]
    fn schemas_differ_only_where_the_spec_did() {
        assert_step(
            SpecVersion::V3_4,
            SpecVersion::V3_5,
            &["/$defs/luks/properties/cex", "/$defs/cex"],
        );
        assert_step(
            SpecVersion::V3_3,
            SpecVersion::V3_4,
            &[
                "/$defs/luks/properties/discard",
                "/$defs/luks/properties/openOptions",
                "/$defs/tang/properties/advertisement",
            ],
        );
        assert_step(
            SpecVersion::V3_2,
            SpecVersion::V3_3,
            &["/properties/kernelArguments"],
        );
        assert_step(
            SpecVersion::V3_1,
            SpecVersion::V3_2,
            &[
                "/$defs/partition/properties/resize",
                "/properties/storage/properties/luks",
                "/$defs/luks",
                "/$defs/clevis",
                "/$defs/clevisCustom",
                "/$defs/tang",
                "/$defs/user/properties/shouldExist",
                "/$defs/group/properties/shouldExist",
            ],
        );
        assert_step(
            SpecVersion::V3_0,
            SpecVersion::V3_1,
            &[
                "/$defs/resource/properties/httpHeaders",
                "/$defs/httpHeaders",
                "/properties/ignition/properties/proxy",
                "/$defs/filesystem/properties/mountOptions",
            ],
        );
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

    /// Every config the tests hold (the reference corpus, the validation corpus, the golden
    /// outputs), against every spec version: whenever the quick walk says yes, the compiled
    /// schema finds nothing. And it does say yes to kindling's own output.
    #[test]
    fn the_quick_walk_never_accepts_what_the_schema_refuses() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in ["tests/ignition-parity/cases", "tests/corpus", "golden"] {
            collect_json(&root.join(dir), &mut files);
        }
        assert!(files.len() > 1900, "only {} configs found", files.len());
        let mut accepted = 0;
        for file in &files {
            let Ok(config) = serde_json::from_slice::<Value>(&std::fs::read(file).unwrap()) else {
                continue;
            };
            for version in SpecVersion::ALL {
                let schema = tree(version);
                if super::super::accept::accepts(schema, schema, &config) {
                    accepted += 1;
                    let errors: Vec<String> = compiled(version)
                        .iter_errors(&config)
                        .map(|e| e.to_string())
                        .collect();
                    assert!(
                        errors.is_empty(),
                        "{} as {}: {errors:?}",
                        file.display(),
                        version.as_str()
                    );
                }
            }
        }
        assert!(accepted > 1000, "the quick walk accepted only {accepted}");
        for golden in files.iter().filter(|f| {
            f.starts_with(root.join("golden")) && f.extension().is_some_and(|e| e == "ign")
        }) {
            let config: Value = serde_json::from_slice(&std::fs::read(golden).unwrap()).unwrap();
            let version = SpecVersion::parse(config["ignition"]["version"].as_str().unwrap());
            let schema = tree(version.unwrap());
            assert!(
                super::super::accept::accepts(schema, schema, &config),
                "{}",
                golden.display()
            );
        }
    }

    fn collect_json(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                collect_json(&path, out);
            } else if path.extension().is_some_and(|e| e == "ign" || e == "json") {
                out.push(path);
            }
        }
    }

    #[test]
    fn unknown_keys_are_warnings_at_the_key() {
        let config = json!({"ignition": {"version": "3.4.0"}, "storage": {"files": [{"path": "/a", "contnets": {}}]}});
        let report = check(&config, SpecVersion::V3_4);
        assert_eq!(report.diagnostics.len(), 1);
        assert_eq!(report.diagnostics[0].code, "ign.unknown-key");
        assert_eq!(
            report.diagnostics[0].severity,
            crate::diag::Severity::Warning
        );
        assert_eq!(report.diagnostics[0].place(), "$.storage.files.0.contnets");
    }

    #[test]
    fn luks_discard_is_3_4_only() {
        let luks = |v: &str| json!({"ignition": {"version": v}, "storage": {"luks": [{"name": "x", "discard": true}]}});
        assert!(codes_at(luks("3.4.0"), SpecVersion::V3_4).is_empty());
        assert_eq!(
            codes_at(luks("3.3.0"), SpecVersion::V3_3),
            vec![(
                "ign.unknown-key".to_string(),
                "$.storage.luks.0.discard".to_string()
            )]
        );
        let headers = json!({"ignition": {"version": "3.0.0"}, "storage": {"files": [{"path": "/a", "contents": {"source": "http://x/a", "httpHeaders": []}}]}});
        assert_eq!(
            codes_at(headers, SpecVersion::V3_0),
            vec![(
                "ign.unknown-key".to_string(),
                "$.storage.files.0.contents.httpHeaders".to_string()
            )]
        );
    }
}
