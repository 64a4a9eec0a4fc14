//! JSON pointer look-ups without the two new strings `Value::pointer` builds per token to
//! undo the `~1` and `~0` escapes (a node takes hundreds of look-ups, and almost no
//! pointer holds an escape), the dotted paths profiles name context values by, and the
//! printing of a finished config.

use serde_json::Value;

/// RFC 6901 look-up, with `Value::pointer`'s answers.
pub trait Lookup {
    /// The value at `pointer` (`""` is the whole value, `/a/0` a key then an index), or
    /// nothing when a step is missing, indexes a scalar, or is not a plain array index.
    fn at(&self, pointer: &str) -> Option<&Value>;

    /// The value at a profile's dotted context path (`sysext.update_enabled`): what `at`
    /// finds at `/` and the path with its dots made slashes, without making that string.
    fn at_dotted(&self, path: &str) -> Option<&Value>;

    /// The member `key` of an object, as `Value::get` finds it (nothing for any other
    /// value), without hashing the key when the object is small.
    fn member(&self, key: &str) -> Option<&Value>;
}

impl Lookup for Value {
    fn at(&self, pointer: &str) -> Option<&Value> {
        if pointer.is_empty() {
            return Some(self);
        }
        tokens(self, pointer.strip_prefix('/')?.split('/'))
    }

    fn at_dotted(&self, path: &str) -> Option<&Value> {
        tokens(self, path.split(['.', '/']))
    }

    fn member(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(map) => member(map, key),
            _ => None,
        }
    }
}

/// Steps through `target` by each of `tokens`, RFC 6901 escapes undone.
fn tokens<'a, 't>(
    target: &'a Value,
    mut tokens: impl Iterator<Item = &'t str>,
) -> Option<&'a Value> {
    tokens.try_fold(target, |target, token| {
        if token.contains('~') {
            step(target, &token.replace("~1", "/").replace("~0", "~"))
        } else {
            step(target, token)
        }
    })
}

fn step<'a>(target: &'a Value, token: &str) -> Option<&'a Value> {
    match target {
        Value::Object(map) => member(map, token),
        Value::Array(items) => array_index(token).and_then(|index| items.get(index)),
        _ => None,
    }
}

/// The member `key` of an object.
pub fn member<'a>(map: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key)
}

/// An array index as RFC 6901 spells it: decimal digits, no sign, no leading zero.
fn array_index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
        return None;
    }
    token.parse().ok()
}

/// `value` as JSON text: compact, or indented by two spaces (`pretty`).
pub fn to_string(value: &Value, pretty: bool) -> String {
    let printed = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    // A `Value` always prints: its keys are strings and its numbers finite.
    printed.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn document() -> Value {
        json!({
            "a": {"b": [10, {"c": true}, 30]},
            "a/b": 1,
            "m~n": 2,
            "~1": 3,
            "": {"": 4},
            "0": [5],
            "list": ["x", "y"],
        })
    }

    #[test]
    fn answers_as_serde_json_does_for_the_edge_cases() {
        let document = document();
        let pointers = [
            "",
            "/",
            "//",
            "a",
            "/a",
            "/a/b",
            "/a/b/0",
            "/a/b/1/c",
            "/a/b/3",
            "/a/b/01",
            "/a/b/+1",
            "/a/b/-1",
            "/a/b/1x",
            "/a~1b",
            "/m~0n",
            "/~01",
            "/~1",
            "/~2",
            "/~",
            "/0/0",
            "/list/1",
            "/list/18446744073709551616",
            "/a/b/0/x",
        ];
        for pointer in pointers {
            assert_eq!(
                document.at(pointer),
                document.pointer(pointer),
                "{pointer:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn answers_as_serde_json_does(pointer in "(/([abc01+~/]|~[01]){0,3}){0,4}|[a/]{0,3}") {
            let document = document();
            prop_assert_eq!(document.at(&pointer), document.pointer(&pointer));
        }

        #[test]
        fn a_dotted_path_is_its_pointer(path in "[abc01+~/.]{0,8}|~[01]|a.b.1.c|list.1") {
            let document = document();
            let pointer = format!("/{}", path.replace('.', "/"));
            prop_assert_eq!(document.at_dotted(&path), document.at(&pointer));
        }
    }
}
