//! Reads an etcd release as upstream publishes it (`etcd-vX.Y.Z-linux-ARCH.tar.gz`, or that
//! tarball unpacked) into the binaries an image holds. Reads only; nothing is unpacked to disk.

use std::io::Read;
use std::path::Path;

use crate::diag::{Diagnostic, Location, Report};

/// The programs an etcd image carries, in the order they are listed.
pub const PROGRAMS: [&str; 3] = ["etcd", "etcdctl", "etcdutl"];

/// The largest binary kindling packs (etcd itself is about 25 MiB).
const BINARY_LIMIT: u64 = 256 << 20;

/// What a release tarball or directory held.
#[derive(Debug)]
pub struct Release {
    /// `v3.5.21` and `amd64` from a name such as `etcd-v3.5.21-linux-amd64`, when it has one.
    pub named_version: Option<String>,
    pub named_arch: Option<String>,
    /// The programs of `PROGRAMS` that were found, with their bytes.
    pub binaries: Vec<(&'static str, Vec<u8>)>,
}

/// Reads a release from a tarball (gzip-compressed or not) or a directory.
pub fn read(path: &Path) -> Result<Release, Report> {
    let meta = std::fs::metadata(path).map_err(|e| Report::io(path, "read", &e))?;
    if meta.is_dir() {
        return read_dir(path);
    }
    let file = std::fs::File::open(path).map_err(|e| Report::io(path, "read", &e))?;
    let mut reader = std::io::BufReader::new(file);
    let gzip = {
        use std::io::BufRead;
        let head = reader
            .fill_buf()
            .map_err(|e| Report::io(path, "read", &e))?;
        head.starts_with(&[0x1f, 0x8b])
    };
    if gzip {
        read_tar(path, flate2::read::GzDecoder::new(reader))
    } else {
        read_tar(path, reader)
    }
}

fn read_dir(dir: &Path) -> Result<Release, Report> {
    let (named_version, named_arch) = parse_name(&file_name(dir));
    let mut binaries = Vec::new();
    for program in PROGRAMS {
        let path = dir.join(program);
        match crate::read::bytes(&path, BINARY_LIMIT) {
            Ok(bytes) => binaries.push((program, bytes)),
            Err(crate::read::ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(source_error(
                    &path,
                    format!("cannot read {}: {error}", path.display()),
                ));
            }
        }
    }
    Ok(Release {
        named_version,
        named_arch,
        binaries,
    })
}

/// Takes `PROGRAMS` from the tarball's one top-level directory, as upstream lays it out.
fn read_tar(path: &Path, reader: impl Read) -> Result<Release, Report> {
    let not_a_release = |detail: String| {
        source_error(
            path,
            format!(
                "{} is not an etcd release tarball: {detail}",
                path.display()
            ),
        )
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| not_a_release(e.to_string()))?;
    let mut top: Option<String> = None;
    let mut binaries = Vec::new();
    for entry in entries {
        let mut entry = entry.map_err(|e| not_a_release(e.to_string()))?;
        let entry_path = entry.path().map_err(|e| not_a_release(e.to_string()))?;
        let parts: Vec<String> = entry_path
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let Some(first) = parts.first() else { continue };
        match &top {
            Some(dir) if dir != first => {
                return Err(not_a_release(format!(
                    "it holds both {dir}/ and {first}/, but a release has one top directory"
                )));
            }
            Some(_) => {}
            None => top = Some(first.clone()),
        }
        let program = match parts.as_slice() {
            [_, name] => PROGRAMS.iter().find(|p| **p == name.as_str()),
            _ => None,
        };
        let Some(program) = program else { continue };
        if !entry.header().entry_type().is_file() {
            return Err(not_a_release(format!("{program} is not a regular file")));
        }
        if binaries.iter().any(|(name, _)| name == program) {
            return Err(not_a_release(format!("it holds {program} twice")));
        }
        let bytes = crate::read::bounded(&mut entry, BINARY_LIMIT)
            .map_err(|e| not_a_release(format!("{program}: {e}")))?;
        binaries.push((*program, bytes));
    }
    let Some(top) = top else {
        return Err(not_a_release("it is empty".to_string()));
    };
    let (named_version, named_arch) = parse_name(&top);
    binaries.sort_by_key(|(name, _)| PROGRAMS.iter().position(|p| p == name));
    Ok(Release {
        named_version,
        named_arch,
        binaries,
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `etcd-v3.5.21-linux-amd64` (with or without `.tar.gz`) → (`v3.5.21`, `amd64`).
fn parse_name(name: &str) -> (Option<String>, Option<String>) {
    let stem = [".tar.gz", ".tgz", ".tar"]
        .iter()
        .find_map(|ext| name.strip_suffix(ext))
        .unwrap_or(name);
    let Some((version, arch)) = stem
        .strip_prefix("etcd-")
        .and_then(|rest| rest.split_once("-linux-"))
    else {
        return (None, None);
    };
    (Some(version.to_string()), Some(arch.to_string()))
}

fn source_error(path: &Path, message: String) -> Report {
    Diagnostic::error("sysext.source", message, Location::File(path.to_path_buf()))
        .with_help("pass the release tarball etcd publishes (etcd-vX.Y.Z-linux-amd64.tar.gz) or a directory holding etcd, etcdctl and etcdutl")
        .into()
}

/// The version an etcd binary reports (`etcd --version`: "etcd Version: 3.4.23" becomes
/// `v3.4.23`), when it is built for this machine and runs. It runs from a private temporary
/// directory with an empty environment and no input, and is stopped after ten seconds.
/// None for a binary of another architecture or one that does not answer.
pub fn reported_version(etcd: &[u8]) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    if super::elf::machine(etcd) != super::elf::host_machine()? {
        return None;
    }
    let dir = tempfile::tempdir().ok()?;
    let program = dir.path().join("etcd");
    std::fs::write(&program, etcd).ok()?;
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o700)).ok()?;
    let mut child = std::process::Command::new(&program)
        .arg("--version")
        .env_clear()
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while child.try_wait().ok()?.is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut printed = String::new();
    child
        .stdout
        .take()?
        .take(64 << 10)
        .read_to_string(&mut printed)
        .ok()?;
    let version = printed
        .lines()
        .find_map(|line| line.strip_prefix("etcd Version: "))?
        .trim();
    crate::resolve::values::etcd_version(&format!("v{version}")).ok()?;
    Some(format!("v{version}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_version_and_architecture() {
        let parsed = parse_name("etcd-v3.5.21-linux-arm64.tar.gz");
        assert_eq!(parsed, (Some("v3.5.21".into()), Some("arm64".into())));
        assert_eq!(
            parse_name("etcd-v3.4.23-linux-amd64").0.as_deref(),
            Some("v3.4.23")
        );
        assert_eq!(parse_name("bin"), (None, None));
    }
}
