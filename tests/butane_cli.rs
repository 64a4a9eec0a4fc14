//! `kindling butane` as a user drives it: findings located at the Butane line and column,
//! `--strict` failing on warnings, and `-o FILE` written whole or not at all.

mod common;

use std::os::unix::fs::PermissionsExt as _;

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const UNIT: &str = "variant: flatcar\nversion: 1.1.0\nsystemd:\n  units:\n    - name: hello.service\n      enabled: true\n      contents: |\n        [Service]\n        ExecStart=/usr/bin/echo hello\n        [Install]\n        WantedBy=multi-user.target\n";

/// Runs kindling in `dir` with `args`: exit 1, nothing on stdout, and `code` reported at
/// `place` (`a.bu:LINE:COLUMN`).
fn refused_at(dir: &std::path::Path, args: &[&str], code: &str, place: &str) {
    let result = common::kindling()
        .current_dir(dir)
        .args(args)
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&result.get_output().stderr).into_owned();
    assert!(
        stderr.contains(code) && stderr.contains(place),
        "{code} at {place}:\n{stderr}"
    );
    assert!(result.get_output().stdout.is_empty());
}

#[test]
fn a_config_is_translated_to_stdout_and_to_a_file_with_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "a.bu", UNIT);
    let stdout = common::kindling()
        .arg("butane")
        .arg(&input)
        .assert()
        .success();
    let config: serde_json::Value = serde_json::from_slice(&stdout.get_output().stdout).unwrap();
    assert_eq!(config["ignition"]["version"], "3.4.0");
    assert_eq!(config["systemd"]["units"][0]["name"], "hello.service");

    let out = dir.path().join("a.ign");
    common::kindling()
        .args(["butane", "--pretty", "-o"])
        .arg(&out)
        .arg(&input)
        .assert()
        .success();
    let meta = std::fs::metadata(&out).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&out).unwrap().starts_with("{\n  "));
}

#[test]
fn standard_input_is_read_for_dash() {
    let result = common::kindling()
        .args(["butane", "-"])
        .write_stdin(UNIT)
        .assert()
        .success();
    assert!(String::from_utf8_lossy(&result.get_output().stdout).contains("hello.service"));
}

#[test]
fn strict_fails_on_an_unused_key_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "a.bu",
        "variant: fcos\nversion: 1.6.0\nstorage:\n  files:\n    - path: /etc/a\n      permissions: 0644\n",
    );
    let out = dir.path().join("a.ign");
    std::fs::write(&out, "old").unwrap();
    let result = common::kindling()
        .args(["butane", "--strict", "-o"])
        .arg(&out)
        .arg(&input)
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&result.get_output().stderr).into_owned();
    assert!(stderr.contains("butane.unused-key"), "{stderr}");
    assert!(stderr.contains("a.bu:6:7"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old");
    // Without --strict the warning is printed and the config written.
    common::kindling()
        .args(["butane", "-o"])
        .arg(&out)
        .arg(&input)
        .assert()
        .success();
    assert!(std::fs::read_to_string(&out).unwrap().contains("/etc/a"));
}

#[test]
fn findings_point_at_the_butane_source() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "variant: fcos\nversion: 1.5.0\nsystemd:\n  units:\n    - name: a.service\n      enabled: enable\n",
            "butane.type",
            "a.bu:6:16",
        ),
        (
            "variant: fcos\nversion: 1.5.0\nstorage:\n  files:\n    - path: etc/a\n",
            "ign.path-relative",
            "a.bu:5:13",
        ),
        (
            "variant: fcos\nversion: 1.5.0\nstorage:\n  files:\n    - path: /etc/a\n      contents:\n        local: a.txt\n",
            "butane.files-dir",
            "a.bu:7:16",
        ),
        (
            "variant: fcos\nversion: 9.9.9\n",
            "butane.variant",
            "a.bu:2:10",
        ),
        (
            "variant: fcos\nversion: 1.5.0\nstorage:\n  files:\n    - path: /etc/a\n      path: /etc/b\n",
            "butane.yaml",
            "a.bu:6:7",
        ),
    ];
    for (text, code, place) in cases {
        write(dir.path(), "a.bu", text);
        refused_at(dir.path(), &["butane", "a.bu"], code, place);
    }
}

#[test]
fn local_files_stay_inside_the_files_dir() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("files")).unwrap();
    write(dir.path(), "secret", "s");
    let input = write(
        dir.path(),
        "a.bu",
        "variant: fcos\nversion: 1.5.0\nstorage:\n  files:\n    - path: /etc/a\n      contents:\n        local: ../secret\n",
    );
    let result = common::kindling()
        .arg("butane")
        .arg(&input)
        .arg("-d")
        .arg(dir.path().join("files"))
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&result.get_output().stderr).into_owned();
    assert!(stderr.contains("butane.files-dir-escape"), "{stderr}");
}

/// Butane's warnings about what a config probably did not mean, each at its place, and the
/// near misses that must stay quiet (`--strict` fails on a warning and passes without one).
#[test]
fn advice_is_given_where_butane_gives_it_and_nowhere_else() {
    let dir = tempfile::tempdir().unwrap();
    let root_disk = |partitions: &str| {
        format!(
            "variant: fcos\nversion: 1.5.0\nstorage:\n  disks:\n    - device: /dev/disk/by-id/coreos-boot-disk\n      partitions:\n{partitions}"
        )
    };
    let warned = [
        (
            "variant: fcos\nversion: 1.1.0\nstorage:\n  files:\n    - path: /etc/sudoers.d/x\n      mode: 440\n".to_string(),
            "butane.decimal-mode",
            "a.bu:6:13",
        ),
        (
            "variant: flatcar\nversion: 1.1.0\nstorage:\n  directories:\n    - path: /var/x\n      mode: 755\n".to_string(),
            "butane.decimal-mode",
            "a.bu:6:13",
        ),
        (
            root_disk("        - number: 4\n          label: root\n          size_mib: 4096\n"),
            "butane.root-too-small",
            "a.bu:9:21",
        ),
        (
            root_disk("        - number: 4\n          label: root\n        - label: var\n"),
            "butane.root-constrained",
            "a.bu:8:18",
        ),
        (
            "variant: fcos\nversion: 1.6.0\nstorage:\n  disks:\n    - device: /dev/vdb\n      partitions:\n        - label: data\n".to_string(),
            "butane.partition-reuse",
            "a.bu:7:11",
        ),
        (
            "variant: fcos\nversion: 1.3.0\nstorage:\n  files:\n    - path: /a\n      user: &u\n        name: core\n    - path: /b\n      user: *u\n".to_string(),
            "butane.alias-mapping",
            "a.bu:9:13",
        ),
    ];
    for (text, code, place) in &warned {
        write(dir.path(), "a.bu", text);
        refused_at(dir.path(), &["butane", "--strict", "a.bu"], code, place);
    }
    let quiet = [
        // Octal already, and 0644 written as the decimal number it is.
        "variant: fcos\nversion: 1.1.0\nstorage:\n  files:\n    - path: /a\n      mode: 0440\n    - path: /b\n      mode: 420\n".to_string(),
        root_disk("        - number: 4\n          label: root\n          size_mib: 8192\n        - label: var\n"),
        // A partition placed explicitly, or one being deleted, leaves root its space.
        root_disk("        - number: 4\n          label: root\n        - label: var\n          start_mib: 100000\n"),
        root_disk("        - number: 4\n          label: root\n        - number: 5\n          should_exist: false\n"),
        // Numbered, or on a disk whose table is wiped (which boot_device.mirror does).
        "variant: fcos\nversion: 1.6.0\nstorage:\n  disks:\n    - device: /dev/vdb\n      partitions:\n        - label: data\n          number: 1\n".to_string(),
        "variant: fcos\nversion: 1.6.0\nboot_device:\n  layout: x86_64\n  mirror:\n    devices: [/dev/vda, /dev/vdb]\nstorage:\n  disks:\n    - device: /dev/vda\n      partitions:\n        - label: root-1\n          size_mib: 10240\n".to_string(),
        // Before 1.6.0 Butane does not warn about reuse by label.
        "variant: fcos\nversion: 1.5.0\nstorage:\n  disks:\n    - device: /dev/vdb\n      partitions:\n        - label: data\n".to_string(),
        // An alias to a scalar is fine.
        "variant: fcos\nversion: 1.3.0\nstorage:\n  files:\n    - path: /a\n      user:\n        name: &n core\n    - path: /b\n      user:\n        name: *n\n".to_string(),
    ];
    for text in &quiet {
        write(dir.path(), "a.bu", text);
        common::kindling()
            .current_dir(dir.path())
            .args(["butane", "--strict", "a.bu"])
            .assert()
            .success();
    }
}
