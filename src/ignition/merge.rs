//! Ignition's config merge, on JSON values: what Ignition does with `ignition.config.merge`,
//! what Butane does with the mount units it generates, and what kindling does with snippets.
//!
//! A value set in the child replaces the parent's. Lists of objects that have an identity
//! (files by path, units by name, …) are merged entry by entry: a child entry with the key of
//! a parent entry is merged into it in place, other child entries are appended. Files,
//! directories and links share one key space, so a child link at a parent file's path
//! replaces the file. Lists of plain values are appended without duplicates.

use crate::json::Lookup;
use serde_json::{Map, Value};

/// The field that identifies the entries of the list at `path` (dotted, indices dropped),
/// or nothing for lists whose entries have no identity.
fn list_key(path: &str) -> Option<&'static str> {
    Some(match path {
        "storage.files" | "storage.directories" | "storage.links" => "path",
        "storage.disks" | "storage.filesystems" => "device",
        "storage.raid" | "storage.luks" => "name",
        "systemd.units" | "systemd.units.dropins" => "name",
        "passwd.users" | "passwd.groups" => "name",
        "ignition.config.merge" | "ignition.security.tls.certificateAuthorities" => "source",
        "storage.luks.clevis.tang" => "url",
        "storage.files.contents.httpHeaders" | "storage.files.append.httpHeaders" => "name",
        _ => return None,
    })
}

/// The identity of an entry of the list at `path`: its key field, or for partitions their
/// number, else their label (as Ignition keys them).
pub fn identity(path: &str, entry: &Value) -> Option<Value> {
    if path == "storage.disks.partitions" {
        return match entry.get("number").and_then(Value::as_i64) {
            Some(number) if number != 0 => Some(Value::String(format!("number:{number}"))),
            _ => entry
                .get("label")
                .and_then(Value::as_str)
                .map(|label| Value::String(format!("label:{label}"))),
        };
    }
    entry.get(list_key(path)?).cloned()
}

/// The storage lists that share the path key space.
const NODE_LISTS: [&str; 3] = ["files", "directories", "links"];

/// Merges `child` over `parent`.
pub fn merge(parent: Value, child: Value) -> Value {
    let mut merged = merge_at("", parent, child.clone());
    drop_shadowed_nodes(&mut merged, &child);
    merged
}

fn merge_at(path: &str, parent: Value, child: Value) -> Value {
    match (parent, child) {
        (Value::Object(parent), Value::Object(child)) => {
            Value::Object(merge_objects(path, parent, child))
        }
        (Value::Array(parent), Value::Array(child)) => {
            Value::Array(merge_lists(path, parent, child))
        }
        (_, child) => child,
    }
}

fn merge_objects(
    path: &str,
    mut parent: Map<String, Value>,
    child: Map<String, Value>,
) -> Map<String, Value> {
    for (key, value) in child {
        let inner = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        // In place, so the parent's key order survives the merge.
        match parent.get_mut(&key) {
            Some(existing) => {
                let old = std::mem::take(existing);
                *existing = merge_at(&inner, old, value);
            }
            None => {
                parent.insert(key, value);
            }
        }
    }
    parent
}

fn merge_lists(path: &str, mut parent: Vec<Value>, child: Vec<Value>) -> Vec<Value> {
    let keyed = list_key(path).is_some() || path == "storage.disks.partitions";
    match keyed {
        true => {
            for entry in child {
                let id = identity(path, &entry);
                let found = id.as_ref().and_then(|id| {
                    parent
                        .iter()
                        .position(|p| identity(path, p).as_ref() == Some(id))
                });
                match found {
                    Some(index) => {
                        let existing = std::mem::take(&mut parent[index]);
                        parent[index] = merge_at(path, existing, entry);
                    }
                    None => parent.push(entry),
                }
            }
        }
        false if path.ends_with(".append") => parent.extend(child),
        false => {
            for entry in child {
                if !parent.contains(&entry) {
                    parent.push(entry);
                }
            }
        }
    }
    parent
}

/// Removes a parent's file, directory or link whose path the child claims in another list.
fn drop_shadowed_nodes(merged: &mut Value, child: &Value) {
    let Some(storage) = merged.get_mut("storage").and_then(Value::as_object_mut) else {
        return;
    };
    for list in NODE_LISTS {
        let claimed: Vec<Value> = NODE_LISTS
            .iter()
            .filter(|other| **other != list)
            .flat_map(|other| {
                child
                    .at(&format!("/storage/{other}"))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|entry| entry.get("path").cloned())
            })
            .collect();
        if let Some(entries) = storage.get_mut(list).and_then(Value::as_array_mut) {
            let child_own: Vec<Value> = child
                .at(&format!("/storage/{list}"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|entry| entry.get("path").cloned())
                .collect();
            entries.retain(|entry| {
                entry
                    .get("path")
                    .is_none_or(|p| !claimed.contains(p) || child_own.contains(p))
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keyed_entries_merge_in_place_and_new_ones_append() {
        let parent = json!({"systemd": {"units": [
            {"name": "a.service", "enabled": true, "contents": "A"},
            {"name": "b.service", "contents": "B"}]}});
        let child = json!({"systemd": {"units": [
            {"name": "a.service", "enabled": false},
            {"name": "c.service", "contents": "C"}]}});
        assert_eq!(
            merge(parent, child),
            json!({"systemd": {"units": [
                {"name": "a.service", "enabled": false, "contents": "A"},
                {"name": "b.service", "contents": "B"},
                {"name": "c.service", "contents": "C"}]}})
        );
    }

    #[test]
    fn a_child_link_replaces_a_parent_file_at_its_path() {
        let parent = json!({"storage": {"files": [{"path": "/etc/x"}, {"path": "/etc/y"}]}});
        let child = json!({"storage": {"links": [{"path": "/etc/x", "target": "/z"}]}});
        let merged = merge(parent, child);
        assert_eq!(merged["storage"]["files"], json!([{"path": "/etc/y"}]));
        assert_eq!(merged["storage"]["links"][0]["target"], "/z");
    }

    #[test]
    fn plain_lists_append_without_duplicates() {
        let parent = json!({"passwd": {"users": [{"name": "core", "sshAuthorizedKeys": ["k1"]}]}});
        let child =
            json!({"passwd": {"users": [{"name": "core", "sshAuthorizedKeys": ["k1", "k2"]}]}});
        assert_eq!(
            merge(parent, child)["passwd"]["users"][0]["sshAuthorizedKeys"],
            json!(["k1", "k2"])
        );
    }
}
