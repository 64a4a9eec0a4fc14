//! Emit: the only stage that writes, and the ways a compiled cluster leaves kindling
//! (files here, a Matchbox tree, the Terraform protocol in the submodules).
//!
//! Every file is written to a temporary file beside its final name, flushed to disk, and
//! only when all of them are ready renamed into place, so a failed run leaves the output
//! directory as it was.

pub mod matchbox;
pub mod terraform;

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

/// Writes every output into `dir` with `mode`, all or nothing.
///
/// Rendered configs hold private keys, so callers pass 0o600 for them.
pub fn write_all(dir: &Path, outputs: &[Output], mode: u32) -> Result<Vec<PathBuf>, Report> {
    std::fs::create_dir_all(dir).map_err(|e| Report::io(dir, "create the output directory", &e))?;
    let mut staged = Vec::with_capacity(outputs.len());
    for output in outputs {
        staged.push((stage(dir, output, mode)?, dir.join(&output.file_name)));
    }
    let mut written = Vec::with_capacity(staged.len());
    for (temp, target) in staged {
        temp.persist(&target)
            .map_err(|e| Report::io(&target, "move into place", &e.error))?;
        written.push(target);
    }
    sync_dir(dir);
    Ok(written)
}

/// Writes one new file that must not exist yet (used for keys and certificates): the data
/// lands under a temporary name first, then is linked into place without replacing anything.
pub fn create_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Report> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Report::io(dir, "create the directory", &e))?;
    let output = Output {
        file_name: String::new(),
        bytes: bytes.to_vec(),
    };
    let temp = stage(dir, &output, mode)?;
    temp.persist_noclobber(path)
        .map_err(|e| Report::io(path, "create", &e.error))?;
    sync_dir(dir);
    Ok(())
}

fn stage(dir: &Path, output: &Output, mode: u32) -> Result<NamedTempFile, Report> {
    let mut temp = tempfile::Builder::new()
        .prefix(".kindling-")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(|e| Report::io(dir, "create a temporary file in", &e))?;
    let path = temp.path().to_path_buf();
    temp.write_all(&output.bytes)
        .map_err(|e| Report::io(&path, "write", &e))?;
    // The umask may have narrowed the mode given at creation; set it exactly.
    temp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(|e| Report::io(&path, "set the mode of", &e))?;
    temp.as_file()
        .sync_data()
        .map_err(|e| Report::io(&path, "flush", &e))?;
    Ok(temp)
}

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
