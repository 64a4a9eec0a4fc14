//! Hostile and unlucky input, second round: one test per reproduction in
//! `../shared/repro/bad-input-2/` (named by its number) that is fixed. Every value that
//! reaches another program is checked by that program's rule; damage is made at test time
//! from the golden cases. (02 is in tests/pki.rs, 15 in src/sysext/elf.rs, 10's grammar in
//! src/resolve/values.rs.)

mod common;

use std::path::Path;
use std::process::Output;

use common::{kindling, scratch_copy};
use serde_json::Value;

/// `kindling --format json ARGS` in `dir`.
fn run(dir: &Path, args: &[&str]) -> Output {
    kindling()
        .current_dir(dir)
        .args(["--format", "json"])
        .args(args)
        .output()
        .expect("kindling runs")
}

fn findings(output: &Output) -> Vec<Value> {
    serde_json::from_slice::<Value>(&output.stdout)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_else(|| {
            panic!(
                "not a JSON report: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        })
}

/// The finding with `code`, which must be there.
fn finding(output: &Output, code: &str) -> Value {
    let all = findings(output);
    all.iter()
        .find(|f| f["code"] == code)
        .cloned()
        .unwrap_or_else(|| panic!("no {code} in {all:?}"))
}

/// The three-node case with `line` inserted before `nodes:` (or replacing `old` by `new`).
fn three_node_with(edit: impl Fn(&str) -> String) -> tempfile::TempDir {
    let dir = scratch_copy("three-node");
    let spec = dir.path().join("cluster.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    let edited = edit(&text);
    assert_ne!(edited, text, "the edit applies");
    std::fs::write(&spec, edited).unwrap();
    dir
}

fn before_nodes(line: &str) -> impl Fn(&str) -> String + '_ {
    move |text: &str| text.replace("\nnodes:\n", &format!("\n{line}\nnodes:\n"))
}

fn under_etcd(line: &str) -> impl Fn(&str) -> String + '_ {
    move |text: &str| text.replace("  gomaxprocs: 2\n", &format!("  gomaxprocs: 2\n  {line}\n"))
}

/// The 1-based line of the spec that holds `needle`.
fn line_of(dir: &Path, needle: &str) -> u64 {
    let text = std::fs::read_to_string(dir.join("cluster.yaml")).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap() as u64 + 1
}

/// 08: a system directory as `backup.dir` would be made 0700 root by Ignition.
#[test]
fn a_backup_dir_ignition_would_take_from_the_system_is_refused() {
    for dir in [
        "/var/lib",
        "/var",
        "/etc",
        "/tmp",
        "/usr",
        "/home",
        "/usr/local/backup",
        "/tmp/etcd",
    ] {
        let case = three_node_with(before_nodes(&format!("backup: {{ dir: {dir} }}")));
        let output = run(case.path(), &["check", "cluster.yaml"]);
        assert_eq!(output.status.code(), Some(1), "{dir}");
        let refused = finding(&output, "backup.dir");
        assert_eq!(refused["line"], line_of(case.path(), "backup:"), "{dir}");
        assert!(
            refused["message"].as_str().unwrap().starts_with(dir),
            "{refused}"
        );
    }
    for dir in [
        "/var/lib/etcd-backup",
        "/var/mnt/backup/etcd",
        "/srv/etcd-backup",
    ] {
        let case = three_node_with(before_nodes(&format!("backup: {{ dir: {dir} }}")));
        let output = run(case.path(), &["check", "cluster.yaml"]);
        assert!(
            !findings(&output).iter().any(|f| f["code"] == "backup.dir"),
            "{dir}: {:?}",
            findings(&output)
        );
    }
}

/// 10: retentions etcd cannot parse, and a duration in revision mode.
#[test]
fn a_compaction_retention_etcd_would_refuse_or_misread_is_an_error() {
    for (mode, retention) in [
        ("periodic", "1y"),
        ("periodic", "-1"),
        ("periodic", "abc"),
        ("revision", "1h"),
    ] {
        let case = three_node_with(under_etcd(&format!(
            "auto_compaction_mode: {mode}\n  auto_compaction_retention: \"{retention}\""
        )));
        let output = run(case.path(), &["check", "cluster.yaml"]);
        assert_eq!(output.status.code(), Some(1), "{mode} {retention}");
        let refused = finding(&output, "etcd.compaction-retention");
        assert_eq!(
            refused["line"],
            line_of(case.path(), "auto_compaction_retention")
        );
    }
    for (mode, retention) in [
        ("periodic", "72"),
        ("periodic", "30m"),
        ("revision", "10000"),
    ] {
        let case = three_node_with(under_etcd(&format!(
            "auto_compaction_mode: {mode}\n  auto_compaction_retention: \"{retention}\""
        )));
        let output = run(case.path(), &["check", "cluster.yaml"]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{mode} {retention}: {:?}",
            findings(&output)
        );
    }
}

/// 11: etcd runs unprivileged in the Flatcar profiles, so it cannot bind ports below 1024.
#[test]
fn ports_below_1024_are_refused_where_etcd_runs_unprivileged() {
    for ports in ["{ client: 443 }", "{ peer: 80 }", "{ metrics: 993 }"] {
        let case = three_node_with(under_etcd(&format!("ports: {ports}")));
        let output = run(case.path(), &["check", "cluster.yaml"]);
        assert_eq!(output.status.code(), Some(1), "{ports}");
        let refused = finding(&output, "etcd.port-privileged");
        assert_eq!(refused["line"], line_of(case.path(), "ports:"));
        assert!(
            refused["help"]
                .as_str()
                .unwrap()
                .contains("permission denied")
        );
    }
    let fine = three_node_with(under_etcd("ports: { client: 1024 }"));
    assert_eq!(
        run(fine.path(), &["check", "cluster.yaml"]).status.code(),
        Some(0)
    );
}

/// 12: the Terraform query takes the Ignition versions `render --ignition` takes.
#[test]
fn the_terraform_query_renders_only_the_ignition_versions_render_does() {
    let spec = common::golden("three-node").join("cluster.yaml");
    for (version, ok) in [
        ("3.5.0", false),
        ("3.2.0", false),
        ("3.3.0", true),
        ("3.4.0", true),
    ] {
        let query = serde_json::json!({ "spec": spec, "node": "etcd1", "ignition": version });
        let output = common::terraform(&query.to_string(), spec.parent().unwrap());
        assert_eq!(output.status.success(), ok, "{version}: {output:?}");
        if !ok {
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                stderr.contains("must be \"3.4.0\" or \"3.3.0\""),
                "{stderr}"
            );
        }
    }
}

/// 13: stdin of `terraform` and `SHA256SUMS` of `sysext build` are read within a limit.
#[test]
fn terraform_stdin_is_read_within_a_limit() {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("kindling"))
        .arg("terraform")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Far more than the limit; the writer stops when kindling closes the pipe.
    let writer = std::thread::spawn(move || {
        let block = vec![b' '; 1 << 20];
        for _ in 0..64 {
            if std::io::Write::write_all(&mut stdin, &block).is_err() {
                break;
            }
        }
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("larger than kindling's limit of 4 MiB"),
        "{stderr}"
    );
}

/// 13: a SHA256SUMS in the output directory that is a symlink (to /dev/zero) is refused.
#[test]
fn sysext_build_reads_its_sha256sums_within_a_limit() {
    let dir = tempfile::tempdir().unwrap();
    let release = dir.path().join("etcd-v3.5.21-linux-amd64");
    std::fs::create_dir(&release).unwrap();
    // A small binary of this machine stands in for etcd's.
    for program in ["etcd", "etcdctl", "etcdutl"] {
        std::fs::copy("/bin/true", release.join(program)).unwrap();
    }
    let out = dir.path().join("images");
    std::fs::create_dir(&out).unwrap();
    std::os::unix::fs::symlink("/dev/zero", out.join("SHA256SUMS")).unwrap();
    let output = run(
        dir.path(),
        &[
            "sysext",
            "build",
            "--etcd",
            release.to_str().unwrap(),
            "-o",
            "images",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let refused = finding(&output, "sysext.sha256sums-unreadable");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("not a regular file"),
        "{refused}"
    );
}

/// 14: YAML forbids U+FFFE/U+FFFF anywhere, and go-yaml folds U+2028/U+2029: an env value
/// with one would make etcd's config file (or the pod manifest) unreadable or different.
#[test]
fn env_values_yaml_cannot_carry_are_refused() {
    // Written as YAML escapes: the spec's own parser refuses U+FFFE raw.
    for c in ["\\uFFFE", "\\uFFFF", "\\u2028", "\\u2029"] {
        let case = three_node_with(|text: &str| {
            text.replace(
                "env: { ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK: \"true\" }",
                &format!(
                    "env: {{ ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK: \"true\", ETCD_CORS: \"https://a.example{c}\" }}"
                ),
            )
        });
        let output = run(case.path(), &["check", "cluster.yaml"]);
        assert_eq!(output.status.code(), Some(1), "{c}");
        let refused = finding(&output, "etcd.env-value");
        assert!(
            refused["message"].as_str().unwrap().contains("YAML"),
            "{refused}"
        );
    }
}

/// 19: `matchbox --images` publishes the image's bytes, never a symlink to them, and never
/// PEM text reached through one.
#[test]
fn matchbox_publishes_the_image_a_symlink_leads_to_never_the_link() {
    let dir = scratch_copy("three-node");
    let name = "etcd-v3.5.21-x86-64.raw";
    std::fs::create_dir_all(dir.path().join("build")).unwrap();
    std::fs::create_dir_all(dir.path().join("images")).unwrap();
    let image = format!("kindling test image {name}");
    std::fs::write(dir.path().join("build").join(name), &image).unwrap();
    std::os::unix::fs::symlink(
        format!("../build/{name}"),
        dir.path().join("images").join(name),
    )
    .unwrap();
    let output = run(
        dir.path(),
        &["matchbox", "cluster.yaml", "-o", "mb", "--images", "images"],
    );
    assert!(output.status.success(), "{output:?}");
    let published = dir.path().join("mb/assets/extensions").join(name);
    assert!(!published.is_symlink(), "published as a link");
    assert_eq!(std::fs::read_to_string(&published).unwrap(), image);

    std::fs::remove_file(dir.path().join("images").join(name)).unwrap();
    std::os::unix::fs::symlink(
        dir.path().join("pki/ca.key"),
        dir.path().join("images").join(name),
    )
    .unwrap();
    let output = run(
        dir.path(),
        &[
            "matchbox",
            "cluster.yaml",
            "-o",
            "mb2",
            "--images",
            "images",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let refused = finding(&output, "matchbox.image-missing");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("not an image file"),
        "{refused}"
    );
    assert!(!dir.path().join("mb2").exists());
}

/// 17: a snippet that ships the cluster CA's private key (by `local:` or pasted inline).
#[test]
fn a_snippet_that_ships_the_ca_key_is_refused() {
    let key = std::fs::read_to_string(common::golden("three-node").join("pki/ca.key")).unwrap();
    let indented: String = key.lines().map(|l| format!("          {l}\n")).collect();
    for contents in [
        "        local: pki/ca.key\n".to_string(),
        format!("        inline: |\n{indented}"),
    ] {
        let case = three_node_with(before_nodes("snippets:\n  - site.bu"));
        std::fs::write(
            case.path().join("site.bu"),
            format!("variant: flatcar\nversion: 1.0.0\nstorage:\n  files:\n    - path: /etc/site/ca-backup.pem\n      mode: 0600\n      contents:\n{contents}"),
        )
        .unwrap();
        let output = run(case.path(), &["check", "cluster.yaml"]);
        assert_eq!(output.status.code(), Some(1), "{contents}");
        let refused = finding(&output, "snippet.ca-key");
        assert_eq!(refused["line"], line_of(case.path(), "- site.bu"));
        let message = refused["message"].as_str().unwrap();
        assert!(message.contains("/etc/site/ca-backup.pem"), "{message}");
        let body = key.lines().nth(1).unwrap();
        assert!(
            !String::from_utf8_lossy(&output.stdout).contains(body),
            "the key was printed"
        );
    }
    // A node's own key in a snippet is the profile's business, not this finding's.
    let case = three_node_with(before_nodes("snippets:\n  - site.bu"));
    std::fs::write(
        case.path().join("site.bu"),
        "variant: flatcar\nversion: 1.0.0\nstorage:\n  files:\n    - path: /etc/site/x.pem\n      contents:\n        local: pki/etcdctl.crt\n",
    )
    .unwrap();
    let output = run(case.path(), &["check", "cluster.yaml"]);
    assert!(
        !findings(&output)
            .iter()
            .any(|f| f["code"] == "snippet.ca-key")
    );
}

/// 18: keys others can read and a TLS directory others can write are reported.
#[test]
fn a_pki_others_can_read_or_change_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let case = scratch_copy("three-node");
    let clean = run(case.path(), &["check", "cluster.yaml"]);
    assert!(
        !findings(&clean)
            .iter()
            .any(|f| f["code"] == "tls.key-mode" || f["code"] == "tls.dir-mode"),
        "{:?}",
        findings(&clean)
    );
    let chmod = |path: &str, mode: u32| {
        std::fs::set_permissions(
            case.path().join(path),
            std::fs::Permissions::from_mode(mode),
        )
        .unwrap();
    };
    chmod("pki/ca.key", 0o666);
    chmod("pki/nodes/etcd1/server.key", 0o644);
    chmod("pki", 0o777);
    let output = run(case.path(), &["check", "cluster.yaml"]);
    let all = findings(&output);
    let keys: Vec<&str> = all
        .iter()
        .filter(|f| f["code"] == "tls.key-mode")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 2, "{all:?}");
    assert!(
        keys[0].contains("ca.key") && keys[0].contains("0666"),
        "{keys:?}"
    );
    assert!(keys[1].contains("etcd1/server.key"), "{keys:?}");
    let dirs: Vec<&Value> = all.iter().filter(|f| f["code"] == "tls.dir-mode").collect();
    assert_eq!(dirs.len(), 1, "{all:?}");
    assert_eq!(dirs[0]["severity"], "warning");
    assert!(dirs[0]["help"].as_str().unwrap().starts_with("chmod 0700"));
}

/// 05: `butane -o` writes through a symlink and into a device or FIFO, as `render -o` and
/// the reference butane do, instead of renaming a file over them.
#[test]
fn butane_output_goes_through_links_and_into_devices() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let bu = dir.path().join("x.bu");
    std::fs::write(&bu, "variant: flatcar\nversion: 1.0.0\n").unwrap();
    let butane = |out: &Path| {
        kindling()
            .args(["butane"])
            .arg(&bu)
            .arg("-o")
            .arg(out)
            .output()
            .unwrap()
    };
    // A symlink: the link stays, its target gets the config.
    std::fs::create_dir(dir.path().join("releases")).unwrap();
    std::fs::write(dir.path().join("releases/v7.ign"), "{\"old\":true}").unwrap();
    let link = dir.path().join("current.ign");
    std::os::unix::fs::symlink("releases/v7.ign", &link).unwrap();
    assert!(butane(&link).status.success());
    assert!(link.is_symlink());
    let written = std::fs::read_to_string(dir.path().join("releases/v7.ign")).unwrap();
    assert!(written.contains("\"ignition\""), "{written}");
    // A FIFO: read from the other end, never replaced.
    let fifo = dir.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    assert!(butane(&fifo).status.success());
    assert!(reader.join().unwrap().contains("\"ignition\""));
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    // A character device (a /dev/null of the test's own, made where root may).
    let null = dir.path().join("null");
    let made = std::process::Command::new("mknod")
        .arg(&null)
        .args(["c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success());
    if made {
        assert!(butane(&null).status.success());
        assert!(
            std::fs::symlink_metadata(&null)
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }
}

/// 06: a symlink at a tree's root becomes a link in the config (as the reference Butane
/// emits), never the files of wherever it leads.
#[test]
fn a_tree_root_symlink_is_a_link_not_the_files_it_leads_to() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("files")).unwrap();
    std::fs::create_dir_all(dir.path().join("outside")).unwrap();
    std::fs::write(dir.path().join("outside/ssh_host_ed25519_key"), "host key").unwrap();
    std::os::unix::fs::symlink(dir.path().join("outside"), dir.path().join("files/etc-ssh"))
        .unwrap();
    std::fs::write(
        dir.path().join("tree.bu"),
        "variant: flatcar\nversion: 1.0.0\nstorage:\n  trees:\n    - local: etc-ssh\n      path: /etc/site\n",
    )
    .unwrap();
    let output = kindling()
        .current_dir(dir.path())
        .args(["butane", "tree.bu", "-d", "files"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let config: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(config["storage"]["files"].is_null(), "{config}");
    assert_eq!(
        config["storage"]["links"],
        serde_json::json!([{ "path": "/etc/site", "target": dir.path().join("outside") }])
    );
}

/// Calendar expressions around every corner of systemd's grammar: shorthands, weekdays,
/// dates with and without years, `~`, ranges, steps, lists, seconds with fractions, time
/// zones, and the mistakes of bad-input-2/09.
fn calendar_corpus() -> Vec<String> {
    let mut corpus: Vec<String> = [
        "bogus",
        "*-*-* 25:00:00",
        "daily daily",
        "~",
        "*/0",
        "*",
        "Mon",
        "mon",
        "MONDAY",
        "Mon-Fri",
        "Mon..Fri 10:00",
        "*-*-* 02:30",
        "02:30",
        "2:3",
        "12:00:00.5",
        "*-02~03",
        "*-*~1",
        "2024-*-01",
        "99-1-1",
        "1969-01-01",
        "2200-01-01",
        "*-13-01",
        "*-*-32",
        "*:0/15",
        "0/15",
        "10..5:00",
        "Daily",
        "daily UTC",
        "*-*-* 00:00 Europe/Berlin",
        "*-*-* 00:00 Nowhere/City",
        "@1700000000",
        "Sat,Sun 10:00",
        "Mon,Fri..Sat",
        "*-*-* 24:00",
        "*-*-* 23:60",
        "*-*-* 23:59:60",
        "hourly hourly",
        "  daily  ",
        " daily",
        "1,2,3:00",
        "*-1,3-1",
        "*-1..3-1/2",
        "minutely",
        "semiannually",
        "quarterly",
        "today",
        "*-*-1/0",
        "Mon *",
        "01-01",
        "*:*",
        "*:*:*",
        "Fri..Mon",
        "Tue,",
        ",Tue",
        "Mon 02:30 UTC",
        "Mon  02:30",
        "*-*-* 02:30:00 UTC",
        "weekly UTC",
        "@",
        "@x",
        "2024-02-29",
        "*-*-*",
        "*-*",
        "*-*-*-*",
        "1:2:3:4",
        "01:02:03.000001",
        "00:00/5",
        "*-*-* *:00/20",
        "*-*-* 00..06:00",
        "Wed..Wed",
        "Sunday",
        "Sun..Sat",
        "1970-01-01 00:00:00",
        "2199-12-31 23:59:59",
        "*-12-25 06:00",
        "*-*-* 06:00:00/30",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for weekday in ["", "Mon ", "Sat,Sun ", "Mon..Fri "] {
        for date in ["", "*-*-* ", "*-*-01 ", "2025-06-* ", "*-*~07 "] {
            for time in ["", "02:30", "*:00/15", "00:00:00"] {
                let expression = format!("{weekday}{date}{time}");
                corpus.push(expression.trim_end().to_string());
            }
        }
    }
    corpus
}

/// 09: backup.schedule is read by systemd's calendar grammar: kindling's verdict equals
/// `systemd-analyze calendar`'s for every expression of the corpus.
#[test]
fn backup_schedules_are_read_as_systemd_reads_them() {
    if !common::on_path("systemd-analyze") {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "systemd-analyze is needed to compare with systemd"
        );
        eprintln!("!!! SKIPPED: systemd-analyze not installed");
        return;
    }
    let mut disagreements = Vec::new();
    for expression in calendar_corpus() {
        let systemd = std::process::Command::new("systemd-analyze")
            .args(["calendar", &expression])
            .output()
            .unwrap()
            .status
            .success();
        let kindling = kindling::resolve::values::calendar(&expression).is_ok();
        if systemd != kindling {
            disagreements.push(format!(
                "{expression:?}: systemd {systemd}, kindling {kindling}"
            ));
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
    // And at the spec's line, as check reports it.
    let case = three_node_with(before_nodes("backup: { schedule: \"*-*-* 25:00:00\" }"));
    let output = run(case.path(), &["check", "cluster.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        finding(&output, "backup.schedule")["line"],
        line_of(case.path(), "backup:")
    );
}

/// 01: a file the spec names (a snippet, a profile's file) is quoted in messages only when
/// it is a plain file: never /proc/self/environ, nor a symlink planted to credentials.
#[test]
fn files_a_spec_names_are_never_quoted_through_links_or_proc() {
    let secret = "hunter2secretToken";
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join(".git-credentials"),
        format!("https://deploy:{secret}@git.example.com\n"),
    )
    .unwrap();
    let leaks = |case: &Path, env_secret: bool| {
        let output = kindling()
            .current_dir(case)
            .env("CI_TOKEN", secret)
            .args(["check", "cluster.yaml"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        let printed = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(
            !printed.contains(secret),
            "leaked (env {env_secret}): {printed}"
        );
    };
    let direct = three_node_with(before_nodes("snippets:\n  - /proc/self/environ"));
    leaks(direct.path(), true);
    let linked = three_node_with(before_nodes("snippets:\n  - site.bu"));
    std::os::unix::fs::symlink("/proc/self/environ", linked.path().join("site.bu")).unwrap();
    leaks(linked.path(), true);
    std::fs::remove_file(linked.path().join("site.bu")).unwrap();
    std::os::unix::fs::symlink(
        home.path().join(".git-credentials"),
        linked.path().join("site.bu"),
    )
    .unwrap();
    leaks(linked.path(), false);
    let profile = three_node_with(|text: &str| {
        text.replace("profile: flatcar-sysext", "profile: ./myprofile")
    });
    std::fs::create_dir(profile.path().join("myprofile")).unwrap();
    std::os::unix::fs::symlink(
        "/proc/self/environ",
        profile.path().join("myprofile/profile.yaml"),
    )
    .unwrap();
    leaks(profile.path(), true);
    // A plain snippet with a mistake is still quoted, caret and all.
    let plain = three_node_with(before_nodes("snippets:\n  - site.bu"));
    std::fs::write(
        plain.path().join("site.bu"),
        "variant: flatcar\nversion: 1.0.0\nbogus: 1\n",
    )
    .unwrap();
    let output = kindling()
        .current_dir(plain.path())
        .args(["check", "cluster.yaml"])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stderr);
    assert!(printed.contains("bogus: 1"), "{printed}");
}

/// A gzip-compressed file of `size` bytes of 'a', as a data URL.
fn gzip_bomb(size: usize) -> String {
    use base64::Engine;
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![b'a'; 1 << 20];
    for _ in 0..size >> 20 {
        encoder.write_all(&block).unwrap();
    }
    let gz = encoder.finish().unwrap();
    format!(
        "data:;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(gz)
    )
}

/// 03: `show` and `check --golden` inflate within bounds: a config of many large gzip files
/// is summarised, not held in memory.
#[test]
fn show_inflates_within_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let source = gzip_bomb(64 << 20);
    let files: Vec<Value> = (0..8)
        .map(|i| serde_json::json!({"path": format!("/etc/b{i}"), "mode": 420, "contents": {"source": source, "compression": "gzip"}}))
        .collect();
    let config = serde_json::json!({"ignition": {"version": "3.4.0"}, "storage": {"files": files}});
    std::fs::write(dir.path().join("bomb.ign"), config.to_string()).unwrap();
    let output = run(dir.path(), &["show", "bomb.ign"]);
    assert!(output.status.success(), "{output:?}");
    let shown = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        shown
            .matches("gzip contents too large to show inflated")
            .count(),
        8
    );
    assert!(shown.len() < 10_000, "{} bytes shown", shown.len());
}

/// 04: one redaction for every place a key can hide in `show`: a merged config's data URL,
/// CA sources, units, drop-ins, an upper-case `DATA:` scheme.
#[test]
fn show_redacts_keys_wherever_they_sit() {
    use base64::Engine;
    let dir = scratch_copy("three-node");
    let key = std::fs::read_to_string(dir.path().join("pki/nodes/etcd1/server.key")).unwrap();
    let body = key.lines().nth(1).unwrap().to_string();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&key);
    let config = serde_json::json!({
        "ignition": {
            "version": "3.4.0",
            "config": {"merge": [{"source": format!("data:;base64,{b64}")}]},
            "security": {"tls": {"certificateAuthorities": [{"source": format!("data:;base64,{b64}")}]}}
        },
        "storage": {"files": [
            {"path": "/etc/upper", "contents": {"source": format!("DATA:;base64,{b64}")}},
            {"path": "/etc/plain", "contents": {"source": format!("data:;base64,{b64}")}}
        ]},
        "systemd": {"units": [{
            "name": "x.service",
            "contents": format!("[Service]\nEnvironment=KEY={key}"),
            "dropins": [{"name": "k.conf", "contents": key}]
        }]}
    });
    std::fs::write(dir.path().join("k.ign"), config.to_string()).unwrap();
    let output = run(dir.path(), &["show", "k.ign"]);
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(!shown.contains(&body), "{shown}");
    assert!(!shown.contains(&b64[..40]), "{shown}");
    assert!(shown.contains("[a data URL,"), "{shown}");
    assert!(shown.contains("private key redacted"), "{shown}");
}

/// 07: what a killed `sysext build` leaves in its output directory (its staging directory,
/// a partial image, a sums temp file) is removed by the next build; nothing goes to TMPDIR.
#[test]
fn a_killed_sysext_builds_leftovers_are_removed_by_the_next_build() {
    if !common::on_path("mksquashfs") {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "mksquashfs is needed to build an image"
        );
        eprintln!("!!! SKIPPED: mksquashfs not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let release = dir.path().join("etcd-v3.5.21-linux-amd64");
    std::fs::create_dir(&release).unwrap();
    // A small binary of this machine stands in for etcd's.
    for program in ["etcd", "etcdctl", "etcdutl"] {
        std::fs::copy("/bin/true", release.join(program)).unwrap();
    }
    let out = dir.path().join("images");
    std::fs::create_dir_all(out.join(".kindling-stage-Ab12Cd/root/usr/bin")).unwrap();
    std::fs::write(out.join(".kindling-Xy34Zw.raw"), "partial image").unwrap();
    std::fs::write(out.join(".kindling-Qr56St"), "partial sums").unwrap();
    std::fs::write(out.join("keep-me.txt"), "not kindling's").unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let output = kindling()
        .current_dir(dir.path())
        .env("TMPDIR", &tmp)
        .args(["sysext", "build", "--etcd"])
        .arg(&release)
        .args(["-o", "images"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let mut left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["SHA256SUMS", "etcd-v3.5.21-x86-64.raw", "keep-me.txt"]
    );
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "nothing staged in TMPDIR"
    );
}

/// 16: messages. (a) A broken snippet every node uses is one error; (b) the kubeadm hint
/// for `--client etcdctl` names a client kindling takes; (c) a value of the wrong type for
/// a number says so, and a quoted number is a string; (d) a mismatched pair left by an
/// interrupted `pki renew` says the next run finishes it.
#[test]
fn messages_say_what_is_wrong_once() {
    let broken = three_node_with(before_nodes("snippets:\n  - site.bu"));
    std::fs::write(
        broken.path().join("site.bu"),
        "variant: flatcar\nversion: 1.0.0\nstorage: [oops]\n",
    )
    .unwrap();
    let output = run(broken.path(), &["check", "cluster.yaml"]);
    let in_snippet: Vec<Value> = findings(&output)
        .into_iter()
        .filter(|f| f["file"].as_str().is_some_and(|p| p.ends_with("site.bu")))
        .collect();
    assert_eq!(in_snippet.len(), 1, "{in_snippet:?}");

    let plain = scratch_copy("three-node");
    let output = run(
        plain.path(),
        &["kubeadm", "cluster.yaml", "--client", "etcdctl"],
    );
    let help = finding(&output, "kubeadm.client")["help"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!help.contains("name: etcdctl"), "{help}");
    assert!(help.contains("apiserver-etcd-client"), "{help}");

    for (value, says) in [
        ("true", "expected a whole number"),
        ("1.5", "expected a whole number"),
        ("'7'", "a quoted string where a number is expected"),
    ] {
        let case = three_node_with(before_nodes(&format!("backup: {{ keep: {value} }}")));
        let output = run(case.path(), &["check", "cluster.yaml"]);
        assert_eq!(output.status.code(), Some(1), "{value}");
        let wrong = finding(&output, "spec.type");
        let message = wrong["message"].as_str().unwrap();
        assert!(
            message.contains(says) && !message.contains("out of range"),
            "{value}: {message}"
        );
        assert_eq!(wrong["line"], line_of(case.path(), "backup:"));
    }
    // A quoted number where a string is wanted stays a string.
    let string = three_node_with(|text: &str| {
        text.replace(
            "ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK: \"true\"",
            "ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK: \"true\", ETCD_MAX_TXN_OPS: \"256\"",
        )
    });
    assert_eq!(
        run(string.path(), &["check", "cluster.yaml"]).status.code(),
        Some(0)
    );

    let interrupted = scratch_copy("three-node");
    let pki = interrupted.path().join("pki");
    std::fs::copy(
        pki.join("nodes/etcd2/server.key"),
        pki.join("nodes/etcd1/server.key"),
    )
    .unwrap();
    std::fs::create_dir(pki.join(".kindling-pending")).unwrap();
    std::fs::write(
        pki.join(".kindling-pending/MANIFEST"),
        "0\tnodes/etcd1/server.key\treplace\n",
    )
    .unwrap();
    let output = run(interrupted.path(), &["check", "cluster.yaml"]);
    let mismatch = finding(&output, "tls.key-mismatch");
    assert!(
        mismatch["help"].as_str().unwrap().contains("interrupted"),
        "{mismatch}"
    );
}
