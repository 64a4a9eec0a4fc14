//! Hostile and unlucky input, one test per reproduction in `../shared/repro/bad-input/`
//! (named by its number): key material never printed, bounded input and output, messages in
//! the spec's language. Damage is made at test time from the golden cases.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{kindling, scratch_copy};
use serde_json::Value;

fn run(dir: &Path, args: &[&str]) -> Output {
    kindling()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("kindling runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Everything a command printed, both streams (`--format json` reports go to stdout).
fn both_streams(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned() + &stderr(output)
}

/// Every private key under `dir/pki`, as its PEM body lines.
fn key_lines(dir: &Path) -> Vec<String> {
    let mut keys = Vec::new();
    let mut stack = vec![dir.join("pki")];
    while let Some(path) = stack.pop() {
        for entry in std::fs::read_dir(&path).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "key") {
                let text = std::fs::read_to_string(&path).unwrap();
                keys.extend(
                    text.lines()
                        .filter(|l| !l.starts_with("-----") && l.len() >= 8)
                        .map(str::to_string),
                );
            }
        }
    }
    assert!(keys.len() > 10, "the case has keys");
    keys
}

/// Undoes percent, JSON and GitHub escapes, so key material is found however it was printed.
fn unescaped(text: &str) -> String {
    let mut text = text
        .replace("%25", "%")
        .replace("\\/", "/")
        .replace("\\n", "\n");
    for _ in 0..2 {
        let bytes = text.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(byte) if bytes[i] == b'%' => {
                    out.push(byte);
                    i += 3;
                }
                _ => {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
        }
        text = String::from_utf8_lossy(&out).into_owned();
    }
    text
}

/// Fails when any 8-character piece of any key line appears in `printed`.
fn assert_no_key_material(printed: &str, keys: &[String], what: &str) {
    let printed = unescaped(printed);
    for line in keys {
        for start in (0..line.len() - 8).step_by(8) {
            let piece = &line[start..start + 8];
            assert!(
                !printed.contains(piece),
                "{what}: key material {piece:?} was printed:\n{}",
                &printed[..printed.len().min(3000)]
            );
        }
    }
}

fn render_into(dir: &Path, out: &str) -> PathBuf {
    let output = run(dir, &["render", "cluster.yaml", "-o", out]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    dir.join(out)
}

const FORMATS: [&str; 3] = ["human", "json", "github"];

#[test]
fn r04_findings_on_a_rendered_config_never_quote_its_keys() {
    let dir = scratch_copy("three-node");
    let keys = key_lines(dir.path());
    let out = render_into(dir.path(), "out");
    let config = std::fs::read(out.join("etcd1.ign")).unwrap();
    std::fs::write(dir.path().join("truncated.ign"), &config[..7000]).unwrap();
    let mut with_warning: Value = serde_json::from_slice(&config).unwrap();
    with_warning["storage"]["files"][0]["x-note"] = "hi".into();
    std::fs::write(
        dir.path().join("warning.ign"),
        serde_json::to_string(&with_warning).unwrap(),
    )
    .unwrap();
    for format in FORMATS {
        let truncated = run(
            dir.path(),
            &["--format", format, "validate", "truncated.ign"],
        );
        assert_eq!(truncated.status.code(), Some(1));
        assert!(both_streams(&truncated).contains("ign.json-syntax"));
        assert_no_key_material(
            &both_streams(&truncated),
            &keys,
            "validate of a truncated config",
        );
        let warning = run(dir.path(), &["--format", format, "validate", "warning.ign"]);
        assert_eq!(warning.status.code(), Some(0));
        let printed = format!(
            "{}{}",
            stderr(&warning),
            String::from_utf8_lossy(&warning.stdout)
        );
        assert!(printed.contains("ign.unknown-key"), "{printed}");
        assert_no_key_material(&printed, &keys, "a warning on a rendered config");
        let materialized = run(
            dir.path(),
            &[
                "--format",
                format,
                "materialize",
                "truncated.ign",
                "--root",
                "root",
            ],
        );
        assert_eq!(materialized.status.code(), Some(1));
        assert_no_key_material(&both_streams(&materialized), &keys, "materialize");
    }
}

#[test]
fn r05_the_drift_diff_redacts_keys_by_content() {
    let dir = scratch_copy("three-node");
    let keys = key_lines(dir.path());
    let gold = render_into(dir.path(), "gold");
    let etcd1 = std::fs::read(gold.join("etcd1.ign")).unwrap();
    std::fs::write(gold.join("etcd1.ign"), &etcd1[..6000]).unwrap();
    let mut etcd2: Value =
        serde_json::from_slice(&std::fs::read(gold.join("etcd2.ign")).unwrap()).unwrap();
    let mut etcd3: Value =
        serde_json::from_slice(&std::fs::read(gold.join("etcd3.ign")).unwrap()).unwrap();
    for file in etcd2["storage"]["files"].as_array_mut().unwrap() {
        if file["path"].as_str().unwrap().ends_with("server.key") {
            let source = file["contents"]["source"].as_str().unwrap().to_string();
            file["contents"]["source"] = format!("{source}%G").into();
        }
    }
    for file in etcd3["storage"]["files"].as_array_mut().unwrap() {
        if file["path"].as_str().unwrap().ends_with(".key") {
            let source = file["contents"]["source"].as_str().unwrap();
            file["contents"]["source"] = source.replace("PRIVATE%20KEY", "PRIVATE%20KEZ").into();
        }
    }
    std::fs::write(gold.join("etcd2.ign"), etcd2.to_string()).unwrap();
    std::fs::write(gold.join("etcd3.ign"), etcd3.to_string()).unwrap();
    for format in FORMATS {
        let output = run(
            dir.path(),
            &[
                "--format",
                format,
                "check",
                "cluster.yaml",
                "--golden",
                "gold",
            ],
        );
        assert_eq!(output.status.code(), Some(1));
        let printed = format!(
            "{}{}",
            stderr(&output),
            String::from_utf8_lossy(&output.stdout)
        );
        assert!(printed.contains("drift.changed"), "{printed}");
        assert_no_key_material(&printed, &keys, format);
    }
}

#[test]
fn r06_golden_symlinks_are_not_followed_and_named_files_are_not_quoted() {
    let dir = scratch_copy("three-node");
    let secret = dir.path().join("environ");
    std::fs::write(&secret, "CI_TOKEN=ghp_FAKEFAKEFAKE\0HOME=/root\0").unwrap();
    let gold = render_into(dir.path(), "gold");
    std::fs::remove_file(gold.join("etcd1.ign")).unwrap();
    std::os::unix::fs::symlink(&secret, gold.join("etcd1.ign")).unwrap();
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
    assert_eq!(output.status.code(), Some(1));
    let printed = String::from_utf8_lossy(&output.stdout).into_owned() + &stderr(&output);
    assert!(printed.contains("drift.unreadable"), "{printed}");
    assert!(!printed.contains("ghp_"), "{printed}");

    let spec = std::fs::read_to_string(dir.path().join("cluster.yaml")).unwrap();
    std::fs::write(
        dir.path().join("env.yaml"),
        spec.replace("sha256sums: SHA256SUMS", "sha256sums: environ"),
    )
    .unwrap();
    for format in FORMATS {
        let output = run(dir.path(), &["--format", format, "check", "env.yaml"]);
        assert_eq!(output.status.code(), Some(1));
        let printed = String::from_utf8_lossy(&output.stdout).into_owned() + &stderr(&output);
        assert!(printed.contains("sysext.sha256sums-format"), "{printed}");
        assert!(printed.contains("environ"), "the file is named: {printed}");
        assert!(!printed.contains("ghp_"), "its contents are not: {printed}");
    }
}

#[test]
fn r03_input_and_inflation_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(dir.path(), &["--format", "json", "validate", "/dev/zero"]);
    assert_eq!(output.status.code(), Some(1));
    let printed = both_streams(&output);
    assert!(
        printed.contains("ign.unreadable") && printed.contains("64 MiB"),
        "{printed}"
    );
    let bomb = common::repo().join("tests/corpus/invalid/gzip-bomb.ign");
    let output = run(
        dir.path(),
        &["materialize", bomb.to_str().unwrap(), "--root", "root"],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        both_streams(&output).contains("256 MiB"),
        "{}",
        both_streams(&output)
    );
    assert!(!dir.path().join("root/a").exists());
}

#[test]
fn r07_duplicate_keys_are_refused_by_materialize_too() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::repo().join("tests/corpus/invalid/duplicate-key-smuggled-file.ign");
    let output = run(
        dir.path(),
        &["materialize", config.to_str().unwrap(), "--root", "root"],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        both_streams(&output).contains("ign.duplicate-key"),
        "{}",
        stderr(&output)
    );
    assert!(!dir.path().join("root/etc").exists());
}

/// Runs `check` on the three-node spec with one edit (`old` empty: `new` appended) and
/// returns its first error.
fn spec_error(old: &str, new: &str) -> Value {
    let dir = scratch_copy("three-node");
    let spec = std::fs::read_to_string(dir.path().join("cluster.yaml")).unwrap();
    assert!(spec.contains(old), "{old}");
    let edited = if old.is_empty() {
        spec + new
    } else {
        spec.replacen(old, new, 1)
    };
    std::fs::write(dir.path().join("cluster.yaml"), edited).unwrap();
    let output = run(dir.path(), &["--format", "json", "check", "cluster.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    let all: Value = serde_json::from_slice(&output.stdout).expect("one JSON array on stdout");
    all.as_array().unwrap()[0].clone()
}

#[test]
fn r19_messages_speak_the_specs_language() {
    let internals = [
        "Options",
        "from_str_multiple",
        "Option<",
        "budget breached",
        "u16",
        "string scalar",
        " at line ",
    ];
    let cases = [
        (
            "gomaxprocs: 2",
            "gomaxprocs: 2\n  gomaxprocs: 4",
            "spec.duplicate-key",
        ),
        ("", "---\nversion: 1\n", "spec.syntax"),
        ("{ name: etcd1,", "{ name: ~,", "spec.syntax"),
        ("name: k8s0", "name: !!binary /w==", "spec.syntax"),
        (
            "gomaxprocs: 2",
            "gomaxprocs: 2\n  ports: { client: 65536 }",
            "spec.type",
        ),
        ("gomaxprocs: 2", "gomaxprocs: [1]", "spec.syntax"),
    ];
    for (old, new, code) in cases {
        let error = spec_error(old, new);
        assert_eq!(error["code"], code, "{error}");
        assert!(error["line"].as_u64().is_some(), "{error}");
        let message = error["message"].as_str().unwrap();
        for internal in internals {
            assert!(!message.contains(internal), "{new:?}: {message}");
        }
    }
    let bomb = format!(
        "ssh_authorized_keys: [&k \"ssh-ed25519 AAAA{}\"{}]\n",
        "A".repeat(1_000_000),
        ", *k".repeat(999)
    );
    let error = spec_error(
        "ssh_authorized_keys:\n  - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKindlingTestKeyOnlyForGoldenFiles0000 admin@example\n",
        &bomb,
    );
    assert_eq!(error["code"], "spec.too-large");
    assert!(error["line"].as_u64().is_some(), "{error}");
}

#[test]
fn r19_bad_bytes_are_located_and_echoes_are_bounded() {
    let dir = scratch_copy("three-node");
    let spec = std::fs::read(dir.path().join("cluster.yaml")).unwrap();
    let mut broken = b"# \xff\n".to_vec();
    broken.extend(&spec);
    std::fs::write(dir.path().join("bytes.yaml"), broken).unwrap();
    let output = run(dir.path(), &["--format", "json", "check", "bytes.yaml"]);
    let all: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(all[0]["code"], "spec.unreadable");
    assert_eq!(
        (all[0]["line"].as_u64(), all[0]["column"].as_u64()),
        (Some(1), Some(3))
    );

    let text = String::from_utf8(spec).unwrap();
    let huge = format!("name: k8s0\n  token: {}", "a".repeat(20_000_000));
    std::fs::write(
        dir.path().join("tok.yaml"),
        text.replace("name: k8s0", &huge),
    )
    .unwrap();
    let output = run(dir.path(), &["check", "tok.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        output.stderr.len() < 4096,
        "{} bytes of stderr",
        output.stderr.len()
    );

    let query = format!(
        "{{\"spec\":\"cluster.yaml\",\"node\":\"{}\"}}",
        "x".repeat(20_000_000)
    );
    let output = kindling()
        .current_dir(dir.path())
        .arg("terraform")
        .write_stdin(query)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        output.stderr.len() < 4096,
        "{} bytes of stderr",
        output.stderr.len()
    );
}

#[test]
fn r19_standard_input_twice_is_a_usage_error() {
    let output = kindling()
        .args(["validate", "-", "-"])
        .write_stdin("{\"ignition\":{\"version\":\"3.4.0\"}}")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}
