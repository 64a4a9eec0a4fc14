//! Replacing a whole output directory in one step, for `render -o DIR` and `matchbox -o DIR`.
//!
//! Readers of DIR (Matchbox serving configs, a CI job picking them up) must never see a mix
//! of two runs, so DIR is never edited in place. Under a lock beside it, a new tree is built
//! next to DIR (files kept from the old tree are hard-linked, new files written fresh and
//! flushed), then the two directories are swapped with one `renameat2(RENAME_EXCHANGE)` and
//! the old tree is removed. A run that is killed leaves DIR as it was plus a staging tree
//! that the next run removes; a second run started meanwhile waits for the lock.
//!
//! Most runs change little or nothing (CI and Terraform render the same spec again and
//! again), and writing, flushing and later deleting a file costs more than the rest of a
//! render. So a file DIR already holds exactly as it would be written (same bytes, mode and
//! owner) is hard-linked into the new tree instead of written, and when nothing at all would
//! change, DIR is left as it is: no staging tree, no swap.

use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, Location, Report};

/// One file of the new tree, by its path relative to DIR.
pub struct TreeFile {
    pub path: String,
    pub contents: Contents,
    pub mode: u32,
}

pub enum Contents {
    Bytes(Vec<u8>),
    /// An existing file linked (or copied) in, such as a multi-gigabyte image.
    Link(PathBuf),
}

/// Adds files to the new tree once `replace` has put its files in it (it gets the staging
/// directory).
pub type Finish<'a> = &'a mut dyn FnMut(&Path) -> Result<(), Report>;

/// What `replace` did with the files it was given.
#[derive(Debug, PartialEq, Eq)]
pub struct Replaced {
    /// Files written anew.
    pub written: usize,
    /// Files DIR already held as they would be written: linked into the new tree, or left
    /// where they were when nothing changed.
    pub unchanged: usize,
}

/// An output directory, locked for this run.
pub struct LockedDir {
    /// The directory itself: a symlink given on the command line is followed, so the real
    /// directory is the one replaced.
    dir: PathBuf,
    parent: PathBuf,
    name: String,
    /// The lock file beside the directory, removed when the run ends.
    lock_path: PathBuf,
    /// Held for the life of the run; the lock is released when it is dropped (or the
    /// process dies).
    _lock: std::fs::File,
}

impl Drop for LockedDir {
    /// Removes the lock file while still holding its lock, so nothing is left beside the
    /// directory. A run waiting on the removed file sees it is gone and locks a new one
    /// (`take_file_lock`), so two runs never both hold the lock.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

/// Locks the file at `lock_path` (creating it), waiting while another run holds it. A file
/// removed by the run that held it is not a lock any more: it is opened again.
fn take_file_lock(lock_path: &Path, dir: &Path) -> Result<std::fs::File, Report> {
    loop {
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(lock_path)
            .map_err(|e| Report::io(lock_path, "create the lock file", &e))?;
        take_lock(&lock, lock_path, dir)?;
        let held = lock
            .metadata()
            .map_err(|e| Report::io(lock_path, "read", &e))?;
        let still_there = std::fs::metadata(lock_path)
            .is_ok_and(|now| now.ino() == held.ino() && now.dev() == held.dev());
        if still_there {
            return Ok(lock);
        }
    }
}

/// Locks `dir` for this run, waiting (and saying so) while another kindling run holds it,
/// then removes what earlier killed runs left beside it.
pub fn lock(dir: &Path) -> Result<LockedDir, Report> {
    let dir = real_dir(dir)?;
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let name = dir
        .file_name()
        .ok_or_else(|| internal("the output directory has no name"))?
        .to_string_lossy()
        .into_owned();
    make_dirs(&parent, 0o755)?;
    let lock_path = parent.join(format!(".{name}.kindling-lock"));
    let lock = take_file_lock(&lock_path, &dir)?;
    let locked = LockedDir {
        dir,
        parent,
        name,
        lock_path,
        _lock: lock,
    };
    locked.remove_leftovers()?;
    Ok(locked)
}

/// The directory to replace, as an absolute path: a symlinked output directory is
/// replaced where it points, never the link itself. The current directory (or one above
/// it) cannot be swapped away from under the shell that runs kindling, so it is refused.
fn real_dir(dir: &Path) -> Result<PathBuf, Report> {
    let real = match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.file_type().is_symlink() || meta.is_dir() => {
            std::fs::canonicalize(dir).map_err(|e| Report::io(dir, "resolve", &e))?
        }
        Ok(_) => {
            return Err(Diagnostic::error(
                "emit.not-a-directory",
                format!("{} exists and is not a directory", dir.display()),
                Location::File(dir.to_path_buf()),
            )
            .into());
        }
        Err(_) => dir.to_path_buf(),
    };
    let current = std::env::current_dir().unwrap_or_default();
    let absolute = if real.is_absolute() {
        real.clone()
    } else {
        current.join(&real)
    };
    if absolute.parent().is_none() || current.starts_with(&absolute) {
        return Err(Diagnostic::error(
            "emit.output-is-current",
            format!("{} is the current directory or holds it", dir.display()),
            Location::File(dir.to_path_buf()),
        )
        .with_help("kindling replaces the output directory as a whole: write into a subdirectory, e.g. -o out")
        .into());
    }
    Ok(real)
}

/// Takes the exclusive lock on the directory `dir` itself (which stays in place, unlike
/// an output tree), waiting while another kindling run holds it. The lock lasts as long as
/// the returned handle is open.
pub fn hold_lock(dir: &Path) -> Result<std::fs::File, Report> {
    let lock = std::fs::File::open(dir).map_err(|e| Report::io(dir, "open", &e))?;
    take_lock(&lock, dir, dir)?;
    Ok(lock)
}

fn take_lock(lock: &std::fs::File, lock_path: &Path, dir: &Path) -> Result<(), Report> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock only reads the descriptor, which `lock` keeps open during the call.
    let try_now = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if try_now == 0 {
        return Ok(());
    }
    eprintln!(
        "waiting for another kindling run writing {} (lock {})",
        dir.display(),
        lock_path.display()
    );
    // SAFETY: as above.
    let waited = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
    if waited == 0 {
        Ok(())
    } else {
        Err(Report::io(
            lock_path,
            "lock",
            &std::io::Error::last_os_error(),
        ))
    }
}

impl LockedDir {
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Where the new tree is built (and where the old one lies while it is removed). One
    /// name serves every run, because only the run holding the lock uses it.
    fn staging(&self) -> PathBuf {
        self.parent.join(format!(".{}.kindling-staging", self.name))
    }

    /// The staging tree (or old tree) of an earlier run that was killed. Only a run holding
    /// the lock creates it, and this run holds it now, so it is not live.
    fn remove_leftovers(&self) -> Result<(), Report> {
        let staging = self.staging();
        let removed = match std::fs::symlink_metadata(&staging) {
            Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&staging),
            Ok(_) => std::fs::remove_file(&staging),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        };
        removed.map_err(|e| Report::io(&staging, "remove the leftover", &e))
    }

    /// Builds the new tree: every existing file whose relative path `keep` accepts, then
    /// `files`; `finish` may add more (it gets the staging directory), then the new tree
    /// takes DIR's place. A new DIR gets `dir_mode`; an existing one keeps its mode. Without
    /// `finish`, a DIR that already holds every file and nothing `keep` drops is left alone.
    pub fn replace(
        &self,
        files: &[TreeFile],
        keep: &dyn Fn(&str) -> bool,
        dir_mode: u32,
        finish: Option<Finish>,
    ) -> Result<Replaced, Report> {
        let held: Vec<bool> = files.iter().map(|file| self.holds(file)).collect();
        if finish.is_none() && held.iter().all(|held| *held) && self.drops_nothing(files, keep) {
            return Ok(Replaced {
                written: 0,
                unchanged: files.len(),
            });
        }
        let staging = self.staging();
        let result = self.build_and_swap(&staging, files, &held, keep, dir_mode, finish);
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        result
    }

    /// Whether every entry of DIR would be in the new tree: kept, or one of `files`.
    fn drops_nothing(&self, files: &[TreeFile], keep: &dyn Fn(&str) -> bool) -> bool {
        let paths: std::collections::HashSet<&str> =
            files.iter().map(|file| file.path.as_str()).collect();
        only_kept_or_replaced(&self.dir, "", keep, &paths)
    }

    /// Whether DIR's copy of `file` is what writing it would make: a regular file (not a
    /// symlink) with the same bytes and mode, owned by this process's user and group.
    fn holds(&self, file: &TreeFile) -> bool {
        let Contents::Bytes(bytes) = &file.contents else {
            return false;
        };
        let path = self.dir.join(&file.path);
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            return false;
        };
        // SAFETY: geteuid and getegid cannot fail and touch no memory.
        let (user, group) = unsafe { (libc::geteuid(), libc::getegid()) };
        let same_file = meta.is_file()
            && meta.mode() & 0o7777 == file.mode
            && (meta.uid(), meta.gid()) == (user, group)
            && meta.len() == bytes.len() as u64;
        same_file && crate::read::regular_bytes(&path, meta.len()).is_ok_and(|held| held == *bytes)
    }

    fn build_and_swap(
        &self,
        staging: &Path,
        files: &[TreeFile],
        held: &[bool],
        keep: &dyn Fn(&str) -> bool,
        dir_mode: u32,
        finish: Option<Finish>,
    ) -> Result<Replaced, Report> {
        // Private while it is built; it gets its final mode just before the swap.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(staging)
            .map_err(|e| Report::io(staging, "create", &e))?;
        let final_mode = match std::fs::metadata(&self.dir) {
            Ok(meta) if meta.is_dir() => {
                mirror(&self.dir, staging, "", keep)?;
                meta.permissions().mode() & 0o7777
            }
            _ => dir_mode,
        };
        let mut replaced = Replaced {
            written: 0,
            unchanged: 0,
        };
        for (file, held) in files.iter().zip(held) {
            if *held && self.link_unchanged(staging, file)? {
                replaced.unchanged += 1;
                continue;
            }
            write_file(staging, &file.path, &file.contents, file.mode)?;
            replaced.written += 1;
            super::crash_point("tree-mid-write");
        }
        if let Some(finish) = finish {
            finish(staging)?;
        }
        set_mode(staging, final_mode)?;
        super::sync_dir(staging);
        self.swap(staging)?;
        Ok(replaced)
    }

    /// Links DIR's copy of `file`, which DIR holds as it would be written, into the new
    /// tree. False (and nothing linked) when linking fails.
    fn link_unchanged(&self, staging: &Path, file: &TreeFile) -> Result<bool, Report> {
        let target = staging.join(&file.path);
        if let Some(parent) = target.parent() {
            make_dirs(parent, 0o755)?;
        }
        Ok(std::fs::hard_link(self.dir.join(&file.path), &target).is_ok())
    }

    /// Puts `staging` in place of DIR atomically, then removes the old tree.
    fn swap(&self, staging: &Path) -> Result<(), Report> {
        if !self.dir.exists() {
            std::fs::rename(staging, &self.dir)
                .map_err(|e| Report::io(&self.dir, "move the new tree into place", &e))?;
            super::sync_dir(&self.parent);
            return Ok(());
        }
        exchange(staging, &self.dir).map_err(|e| {
            Report::from(
                Diagnostic::error(
                    "io.swap",
                    format!("cannot swap {} into place: {e}", self.dir.display()),
                    Location::File(self.dir.clone()),
                )
                .with_help("the output directory must be on a filesystem with renameat2(RENAME_EXCHANGE) (ext4, xfs, btrfs, tmpfs) and must not be a mount point itself"),
            )
        })?;
        super::sync_dir(&self.parent);
        std::fs::remove_dir_all(staging).map_err(|e| Report::io(staging, "remove the old tree", &e))
    }
}

/// Whether every entry under `dir` (at `relative`) is one `keep` accepts or one of `paths`:
/// a tree the replacement would drop nothing from. An unreadable tree counts as changed.
fn only_kept_or_replaced(
    dir: &Path,
    relative: &str,
    keep: &dyn Fn(&str) -> bool,
    paths: &std::collections::HashSet<&str>,
) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.into_iter().all(|entry| {
        let Ok(entry) = entry else {
            return false;
        };
        let rel = child(relative, &entry.file_name().to_string_lossy());
        if !keep(&rel) {
            return paths.contains(rel.as_str());
        }
        let is_dir = entry.file_type().is_ok_and(|kind| kind.is_dir());
        !is_dir || only_kept_or_replaced(&entry.path(), &rel, keep, paths)
    })
}

/// The path, relative to DIR, of entry `name` of the directory at `relative`.
fn child(relative: &str, name: &str) -> String {
    if relative.is_empty() {
        name.to_owned()
    } else {
        format!("{relative}/{name}")
    }
}

/// Recreates `from` under `to`: directories with their modes, files hard-linked (copied when
/// linking fails), symlinks as symlinks; only relative paths `keep` accepts.
fn mirror(
    from: &Path,
    to: &Path,
    relative: &str,
    keep: &dyn Fn(&str) -> bool,
) -> Result<(), Report> {
    let entries = std::fs::read_dir(from).map_err(|e| Report::io(from, "read", &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Report::io(from, "read", &e))?;
        let name = entry.file_name();
        let rel = child(relative, &name.to_string_lossy());
        if !keep(&rel) {
            continue;
        }
        let source = entry.path();
        let target = to.join(&name);
        let meta =
            std::fs::symlink_metadata(&source).map_err(|e| Report::io(&source, "read", &e))?;
        if meta.file_type().is_symlink() {
            let link = std::fs::read_link(&source).map_err(|e| Report::io(&source, "read", &e))?;
            std::os::unix::fs::symlink(link, &target)
                .map_err(|e| Report::io(&target, "write", &e))?;
        } else if meta.is_dir() {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&target)
                .map_err(|e| Report::io(&target, "write", &e))?;
            mirror(&source, &target, &rel, keep)?;
            set_mode(&target, meta.permissions().mode() & 0o7777)?;
        } else {
            link_or_copy(&source, &target)?;
        }
    }
    Ok(())
}

fn link_or_copy(source: &Path, target: &Path) -> Result<(), Report> {
    if std::fs::hard_link(source, target).is_ok() {
        return Ok(());
    }
    std::fs::copy(source, target)
        .map(|_| ())
        .map_err(|e| Report::io(target, "write", &e))
}

/// Writes one file of the tree, created with its final mode (never wider for a moment).
pub fn write_file(
    root: &Path,
    relative: &str,
    contents: &Contents,
    mode: u32,
) -> Result<(), Report> {
    let path = root.join(relative);
    if let Some(parent) = path.parent() {
        make_dirs(parent, 0o755)?;
    }
    match contents {
        Contents::Bytes(bytes) => {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode & 0o777)
                .open(&path)
                .map_err(|e| Report::io(&path, "write", &e))?;
            file.set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(|e| Report::io(&path, "set the mode of", &e))?;
            file.write_all(bytes)
                .map_err(|e| Report::io(&path, "write", &e))?;
            file.sync_data().map_err(|e| Report::io(&path, "write", &e))
        }
        Contents::Link(source) => link_or_copy(source, &path),
    }
}

/// Creates `dir` and any missing parents with exactly `mode`, whatever the umask.
pub fn make_dirs(dir: &Path, mode: u32) -> Result<(), Report> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        make_dirs(parent, mode)?;
    }
    match std::fs::DirBuilder::new().mode(mode).create(dir) {
        Ok(()) => set_mode(dir, mode),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(Report::io(dir, "create the directory", &e)),
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), Report> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Report::io(path, "set the mode of", &e))
}

fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    let a = CString::new(a.as_os_str().as_bytes())?;
    let b = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both pointers are valid NUL-terminated strings that outlive the call, and
    // renameat2 only reads them.
    let status = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if status == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn internal(message: &str) -> Report {
    Diagnostic::error("internal.emit", message, Location::Nowhere).into()
}
