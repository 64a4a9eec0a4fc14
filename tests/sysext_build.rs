//! `kindling sysext build`, proven on real programs: Debian's etcd binaries are packed into
//! an upstream-style release tarball (no network), built into an image, listed with
//! `unsquashfs`, merged by `systemd-sysext` over a scratch root in a private mount namespace
//! (where this machine can mount; otherwise the unpacked tree is checked against what
//! systemd-sysext requires), and the merged `etcd --version` runs. Then `render` and
//! `matchbox --images` use the image with no hand-made SHA256SUMS.
//!
//! The refusals (wrong architecture, damaged binaries, missing programs, a SHA256SUMS
//! kindling cannot rewrite) need no programs and always run.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{kindling, snapshot, text};

/// What the image-building tests run.
const NEEDS: &[&str] = &["etcd", "etcdctl", "mksquashfs", "unsquashfs", "tar"];

fn main() {
    let arguments = libtest_mimic::Arguments::from_args();
    let trials = vec![
        common::trial(
            "a_release_tarball_becomes_an_image_systemd_sysext_merges",
            NEEDS,
            image_merges_and_runs,
        ),
        common::trial(
            "the_same_release_gives_the_same_bytes_and_other_sums_lines_are_kept",
            NEEDS,
            builds_are_reproducible,
        ),
        common::trial(
            "render_and_matchbox_use_the_built_image",
            NEEDS,
            render_and_matchbox_pick_it_up,
        ),
        common::trial(
            "binaries_for_another_machine_are_refused",
            &[],
            wrong_arch_is_refused,
        ),
        common::trial(
            "a_release_missing_a_program_is_refused",
            &[],
            missing_program_is_refused,
        ),
        common::trial(
            "a_sha256sums_kindling_cannot_rewrite_is_left_alone",
            &[],
            damaged_sums_is_left_alone,
        ),
        common::trial(
            "the_version_is_the_one_the_binary_reports",
            NEEDS,
            version_is_read_from_the_binary,
        ),
    ];
    libtest_mimic::run(&arguments, trials).exit();
}

/// Debian's etcd version, as upstream tags it (`v3.4.23`).
fn etcd_version() -> String {
    let output = Command::new("etcd").arg("--version").output().unwrap();
    let first = text(&output);
    let number = first
        .lines()
        .find_map(|l| l.strip_prefix("etcd Version: "))
        .expect("etcd --version names its version")
        .trim()
        .to_string();
    format!("v{number}")
}

fn which(program: &str) -> PathBuf {
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

/// An upstream-style release of Debian's binaries: `<dir>/etcd-vX.Y.Z-linux-amd64/{etcd,
/// etcdctl,README.md}` and the same packed as `<dir>/etcd-vX.Y.Z-linux-amd64.tar.gz`.
fn release(dir: &Path) -> (PathBuf, PathBuf, String) {
    let version = etcd_version();
    let name = format!("etcd-{version}-linux-amd64");
    let unpacked = dir.join(&name);
    std::fs::create_dir_all(&unpacked).unwrap();
    for program in ["etcd", "etcdctl"] {
        std::fs::copy(which(program), unpacked.join(program)).unwrap();
    }
    std::fs::write(unpacked.join("README.md"), "etcd release notes\n").unwrap();
    let tarball = dir.join(format!("{name}.tar.gz"));
    let status = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .arg("-czf")
        .arg(&tarball)
        .arg(&name)
        .status()
        .unwrap();
    assert!(status.success());
    (tarball, unpacked, version)
}

fn build(source: &Path, out: &Path) -> std::process::Output {
    kindling()
        .args(["sysext", "build", "--etcd"])
        .arg(source)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap()
}

fn sha256_of(path: &Path) -> String {
    let output = Command::new("sha256sum").arg(path).output().unwrap();
    text(&output).split_whitespace().next().unwrap().to_string()
}

fn image_merges_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (tarball, _, version) = release(dir.path());
    let out = dir.path().join("images");
    let built = build(&tarball, &out);
    assert!(built.status.success(), "{}", text(&built));
    let file_name = format!("etcd-{version}-x86-64.raw");
    let image = out.join(&file_name);
    let sums = std::fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    assert_eq!(sums, format!("{}  {file_name}\n", sha256_of(&image)));
    assert_eq!(
        std::fs::metadata(&image).unwrap().permissions().mode() & 0o777,
        0o644
    );

    // Every inode root-owned, every time the epoch, and nothing outside /usr.
    let listing = Command::new("unsquashfs")
        .arg("-lls")
        .arg(&image)
        .output()
        .unwrap();
    assert!(listing.status.success(), "{}", text(&listing));
    let mut paths = Vec::new();
    for line in text(&listing)
        .lines()
        .filter(|l| l.contains("squashfs-root"))
    {
        assert!(line.contains(" root/root "), "{line}");
        assert!(line.contains(" 1970-01-01 00:00 "), "{line}");
        paths.push(line.split_whitespace().last().unwrap().to_string());
    }
    let expected = [
        "squashfs-root",
        "squashfs-root/usr",
        "squashfs-root/usr/bin",
        "squashfs-root/usr/bin/etcd",
        "squashfs-root/usr/bin/etcdctl",
        "squashfs-root/usr/lib",
        "squashfs-root/usr/lib/extension-release.d",
        "squashfs-root/usr/lib/extension-release.d/extension-release.etcd",
    ];
    assert_eq!(paths, expected);

    let unpacked = dir.path().join("unpacked");
    let status = Command::new("unsquashfs")
        .args(["-no-progress", "-d"])
        .arg(&unpacked)
        .arg(&image)
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", text(&status));
    let release_file = unpacked.join("usr/lib/extension-release.d/extension-release.etcd");
    assert_eq!(
        std::fs::read_to_string(release_file).unwrap(),
        "ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=x86-64\n"
    );
    let etcd_in_image = unpacked.join("usr/bin/etcd");
    assert_eq!(
        std::fs::read(&etcd_in_image).unwrap(),
        std::fs::read(which("etcd")).unwrap()
    );
    assert_eq!(
        std::fs::metadata(&etcd_in_image)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o755
    );

    merge_in_a_private_namespace(dir.path(), &image, &version);
}

/// A scratch root shaped like Flatcar's (os-release with ID=flatcar, SYSEXT_LEVEL=1.0), the
/// image under the name the profile links (`/etc/extensions/etcd.raw`), merged by the real
/// systemd-sysext in a mount namespace of its own; the merged etcd must run.
fn merge_in_a_private_namespace(dir: &Path, image: &Path, version: &str) {
    let can_mount = common::on_path("systemd-sysext")
        && common::on_path("unshare")
        && Command::new("unshare")
            .args(["-m", "--propagation", "private", "true"])
            .status()
            .is_ok_and(|s| s.success());
    if !can_mount {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true, but this machine cannot run systemd-sysext in a mount namespace"
        );
        eprintln!(
            "note: systemd-sysext merge skipped: no mount namespace here (the unpacked tree was checked)"
        );
        return;
    }
    let scratch = dir.join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let script = r#"
set -eu
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs "$SCRATCH"
mount --make-rshared "$SCRATCH"
root="$SCRATCH/root"
mkdir -p "$root/usr/lib" "$root/usr/bin" "$root/opt" "$root/etc/extensions"
printf 'ID=flatcar\nSYSEXT_LEVEL=1.0\nVERSION_ID=4230.2.3\n' > "$root/usr/lib/os-release"
cp "$IMAGE" "$root/etc/extensions/etcd.raw"
systemd-sysext merge --root="$root"
"$root/usr/bin/etcd" --version
"#;
    let output = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script])
        .env("SCRATCH", &scratch)
        .env("IMAGE", image)
        .output()
        .unwrap();
    let said = text(&output);
    assert!(output.status.success(), "{said}");
    assert!(said.contains("Merged extensions"), "{said}");
    let number = version.trim_start_matches('v');
    assert!(said.contains(&format!("etcd Version: {number}")), "{said}");
}

fn builds_are_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let (tarball, unpacked, version) = release(dir.path());
    let first = dir.path().join("first");
    let second = dir.path().join("second");
    std::fs::create_dir(&second).unwrap();
    let other = format!("{}  etcd-v3.5.0-x86-64.raw\n", "ab".repeat(32));
    std::fs::write(second.join("SHA256SUMS"), &other).unwrap();
    assert!(build(&tarball, &first).status.success());
    // The same release unpacked, with other times and modes, built into a directory
    // that already lists another image.
    for program in ["etcd", "etcdctl"] {
        let path = unpacked.join(program);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
        Command::new("touch")
            .args(["-d", "2001-02-03"])
            .arg(&path)
            .status()
            .unwrap();
    }
    assert!(build(&unpacked, &second).status.success());
    let file_name = format!("etcd-{version}-x86-64.raw");
    let bytes = |dir: &Path| std::fs::read(dir.join(&file_name)).unwrap();
    assert!(bytes(&first) == bytes(&second), "the two builds differ");
    let sums = std::fs::read_to_string(second.join("SHA256SUMS")).unwrap();
    let line = format!("{}  {file_name}\n", sha256_of(&first.join(&file_name)));
    assert_eq!(sums, format!("{other}{line}"));
    // Built again: the line is replaced in place, not added twice.
    assert!(build(&unpacked, &second).status.success());
    assert_eq!(
        std::fs::read_to_string(second.join("SHA256SUMS")).unwrap(),
        sums
    );
}

fn render_and_matchbox_pick_it_up() {
    let scratch = common::scratch_copy("three-node");
    let (tarball, _, version) = release(scratch.path());
    let images = scratch.path().join("images");
    assert!(build(&tarball, &images).status.success());
    let spec = scratch.path().join("cluster.yaml");
    let text_of_spec = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("version: v3.5.21", &format!("version: {version}"))
        .replace("sha256sums: SHA256SUMS", "sha256sums: images/SHA256SUMS");
    std::fs::write(&spec, text_of_spec).unwrap();
    let out = scratch.path().join("out");
    let rendered = kindling()
        .arg("render")
        .arg(&spec)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(rendered.status.success(), "{}", text(&rendered));
    let hash = sha256_of(&images.join(format!("etcd-{version}-x86-64.raw")));
    let config = std::fs::read_to_string(out.join("etcd1.ign")).unwrap();
    assert!(
        config.contains(&format!("\"sha256-{hash}\"")),
        "the config verifies another hash"
    );
    assert!(config.contains(&format!("etcd-{version}-x86-64.raw")));

    let data = scratch.path().join("matchbox");
    let published = kindling()
        .arg("matchbox")
        .arg(&spec)
        .arg("-o")
        .arg(&data)
        .arg("--images")
        .arg(&images)
        .output()
        .unwrap();
    assert!(published.status.success(), "{}", text(&published));
    let served = std::fs::read_to_string(data.join("assets/extensions/SHA256SUMS")).unwrap();
    assert!(served.contains(&hash), "{served}");
}

/// An ELF header (64-bit, little-endian, an executable) for `machine`, padded like a tiny
/// binary.
fn fake_elf(machine: u16) -> Vec<u8> {
    let mut bytes = vec![0x7f, b'E', b'L', b'F', 2, 1, 1];
    bytes.resize(16, 0);
    bytes.extend_from_slice(&2u16.to_le_bytes()); // e_type: ET_EXEC
    bytes.extend_from_slice(&machine.to_le_bytes());
    bytes.resize(256, 0);
    bytes
}

fn fake_release(dir: &Path, name: &str, programs: &[(&str, Vec<u8>)]) -> PathBuf {
    let release = dir.join(name);
    std::fs::create_dir_all(&release).unwrap();
    for (program, bytes) in programs {
        std::fs::write(release.join(program), bytes).unwrap();
    }
    release
}

/// Refused with `code`, exit 1, and the output directory exactly as it was.
fn refused(source: &Path, extra: &[&str], out: &Path, code: &str) {
    let before = snapshot(out);
    let output = kindling()
        .args(["--format", "json", "sysext", "build", "--etcd"])
        .arg(source)
        .args(extra)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let findings: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(findings[0]["code"], code, "{findings}");
    assert_eq!(snapshot(out), before, "the output directory changed");
}

/// Debian's etcd packed under another version's name is refused (the binary is asked), and
/// a release without a name needs no `--version`: the binary says it.
fn version_is_read_from_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let (_, unpacked, version) = release(dir.path());
    let out = dir.path().join("images");
    let misnamed = dir.path().join("etcd-v3.5.21-linux-amd64");
    assert_ne!(version, "v3.5.21", "pick another name for this test");
    std::fs::rename(&unpacked, &misnamed).unwrap();
    refused(&misnamed, &[], &out, "sysext.version-mismatch");
    refused(
        &misnamed,
        &["--version", "v3.5.21"],
        &out,
        "sysext.version-mismatch",
    );
    let unnamed = dir.path().join("bin");
    std::fs::rename(&misnamed, &unnamed).unwrap();
    let built = build(&unnamed, &out);
    assert!(built.status.success(), "{}", text(&built));
    assert!(out.join(format!("etcd-{version}-x86-64.raw")).is_file());
}

fn wrong_arch_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let x86 = || fake_elf(62);
    let arm = || fake_elf(183);
    let mixed = fake_release(
        dir.path(),
        "etcd-v3.5.21-linux-amd64",
        &[("etcd", x86()), ("etcdctl", arm()), ("etcdutl", x86())],
    );
    refused(&mixed, &[], &out, "sysext.arch-mismatch");
    let arm_named_amd = fake_release(
        dir.path(),
        "etcd-v3.5.22-linux-amd64",
        &[("etcd", arm()), ("etcdctl", arm()), ("etcdutl", arm())],
    );
    refused(&arm_named_amd, &[], &out, "sysext.arch-mismatch");
    let amd = fake_release(
        dir.path(),
        "etcd-v3.5.23-linux-amd64",
        &[("etcd", x86()), ("etcdctl", x86()), ("etcdutl", x86())],
    );
    refused(&amd, &["--arch", "arm64"], &out, "sysext.arch-mismatch");
    let riscv = fake_release(
        dir.path(),
        "etcd-v3.5.24-linux-riscv64",
        &[
            ("etcd", fake_elf(243)),
            ("etcdctl", fake_elf(243)),
            ("etcdutl", fake_elf(243)),
        ],
    );
    refused(&riscv, &[], &out, "sysext.arch-unsupported");
    let script = fake_release(
        dir.path(),
        "etcd-v3.5.25-linux-amd64",
        &[
            ("etcd", b"#!/bin/sh\n".to_vec()),
            ("etcdctl", x86()),
            ("etcdutl", x86()),
        ],
    );
    refused(&script, &[], &out, "sysext.not-elf");
}

fn missing_program_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let x86 = || fake_elf(62);
    // v3.5 images carry etcdutl, which the backup script uses to read snapshots back.
    let no_etcdutl = fake_release(
        dir.path(),
        "etcd-v3.5.21-linux-amd64",
        &[("etcd", x86()), ("etcdctl", x86())],
    );
    refused(&no_etcdutl, &[], &out, "sysext.binary-missing");
    let unnamed = fake_release(dir.path(), "bin", &[("etcd", x86()), ("etcdctl", x86())]);
    refused(&unnamed, &[], &out, "sysext.version-unknown");
    refused(&unnamed, &["--version", "3.4.1"], &out, "sysext.version");
    let named = fake_release(
        dir.path(),
        "etcd-v3.4.20-linux-amd64",
        &[("etcd", x86()), ("etcdctl", x86())],
    );
    refused(
        &named,
        &["--version", "v3.4.21"],
        &out,
        "sysext.version-mismatch",
    );
    let not_tar = dir.path().join("etcd-v3.4.20-linux-amd64.tar.gz");
    std::fs::write(&not_tar, b"\x1f\x8bnot really gzip").unwrap();
    refused(&not_tar, &[], &out, "sysext.source");
}

fn damaged_sums_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("SHA256SUMS"), "this is not a sums file\n").unwrap();
    let x86 = || fake_elf(62);
    let release = fake_release(
        dir.path(),
        "etcd-v3.4.20-linux-amd64",
        &[("etcd", x86()), ("etcdctl", x86())],
    );
    refused(&release, &[], &out, "sysext.sha256sums-format");
}
