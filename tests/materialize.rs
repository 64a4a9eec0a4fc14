//! `kindling materialize` through the real binary: what a node's filesystem holds, remote
//! files from --assets with their hashes checked, and refusals that write nothing.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{golden, kindling, snapshot};

fn materialize(config: &Path, root: &Path, assets: Option<&Path>) -> std::process::Output {
    let mut cmd = kindling();
    cmd.args(["--format", "json", "materialize"])
        .arg(config)
        .arg("--root")
        .arg(root);
    if let Some(assets) = assets {
        cmd.arg("--assets").arg(assets);
    }
    cmd.output().unwrap()
}

fn etcd1() -> std::path::PathBuf {
    golden("three-node").join("expected/etcd1.ign")
}

fn first_code(output: &std::process::Output) -> String {
    let findings: serde_json::Value = serde_json::from_slice(&output.stderr)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&output.stderr)));
    findings[0]["code"].as_str().unwrap().to_string()
}

/// The bytes golden/*/SHA256SUMS was computed from, for a fake image of that name.
fn fake_image(name: &str) -> Vec<u8> {
    format!("kindling test image {name}").into_bytes()
}

#[test]
fn a_node_root_holds_what_ignition_would_write() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let output = materialize(&etcd1(), &root, None);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listing = String::from_utf8(output.stdout).unwrap();
    assert!(
        listing.contains("skipped /opt/extensions/etcd/etcd-v3.5.21-x86-64.raw: remote http://"),
        "{listing}"
    );

    let env = std::fs::read_to_string(root.join("etc/etcd/etcd.env")).unwrap();
    assert!(
        env.contains("\nETCD_NAME=etcd1\n") && env.contains("\nGOMAXPROCS=2\n"),
        "{env}"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/hostname")).unwrap(),
        "etcd1\n"
    );
    let mode = |p: &str| {
        std::fs::symlink_metadata(root.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("var/lib/etcd"), 0o700);
    assert_eq!(mode("etc/etcd/pki/server.key"), 0o600);
    assert_eq!(mode("etc/etcd/pki/ca.crt"), 0o644);
    assert_eq!(
        std::fs::read(root.join("etc/etcd/pki/ca.crt")).unwrap(),
        std::fs::read(golden("three-node").join("pki/ca.crt")).unwrap()
    );
    assert_eq!(
        std::fs::read_link(root.join("etc/extensions/etcd.raw")).unwrap(),
        Path::new("/opt/extensions/etcd/etcd-v3.5.21-x86-64.raw")
    );
    assert_eq!(
        std::fs::read_link(root.join("etc/systemd/system/multi-user.target.wants/etcd.service"))
            .unwrap(),
        Path::new("/etc/systemd/system/etcd.service")
    );
    assert!(
        root.join("etc/systemd/system/systemd-sysupdate.service.d/etcd.conf")
            .is_file()
    );
    let presets =
        std::fs::read_to_string(root.join("etc/systemd/system-preset/20-ignition.preset")).unwrap();
    assert_eq!(
        presets,
        "enable etcd-roll-resume.service\nenable etcd.service\nenable systemd-sysupdate.timer\n"
    );
}

#[test]
fn remote_files_come_from_assets_and_are_hash_checked() {
    let dir = tempfile::tempdir().unwrap();
    let assets = dir.path().join("assets");
    std::fs::create_dir(&assets).unwrap();
    let image = "etcd-v3.5.21-x86-64.raw";
    std::fs::write(assets.join(image), fake_image(image)).unwrap();
    let root = dir.path().join("good");
    assert!(materialize(&etcd1(), &root, Some(&assets)).status.success());
    assert_eq!(
        std::fs::read(root.join("opt/extensions/etcd").join(image)).unwrap(),
        fake_image(image)
    );

    std::fs::write(assets.join(image), b"tampered").unwrap();
    let bad_root = dir.path().join("bad");
    let output = materialize(&etcd1(), &bad_root, Some(&assets));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(first_code(&output), "materialize.hash-mismatch");
    assert!(!bad_root.exists(), "nothing is written when the plan fails");

    std::fs::remove_file(assets.join(image)).unwrap();
    assert_eq!(
        first_code(&materialize(
            &etcd1(),
            &dir.path().join("none"),
            Some(&assets)
        )),
        "materialize.asset-missing"
    );
}

fn write_config(dir: &Path, config: serde_json::Value) -> std::path::PathBuf {
    let path = dir.join("config.ign");
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    path
}

#[test]
fn gzip_data_is_decompressed_and_checked() {
    use base64::Engine as _;
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let text = b"hello from a gzip data URL\n";
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text).unwrap();
    let gz = encoder.finish().unwrap();
    let source = format!(
        "data:;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&gz)
    );
    let hash = |bytes: &[u8]| {
        use sha2::Digest;
        format!("sha256-{}", hex::encode(sha2::Sha256::digest(bytes)))
    };
    let config = |hash: String| serde_json::json!({"ignition": {"version": "3.4.0"}, "storage": {"files": [{"path": "/etc/motd", "mode": 420, "contents": {"source": source, "compression": "gzip", "verification": {"hash": hash}}}]}});
    let path = write_config(dir.path(), config(hash(text)));
    assert!(
        materialize(&path, &dir.path().join("ok"), None)
            .status
            .success()
    );
    assert_eq!(std::fs::read(dir.path().join("ok/etc/motd")).unwrap(), text);
    let path = write_config(dir.path(), config(hash(b"other")));
    // The validator already refuses an inline hash that does not match.
    assert_eq!(
        first_code(&materialize(&path, &dir.path().join("bad"), None)),
        "ign.data-hash-mismatch"
    );
}

#[test]
fn invalid_configs_are_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        serde_json::json!({"ignition": {"version": "3.4.0"}, "storage": {"files": [{"path": "etc/relative", "contents": {"source": "data:,x"}}]}}),
    );
    let output = materialize(&path, &dir.path().join("root"), None);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(first_code(&output), "ign.path-relative");
    assert!(!dir.path().join("root").exists());

    std::fs::write(
        &path,
        "{\n  \"ignition\": {\"version\": \"3.4.0\"},\n  oops\n}\n",
    )
    .unwrap();
    let output = materialize(&path, &dir.path().join("root"), None);
    let findings: serde_json::Value = serde_json::from_slice(&output.stderr).unwrap();
    assert_eq!(findings[0]["code"], "ign.json-syntax");
    assert_eq!(findings[0]["line"], 3);

    let path = write_config(
        dir.path(),
        serde_json::json!({"ignition": {"version": "3.5.0-experimental"}}),
    );
    assert_eq!(
        first_code(&materialize(&path, &dir.path().join("root"), None)),
        "ign.version"
    );
}

#[test]
fn a_symlink_inside_the_root_cannot_lead_out_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("etc")).unwrap();
    let output = materialize(&etcd1(), &root, None);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(first_code(&output), "materialize.escape");
    assert!(
        snapshot(&outside).is_empty(),
        "nothing was written outside the root"
    );
}
