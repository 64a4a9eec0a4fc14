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
    assert!(
        !root
            .join("etc/systemd/system/multi-user.target.wants")
            .exists(),
        "Ignition enables units by presets only, never by .wants links"
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

/// A config given inline, materialized into a fresh root; returns the output and the root.
fn materialize_inline(config: &serde_json::Value) -> (std::process::Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.ign");
    std::fs::write(&path, config.to_string()).unwrap();
    let root = dir.path().join("root");
    let output = materialize(&path, &root, None);
    (output, dir)
}

#[test]
fn appends_follow_the_contents_and_an_empty_source_is_an_empty_file() {
    let config = serde_json::json!({
        "ignition": { "version": "3.3.0" },
        "storage": { "files": [
            { "path": "/etc/a", "contents": { "source": "data:,first%0A" },
              "append": [{ "source": "data:,second%0A" }, { "source": "data:,third%0A" }] },
            { "path": "/etc/b", "append": [{ "source": "data:,only%0A" }] },
            { "path": "/etc/c", "overwrite": true, "contents": { "source": "" } }
        ]}
    });
    let (output, dir) = materialize_inline(&config);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read = |p: &str| std::fs::read_to_string(dir.path().join("root").join(p)).unwrap();
    assert_eq!(read("etc/a"), "first\nsecond\nthird\n");
    assert_eq!(read("etc/b"), "only\n");
    assert_eq!(read("etc/c"), "");
}

#[test]
fn contents_never_replace_a_file_that_is_there_unless_the_entry_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/kept"), "old\n").unwrap();
    let write = |entry: serde_json::Value| {
        let path = dir.path().join("config.ign");
        let config = serde_json::json!({
            "ignition": { "version": "3.3.0" }, "storage": { "files": [entry] }
        });
        std::fs::write(&path, config.to_string()).unwrap();
        materialize(&path, &root, None)
    };
    let refused =
        write(serde_json::json!({ "path": "/etc/kept", "contents": { "source": "data:,new" } }));
    assert_eq!(first_code(&refused), "materialize.exists");
    let findings: serde_json::Value = serde_json::from_slice(&refused.stderr).unwrap();
    assert_eq!(findings[0]["path"], "$.storage.files.0", "{findings}");
    // Refused before anything is written: an entry listed before the conflict is not made.
    let both = dir.path().join("both.ign");
    let config = serde_json::json!({ "ignition": { "version": "3.3.0" }, "storage": { "files": [
        { "path": "/etc/new", "contents": { "source": "data:,x" } },
        { "path": "/etc/kept", "contents": { "source": "data:,new" } }
    ]}});
    std::fs::write(&both, config.to_string()).unwrap();
    let refused = materialize(&both, &root, None);
    assert_eq!(first_code(&refused), "materialize.exists");
    assert!(
        !root.join("etc/new").exists(),
        "nothing is written when an entry is refused"
    );
    let appended = write(
        serde_json::json!({ "path": "/etc/kept", "append": [{ "source": "data:,more%0A" }] }),
    );
    assert!(appended.status.success());
    assert_eq!(
        std::fs::read_to_string(root.join("etc/kept")).unwrap(),
        "old\nmore\n"
    );
    let replaced = write(
        serde_json::json!({ "path": "/etc/kept", "overwrite": true, "contents": { "source": "data:,new" } }),
    );
    assert!(replaced.status.success());
    assert_eq!(
        std::fs::read_to_string(root.join("etc/kept")).unwrap(),
        "new"
    );
}

#[test]
fn accounts_are_listed_not_applied_in_a_root_without_passwd() {
    let config = serde_json::json!({
        "ignition": { "version": "3.3.0" },
        "passwd": { "users": [{ "name": "core", "sshAuthorizedKeys": ["ssh-ed25519 AAAA test"] }] }
    });
    let (output, dir) = materialize_inline(&config);
    assert!(output.status.success());
    let listing = String::from_utf8(output.stdout).unwrap();
    assert!(
        listing.contains("user    core: not applied (the root has no /etc/passwd)"),
        "{listing}"
    );
    assert!(!dir.path().join("root/home").exists());
}

#[test]
fn setuid_bits_survive_the_owner_being_set() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: owners are applied only when running as root");
        return;
    }
    let config = serde_json::json!({
        "ignition": { "version": "3.3.0" },
        "storage": { "files": [
            { "path": "/usr/local/bin/tool", "mode": 0o4755, "user": { "id": 0 }, "group": { "id": 0 },
              "contents": { "source": "data:,%23!/bin/sh%0A" } }
        ]}
    });
    let (output, dir) = materialize_inline(&config);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mode = std::fs::metadata(dir.path().join("root/usr/local/bin/tool"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o4755, "chown after chmod clears setuid");
}

#[test]
fn accounts_are_applied_as_ignition_applies_them_and_their_failures_located() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: the shadow-utils commands need root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("home")).unwrap();
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    std::fs::write(root.join("etc/shadow"), "root:*:20000:0:99999:7:::\n").unwrap();
    std::fs::write(root.join("etc/gshadow"), "root:*::\n").unwrap();
    let run = |users: serde_json::Value| {
        let path = dir.path().join("config.ign");
        let config =
            serde_json::json!({ "ignition": { "version": "3.3.0" }, "passwd": { "users": users } });
        std::fs::write(&path, config.to_string()).unwrap();
        materialize(&path, &root, None)
    };
    let made = run(
        serde_json::json!([{ "name": "ops", "uid": 1500, "sshAuthorizedKeys": ["ssh-ed25519 AAAA ops"] }]),
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(passwd.contains("ops:x:1500:"), "{passwd}");
    let keys = root.join("home/ops/.ssh/authorized_keys.d/ignition");
    assert_eq!(
        std::fs::read_to_string(&keys).unwrap(),
        "ssh-ed25519 AAAA ops\n"
    );
    assert_eq!(
        std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Without a home, the user cannot create its key directory under root's /home.
    let refused = run(serde_json::json!([
        { "name": "ops" },
        { "name": "homeless", "noCreateHome": true, "sshAuthorizedKeys": ["ssh-ed25519 AAAA x"] }
    ]));
    assert_eq!(first_code(&refused), "materialize.account");
    let findings: serde_json::Value = serde_json::from_slice(&refused.stderr).unwrap();
    assert_eq!(findings[0]["path"], "$.passwd.users.1", "{findings}");
}
