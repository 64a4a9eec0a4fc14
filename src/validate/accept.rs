//! A quick "yes" for configs the schema accepts, without compiling it with `jsonschema`.
//!
//! Compiling a schema with `jsonschema` costs more than validating a node config against it
//! (about 5.8 million instructions, more than everything else in `kindling validate`), and
//! almost every config kindling sees is valid. So `QuickSchema` answers only "certainly
//! valid" or "not sure". On "not sure" the compiled schema runs as before and produces the
//! findings, so its messages and paths stay the only ones users see.
//!
//! The schema is turned once per process into a tree of checks: keywords decoded,
//! references resolved to nodes, property names sorted. Walking a config is then a matter of
//! comparisons, with no keyword matching and no hashing; it was the largest part of
//! validating a rendered node when it read the schema's JSON for every node.
//!
//! It understands exactly the keywords kindling's schemas use. It is never more lenient than
//! the schema: a keyword it does not know, a pattern it has no matcher for, or a value whose
//! JSON Schema meaning is subtle (an integer written `1.0`, a number compared across integer
//! and float) all answer "not sure".

use std::collections::HashMap;

use serde_json::{Map, Value};

/// A schema compiled for the quick walk.
#[derive(Debug)]
pub(super) struct QuickSchema {
    /// Every schema node; the root is the first.
    nodes: Vec<Vec<Check>>,
}

/// One keyword of a schema node, ready to test an instance.
#[derive(Debug)]
enum Check {
    /// A keyword the walk cannot vouch for: "not sure" whatever the instance.
    Unsure,
    /// `type`: the instance is one of these types.
    Types(Vec<JsonType>),
    Const(Value),
    Enum(Vec<Value>),
    /// `required`: an object instance has each of these keys.
    Required(Vec<String>),
    /// `properties`, sorted by name, and whether `additionalProperties: false` closes the
    /// object to other keys.
    Properties {
        known: Vec<(String, usize)>,
        closed: bool,
    },
    /// `items`: every element of an array instance matches this node.
    Items(usize),
    /// `pattern: "^/"`.
    Absolute,
    /// `pattern` for a `sha256-`/`sha512-` hash.
    Hash,
    MinLength(usize),
    Minimum(i128),
    Maximum(i128),
    /// `$ref` to a definition, by node.
    Ref(usize),
}

#[derive(Debug, Clone, Copy)]
enum JsonType {
    Object,
    Array,
    String,
    Boolean,
    Null,
    Number,
    Integer,
}

impl QuickSchema {
    /// Compiles `root`, whose `$ref`s point into its own `$defs`.
    pub(super) fn new(root: &Value) -> Self {
        let mut builder = Builder {
            root,
            nodes: Vec::new(),
            definitions: HashMap::new(),
        };
        builder.node(root);
        QuickSchema {
            nodes: builder.nodes,
        }
    }

    /// Whether `instance` is certainly valid against the schema.
    pub(super) fn accepts(&self, instance: &Value) -> bool {
        self.node_accepts(0, instance)
    }

    fn node_accepts(&self, node: usize, instance: &Value) -> bool {
        self.nodes[node]
            .iter()
            .all(|check| self.holds(check, instance))
    }

    fn holds(&self, check: &Check, instance: &Value) -> bool {
        match check {
            Check::Unsure => false,
            Check::Types(types) => types.iter().any(|t| t.matches(instance)),
            Check::Const(value) => value == instance,
            Check::Enum(options) => options.contains(instance),
            Check::Required(names) => instance
                .as_object()
                .is_none_or(|object| names.iter().all(|name| object.contains_key(name))),
            Check::Properties { known, closed } => instance
                .as_object()
                .is_none_or(|object| self.members_hold(known, *closed, object)),
            Check::Items(node) => instance.as_array().is_none_or(|elements| {
                elements
                    .iter()
                    .all(|element| self.node_accepts(*node, element))
            }),
            Check::Absolute => instance.as_str().is_none_or(|text| text.starts_with('/')),
            Check::Hash => instance.as_str().is_none_or(is_hash),
            Check::MinLength(limit) => instance
                .as_str()
                .is_none_or(|text| text.chars().count() >= *limit),
            Check::Minimum(limit) => integer_holds(instance, |number| number >= *limit),
            Check::Maximum(limit) => integer_holds(instance, |number| number <= *limit),
            Check::Ref(node) => self.node_accepts(*node, instance),
        }
    }

    fn members_hold(
        &self,
        known: &[(String, usize)],
        closed: bool,
        object: &Map<String, Value>,
    ) -> bool {
        object.iter().all(|(key, member)| {
            match known.binary_search_by(|(name, _)| name.as_str().cmp(key)) {
                Ok(found) => self.node_accepts(known[found].1, member),
                Err(_) => !closed,
            }
        })
    }
}

impl JsonType {
    fn named(name: &str) -> Option<Self> {
        Some(match name {
            "object" => JsonType::Object,
            "array" => JsonType::Array,
            "string" => JsonType::String,
            "boolean" => JsonType::Boolean,
            "null" => JsonType::Null,
            "number" => JsonType::Number,
            "integer" => JsonType::Integer,
            _ => return None,
        })
    }

    /// An integer written as a float (`1.0`) counts as an integer in JSON Schema; the quick
    /// walk leaves that case to the compiled schema.
    fn matches(self, instance: &Value) -> bool {
        match (self, instance) {
            (JsonType::Object, Value::Object(_))
            | (JsonType::Array, Value::Array(_))
            | (JsonType::String, Value::String(_))
            | (JsonType::Boolean, Value::Bool(_))
            | (JsonType::Null, Value::Null)
            | (JsonType::Number, Value::Number(_)) => true,
            (JsonType::Integer, Value::Number(number)) => number.is_i64() || number.is_u64(),
            _ => false,
        }
    }
}

/// Compiles schema nodes into the arena, each definition once (so recursive references
/// terminate).
struct Builder<'a> {
    root: &'a Value,
    nodes: Vec<Vec<Check>>,
    definitions: HashMap<&'a str, usize>,
}

impl<'a> Builder<'a> {
    /// Compiles `schema` into a new node and returns its index.
    fn node(&mut self, schema: &'a Value) -> usize {
        let index = self.nodes.len();
        self.nodes.push(Vec::new());
        let checks = match schema {
            Value::Bool(true) => Vec::new(),
            Value::Object(keywords) => self.keywords(keywords),
            _ => vec![Check::Unsure],
        };
        self.nodes[index] = checks;
        index
    }

    fn keywords(&mut self, keywords: &'a Map<String, Value>) -> Vec<Check> {
        let mut checks = Vec::new();
        let closed = match keywords.get("additionalProperties") {
            None => false,
            Some(Value::Bool(false)) => true,
            Some(_) => return vec![Check::Unsure],
        };
        if closed && !keywords.contains_key("properties") {
            checks.push(Check::Properties {
                known: Vec::new(),
                closed,
            });
        }
        for (keyword, value) in keywords {
            let check = match keyword.as_str() {
                "$schema"
                | "$id"
                | "title"
                | "description"
                | "$defs"
                | "definitions"
                | "additionalProperties" => continue,
                "properties" => self.properties(value, closed),
                _ => self.keyword(keyword, value),
            };
            checks.push(check.unwrap_or(Check::Unsure));
        }
        checks
    }

    fn keyword(&mut self, keyword: &str, value: &'a Value) -> Option<Check> {
        Some(match keyword {
            "$ref" => Check::Ref(self.definition(value)?),
            "type" => Check::Types(types(value)?),
            "const" => Check::Const(value.clone()),
            "enum" => Check::Enum(value.as_array()?.clone()),
            "required" => Check::Required(
                value
                    .as_array()?
                    .iter()
                    .map(|name| name.as_str().map(str::to_owned))
                    .collect::<Option<_>>()?,
            ),
            "items" => Check::Items(self.node(value.is_object().then_some(value)?)),
            "pattern" => match value.as_str()? {
                "^/" => Check::Absolute,
                "^(sha256-[0-9a-fA-F]{64}|sha512-[0-9a-fA-F]{128})$" => Check::Hash,
                _ => return None,
            },
            "minLength" => Check::MinLength(usize::try_from(value.as_u64()?).ok()?),
            "minimum" => Check::Minimum(as_integer(value)?),
            "maximum" => Check::Maximum(as_integer(value)?),
            _ => return None,
        })
    }

    fn properties(&mut self, value: &'a Value, closed: bool) -> Option<Check> {
        let mut known: Vec<(String, usize)> = value
            .as_object()?
            .iter()
            .map(|(name, schema)| (name.clone(), self.node(schema)))
            .collect();
        known.sort_by(|a, b| a.0.cmp(&b.0));
        Some(Check::Properties { known, closed })
    }

    /// The node of a local `#/$defs/NAME` reference, compiled on first use.
    fn definition(&mut self, value: &'a Value) -> Option<usize> {
        let name = value.as_str()?.strip_prefix("#/$defs/")?;
        if let Some(node) = self.definitions.get(name) {
            return Some(*node);
        }
        let (name, schema) = self.root.get("$defs")?.as_object()?.get_key_value(name)?;
        let index = self.nodes.len();
        self.definitions.insert(name.as_str(), index);
        self.node(schema);
        Some(index)
    }
}

/// The names of `type`, a string or an array of strings. A name JSON Schema does not
/// know matches nothing.
fn types(value: &Value) -> Option<Vec<JsonType>> {
    match value {
        Value::String(name) => Some(JsonType::named(name).into_iter().collect()),
        Value::Array(names) => Some(
            names
                .iter()
                .filter_map(Value::as_str)
                .filter_map(JsonType::named)
                .collect(),
        ),
        _ => None,
    }
}

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

/// `minimum` and `maximum` are compared only when both sides are integers (exactly
/// comparable); anything else is left to the compiled schema.
fn integer_holds(instance: &Value, holds: impl Fn(i128) -> bool) -> bool {
    match instance {
        Value::Number(number) => number_as_integer(number).is_some_and(holds),
        _ => true,
    }
}

fn as_integer(value: &Value) -> Option<i128> {
    match value {
        Value::Number(number) => number_as_integer(number),
        _ => None,
    }
}

fn number_as_integer(number: &serde_json::Number) -> Option<i128> {
    number
        .as_i64()
        .map(i128::from)
        .or_else(|| number.as_u64().map(i128::from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn accepted(schema: Value, instance: Value) -> bool {
        QuickSchema::new(&schema).accepts(&instance)
    }

    #[test]
    fn each_keyword_can_say_no() {
        let cases = [
            (json!({"type": "integer"}), json!(1), json!(1.0)),
            (json!({"type": ["string", "null"]}), json!(null), json!(1)),
            (json!({"const": "3.5.0"}), json!("3.5.0"), json!("3.4.0")),
            (json!({"enum": ["a", "b"]}), json!("b"), json!("c")),
            (json!({"required": ["path"]}), json!({"path": 1}), json!({})),
            (
                json!({"properties": {"a": {"type": "string"}}}),
                json!({"a": "x", "b": 1}),
                json!({"a": 1}),
            ),
            (
                json!({"properties": {"a": {}}, "additionalProperties": false}),
                json!({"a": 1}),
                json!({"A": 1}),
            ),
            (
                json!({"items": {"type": "string"}}),
                json!(["x"]),
                json!(["x", 2]),
            ),
            (json!({"pattern": "^/"}), json!("/etc"), json!("etc")),
            (
                json!({"pattern": "^(sha256-[0-9a-fA-F]{64}|sha512-[0-9a-fA-F]{128})$"}),
                json!(format!("sha256-{}", "a".repeat(64))),
                json!(format!("sha256-{}\n", "a".repeat(64))),
            ),
            (json!({"minLength": 2}), json!("ab"), json!("a")),
            (json!({"minimum": 0}), json!(0), json!(-1)),
            (json!({"maximum": 4095}), json!(4095), json!(4096)),
            (
                json!({"$defs": {"p": {"type": "string"}}, "$ref": "#/$defs/p"}),
                json!("x"),
                json!(1),
            ),
        ];
        for (schema, good, bad) in cases {
            assert!(
                accepted(schema.clone(), good),
                "{schema} refused its good case"
            );
            assert!(
                !accepted(schema.clone(), bad),
                "{schema} accepted its bad case"
            );
        }
    }

    #[test]
    fn unsure_means_no() {
        assert!(!accepted(json!({"pattern": "^a"}), json!("a")));
        assert!(!accepted(json!({"format": "uri"}), json!("x")));
        assert!(!accepted(json!({"additionalProperties": {}}), json!({})));
        assert!(!accepted(json!({"minimum": 0.5}), json!(1)));
        assert!(!accepted(json!({"$ref": "other.json"}), json!(1)));
    }
}
