//! Butane snippets joined to the profile's output: each snippet the spec names is read and
//! translated once, then merged into every node that uses it with Ignition's merge (the
//! profile's config is the parent, each snippet a child, in the spec's order).
//!
//! A snippet may add anything. It may not silently take over what the profile generates (a
//! file, directory or link path, a unit, a drop-in, a user): that is an error naming both
//! origins, unless the snippet's entry in the spec lists it under `replaces`. A finding about
//! the merged config that stems from a snippet points at the snippet's own line.

use crate::json::Lookup;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::butane::{self, Translation};
use crate::diag::{Diagnostic, Location, Report, SourceFile, Span};
use crate::ignition::{Assembled, SpecVersion, merge};
use crate::resolve::{Cluster, Replaced, SnippetRef};

/// Every snippet the rendered nodes use, translated, by path.
#[derive(Debug, Default)]
pub struct Snippets {
    by_path: BTreeMap<PathBuf, Translation>,
}

impl Snippets {
    fn get(&self, path: &Path) -> Option<&Translation> {
        self.by_path.get(path)
    }
}

/// Reads and translates each snippet the nodes `wanted` use (once, however many nodes use
/// it). Returns the snippets and their warnings; any error fails the whole load.
pub fn load(
    cluster: &Cluster,
    wanted: impl Fn(&str) -> bool,
) -> Result<(Snippets, Report), Report> {
    let mut snippets = Snippets::default();
    let mut report = Report::default();
    let ca_key = ca_key_der(cluster);
    let references = cluster
        .nodes
        .iter()
        .filter(|node| wanted(&node.name))
        .flat_map(|node| &node.snippets);
    // Each snippet is read once, whether it translates or not: a broken one shared by every
    // node is one error, not one per node.
    let mut seen = std::collections::HashSet::new();
    for reference in references {
        if !seen.insert(reference.path.clone()) {
            continue;
        }
        match translate(reference, cluster.ignition) {
            Ok(translation) if let Some(path) = carries_key(&translation.config, &ca_key) => {
                report.push(
                    Diagnostic::at(
                        "snippet.ca-key",
                        format!(
                            "snippet {} puts the cluster CA's private key ({}) into {path} on every node that uses it",
                            reference.shown,
                            cluster.tls.paths.ca().key.display()
                        ),
                        &reference.span,
                    )
                    .with_help("whoever reads one node config (Matchbox serves them without authentication) could issue certificates every member trusts: keep ca.key off the nodes"),
                );
            }
            Ok(translation) => {
                report.extend(translation.warnings.clone());
                snippets.by_path.insert(reference.path.clone(), translation);
            }
            Err(errors) => report.extend(errors),
        }
    }
    if report.has_errors() {
        return Err(report);
    }
    Ok((snippets, report))
}

/// The DER of every private-key block in the cluster's `ca.key` (none when it is absent:
/// a cluster whose CA key is kept elsewhere).
fn ca_key_der(cluster: &Cluster) -> Vec<Vec<u8>> {
    let path = cluster.tls.paths.ca().key;
    crate::read::text(&path, crate::read::SPEC_LIMIT)
        .map(|text| private_key_ders(&text))
        .unwrap_or_default()
}

fn private_key_ders(text: &str) -> Vec<Vec<u8>> {
    crate::tls::keys::pem_blocks(text)
        .into_iter()
        .filter(|block| block.label.ends_with("PRIVATE KEY"))
        .filter_map(|block| block.der)
        .collect()
}

/// The path of the first file whose inline contents (or an appended part) hold one of the
/// keys `secrets`.
fn carries_key(config: &Value, secrets: &[Vec<u8>]) -> Option<String> {
    if secrets.is_empty() {
        return None;
    }
    let files = config.at("/storage/files")?.as_array()?;
    files.iter().find_map(|file| {
        let sources = std::iter::once(file.at("/contents/source"))
            .chain(
                file.at("/append")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|part| part.at("/source")),
            )
            .flatten()
            .filter_map(Value::as_str);
        let carries = sources
            .filter_map(|source| crate::ignition::dataurl::decode(source).ok())
            .filter_map(|bytes| String::from_utf8(bytes).ok())
            .any(|text| {
                private_key_ders(&text)
                    .iter()
                    .any(|der| secrets.contains(der))
            });
        carries
            .then(|| file.at("/path").and_then(Value::as_str).map(str::to_string))
            .flatten()
    })
}

fn translate(reference: &SnippetRef, output: SpecVersion) -> Result<Translation, Report> {
    let text = crate::read::text(&reference.path, crate::read::SPEC_LIMIT).map_err(|error| {
        Diagnostic::at(
            "snippet.unreadable",
            format!("cannot read snippet {}: {error}", reference.shown),
            &reference.span,
        )
        .with_help("snippet paths are relative to the spec's directory")
    })?;
    let source = SourceFile::named_by_spec(&reference.path, text);
    let options = butane::Options {
        files_dir: reference.path.parent().map(Path::to_path_buf),
    };
    let translation = butane::translate(&source, &options)?;
    if translation.version > output {
        return Err(Diagnostic::at(
            "snippet.version",
            format!(
                "snippet {} translates to Ignition {}, newer than the {} this cluster renders",
                reference.shown,
                translation.version.as_str(),
                output.as_str()
            ),
            &reference.span,
        )
        .with_help("use a Butane version that gives the cluster's Ignition version or an older one (flatcar 1.0.0 gives 3.3.0, flatcar 1.1.0 gives 3.4.0), or raise cluster.ignition")
        .into());
    }
    if translation
        .config
        .at("/ignition/config/replace/source")
        .is_some_and(|s| !s.is_null())
    {
        return Err(Diagnostic::at(
            "snippet.replace-config",
            format!(
                "snippet {} replaces the whole config at boot (ignition.config.replace)",
                reference.shown
            ),
            &reference.span,
        )
        .with_help("the node would boot without the etcd the profile sets up: merge the remote config instead (ignition.config.merge)")
        .into());
    }
    Ok(translation)
}

/// A node's config with its snippets merged in, and where each merged part came from.
pub struct Merged<'a> {
    pub config: Value,
    /// The translations merged in, in order.
    used: Vec<&'a Translation>,
}

impl Merged<'_> {
    /// The snippet line a finding at a path of the merged config stems from, if a snippet
    /// wrote that part (the last one that did, as the merge keeps its values).
    pub fn source_of(&self, path: &str) -> Option<(String, Span)> {
        let segments: Vec<&str> = path.strip_prefix("$.")?.split('.').collect();
        self.used.iter().rev().find_map(|translation| {
            let inner = path_in(&self.config, &translation.config, &segments)?;
            translation.places.source_of(&inner)
        })
    }
}

/// Merges the node's snippets into its profile output `config`, after checking that none
/// takes over a generated part it does not name in `replaces`.
pub fn merge_node<'a>(
    node: &str,
    profile: &str,
    config: Value,
    assembled: &Assembled,
    references: &'a [SnippetRef],
    snippets: &'a Snippets,
) -> Result<Merged<'a>, Report> {
    if references.is_empty() {
        return Ok(Merged {
            config,
            used: Vec::new(),
        });
    }
    let generated = parts(&config);
    let mut report = Report::default();
    let mut used = Vec::new();
    for reference in references {
        let Some(translation) = snippets.get(&reference.path) else {
            continue;
        };
        let written = parts(&translation.config);
        for (part, snippet_path) in &written {
            let Some((_, profile_path)) = generated.iter().find(|(p, _)| p == part) else {
                continue;
            };
            if reference.replaces.iter().any(|(named, _)| named == part) {
                continue;
            }
            report.push(conflict(
                node,
                profile,
                part,
                reference,
                translation,
                snippet_path,
                assembled.origin_of(profile_path),
            ));
        }
        for (named, span) in &reference.replaces {
            let in_profile = generated.iter().any(|(p, _)| p == named);
            let in_snippet = written.iter().any(|(p, _)| p == named);
            if !(in_profile && in_snippet) {
                report.push(unused_replace(node, named, span, reference, in_profile));
            }
        }
        used.push(translation);
    }
    if report.has_errors() {
        return Err(report);
    }
    let version = config.at("/ignition/version").cloned();
    let mut merged = references
        .iter()
        .filter_map(|reference| Some((reference, snippets.get(&reference.path)?)))
        .fold(config, |mut parent, (reference, translation)| {
            for (part, _) in &reference.replaces {
                remove_part(&mut parent, part);
            }
            merge::merge(parent, translation.config.clone())
        });
    // The snippets' own versions are older or equal: the node keeps the cluster's.
    if let (Some(version), Some(ignition)) = (
        version,
        merged.get_mut("ignition").and_then(Value::as_object_mut),
    ) {
        ignition.insert("version".into(), version);
    }
    Ok(Merged {
        config: merged,
        used,
    })
}

fn conflict(
    node: &str,
    profile: &str,
    part: &Replaced,
    reference: &SnippetRef,
    translation: &Translation,
    snippet_path: &str,
    profile_origin: Option<&str>,
) -> Diagnostic {
    let location = match translation.places.source_of(snippet_path) {
        Some((yaml, span)) => Location::Json {
            path: yaml,
            origin: None,
            span: Some(span),
        },
        None => Location::Source(reference.span.clone()),
    };
    let from = profile_origin.map_or_else(String::new, |origin| format!(", from {origin}"));
    Diagnostic::error(
        "snippet.conflict",
        format!(
            "snippet {} redefines {part}, which profile {profile} generates for node {node}{from}",
            reference.shown
        ),
        location,
    )
    .with_help(format!(
        "rename it, or say the snippet replaces it on purpose: in the spec (line {}), write {{ path: {}, replaces: [{part}] }}",
        reference.span.line, reference.shown
    ))
}

fn unused_replace(
    node: &str,
    named: &Replaced,
    span: &Span,
    reference: &SnippetRef,
    in_profile: bool,
) -> Diagnostic {
    let message = if in_profile {
        format!(
            "snippet {} is said to replace {named}, but it does not define it",
            reference.shown
        )
    } else {
        format!(
            "snippet {} is said to replace {named}, but the profile does not generate it for node {node}",
            reference.shown
        )
    };
    Diagnostic::at("snippet.replaces-unused", message, span)
        .with_help("list only what the snippet takes over from the profile; `kindling show` prints what a node's config holds")
}

/// Empties a part the snippet replaces before the merge, down to what identifies it (a
/// file's path, a user's name), so the snippet's version stands alone where the profile's
/// stood: Ignition's merge would otherwise keep the fields the snippet does not set (a
/// file's mode, a unit's `enabled`) and append to lists (a user's SSH keys). A unit keeps
/// its drop-ins, which are parts of their own.
fn remove_part(config: &mut Value, part: &Replaced) {
    let strip = |entries: Vec<&mut Value>, identity: &[&str]| {
        for entry in entries {
            if let Some(fields) = entry.as_object_mut() {
                fields.retain(|key, _| identity.contains(&key.as_str()));
            }
        }
    };
    match part {
        Replaced::Path(path) => {
            for list in ["files", "directories", "links"] {
                let pointer = format!("/storage/{list}");
                strip(entries_named(config, &pointer, "path", path), &["path"]);
            }
        }
        Replaced::User(user) => {
            strip(
                entries_named(config, "/passwd/users", "name", user),
                &["name"],
            );
        }
        Replaced::Unit(unit) => {
            strip(
                entries_named(config, "/systemd/units", "name", unit),
                &["name", "dropins"],
            );
        }
        Replaced::Dropin { unit, name } => {
            for entry in entries_named(config, "/systemd/units", "name", unit) {
                strip(entries_named(entry, "/dropins", "name", name), &["name"]);
            }
        }
    }
}

/// The entries of the list at `pointer` whose `key` is `value`.
fn entries_named<'v>(
    config: &'v mut Value,
    pointer: &str,
    key: &str,
    value: &str,
) -> Vec<&'v mut Value> {
    config
        .pointer_mut(pointer)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter(|entry| entry.get(key).and_then(Value::as_str) == Some(value))
        .collect()
}

/// The parts of a config a snippet could take over, with their JSON paths. A unit counts
/// as a part when the config sets more than its drop-ins (its contents, `enabled` or
/// `mask`); in a snippet, a unit entry that only adds drop-ins leaves the unit alone.
fn parts(config: &Value) -> Vec<(Replaced, String)> {
    let mut found = Vec::new();
    for list in ["files", "directories", "links"] {
        for (index, entry) in entries(config, &format!("/storage/{list}")) {
            if let Some(path) = entry.get("path").and_then(Value::as_str) {
                found.push((
                    Replaced::Path(path.to_string()),
                    format!("$.storage.{list}.{index}"),
                ));
            }
        }
    }
    for (index, unit) in entries(config, "/systemd/units") {
        let Some(name) = unit.get("name").and_then(Value::as_str) else {
            continue;
        };
        let sets_unit = unit
            .as_object()
            .is_some_and(|fields| fields.keys().any(|k| k != "name" && k != "dropins"));
        if sets_unit {
            found.push((
                Replaced::Unit(name.to_string()),
                format!("$.systemd.units.{index}"),
            ));
        }
        for (dropin_index, dropin) in entries(unit, "/dropins") {
            if let Some(dropin_name) = dropin.get("name").and_then(Value::as_str) {
                found.push((
                    Replaced::Dropin {
                        unit: name.to_string(),
                        name: dropin_name.to_string(),
                    },
                    format!("$.systemd.units.{index}.dropins.{dropin_index}"),
                ));
            }
        }
    }
    for (index, user) in entries(config, "/passwd/users") {
        if let Some(name) = user.get("name").and_then(Value::as_str) {
            found.push((
                Replaced::User(name.to_string()),
                format!("$.passwd.users.{index}"),
            ));
        }
    }
    found
}

fn entries<'v>(value: &'v Value, pointer: &str) -> impl Iterator<Item = (usize, &'v Value)> {
    value
        .at(pointer)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
}

/// Maps a path of the merged config to the same place in a snippet's config, following
/// list entries by their identity (a file by its path, a unit by its name). None when the
/// snippet did not write the outermost list entry on the path.
fn path_in(merged: &Value, snippet: &Value, segments: &[&str]) -> Option<String> {
    let mut out = String::from("$");
    let mut shape: Vec<&str> = Vec::new();
    let (mut in_merged, mut in_snippet) = (merged, snippet);
    let mut matched_entry = false;
    for segment in segments {
        match (in_merged, in_snippet) {
            (Value::Array(merged_items), Value::Array(snippet_items)) => {
                let entry = merged_items.get(segment.parse::<usize>().ok()?)?;
                let list = shape.join(".");
                let id = merge::identity(&list, entry);
                let found = id.and_then(|id| {
                    snippet_items
                        .iter()
                        .position(|item| merge::identity(&list, item).as_ref() == Some(&id))
                });
                match found {
                    Some(index) => {
                        out.push_str(&format!(".{index}"));
                        matched_entry = true;
                        in_merged = entry;
                        in_snippet = &snippet_items[index];
                    }
                    None => break,
                }
            }
            (Value::Object(merged_fields), Value::Object(snippet_fields)) => {
                match (merged_fields.get(*segment), snippet_fields.get(*segment)) {
                    (Some(m), Some(s)) => {
                        out.push_str(&format!(".{segment}"));
                        shape.push(segment);
                        in_merged = m;
                        in_snippet = s;
                    }
                    _ => break,
                }
            }
            _ => break,
        }
    }
    matched_entry.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_follow_entries_by_identity() {
        let merged = json!({"storage": {"files": [
            {"path": "/a"}, {"path": "/b", "mode": 420}]}});
        let snippet = json!({"storage": {"files": [{"path": "/b", "mode": 420}]}});
        let segments = ["storage", "files", "1", "mode"];
        assert_eq!(
            path_in(&merged, &snippet, &segments).as_deref(),
            Some("$.storage.files.0.mode")
        );
        let profile_file = ["storage", "files", "0", "mode"];
        assert_eq!(path_in(&merged, &snippet, &profile_file), None);
    }

    #[test]
    fn a_unit_that_only_adds_dropins_is_not_taken_over() {
        let config = json!({"systemd": {"units": [
            {"name": "etcd.service", "dropins": [{"name": "10-x.conf"}]},
            {"name": "a.service", "enabled": true}]}});
        let found: Vec<String> = parts(&config)
            .into_iter()
            .map(|(part, _)| part.to_string())
            .collect();
        assert_eq!(found, vec!["etcd.service.d/10-x.conf", "a.service"]);
    }
}
