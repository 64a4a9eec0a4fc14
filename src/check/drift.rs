//! `--golden DIR`: the configs committed for the cluster must be exactly what the spec
//! renders now. Any difference is reported with a readable line diff of the decoded file
//! contents, in which private key material is never shown.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::RenderedNode;
use crate::diag::{Diagnostic, Location, Report};
use crate::ignition::dataurl;
use crate::read;

/// Compares each rendered node with `dir/<node>.ign`, and reports configs in `dir` that no
/// node renders any more. Only regular files are read (a symlink could point anywhere, and
/// whatever it points at would be printed in the diff).
pub fn compare(nodes: &[RenderedNode], dir: &Path) -> Report {
    let mut report = Report::default();
    for node in nodes {
        let path = dir.join(format!("{}.ign", node.name));
        let committed = match read::regular_text(&path, read::CONFIG_LIMIT) {
            Ok(text) => text,
            Err(read::ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                report.push(
                    Diagnostic::error(
                        "drift.missing",
                        format!("no committed config for {}", node.name),
                        Location::File(path),
                    )
                    .with_help("render it and commit the result"),
                );
                continue;
            }
            Err(e) => {
                report.push(
                    Diagnostic::error(
                        "drift.unreadable",
                        format!("cannot compare the committed config of {}: {e}", node.name),
                        Location::File(path),
                    )
                    .with_help("commit the rendered config itself as a regular file"),
                );
                continue;
            }
        };
        if committed == node.json {
            continue;
        }
        report.push(changed(&node.name, path, &committed, &node.json));
    }
    report.extend(stale(nodes, dir));
    report
}

fn changed(node: &str, path: std::path::PathBuf, committed: &str, rendered: &str) -> Diagnostic {
    let difference = match serde_json::from_str::<Value>(committed) {
        Ok(_) => line_diff(&readable(committed), &readable(rendered)),
        // A broken file is described, never quoted: its bytes may be anything, keys included.
        Err(e) => format!(
            "   the committed file is not valid JSON (line {}, column {}), so it is not shown\n",
            e.line(),
            e.column()
        ),
    };
    Diagnostic::error(
        "drift.changed",
        format!(
            "the committed config of {node} differs from what the spec renders now:\n{difference}"
        ),
        Location::File(path),
    )
    .with_help("render again and commit the result, or revert the spec change that caused it")
}

/// `*.ign` files in `dir` that no node of the spec renders (a removed node's config).
fn stale(nodes: &[RenderedNode], dir: &Path) -> Report {
    let expected: BTreeSet<String> = nodes.iter().map(|n| format!("{}.ign", n.name)).collect();
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.ends_with(".ign") && !name.starts_with('.') && !expected.contains(name))
        .collect();
    names.sort();
    let diagnostics = names
        .into_iter()
        .map(|name| {
            Diagnostic::error(
                "drift.stale",
                format!("{name} is committed, but the spec has no node that renders it"),
                Location::File(dir.join(&name)),
            )
            .with_help("delete the config of a node that left the cluster, or add the node back")
        })
        .collect();
    Report { diagnostics }
}

/// A config as lines a person can diff: each file's path, mode and owner, then its decoded
/// contents, each unit's and drop-in's contents, then the rest of the config. PEM blocks
/// are replaced by a fingerprint (see `redact_pem`); every line is also scrubbed by content
/// when it is printed.
fn readable(json: &str) -> Vec<String> {
    let Ok(mut config) = serde_json::from_str::<Value>(json) else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    if let Some(files) = config
        .pointer_mut("/storage/files")
        .and_then(Value::as_array_mut)
    {
        for file in files.iter_mut() {
            lines.push(file_header(file));
            let source = file.pointer("/contents/source").and_then(Value::as_str);
            lines.extend(source_lines(source));
            if let Some(contents) = file.get_mut("contents").and_then(Value::as_object_mut) {
                contents.remove("source");
            }
        }
    }
    if let Some(units) = config
        .pointer_mut("/systemd/units")
        .and_then(Value::as_array_mut)
    {
        for unit in units.iter_mut() {
            let name = unit["name"].as_str().unwrap_or("?").to_string();
            take_contents(unit, &format!("unit {name}"), &mut lines);
            if let Some(dropins) = unit.get_mut("dropins").and_then(Value::as_array_mut) {
                for dropin in dropins.iter_mut() {
                    let dropin_name = dropin["name"].as_str().unwrap_or("?").to_string();
                    take_contents(dropin, &format!("drop-in {name}/{dropin_name}"), &mut lines);
                }
            }
        }
    }
    let rest = serde_json::to_string_pretty(&config).unwrap_or_default();
    lines.extend(rest.lines().map(str::to_string));
    lines
}

fn file_header(file: &Value) -> String {
    let owner = |key: &str| {
        file[key]["id"]
            .as_u64()
            .map(|id| format!(" {key} {id}"))
            .unwrap_or_default()
    };
    format!(
        "file {} mode {:o}{}{}",
        file["path"].as_str().unwrap_or("?"),
        file["mode"].as_u64().unwrap_or(0o644),
        owner("user"),
        owner("group")
    )
}

/// The decoded contents of a file source, indented; a source that does not decode is
/// described, not shown.
fn source_lines(source: Option<&str>) -> Vec<String> {
    let Some(source) = source else {
        return Vec::new();
    };
    if !source.starts_with("data:") {
        return vec![format!("  source {source}")];
    }
    match dataurl::decode(source) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => indented(&redact_pem(&text)),
            Err(e) => vec![format!(
                "  [binary contents, {} bytes, fingerprint {}]",
                e.as_bytes().len(),
                fingerprint(e.as_bytes())
            )],
        },
        Err(_) => vec![format!(
            "  [a data URL that does not decode, {} bytes, fingerprint {}]",
            source.len(),
            fingerprint(source.as_bytes())
        )],
    }
}

fn take_contents(entry: &mut Value, title: &str, lines: &mut Vec<String>) {
    if let Some(Value::String(contents)) = entry.as_object_mut().and_then(|o| o.remove("contents"))
    {
        lines.push(title.to_string());
        lines.extend(indented(&redact_pem(&contents)));
    }
}

fn indented(text: &str) -> Vec<String> {
    text.lines().map(|l| format!("  {l}")).collect()
}

/// Every PEM block replaced by one line with its fingerprint: certificates named as such,
/// anything else (a private key, or a block whose label was edited) redacted. An
/// unterminated block is redacted to the end of the text.
fn redact_pem(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(begin) = rest.find("-----BEGIN") {
        out.push_str(&rest[..begin]);
        let block = &rest[begin..];
        let end = match block.find("-----END") {
            Some(at) => block[at + 8..]
                .find("-----")
                .map_or(block.len(), |close| at + 8 + close + 5),
            None => block.len(),
        };
        let (pem, after) = block.split_at(end);
        let is_certificate = pem.starts_with("-----BEGIN CERTIFICATE-----")
            && pem.ends_with("-----END CERTIFICATE-----");
        let what = if is_certificate {
            "certificate"
        } else if pem
            .lines()
            .next()
            .is_some_and(|l| l.contains("PRIVATE KEY"))
        {
            "private key redacted"
        } else {
            "PEM block redacted"
        };
        out.push_str(&format!(
            "[{what}, fingerprint {}]",
            fingerprint(pem.as_bytes())
        ));
        rest = after;
    }
    out.push_str(rest);
    out
}

/// A short, non-reversible tag that changes when the bytes change (the first 8 hex digits of
/// their SHA-256): enough to see "this key was replaced", nothing about the key.
fn fingerprint(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(bytes)[..4])
}

/// Longest inputs (in lines, each side) the diff compares line by line; beyond that it says
/// how long they are instead.
const MAX_DIFF_LINES: usize = 4000;

/// A unified-style diff (lines prefixed `-`, `+`, or two spaces for context), showing only
/// changed lines with up to two lines of context.
fn line_diff(old: &[String], new: &[String]) -> String {
    let (n, m) = (old.len(), new.len());
    if n > MAX_DIFF_LINES || m > MAX_DIFF_LINES {
        return format!("   ({n} lines committed, {m} rendered: too long to diff here)\n");
    }
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if old[i] == new[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && old[i] == new[j] {
            ops.push((' ', &old[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', &old[i]));
            i += 1;
        } else {
            ops.push(('+', &new[j]));
            j += 1;
        }
    }
    let near_change = |k: usize| {
        ops[k.saturating_sub(2)..(k + 3).min(ops.len())]
            .iter()
            .any(|(op, _)| *op != ' ')
    };
    let mut out = String::new();
    let mut skipped = false;
    for (k, (op, line)) in ops.iter().enumerate() {
        if *op == ' ' && !near_change(k) {
            skipped = true;
            continue;
        }
        if skipped {
            out.push_str("   …\n");
            skipped = false;
        }
        let _ = writeln!(out, " {op} {line}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_shows_changed_lines_with_context() {
        let old: Vec<String> = ["a", "b", "c", "d", "e", "f", "g"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut new = old.clone();
        new[5] = "F".to_string();
        let diff = line_diff(&old, &new);
        assert_eq!(diff, "   …\n   d\n   e\n - f\n + F\n   g\n");
    }

    #[test]
    fn private_keys_never_appear_in_the_readable_form() {
        let key = "-----BEGIN PRIVATE KEY-----\nSECRETSECRET\n-----END PRIVATE KEY-----\n";
        let config = serde_json::json!({"ignition": {"version": "3.4.0"}, "storage": {"files": [{"path": "/k", "mode": 384, "contents": {"source": dataurl::encode(key.as_bytes())}}]}});
        let lines = readable(&config.to_string()).join("\n");
        assert!(!lines.contains("SECRET"), "{lines}");
        assert!(lines.contains("[private key redacted, fingerprint "));
    }
}
