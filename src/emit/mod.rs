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
/// kindling versions left behind are dropped. A new `dir` is made mode 0700. An output `dir`
/// already holds as it would be written is not written again (see `tree`).
///
/// Rendered configs hold private keys, so callers pass 0o600 for them.
pub fn write_all(dir: &Path, outputs: &[Output], mode: u32) -> Result<tree::Replaced, Report> {
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
    locked.replace(&files, &keep, 0o700, None)
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

/// Writes a file the user named with `-o`, as the reference tools do: through a symlink (the
/// link stays, its target gets the bytes, atomically), straight into a device or FIFO
/// (`-o /dev/null`, `-o /dev/stdout`: a rename would replace the node itself), and
/// atomically replacing a regular file or creating a new one.
pub fn write_named_output(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Report> {
    use std::os::unix::fs::FileTypeExt;
    let target = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => link_target(path)?,
        _ => path.to_path_buf(),
    };
    match std::fs::metadata(&target) {
        Ok(meta)
            if meta.file_type().is_char_device()
                || meta.file_type().is_fifo()
                || meta.file_type().is_block_device()
                || meta.file_type().is_socket() =>
        {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&target)
                .map_err(|e| Report::io(&target, "open", &e))?;
            file.write_all(bytes)
                .map_err(|e| Report::io(&target, "write", &e))
        }
        _ => replace_file(&target, bytes, mode),
    }
}

/// Where a symlink leads, following chains of links (a dangling last link gives the path it
/// names, which is then created).
fn link_target(link: &Path) -> Result<PathBuf, Report> {
    let mut current = link.to_path_buf();
    for _ in 0..40 {
        let meta = std::fs::symlink_metadata(&current);
        if !meta.is_ok_and(|m| m.file_type().is_symlink()) {
            return Ok(current);
        }
        let next =
            std::fs::read_link(&current).map_err(|e| Report::io(&current, "read the link", &e))?;
        current = match current.parent() {
            Some(parent) if next.is_relative() => parent.join(next),
            _ => next,
        };
    }
    Err(Report::io(
        link,
        "follow",
        &std::io::Error::from_raw_os_error(libc::ELOOP),
    ))
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

    fn outputs(a: &str, b: &str) -> Vec<Output> {
        vec![
            Output {
                file_name: "a.ign".into(),
                bytes: a.as_bytes().to_vec(),
            },
            Output {
                file_name: "b.ign".into(),
                bytes: b.as_bytes().to_vec(),
            },
        ]
    }

    /// Inode and modification time: what a reader (or make, or rsync) sees change.
    fn identity(path: &Path) -> (u64, i64, i64) {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::symlink_metadata(path).unwrap();
        (meta.ino(), meta.mtime(), meta.mtime_nsec())
    }

    fn replaced(written: usize, unchanged: usize) -> tree::Replaced {
        tree::Replaced { written, unchanged }
    }

    #[test]
    fn writing_what_the_directory_holds_changes_nothing() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("out");
        let write = || write_all(&dir, &outputs("a\n", "b\n"), 0o600).unwrap();
        let identities = || ["", "a.ign", "b.ign"].map(|name| identity(&dir.join(name)));
        assert_eq!(write(), replaced(2, 0));
        let before = identities();
        assert_eq!(write(), replaced(0, 2));
        assert_eq!(
            identities(),
            before,
            "the directory and its files are untouched"
        );
    }

    #[test]
    fn only_the_files_that_changed_are_written() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("out");
        write_all(&dir, &outputs("a\n", "b\n"), 0o600).unwrap();
        let (a, dir_before) = (identity(&dir.join("a.ign")), identity(&dir));
        assert_eq!(
            write_all(&dir, &outputs("a\n", "b2\n"), 0o600).unwrap(),
            replaced(1, 1)
        );
        assert_eq!(
            identity(&dir.join("a.ign")),
            a,
            "a.ign is linked, not written"
        );
        assert_ne!(identity(&dir), dir_before, "the new tree was swapped in");
        assert_eq!(std::fs::read(dir.join("b.ign")).unwrap(), b"b2\n");
        assert_eq!(
            std::fs::read_dir(parent.path()).unwrap().count(),
            1,
            "the output, nothing else (no staging tree, no lock file)"
        );
    }

    /// A file is only kept when it is exactly what would be written: a config someone
    /// opened up to 0644, replaced by a symlink, or edited gets written again.
    #[test]
    fn a_file_unlike_the_one_to_write_is_written_again() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("out");
        let spoil: [&dyn Fn(&Path); 4] = [
            &|a| std::fs::set_permissions(a, std::fs::Permissions::from_mode(0o644)).unwrap(),
            &|a| {
                let elsewhere = a.with_file_name("elsewhere");
                std::fs::write(&elsewhere, "a\n").unwrap();
                std::fs::remove_file(a).unwrap();
                std::os::unix::fs::symlink(elsewhere, a).unwrap();
            },
            &|a| std::fs::write(a, "a\n\n").unwrap(),
            &|a| std::fs::write(a, "A\n").unwrap(),
        ];
        for spoil in spoil {
            write_all(&dir, &outputs("a\n", "b\n"), 0o600).unwrap();
            spoil(&dir.join("a.ign"));
            assert_eq!(
                write_all(&dir, &outputs("a\n", "b\n"), 0o600).unwrap(),
                replaced(1, 1)
            );
            let meta = std::fs::symlink_metadata(dir.join("a.ign")).unwrap();
            assert!(meta.is_file());
            assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
            assert_eq!(std::fs::read(dir.join("a.ign")).unwrap(), b"a\n");
        }
    }

    #[test]
    fn leftovers_go_even_when_every_file_is_unchanged() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("out");
        write_all(&dir, &outputs("a\n", "b\n"), 0o600).unwrap();
        let stale_temp = dir.join(".kindling-AbC123");
        std::fs::write(&stale_temp, "-----BEGIN PRIVATE KEY-----\n").unwrap();
        let killed_staging = parent.path().join(".out.kindling-staging");
        std::fs::create_dir(&killed_staging).unwrap();
        std::fs::write(killed_staging.join("a.ign"), "half").unwrap();
        assert_eq!(
            write_all(&dir, &outputs("a\n", "b\n"), 0o600).unwrap(),
            replaced(0, 2)
        );
        assert!(!stale_temp.exists() && !killed_staging.exists());
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
