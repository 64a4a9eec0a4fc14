//! Writes a sysext image with Debian's (or any distribution's) `mksquashfs` and records it
//! in the output directory's `SHA256SUMS`.
//!
//! Why mksquashfs rather than a Rust squashfs writer: it is what the Flatcar sysext bakery
//! and systemd's own tooling use, so the kernel has mounted its output for years; it writes
//! reproducible images when told to (fixed times, root owner, sorted entries); and it keeps
//! the compression libraries out of a compiler whose every other command never needs them.
//!
//! The image is staged, packed under a temporary name in the output directory and renamed
//! into place; then `SHA256SUMS` is replaced the same way. Both happen under the directory's
//! lock, so two builds into one directory never lose each other's line.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::diag::{Diagnostic, Location, Report};
use crate::sysext::Image;

/// The program that packs the tree.
const MKSQUASHFS: &str = "mksquashfs";

/// What a build left in the output directory.
#[derive(Debug)]
pub struct Built {
    pub image: PathBuf,
    pub sha256: String,
    pub sums: PathBuf,
}

/// Packs `image` into `out_dir/<file name>` and adds or replaces its `SHA256SUMS` line.
pub fn build(image: Image, out_dir: &Path) -> Result<Built, Report> {
    super::tree::make_dirs(out_dir, 0o755)?;
    let _lock = super::tree::hold_lock(out_dir)?;
    let sums = out_dir.join("SHA256SUMS");
    // A regular file of at most the spec limit: a symlink (to /dev/zero, to a file it would
    // then be replaced over) or a runaway file is refused, not read until memory runs out.
    let existing = match crate::read::regular_text(&sums, crate::read::SPEC_LIMIT) {
        Ok(text) => text,
        Err(crate::read::ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            String::new()
        }
        Err(e) => {
            return Err(Diagnostic::error(
                "sysext.sha256sums-unreadable",
                format!("cannot read {}: {e}", sums.display()),
                Location::File(sums.clone()),
            )
            .with_help("SHA256SUMS in the output directory is kindling's own list: a regular file of at most 4 MiB")
            .into());
        }
    };
    // Refuse a damaged SHA256SUMS before spending time on the image.
    crate::sysext::updated_sums(&existing, &sums, &image.file_name, &"0".repeat(64))?;
    remove_leftovers(out_dir)?;
    // Staged beside the image, under the directory's lock, so what a killed build leaves
    // is found and removed by the next one (a TMPDIR shared with other runs could not be).
    let stage = tempfile::Builder::new()
        .prefix(".kindling-stage-")
        .tempdir_in(out_dir)
        .map_err(|e| Report::io(out_dir, "create a directory in", &e))?;
    let root = stage.path().join("root");
    super::tree::make_dirs(&root, 0o755)?;
    for file in image.files {
        let contents = super::tree::Contents::Bytes(file.bytes);
        super::tree::write_file(&root, &file.path, &contents, file.mode)?;
    }
    let packed = tempfile::Builder::new()
        .prefix(".kindling-")
        .suffix(".raw")
        .tempfile_in(out_dir)
        .map_err(|e| Report::io(out_dir, "create a temporary file in", &e))?;
    mksquashfs(&root, packed.path())?;
    packed
        .as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(|e| Report::io(packed.path(), "set the mode of", &e))?;
    packed
        .as_file()
        .sync_all()
        .map_err(|e| Report::io(packed.path(), "flush", &e))?;
    let sha256 = crate::resolve::material::sha256_file(packed.path())
        .map_err(|e| Report::io(packed.path(), "read", &e))?;
    let target = out_dir.join(&image.file_name);
    super::crash_point("sysext-before-image");
    packed
        .persist(&target)
        .map_err(|e| Report::io(&target, "replace", &e.error))?;
    let text = crate::sysext::updated_sums(&existing, &sums, &image.file_name, &sha256)?;
    super::replace_file(&sums, text.as_bytes(), 0o644)?;
    Ok(Built {
        image: target,
        sha256,
        sums,
    })
}

/// Removes what earlier builds into `dir` left when they were killed: their staging
/// directories and partial images and sums (`.kindling-*`). The caller holds the
/// directory's lock, so no running build owns them.
fn remove_leftovers(dir: &Path) -> Result<(), Report> {
    let entries = std::fs::read_dir(dir).map_err(|e| Report::io(dir, "read", &e))?;
    for entry in entries.flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .starts_with(".kindling-")
        {
            continue;
        }
        let path = entry.path();
        let removed = match entry.file_type() {
            Ok(kind) if kind.is_dir() => std::fs::remove_dir_all(&path),
            _ => std::fs::remove_file(&path),
        };
        removed.map_err(|e| Report::io(&path, "remove the leftover", &e))?;
    }
    Ok(())
}

/// A child that is killed when kindling is: a `kill -9` of the build (a CI timeout) must not
/// leave mksquashfs writing on.
trait DieWithParent {
    fn die_with_parent(&mut self) -> &mut Self;
}

impl DieWithParent for Command {
    fn die_with_parent(&mut self) -> &mut Self {
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure runs in the child between fork and exec and calls only
        // prctl, which is async-signal-safe.
        unsafe {
            self.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            })
        }
    }
}

/// Packs `root` into `output`: every inode owned by root, every time (and the filesystem's
/// own) zero, no extended attributes, gzip as the bakery does. `SOURCE_DATE_EPOCH` is
/// removed from the environment because mksquashfs refuses it beside explicit times.
fn mksquashfs(root: &Path, output: &Path) -> Result<(), Report> {
    let result = Command::new(MKSQUASHFS)
        .arg(root)
        .arg(output)
        .args(["-noappend", "-reproducible", "-all-root", "-no-xattrs"])
        .args(["-all-time", "0", "-mkfs-time", "0", "-comp", "gzip"])
        .args(["-quiet", "-no-progress"])
        .env_remove("SOURCE_DATE_EPOCH")
        .die_with_parent()
        .output();
    let output = match result {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Diagnostic::error(
                "sysext.mksquashfs-missing",
                "mksquashfs is not on PATH",
                Location::Nowhere,
            )
            .with_help("install squashfs-tools (apt-get install squashfs-tools, dnf install squashfs-tools)")
            .into());
        }
        Err(e) => return Err(Report::io(Path::new(MKSQUASHFS), "run", &e)),
    };
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(Diagnostic::error(
        "sysext.mksquashfs-failed",
        format!("mksquashfs failed ({}): {}", output.status, stderr.trim()),
        Location::Nowhere,
    )
    .with_help("kindling needs squashfs-tools 4.4 or newer (for -all-time and -mkfs-time)")
    .into())
}
