//! The things every node's config goes through many times, done without the work
//! `serde_json` does for the general case.
//!
//! - Pointer look-ups (render, merge, validate): `Value::pointer` builds two new strings per
//!   token to undo the `~1` and `~0` escapes; a node takes hundreds of look-ups, and almost
//!   no pointer holds an escape.
//! - Member look-ups (`Lookup::member`, and each step of a pointer): serde_json's map hashes
//!   the key with SipHash, about 200 instructions, where an Ignition object has a handful of
//!   members whose keys mostly differ in length, so comparing them one by one costs a few.
//! - Printing the finished config: `serde_json` checks each byte of each string against its
//!   escape table, and most of a config is long data URLs that need no escape. `to_string`
//!   prints exactly what `serde_json::to_string` (or `to_string_pretty`) prints, but checks
//!   a string many bytes at a time first and copies it whole when it needs no escape.

use serde_json::Value;

use crate::bytes::all_bytes;

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

/// Objects up to this many members are searched key by key; a longer one is hashed, so no
/// look-up compares more than this many keys. kindling's own configs have at most 6
/// members per object, and with 16 a 100-node check hashes no look-up at all (with 8, the
/// render context's larger objects still took 10,700 hashed look-ups).
const SCANNED: usize = 16;

/// The member `key` of `map`. Kept out of line: inlined at each of its sixty call sites it
/// made the binary 22 KB larger, and a one-node `validate` took 13 more page faults than
/// the instructions it saved were worth.
#[inline(never)]
pub fn member<'a>(map: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    if map.len() <= SCANNED {
        map.iter()
            .find(|(name, _)| *name == key)
            .map(|(_, value)| value)
    } else {
        map.get(key)
    }
}

/// An array index as RFC 6901 spells it: decimal digits, no sign, no leading zero.
fn array_index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
        return None;
    }
    token.parse().ok()
}

/// `value` as JSON text: compact, or indented by two spaces (`pretty`), byte for byte as
/// `serde_json` prints it.
pub fn to_string(value: &Value, pretty: bool) -> String {
    let mut out = String::with_capacity(room_for(value));
    let indent = pretty.then_some(0);
    write_value(&mut out, value, indent);
    out
}

/// Room enough to print `value` compact without growing the string (a node's config is
/// tens of kilobytes; growing it by doubling copied it over and over): its strings' lengths
/// and JSON's punctuation, plus a little for escapes (a unit's newlines) and the newline
/// after the config. Pretty printing grows from there.
fn room_for(value: &Value) -> usize {
    let size = compact_size(value);
    size + size / 32 + 16
}

/// The compact printed length of `value`, counting a string without its escapes and a
/// number as 8 bytes.
fn compact_size(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => 8,
        Value::String(text) => text.len() + 2,
        Value::Array(items) => {
            2 + items
                .iter()
                .map(|item| compact_size(item) + 1)
                .sum::<usize>()
        }
        Value::Object(map) => {
            2 + map
                .iter()
                .map(|(key, item)| key.len() + 4 + compact_size(item))
                .sum::<usize>()
        }
    }
}

/// `text` as a JSON string, quotes included.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    write_string(&mut out, text);
    out
}

/// Writes `value`; `indent` is the nesting depth when printing pretty, `None` when compact.
fn write_value(out: &mut String, value: &Value, indent: Option<usize>) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        // Number's Display is the text serde_json writes (itoa, or the shortest float).
        Value::Number(number) => out.push_str(&number.to_string()),
        Value::String(text) => write_string(out, text),
        Value::Array(items) => write_list(out, ('[', ']'), items, indent, |out, item, inner| {
            write_value(out, item, inner);
        }),
        Value::Object(map) => {
            write_list(out, ('{', '}'), map, indent, |out, (key, item), inner| {
                write_string(out, key);
                out.push_str(if inner.is_some() { ": " } else { ":" });
                write_value(out, item, inner);
            })
        }
    }
}

/// An array or object: its brackets around its items, one per line when pretty, and an
/// empty one as just its brackets.
fn write_list<I: IntoIterator>(
    out: &mut String,
    (open, close): (char, char),
    items: I,
    indent: Option<usize>,
    write_item: impl Fn(&mut String, I::Item, Option<usize>),
) {
    out.push(open);
    let inner = indent.map(|depth| depth + 1);
    let mut empty = true;
    for item in items {
        if !empty {
            out.push(',');
        }
        empty = false;
        if let Some(depth) = inner {
            new_line(out, depth);
        }
        write_item(out, item, inner);
    }
    if let Some(depth) = indent
        && !empty
    {
        new_line(out, depth);
    }
    out.push(close);
}

fn new_line(out: &mut String, depth: usize) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// A JSON string: quotes, backslashes and control characters escaped (`\n` and its kind
/// where JSON has a short form, `\u00XX` otherwise); everything else, DEL and non-ASCII
/// included, as it is.
fn write_string(out: &mut String, text: &str) {
    out.push('"');
    let plain = |byte: u8| (byte >= b' ') & (byte != b'"') & (byte != b'\\');
    if all_bytes(text.as_bytes(), plain) {
        out.push_str(text);
    } else {
        write_escaped(out, text, plain);
    }
    out.push('"');
}

fn write_escaped(out: &mut String, text: &str, plain: impl Fn(u8) -> bool) {
    let mut rest = text;
    while let Some(at) = rest.bytes().position(|byte| !plain(byte)) {
        out.push_str(&rest[..at]);
        let byte = rest.as_bytes()[at];
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xf)]));
            }
        }
        // The byte is ASCII, so the rest starts on a character boundary.
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// Every rendered config of the golden cases, and its newline, fits the room reserved
    /// for it: printing it never copies the growing string.
    #[test]
    fn a_config_is_printed_without_growing_its_string() {
        let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("golden");
        let mut configs = 0;
        for case in std::fs::read_dir(golden).unwrap() {
            let Ok(expected) = std::fs::read_dir(case.unwrap().path().join("expected")) else {
                continue;
            };
            for file in expected {
                let path = file.unwrap().path();
                if path.extension().is_none_or(|e| e != "ign") {
                    continue;
                }
                let value: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                let mut printed = to_string(&value, false);
                let room = room_for(&value);
                printed.push('\n');
                assert_eq!(printed.capacity(), room, "{}", path.display());
                configs += 1;
            }
        }
        assert!(configs > 10, "only {configs} golden configs");
    }

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

    #[test]
    fn a_member_is_found_as_serde_json_finds_it_in_objects_of_every_size() {
        for size in [0, 1, 2, SCANNED - 1, SCANNED, SCANNED + 1, 3 * SCANNED] {
            let object: serde_json::Map<String, Value> = (0..size)
                .map(|index| (format!("k{index}"), Value::from(index)))
                .collect();
            let value = Value::Object(object.clone());
            let keys = (0..size + 2).map(|index| format!("k{index}"));
            for key in keys.chain(["".to_string(), "k".to_string(), "K0".to_string()]) {
                assert_eq!(member(&object, &key), object.get(&key), "{size}: {key}");
                assert_eq!(value.member(&key), value.get(&key), "{size}: {key}");
            }
        }
        for other in [json!(null), json!([{"k0": 1}]), json!("k0"), json!(0)] {
            assert_eq!(other.member("k0"), None, "{other}");
            assert_eq!(other.member("0"), other.get("0"), "{other}");
        }
    }

    /// Any JSON value: strings from every ASCII byte and some non-ASCII, integers of both
    /// signs, floats, and nesting with empty lists and maps.
    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[\\x00-\\x7f é€😀]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("[a-z\"\\\\\n]{0,4}", inner), 0..6)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn prints_as_serde_json_does_for_the_edge_cases() {
        let values = [
            json!([]),
            json!({}),
            json!({"a": [], "b": {}, "c": [[], {}], "d": [{"e": null}]}),
            json!(["\u{7f}", "\u{0}\u{1f}\u{8}\u{c}\n\r\t\"\\/", "é€😀"]),
            json!([0, -1, u64::MAX, i64::MIN, 1.5, -0.0, 1e300, 2.5e-8]),
            json!([
                "x".repeat(200),
                format!("{}\"{}", "y".repeat(70), "z".repeat(70))
            ]),
        ];
        for value in values {
            assert_eq!(
                to_string(&value, false),
                serde_json::to_string(&value).unwrap()
            );
            assert_eq!(
                to_string(&value, true),
                serde_json::to_string_pretty(&value).unwrap()
            );
        }
    }

    #[test]
    fn quotes_every_ascii_byte_as_serde_json_does() {
        for byte in 0..=0x7f_u8 {
            let alone = char::from(byte).to_string();
            let after_a_run = format!("{}{alone}", "a".repeat(100));
            for text in [alone, after_a_run] {
                let expected = Value::from(text.clone()).to_string();
                assert_eq!(quoted(&text), expected, "byte {byte:#04x}");
            }
        }
    }

    proptest! {
        #[test]
        fn prints_as_serde_json_does(value in any_value()) {
            prop_assert_eq!(to_string(&value, false), serde_json::to_string(&value).unwrap());
            prop_assert_eq!(to_string(&value, true), serde_json::to_string_pretty(&value).unwrap());
        }

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
