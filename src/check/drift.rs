//! `--golden DIR`: the configs committed for the cluster must be exactly what the spec
//! renders now. Any difference is reported with a readable line diff of the decoded file
//! contents, in which private key material is never shown.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::RenderedNode;
use crate::diag::{Diagnostic, Location, Report};
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
        if let Some(warning) = risky_upgrade(&node.name, &path, &committed, &node.json) {
            report.push(warning);
        }
        report.push(changed(&node.name, path, &committed, &node.json));
    }
    report.extend(stale(nodes, dir));
    report
}

/// The etcd release a config installs, read from its sysext image path
/// (`/opt/extensions/etcd/etcd-v3.5.21-x86-64.raw`): (minor, patch).
fn etcd_release(config: &str) -> Option<(u32, u32)> {
    let marker = format!(
        "{}/etcd-v3.",
        crate::resolve::context::ETCD_LAYOUT.image_dir
    );
    let rest = &config[config.find(&marker)? + marker.len()..];
    let (minor, rest) = rest.split_once('.')?;
    let patch: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((minor.parse().ok()?, patch.parse().ok()?))
}

/// A change from a v3.5 patch older than etcd's documented minimum straight to v3.6.
fn risky_upgrade(node: &str, path: &Path, committed: &str, rendered: &str) -> Option<Diagnostic> {
    let first = super::operations::FIRST_3_5_PATCH_FOR_3_6;
    let (5, from_patch) = etcd_release(committed)? else {
        return None;
    };
    let (6, _) = etcd_release(rendered)? else {
        return None;
    };
    if from_patch >= first {
        return None;
    }
    Some(
        Diagnostic::warning(
            "etcd.upgrade-path",
            format!("{node} would go from etcd v3.5.{from_patch} straight to v3.6, and etcd requires v3.5.{first} or later first"),
            Location::File(path.to_path_buf()),
        )
        .with_help(format!("roll out v3.5.{first} or later to every member first, then v3.6 (etcd.io: \"upgrading etcd v3.5 to v3.6\")")),
    )
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

/// A config as lines a person can diff: its readable form (`kindling show`), in which
/// every PEM block is a fingerprint; every line is also scrubbed by content when printed.
fn readable(json: &str) -> Vec<String> {
    let Ok(config) = serde_json::from_str::<Value>(json) else {
        return Vec::new();
    };
    crate::show::render(&config)
        .lines()
        .map(str::to_string)
        .collect()
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
        let source = crate::ignition::dataurl::encode(key.as_bytes());
        let config = serde_json::json!({"ignition": {"version": "3.4.0"}, "storage": {"files": [{"path": "/k", "mode": 384, "contents": {"source": source}}]}});
        let lines = readable(&config.to_string()).join("\n");
        assert!(!lines.contains("SECRET"), "{lines}");
        assert!(lines.contains("[private key redacted, fingerprint "));
    }
}
