//! The lists Ignition treats as sets. Its validator rejects a second entry with the key of
//! an earlier one in every list of the config, except the few it exempts (file `append`,
//! LUKS, RAID and filesystem `options`, filesystem `mountOptions`): resources are keyed by
//! their source, Tang servers by URL, and lists of strings by the string itself. The lists
//! other rule modules already key (nodes, units, users, disks, filesystems, LUKS volumes,
//! HTTP headers, kernel arguments, SSH keys) are checked there; these are the rest.

use std::collections::HashSet;

use serde_json::Value;

use super::duplicate;
use crate::diag::Diagnostic;
use crate::ignition::SpecVersion;
use crate::json::Lookup;

/// How a list's entries are keyed.
#[derive(Clone, Copy)]
enum Key {
    /// The entry itself (a list of strings).
    Itself,
    /// A member of the entry (missing: the empty key).
    Member(&'static str),
}

/// The list's path (`*` for every entry of a list on the way), its key, what an entry is,
/// and the first spec version that has the list.
const SETS: [(&[&str], Key, &str, SpecVersion); 7] = [
    (
        &["ignition", "config", "merge"],
        Key::Member("source"),
        "merged config",
        SpecVersion::V3_0,
    ),
    (
        &["ignition", "security", "tls", "certificateAuthorities"],
        Key::Member("source"),
        "certificate authority",
        SpecVersion::V3_0,
    ),
    (
        &["ignition", "proxy", "noProxy"],
        Key::Itself,
        "noProxy entry",
        SpecVersion::V3_1,
    ),
    (
        &["passwd", "users", "*", "groups"],
        Key::Itself,
        "group of the user",
        SpecVersion::V3_0,
    ),
    (
        &["storage", "raid", "*", "devices"],
        Key::Itself,
        "RAID device",
        SpecVersion::V3_0,
    ),
    (
        &["storage", "luks", "*", "clevis", "tang"],
        Key::Member("url"),
        "Tang server",
        SpecVersion::V3_2,
    ),
    (
        &["storage", "luks", "*", "openOptions"],
        Key::Itself,
        "open option",
        SpecVersion::V3_4,
    ),
];

pub fn check(config: &Value, version: SpecVersion, findings: &mut Vec<Diagnostic>) {
    for (path, key, what, since) in SETS {
        if version < since {
            continue;
        }
        for (at, list) in lists(config, path, String::from("$")) {
            let mut seen = HashSet::new();
            for (index, entry) in list.iter().enumerate() {
                let key = match key {
                    Key::Itself => entry
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| entry.to_string()),
                    Key::Member(name) => entry
                        .member(name)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                };
                if !seen.insert(key) {
                    findings.push(duplicate("ign.duplicate", format!("{at}.{index}"), what));
                }
            }
        }
    }
}

/// Every list at `path` under `value`, with its JSON path.
fn lists<'v>(value: &'v Value, path: &[&str], at: String) -> Vec<(String, &'v Vec<Value>)> {
    match path {
        [] => value
            .as_array()
            .map(|list| vec![(at, list)])
            .unwrap_or_default(),
        ["*", rest @ ..] => value
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .flat_map(|(index, entry)| lists(entry, rest, format!("{at}.{index}")))
            .collect(),
        [name, rest @ ..] => value
            .member(name)
            .map(|child| lists(child, rest, format!("{at}.{name}")))
            .unwrap_or_default(),
    }
}
