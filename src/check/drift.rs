//! `--golden DIR`: the configs committed for the cluster must be exactly what the spec
//! renders now. Any difference is reported with a readable line diff of the decoded file
//! contents, in which private key material is never shown.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::RenderedNode;
use crate::diag::{Diagnostic, Location, Report};
use crate::ignition::dataurl;

/// Compares each rendered node with `dir/<node>.ign`.
pub fn compare(nodes: &[RenderedNode], dir: &Path) -> Report {
    let mut report = Report::default();
    for node in nodes {
        let path = dir.join(format!("{}.ign", node.name));
        let committed = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                report.push(
                    Diagnostic::error(
                        "drift.missing",
                        format!("no committed config for {}: {e}", node.name),
                        Location::File(path),
                    )
                    .with_help("render it and commit the result"),
                );
                continue;
            }
        };
        if committed == node.json {
            continue;
        }
        let diff = line_diff(&readable(&committed), &readable(&node.json));
        report.push(
            Diagnostic::error(
                "drift.changed",
                format!(
                    "the committed config of {} differs from what the spec renders now:\n{diff}",
                    node.name
                ),
                Location::File(path),
            )
            .with_help(
                "render again and commit the result, or revert the spec change that caused it",
            ),
        );
    }
    report
}

/// A config as lines a person can diff: each file's path, mode and owner, then its decoded
/// contents (private keys replaced by a marker saying whether they are the same), then the
/// rest of the config.
fn readable(json: &str) -> Vec<String> {
    let Ok(mut config) = serde_json::from_str::<Value>(json) else {
        return json.lines().map(str::to_string).collect();
    };
    let mut lines = Vec::new();
    if let Some(files) = config
        .pointer_mut("/storage/files")
        .and_then(Value::as_array_mut)
    {
        for file in files.iter_mut() {
            let source = file
                .pointer("/contents/source")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let owner = |key: &str| {
                file[key]["id"]
                    .as_u64()
                    .map(|id| format!(" {key} {id}"))
                    .unwrap_or_default()
            };
            let header = format!(
                "file {} mode {:o}{}{}",
                file["path"].as_str().unwrap_or("?"),
                file["mode"].as_u64().unwrap_or(0o644),
                owner("user"),
                owner("group")
            );
            lines.push(header);
            match dataurl::decode(&source)
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
            {
                Some(text) if text.contains("PRIVATE KEY") => lines.push(format!(
                    "  [private key redacted, fingerprint {}]",
                    fingerprint(&text)
                )),
                Some(text) => lines.extend(text.lines().map(|l| format!("  {l}"))),
                None => lines.push(format!("  source {source}")),
            }
            if let Some(contents) = file.get_mut("contents").and_then(Value::as_object_mut) {
                contents.remove("source");
            }
        }
    }
    let rest = serde_json::to_string_pretty(&config).unwrap_or_default();
    lines.extend(rest.lines().map(str::to_string));
    lines
}

/// A short, non-reversible tag that changes when the key changes (the first 8 hex digits of
/// its SHA-256): enough to see "this key was replaced", nothing about the key.
fn fingerprint(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(text.as_bytes())[..4])
}

/// A unified-style diff (lines prefixed `-`, `+`, or two spaces for context), showing only
/// changed lines with up to two lines of context.
fn line_diff(old: &[String], new: &[String]) -> String {
    let (n, m) = (old.len(), new.len());
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
