//! Embeds the JSON schemas as Rust statics: `schemas/ignition-<version>.json` become `Tree`
//! values (see `src/validate/tree.rs`) in `$OUT_DIR/schema_trees.rs`, so a run reads the
//! schema it validates against without parsing it first.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

const SCHEMA_DIR: &str = "schemas";

fn main() {
    embed_schemas();
}

/// Writes every `schemas/ignition-<version>.json` as a `(version, Tree)` pair of the static
/// `SCHEMA_TREES`, in version order. A schema that does not parse, or holds a number that
/// is not an integer, fails the build.
fn embed_schemas() {
    println!("cargo::rerun-if-changed={SCHEMA_DIR}");
    let manifest_dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let mut schemas: Vec<(String, PathBuf)> =
        std::fs::read_dir(Path::new(&manifest_dir).join(SCHEMA_DIR))
            .expect("schemas/ is readable")
            .map(|entry| entry.expect("schemas/ lists").path())
            .filter_map(|path| {
                let name = path.file_name()?.to_str()?;
                let version = name.strip_prefix("ignition-")?.strip_suffix(".json")?;
                Some((version.to_string(), path.clone()))
            })
            .collect();
    schemas.sort();
    let mut code = format!(
        "/// The schemas of `schemas/`, by spec version (written by build.rs).\n\
         static SCHEMA_TREES: [(&str, Tree); {}] = [\n",
        schemas.len()
    );
    for (version, path) in &schemas {
        let text = std::fs::read_to_string(path).expect("a schema is readable");
        let value: Value = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()));
        write!(code, "    ({version:?}, ").expect("writes to a String");
        write_tree(&mut code, &value);
        code.push_str("),\n");
    }
    code.push_str("];\n");
    let out_dir = env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(Path::new(&out_dir).join("schema_trees.rs"), code).expect("OUT_DIR is writable");
}

/// `value` as a `Tree` expression. A string's `Debug` form is a Rust string literal.
fn write_tree(code: &mut String, value: &Value) {
    match value {
        Value::Null => code.push_str("Tree::Null"),
        Value::Bool(flag) => write!(code, "Tree::Bool({flag})").expect("writes to a String"),
        Value::Number(number) => {
            let integer = number
                .as_i64()
                .unwrap_or_else(|| panic!("schema number {number} is not an integer"));
            write!(code, "Tree::Integer({integer})").expect("writes to a String");
        }
        Value::String(text) => write!(code, "Tree::String({text:?})").expect("writes to a String"),
        Value::Array(elements) => {
            code.push_str("Tree::Array(&[");
            for element in elements {
                write_tree(code, element);
                code.push(',');
            }
            code.push_str("])");
        }
        Value::Object(members) => {
            code.push_str("Tree::Object(&[");
            for (key, member) in members {
                write!(code, "({key:?}, ").expect("writes to a String");
                write_tree(code, member);
                code.push_str("),");
            }
            code.push_str("])");
        }
    }
}
