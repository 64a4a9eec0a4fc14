//! `kindling sysext build`: turns an etcd release into the systemd-sysext image the
//! flatcar-sysext profile references (`etcd-<version>-<arch>.raw`) and its `SHA256SUMS`
//! line. This module decides what goes into the image and checks it (architecture from the
//! ELF headers, version, the programs the profile's scripts call); `emit::image` writes it.

pub mod elf;
pub mod source;

use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, Location, Report};
use crate::resolve::values;

/// The extension name: the image's release file and its `/etc/extensions/` link both carry it.
pub const EXTENSION: &str = "etcd";

/// What the user asked for.
#[derive(Debug)]
pub struct BuildRequest {
    /// A release tarball or a directory holding the binaries.
    pub source: PathBuf,
    /// `x86-64` or `arm64`; read from the binaries when not given.
    pub arch: Option<String>,
    /// `vX.Y.Z`; read from the release's name when not given.
    pub version: Option<String>,
}

/// One file of the image tree.
#[derive(Debug)]
pub struct ImageFile {
    /// Relative to the image root, e.g. `usr/bin/etcd`.
    pub path: String,
    pub mode: u32,
    pub bytes: Vec<u8>,
}

/// An image ready to be written: its file name and every file, in a fixed order.
#[derive(Debug)]
pub struct Image {
    pub file_name: String,
    pub version: String,
    pub arch: String,
    pub files: Vec<ImageFile>,
}

/// Reads the release and decides the image, or says what is wrong with the release.
pub fn plan(request: &BuildRequest) -> Result<Image, Report> {
    let release = source::read(&request.source)?;
    let here = Location::File(request.source.clone());
    let version = version(request, &release, &here)?;
    let (minor, _) = values::etcd_version(&version).map_err(|invalid| {
        Report::from(
            Diagnostic::error("sysext.version", invalid.message, here.clone())
                .with_help(invalid.help),
        )
    })?;
    check_programs(&release, minor, &here)?;
    let arch = architecture(request, &release, &here)?;
    let mut files: Vec<ImageFile> = release
        .binaries
        .into_iter()
        .map(|(program, bytes)| ImageFile {
            path: format!("usr/bin/{program}"),
            mode: 0o755,
            bytes,
        })
        .collect();
    files.push(ImageFile {
        path: format!("usr/lib/extension-release.d/extension-release.{EXTENSION}"),
        mode: 0o644,
        bytes: release_file(&arch).into_bytes(),
    });
    Ok(Image {
        file_name: format!("{EXTENSION}-{version}-{arch}.raw"),
        version,
        arch,
        files,
    })
}

/// The extension-release file: Flatcar's systemd-sysext merges the image only when `ID`
/// and `SYSEXT_LEVEL` match the host's and `ARCHITECTURE` is the machine's.
pub fn release_file(arch: &str) -> String {
    format!("ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE={arch}\n")
}

/// The version the image is named by: what the etcd binary itself says when it can run on
/// this machine (a mismatch with the release's name or `--version` is refused), else the
/// release's name or `--version`.
fn version(
    request: &BuildRequest,
    release: &source::Release,
    here: &Location,
) -> Result<String, Report> {
    let reported = release
        .binaries
        .iter()
        .find(|(program, _)| *program == "etcd")
        .and_then(|(_, bytes)| source::reported_version(bytes));
    let claimed = match (&request.version, &release.named_version) {
        (Some(given), Some(named)) if given != named => {
            return Err(Diagnostic::error(
                "sysext.version-mismatch",
                format!("--version {given} differs from the release's name, which says {named}"),
                here.clone(),
            )
            .with_help("drop --version, or pass the release of that version")
            .into());
        }
        (Some(given), _) => Some(("--version", given)),
        (None, Some(named)) => Some(("the release's name", named)),
        (None, None) => None,
    };
    match (reported, claimed) {
        (Some(reported), Some((who, claimed))) if reported != *claimed => Err(Diagnostic::error(
            "sysext.version-mismatch",
            format!("the etcd binary says it is {reported}, but {who} says {claimed}"),
            here.clone(),
        )
        .with_help("the image is named and checked by its version: pass the release of the version you mean, or name it for the version it holds")
        .into()),
        (Some(reported), _) => Ok(reported),
        (None, Some((_, claimed))) => Ok(claimed.clone()),
        (None, None) => Err(Diagnostic::error(
            "sysext.version-unknown",
            format!(
                "{} does not say which etcd version it holds",
                request.source.display()
            ),
            here.clone(),
        )
        .with_help(
            "pass --version vX.Y.Z (the release's own name, etcd-vX.Y.Z-linux-ARCH, carries it; an etcd for another architecture cannot be asked here)",
        )
        .into()),
    }
}

/// etcd and etcdctl always; etcdutl from v3.5 on, where the backup script reads snapshots
/// back with it (v3.4 has no etcdutl).
fn check_programs(release: &source::Release, minor: u32, here: &Location) -> Result<(), Report> {
    let required: &[&str] = if minor >= 5 {
        &PROGRAMS_35
    } else {
        &PROGRAMS_34
    };
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|p| !release.binaries.iter().any(|(name, _)| name == p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Diagnostic::error(
        "sysext.binary-missing",
        format!("the release has no {}", missing.join(", ")),
        here.clone(),
    )
    .with_help(format!(
        "an etcd v3.{minor} image carries {}: pass the release tarball etcd publishes",
        required.join(", ")
    ))
    .into())
}

const PROGRAMS_34: [&str; 2] = ["etcd", "etcdctl"];
const PROGRAMS_35: [&str; 3] = source::PROGRAMS;

/// Every binary's ELF machine must be the same supported one, and agree with `--arch` and
/// with the release's name.
fn architecture(
    request: &BuildRequest,
    release: &source::Release,
    here: &Location,
) -> Result<String, Report> {
    let mut found: Option<(&str, &str)> = None;
    for (program, bytes) in &release.binaries {
        let arch = match elf::machine(bytes) {
            elf::Machine::Known(arch) => arch,
            elf::Machine::Other(machine) => {
                return Err(arch_error(
                    "sysext.arch-unsupported",
                    format!(
                        "{program} is built for ELF machine {machine}, which kindling has no image for"
                    ),
                    "kindling builds x86-64 and arm64 images",
                    here,
                ));
            }
            elf::Machine::Unrunnable(what) => {
                return Err(arch_error(
                    "sysext.arch-unsupported",
                    format!("{program} is {what}"),
                    "kindling builds x86-64 and arm64 images of 64-bit little-endian executables: use the release for the nodes' architecture",
                    here,
                ));
            }
            elf::Machine::NotElf => {
                return Err(arch_error(
                    "sysext.not-elf",
                    format!("{program} is not an ELF executable"),
                    "the release holds a damaged or wrong file: download it again",
                    here,
                ));
            }
        };
        match found {
            Some((first, other)) if other != arch => {
                return Err(arch_error(
                    "sysext.arch-mismatch",
                    format!("{first} is built for {other} but {program} for {arch}"),
                    "the binaries come from different releases: use one release tarball",
                    here,
                ));
            }
            Some(_) => {}
            None => found = Some((program, arch)),
        }
    }
    let Some((_, arch)) = found else {
        return Err(arch_error(
            "sysext.binary-missing",
            "the release has no binaries".into(),
            "",
            here,
        ));
    };
    if let Some(given) = &request.arch
        && given != arch
    {
        return Err(arch_error(
            "sysext.arch-mismatch",
            format!("--arch {given}, but the binaries are built for {arch}"),
            "pass the release for that architecture, or drop --arch",
            here,
        ));
    }
    let upstream = upstream_arch(arch);
    if let Some(named) = &release.named_arch
        && named != upstream
    {
        return Err(arch_error(
            "sysext.arch-mismatch",
            format!(
                "the release is named linux-{named}, but its binaries are built for {arch} (linux-{upstream})"
            ),
            "the tarball was renamed or repacked: download the release again",
            here,
        ));
    }
    Ok(arch.to_string())
}

/// etcd's release names spell architectures the Go way.
fn upstream_arch(systemd_arch: &str) -> &'static str {
    if systemd_arch == "arm64" {
        "arm64"
    } else {
        "amd64"
    }
}

fn arch_error(code: &'static str, message: String, help: &str, here: &Location) -> Report {
    let diagnostic = Diagnostic::error(code, message, here.clone());
    if help.is_empty() {
        diagnostic.into()
    } else {
        diagnostic.with_help(help).into()
    }
}

/// `SHA256SUMS` with the image's line added or replaced; every other line is kept as it was,
/// in its place. A line that is not in sha256sum format is refused rather than dropped.
pub fn updated_sums(
    existing: &str,
    sums_path: &Path,
    file_name: &str,
    hex: &str,
) -> Result<String, Report> {
    let mut out = String::new();
    let mut replaced = false;
    for (index, line) in existing.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Some((_, name)) = crate::resolve::material::parse_sums_line(line) else {
            let source = crate::diag::SourceFile::unquoted(sums_path, existing.to_string());
            return Err(Diagnostic::at(
                "sysext.sha256sums-format",
                "this line is not in sha256sum format, so kindling will not rewrite the file",
                &crate::diag::Span::new(&source, index as u64 + 1, 1),
            )
            .with_help("each line is 64 hex digits, two spaces (or space and '*'), and a file name")
            .into());
        };
        if name == file_name {
            if !replaced {
                out.push_str(&format!("{hex}  {file_name}\n"));
                replaced = true;
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !replaced {
        out.push_str(&format!("{hex}  {file_name}\n"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

    #[test]
    fn a_new_image_is_appended_and_an_old_line_replaced_in_place() {
        let path = Path::new("SHA256SUMS");
        let existing = format!("{A}  other.raw\n{B}  etcd-v3.5.21-x86-64.raw\n{A} *last.raw\n");
        let replaced = updated_sums(&existing, path, "etcd-v3.5.21-x86-64.raw", C).unwrap();
        assert_eq!(
            replaced,
            format!("{A}  other.raw\n{C}  etcd-v3.5.21-x86-64.raw\n{A} *last.raw\n")
        );
        let appended = updated_sums(&existing, path, "etcd-v3.6.1-x86-64.raw", C).unwrap();
        assert_eq!(appended, format!("{existing}{C}  etcd-v3.6.1-x86-64.raw\n"));
        assert_eq!(
            updated_sums("", path, "x.raw", C).unwrap(),
            format!("{C}  x.raw\n")
        );
    }

    #[test]
    fn a_file_that_is_not_sha256sum_format_is_refused_at_its_line() {
        let existing = format!("{A}  other.raw\nnot a sums line\n");
        let report = updated_sums(&existing, Path::new("S"), "x.raw", C).unwrap_err();
        let d = &report.diagnostics[0];
        assert_eq!(d.code, "sysext.sha256sums-format");
        assert!(d.place().contains(":2:1"), "{}", d.place());
    }

    #[test]
    fn the_release_file_names_flatcar_and_the_architecture() {
        assert_eq!(
            release_file("arm64"),
            "ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=arm64\n"
        );
    }
}
