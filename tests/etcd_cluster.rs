//! Proof on the real consumers: golden/loopback-tls is rendered and materialized, three
//! real etcd processes start from exactly the rendered env files (only paths rewritten into
//! each node's root), and the cluster must form with TLS peer and client certificate
//! authentication. Rendered units are checked with `systemd-analyze verify`.
//!
//! Needs Debian's etcd-server, etcd-client and systemd (.ci/run installs them). On a
//! developer machine without them each test shows as ignored in `cargo test`'s summary, with
//! a note naming what is missing; under CI=true a missing program is a failure. The file
//! runs under its own harness (libtest-mimic) so that this is decided when the tests run.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::openssl::{CLIENT_EXTENSIONS, Form, Key, Openssl, member_extensions};
use common::{
    etcdctl, golden, kindling, render_and_materialize, render_spec_and_materialize, scratch_copy,
    settings, text, trial, wait_healthy,
};

fn main() {
    let arguments = libtest_mimic::Arguments::from_args();
    let trials = vec![
        trial(
            "a_tls_cluster_forms_from_the_rendered_configs",
            &["etcd", "etcdctl"],
            a_tls_cluster_forms_from_the_rendered_configs,
        ),
        trial(
            "a_tls_cluster_forms_from_the_rendered_yaml_config_files",
            &["etcd", "etcdctl"],
            a_tls_cluster_forms_from_the_rendered_yaml_config_files,
        ),
        trial(
            "a_tls_cluster_forms_with_a_p521_ca_and_openssl_made_leaves",
            &["etcd", "etcdctl", "openssl"],
            a_tls_cluster_forms_with_a_p521_ca_and_openssl_made_leaves,
        ),
        trial(
            "a_tls_cluster_forms_with_an_rsa_intermediate_under_an_offline_root",
            &["etcd", "etcdctl", "openssl"],
            a_tls_cluster_forms_with_an_rsa_intermediate_under_an_offline_root,
        ),
        trial(
            "a_tls_cluster_forms_with_every_generated_key_algorithm",
            &["etcd", "etcdctl", "openssl"],
            a_tls_cluster_forms_with_every_generated_key_algorithm,
        ),
        trial(
            "rendered_units_pass_systemd_analyze_verify",
            &["systemd-analyze", "etcd"],
            rendered_units_pass_systemd_analyze_verify,
        ),
        trial(
            "the_container_profile_runs_the_pinned_image_with_the_sysext_profiles_settings",
            &["systemd-analyze"],
            container_profile_runs_the_pinned_image,
        ),
        trial(
            "the_kubelet_dropin_passes_systemd_analyze_verify_on_the_sysexts_kubelet_unit",
            &["systemd-analyze"],
            kubelet_dropin_passes_verify,
        ),
        trial(
            "operations_units_pass_systemd_analyze_verify",
            &["systemd-analyze"],
            operations_units_pass_systemd_analyze_verify,
        ),
    ];
    libtest_mimic::run(&arguments, trials).exit();
}

/// The members started by this test, killed by PID and reaped when it ends, whether it
/// passed or panicked.
struct Members {
    children: Vec<(String, Child)>,
}

impl Members {
    fn stop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
        }
        for (name, child) in &mut self.children {
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() {
                assert!(
                    Instant::now() < deadline,
                    "member {name} did not stop within 10 s"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.children.clear();
    }
}

impl Drop for Members {
    fn drop(&mut self) {
        self.stop();
    }
}

fn a_tls_cluster_forms_from_the_rendered_configs() {
    cluster_forms("loopback-tls", start_from_env_file);
}

/// etcd started from the node's rendered env file, with an empty environment otherwise.
fn start_from_env_file(root: &Path, _: &Path) -> Command {
    let (env, rewritten) = settings(&root.join("etc/etcd/etcd.env"), root);
    assert_eq!(
        rewritten, 7,
        "only the data dir and the six TLS file paths are rewritten"
    );
    let mut etcd = Command::new("etcd");
    etcd.env_clear().envs(&env);
    etcd
}

/// The hand-built reference cluster's PKI, made with openssl exactly as its operators do:
/// a secp521r1 CA (openssl's default SEC1 key form), one P-256 key and certificate per
/// member signed with `-sha256` and used for both server and peer, and an etcdctl client.
/// kindling renders it unchanged, and real etcd forms a TLS cluster with it.
fn a_tls_cluster_forms_with_a_p521_ca_and_openssl_made_leaves() {
    let site = scratch_copy("loopback-tls");
    let pki = site.path().join("pki");
    std::fs::remove_dir_all(&pki).unwrap();
    let openssl = Openssl { dir: site.path() };
    std::fs::create_dir_all(&pki).unwrap();
    openssl.new_key("pki/ca.key", Key::P521, Form::Traditional);
    openssl.self_signed_ca(
        "pki/ca.key",
        "pki/ca.crt",
        "reference etcd CA",
        Some("-sha512"),
    );
    for (index, node) in ["m1", "m2", "m3"].iter().enumerate() {
        let dir = format!("pki/nodes/{node}");
        std::fs::create_dir_all(site.path().join(&dir)).unwrap();
        let key = format!("{dir}/server.key");
        let cert = format!("{dir}/server.crt");
        openssl.new_key(&key, Key::P256, Form::Traditional);
        let sans = format!("DNS:{node},IP:127.0.0.{},IP:127.0.0.1", index + 1);
        openssl.leaf(
            &key,
            &cert,
            &format!("/CN={node}"),
            &member_extensions(&sans),
            ("pki/ca.crt", "pki/ca.key"),
            &["-sha256"],
        );
        std::fs::copy(
            site.path().join(&key),
            site.path().join(format!("{dir}/peer.key")),
        )
        .unwrap();
        std::fs::copy(
            site.path().join(&cert),
            site.path().join(format!("{dir}/peer.crt")),
        )
        .unwrap();
        openssl.assert_verifies("pki/ca.crt", &cert);
    }
    openssl.new_key("pki/etcdctl.key", Key::P256, Form::Traditional);
    openssl.leaf(
        "pki/etcdctl.key",
        "pki/etcdctl.crt",
        "/CN=etcdctl",
        CLIENT_EXTENSIONS,
        ("pki/ca.crt", "pki/ca.key"),
        &["-sha256"],
    );
    assert_checks_clean(&site.path().join("cluster.yaml"));
    cluster_forms_from(&site.path().join("cluster.yaml"), start_from_env_file);
}

/// A corporate or Vault-shaped PKI: an RSA-4096 root whose key is gone (offline), an
/// RSA-2048 intermediate in ca.crt/ca.key. kindling issues the leaves with the chain; the
/// members trust only the root, and real etcd forms a TLS cluster with it.
fn a_tls_cluster_forms_with_an_rsa_intermediate_under_an_offline_root() {
    let site = scratch_copy("loopback-tls");
    let pki = site.path().join("pki");
    std::fs::remove_dir_all(&pki).unwrap();
    std::fs::create_dir_all(&pki).unwrap();
    let openssl = Openssl { dir: site.path() };
    openssl.intermediate_under_offline_root();
    let spec = site.path().join("cluster.yaml");
    kindling()
        .arg("pki")
        .arg("init")
        .arg(&spec)
        .assert()
        .success();
    for node in ["m1", "m2", "m3"] {
        openssl.assert_verifies("pki/root.crt", &format!("pki/nodes/{node}/peer.crt"));
    }
    assert_checks_clean(&spec);
    cluster_forms_from(&spec, start_from_env_file);
}

/// Keys kindling generates of every algorithm it offers, which etcd must read and use.
fn a_tls_cluster_forms_with_every_generated_key_algorithm() {
    for algorithm in ["ecdsa-p384", "ecdsa-p521", "rsa-2048", "ed25519"] {
        let site = scratch_copy("loopback-tls");
        std::fs::remove_dir_all(site.path().join("pki")).unwrap();
        let spec = site.path().join("cluster.yaml");
        let text = std::fs::read_to_string(&spec).unwrap();
        std::fs::write(
            &spec,
            format!("{text}tls: {{ key_algorithm: {algorithm} }}\n"),
        )
        .unwrap();
        kindling()
            .arg("pki")
            .arg("init")
            .arg(&spec)
            .assert()
            .success();
        assert_checks_clean(&spec);
        cluster_forms_from(&spec, start_from_env_file);
    }
}

/// `kindling check` finds no error.
fn assert_checks_clean(spec: &Path) {
    let output = kindling().arg("check").arg(spec).output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
}

/// The same cluster from `etcd.config: file`: each member reads only the rendered
/// `/etc/etcd/etcd.conf.yml` (paths moved into its root) with `--config-file`, and must
/// log the file's values, so a setting of the wrong type or place would show.
fn a_tls_cluster_forms_from_the_rendered_yaml_config_files() {
    let logs = cluster_forms("loopback-config-file", |root, dir| {
        let rendered = std::fs::read_to_string(root.join("etc/etcd/etcd.conf.yml")).unwrap();
        let moved = |text: &str, from: &str| {
            text.replace(from, &format!("\"{}{}", root.display(), &from[1..]))
        };
        let config = moved(&moved(&rendered, "\"/etc/etcd/"), "\"/var/lib/etcd\"");
        assert_eq!(
            config.matches(&root.display().to_string()).count(),
            7,
            "only the data dir and the six TLS file paths are rewritten"
        );
        let path = dir.join(format!(
            "{}.conf.yml",
            root.file_name().unwrap().to_string_lossy()
        ));
        std::fs::write(&path, config).unwrap();
        let unit = std::fs::read_to_string(root.join("etc/systemd/system/etcd.service")).unwrap();
        assert!(
            unit.contains("ExecStart=/usr/bin/etcd --config-file=/etc/etcd/etcd.conf.yml\n"),
            "{unit}"
        );
        assert!(!unit.contains("EnvironmentFile"), "{unit}");
        assert!(
            !root.join("etc/etcd/etcd.env").exists(),
            "an env file beside the config file"
        );
        let mut etcd = Command::new("etcd");
        etcd.env_clear().arg("--config-file").arg(path);
        if unit.contains("Environment=GOMAXPROCS=2\n") {
            etcd.env("GOMAXPROCS", "2");
        }
        etcd
    });
    for log in logs {
        assert!(log.contains("loaded server configuration"), "{log}");
        assert!(log.contains("\"election-timeout\":\"500ms\""), "{log}");
        assert!(log.contains("\"max-request-bytes\":1572864"), "{log}");
        assert!(log.contains("\"initial-corrupt-check\":true"), "{log}");
    }
}

/// Renders and materializes `case`, starts each member with the command `start` makes from
/// its root (with an empty environment), and proves the cluster formed with TLS both ways. Returns the members' logs.
fn cluster_forms(case: &str, start: impl Fn(&Path, &Path) -> Command) -> Vec<String> {
    cluster_forms_from(&golden(case).join("cluster.yaml"), start)
}

/// Held while a cluster on loopback-tls's addresses runs: the tests that boot one run in
/// parallel threads, and two clusters on the same ports would meet each other.
static LOOPBACK_TLS_PORTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `cluster_forms` for the spec at `spec`.
fn cluster_forms_from(spec: &Path, start: impl Fn(&Path, &Path) -> Command) -> Vec<String> {
    let _ports = LOOPBACK_TLS_PORTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let nodes = render_spec_and_materialize(spec, dir.path());
    assert_eq!(nodes, ["m1", "m2", "m3"]);
    let mut members = Members {
        children: Vec::new(),
    };
    let mut clients = BTreeMap::new();
    for node in &nodes {
        let root = dir.path().join(node);
        let log = std::fs::File::create(dir.path().join(format!("{node}.log"))).unwrap();
        let mut command = start(&root, dir.path());
        let child = command
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        members.children.push((node.clone(), child));
        clients.insert(
            node.clone(),
            settings(&root.join("etc/profile.d/etcdctl.sh"), &root).0,
        );
    }

    wait_healthy(&clients["m1"], 3);

    let put = etcdctl(&clients["m1"], &["put", "kindling/proof", "formed"]);
    assert!(put.status.success(), "put on m1: {}", text(&put));
    let get = etcdctl(
        &clients["m3"],
        &["get", "--print-value-only", "kindling/proof"],
    );
    assert_eq!(
        String::from_utf8_lossy(&get.stdout).trim(),
        "formed",
        "read back from m3: {}",
        text(&get)
    );
    let list = etcdctl(&clients["m2"], &["member", "list"]);
    let listed = String::from_utf8_lossy(&list.stdout).into_owned();
    assert_eq!(listed.lines().count(), 3, "{listed}");
    for node in &nodes {
        assert!(
            listed.contains(&format!(", started, {node}, https://")),
            "{node} missing from {listed}"
        );
    }

    let log_of =
        |node: &str| std::fs::read_to_string(dir.path().join(format!("{node}.log"))).unwrap();
    for node in &nodes {
        let log = log_of(node);
        assert_eq!(
            log.matches("rejected connection").count(),
            0,
            "{node} rejected TLS connections while the cluster formed:\n{log}"
        );
        assert!(
            !log.contains("unrecognized environment variable"),
            "{node} ignored a setting:\n{log}"
        );
        assert!(
            !log.contains("Deprecated"),
            "{node} was started with a deprecated setting:\n{log}"
        );
    }

    let mut no_cert = clients["m2"].clone();
    no_cert.remove("ETCDCTL_CERT");
    no_cert.remove("ETCDCTL_KEY");
    let refused = etcdctl(&no_cert, &["--dial-timeout=2s", "get", "kindling/proof"]);
    assert!(
        !refused.status.success(),
        "a client without a certificate was served: {}",
        text(&refused)
    );
    // etcd logs the failed handshake a moment after the client gave up: wait for it (5 s
    // at most) before stopping the members.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !log_of("m2").contains("client didn't provide a certificate") && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    members.stop();
    let m2 = log_of("m2");
    assert!(
        m2.contains("client didn't provide a certificate"),
        "m2 did not refuse the client at the TLS layer:\n{m2}"
    );
    nodes.iter().map(|node| log_of(node)).collect()
}

/// Writes an executable stub at `path` (for binaries the test machine lacks).
fn stub(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, "#!/bin/sh\nexit 0\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn verify(unit: &Path) -> Output {
    Command::new("systemd-analyze")
        .arg("verify")
        .arg(unit)
        .output()
        .unwrap()
}

/// A member that boots minutes before its peers waits for them instead of being killed at a
/// start timeout, and keeps restarting forever (docs/profiles.md, "Surviving a real boot
/// order").
fn assert_boot_order_settings(unit: &str) {
    let setting = |name: &str| -> Vec<&str> {
        unit.lines()
            .filter_map(|line| line.strip_prefix(name)?.strip_prefix('='))
            .collect()
    };
    assert_eq!(setting("TimeoutStartSec"), ["0"], "{unit}");
    assert_eq!(setting("Restart"), ["always"], "{unit}");
    assert_eq!(setting("RestartSec"), ["5s"], "{unit}");
    assert_eq!(setting("StartLimitIntervalSec"), ["0"], "{unit}");
    assert_eq!(setting("Type"), ["notify"], "{unit}");
    let after: Vec<&str> = setting("After").iter().flat_map(|a| a.split(' ')).collect();
    for target in [
        "network-online.target",
        "time-sync.target",
        "systemd-sysext.service",
    ] {
        assert!(
            after.contains(&target),
            "etcd.service is not after {target}: {unit}"
        );
    }
}

fn rendered_units_pass_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    render_and_materialize("three-node", dir.path());
    let units = dir.path().join("etcd1/etc/systemd/system");

    let etcd = verify(&units.join("etcd.service"));
    assert!(
        etcd.status.success() && text(&etcd).trim().is_empty(),
        "etcd.service: {}",
        text(&etcd)
    );
    assert_boot_order_settings(&std::fs::read_to_string(units.join("etcd.service")).unwrap());

    // Flatcar ships systemd-sysupdate.service; verify the drop-in on a stub of it, with the
    // sysupdate binary (not packaged by Debian) stubbed inside the materialized root.
    let sysupdate = dir.path().join("etcd1/usr/lib/systemd/systemd-sysupdate");
    stub(&sysupdate);
    let checked = dir.path().join("verify");
    let dropin_dir = checked.join("systemd-sysupdate.service.d");
    std::fs::create_dir_all(&dropin_dir).unwrap();
    std::fs::write(checked.join("systemd-sysupdate.service"), "[Unit]\nDescription=stub of Flatcar's unit\n[Service]\nType=oneshot\nExecStart=/bin/true\n").unwrap();
    let dropin =
        std::fs::read_to_string(units.join("systemd-sysupdate.service.d/etcd.conf")).unwrap();
    assert!(dropin.contains("/usr/lib/systemd/systemd-sysupdate -C etcd update"));
    std::fs::write(
        dropin_dir.join("etcd.conf"),
        dropin.replace(
            "/usr/lib/systemd/systemd-sysupdate",
            &sysupdate.display().to_string(),
        ),
    )
    .unwrap();
    let checked_unit: PathBuf = checked.join("systemd-sysupdate.service");
    let result = verify(&checked_unit);
    assert!(
        result.status.success() && text(&result).trim().is_empty(),
        "systemd-sysupdate.service.d/etcd.conf: {}",
        text(&result)
    );

    // The check must be able to fail: a broken key in the drop-in is reported.
    std::fs::write(
        dropin_dir.join("etcd.conf"),
        "[Service]\nExecStartPre=relative/path\n",
    )
    .unwrap();
    let broken = verify(&checked_unit);
    assert!(
        !text(&broken).trim().is_empty(),
        "systemd-analyze verify accepted a relative ExecStartPre"
    );
}

/// The units `backup:` and `updates.os_reboots` add, and the roll units every node has, each
/// verified with its script path moved into the materialized root (where the script is).
fn operations_units_pass_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    common::copy_tree(&golden("three-node"), &case, &|p| p.ends_with("expected"));
    let spec = case.join("cluster.yaml");
    let edited = std::fs::read_to_string(&spec).unwrap().replace(
        "nodes:\n",
        "backup: { schedule: \"*-*-* 03:15:00\", keep: 3 }\nupdates: { os_reboots: true }\ndefrag: { schedule: \"Sun 04:00\" }\nnodes:\n",
    );
    std::fs::write(&spec, edited).unwrap();
    render_spec_and_materialize(&spec, dir.path());
    let root = dir.path().join("etcd1");
    let units = root.join("etc/systemd/system");
    assert!(
        std::fs::read_link(units.join("locksmithd.service"))
            .is_ok_and(|t| t == Path::new("/dev/null")),
        "locksmithd is masked"
    );
    let checked = dir.path().join("verify");
    std::fs::create_dir_all(&checked).unwrap();
    for unit in [
        "etcd-update.service",
        "etcd-roll-resume.service",
        "kindling-os-update.service",
        "kindling-os-update.timer",
        "etcd-backup.service",
        "etcd-backup.timer",
        "etcd-defrag.service",
        "etcd-defrag.timer",
    ] {
        let contents = std::fs::read_to_string(units.join(unit))
            .unwrap_or_else(|e| panic!("{unit} was not written: {e}"))
            .replace("/opt/bin/", &format!("{}/opt/bin/", root.display()));
        std::fs::write(checked.join(unit), contents).unwrap();
    }
    for unit in [
        "etcd-update.service",
        "etcd-roll-resume.service",
        "kindling-os-update.timer",
        "etcd-backup.timer",
        "etcd-defrag.timer",
    ] {
        let result = verify(&checked.join(unit));
        let said = text(&result);
        let complaints: Vec<&str> = said
            .lines()
            .filter(|l| !l.contains("etcd.service") && !l.contains("update-engine.service"))
            .collect();
        assert!(complaints.is_empty(), "{unit}: {}", text(&result));
    }
    let timer = std::fs::read_to_string(units.join("etcd-backup.timer")).unwrap();
    assert!(timer.contains("OnCalendar=*-*-* 03:15:00\n"), "{timer}");
    let script = std::fs::read_to_string(root.join("opt/bin/kindling-etcd-backup")).unwrap();
    assert!(script.contains("keep=3\n"), "{script}");
}

/// flatcar-container: `etcd.service` passes `systemd-analyze verify` (docker stubbed inside
/// the materialized root), keeps the boot-order settings, and its `docker run` command line
/// is the one docs/profiles.md promises: the pinned image, host networking, the etcd user,
/// the env file and the host's data and certificate directories. The env file is byte for
/// byte the one flatcar-sysext renders for the same cluster. (No container runtime runs here:
/// the cluster itself is proven from the same env file by the tests above.)
fn container_profile_runs_the_pinned_image() {
    let dir = tempfile::tempdir().unwrap();
    render_and_materialize("container", &dir.path().join("container"));
    render_and_materialize("three-node", &dir.path().join("sysext"));
    let root = dir.path().join("container/etcd1");
    let env = |profile: &str| {
        std::fs::read(dir.path().join(profile).join("etcd1/etc/etcd/etcd.env")).unwrap()
    };
    assert!(
        env("container") == env("sysext"),
        "the two profiles' env files differ"
    );

    let unit_path = root.join("etc/systemd/system/etcd.service");
    let unit = std::fs::read_to_string(&unit_path).unwrap();
    let joined = unit.replace(" \\\n", " ");
    let run: Vec<&str> = joined
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart")
        .split_whitespace()
        .collect();
    let spec = std::fs::read_to_string(golden("container").join("cluster.yaml")).unwrap();
    let image = spec
        .lines()
        .find_map(|l| l.trim().strip_prefix("image: "))
        .unwrap();
    assert!(image.contains("@sha256:"), "{image}");
    let expected = [
        "/usr/bin/docker",
        "run",
        "--name",
        "etcd-member",
        "--rm",
        "--network",
        "host",
        "--user",
        "232:232",
        "--env-file",
        "/etc/etcd/etcd.env",
        "--volume",
        "/var/lib/etcd:/var/lib/etcd:rw",
        "--volume",
        "/etc/etcd/pki:/etc/etcd/pki:ro",
        image,
        "/usr/local/bin/etcd",
    ];
    assert_eq!(run, expected, "{unit}");
    for setting in [
        "Restart=always",
        "RestartSec=5s",
        "TimeoutStartSec=0",
        "StartLimitIntervalSec=0",
        "Requires=docker.service",
    ] {
        assert!(
            unit.lines().any(|l| l == setting),
            "{setting} missing: {unit}"
        );
    }
    let docker = root.join("usr/bin/docker");
    stub(&docker);
    // Flatcar ships docker.service; verify against a stub of it beside the unit.
    std::fs::write(
        dir.path().join("docker.service"),
        "[Unit]\nDescription=stub of Flatcar's unit\n[Service]\nExecStart=/bin/true\n",
    )
    .unwrap();
    let checked = dir.path().join("etcd.service");
    std::fs::write(
        &checked,
        unit.replace("/usr/bin/docker", &docker.display().to_string()),
    )
    .unwrap();
    let result = verify(&checked);
    assert!(
        result.status.success() && text(&result).trim().is_empty(),
        "etcd.service: {}",
        text(&result)
    );
    for tool in ["etcdctl", "etcdutl"] {
        let wrapper = std::fs::read_to_string(root.join("opt/bin").join(tool)).unwrap();
        assert!(
            wrapper.contains(image),
            "{tool} does not run the pinned image"
        );
    }
}

/// kubeadm-static-pod: the kubelet drop-in, over the kubelet.service and kubeadm drop-in the
/// Flatcar bakery's Kubernetes sysext ships (reproduced here, with the kubelet binary
/// stubbed), passes `systemd-analyze verify`, and leaves one ExecStart: the standalone
/// kubelet with the rendered config file. The units that wait for etcd wait for the kubelet.
fn kubelet_dropin_passes_verify() {
    let dir = tempfile::tempdir().unwrap();
    render_and_materialize("kubeadm", &dir.path().join("nodes"));
    let root = dir.path().join("nodes/etcd1");
    let units = root.join("etc/systemd/system");
    let dropin =
        std::fs::read_to_string(units.join("kubelet.service.d/20-etcd-service-manager.conf"))
            .unwrap();
    let kubelet = root.join("usr/bin/kubelet");
    stub(&kubelet);
    let checked = dir.path().join("verify");
    let dropins = checked.join("kubelet.service.d");
    std::fs::create_dir_all(&dropins).unwrap();
    let stubbed = |text: &str| text.replace("/usr/bin/kubelet", &kubelet.display().to_string());
    std::fs::write(
        checked.join("kubelet.service"),
        stubbed("[Unit]\nDescription=kubelet: The Kubernetes Node Agent\nWants=network-online.target\nAfter=network-online.target\n\n[Service]\nExecStart=/usr/bin/kubelet\nRestart=always\nStartLimitInterval=0\nRestartSec=10\n\n[Install]\nWantedBy=multi-user.target\n"),
    )
    .unwrap();
    std::fs::write(
        dropins.join("10-kubeadm.conf"),
        stubbed("[Service]\nEnvironment=\"KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml\"\nEnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\nExecStart=\nExecStartPre=/usr/bin/mkdir -p /opt/cni/bin\nExecStart=/usr/bin/kubelet $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS\n"),
    )
    .unwrap();
    std::fs::write(
        dropins.join("20-etcd-service-manager.conf"),
        stubbed(&dropin),
    )
    .unwrap();
    // Flatcar ships containerd.service; verify against a stub of it beside the unit.
    std::fs::write(
        checked.join("containerd.service"),
        "[Unit]\nDescription=stub of Flatcar's unit\n[Service]\nExecStart=/bin/true\n",
    )
    .unwrap();
    let result = verify(&checked.join("kubelet.service"));
    assert!(
        result.status.success() && text(&result).trim().is_empty(),
        "kubelet.service with the drop-in: {}",
        text(&result)
    );
    let starts: Vec<&str> = dropin
        .lines()
        .filter_map(|l| l.strip_prefix("ExecStart="))
        .collect();
    assert_eq!(
        starts,
        [
            "",
            "/usr/bin/kubelet --config=/etc/kubernetes/kubelet-standalone.yaml"
        ],
        "{dropin}"
    );
    assert!(dropin.lines().any(|l| l == "ExecStartPre="), "{dropin}");
    assert!(
        root.join("etc/kubernetes/kubelet-standalone.yaml")
            .is_file()
    );
    let upholds =
        std::fs::read_to_string(units.join("multi-user.target.d/20-kindling-kubelet.conf"))
            .unwrap();
    assert!(
        upholds.lines().any(|l| l == "Upholds=kubelet.service"),
        "{upholds}"
    );
    for unit in ["etcd-roll-resume.service", "etcd-backup.service"] {
        let text = std::fs::read_to_string(units.join(unit)).unwrap();
        assert!(text.contains("After=kubelet.service"), "{unit}: {text}");
    }
    assert!(!units.join("etcd.service").exists());
}
