//! `storage.trees`: every regular file and symlink under a files-dir directory becomes a
//! file or link entry, as Butane walks it (lexical order, symlinks not followed). A file the
//! config already lists without contents gets them; one with contents, or a node of another
//! kind at the same path, is an error.

use crate::json::Lookup;
use std::path::Path;

use serde_json::{Map, Value, json};

use super::contents::set_source;
use super::walk::{Place, Walker};
use super::yaml::Node;

const EXISTS: &str = "matching filesystem node has existing contents or different type";

pub(super) fn apply(walker: &mut Walker, root: &Node, config: &mut Value) {
    if !walker.target.has_local() {
        return;
    }
    let Some(trees) = root.get("storage").and_then(|s| s.get("trees")) else {
        return;
    };
    let super::yaml::Value::Sequence(items) = &trees.value else {
        return;
    };
    for (index, tree) in items.iter().enumerate() {
        let place = Place {
            json: format!("$.storage.trees.{index}"),
            yaml: format!("$.storage.trees.{index}"),
        };
        let Some(files_dir) = walker.files_dir else {
            walker.error_at(
                "butane.files-dir",
                &place,
                tree,
                "local file paths are relative to a files directory that must be specified with -d/--files-dir",
            );
            return;
        };
        let Some(local) = tree
            .get("local")
            .and_then(Node::scalar)
            .filter(|s| !s.is_empty())
        else {
            walker.error_at(
                "butane.tree",
                &place.child("local", "local"),
                tree,
                "local is required",
            );
            continue;
        };
        let Some(base) = super::local_path(files_dir, local) else {
            walker.error_at(
                "butane.files-dir-escape",
                &place,
                tree,
                "local file path traverses outside the files directory",
            );
            continue;
        };
        let destination = tree
            .get("path")
            .and_then(Node::scalar)
            .filter(|s| !s.is_empty())
            .unwrap_or("/")
            .to_string();
        // A symlink at the tree's root is never followed (it could lead anywhere on the
        // machine, such as /etc/ssh): like the reference Butane, the tree becomes that link.
        let root_is_link =
            std::fs::symlink_metadata(&base).is_ok_and(|m| m.file_type().is_symlink());
        match std::fs::metadata(&base) {
            _ if root_is_link => {}
            Err(error) => {
                let message = format!("cannot read {}: {error}", base.display());
                walker.error_at("butane.tree", &place, tree, message);
                continue;
            }
            Ok(meta) if !meta.is_dir() => {
                walker.error_at(
                    "butane.tree",
                    &place,
                    tree,
                    "root of tree must be a directory",
                );
                continue;
            }
            Ok(_) => {}
        }
        let mut tracker = Tracker {
            walker,
            tree,
            place: &place,
            config,
        };
        if root_is_link {
            tracker.link(&base, &destination);
        } else {
            tracker.walk(&base, &destination);
        }
    }
}

struct Tracker<'w, 'a, 'c> {
    walker: &'w mut Walker<'a>,
    tree: &'c Node,
    place: &'c Place,
    config: &'c mut Value,
}

impl Tracker<'_, '_, '_> {
    fn fail(&mut self, message: impl Into<String>) {
        self.walker
            .error_at("butane.tree", self.place, self.tree, message);
    }

    fn walk(&mut self, directory: &Path, destination: &str) {
        let mut names: Vec<_> = match std::fs::read_dir(directory) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|e| e.file_name())
                .collect(),
            Err(error) => {
                self.fail(format!("cannot read {}: {error}", directory.display()));
                return;
            }
        };
        names.sort();
        for name in names {
            let source = directory.join(&name);
            let target = format!(
                "{}/{}",
                destination.trim_end_matches('/'),
                name.to_string_lossy()
            );
            let Ok(meta) = std::fs::symlink_metadata(&source) else {
                self.fail(format!("cannot read {}", source.display()));
                continue;
            };
            if meta.is_dir() {
                self.walk(&source, &target);
            } else if meta.is_file() {
                self.file(&source, &target, &meta);
            } else if meta.file_type().is_symlink() {
                self.link(&source, &target);
            } else {
                self.fail(format!(
                    "{} is not a file, directory or symlink",
                    source.display()
                ));
            }
        }
    }

    fn list(&mut self, name: &str) -> &mut Vec<Value> {
        let storage = self
            .config
            .as_object_mut()
            .map(|c| c.entry("storage").or_insert_with(|| json!({})));
        let storage = storage.and_then(Value::as_object_mut);
        let list = storage.map(|s| s.entry(name.to_string()).or_insert_with(|| json!([])));
        match list {
            Some(Value::Array(list)) => list,
            _ => unreachable!("the walk builds storage lists as arrays"),
        }
    }

    fn index_of(&mut self, list: &str, path: &str) -> Option<usize> {
        self.list(list)
            .iter()
            .position(|entry| entry.get("path").and_then(Value::as_str) == Some(path))
    }

    fn taken_elsewhere(&mut self, lists: [&str; 2], path: &str) -> bool {
        lists.iter().any(|list| self.index_of(list, path).is_some())
    }

    fn file(&mut self, source: &Path, path: &str, meta: &std::fs::Metadata) {
        let index = match self.index_of("files", path) {
            Some(index) => {
                let existing = &self.list("files")[index];
                if existing
                    .at("/contents/source")
                    .is_some_and(|s| !s.is_null())
                {
                    return self.fail(EXISTS);
                }
                index
            }
            None => {
                if self.taken_elsewhere(["directories", "links"], path) {
                    return self.fail(EXISTS);
                }
                let files = self.list("files");
                files.push(json!({"path": path}));
                files.len() - 1
            }
        };
        let bytes = match crate::read::bytes(source, crate::read::CONFIG_LIMIT) {
            Ok(bytes) => bytes,
            Err(error) => return self.fail(format!("cannot read {}: {error}", source.display())),
        };
        let json_place = format!("$.storage.files.{index}");
        self.walker.places.add(
            &json_place,
            &self.place.yaml,
            self.tree.line,
            self.tree.column,
        );
        let entry = &mut self.list("files")[index];
        let Some(entry) = entry.as_object_mut() else {
            return;
        };
        let contents = entry
            .entry("contents")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(contents) = contents {
            set_source(contents, &bytes);
        }
        if !entry.contains_key("mode") {
            use std::os::unix::fs::PermissionsExt as _;
            let executable = meta.permissions().mode() & 0o111 != 0;
            entry.insert("mode".into(), json!(if executable { 0o755 } else { 0o644 }));
        }
    }

    fn link(&mut self, source: &Path, path: &str) {
        let index = match self.index_of("links", path) {
            Some(index) => {
                if self.list("links")[index]
                    .get("target")
                    .is_some_and(|t| !t.is_null())
                {
                    return self.fail(EXISTS);
                }
                index
            }
            None => {
                if self.taken_elsewhere(["files", "directories"], path) {
                    return self.fail(EXISTS);
                }
                let links = self.list("links");
                links.push(json!({"path": path}));
                links.len() - 1
            }
        };
        let target = match std::fs::read_link(source) {
            Ok(target) => target.to_string_lossy().into_owned(),
            Err(error) => return self.fail(format!("cannot read {}: {error}", source.display())),
        };
        let json_place = format!("$.storage.links.{index}");
        self.walker.places.add(
            &json_place,
            &self.place.yaml,
            self.tree.line,
            self.tree.column,
        );
        if let Some(entry) = self.list("links")[index].as_object_mut() {
            entry.insert("target".into(), Value::String(target));
        }
    }
}
