//! The embedded JSON schemas as Rust statics, written by `build.rs` from `schemas/`: the
//! schema walk (`schema::check`) and the key folding read them at no cost, where parsing a
//! schema into a `serde_json::Value` took a fifth of a `kindling validate` run.

use serde_json::Value;

/// A JSON value known when kindling is built. Numbers are integers: `build.rs` refuses to
/// embed a schema holding any other kind.
#[derive(Debug, PartialEq)]
pub enum Tree {
    Null,
    Bool(bool),
    Integer(i64),
    String(&'static str),
    Array(&'static [Tree]),
    /// Members in the schema's order.
    Object(&'static [(&'static str, Tree)]),
}

impl Tree {
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Tree> {
        self.as_object()?
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, member)| member)
    }

    /// The value at a JSON pointer (`/$defs/file`), whose parts hold no `~` escapes.
    pub fn pointer(&self, pointer: &str) -> Option<&Tree> {
        pointer
            .strip_prefix('/')?
            .split('/')
            .try_fold(self, |tree, part| tree.get(part))
    }

    pub fn as_str(&self) -> Option<&'static str> {
        match self {
            Tree::String(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&'static [Tree]> {
        match self {
            Tree::Array(elements) => Some(elements),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&'static [(&'static str, Tree)]> {
        match self {
            Tree::Object(members) => Some(members),
            _ => None,
        }
    }

    /// Whether `value` is this same JSON value, as serde_json compares two values (an
    /// integer never equals `1.0`).
    pub fn equals(&self, value: &Value) -> bool {
        match (self, value) {
            (Tree::Null, Value::Null) => true,
            (Tree::Bool(flag), Value::Bool(other)) => flag == other,
            (Tree::Integer(number), Value::Number(other)) => other.as_i64() == Some(*number),
            (Tree::String(text), Value::String(other)) => text == other,
            (Tree::Array(elements), Value::Array(others)) => {
                elements.len() == others.len()
                    && elements.iter().zip(others).all(|(a, b)| a.equals(b))
            }
            (Tree::Object(members), Value::Object(others)) => {
                members.len() == others.len()
                    && members.iter().all(|(key, member)| {
                        others.get(*key).is_some_and(|other| member.equals(other))
                    })
            }
            _ => false,
        }
    }
}

/// The tree of `value`, kept for the rest of the process (tests build schemas this way).
#[cfg(test)]
pub fn leaked(value: &Value) -> &'static Tree {
    Box::leak(Box::new(owned(value)))
}

#[cfg(test)]
fn owned(value: &Value) -> Tree {
    match value {
        Value::Null => Tree::Null,
        Value::Bool(flag) => Tree::Bool(*flag),
        Value::Number(number) => Tree::Integer(number.as_i64().expect("an integer")),
        Value::String(text) => Tree::String(Box::leak(text.clone().into_boxed_str())),
        Value::Array(elements) => Tree::Array(Box::leak(
            elements
                .iter()
                .map(owned)
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        )),
        Value::Object(members) => Tree::Object(Box::leak(
            members
                .iter()
                .map(|(key, member)| (&*Box::leak(key.clone().into_boxed_str()), owned(member)))
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ignition::SpecVersion;
    use serde_json::json;

    #[test]
    fn each_embedded_tree_is_its_schema_file() {
        for version in SpecVersion::ALL {
            let parsed: Value = serde_json::from_str(super::super::schema::schema_text(version))
                .expect("schema parses");
            let tree = super::super::schema::tree(version);
            assert!(tree.equals(&parsed), "{}", version.as_str());
            assert_eq!(tree, leaked(&parsed), "{} (member order)", version.as_str());
        }
    }

    #[test]
    fn lookups_and_comparisons() {
        let tree = leaked(&json!({"a": {"b": [1, "x", null, true]}, "$defs": {"d": {}}}));
        assert_eq!(tree.pointer("/$defs/d"), Some(&Tree::Object(&[])));
        assert_eq!(tree.pointer("/a/c"), None);
        assert!(tree.equals(&json!({"$defs": {"d": {}}, "a": {"b": [1, "x", null, true]}})));
        for different in [
            json!({"a": {"b": [1, "x", null]}, "$defs": {"d": {}}}),
            json!({"a": {"b": [1.0, "x", null, true]}, "$defs": {"d": {}}}),
            json!({"a": {"b": [1, "x", null, true]}, "$defs": {"d": {}}, "e": 1}),
            json!({"a": {"b": [1, "x", null, false]}, "$defs": {"e": {}}}),
        ] {
            assert!(!tree.equals(&different), "{different}");
        }
    }
}
