//! A quick "yes" for configs the schema accepts, without compiling it.
//!
//! Compiling a schema with `jsonschema` costs more than validating a node config against it
//! (about 5.8 million instructions, more than everything else in `kindling validate`), and
//! almost every config kindling sees is valid. So `accepts` walks the schema text and the
//! config together and answers only "certainly valid" or "not sure". On "not sure" the
//! compiled schema runs as before and produces the findings, so its messages and paths stay
//! the only ones users see.
//!
//! The walk understands exactly the keywords kindling's schemas use. It is never more
//! lenient than the schema: a keyword it does not know, a pattern it has no matcher for, or
//! a value whose JSON Schema meaning is subtle (an integer written `1.0`, a number compared
//! across integer and float) all answer "not sure".

use serde_json::Value;

use super::tree::Tree;

/// Whether `instance` is certainly valid against `schema`, whose `$ref`s point into `root`.
pub(super) fn accepts(root: &Tree, schema: &Tree, instance: &Value) -> bool {
    match schema {
        Tree::Bool(allowed) => *allowed,
        Tree::Object(keywords) => keywords
            .iter()
            .all(|(keyword, value)| keyword_holds(root, keywords, keyword, value, instance)),
        _ => false,
    }
}

fn keyword_holds(
    root: &Tree,
    keywords: &[(&str, Tree)],
    keyword: &str,
    value: &Tree,
    instance: &Value,
) -> bool {
    match keyword {
        "$schema" | "$id" | "title" | "description" | "$defs" | "definitions" => true,
        "$ref" => reference(root, value).is_some_and(|target| accepts(root, target, instance)),
        "type" => has_type(value, instance),
        "const" => value.equals(instance),
        "enum" => value
            .as_array()
            .is_some_and(|options| options.iter().any(|option| option.equals(instance))),
        "required" => required(value, instance),
        "properties" => properties(root, value, instance),
        "additionalProperties" => no_additional(keywords, value, instance),
        "items" => items(root, value, instance),
        "pattern" => pattern(value, instance),
        "minLength" => min_length(value, instance),
        "minimum" => bound(value, instance, |limit, number| number >= limit),
        "maximum" => bound(value, instance, |limit, number| number <= limit),
        _ => false,
    }
}

/// The schema a local `#/$defs/NAME` reference points at.
fn reference<'a>(root: &'a Tree, value: &Tree) -> Option<&'a Tree> {
    let name = value.as_str()?.strip_prefix("#/$defs/")?;
    root.get("$defs")?.get(name)
}

fn has_type(value: &Tree, instance: &Value) -> bool {
    match value {
        Tree::String(name) => is_type(name, instance),
        Tree::Array(names) => names
            .iter()
            .any(|name| name.as_str().is_some_and(|name| is_type(name, instance))),
        _ => false,
    }
}

/// An integer written as a float (`1.0`) counts as an integer in JSON Schema; the quick
/// walk leaves that case to the compiled schema.
fn is_type(name: &str, instance: &Value) -> bool {
    match (name, instance) {
        ("object", Value::Object(_))
        | ("array", Value::Array(_))
        | ("string", Value::String(_))
        | ("boolean", Value::Bool(_))
        | ("null", Value::Null)
        | ("number", Value::Number(_)) => true,
        ("integer", Value::Number(number)) => number.is_i64() || number.is_u64(),
        _ => false,
    }
}

fn required(value: &Tree, instance: &Value) -> bool {
    let Value::Object(object) = instance else {
        return true;
    };
    value.as_array().is_some_and(|names| {
        names.iter().all(|name| {
            name.as_str()
                .is_some_and(|name| crate::json::member(object, name).is_some())
        })
    })
}

fn properties(root: &Tree, value: &Tree, instance: &Value) -> bool {
    let Value::Object(object) = instance else {
        return true;
    };
    if value.as_object().is_none() {
        return false;
    }
    object.iter().all(|(key, member)| {
        value
            .get(key)
            .is_none_or(|schema| accepts(root, schema, member))
    })
}

/// `additionalProperties: false`: every key is one `properties` names. Any other form is
/// left to the compiled schema.
fn no_additional(keywords: &[(&str, Tree)], value: &Tree, instance: &Value) -> bool {
    let Value::Object(object) = instance else {
        return true;
    };
    if value != &Tree::Bool(false) {
        return false;
    }
    let known = keywords
        .iter()
        .find(|(keyword, _)| *keyword == "properties")
        .and_then(|(_, properties)| properties.as_object());
    object
        .keys()
        .all(|key| known.is_some_and(|known| known.iter().any(|(property, _)| property == key)))
}

fn items(root: &Tree, value: &Tree, instance: &Value) -> bool {
    let Value::Array(elements) = instance else {
        return true;
    };
    value.as_object().is_some() && elements.iter().all(|element| accepts(root, value, element))
}

/// The two patterns kindling's schemas use, matched by hand; any other pattern is left to
/// the compiled schema.
fn pattern(value: &Tree, instance: &Value) -> bool {
    let Value::String(text) = instance else {
        return true;
    };
    match value.as_str() {
        Some("^/") => text.starts_with('/'),
        Some("^(sha256-[0-9a-fA-F]{64}|sha512-[0-9a-fA-F]{128})$") => is_hash(text),
        _ => false,
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

fn min_length(value: &Tree, instance: &Value) -> bool {
    let Value::String(text) = instance else {
        return true;
    };
    match value {
        Tree::Integer(limit) => {
            usize::try_from(*limit).is_ok_and(|limit| text.chars().count() >= limit)
        }
        _ => false,
    }
}

/// `minimum` and `maximum`, compared only when both sides are integers (exactly
/// comparable); anything else is left to the compiled schema.
fn bound(value: &Tree, instance: &Value, holds: fn(i128, i128) -> bool) -> bool {
    let Value::Number(number) = instance else {
        return true;
    };
    match (value, number_as_integer(number)) {
        (Tree::Integer(limit), Some(number)) => holds(i128::from(*limit), number),
        _ => false,
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
        let schema = super::super::tree::leaked(&schema);
        accepts(schema, schema, &instance)
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
        assert!(!accepted(json!({"minimum": "0"}), json!(1)));
        assert!(!accepted(json!({"$ref": "other.json"}), json!(1)));
    }
}
