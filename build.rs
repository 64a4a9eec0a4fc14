//! Two things the compiler cannot do alone:
//!
//! 1. **Embed the JSON schemas as Rust statics.** `schemas/ignition-<version>.json` become
//!    `Tree` values (see `src/validate/tree.rs`) in `$OUT_DIR/schema_trees.rs`, so a run
//!    reads the schema it validates against without parsing it first.
//! 2. **Lay out the release binary's hot code together.** A run of `render` executes about
//!    1,000 functions, 2 MB of the 7 MB of machine code, spread over almost all of it, and
//!    the kernel maps each page of code a run touches together with its neighbours (64 KiB
//!    around it): scattered hot code costs resident memory, page faults and time.
//!    `link/hot-functions.txt` (made by `link/order.py`) lists the functions the common
//!    commands execute; lld places them first, in that order.
//!
//!    Only lld understands `--symbol-ordering-file` (GNU ld refuses it), so the list is
//!    passed only when lld is sure to be the linker: a release build for
//!    x86_64-unknown-linux-gnu by rustc 1.90 or later (which links with its own lld there),
//!    with no linker chosen in Cargo's configuration or RUSTFLAGS. Otherwise the binary is
//!    the same, laid out in compiler order.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const ORDER_FILE: &str = "link/hot-functions.txt";

/// The first rustc release whose x86_64-unknown-linux-gnu target links with lld by default.
const LLD_BY_DEFAULT_SINCE: (u32, u32) = (1, 90);

const SCHEMA_DIR: &str = "schemas";

fn main() {
    embed_schemas();
    lay_out_hot_code();
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

/// Hands `link/hot-functions.txt` to lld when lld links the release binary.
fn lay_out_hot_code() {
    println!("cargo::rerun-if-changed={ORDER_FILE}");
    println!("cargo::rerun-if-env-changed=RUSTC_LINKER");
    println!("cargo::rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    if !links_with_default_lld() {
        return;
    }
    let Ok(manifest_dir) = env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    let order_file = Path::new(&manifest_dir).join(ORDER_FILE);
    let Some(order_file) = order_file.to_str().filter(|_| order_file.is_file()) else {
        return;
    };
    // One argument each, so a path with a comma or a space reaches lld whole.
    for argument in ["-Xlinker", &format!("--symbol-ordering-file={order_file}")]
        .into_iter()
        .chain(["-Xlinker", "--no-warn-symbol-ordering"])
    {
        println!("cargo::rustc-link-arg-bin=kindling={argument}");
    }
}

/// Whether this is a release build that rustc links with its own lld.
fn links_with_default_lld() -> bool {
    let var = |name: &str| env::var(name).unwrap_or_default();
    let linker_chosen = env::var_os("RUSTC_LINKER").is_some()
        || var("CARGO_ENCODED_RUSTFLAGS").split('\x1f').any(|flag| {
            flag.contains("linker")
                || flag.contains("link-self-contained")
                || flag.contains("fuse-ld")
        });
    var("PROFILE") == "release"
        && var("TARGET") == "x86_64-unknown-linux-gnu"
        && !linker_chosen
        && rustc_version().is_some_and(|version| version >= LLD_BY_DEFAULT_SINCE)
}

/// The (major, minor) version of the rustc Cargo builds with.
fn rustc_version() -> Option<(u32, u32)> {
    let rustc = env::var_os("RUSTC")?;
    let output = Command::new(rustc).arg("-vV").output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let release = text
        .lines()
        .find_map(|line| line.strip_prefix("release: "))?;
    let mut parts = release.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}
