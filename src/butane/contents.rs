//! Butane's contents sugar: `inline` and `local` resources become data URLs (encoded and
//! compressed by Butane's rules), `contents_local` fills a unit or drop-in, and
//! `ssh_authorized_keys_local` appends the keys of local files.

use crate::json::Lookup;
use std::io::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use flate2::Compression;
use serde_json::{Map, Value};

use super::walk::{Place, Walker};
use super::yaml::{Entry, Node};

/// Applies the sugar `entries` of one mapping to its translated `out`.
pub(super) fn apply(
    walker: &mut Walker,
    node: &Node,
    entries: &[&Entry],
    place: &Place,
    name: &str,
    out: &mut Map<String, Value>,
) {
    match name {
        "resource" => resource(walker, node, entries, place, out),
        "unit" | "dropin" => unit_contents(walker, node, entries, place, out),
        "user" => ssh_keys(walker, entries, place, out),
        _ => {}
    }
}

fn set<'e>(entries: &[&'e Entry], key: &str) -> Option<&'e Entry> {
    entries
        .iter()
        .copied()
        .find(|entry| entry.key == key && !entry.value.is_null())
}

fn resource(
    walker: &mut Walker,
    node: &Node,
    entries: &[&Entry],
    place: &Place,
    out: &mut Map<String, Value>,
) {
    let inline = set(entries, "inline");
    let local = set(entries, "local");
    let given = [
        inline.is_some(),
        local.is_some(),
        out.contains_key("source"),
    ];
    if given.iter().filter(|set| **set).count() > 1 {
        walker.error_at(
            "butane.exclusive",
            place,
            node,
            "only one of the following can be set: inline, local, source",
        );
        return;
    }
    let (entry, bytes) = if let Some(entry) = inline {
        let Some(text) = string_of(walker, entry, place) else {
            return;
        };
        if place.json.starts_with("$.ignition.config") {
            check_inline_config(walker, entry, place, text.as_bytes());
        }
        (entry, text.into_bytes())
    } else if let Some(entry) = local {
        let Some(bytes) = read_local(walker, entry, place) else {
            return;
        };
        (entry, bytes)
    } else {
        return;
    };
    let inner = place.child("source", &entry.key);
    walker.record(&inner, &entry.value);
    if !walker.target.has_local() {
        out.insert("source".into(), Value::String(plain_url(&bytes)));
        return;
    }
    set_source(out, &bytes);
}

/// Sets a resource's `source` to `bytes` as a data URL by Butane's rules: gzip only when the
/// user left `compression` unset or empty, and `compression` written when it was unset.
pub(super) fn set_source(resource: &mut Map<String, Value>, bytes: &[u8]) {
    let chosen = resource
        .get("compression")
        .and_then(Value::as_str)
        .map(str::to_string);
    let (url, gzipped) = data_url(bytes, chosen.as_deref().is_none_or(str::is_empty));
    resource.insert("source".into(), Value::String(url));
    if chosen.is_none() {
        let compression = if gzipped { "gzip" } else { "" };
        resource.insert("compression".into(), Value::String(compression.into()));
    }
}

/// The scalar text of a sugar entry (a type error otherwise).
fn string_of(walker: &mut Walker, entry: &Entry, place: &Place) -> Option<String> {
    match entry.value.scalar() {
        Some(text) => Some(text.to_string()),
        None => {
            walker.error_at(
                "butane.type",
                &place.child(&entry.key, &entry.key),
                &entry.value,
                format!("cannot unmarshal {} into string", entry.value.yaml_tag()),
            );
            None
        }
    }
}

/// Reads a `local` file under the files dir.
pub(super) fn read_local(walker: &mut Walker, entry: &Entry, place: &Place) -> Option<Vec<u8>> {
    let relative = string_of(walker, entry, place)?;
    read_relative(
        walker,
        &relative,
        &entry.value,
        &place.child(&entry.key, &entry.key),
    )
}

pub(super) fn read_relative(
    walker: &mut Walker,
    relative: &str,
    node: &Node,
    place: &Place,
) -> Option<Vec<u8>> {
    let Some(files_dir) = walker.files_dir else {
        walker.error_at(
            "butane.files-dir",
            place,
            node,
            "local file paths are relative to a files directory that must be specified with -d/--files-dir",
        );
        return None;
    };
    let Some(path) = super::local_path(files_dir, relative) else {
        walker.error_at(
            "butane.files-dir-escape",
            place,
            node,
            "local file path traverses outside the files directory",
        );
        return None;
    };
    match crate::read::bytes(&path, crate::read::CONFIG_LIMIT) {
        Ok(bytes) => Some(bytes),
        Err(error) => {
            walker.error_at(
                "butane.local-unreadable",
                place,
                node,
                format!("cannot read {}: {error}", path.display()),
            );
            None
        }
    }
}

/// An inline merge/replace config must be an Ignition config kindling can read (a local one
/// is taken as it is, as Butane does: it may be produced later).
fn check_inline_config(walker: &mut Walker, entry: &Entry, place: &Place, bytes: &[u8]) {
    let inner = place.child(&entry.key, &entry.key);
    let parsed: Result<Value, _> = serde_json::from_slice(bytes);
    let Ok(config) = parsed else {
        walker.error_at(
            "butane.local-config",
            &inner,
            &entry.value,
            "the inline config is not a valid Ignition config (not JSON)",
        );
        return;
    };
    let version = config
        .at("/ignition/version")
        .and_then(Value::as_str)
        .and_then(crate::ignition::SpecVersion::parse)
        .filter(|version| *version == walker.target.ignition);
    let Some(version) = version else {
        // Butane names the embedded config's `version`, placed on the entry's key.
        walker.warn_at(
            "butane.inline-config-version",
            &place.child("version", "version"),
            entry.key_line,
            entry.key_column,
            format!(
                "skipping validation for the merge/replace Ignition config: its version is not {}",
                walker.target.ignition.as_str()
            ),
        );
        return;
    };
    let errors = crate::validate::validate(&config, version)
        .diagnostics
        .into_iter()
        .filter(|d| d.severity == crate::diag::Severity::Error)
        .count();
    if errors > 0 {
        walker.error_at(
            "butane.local-config",
            &inner,
            &entry.value,
            format!("the inline Ignition config is not valid ({errors} errors; run `kindling validate` on it)"),
        );
    }
}

fn unit_contents(
    walker: &mut Walker,
    node: &Node,
    entries: &[&Entry],
    place: &Place,
    out: &mut Map<String, Value>,
) {
    let Some(entry) = set(entries, "contents_local") else {
        return;
    };
    if out.contains_key("contents") {
        walker.error_at(
            "butane.exclusive",
            place,
            node,
            "only one of the following can be set: contents, contents_local",
        );
        return;
    }
    let Some(bytes) = read_local(walker, entry, place) else {
        return;
    };
    walker.record(&place.child("contents", &entry.key), &entry.value);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    out.insert("contents".into(), Value::String(text));
}

fn ssh_keys(walker: &mut Walker, entries: &[&Entry], place: &Place, out: &mut Map<String, Value>) {
    let Some(entry) = set(entries, "ssh_authorized_keys_local") else {
        return;
    };
    let inner = place.child("sshAuthorizedKeys", &entry.key);
    let super::yaml::Value::Sequence(files) = &entry.value.value else {
        walker.error_at(
            "butane.type",
            &inner,
            &entry.value,
            format!("cannot unmarshal {} into []string", entry.value.yaml_tag()),
        );
        return;
    };
    if walker.files_dir.is_none() {
        walker.error_at(
            "butane.files-dir",
            &inner,
            &entry.value,
            "local file paths are relative to a files directory that must be specified with -d/--files-dir",
        );
        return;
    }
    walker.record(&inner, &entry.value);
    let mut keys: Vec<Value> = match out.remove("sshAuthorizedKeys") {
        Some(Value::Array(keys)) => keys,
        _ => Vec::new(),
    };
    for (index, file) in files.iter().enumerate() {
        let file_place = place.child("sshAuthorizedKeys", &entry.key).index(index);
        let Some(relative) = file.scalar() else {
            walker.error_at(
                "butane.type",
                &file_place,
                file,
                "cannot unmarshal into string",
            );
            continue;
        };
        let Some(bytes) = read_relative(walker, relative, file, &file_place) else {
            continue;
        };
        for line in String::from_utf8_lossy(&bytes).split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if !line.is_empty() {
                let key_place = place.child("sshAuthorizedKeys", &entry.key);
                walker.record(&key_place.index(keys.len()), file);
                keys.push(Value::String(line.to_string()));
            }
        }
    }
    out.insert("sshAuthorizedKeys".into(), Value::Array(keys));
}

/// Bytes Butane keeps unescaped in a plain data URL.
const KEPT: crate::ignition::dataurl::Escapes =
    crate::ignition::dataurl::Escapes::keeping(b"-_.!~*'()");

/// `data:,` and the bytes percent-escaped, as Butane writes them.
pub(super) fn plain_url(bytes: &[u8]) -> String {
    crate::ignition::dataurl::percent_url(bytes, &KEPT)
}

/// The shortest of plain, base64 and (when `may_compress`) gzip+base64, by Butane's rules:
/// base64 only when strictly shorter; gzip only when shorter by more than its 4-byte
/// `compression` field. Returns the URL and whether it is gzipped.
pub(super) fn data_url(bytes: &[u8], may_compress: bool) -> (String, bool) {
    let plain = plain_url(bytes);
    let base64 = format!("data:;base64,{}", STANDARD.encode(bytes));
    let mut best = if base64.len() < plain.len() {
        base64
    } else {
        plain
    };
    let mut gzipped = false;
    if may_compress && let Some(compressed) = gzip(bytes) {
        let candidate = format!("data:;base64,{}", STANDARD.encode(compressed));
        if candidate.len() + 4 < best.len() {
            best = candidate;
            gzipped = true;
        }
    }
    (best, gzipped)
}

/// Gzip at best compression with Go's header (no name, no time, unknown OS).
fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::GzBuilder::new()
        .operating_system(255)
        .write(Vec::new(), Compression::best());
    encoder.write_all(bytes).ok()?;
    encoder.finish().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_urls_escape_as_butane_does() {
        assert_eq!(plain_url(b"a b\n"), "data:,a%20b%0A");
        assert_eq!(plain_url(b"x*'()!~"), "data:,x*'()!~");
    }

    #[test]
    fn the_shortest_encoding_wins() {
        assert_eq!(data_url(b"a", true), ("data:,a".to_string(), false));
        let long = vec![b'x'; 4096];
        let (url, gzipped) = data_url(&long, true);
        assert!(gzipped && url.starts_with("data:;base64,H4sI"));
        assert!(!data_url(&long, false).1);
    }
}
