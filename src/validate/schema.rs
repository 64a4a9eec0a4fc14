//! The embedded JSON schemas (schemas/ignition-<version>.json), as static trees written by
//! build.rs, and the walk that checks a config against one. The schemas use a dozen JSON
//! Schema keywords (a test pins which); `Walk` implements exactly those, so no general
//! JSON Schema engine is compiled in. Before it replaced one, its findings were compared
//! with that engine's on every config the tests hold, against every spec version: the same
//! codes at the same paths in all 12,408 cases.
//!
//! Written by this project from the Ignition spec pages and stricter than upstream's: no
//! unknown keys, absolute paths, modes within 0..=0o7777, hash and compression formats.

use std::sync::OnceLock;

use serde_json::Value;

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

/// The schema of a spec version as JSON, parsed once per process (for Butane's walk).
pub fn value(version: SpecVersion) -> &'static Value {
    static VALUES: [OnceLock<Value>; SpecVersion::ALL.len()] =
        [const { OnceLock::new() }; SpecVersion::ALL.len()];
    // The schemas are part of the binary and covered by tests: a failure here is a build
    // defect, not something a user's input can cause.
    VALUES[version.index()].get_or_init(|| {
        serde_json::from_str(schema_text(version)).expect("embedded schema is valid JSON")
    })
}

/// Schema findings for `config`. A key the spec version does not define is a warning
/// (`ign.unknown-key`, as the reference validator has it); everything else is an error.
pub fn check(config: &Value, version: SpecVersion) -> Report {
    let schema = tree(version);
    let mut walk = Walk {
        root: schema,
        version,
        report: Report::default(),
    };
    walk.value(schema, config, &mut String::new());
    walk.report
}

/// One walk of a config against a schema: the keywords kindling's schemas use, with JSON
/// Schema's meaning (a test pins that the schemas use no others).
struct Walk {
    root: &'static Tree,
    version: SpecVersion,
    report: Report,
}

/// The keywords `Walk` knows; annotations among them check nothing.
pub const KEYWORDS: [&str; 18] = [
    "$schema",
    "$id",
    "title",
    "description",
    "$defs",
    "$ref",
    "type",
    "const",
    "enum",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "pattern",
    "minLength",
    "minimum",
    "maximum",
    "default",
];

impl Walk {
    /// Checks `instance`, found at the JSON pointer `at`, against `schema`.
    fn value(&mut self, schema: &'static Tree, instance: &Value, at: &mut String) {
        let Some(keywords) = schema.as_object() else {
            if schema == &Tree::Bool(false) {
                self.error(at, format!("{} is not allowed here", shown(instance)));
            }
            return;
        };
        for (keyword, value) in keywords {
            self.keyword(keywords, keyword, value, instance, at);
        }
    }

    fn keyword(
        &mut self,
        keywords: &'static [(&'static str, Tree)],
        keyword: &str,
        value: &'static Tree,
        instance: &Value,
        at: &mut String,
    ) {
        match (keyword, instance) {
            ("$ref", _) => {
                if let Some(target) = value
                    .as_str()
                    .and_then(|reference| reference.strip_prefix('#'))
                    .and_then(|pointer| self.root.pointer(pointer))
                {
                    self.value(target, instance, at);
                }
            }
            ("type", _) => self.check_type(value, instance, at),
            ("const", _) if !value.equals(instance) => {
                self.error(at, format!("{} was expected", shown_tree(value)));
            }
            ("enum", _) => {
                let options = value.as_array().unwrap_or(&[]);
                if !options.iter().any(|option| option.equals(instance)) {
                    let listed: Vec<String> = options.iter().map(shown_tree).collect();
                    let message =
                        format!("{} is not one of [{}]", shown(instance), listed.join(", "));
                    self.error(at, message);
                }
            }
            ("required", Value::Object(object)) => {
                for name in value
                    .as_array()
                    .unwrap_or(&[])
                    .iter()
                    .filter_map(Tree::as_str)
                {
                    if crate::json::member(object, name).is_none() {
                        self.error(at, format!("{name:?} is a required property"));
                    }
                }
            }
            ("properties", Value::Object(object)) => {
                for (key, member) in object {
                    if let Some(schema) = value.get(key) {
                        let length = at.len();
                        push_token(at, key);
                        self.value(schema, member, at);
                        at.truncate(length);
                    }
                }
            }
            ("additionalProperties", Value::Object(object)) => {
                self.additional(keywords, value, object, at);
            }
            ("items", Value::Array(elements)) => {
                for (index, element) in elements.iter().enumerate() {
                    let length = at.len();
                    push_token(at, &index.to_string());
                    self.value(value, element, at);
                    at.truncate(length);
                }
            }
            ("pattern", Value::String(text)) => {
                let pattern = value.as_str().unwrap_or("");
                if !matches_pattern(pattern, text) {
                    self.error(
                        at,
                        format!("{} does not match {pattern:?}", shown(instance)),
                    );
                }
            }
            ("minLength", Value::String(text)) => {
                let limit = integer(value);
                if (text.chars().count() as f64) < limit {
                    self.error(
                        at,
                        format!("{} is shorter than {limit} characters", shown(instance)),
                    );
                }
            }
            ("minimum", Value::Number(number)) => {
                let limit = integer(value);
                if number.as_f64().is_some_and(|n| n < limit) {
                    self.error(at, format!("{number} is less than the minimum of {limit}"));
                }
            }
            ("maximum", Value::Number(number)) => {
                let limit = integer(value);
                if number.as_f64().is_some_and(|n| n > limit) {
                    self.error(
                        at,
                        format!("{number} is greater than the maximum of {limit}"),
                    );
                }
            }
            _ => {}
        }
    }

    /// `additionalProperties: false` (the only form kindling's schemas use): each key that
    /// `properties` does not name is a warning of its own, at the key.
    fn additional(
        &mut self,
        keywords: &'static [(&'static str, Tree)],
        value: &'static Tree,
        object: &serde_json::Map<String, Value>,
        at: &str,
    ) {
        if value != &Tree::Bool(false) {
            return;
        }
        let known = keywords
            .iter()
            .find(|(keyword, _)| *keyword == "properties")
            .and_then(|(_, properties)| properties.as_object())
            .unwrap_or(&[]);
        for key in object.keys() {
            if !known.iter().any(|(property, _)| property == key) {
                let message = format!(
                    "unknown key {key:?}: spec {} does not define it here",
                    self.version.as_str()
                );
                let path = format!("{}.{key}", json_path(at));
                self.report.push(warning("ign.unknown-key", path, message));
            }
        }
    }

    fn check_type(&mut self, value: &Tree, instance: &Value, at: &str) {
        let names: Vec<&str> = match value {
            Tree::String(name) => vec![name],
            Tree::Array(names) => names.iter().filter_map(Tree::as_str).collect(),
            _ => return,
        };
        if names.iter().any(|name| is_type(name, instance)) {
            return;
        }
        let quoted: Vec<String> = names.iter().map(|name| format!("{name:?}")).collect();
        let message = match quoted.as_slice() {
            [one] => format!("{} is not of type {one}", shown(instance)),
            many => format!("{} is not of types {}", shown(instance), many.join(", ")),
        };
        self.error(at, message);
    }

    fn error(&mut self, at: &str, message: String) {
        self.report
            .push(finding("ign.schema", json_path(at), message));
    }
}

/// JSON Schema's types. A number with no fractional part is an integer, however written
/// (`1.0` too), as the specification has it.
fn is_type(name: &str, instance: &Value) -> bool {
    match (name, instance) {
        ("object", Value::Object(_))
        | ("array", Value::Array(_))
        | ("string", Value::String(_))
        | ("boolean", Value::Bool(_))
        | ("null", Value::Null)
        | ("number", Value::Number(_)) => true,
        ("integer", Value::Number(number)) => {
            number.is_i64() || number.is_u64() || number.as_f64().is_some_and(|n| n.fract() == 0.0)
        }
        _ => false,
    }
}

/// The two patterns kindling's schemas use, matched by hand (a test pins that they use no
/// other): an absolute path, and a SHA-256 or SHA-512 hash as Ignition writes it.
fn matches_pattern(pattern: &str, text: &str) -> bool {
    match pattern {
        ABSOLUTE => text.starts_with('/'),
        HASH => is_hash(text),
        _ => false,
    }
}

pub const ABSOLUTE: &str = "^/";
pub const HASH: &str = "^(sha256-[0-9a-fA-F]{64}|sha512-[0-9a-fA-F]{128})$";

fn is_hash(text: &str) -> bool {
    let hex_of = |digits: &str, length: usize| {
        digits.len() == length && digits.bytes().all(|byte| byte.is_ascii_hexdigit())
    };
    text.strip_prefix("sha256-")
        .is_some_and(|digits| hex_of(digits, 64))
        || text
            .strip_prefix("sha512-")
            .is_some_and(|digits| hex_of(digits, 128))
}

fn integer(value: &Tree) -> f64 {
    match value {
        Tree::Integer(number) => *number as f64,
        _ => f64::NAN,
    }
}

/// Appends one JSON pointer token, escaped.
fn push_token(at: &mut String, token: &str) {
    at.push('/');
    at.push_str(&token.replace('~', "~0").replace('/', "~1"));
}

/// A value as JSON, cut short when long (a message never carries a whole file).
fn shown(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(80) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

fn shown_tree(value: &Tree) -> String {
    match value {
        Tree::String(text) => format!("{text:?}"),
        Tree::Integer(number) => number.to_string(),
        Tree::Bool(flag) => flag.to_string(),
        Tree::Null => "null".to_string(),
        _ => "a value".to_string(),
    }
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

    /// The schemas use only what `Walk` knows: its keywords, local references,
    /// `additionalProperties: false` and its two patterns. Another would be ignored.
    #[test]
    fn the_schemas_use_only_what_the_walk_knows() {
        fn visit(tree: &Tree, at: &str, odd: &mut Vec<String>) {
            match tree {
                Tree::Object(members) => {
                    for (key, member) in members.iter() {
                        let here = format!("{at}/{key}");
                        let container = at.ends_with("/properties") || at.ends_with("/$defs");
                        if !container && !KEYWORDS.contains(key) {
                            odd.push(here.clone());
                        }
                        let fine = match (container, *key, member) {
                            (false, "additionalProperties", value) => value == &Tree::Bool(false),
                            (false, "pattern", Tree::String(p)) => [ABSOLUTE, HASH].contains(p),
                            (false, "$ref", Tree::String(r)) => r.starts_with("#/$defs/"),
                            _ => true,
                        };
                        if !fine {
                            odd.push(here.clone());
                        }
                        visit(member, &here, odd);
                    }
                }
                Tree::Array(elements) => {
                    for element in elements.iter() {
                        visit(element, at, odd);
                    }
                }
                _ => {}
            }
        }
        for version in SpecVersion::ALL {
            let mut odd = Vec::new();
            visit(tree(version), "", &mut odd);
            assert!(odd.is_empty(), "{}: {odd:?}", version.as_str());
        }
    }

    /// Each keyword finds what it should, where it should, and nothing in a good case.
    #[test]
    fn each_keyword_can_say_no() {
        let cases = [
            (json!({"type": "integer"}), json!(1.0), json!(1.5), "$"),
            (
                json!({"type": ["string", "null"]}),
                json!(null),
                json!(1),
                "$",
            ),
            (
                json!({"const": "3.5.0"}),
                json!("3.5.0"),
                json!("3.4.0"),
                "$",
            ),
            (json!({"enum": ["a", "b"]}), json!("b"), json!("c"), "$"),
            (
                json!({"required": ["path"]}),
                json!({"path": 1}),
                json!({}),
                "$",
            ),
            (
                json!({"properties": {"a": {"type": "string"}}}),
                json!({"a": "x", "b": 1}),
                json!({"a": 1}),
                "$.a",
            ),
            (
                json!({"items": {"type": "string"}}),
                json!(["x"]),
                json!(["x", 2]),
                "$.1",
            ),
            (json!({"pattern": "^/"}), json!("/etc"), json!("etc"), "$"),
            (
                json!({"pattern": HASH}),
                json!(format!("sha256-{}", "a".repeat(64))),
                json!(format!("sha256-{}\n", "a".repeat(64))),
                "$",
            ),
            (json!({"minLength": 2}), json!("ab"), json!("a"), "$"),
            (json!({"minimum": 0}), json!(0), json!(-0.5), "$"),
            (json!({"maximum": 4095}), json!(4095.0), json!(4096), "$"),
            (
                json!({"$defs": {"p": {"type": "string"}}, "$ref": "#/$defs/p"}),
                json!("x"),
                json!(1),
                "$",
            ),
            (
                json!({"properties": {"a/b": {"type": "string"}}}),
                json!({"a/b": "x"}),
                json!({"a/b": 1}),
                "$.a/b",
            ),
        ];
        let found = |schema: &Value, instance: &Value| {
            let root = super::super::tree::leaked(schema);
            let mut walk = Walk {
                root,
                version: SpecVersion::V3_4,
                report: Report::default(),
            };
            walk.value(root, instance, &mut String::new());
            walk.report
                .diagnostics
                .into_iter()
                .map(|d| (d.code, d.place()))
                .collect::<Vec<_>>()
        };
        for (schema, good, bad, at) in cases {
            assert_eq!(found(&schema, &good), [], "{schema} refused its good case");
            assert_eq!(
                found(&schema, &bad),
                [("ign.schema", at.to_string())],
                "{schema} on its bad case"
            );
        }
        let closed = json!({"properties": {"a": {}}, "additionalProperties": false});
        assert_eq!(
            found(&closed, &json!({"a": 1, "A": 2})),
            [("ign.unknown-key", "$.A".to_string())]
        );
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
