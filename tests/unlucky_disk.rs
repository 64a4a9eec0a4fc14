//! Data on disk under unlucky conditions, one test per reproduction in
//! `../shared/repro/bad-input/` (named by its number): concurrent and killed runs, colliding
//! ids, symlinked outputs, hard links, interrupted key generation, modes under any umask,
//! and spec values that would render a cluster that cannot form.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Output;

use common::{kindling, scratch_copy, snapshot};
use serde_json::Value;

fn run(dir: &Path, args: &[&str]) -> Output {
    kindling()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("kindling runs")
}

fn ok(output: &Output) {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The codes of the errors in a `--format json` report: on stdout, or on stderr for
/// materialize, whose stdout carries its action lines. (Three-node's own warnings, about
/// plain-HTTP updates and diskless PXE, are not what these tests are about.)
fn codes(output: &Output) -> Vec<String> {
    let stream = if output.stdout.is_empty() {
        &output.stderr
    } else {
        &output.stdout
    };
    let all: Value = serde_json::from_slice(stream)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&output.stderr)));
    all.as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

fn edit(dir: &Path, file: &str, old: &str, new: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(old), "{old}");
    std::fs::write(path, text.replacen(old, new, 1)).unwrap();
}

/// A copy of the three-node spec as cluster `name`, with its own PKI directory and MACs.
fn cluster_copy(dir: &Path, name: &str, mac_prefix: &str) -> String {
    let file = format!("{name}.yaml");
    let text = std::fs::read_to_string(dir.join("cluster.yaml"))
        .unwrap()
        .replace("name: k8s0", &format!("name: {name}"))
        .replace("  dir: pki", &format!("  dir: pki-{name}"))
        .replace("52:54:00:00:00:1", mac_prefix);
    std::fs::write(dir.join(&file), text).unwrap();
    ok(&run(dir, &["pki", "init", &file]));
    file
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn r14_a_failed_render_leaves_every_config_as_it_was() {
    let dir = scratch_copy("three-node");
    ok(&run(dir.path(), &["render", "cluster.yaml", "-o", "out"]));
    std::fs::write(dir.path().join("out/notes.txt"), "kept\n").unwrap();
    let before = snapshot(&dir.path().join("out"));
    edit(dir.path(), "cluster.yaml", "gomaxprocs: 2", "gomaxprocs: 4");
    let output = kindling()
        .current_dir(dir.path())
        .env("KINDLING_TEST_CRASH_AT", "tree-mid-write")
        .args(["render", "cluster.yaml", "-o", "out"])
        .output()
        .unwrap();
    assert_eq!(output.status.signal(), Some(6), "aborted mid-write");
    assert_eq!(
        snapshot(&dir.path().join("out")),
        before,
        "no config changed"
    );
    ok(&run(dir.path(), &["render", "cluster.yaml", "-o", "out"]));
    let after = snapshot(&dir.path().join("out"));
    assert_eq!(after.len(), 4, "three configs and the kept file");
    for (path, bytes) in &after {
        if path.extension().is_some_and(|e| e == "ign") {
            let text = String::from_utf8_lossy(bytes);
            assert!(text.contains("GOMAXPROCS=4"), "{}", path.display());
        }
    }
    let beside: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("kindling-staging"))
        .collect();
    assert!(
        beside.is_empty(),
        "the killed run's staging was removed: {beside:?}"
    );
}

#[test]
fn r14_leftover_temp_files_of_killed_runs_are_removed() {
    let dir = scratch_copy("three-node");
    ok(&run(dir.path(), &["render", "cluster.yaml", "-o", "out"]));
    let stale = dir.path().join("out/.kindling-AbC123");
    std::fs::write(&stale, "-----BEGIN PRIVATE KEY-----\n").unwrap();
    ok(&run(dir.path(), &["render", "cluster.yaml", "-o", "out"]));
    assert!(!stale.exists());
}

#[test]
fn r14_concurrent_renders_never_mix_runs() {
    let dir = scratch_copy("three-node");
    let text = std::fs::read_to_string(dir.path().join("cluster.yaml")).unwrap();
    std::fs::write(
        dir.path().join("four.yaml"),
        text.replace("gomaxprocs: 2", "gomaxprocs: 4"),
    )
    .unwrap();
    for _ in 0..5 {
        let binary = assert_cmd::cargo::cargo_bin("kindling");
        let spawn = |spec: &str| {
            std::process::Command::new(&binary)
                .current_dir(dir.path())
                .args(["render", spec, "-o", "out"])
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        };
        let (mut a, mut b) = (spawn("cluster.yaml"), spawn("four.yaml"));
        assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
        let values: std::collections::BTreeSet<String> = snapshot(&dir.path().join("out"))
            .iter()
            .map(|(_, bytes)| {
                let text = String::from_utf8_lossy(bytes);
                let at = text.find("GOMAXPROCS=").unwrap();
                text[at..at + 12].to_string()
            })
            .collect();
        assert_eq!(values.len(), 1, "configs of two runs: {values:?}");
    }
}

#[test]
fn r11_concurrent_matchbox_runs_for_different_clusters_keep_everything() {
    let dir = scratch_copy("three-node");
    let specs: Vec<String> = ["c0", "c1", "c2"]
        .iter()
        .enumerate()
        .map(|(i, name)| cluster_copy(dir.path(), name, &format!("52:54:00:00:0{i}:1")))
        .collect();
    for _ in 0..4 {
        let _ = std::fs::remove_dir_all(dir.path().join("data"));
        ok(&run(dir.path(), &["matchbox", &specs[0], "-o", "data"]));
        let binary = assert_cmd::cargo::cargo_bin("kindling");
        let children: Vec<_> = specs[1..]
            .iter()
            .map(|spec| {
                std::process::Command::new(&binary)
                    .current_dir(dir.path())
                    .args(["matchbox", spec, "-o", "data"])
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut child in children {
            assert!(child.wait().unwrap().success());
        }
        let configs: Vec<String> = std::fs::read_dir(dir.path().join("data/ignition"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        for cluster in ["c0", "c1", "c2"] {
            let count = configs
                .iter()
                .filter(|n| n.starts_with(&format!("{cluster}-")))
                .count();
            assert_eq!(count, 3, "cluster {cluster}: {configs:?}");
        }
    }
}

#[test]
fn r12_matchbox_ids_that_collide_are_refused() {
    let dir = scratch_copy("three-node");
    let a = std::fs::read_to_string(dir.path().join("cluster.yaml"))
        .unwrap()
        .replace("name: k8s0", "name: a")
        .replace("  dir: pki", "  dir: pki-a")
        .replace("{ name: etcd1,", "{ name: b-c,");
    std::fs::write(dir.path().join("a.yaml"), a).unwrap();
    let ab = std::fs::read_to_string(dir.path().join("cluster.yaml"))
        .unwrap()
        .replace("name: k8s0", "name: a-b")
        .replace("  dir: pki", "  dir: pki-ab")
        .replace("{ name: etcd1,", "{ name: c,")
        .replace("52:54:00:00:00:1", "52:54:00:00:01:1");
    std::fs::write(dir.path().join("ab.yaml"), ab).unwrap();
    for spec in ["a.yaml", "ab.yaml"] {
        ok(&run(dir.path(), &["pki", "init", spec]));
    }
    ok(&run(dir.path(), &["matchbox", "a.yaml", "-o", "mb"]));
    let before = snapshot(&dir.path().join("mb"));
    let output = run(
        dir.path(),
        &["--format", "json", "matchbox", "ab.yaml", "-o", "mb"],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(codes(&output).iter().all(|c| c == "matchbox.id-collision"));
    assert_eq!(snapshot(&dir.path().join("mb")), before);

    let within = std::fs::read_to_string(dir.path().join("cluster.yaml"))
        .unwrap()
        .replace(
            "version: 4230.2.3 }",
            "version: 4230.2.3, install_disk: /dev/sda }",
        )
        .replace("{ name: etcd2,", "{ name: etcd1-install,");
    std::fs::write(dir.path().join("inst.yaml"), within).unwrap();
    ok(&run(dir.path(), &["pki", "init", "inst.yaml"]));
    let output = run(
        dir.path(),
        &["--format", "json", "matchbox", "inst.yaml", "-o", "mbi"],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(codes(&output).iter().all(|c| c == "matchbox.id-collision"));
    assert!(!dir.path().join("mbi").exists());
}

#[test]
fn r15_a_symlinked_output_updates_the_directory_it_points_at() {
    let dir = scratch_copy("three-node");
    let real = dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::fs::write(real.join("keepme"), "other\n").unwrap();
    std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
    ok(&run(
        dir.path(),
        &["matchbox", "cluster.yaml", "-o", "link"],
    ));
    assert!(
        std::fs::symlink_metadata(dir.path().join("link"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(real.join("ignition/k8s0-etcd1.ign").exists());
    assert!(real.join("keepme").exists());
    ok(&run(dir.path(), &["render", "cluster.yaml", "-o", "link"]));
    assert!(real.join("etcd1.ign").exists());
}

#[test]
fn the_current_directory_is_never_swapped_away() {
    let dir = scratch_copy("three-node");
    let before = snapshot(dir.path());
    for output in [".", "./", "pki/.."] {
        let result = run(
            dir.path(),
            &["--format", "json", "render", "cluster.yaml", "-o", output],
        );
        assert_eq!(codes(&result), ["emit.output-is-current"], "{output}");
    }
    assert_eq!(snapshot(dir.path()), before);
    ok(&run(
        dir.path(),
        &["render", "cluster.yaml", "-o", "./out/"],
    ));
    assert!(dir.path().join("out/etcd1.ign").exists());
}

#[test]
fn r13_hard_links_never_delete_their_target() {
    let dir = tempfile::tempdir().unwrap();
    let own = r#"{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/a","contents":{"source":"data:,hello"}}],"links":[{"path":"/etc/b","target":"/etc/a","hard":true}]}}"#;
    std::fs::write(dir.path().join("own.ign"), own).unwrap();
    ok(&run(
        dir.path(),
        &["materialize", "own.ign", "--root", "r1"],
    ));
    let (a, b) = (dir.path().join("r1/etc/a"), dir.path().join("r1/etc/b"));
    assert_eq!(std::fs::read(&a).unwrap(), b"hello");
    assert_eq!(
        std::fs::metadata(&a).unwrap().ino(),
        std::fs::metadata(&b).unwrap().ino()
    );

    let existing = r#"{"ignition":{"version":"3.4.0"},"storage":{"links":[{"path":"/etc/passwd-link","target":"/etc/passwd","hard":true}]}}"#;
    std::fs::write(dir.path().join("existing.ign"), existing).unwrap();
    std::fs::create_dir_all(dir.path().join("r2/etc")).unwrap();
    std::fs::write(dir.path().join("r2/etc/passwd"), "precious\n").unwrap();
    ok(&run(
        dir.path(),
        &["materialize", "existing.ign", "--root", "r2"],
    ));
    assert_eq!(
        std::fs::read(dir.path().join("r2/etc/passwd")).unwrap(),
        b"precious\n"
    );

    let output = run(
        dir.path(),
        &[
            "--format",
            "json",
            "materialize",
            "existing.ign",
            "--root",
            "r3",
        ],
    );
    assert_eq!(codes(&output), ["materialize.hardlink-target"]);
}

#[test]
fn r19_a_file_under_a_file_is_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let config = r#"{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/f","contents":{"source":"data:,x"}},{"path":"/etc/f/g","contents":{"source":"data:,y"}}]}}"#;
    std::fs::write(dir.path().join("ff.ign"), config).unwrap();
    let output = run(
        dir.path(),
        &[
            "--format",
            "json",
            "materialize",
            "ff.ign",
            "--root",
            "root",
        ],
    );
    assert_eq!(codes(&output), ["materialize.not-a-directory"]);
    assert!(!dir.path().join("root/etc/f").exists());
}

#[test]
fn r08_r20_modes_are_exact_under_any_umask() {
    let dir = scratch_copy("three-node");
    std::fs::remove_dir_all(dir.path().join("pki")).unwrap();
    let script = "umask 000; K=\"$1\"; \"$K\" pki init cluster.yaml && \"$K\" render cluster.yaml -o out && \"$K\" matchbox cluster.yaml -o mb && \"$K\" materialize out/etcd1.ign --root root";
    let status = std::process::Command::new("sh")
        .current_dir(dir.path())
        .args(["-c", script, "sh"])
        .arg(assert_cmd::cargo::cargo_bin("kindling"))
        .output()
        .unwrap();
    ok(&status);
    let p = dir.path();
    for private in ["pki", "pki/nodes", "pki/nodes/etcd1", "out"] {
        assert_eq!(mode(&p.join(private)), 0o700, "{private}");
    }
    for public in [
        "mb",
        "mb/ignition",
        "mb/groups",
        "root/etc",
        "root/etc/etcd",
    ] {
        assert_eq!(mode(&p.join(public)), 0o755, "{public}");
    }
    for key in [
        "pki/ca.key",
        "out/etcd1.ign",
        "mb/ignition/k8s0-etcd1.ign",
        "root/etc/etcd/pki/server.key",
    ] {
        assert_eq!(mode(&p.join(key)), 0o600, "{key}");
    }
}

#[test]
fn r09_matchbox_config_modes_keep_keys_private() {
    let dir = scratch_copy("three-node");
    for bad in ["06777", "0644", "0660", "0200"] {
        let output = run(
            dir.path(),
            &[
                "--format",
                "json",
                "matchbox",
                "cluster.yaml",
                "-o",
                "mb",
                "--mode",
                bad,
            ],
        );
        assert_eq!(codes(&output), ["cli.mode"], "{bad}");
    }
    assert!(!dir.path().join("mb").exists());
    ok(&run(
        dir.path(),
        &["matchbox", "cluster.yaml", "-o", "mb", "--mode", "0640"],
    ));
    assert_eq!(mode(&dir.path().join("mb/ignition/k8s0-etcd1.ign")), 0o640);
}

#[test]
fn r10_credentials_in_urls_are_refused() {
    let dir = scratch_copy("three-node");
    edit(
        dir.path(),
        "cluster.yaml",
        "base_url: http://matchbox.example.com:8080/assets/extensions",
        "base_url: \"http://admin:s3cret@m.example.com/ext\"",
    );
    let output = run(dir.path(), &["--format", "json", "check", "cluster.yaml"]);
    assert_eq!(codes(&output), ["sysext.base-url"]);
    assert!(!String::from_utf8_lossy(&output.stderr).contains("s3cret"));
}

#[test]
fn r16_an_interrupted_pki_init_is_finished_by_the_next() {
    let dir = scratch_copy("three-node");
    std::fs::remove_dir_all(dir.path().join("pki")).unwrap();
    for point in ["pki-after-manifest", "pki-mid-link"] {
        let output = kindling()
            .current_dir(dir.path())
            .env("KINDLING_TEST_CRASH_AT", point)
            .args(["pki", "init", "cluster.yaml"])
            .output()
            .unwrap();
        assert_eq!(output.status.signal(), Some(6), "{point}");
        let check = run(dir.path(), &["--format", "json", "check", "cluster.yaml"]);
        if check.status.code() == Some(1) {
            let text = String::from_utf8_lossy(&check.stdout);
            assert!(
                text.contains("interrupted"),
                "check says how to repair: {text}"
            );
        }
        ok(&run(dir.path(), &["pki", "init", "cluster.yaml"]));
        ok(&run(dir.path(), &["check", "cluster.yaml"]));
        assert!(!dir.path().join("pki/.kindling-pending").exists());
        std::fs::remove_dir_all(dir.path().join("pki")).unwrap();
    }
}

#[test]
fn r01_a_validity_past_year_9999_is_refused_before_any_file() {
    let dir = scratch_copy("three-node");
    std::fs::remove_dir_all(dir.path().join("pki")).unwrap();
    for args in [["--ca-days", "2913000"], ["--leaf-days", "3000000"]] {
        let mut all = vec!["--format", "json", "pki", "init", "cluster.yaml"];
        all.extend(args);
        let output = run(dir.path(), &all);
        assert_eq!(codes(&output), ["pki.validity"]);
        assert!(!dir.path().join("pki").exists());
    }
    let output = run(
        dir.path(),
        &[
            "--format",
            "json",
            "pki",
            "init",
            "cluster.yaml",
            "--ca-days",
            "10",
            "--leaf-days",
            "3650",
        ],
    );
    assert_eq!(codes(&output), ["pki.leaf-outlives-ca"]);
    assert!(!dir.path().join("pki").exists());
}

#[test]
fn r02_r18_values_that_would_break_the_cluster_are_refused() {
    let cases: [(&str, &str, &str); 12] = [
        (
            "gomaxprocs: 2",
            "gomaxprocs: 2\n  heartbeat_ms: 3689348814741910324",
            "etcd.election-timeout",
        ),
        ("ip: 10.0.0.11", "ip: 0.0.0.0", "spec.ip"),
        ("ip: 10.0.0.11", "ip: \"::\"", "spec.ip"),
        ("ip: 10.0.0.11", "ip: 224.0.0.1", "spec.ip"),
        ("ip: 10.0.0.11", "ip: 10.0.0.255", "spec.ip"),
        ("ip: 10.0.0.11", "ip: 10.0.0.300", "spec.ip"),
        (
            "gomaxprocs: 2",
            "gomaxprocs: 2\n  quota_backend_bytes: 18446744073709551615",
            "etcd.quota-range",
        ),
        ("\"true\" }", "\"true # not a bool\" }", "etcd.env-value"),
        (
            "version: 4230.2.3 }",
            "version: 4230.2.3, install_disk: /dev/.. }",
            "matchbox.install-disk",
        ),
        ("52:54:00:00:00:11", "ff:ff:ff:ff:ff:ff", "spec.mac"),
        (
            "version: 4230.2.3 }",
            "version: 4230.2.3, kernel_args: ['||', shell] }",
            "matchbox.kernel-arg",
        ),
        (
            "version: 4230.2.3 }",
            "version: 4230.2.3, kernel_args: ['${net0/mac}'] }",
            "matchbox.kernel-arg",
        ),
    ];
    for (old, new, code) in cases {
        let dir = scratch_copy("three-node");
        edit(dir.path(), "cluster.yaml", old, new);
        let output = run(dir.path(), &["--format", "json", "check", "cluster.yaml"]);
        assert_eq!(codes(&output), [code], "{new}");
    }
}

#[test]
fn r18_stale_golden_configs_and_leaves_outliving_the_ca_are_reported() {
    let dir = scratch_copy("three-node");
    ok(&run(dir.path(), &["render", "cluster.yaml", "-o", "gold"]));
    std::fs::copy(
        dir.path().join("gold/etcd3.ign"),
        dir.path().join("gold/etcd4.ign"),
    )
    .unwrap();
    let output = run(
        dir.path(),
        &[
            "--format",
            "json",
            "check",
            "cluster.yaml",
            "--golden",
            "gold",
        ],
    );
    assert_eq!(codes(&output), ["drift.stale"]);

    std::fs::remove_dir_all(dir.path().join("pki")).unwrap();
    ok(&run(
        dir.path(),
        &["pki", "init", "cluster.yaml", "--ca-days", "400"],
    ));
    for leaf in ["etcd1/server", "etcd1/peer"] {
        std::fs::remove_file(dir.path().join(format!("pki/nodes/{leaf}.crt"))).unwrap();
        std::fs::remove_file(dir.path().join(format!("pki/nodes/{leaf}.key"))).unwrap();
    }
    let output = run(
        dir.path(),
        &[
            "--format",
            "json",
            "pki",
            "init",
            "cluster.yaml",
            "--leaf-days",
            "500",
        ],
    );
    assert_eq!(codes(&output), ["pki.leaf-outlives-ca"]);
}
