//! What a root holds, read back for the differential between the real Ignition and
//! `kindling materialize`: every path with its type, mode, owner, link target and contents.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Directory,
    File(Vec<u8>),
    Symlink(String),
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl std::fmt::Display for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Directory => "directory".to_string(),
            Kind::File(bytes) => format!("file of {} bytes {:?}", bytes.len(), preview(bytes)),
            Kind::Symlink(target) => format!("symlink to {target}"),
            Kind::Other => "special file".to_string(),
        };
        write!(
            f,
            "{kind}, mode {:04o}, owner {}:{}",
            self.mode, self.uid, self.gid
        )
    }
}

fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(60)]).into_owned();
    if bytes.len() > 60 {
        format!("{text}…")
    } else {
        text
    }
}

/// Every entry under `root`, keyed by its absolute path on the node (`/etc/hostname`).
pub fn read(root: &Path) -> BTreeMap<String, Entry> {
    let mut entries = BTreeMap::new();
    walk(root, root, &mut entries);
    entries
}

fn walk(root: &Path, dir: &Path, entries: &mut BTreeMap<String, Entry>) {
    let mut children: Vec<_> = std::fs::read_dir(dir)
        .expect("the root is readable")
        .map(|e| e.expect("an entry").path())
        .collect();
    children.sort();
    for path in children {
        let meta = std::fs::symlink_metadata(&path).expect("metadata");
        let kind = if meta.file_type().is_symlink() {
            Kind::Symlink(
                std::fs::read_link(&path)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            )
        } else if meta.is_dir() {
            Kind::Directory
        } else if meta.is_file() {
            Kind::File(std::fs::read(&path).unwrap())
        } else {
            Kind::Other
        };
        let node_path = format!("/{}", path.strip_prefix(root).unwrap().display());
        let is_dir = kind == Kind::Directory;
        entries.insert(
            node_path,
            Entry {
                kind,
                mode: meta.permissions().mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
            },
        );
        if is_dir {
            walk(root, &path, entries);
        }
    }
}

/// Each path where the two trees differ, as a readable line; `ignore` leaves paths out.
pub fn differences(
    ignition: &BTreeMap<String, Entry>,
    materialize: &BTreeMap<String, Entry>,
    ignore: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    let mut paths: Vec<&String> = ignition.keys().chain(materialize.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter(|path| !ignore(path))
        .filter_map(|path| match (ignition.get(path), materialize.get(path)) {
            (Some(a), Some(b)) if a == b => None,
            (Some(a), Some(b)) => {
                Some(format!("{path}: Ignition wrote {a}; materialize wrote {b}"))
            }
            (Some(a), None) => Some(format!("{path}: only Ignition wrote it ({a})")),
            (None, Some(b)) => Some(format!("{path}: only materialize wrote it ({b})")),
            (None, None) => None,
        })
        .collect()
}
