//! JSON pointer look-ups for the stages that walk `serde_json` values (render, merge,
//! validate). `Value::pointer` builds two new strings per token to undo the `~1` and `~0`
//! escapes; the validator and the renderer look up hundreds of pointers per node, and
//! almost none holds an escape.

use serde_json::Value;

/// RFC 6901 look-up, with `Value::pointer`'s answers.
pub trait Lookup {
    /// The value at `pointer` (`""` is the whole value, `/a/0` a key then an index), or
    /// nothing when a step is missing, indexes a scalar, or is not a plain array index.
    fn at(&self, pointer: &str) -> Option<&Value>;
}

impl Lookup for Value {
    fn at(&self, pointer: &str) -> Option<&Value> {
        if pointer.is_empty() {
            return Some(self);
        }
        pointer
            .strip_prefix('/')?
            .split('/')
            .try_fold(self, |target, token| {
                if token.contains('~') {
                    step(target, &token.replace("~1", "/").replace("~0", "~"))
                } else {
                    step(target, token)
                }
            })
    }
}

fn step<'a>(target: &'a Value, token: &str) -> Option<&'a Value> {
    match target {
        Value::Object(map) => map.get(token),
        Value::Array(items) => array_index(token).and_then(|index| items.get(index)),
        _ => None,
    }
}

/// An array index as RFC 6901 spells it: decimal digits, no sign, no leading zero.
fn array_index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
        return None;
    }
    token.parse().ok()
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
    }
}
