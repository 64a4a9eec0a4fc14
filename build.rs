//! Lays out the release binary's hot code together.
//!
//! A run of `render` executes about 1,000 functions, 2 MB of the 7 MB of machine code, spread
//! over almost all of it, and the kernel maps each page of code a run touches together with
//! its neighbours (64 KiB around it): scattered hot code costs resident memory, page faults
//! and time. `link/hot-functions.txt` (made by `link/order.py`) lists the functions the common
//! commands execute; lld places them first, in that order.
//!
//! Only lld understands `--symbol-ordering-file` (GNU ld refuses it), so the list is passed
//! only when lld is sure to be the linker: a release build for x86_64-unknown-linux-gnu by
//! rustc 1.90 or later (which links with its own lld there), with no linker chosen in Cargo's
//! configuration or RUSTFLAGS. Otherwise the binary is the same, laid out in compiler order.

use std::env;
use std::path::Path;
use std::process::Command;

const ORDER_FILE: &str = "link/hot-functions.txt";

/// The first rustc release whose x86_64-unknown-linux-gnu target links with lld by default.
const LLD_BY_DEFAULT_SINCE: (u32, u32) = (1, 90);

fn main() {
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
