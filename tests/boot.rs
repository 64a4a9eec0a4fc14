//! Boot proof: configs kindling renders, applied by the real Ignition and booted by the real
//! systemd, several nodes each in its own network namespace (tests/boot/lab.rs). The sysext
//! image is built by `kindling sysext build` from Debian trixie's etcd and served over HTTP by
//! a namespace in the Matchbox role; Ignition's fetch stage downloads it and checks its hash.
//!
//! What this proves and what it does not (the kernel is the host's, Ignition is Debian's
//! 2.14, run against a directory, and the root is Debian posing as Flatcar): README, "Boot
//! proof". Needs root and Debian's ignition, debootstrap, systemd-container, iproute2,
//! squashfs-tools and etcd-client (.ci/run installs them). Without them each test shows as
//! ignored, naming what is missing; under CI=true that is a failure.

mod common;
#[path = "boot/lab.rs"]
mod lab;
#[path = "boot/tree.rs"]
mod tree;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use lab::{Lab, eventually};

/// The etcd release the lab's image holds (Debian trixie's etcd-server), as upstream tags it.
const ETCD: &str = "v3.5.16";
/// The "newer" image an update publishes: the same binaries under the next version's name,
/// which is what sysupdate's pattern `etcd-v3.5.@v-x86-64.raw` orders by.
const NEXT: &str = "v3.5.17";

fn main() {
    let mut arguments = libtest_mimic::Arguments::from_args();
    // Each test boots a cluster: one at a time on two cores.
    arguments.test_threads = Some(1);
    let missing = lab::missing_prerequisites();
    let needs = "root and Debian's ignition, debootstrap, systemd-container, iproute2, squashfs-tools and etcd-client; run `bash .ci/run`";
    let tests: [(&'static str, fn()); 5] = [
        (
            "ignition_and_materialize_write_the_same_tree_for_every_golden_shape",
            goldens_write_the_same_tree,
        ),
        (
            "ignition_and_materialize_write_the_same_tree_for_the_parity_corpus",
            corpus_writes_the_same_tree,
        ),
        (
            "first_boot_forms_a_tls_cluster_from_the_sysext_and_a_member_waits_for_its_peers",
            first_boot,
        ),
        (
            "sysupdate_restarts_members_onto_a_new_image_one_at_a_time",
            update_with_restart,
        ),
        (
            "sysupdate_reboots_members_onto_a_new_image_one_at_a_time",
            update_with_reboot,
        ),
    ];
    let trials = tests
        .into_iter()
        .map(|(name, test)| common::trial_needing(name, missing.clone(), needs, test))
        .collect();
    libtest_mimic::run(&arguments, trials).exit();
}

/// A rendered cluster in a lab: each node's config applied by Ignition, none booted yet.
struct Cluster {
    lab: Lab,
    spec_dir: PathBuf,
    nodes: Vec<String>,
}

/// The spec of a cluster of `nodes` on the lab network, with `extra` YAML appended (top-level
/// keys that the base below does not set, or `sysext.update` through `update`).
fn spec(nodes: &[&str], update: &str, extra: &str) -> String {
    let mut text = format!(
        "version: 1
cluster: {{ name: boot, ignition: 3.3.0 }}
etcd:
  version: {ETCD}
  gomaxprocs: 1
sysext:
  base_url: http://{hub}:{port}
  sha256sums: ../serve/SHA256SUMS
  update: {{ {update} }}
network: {{ subnet: {subnet} }}
nodes:
",
        hub = lab::HUB_IP,
        port = lab::HTTP_PORT,
        subnet = lab::SUBNET,
    );
    for node in nodes {
        text.push_str(&format!("  - {{ name: {node}, ip: {} }}\n", node_ip(node)));
    }
    text.push_str(extra);
    text
}

/// n1 is 10.77.0.11, n2 .12, and so on.
fn node_ip(node: &str) -> String {
    let index: u32 = node
        .trim_start_matches('n')
        .parse()
        .expect("nodes are n<index>");
    format!("10.77.0.{}", 10 + index)
}

impl Cluster {
    /// Builds and publishes the image, writes `spec_text`, runs `pki init` and `render`,
    /// and applies each node's config with Ignition into its own root.
    fn ignited(spec_text: &str) -> Cluster {
        let mut lab = Lab::new();
        publish_image(&lab, ETCD);
        let spec_dir = lab.dir.path().join("spec");
        std::fs::create_dir(&spec_dir).unwrap();
        lab::write(&spec_dir.join("cluster.yaml"), spec_text);
        common::kindling()
            .current_dir(&spec_dir)
            .args(["pki", "init", "cluster.yaml"])
            .assert()
            .success();
        common::kindling()
            .current_dir(&spec_dir)
            .args(["render", "cluster.yaml", "-o", "out"])
            .assert()
            .success();
        let mut nodes = Vec::new();
        for line in spec_text.lines() {
            if let Some(rest) = line.trim().strip_prefix("- { name: ") {
                let name = rest.split(',').next().unwrap().to_string();
                lab.add_node(&name, Some(&node_ip(&name)));
                lab.ignite(&name, &spec_dir.join(format!("out/{name}.ign")));
                nodes.push(name);
            }
        }
        Cluster {
            lab,
            spec_dir,
            nodes,
        }
    }

    /// Boots every node not booted yet and waits until each says `running`.
    fn boot_all(&mut self) {
        for node in self.nodes.clone() {
            if !self.lab.is_booted(&node) {
                self.lab.boot(&node);
            }
        }
        for node in &self.nodes {
            self.lab.wait_running(node, Duration::from_secs(120));
        }
    }
}

/// `kindling sysext build` of the base root's etcd binaries, labelled `version`, into what
/// the hub serves (the image and its line in SHA256SUMS).
fn publish_image(lab: &Lab, version: &str) {
    common::kindling()
        .args(["sysext", "build", "--etcd"])
        .arg(&lab::base_root().etcd)
        .args(["--version", version, "-o"])
        .arg(lab.serve_dir())
        .assert()
        .success();
}

/// A unit property, as `systemctl show -P` prints it.
fn property(lab: &Lab, node: &str, unit: &str, name: &str) -> String {
    lab.exec(node, &format!("systemctl show -P {name} {unit}"))
        .trim()
        .to_string()
}

/// The number of members `etcdctl endpoint health --cluster` reports healthy, asked on
/// `node` with its own etcdctl profile (the node's client certificate).
fn healthy_members(lab: &Lab, node: &str) -> usize {
    lab.try_exec(node, "etcdctl endpoint health --cluster 2>&1")
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .matches("is healthy")
                .count()
        })
        .unwrap_or(0)
}

/// Scenario 1, first boot: n1 boots alone and waits for its peers past systemd's default start
/// timeout (20 s in the lab's root) without being killed; then n2 and n3 boot. Every node
/// reaches `running` with no failed unit, etcd runs from the merged sysext image, the TLS
/// cluster is healthy from every node's own etcdctl, and a key written on one member is read
/// on another.
fn first_boot() {
    let mut cluster = Cluster::ignited(&spec(&["n1", "n2", "n3"], "", ""));
    let lab = &mut cluster.lab;
    assert!(
        !lab::base_root().root.join("usr/bin/etcd").exists(),
        "the base root must not carry etcd: only the image may"
    );

    lab.boot("n1");
    let waiting_since = eventually(Duration::from_secs(60), "n1's etcd is starting", || {
        let state = lab.try_exec("n1", "systemctl show -P ActiveState etcd.service")?;
        (String::from_utf8_lossy(&state.stdout).trim() == "activating").then(Instant::now)
    });
    let first_pid = property(lab, "n1", "etcd.service", "MainPID");
    std::thread::sleep(Duration::from_secs(30).saturating_sub(waiting_since.elapsed()));
    assert_eq!(
        property(lab, "n1", "etcd.service", "ActiveState"),
        "activating",
        "alone for 30 s, past the 20 s default start timeout, n1's etcd must still be waiting for its peers"
    );
    assert_eq!(property(lab, "n1", "etcd.service", "NRestarts"), "0");
    assert_eq!(property(lab, "n1", "etcd.service", "MainPID"), first_pid);

    cluster.boot_all();
    let lab = &cluster.lab;
    assert_eq!(
        property(lab, "n1", "etcd.service", "MainPID"),
        first_pid,
        "n1's etcd must be the process that waited, never killed"
    );
    assert_eq!(property(lab, "n1", "etcd.service", "NRestarts"), "0");
    for node in &cluster.nodes {
        assert_eq!(property(lab, node, "etcd.service", "ActiveState"), "active");
        let status = lab.exec(node, "systemd-sysext status --json=short");
        assert!(
            status.contains(r#""hierarchy":"/usr","extensions":["etcd"]"#),
            "{node}: the etcd image must be merged into /usr: {status}"
        );
        let usr = lab.exec(node, "findmnt --noheadings --output FSTYPE,SOURCE /usr");
        assert_eq!(
            usr.split_whitespace().collect::<Vec<_>>(),
            ["overlay", "sysext"],
            "{node}: /usr is the sysext overlay"
        );
        let exe = lab.exec(
            node,
            "readlink /proc/$(systemctl show -P MainPID etcd.service)/exe",
        );
        assert_eq!(exe.trim(), "/usr/bin/etcd");
        let version = lab.exec(node, "etcd --version | head -n 1");
        assert_eq!(version.trim(), format!("etcd Version: {}", &ETCD[1..]));
        eventually(
            Duration::from_secs(30),
            &format!("{node} sees 3 healthy members"),
            || (healthy_members(lab, node) == 3).then_some(()),
        );
    }
    lab.exec("n1", "etcdctl put kindling/boot-proof formed");
    let read = lab.exec("n3", "etcdctl get --print-value-only kindling/boot-proof");
    assert_eq!(read.trim(), "formed");
}

fn update_with_restart() {
    update_rolls("restart");
}

fn update_with_reboot() {
    update_rolls("reboot");
}

/// Scenario 3, updates through the real systemd-sysupdate: a newer image and SHA256SUMS are
/// published, and `systemd-sysupdate.service` starts on every node at the same moment.
/// kindling's drop-in starts `etcd-update.service`, whose roll script takes the cluster's
/// lock: the members move to the new image one at a time (watched from outside throughout,
/// every 100 ms: never two client ports closed at once), every node ends on the new image, and the data survives.
/// With `reboot`, each node rebooted exactly once; with `restart`, none did.
fn update_rolls(on_change: &str) {
    let mut cluster = Cluster::ignited(&spec(
        &["n1", "n2", "n3"],
        &format!("on_change: {on_change}"),
        "",
    ));
    cluster.boot_all();
    let lab = &cluster.lab;
    eventually(Duration::from_secs(30), "3 healthy members", || {
        (healthy_members(lab, "n1") == 3).then_some(())
    });
    lab.exec("n1", "etcdctl put kindling/before-update kept");
    let before: Vec<String> = cluster
        .nodes
        .iter()
        .map(|node| property(lab, node, "etcd.service", "MainPID"))
        .collect();

    publish_image(lab, NEXT);
    std::thread::scope(|scope| {
        for node in &cluster.nodes {
            scope.spawn(move || {
                lab.exec(node, "systemctl start --no-block systemd-sysupdate.service")
            });
        }
    });

    let outside = Outside::new(&cluster);
    let watcher = lab.watch(
        cluster
            .nodes
            .iter()
            .map(|node| format!("{}:2379", node_ip(node)).parse().unwrap())
            .collect(),
    );
    eventually(
        Duration::from_secs(300),
        "every member runs the new image and the roll lock is free",
        || {
            let done = outside.lock_holder().is_empty()
                && cluster.nodes.iter().all(|node| updated(lab, node));
            done.then_some(())
        },
    );
    let samples = watcher.finish();
    assert!(
        samples.most_down <= 1,
        "members down at the same time during the update (ms since the start, members down): {:?}",
        samples.changes
    );
    assert!(
        samples
            .changes
            .iter()
            .filter(|(_, down)| down.len() == 1)
            .count()
            >= 3,
        "each member went down once for the update: {:?}",
        samples.changes
    );

    for (node, before) in cluster.nodes.iter().zip(before) {
        let link = lab.exec(node, "readlink --canonicalize /etc/extensions/etcd.raw");
        assert_eq!(
            link.trim(),
            format!("/opt/extensions/etcd/etcd-{NEXT}-x86-64.raw")
        );
        let status = lab.exec(node, "systemd-sysext status --json=short");
        assert!(
            status.contains(r#""extensions":["etcd"]"#),
            "{node}: {status}"
        );
        assert_ne!(
            property(lab, node, "etcd.service", "MainPID"),
            before,
            "{node}'s etcd must have restarted onto the new image"
        );
        let reboots = lab.reboots(node);
        match on_change {
            "reboot" => assert_eq!(reboots, 1, "{node} reboots once"),
            _ => assert_eq!(reboots, 0, "{node} restarts etcd without rebooting"),
        }
        let kept = lab.exec(
            node,
            "etcdctl get --print-value-only kindling/before-update",
        );
        assert_eq!(kept.trim(), "kept", "{node}: the data survives the update");
    }
}

/// The node is on the new image, its etcd is active and its update job is over.
fn updated(lab: &Lab, node: &str) -> bool {
    let script = format!(
        "readlink --canonicalize /etc/extensions/etcd.raw | grep -q 'etcd-{NEXT}-' &&
         [ \"$(systemctl show -P ActiveState etcd.service)\" = active ] &&
         [ \"$(systemctl show -P ActiveState etcd-update.service)\" = inactive ]"
    );
    lab.try_exec(node, &script)
        .is_some_and(|output| output.status.success())
}

/// The operator's view from the hub, outside every node: the host's etcdctl with the
/// cluster's etcdctl certificate.
struct Outside<'a> {
    lab: &'a Lab,
    flags: String,
}

impl<'a> Outside<'a> {
    fn new(cluster: &'a Cluster) -> Outside<'a> {
        let pki = cluster.spec_dir.join("pki");
        let endpoints: Vec<String> = cluster
            .nodes
            .iter()
            .map(|node| format!("https://{}:2379", node_ip(node)))
            .collect();
        let flags = format!(
            "--endpoints={} --cacert={} --cert={} --key={} --dial-timeout=1s --command-timeout=2s",
            endpoints.join(","),
            pki.join("ca.crt").display(),
            pki.join("etcdctl.crt").display(),
            pki.join("etcdctl.key").display(),
        );
        Outside {
            lab: &cluster.lab,
            flags,
        }
    }

    /// The member holding the roll lock, or "" when it is free (or cannot be read now).
    fn lock_holder(&self) -> String {
        let output = self.lab.on_hub(&format!(
            "ETCDCTL_API=3 etcdctl {} get --print-value-only kindling/boot/roll-lock",
            self.flags
        ));
        if !output.status.success() {
            return "?".to_string();
        }
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }
}

/// Scenario 2, for kindling's own output: every golden case, rendered at spec 3.3.0 (what
/// Debian's Ignition 2.14 applies), gives the same tree from the real Ignition and from
/// `kindling materialize`, node by node.
fn goldens_write_the_same_tree() {
    let mut compared = 0;
    // Cases share files (`tls.dir: ../three-node/pki`): the whole tree is copied.
    let scratch = tempfile::tempdir().unwrap();
    common::copy_tree(&common::repo().join("golden"), scratch.path(), &|p| {
        p.file_name().is_some_and(|n| n == "expected")
    });
    for case in std::fs::read_dir(scratch.path()).unwrap() {
        let case_dir = case.unwrap().path();
        let case = case_dir.file_name().unwrap().to_string_lossy().into_owned();
        let spec_path = case_dir.join("cluster.yaml");
        let spec_text = std::fs::read_to_string(&spec_path).unwrap();
        lab::write(&spec_path, &at_ignition_33(&spec_text));
        for snippet in std::fs::read_dir(case_dir.join("snippets"))
            .into_iter()
            .flatten()
        {
            // flatcar 1.0.0 is the Butane version that gives Ignition 3.3.0.
            let snippet = snippet.unwrap().path();
            let text = std::fs::read_to_string(&snippet).unwrap();
            lab::write(&snippet, &text.replace("version: 1.1.0", "version: 1.0.0"));
        }
        common::kindling()
            .current_dir(&case_dir)
            .args(["render", "cluster.yaml", "-o", "out"])
            .assert()
            .success();
        for config in std::fs::read_dir(case_dir.join("out")).unwrap() {
            let config = config.unwrap().path();
            let local = placeholder_remote_sources(&config);
            let outcome = differential(&local);
            assert!(
                outcome.ignition_log.is_none(),
                "golden/{case} {}: Ignition refused it: {}",
                config.display(),
                outcome.ignition_log.unwrap()
            );
            assert!(
                outcome.differences.is_empty(),
                "golden/{case} {}: the trees differ:\n{}",
                config.display(),
                outcome.differences.join("\n")
            );
            compared += 1;
        }
    }
    eprintln!("golden configs compared: {compared}");
    assert!(compared >= 20, "only {compared} golden configs compared");
}

/// `cluster.ignition: 3.3.0` added to a spec's `cluster:` mapping (block or flow style).
fn at_ignition_33(spec: &str) -> String {
    if spec.contains("\n  ignition: 3.3.0\n") {
        return spec.to_string();
    }
    let mut out = String::new();
    for line in spec.lines() {
        if let Some(rest) = line.strip_prefix("cluster: {") {
            out.push_str(&format!("cluster: {{ ignition: 3.3.0,{rest}\n"));
        } else if line == "cluster:" {
            out.push_str("cluster:\n  ignition: 3.3.0\n");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(
        out.contains("ignition: 3.3.0"),
        "no cluster mapping in {spec}"
    );
    out
}

/// A copy of the config beside it whose remote file sources are data URLs of placeholder
/// bytes (with their hash): the differential runs without a network, for both programs
/// alike. Fetching the real image over HTTP is what the boot scenarios prove.
fn placeholder_remote_sources(config: &std::path::Path) -> PathBuf {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use sha2::Digest;
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(config).unwrap()).unwrap();
    if let Some(files) = json
        .pointer_mut("/storage/files")
        .and_then(serde_json::Value::as_array_mut)
    {
        for file in files {
            let Some(contents) = file.get_mut("contents") else {
                continue;
            };
            let source = contents["source"].as_str().unwrap_or("data:").to_string();
            if source.starts_with("data:") {
                continue;
            }
            let bytes = format!("placeholder for {source}\n").repeat(64);
            contents["source"] = format!("data:;base64,{}", STANDARD.encode(&bytes)).into();
            contents["verification"] = serde_json::json!({
                "hash": format!("sha256-{}", hex::encode(sha2::Sha256::digest(bytes.as_bytes())))
            });
            if let Some(contents) = contents.as_object_mut() {
                contents.remove("compression");
            }
        }
    }
    let local = config.with_extension("local.ign");
    std::fs::write(&local, serde_json::to_vec(&json).unwrap()).unwrap();
    local
}

/// Scenario 2, for configs nobody on this project wrote: every config of the Ignition parity
/// corpus that the reference validator accepts, at a spec Ignition 2.14 applies (3.0.0 to
/// 3.3.0), that needs no network and no block devices: where Ignition writes a tree,
/// materialize writes the same one; where Ignition refuses, materialize refuses too.
fn corpus_writes_the_same_tree() {
    let corpus = common::repo().join("tests/ignition-parity");
    let labels = std::fs::read_to_string(corpus.join("LABELS.tsv")).unwrap();
    let mut compared = 0;
    let mut failures = Vec::new();
    for line in labels.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let (file, group, version, verdict) = (fields[0], fields[1], fields[2], fields[3]);
        if group == "mutations"
            || verdict == "error"
            || !matches!(version, "3.0.0" | "3.1.0" | "3.2.0" | "3.3.0")
        {
            continue;
        }
        let path = corpus.join("cases").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        if !applies_offline(&text) {
            continue;
        }
        let outcome = differential(&path);
        compared += 1;
        match (&outcome.ignition_log, outcome.materialize_failed) {
            (None, false) if outcome.differences.is_empty() => {}
            (None, false) => {
                failures.push(format!("{file}:\n  {}", outcome.differences.join("\n  ")))
            }
            (Some(_), true) => {}
            (None, true) => {
                failures.push(format!("{file}: materialize refused what Ignition applied"))
            }
            (Some(log), false) => failures.push(format!(
                "{file}: Ignition refused it and materialize wrote it: {}",
                log.lines()
                    .filter(|l| l.contains("CRITICAL") || l.contains("ERROR"))
                    .collect::<Vec<_>>()
                    .join(" / ")
            )),
        }
    }
    eprintln!("corpus configs compared: {compared}");
    assert!(compared >= 150, "only {compared} corpus configs compared");
    assert!(
        failures.is_empty(),
        "{} of {compared} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// No remote source (the differential runs without a network), no block devices and no
/// kernel arguments (nothing a directory can show), no remote config to merge.
fn applies_offline(text: &str) -> bool {
    let json: serde_json::Value = match serde_json::from_str(text) {
        Ok(json) => json,
        Err(_) => return false,
    };
    let remote = ["\"http:", "\"https:", "\"s3:", "\"tftp:", "\"gs:", "\"arn:"]
        .iter()
        .any(|scheme| text.contains(scheme));
    let devices = ["disks", "raid", "filesystems", "luks"].iter().any(|key| {
        json.pointer(&format!("/storage/{key}"))
            .and_then(serde_json::Value::as_array)
            .is_some_and(|list| !list.is_empty())
    });
    let merges = ["merge", "replace"].iter().any(|key| {
        json.pointer(&format!("/ignition/config/{key}"))
            .is_some_and(|value| !value.is_null() && value != &serde_json::json!([]))
    });
    let kernel = json.get("kernelArguments").is_some();
    // Ignition 2.14 enables an instance (`x@y.service`) through a running systemd's D-Bus,
    // which a directory has none of; current Ignition writes a preset line instead.
    let instances = json
        .pointer("/systemd/units")
        .and_then(serde_json::Value::as_array)
        .is_some_and(|units| {
            units.iter().any(|unit| {
                unit["name"]
                    .as_str()
                    .is_some_and(|n| n.contains("@") && !n.contains("@."))
                    && unit.get("enabled").is_some()
            })
        });
    !remote && !devices && !merges && !kernel && !instances
}

struct Differential {
    /// Ignition's log when it refused the config.
    ignition_log: Option<String>,
    materialize_failed: bool,
    differences: Vec<String>,
}

/// Applies `config` with the real Ignition and with `kindling materialize`, each into its
/// own copy of a small Flatcar-like root (root, core 500, etcd 232), and compares the trees.
fn differential(config: &std::path::Path) -> Differential {
    let dir = tempfile::Builder::new()
        .prefix("kindling-differential-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let (by_ignition, by_materialize) =
        (dir.path().join("ignition"), dir.path().join("materialize"));
    seed(&by_ignition);
    seed(&by_materialize);
    let bin = dir.path().join("bin");
    lab::fake_setfiles(&bin);
    let ignition_log =
        lab::try_apply_ignition(&by_ignition, config, &dir.path().join("state"), None, &bin).err();
    let materialize = common::kindling()
        .arg("materialize")
        .arg(config)
        .arg("--root")
        .arg(&by_materialize)
        .output()
        .unwrap();
    let differences = if ignition_log.is_none() && materialize.status.success() {
        tree::differences(
            &comparable(&by_ignition),
            &comparable(&by_materialize),
            &|path| path == "/etc/.ignition-result.json",
        )
    } else {
        Vec::new()
    };
    Differential {
        ignition_log,
        materialize_failed: !materialize.status.success(),
        differences,
    }
}

/// A root's tree with the two differences that are Ignition 2.14's and not materialize's
/// removed: 2.14 clears a file's setuid and setgid bits (it changed the owner after the mode;
/// coreos/ignition#2049 fixed it, and materialize keeps them), and it writes the preset file
/// in Go's random map order (compared here as sorted lines).
fn comparable(root: &std::path::Path) -> std::collections::BTreeMap<String, tree::Entry> {
    let mut entries = tree::read(root);
    for (path, entry) in entries.iter_mut() {
        if let tree::Kind::File(bytes) = &mut entry.kind {
            entry.mode &= !0o6000;
            if path == "/etc/systemd/system-preset/20-ignition.preset" {
                let mut lines: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
                lines.sort();
                *bytes = lines.concat();
            }
        }
    }
    entries
}

/// The accounts and directories of a Flatcar root that configs refer to.
fn seed(root: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    for (dir, mode) in [
        ("etc/selinux", 0o755),
        ("root", 0o700),
        ("home/core", 0o700),
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        std::fs::set_permissions(root.join(dir), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    std::os::unix::fs::chown(root.join("home/core"), Some(500), Some(500)).unwrap();
    let files = [
        (
            "etc/passwd",
            0o644,
            "root:x:0:0:root:/root:/bin/bash\ncore:x:500:500:Flatcar Admin:/home/core:/bin/bash\netcd:x:232:232:etcd user:/dev/null:/sbin/nologin\n",
        ),
        (
            "etc/group",
            0o644,
            "root:x:0:\nwheel:x:10:core\nplugdev:x:46:\ndocker:x:233:core\ncore:x:500:\netcd:x:232:\n",
        ),
        (
            "etc/shadow",
            0o640,
            "root:*:20000:0:99999:7:::\ncore:*:20000:0:99999:7:::\netcd:!*:20000::::::\n",
        ),
        (
            "etc/gshadow",
            0o640,
            "root:*::\nwheel:!::core\nplugdev:!::\ndocker:!::core\ncore:!::\netcd:!::\n",
        ),
        (
            "etc/selinux/config",
            0o644,
            "SELINUX=disabled\nSELINUXTYPE=targeted\n",
        ),
    ];
    for (path, mode, text) in files {
        std::fs::write(root.join(path), text).unwrap();
        std::fs::set_permissions(root.join(path), std::fs::Permissions::from_mode(mode)).unwrap();
    }
}
