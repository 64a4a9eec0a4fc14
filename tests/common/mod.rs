//! Helpers shared by the integration tests: the real binary, and scratch copies of golden
//! cases that a test may damage.

#![allow(dead_code)] // each test file uses its own subset

pub mod openssl;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn golden(case: &str) -> PathBuf {
    repo().join("golden").join(case)
}

/// The kindling binary built by cargo for this test run.
pub fn kindling() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("kindling").expect("the kindling binary is built")
}

/// Copies a golden case's inputs (spec, PKI, sums, images; not `expected/`) into a
/// temporary directory. Private keys get mode 0600 and the PKI's directories 0700, as
/// `pki init` leaves them (git keeps neither, so a clone has them readable by all).
pub fn scratch_copy(case: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_tree(&golden(case), dir.path(), &|p| {
        p.file_name().is_some_and(|n| n == "expected")
    });
    protect_keys(&dir.path().join("pki"));
    dir
}

/// Modes `pki init` gives: keys 0600, directories 0700.
pub fn protect_keys(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    for entry in entries {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            protect_keys(&path);
        } else if path.extension().is_some_and(|e| e == "key") {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
    }
}

pub fn copy_tree(from: &Path, to: &Path, skip: &dyn Fn(&Path) -> bool) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let path = entry.expect("entry").path();
        if skip(&path) {
            continue;
        }
        let target = to.join(path.file_name().expect("name"));
        if path.is_dir() {
            copy_tree(&path, &target, skip);
        } else {
            std::fs::copy(&path, &target).expect("copy");
        }
    }
}

/// Every file under `dir` with its bytes, sorted by relative path.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files);
    files.sort();
    files
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(PathBuf, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect(root, &path, files);
        } else {
            let relative = path.strip_prefix(root).expect("under root").to_path_buf();
            files.push((relative, std::fs::read(&path).expect("read")));
        }
    }
}

/// Runs `kindling terraform` in `cwd` with `stdin` as the query, as Terraform's external
/// data source does.
pub fn terraform(stdin: &str, cwd: &Path) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("kindling"))
        .arg("terraform")
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kindling starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("the query is written");
    child.wait_with_output().expect("kindling finishes")
}

/// A test that needs `programs`: ignored (with a note saying why) when one is missing,
/// except under CI=true, where the test runs and fails on the missing program.
pub fn trial(name: &'static str, programs: &[&'static str], test: fn()) -> libtest_mimic::Trial {
    let missing = programs
        .iter()
        .filter(|p| !on_path(p))
        .map(|p| format!("{p} is not installed"))
        .collect();
    let needs = format!(
        "{} (install etcd-server, etcd-client and systemd, or run `bash .ci/run`)",
        programs.join(", ")
    );
    trial_needing(name, missing, &needs, test)
}

/// A test whose prerequisites are not met (`missing`, each a sentence): ignored with a note
/// saying it `needs` them, except under CI=true, where it runs and fails naming the first.
pub fn trial_needing(
    name: &'static str,
    missing: Vec<String>,
    needs: &str,
    test: fn(),
) -> libtest_mimic::Trial {
    let in_ci = std::env::var("CI").as_deref() == Ok("true");
    let ignored = !in_ci && !missing.is_empty();
    let reason = missing.first().cloned();
    let run = libtest_mimic::Trial::test(name, move || {
        if let Some(reason) = reason {
            return Err(format!("{reason}, and CI=true: this test must run in CI").into());
        }
        test();
        Ok(())
    });
    if ignored {
        eprintln!(
            "note: {name} is ignored: {} (it needs {needs})",
            missing.join("; ")
        );
        return run.with_ignored_flag(true);
    }
    run
}

pub fn on_path(program: &str) -> bool {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `NAME=value` lines of an env file (or `export NAME=value` lines of a profile script),
/// with absolute paths under /etc/etcd and /var/lib/etcd moved into `root`, and how many
/// were moved.
pub fn settings(file: &Path, root: &Path) -> (BTreeMap<String, String>, usize) {
    let mut rewritten = 0;
    let mut vars = BTreeMap::new();
    for line in std::fs::read_to_string(file).unwrap().lines() {
        let line = line.strip_prefix("export ").unwrap_or(line);
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (name, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not NAME=value: {line:?}"));
        let value = if value.starts_with("/etc/etcd/") || value == "/var/lib/etcd" {
            rewritten += 1;
            format!("{}{value}", root.display())
        } else {
            value.to_string()
        };
        vars.insert(name.to_string(), value);
    }
    (vars, rewritten)
}

/// etcdctl with exactly the `ETCDCTL_*` settings in `env`.
pub fn etcdctl(env: &BTreeMap<String, String>, args: &[&str]) -> Output {
    std::process::Command::new("etcdctl")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .args(["--command-timeout=5s"])
        .args(args)
        .output()
        .unwrap()
}

/// A command's stdout and stderr together.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Waits until `endpoint health --cluster`, asked with the etcdctl settings `env`, reports
/// `count` healthy members (60 s at most).
pub fn wait_healthy(env: &BTreeMap<String, String>, count: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let health = etcdctl(env, &["endpoint", "health", "--cluster"]);
        if health.status.success() && text(&health).matches("is healthy").count() == count {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{count} healthy members expected within 60 s: {}",
            text(&health)
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

/// Renders a golden case and materializes each node into `<dir>/<node>/`.
pub fn render_and_materialize(case: &str, dir: &Path) -> Vec<String> {
    render_spec_and_materialize(&golden(case).join("cluster.yaml"), dir)
}

/// Renders the spec at `spec` and materializes each node into `<dir>/<node>/`.
pub fn render_spec_and_materialize(spec: &Path, dir: &Path) -> Vec<String> {
    let ign = dir.join("ign");
    kindling()
        .arg("render")
        .arg(spec)
        .arg("-o")
        .arg(&ign)
        .assert()
        .success();
    // Beside the configs, `monitoring/` holds Prometheus's files.
    let mut nodes: Vec<String> = std::fs::read_dir(&ign)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "ign"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    nodes.sort();
    for node in &nodes {
        kindling()
            .arg("materialize")
            .arg(ign.join(format!("{node}.ign")))
            .arg("--root")
            .arg(dir.join(node))
            .assert()
            .success();
    }
    nodes
}

/// The virtualenv .ci/run installs tests/s3/requirements.txt into (moto, the S3 server the
/// off-node backup tests upload to): `KINDLING_TEST_VENV`, or ~/.cache/kindling/test-venv.
pub fn test_venv() -> PathBuf {
    std::env::var_os("KINDLING_TEST_VENV").map_or_else(
        || {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/kindling/test-venv")
        },
        PathBuf::from,
    )
}
