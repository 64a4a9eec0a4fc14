//! `kindling materialize`: applies the files stage of an Ignition config to a directory, as
//! Ignition would on first boot, so an operator can inspect and diff what a node will hold
//! before it boots (and the end-to-end test can run real programs from it). tests/boot.rs
//! compares its tree with the real Ignition's, path by path.
//!
//! The config is validated first. Then every action is planned in memory (data URLs
//! decoded, gzip undone, hashes checked, assets read) and only when the whole plan holds is
//! anything written. No path may leave the root: components that already exist inside it
//! must be real directories, never symlinks.

use crate::json::Lookup;
use std::collections::BTreeSet;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::diag::{Diagnostic, Location, Report};
use crate::ignition::{INFLATE_LIMIT, content_hash, dataurl, gunzip};
use crate::validate::{self, array, text};

mod accounts;

/// Where to apply a config, and where fetched files come from.
#[derive(Debug, Clone)]
pub struct Options {
    pub root: PathBuf,
    /// Stands in for the network: a remote source is read from here, by its file name.
    pub assets: Option<PathBuf>,
}

/// What was done, one line per action, for the command to print.
#[derive(Debug, Default)]
pub struct Outcome {
    pub lines: Vec<String>,
}

/// Numeric owner of a node, or a name that only the node's own passwd can resolve.
#[derive(Debug, Clone, Default)]
struct Ownership {
    uid: Option<u32>,
    gid: Option<u32>,
    names: Vec<String>,
}

#[derive(Debug)]
enum Action {
    Directory {
        path: String,
        mode: u32,
        owner: Ownership,
    },
    /// `contents` None keeps a regular file already there (or creates an empty one); each
    /// of `append` is then added to its end.
    File {
        path: String,
        /// The entry's JSON path (`$.storage.files.3`), for errors.
        at: String,
        mode: u32,
        owner: Ownership,
        overwrite: bool,
        contents: Option<Vec<u8>>,
        append: Vec<Vec<u8>>,
    },
    Skipped {
        path: String,
        source: String,
    },
    Link {
        path: String,
        at: String,
        target: String,
        hard: bool,
        overwrite: bool,
    },
    UnitFile {
        path: String,
        bytes: Vec<u8>,
        what: String,
    },
    Symlink {
        path: String,
        target: String,
        what: String,
    },
}

/// Validates the config at `config_path` and applies it under `options.root`.
pub fn materialize(config_path: &Path, options: &Options) -> Result<Outcome, Report> {
    let (name, text) = validate::input::read(config_path)?;
    let parsed = validate::input::parse(&name, text)?;
    let findings = parsed.locate(validate::validate(&parsed.config, parsed.version));
    if findings.has_errors() {
        return Err(findings);
    }
    let actions = plan(&parsed.config, options)?;
    let accounts = accounts::plan(&parsed.config);
    apply(&actions, &accounts, &options.root)
}

fn json_at(path: &str) -> Location {
    Location::Json {
        path: path.to_string(),
        origin: None,
        span: None,
    }
}

fn plan(config: &Value, options: &Options) -> Result<Vec<Action>, Report> {
    let mut report = Report::default();
    let mut actions = Vec::new();
    let mut directories: Vec<&Value> = array(config, "/storage/directories").iter().collect();
    directories.sort_by_key(|d| text(d, "path"));
    for directory in directories {
        let mode = mode_of(directory, 0o755);
        actions.push(Action::Directory {
            path: text(directory, "path").to_string(),
            mode,
            owner: ownership(directory),
        });
    }
    for (index, file) in array(config, "/storage/files").iter().enumerate() {
        match file_action(file, &format!("$.storage.files.{index}"), options) {
            Ok(action) => actions.push(action),
            Err(errors) => report.extend(errors),
        }
    }
    for (index, link) in array(config, "/storage/links").iter().enumerate() {
        actions.push(Action::Link {
            path: text(link, "path").to_string(),
            at: format!("$.storage.links.{index}"),
            target: text(link, "target").to_string(),
            hard: link.get("hard").and_then(Value::as_bool) == Some(true),
            overwrite: overwrites(link),
        });
    }
    actions.extend(unit_actions(config));
    report.into_result(actions)
}

fn mode_of(node: &Value, default: u32) -> u32 {
    node.get("mode")
        .and_then(Value::as_u64)
        .and_then(|m| u32::try_from(m).ok())
        .unwrap_or(default)
}

fn ownership(node: &Value) -> Ownership {
    let id = |key: &str| {
        node.at(&format!("/{key}/id"))
            .and_then(Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
    };
    let names = ["user", "group"]
        .iter()
        .filter_map(|key| {
            node.at(&format!("/{key}/name"))
                .and_then(Value::as_str)
                .map(|n| format!("{key} {n}"))
        })
        .collect();
    Ownership {
        uid: id("user"),
        gid: id("group"),
        names,
    }
}

fn overwrites(node: &Value) -> bool {
    node.get("overwrite").and_then(Value::as_bool) == Some(true)
}

fn file_action(file: &Value, at: &str, options: &Options) -> Result<Action, Report> {
    let path = text(file, "path").to_string();
    let contents = match file.get("contents") {
        Some(resource) if resource.get("source").is_some_and(|s| !s.is_null()) => {
            match fetch(resource, &format!("{at}.contents"), options)? {
                Some(bytes) => Some(bytes),
                None => return Ok(skipped(path, resource)),
            }
        }
        _ => None,
    };
    let mut append = Vec::new();
    for (index, resource) in array(file, "/append").iter().enumerate() {
        match fetch(resource, &format!("{at}.append.{index}"), options)? {
            Some(bytes) => append.push(bytes),
            None => return Ok(skipped(path, resource)),
        }
    }
    Ok(Action::File {
        at: at.to_string(),
        mode: mode_of(file, 0o644),
        owner: ownership(file),
        overwrite: overwrites(file),
        path,
        contents,
        append,
    })
}

fn skipped(path: String, resource: &Value) -> Action {
    Action::Skipped {
        path,
        source: text(resource, "source").to_string(),
    }
}

/// The bytes of a resource (`contents` or an `append` entry, at JSON path `at`): a data URL
/// decoded or a remote source read from the assets, gzip undone, the hash checked. None for
/// a remote source without an assets directory.
fn fetch(resource: &Value, at: &str, options: &Options) -> Result<Option<Vec<u8>>, Report> {
    let source = text(resource, "source");
    let raw = if source.is_empty() {
        Vec::new() // Ignition reads an empty source as empty contents
    } else if source.starts_with("data:") {
        dataurl::decode(source).map_err(|e| {
            Diagnostic::error(
                "ign.data-url",
                format!("data URL does not decode: {e:?}"),
                json_at(&format!("{at}.source")),
            )
        })?
    } else {
        match fetch_asset(source, options, at)? {
            Some(bytes) => bytes,
            None => return Ok(None),
        }
    };
    let bytes = if text(resource, "compression") == "gzip" {
        decompress(&raw, at)?
    } else {
        raw
    };
    if let Some(hash) = resource.at("/verification/hash").and_then(Value::as_str) {
        check_hash(hash, &bytes, at)?;
    }
    Ok(Some(bytes))
}

/// A remote source read from the assets directory by its file name: Some(bytes), or None
/// when no assets directory was given (the file is then listed as skipped).
fn fetch_asset(source: &str, options: &Options, at: &str) -> Result<Option<Vec<u8>>, Report> {
    let Some(assets) = &options.assets else {
        return Ok(None);
    };
    let name = source.rsplit('/').next().unwrap_or_default();
    let plain = !name.is_empty() && name != "." && name != ".." && !name.contains('\\');
    let path = assets.join(name);
    let bytes = plain.then(|| std::fs::read(&path).ok()).flatten();
    bytes.map(Some).ok_or_else(|| {
        Diagnostic::error("materialize.asset-missing", format!("{} is not in the assets directory ({})", name, path.display()), json_at(&format!("{at}.source")))
            .with_help("put the file named by the source URL into --assets DIR, or leave --assets out to skip remote files")
            .into()
    })
}

fn decompress(bytes: &[u8], at: &str) -> Result<Vec<u8>, Report> {
    gunzip(bytes, INFLATE_LIMIT).map_err(|e| {
        Diagnostic::error(
            "materialize.gzip",
            format!("contents claim gzip but do not decompress: {e}"),
            json_at(&format!("{at}.compression")),
        )
        .into()
    })
}

fn check_hash(hash: &str, bytes: &[u8], at: &str) -> Result<(), Report> {
    let Some(actual) = content_hash(hash, bytes) else {
        return Ok(()); // the validator has already refused any other form
    };
    if actual.eq_ignore_ascii_case(hash) {
        return Ok(());
    }
    Err(Diagnostic::error(
        "materialize.hash-mismatch",
        format!("contents hash to {actual}, the config expects {hash}"),
        json_at(&format!("{at}.verification.hash")),
    )
    .with_help("the asset is not the file the config was made for")
    .into())
}

const UNIT_DIR: &str = "/etc/systemd/system";
/// Ignition records enablement here; systemd applies it on first boot.
const PRESET_FILE: &str = "/etc/systemd/system-preset/20-ignition.preset";

fn unit_actions(config: &Value) -> Vec<Action> {
    let mut actions = Vec::new();
    let mut preset = String::new();
    for unit in array(config, "/systemd/units") {
        let name = text(unit, "name");
        let contents = unit.get("contents").and_then(Value::as_str);
        if unit.get("mask").and_then(Value::as_bool) == Some(true) {
            actions.push(Action::Symlink {
                path: format!("{UNIT_DIR}/{name}"),
                target: "/dev/null".into(),
                what: format!("unit {name} masked"),
            });
        } else if let Some(contents) = contents {
            actions.push(Action::UnitFile {
                path: format!("{UNIT_DIR}/{name}"),
                bytes: contents.as_bytes().to_vec(),
                what: format!("unit {name}"),
            });
        }
        for dropin in array(unit, "/dropins") {
            if let Some(dropin_contents) = dropin.get("contents").and_then(Value::as_str) {
                let dropin_name = text(dropin, "name");
                let path = format!("{UNIT_DIR}/{name}.d/{dropin_name}");
                actions.push(Action::UnitFile {
                    path,
                    bytes: dropin_contents.as_bytes().to_vec(),
                    what: format!("drop-in {name}.d/{dropin_name}"),
                });
            }
        }
        // Ignition enables a unit by a preset line, never a `.wants/` link: systemd applies
        // the presets on the first boot.
        match unit.get("enabled").and_then(Value::as_bool) {
            Some(true) => preset.push_str(&format!("enable {name}\n")),
            Some(false) => preset.push_str(&format!("disable {name}\n")),
            None => {}
        }
    }
    if !preset.is_empty() {
        actions.push(Action::UnitFile {
            path: PRESET_FILE.into(),
            bytes: preset.into_bytes(),
            what: "enablement presets".into(),
        });
    }
    actions
}

/// Applies the accounts first, then files, directories and links, then units: Ignition's
/// order, so that a file may belong to a user the config creates.
fn apply(
    actions: &[Action],
    accounts: &[accounts::Account],
    root: &Path,
) -> Result<Outcome, Report> {
    crate::emit::tree::make_dirs(root, 0o755)?;
    let as_root = std::fs::metadata(root)
        .map(|m| m.uid() == 0)
        .unwrap_or(false);
    check_planned_parents(actions)?;
    for action in actions {
        check_inside(root, action.path())?;
    }
    check_existing(actions, root)?;
    let mut outcome = Outcome {
        lines: accounts::apply(accounts, root, as_root)?,
    };
    for action in actions {
        apply_one(action, root, as_root, &mut outcome)?;
    }
    Ok(outcome)
}

impl Action {
    fn path(&self) -> &str {
        match self {
            Action::Directory { path, .. }
            | Action::File { path, .. }
            | Action::Skipped { path, .. }
            | Action::Link { path, .. }
            | Action::UnitFile { path, .. }
            | Action::Symlink { path, .. } => path,
        }
    }
}

/// Refuses, before anything is written, a path below a file or link the config itself
/// creates (`/etc/f` and `/etc/f/g`): Ignition would fail there, after writing `/etc/f`.
fn check_planned_parents(actions: &[Action]) -> Result<(), Report> {
    let not_directories: BTreeSet<&str> = actions
        .iter()
        .filter(|a| !matches!(a, Action::Directory { .. } | Action::Skipped { .. }))
        .map(Action::path)
        .collect();
    let mut report = Report::default();
    for action in actions {
        let path = action.path();
        let blocked = Path::new(path)
            .ancestors()
            .skip(1)
            .filter_map(Path::to_str)
            .find(|parent| not_directories.contains(parent));
        if let Some(parent) = blocked {
            report.push(not_a_directory(path, parent));
        }
    }
    report.into_result(())
}

/// Refuses, before anything is written, a path that is not absolute and clean or whose
/// existing parents inside the root include anything but real directories.
fn check_inside(root: &Path, node_path: &str) -> Result<(), Report> {
    let parts = node_parts(node_path)?;
    let mut current = root.to_path_buf();
    for part in &parts[..parts.len() - 1] {
        current.push(part);
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => return Err(escape(node_path)),
            Ok(meta) if !meta.is_dir() => {
                return Err(not_a_directory(node_path, &node_path_of(root, &current)).into());
            }
            Ok(_) => {}
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// `/etc/f` for `ROOT/etc/f`.
fn node_path_of(root: &Path, host: &Path) -> String {
    let relative = host.strip_prefix(root).unwrap_or(host);
    format!("/{}", relative.display())
}

fn not_a_directory(node_path: &str, parent: &str) -> Diagnostic {
    Diagnostic::error(
        "materialize.not-a-directory",
        format!("{node_path} cannot be created: {parent} is a file or link, not a directory"),
        Location::Nowhere,
    )
    .with_help("Ignition would fail here too: make the parent a directory, or move the entry")
}

/// The components of an absolute, clean node path (`/a/b` → [a, b]).
fn node_parts(node_path: &str) -> Result<Vec<Component<'_>>, Report> {
    let relative = Path::new(node_path)
        .strip_prefix("/")
        .map_err(|_| escape(node_path))?;
    let parts: Vec<Component> = relative.components().collect();
    if parts.is_empty() || parts.iter().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(escape(node_path));
    }
    Ok(parts)
}

fn apply_one(
    action: &Action,
    root: &Path,
    as_root: bool,
    outcome: &mut Outcome,
) -> Result<(), Report> {
    match action {
        Action::Directory { path, mode, owner } => {
            let target = prepare(root, path)?;
            if !target.is_dir() {
                std::fs::DirBuilder::new()
                    .mode(*mode & 0o777)
                    .create(&target)
                    .map_err(|e| Report::io(&target, "write", &e))?;
            }
            let owned = apply_owner(&target, owner, as_root)?;
            set_mode(&target, *mode)?;
            outcome
                .lines
                .push(format!("dir     {path} {mode:04o}{owned}"));
        }
        Action::File {
            path,
            at: _,
            mode,
            owner,
            overwrite,
            contents,
            append,
        } => {
            let target = prepare(root, path)?;
            if *overwrite {
                remove_existing(&target)?;
            }
            let size = write_file(&target, *mode, contents.as_deref(), append)?;
            // Owner first, then mode: chown clears a file's setuid and setgid bits.
            let owned = apply_owner(&target, owner, as_root)?;
            set_mode(&target, *mode)?;
            outcome
                .lines
                .push(format!("file    {path} {mode:04o} ({size} bytes){owned}"));
        }
        Action::Skipped { path, source } => {
            outcome
                .lines
                .push(format!("skipped {path}: remote {source} (no --assets)"));
        }
        Action::Link {
            path,
            at: _,
            target,
            hard,
            overwrite,
        } => {
            let link = prepare(root, path)?;
            if *overwrite {
                remove_existing(&link)?;
            }
            let made = if *hard {
                let existing = existing(root, target)?;
                hard_link(&existing, &link)?
            } else {
                symlink(target, &link)?
            };
            outcome.lines.push(format!(
                "link    {path} -> {target}{}{}",
                if *hard { " (hard)" } else { "" },
                if made { "" } else { " (already there)" }
            ));
        }
        Action::UnitFile { path, bytes, what } => {
            let target = prepare(root, path)?;
            remove_existing(&target)?;
            create_file(&target, bytes, 0o644)?;
            outcome.lines.push(format!("systemd {what}: {path}"));
        }
        Action::Symlink { path, target, what } => {
            let link = prepare(root, path)?;
            remove_existing(&link)?;
            std::os::unix::fs::symlink(target, &link)
                .map_err(|e| Report::io(&link, "write", &e))?;
            outcome
                .lines
                .push(format!("systemd {what}: {path} -> {target}"));
        }
    }
    Ok(())
}

/// The host path for a node path, with its parent directories made. Refuses a path that is
/// not absolute and clean, and any existing component inside the root that is not a real
/// directory (a symlink there could lead out of the root).
fn prepare(root: &Path, node_path: &str) -> Result<PathBuf, Report> {
    let parts = node_parts(node_path)?;
    let mut current = root.to_path_buf();
    for part in &parts[..parts.len() - 1] {
        current.push(part);
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_dir() => {}
            Ok(meta) if meta.file_type().is_symlink() => return Err(escape(node_path)),
            Ok(_) => return Err(not_a_directory(node_path, &node_path_of(root, &current)).into()),
            Err(_) => {
                std::fs::DirBuilder::new()
                    .mode(0o755)
                    .create(&current)
                    .map_err(|e| Report::io(&current, "write", &e))?;
                set_mode(&current, 0o755)?;
            }
        }
    }
    current.push(parts[parts.len() - 1]);
    Ok(current)
}

/// Removes whatever is at `path` (a directory with everything in it, never following a
/// link), as Ignition does for `overwrite: true` and for units.
fn remove_existing(path: &Path) -> Result<(), Report> {
    let removed = match std::fs::symlink_metadata(path) {
        Err(_) => Ok(()),
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
    };
    removed.map_err(|e| Report::io(path, "remove", &e))
}

/// Refuses, before anything is written, every entry that does not overwrite and finds in
/// the root what Ignition would fail on: contents over an existing file, a file where
/// something else is, a link where another link or a file is. (The config cannot make
/// these itself: the validator refuses two entries for one path.)
fn check_existing(actions: &[Action], root: &Path) -> Result<(), Report> {
    let mut report = Report::default();
    for action in actions {
        if let Some(what) = conflict(action, root) {
            let (Action::File { path, at, .. } | Action::Link { path, at, .. }) = action else {
                continue;
            };
            report.push(exists(path, at, what));
        }
    }
    report.into_result(())
}

/// What is in the way of `action`, if anything.
fn conflict(action: &Action, root: &Path) -> Option<&'static str> {
    let host = |node_path: &str| root.join(node_path.trim_start_matches('/'));
    match action {
        Action::File {
            path,
            overwrite: false,
            contents,
            ..
        } => {
            let meta = std::fs::symlink_metadata(host(path)).ok()?;
            if !meta.is_file() {
                Some("something other than a regular file")
            } else {
                contents.is_some().then_some("a file")
            }
        }
        Action::Link {
            path,
            target,
            hard: false,
            overwrite: false,
            ..
        } => {
            let meta = std::fs::symlink_metadata(host(path)).ok()?;
            match std::fs::read_link(host(path)) {
                Ok(current) if Path::new(target).components().eq(current.components()) => None,
                Ok(_) => Some("a symlink to elsewhere"),
                Err(_) => {
                    (!meta.file_type().is_symlink()).then_some("something other than a symlink")
                }
            }
        }
        Action::Link {
            path,
            target,
            hard: true,
            overwrite: false,
            ..
        } => {
            let meta = std::fs::symlink_metadata(host(path)).ok()?;
            let same = std::fs::symlink_metadata(host(target))
                .is_ok_and(|t| t.ino() == meta.ino() && t.dev() == meta.dev());
            (!same).then_some("another file")
        }
        _ => None,
    }
}

fn exists(node_path: &str, at: &str, what: &str) -> Diagnostic {
    Diagnostic::error(
        "materialize.exists",
        format!("{node_path}: {what} is there already and the entry does not overwrite"),
        json_at(at),
    )
    .with_help(
        "Ignition fails here too: set overwrite: true, or leave contents out to keep the file",
    )
}

/// Ignition's file semantics (conflicts were refused up front): without contents a regular
/// file already there is kept (an empty one is made otherwise), and each append is added
/// at the end. Returns the file's size.
fn write_file(
    target: &Path,
    mode: u32,
    contents: Option<&[u8]>,
    append: &[Vec<u8>],
) -> Result<u64, Report> {
    if std::fs::symlink_metadata(target).is_err() {
        create_file(target, contents.unwrap_or_default(), mode)?;
    }
    if !append.is_empty() {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(target)
            .map_err(|e| Report::io(target, "append to", &e))?;
        for bytes in append {
            std::io::Write::write_all(&mut file, bytes)
                .map_err(|e| Report::io(target, "append to", &e))?;
        }
    }
    std::fs::symlink_metadata(target)
        .map(|m| m.len())
        .map_err(|e| Report::io(target, "read", &e))
}

/// A symlink, or nothing when the same one is there already. Returns whether it was made.
fn symlink(target: &str, link: &Path) -> Result<bool, Report> {
    if std::fs::read_link(link).is_ok_and(|c| Path::new(target).components().eq(c.components())) {
        return Ok(false);
    }
    std::os::unix::fs::symlink(target, link).map_err(|e| Report::io(link, "write", &e))?;
    Ok(true)
}

/// A hard link, or nothing when the path is that file already.
fn hard_link(existing: &Path, link: &Path) -> Result<bool, Report> {
    if std::fs::symlink_metadata(link).is_ok() {
        return Ok(false); // the same file: check_existing refused anything else
    }
    std::fs::hard_link(existing, link).map_err(|e| Report::io(link, "write", &e))?;
    Ok(true)
}

/// The host path of a hard link's target, which must already exist inside the root (written
/// earlier by the config, or there before). Nothing is created or removed on the way.
fn existing(root: &Path, node_path: &str) -> Result<PathBuf, Report> {
    check_inside(root, node_path)?;
    let host = root.join(node_path.trim_start_matches('/'));
    match std::fs::symlink_metadata(&host) {
        Ok(meta) if !meta.is_dir() => Ok(host),
        _ => Err(Diagnostic::error(
            "materialize.hardlink-target",
            format!("the hard link target {node_path} does not exist in the root"),
            Location::Nowhere,
        )
        .with_help(
            "a hard link's target must be a file the config writes, or one already in the root",
        )
        .into()),
    }
}

/// Creates a new file with its final mode before any byte is written: a key is never
/// readable by others, not even for a moment (the umask can only narrow the mode given at
/// creation, and the exact mode is set before writing).
fn create_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Report> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode & 0o777)
        .open(path)
        .map_err(|e| Report::io(path, "write", &e))?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(|e| Report::io(path, "set the mode of", &e))?;
    std::io::Write::write_all(&mut file, bytes).map_err(|e| Report::io(path, "write", &e))
}

fn escape(node_path: &str) -> Report {
    Diagnostic::error("materialize.escape", format!("{node_path} would be written outside the root"), Location::Nowhere)
        .with_help("a path inside the root is a symlink, or the path is not absolute and clean; kindling never writes through links")
        .into()
}

fn set_mode(path: &Path, mode: u32) -> Result<(), Report> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Report::io(path, "write", &e))
}

/// Applies numeric owners when running as root; otherwise says what the node will have.
fn apply_owner(path: &Path, owner: &Ownership, as_root: bool) -> Result<String, Report> {
    if owner.uid.is_none() && owner.gid.is_none() && owner.names.is_empty() {
        return Ok(String::new());
    }
    let ids = format!(
        "{}:{}",
        owner.uid.map_or("-".into(), |u| u.to_string()),
        owner.gid.map_or("-".into(), |g| g.to_string())
    );
    let names = if owner.names.is_empty() {
        String::new()
    } else {
        format!(" ({}: resolved on the node)", owner.names.join(", "))
    };
    if as_root && (owner.uid.is_some() || owner.gid.is_some()) {
        std::os::unix::fs::lchown(path, owner.uid, owner.gid)
            .map_err(|e| Report::io(path, "write", &e))?;
        return Ok(format!(" owner {ids}{names}"));
    }
    Ok(format!(
        " owner {ids} (not applied: not running as root){names}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_would_leave_the_root_are_refused() {
        let root = tempfile::tempdir().unwrap();
        for bad in ["relative", "/", "/a/../b"] {
            assert!(prepare(root.path(), bad).is_err(), "{bad}");
        }
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("etc")).unwrap();
        let report = prepare(root.path(), "/etc/passwd").unwrap_err();
        assert_eq!(report.diagnostics[0].code, "materialize.escape");
    }
}
