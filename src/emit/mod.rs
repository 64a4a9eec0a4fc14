//! Emit: the only stage that writes, and the ways a compiled cluster leaves kindling
//! (files here, a Matchbox tree, the Terraform protocol in the submodules).
//!
//! An output directory is replaced as a whole (see `tree`): readers see the old files or
//! the new ones, never a mix, and a failed or killed run leaves it as it was. Single new
//! files (keys, certificates) are written under a temporary name, flushed, and linked into
//! place without replacing anything.

pub mod image;
pub mod matchbox;
pub mod terraform;
pub mod tree;

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::diag::Report;

/// One file to write.
pub struct Output {
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// Writes every output into `dir` with `mode`, in one step for readers of `dir`: files of
/// the same names are replaced, other files are kept, and the temporary files older
/// kindling versions left behind are dropped. A new `dir` is made mode 0700.
///
/// Rendered configs hold private keys, so callers pass 0o600 for them.
pub fn write_all(dir: &Path, outputs: &[Output], mode: u32) -> Result<Vec<PathBuf>, Report> {
    let locked = tree::lock(dir)?;
    let names: BTreeSet<&str> = outputs.iter().map(|o| o.file_name.as_str()).collect();
    let files: Vec<tree::TreeFile> = outputs
        .iter()
        .map(|output| tree::TreeFile {
            path: output.file_name.clone(),
            contents: tree::Contents::Bytes(output.bytes.clone()),
            mode,
        })
        .collect();
    let keep = |relative: &str| !names.contains(relative) && !relative.starts_with(".kindling-");
    locked.replace(&files, &keep, 0o700, &mut |_| Ok(()))?;
    Ok(outputs
        .iter()
        .map(|o| locked.path().join(&o.file_name))
        .collect())
}

/// Writes one new file that must not exist yet: the data lands under a temporary name
/// first, then is linked into place without replacing anything. Missing parent
/// directories are made mode 0700.
pub fn create_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Report> {
    let dir = path.parent().unwrap_or(Path::new("."));
    tree::make_dirs(dir, 0o700)?;
    let temp = stage(dir, bytes, mode)?;
    temp.persist_noclobber(path)
        .map_err(|e| Report::io(path, "create", &e.error))?;
    sync_dir(dir);
    Ok(())
}

/// Writes one file, replacing any file of that name in one step: readers see the old
/// contents or the new, never a part. Missing parent directories are made mode 0700.
pub fn replace_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Report> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    tree::make_dirs(dir, 0o700)?;
    let temp = stage(dir, bytes, mode)?;
    temp.persist(path)
        .map_err(|e| Report::io(path, "replace", &e.error))?;
    sync_dir(dir);
    Ok(())
}

fn stage(dir: &Path, bytes: &[u8], mode: u32) -> Result<NamedTempFile, Report> {
    let mut temp = tempfile::Builder::new()
        .prefix(".kindling-")
        .permissions(std::fs::Permissions::from_mode(mode & 0o777))
        .tempfile_in(dir)
        .map_err(|e| Report::io(dir, "create a temporary file in", &e))?;
    let path = temp.path().to_path_buf();
    // The umask may have narrowed the mode given at creation; set it exactly, before any
    // byte is written.
    temp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(|e| Report::io(&path, "set the mode of", &e))?;
    temp.write_all(bytes)
        .map_err(|e| Report::io(&path, "write", &e))?;
    temp.as_file()
        .sync_data()
        .map_err(|e| Report::io(&path, "flush", &e))?;
    Ok(temp)
}

/// Fault injection for the crash tests (debug builds only): with
/// `KINDLING_TEST_CRASH_AT=<name>`, the process aborts at the point of that name.
#[cfg(debug_assertions)]
pub(crate) fn crash_point(name: &str) {
    if std::env::var("KINDLING_TEST_CRASH_AT").as_deref() == Ok(name) {
        std::process::abort();
    }
}

#[cfg(not(debug_assertions))]
pub(crate) fn crash_point(_: &str) {}

/// Makes the renames durable. Best effort: not every filesystem supports syncing a directory.
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(handle) = std::fs::File::open(dir) {
        let _ = handle.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_all_with_the_mode_and_no_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let outputs = vec![
            Output {
                file_name: "a.ign".into(),
                bytes: b"a\n".to_vec(),
            },
            Output {
                file_name: "b.ign".into(),
                bytes: b"b\n".to_vec(),
            },
        ];
        write_all(dir.path(), &outputs, 0o600).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["a.ign", "b.ign"]);
        let mode = std::fs::metadata(dir.path().join("a.ign"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn create_new_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.key");
        create_new(&path, b"first", 0o600).unwrap();
        assert!(create_new(&path, b"second", 0o600).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left behind"
        );
    }
}
