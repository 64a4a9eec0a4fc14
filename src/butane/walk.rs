//! The schema-driven walk from a Butane tree to an Ignition value.
//!
//! Each Butane mapping is matched against the Ignition schema of the target version: a key
//! whose camelCase form is a property there is translated, typed the way go-yaml types a
//! value for that field; Butane's own keys are handed to their translators; anything else
//! is an "unused key" warning and left out, as Butane does.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::yaml::{self, Node};
use super::{Places, Target, Variant, advice, contents, fcos, mounts, trees};
use crate::diag::{Diagnostic, Location, Report, SourceFile, Span};

/// Where the walk is: the output's JSON path and the Butane path.
#[derive(Clone, Debug)]
pub(super) struct Place {
    pub json: String,
    pub yaml: String,
}

impl Place {
    fn root() -> Self {
        Place {
            json: "$".into(),
            yaml: "$".into(),
        }
    }

    pub fn child(&self, json: &str, yaml: &str) -> Place {
        Place {
            json: format!("{}.{json}", self.json),
            yaml: format!("{}.{yaml}", self.yaml),
        }
    }

    pub fn index(&self, index: usize) -> Place {
        self.child(&index.to_string(), &index.to_string())
    }

    /// The path with indices dropped (`storage.files.contents`), naming the kind of place.
    pub fn shape(&self) -> String {
        self.json
            .split('.')
            .skip(1)
            .filter(|part| !part.chars().all(|c| c.is_ascii_digit()))
            .collect::<Vec<_>>()
            .join(".")
    }
}

pub(super) struct Walker<'a> {
    pub source: &'a Arc<SourceFile>,
    pub target: Target,
    pub files_dir: Option<&'a Path>,
    pub report: Report,
    pub places: Places,
    defs: &'static Map<String, Value>,
    schema: &'static Value,
    /// How deep the walk is inside mappings written as aliases, where unused keys are not
    /// reported again (they were, where the anchor is).
    inside_alias: usize,
}

/// The Butane key of an Ignition property: snake_case, with `MiB` as one word.
pub(crate) fn butane_key(ignition: &str) -> String {
    let mut out = String::with_capacity(ignition.len() + 4);
    let spaced = ignition.replace("MiB", "Mib");
    for c in spaced.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

impl<'a> Walker<'a> {
    pub fn new(source: &'a Arc<SourceFile>, target: Target, files_dir: Option<&'a Path>) -> Self {
        let schema = crate::validate::schema::value(target.ignition);
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        let defs = schema
            .get("$defs")
            .and_then(Value::as_object)
            .unwrap_or_else(|| EMPTY.get_or_init(Map::new));
        Walker {
            source,
            target,
            files_dir,
            report: Report::default(),
            places: Places {
                entries: Vec::new(),
                source: Some(Arc::clone(source)),
            },
            defs,
            schema,
            inside_alias: 0,
        }
    }

    pub fn finish(self) -> (Places, Report) {
        (self.places, self.report)
    }

    pub fn span(&self, line: u64, column: u64) -> Span {
        Span::new(self.source, line, column)
    }

    fn location(&self, place: &Place, line: u64, column: u64) -> Location {
        Location::Json {
            path: place.yaml.clone(),
            origin: None,
            span: Some(self.span(line, column)),
        }
    }

    pub fn error_at(
        &mut self,
        code: &'static str,
        place: &Place,
        node: &Node,
        message: impl Into<String>,
    ) {
        let location = self.location(place, node.line, node.column);
        self.report.push(Diagnostic::error(code, message, location));
    }

    pub fn warn_at(
        &mut self,
        code: &'static str,
        place: &Place,
        line: u64,
        column: u64,
        message: impl Into<String>,
    ) {
        let location = self.location(place, line, column);
        self.report
            .push(Diagnostic::warning(code, message, location));
    }

    pub fn record(&mut self, place: &Place, node: &Node) {
        self.places
            .add(&place.json, &place.yaml, node.line, node.column);
    }

    /// Translates the whole document.
    pub fn translate(&mut self, root: &Node) -> Option<Value> {
        let place = Place::root();
        self.record(&place, root);
        self.check_filters(root);
        let mut config = self.object(root, self.schema, &place, "config")?;
        let ignition = config
            .entry("ignition")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(section) = ignition {
            section.insert(
                "version".into(),
                Value::String(self.target.ignition.as_str().into()),
            );
        }
        let mut config = Value::Object(config);
        trees::apply(self, root, &mut config);
        mounts::apply(self, root, &mut config);
        fcos::apply(self, root, &mut config);
        advice::apply(self, &config);
        Some(config)
    }

    /// Follows `$ref`s to the schema that describes a value, with the definition's name.
    fn resolve(&self, schema: &'static Value) -> (&'static Value, Option<&'static str>) {
        let mut current = schema;
        let mut name = None;
        while let Some(reference) = current.get("$ref").and_then(Value::as_str) {
            let def = reference.trim_start_matches("#/$defs/");
            match self.defs.get_key_value(def) {
                Some((key, target)) => {
                    current = target;
                    name = Some(key.as_str());
                }
                None => break,
            }
        }
        (current, name)
    }

    /// Translates `node` as a value of `schema`; `None` leaves the key out.
    pub fn value(
        &mut self,
        node: &Node,
        schema: &'static Value,
        place: &Place,
        name: &str,
    ) -> Option<Value> {
        let (schema, def) = self.resolve(schema);
        let name = def.unwrap_or(name);
        self.record(place, node);
        let types = schema_types(schema);
        if node.is_null() {
            if types.contains(&"object") {
                self.warn_at(
                    "butane.null",
                    place,
                    node.line,
                    node.column,
                    format!(
                        "context tree does not match content tree at {}; the null value is left out",
                        place.yaml
                    ),
                );
            }
            return None;
        }
        if types.contains(&"object") {
            return self.aliased_or_plain_object(node, schema, place, name);
        }
        if types.contains(&"array") {
            return self.array(node, schema, place, name);
        }
        self.scalar(node, &types, place)
    }

    /// A mapping, with the warning the reference Butane gives where it is an alias: its
    /// position tracking stops there (and `--strict` fails), so say so the same way.
    fn aliased_or_plain_object(
        &mut self,
        node: &Node,
        schema: &'static Value,
        place: &Place,
        name: &str,
    ) -> Option<Value> {
        let aliased_mapping = node.alias && matches!(node.value, yaml::Value::Mapping(_));
        if aliased_mapping {
            self.warn_at(
                "butane.alias-mapping",
                place,
                node.line,
                node.column,
                "a mapping written as an alias: Butane cannot place findings inside it, and \
                 checks its keys only where the anchor is; write the mapping out",
            );
            self.inside_alias += 1;
        }
        let object = self.object(node, schema, place, name).map(Value::Object);
        if aliased_mapping {
            self.inside_alias -= 1;
        }
        object
    }

    fn type_error(&mut self, node: &Node, place: &Place, into: &str) {
        let shown = match node.scalar() {
            Some(text) if text.chars().count() > 10 => {
                format!(" `{}...`", text.chars().take(7).collect::<String>())
            }
            Some(text) => format!(" `{text}`"),
            None => String::new(),
        };
        self.error_at(
            "butane.type",
            place,
            node,
            format!("cannot unmarshal {}{shown} into {into}", node.yaml_tag()),
        );
    }

    fn scalar(&mut self, node: &Node, types: &[&str], place: &Place) -> Option<Value> {
        let yaml::Value::Scalar { text, plain } = &node.value else {
            let into = types
                .iter()
                .find(|t| **t != "null")
                .map_or("value", |t| go_type(t));
            self.type_error(node, place, into);
            return None;
        };
        if types.contains(&"integer") {
            if *plain {
                if let Some(value) = yaml::parse_int(text) {
                    return Some(Value::from(value));
                }
                if let Some(value) = yaml::parse_float(text)
                    && value.is_finite()
                    && value.abs() < 9.2e18
                {
                    return Some(Value::from(value.trunc() as i64));
                }
            }
            self.type_error(node, place, "int");
            return None;
        }
        if types.contains(&"boolean") {
            if *plain {
                match text.as_str() {
                    "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True"
                    | "TRUE" => return Some(Value::Bool(true)),
                    "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False"
                    | "FALSE" => return Some(Value::Bool(false)),
                    _ => {}
                }
            }
            self.type_error(node, place, "bool");
            return None;
        }
        Some(Value::String(text.clone()))
    }

    fn array(
        &mut self,
        node: &Node,
        schema: &'static Value,
        place: &Place,
        name: &str,
    ) -> Option<Value> {
        let yaml::Value::Sequence(items) = &node.value else {
            self.type_error(node, place, "[]");
            return None;
        };
        let item_schema = schema.get("items").unwrap_or(&Value::Null);
        let mut out = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let item_place = place.index(index);
            match self.value(item, item_schema, &item_place, name) {
                Some(value) => out.push(value),
                None if item.is_null() => out.push(Value::Null),
                None => {}
            }
        }
        Some(Value::Array(out))
    }

    /// Translates a mapping; `name` is the schema definition it is an instance of.
    pub fn object(
        &mut self,
        node: &Node,
        schema: &'static Value,
        place: &Place,
        name: &str,
    ) -> Option<Map<String, Value>> {
        let yaml::Value::Mapping(entries) = &node.value else {
            self.type_error(node, place, "struct");
            return None;
        };
        let properties = schema.get("properties").and_then(Value::as_object);
        let mut out = Map::new();
        let mut sugar = Vec::new();
        for entry in entries {
            let known = properties.and_then(|properties| {
                properties
                    .iter()
                    .find(|(key, _)| butane_key(key) == entry.key && !self.is_hidden(place, key))
            });
            match known {
                Some((key, property)) => {
                    let inner = place.child(key, &entry.key);
                    if let Some(value) = self.value(&entry.value, property, &inner, key) {
                        out.insert(key.clone(), value);
                    }
                }
                None if self.is_sugar(place, name, &entry.key) => sugar.push(entry),
                None if entry.merged || self.inside_alias > 0 => {}
                None => self.warn_at(
                    "butane.unused-key",
                    &place.child(&entry.key, &entry.key),
                    entry.key_line,
                    entry.key_column,
                    format!("unused key {}", entry.key),
                ),
            }
        }
        contents::apply(self, node, &sugar, place, name, &mut out);
        Some(out)
    }

    /// Ignition keys a Butane config cannot set (the version is Butane's to write).
    fn is_hidden(&self, place: &Place, key: &str) -> bool {
        place.json == "$.ignition" && key == "version"
    }

    /// Whether `key` is Butane sugar that this target has at this place.
    fn is_sugar(&self, place: &Place, name: &str, key: &str) -> bool {
        let target = self.target;
        match (name, key) {
            ("config", "variant" | "version") => place.json == "$",
            ("config", "boot_device" | "grub") => {
                place.json == "$" && fcos::is_root_sugar(self, key)
            }
            ("resource", "inline") => {
                target.has_local()
                    || matches!(
                        place.shape().as_str(),
                        "storage.files.contents" | "storage.files.append"
                    )
            }
            ("resource", "local") => target.has_local(),
            ("unit" | "dropin", "contents_local") | ("user", "ssh_authorized_keys_local") => {
                target.has_local_units_and_keys()
            }
            ("filesystem", "with_mount_unit") => target.has_mount_units(),
            (_, "trees") => place.json == "$.storage" && target.has_local(),
            _ => false,
        }
    }

    /// Reports a variant's refusal of a field (Flatcar has no Clevis).
    pub fn check_filters(&mut self, root: &Node) {
        if self.target.variant != Variant::Flatcar {
            return;
        }
        let luks = root.get("storage").and_then(|s| s.get("luks"));
        if let Some(yaml::Value::Sequence(devices)) = luks.map(|n| &n.value) {
            for (index, device) in devices.iter().enumerate() {
                if let Some(clevis) = device.get("clevis").filter(|c| !c.is_null()) {
                    let place = Place::root()
                        .child("storage", "storage")
                        .child("luks", "luks")
                        .index(index)
                        .child("clevis", "clevis");
                    self.error_at(
                        "butane.unsupported",
                        &place,
                        clevis,
                        "clevis is not supported in this spec version",
                    );
                }
            }
        }
    }
}

/// The JSON types a schema allows (`const` counts as a string).
fn schema_types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ if schema.get("properties").is_some() => vec!["object"],
        _ => vec!["string"],
    }
}

/// How Go names a JSON type in an unmarshal error.
fn go_type(json_type: &str) -> &'static str {
    match json_type {
        "integer" => "int",
        "boolean" => "bool",
        "array" => "[]",
        "object" => "struct",
        _ => "string",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn butane_keys_are_snake_case() {
        assert_eq!(butane_key("sizeMiB"), "size_mib");
        assert_eq!(butane_key("sshAuthorizedKeys"), "ssh_authorized_keys");
        assert_eq!(butane_key("httpHeaders"), "http_headers");
        assert_eq!(butane_key("tpm2"), "tpm2");
    }
}
