//! Boot proof: configs kindling renders, applied by the real Ignition and booted by the real
//! systemd, several nodes each in its own network namespace (tests/boot/lab.rs). The sysext
//! image is built by `kindling sysext build` from Debian trixie's etcd and served over HTTP by
//! a namespace in the Matchbox role; Ignition's fetch stage downloads it and checks its hash.
//!
//! What this proves and what it does not (the kernel is the host's, Ignition is Debian's
//! 2.14, run against a directory, and the root is Debian posing as Flatcar): README, "Boot
//! proof". Needs root and Debian's ignition, debootstrap, systemd-container, iproute2,
//! squashfs-tools, etcd-client, prometheus, dnsmasq and moto (.ci/run installs them). Without them each test shows as
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
/// The "newer" image an update publishes: the same binaries with the version they report
/// changed to the next one (`sysext build` refuses a name the binary contradicts), named by
/// it, which is what sysupdate's pattern `etcd-v3.5.@v-x86-64.raw` orders by.
const NEXT: &str = "v3.5.17";

fn main() {
    let mut arguments = libtest_mimic::Arguments::from_args();
    // Each test boots a cluster: one at a time on two cores.
    arguments.test_threads = Some(1);
    let missing = lab::missing_prerequisites();
    let needs = "root and Debian's ignition, debootstrap, systemd-container, iproute2, squashfs-tools, etcd-client and prometheus; run `bash .ci/run`";
    let tests: [(&'static str, fn()); 12] = [
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
            "etcd_started_from_its_yaml_config_file_forms_the_cluster",
            config_file_shape_boots,
        ),
        (
            "five_fqdn_members_on_other_ports_with_a_hosts_file_form_the_cluster",
            fqdn_shape_boots,
        ),
        (
            "static_addressing_by_the_nodes_networkd_and_snippets_form_the_cluster",
            static_snippets_shape_boots,
        ),
        (
            "backup_join_replace_and_renewed_certificates_on_booted_nodes",
            operations_on_booted_nodes,
        ),
        (
            "prometheus_scrapes_the_members_through_their_firewall_and_sees_one_go_down",
            monitoring_and_firewall,
        ),
        (
            "a_destroyed_cluster_is_restored_from_its_backup_on_new_machines",
            restore_on_booted_nodes,
        ),
        (
            "one_config_members_named_by_dhcp_found_by_srv_grow_and_rejoin",
            one_config_for_every_member,
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
        common::copy_tree(
            &common::repo().join("tests/boot/snippets"),
            &spec_dir.join("snippets"),
            &|_| false,
        );
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
                // A node with a MAC in the spec is addressed by its own networkd, from the
                // rendered static .network file; the lab configures the others' links.
                match rest
                    .split("mac: \"")
                    .nth(1)
                    .and_then(|m| m.split('"').next())
                {
                    Some(mac) => lab.add_node(&name, None, Some(mac)),
                    None => lab.add_node(&name, Some(&node_ip(&name)), None),
                }
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

/// `kindling sysext build` of the base root's etcd binaries, reporting `version`, into what
/// the hub serves (the image and its line in SHA256SUMS).
fn publish_image(lab: &Lab, version: &str) {
    let binaries = tempfile::tempdir().unwrap();
    for program in ["etcd", "etcdctl", "etcdutl"] {
        let bytes = std::fs::read(lab::base_root().etcd.join(program)).unwrap();
        std::fs::write(
            binaries.path().join(program),
            reporting_version(&bytes, version),
        )
        .unwrap();
    }
    common::kindling()
        .args(["sysext", "build", "--etcd"])
        .arg(binaries.path())
        .args(["--version", version, "-o"])
        .arg(lab.serve_dir())
        .assert()
        .success();
}

/// A Go binary of etcd `ETCD` made to report `version` instead: its one copy of the version
/// string (`3.5.16`) overwritten in place by another of the same length.
fn reporting_version(binary: &[u8], version: &str) -> Vec<u8> {
    let (from, to) = (&ETCD.as_bytes()[1..], &version.as_bytes()[1..]);
    assert_eq!(from.len(), to.len(), "versions of one length only");
    let mut patched = binary.to_vec();
    let at: Vec<usize> = patched
        .windows(from.len())
        .enumerate()
        .filter(|(_, window)| *window == from)
        .map(|(at, _)| at)
        .collect();
    assert_eq!(at.len(), 1, "the binary holds its version string once");
    patched[at[0]..at[0] + to.len()].copy_from_slice(to);
    patched
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
    assert_eq!(
        property(lab, "n1", "etcd.service", "NRestarts"),
        "0",
        "n1's etcd was killed while it waited for its peers"
    );
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

/// With the restart, the members are behind the firewall (the hub, which watches the client
/// ports, may reach them): the roll under the lock goes through it.
fn update_with_restart() {
    update_rolls("restart", FIREWALL_FOR_THE_HUB);
}

fn update_with_reboot() {
    update_rolls("reboot", "");
}

/// A firewall that lets the hub (the operator's seat) use the client port, and no one else.
const FIREWALL_FOR_THE_HUB: &str = "firewall: { client_cidrs: [10.77.0.1] }\n";

/// Scenario 3, updates through the real systemd-sysupdate: a newer image and SHA256SUMS are
/// published, and `systemd-sysupdate.service` starts on every node at the same moment.
/// kindling's drop-in starts `etcd-update.service`, whose roll script takes the cluster's
/// lock: the members move to the new image one at a time (watched from outside throughout,
/// every 100 ms: never two client ports closed at once), every node ends on the new image, and the data survives.
/// With `reboot`, each node rebooted exactly once; with `restart`, none did.
fn update_rolls(on_change: &str, extra: &str) {
    let mut cluster = Cluster::ignited(&spec(
        &["n1", "n2", "n3"],
        &format!("on_change: {on_change}"),
        extra,
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
        // When etcd started (wall clock): a PID can repeat after a container reboot.
        .map(|node| property(lab, node, "etcd.service", "ExecMainStartTimestamp"))
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
        let running = lab.exec(node, "etcd --version | head -n 1");
        assert_eq!(running.trim(), format!("etcd Version: {}", &NEXT[1..]));
        let status = lab.exec(node, "systemd-sysext status --json=short");
        assert!(
            status.contains(r#""extensions":["etcd"]"#),
            "{node}: {status}"
        );
        assert_ne!(
            property(lab, node, "etcd.service", "ExecMainStartTimestamp"),
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
            if config.is_dir() {
                continue; // monitoring/: Prometheus's files, no config
            }
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

/// The base spec line this module's shapes replace.
const NETWORK: &str = "network: { subnet: 10.77.0.0/24 }\n";
const CLUSTER: &str = "cluster: { name: boot, ignition: 3.3.0 }\n";

/// Boots the cluster of `spec_text` and checks what every shape must give: every node
/// running with no failed unit, every member healthy from each node, a key written on n1
/// read on n3. Returns the booted cluster for the shape's own checks.
fn boots_healthy(spec_text: &str) -> Cluster {
    let mut cluster = Cluster::ignited(spec_text);
    cluster.boot_all();
    let lab = &cluster.lab;
    let count = cluster.nodes.len();
    for node in &cluster.nodes {
        eventually(
            Duration::from_secs(60),
            &format!("{node} sees {count} healthy members"),
            || (healthy_members(lab, node) == count).then_some(()),
        );
    }
    lab.exec("n1", "etcdctl put kindling/shape booted");
    let read = lab.exec("n3", "etcdctl get --print-value-only kindling/shape");
    assert_eq!(read.trim(), "booted");
    cluster
}

/// Scenario 8, monitoring and the firewall. Three members behind `firewall:` (the hub may
/// use the client port), watched by Debian's Prometheus on the hub with the scrape
/// configuration and rules `render` wrote (the client port over TLS with a `tls.clients`
/// certificate). From a machine outside the cluster the client and peer ports are dropped
/// and SSH is not; from the hub the client port answers and the peer port does not; the
/// members stay healthy. Prometheus sees every member `up` with a leader, every metric the
/// rules use, every rule evaluating without error and nothing firing; when n3 stops, the
/// members-down alert goes pending.
fn monitoring_and_firewall() {
    let prometheus = tempfile::Builder::new()
        .prefix("kindling-prometheus-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let tls_dir = prometheus.path().join("tls");
    let extra = format!(
        "tls: {{ clients: [ {{ name: prometheus }} ] }}
monitoring: {{ client: prometheus, tls_dir: {}, scrape_from: [10.77.0.1], scrape_interval: 2s }}
{FIREWALL_FOR_THE_HUB}",
        tls_dir.display()
    );
    let mut cluster = boots_healthy(&spec(&["n1", "n2", "n3"], "", &extra));

    for node in &cluster.nodes {
        for unit in ["iptables-restore.service", "ip6tables-restore.service"] {
            assert_eq!(
                property(&cluster.lab, node, unit, "Result"),
                "success",
                "{node}: {unit}"
            );
            assert_eq!(
                property(&cluster.lab, node, unit, "ExecMainStatus"),
                "0",
                "{node}: {unit}"
            );
        }
        let members = cluster.lab.exec(node, "iptables -S KINDLING-MEMBERS");
        for member in ["n1", "n2", "n3"] {
            assert!(
                members.contains(&format!("-s {}/32", node_ip(member))),
                "{node}: {members}"
            );
        }
    }
    cluster.lab.add_bystander("outsider", "10.77.0.250");
    let n1 = node_ip("n1");
    let outside = |port: u16| connect(&cluster.lab.on_bystander("outsider", &probe(&n1, port)));
    assert_eq!(
        outside(2379),
        Reach::Dropped,
        "the client port from outside"
    );
    assert_eq!(outside(2380), Reach::Dropped, "the peer port from outside");
    assert_eq!(
        outside(22),
        Reach::Refused,
        "SSH is let through (nothing listens in the lab)"
    );
    let from_hub = |port: u16| connect(&cluster.lab.on_hub(&probe(&n1, port)));
    assert_eq!(
        from_hub(2379),
        Reach::Open,
        "the client port from the hub (client_cidrs)"
    );
    assert_eq!(from_hub(2380), Reach::Dropped, "the peer port from the hub");

    let out = cluster.spec_dir.join("out/monitoring");
    std::fs::create_dir(&tls_dir).unwrap();
    for (from, to) in [
        ("pki/ca.crt", "ca.crt"),
        ("pki/clients/prometheus.crt", "prometheus.crt"),
        ("pki/clients/prometheus.key", "prometheus.key"),
    ] {
        std::fs::copy(cluster.spec_dir.join(from), tls_dir.join(to)).unwrap();
    }
    for file in ["prometheus.yml", "etcd-boot.rules.yml"] {
        std::fs::copy(out.join(file), prometheus.path().join(file)).unwrap();
    }
    let config = prometheus.path().join("prometheus.yml");
    let data = prometheus.path().join("data");
    cluster.lab.spawn_on_hub(
        "prometheus",
        &[
            &format!("--config.file={}", config.display()),
            &format!("--storage.tsdb.path={}", data.display()),
            &format!("--web.listen-address={}:9090", lab::HUB_IP),
        ],
        "prometheus.log",
    );
    let lab = &cluster.lab;
    eventually(
        Duration::from_secs(90),
        "Prometheus sees 3 members up with a leader",
        || {
            let up = values(lab, r#"up{job="etcd-boot"}"#);
            let leader = values(lab, r#"etcd_server_has_leader{job="etcd-boot"}"#);
            (up == ["1", "1", "1"] && leader == ["1", "1", "1"]).then_some(())
        },
    );
    let rules = std::fs::read_to_string(out.join("etcd-boot.rules.yml")).unwrap();
    for metric in metrics_used(&rules) {
        eventually(
            Duration::from_secs(60),
            &format!("the members export {metric}"),
            || (!values(lab, &format!(r#"{metric}{{job="etcd-boot"}}"#)).is_empty()).then_some(()),
        );
    }
    let groups = prometheus_api(lab, "rules");
    let evaluated = groups["data"]["groups"][0]["rules"].as_array().unwrap();
    assert_eq!(evaluated.len(), rules.matches("- alert:").count());
    eventually(
        Duration::from_secs(30),
        "every rule evaluates without error",
        || {
            let groups = prometheus_api(lab, "rules");
            let rules = groups["data"]["groups"][0]["rules"].as_array()?.clone();
            rules.iter().all(|r| r["health"] == "ok").then_some(())
        },
    );
    // A rule evaluated before the first scrapes can be pending for a moment; on a healthy
    // cluster every alert clears and none comes back.
    let mut seen = Vec::new();
    let quiet = (0..60).any(|_| {
        std::thread::sleep(Duration::from_millis(500));
        seen = alerts(lab);
        seen.is_empty()
    });
    assert!(quiet, "alerts on a healthy cluster: {seen:?}");
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        alerts(lab),
        Vec::<String>::new(),
        "an alert on a healthy cluster"
    );

    cluster.lab.stop("n3");
    let lab = &cluster.lab;
    eventually(
        Duration::from_secs(60),
        "the members-down alert is pending",
        || {
            let pending = values(
                lab,
                r#"ALERTS{alertname="EtcdMembersDown", alertstate="pending"}"#,
            );
            (pending == ["1"]).then_some(())
        },
    );
    assert_eq!(values(lab, r#"up{job="etcd-boot", member="n3"}"#), ["0"]);
    for node in ["n1", "n2"] {
        assert_eq!(
            healthy_members(lab, node),
            2,
            "{node} still reaches the other member"
        );
    }
}

/// Scenario 9, backups off the node and disaster recovery on booted nodes: the backup
/// service, started by systemd on all three members at once, snapshots each member and one
/// of them uploads its snapshot to an S3 server on the hub (moto, which checks every
/// signature), with the key the operator put on each node. Then every machine is destroyed
/// with its lab. In a new lab (new machines, empty disks) the uploaded object, fetched back
/// from the bucket, is published beside the image, `kindling restore` renders the configs
/// from the same spec and PKI, Ignition fetches the snapshot and checks its hash, every
/// member restores it before its etcd first starts, and the cluster forms under the new
/// token, serving the key written before the snapshot and not the one written after.
fn restore_on_booted_nodes() {
    let endpoint = format!("http://{}:{S3_PORT}", lab::HUB_IP);
    let text = format!(
        "{}backup: {{ schedule: hourly, s3: {{ endpoint: \"{endpoint}\", bucket: {S3_BUCKET}, prefix: boot/ }} }}\n",
        spec(&["n1", "n2", "n3"], "", "")
    );
    let saved = tempfile::tempdir().unwrap();
    {
        let mut lost = boots_healthy(&text);
        let key = start_s3(&mut lost.lab, &endpoint);
        for node in &lost.nodes {
            lost.lab.exec(
                node,
                &format!(
                    "umask 077 && mkdir -p /etc/kindling && printf 'AWS_ACCESS_KEY_ID=%s\\nAWS_SECRET_ACCESS_KEY=%s\\n' {key} > /etc/kindling/backup-s3.env"
                ),
            );
        }
        lost.lab
            .exec("n1", "etcdctl put kindling/disaster survived");
        // Every member's timer fires for the same hour: all three at once, one uploads.
        wait_clear_of_the_hour();
        for node in &lost.nodes {
            lost.lab
                .exec(node, "systemctl start --no-block etcd-backup.service");
        }
        let mut uploads = 0;
        for node in &lost.nodes {
            eventually(
                Duration::from_secs(60),
                &format!("{node}'s backup service ends"),
                || {
                    (property(&lost.lab, node, "etcd-backup.service", "ActiveState") == "inactive")
                        .then_some(())
                },
            );
            assert_eq!(
                property(&lost.lab, node, "etcd-backup.service", "Result"),
                "success"
            );
            let journal = lost
                .lab
                .exec(node, "journalctl -u etcd-backup.service --no-pager");
            uploads += journal.matches("kindling-etcd-backup: uploaded").count();
        }
        assert_eq!(uploads, 1, "one member uploads per slot");
        lost.lab
            .exec("n1", "etcdctl put kindling/after-the-backup lost");
        // The operator fetches the uploaded object from the bucket.
        let fetched = saved.path().join("snap.db");
        let fetch = lost.lab.on_hub(&format!(
            "set -e; name=$(curl -sSf --aws-sigv4 aws:amz:us-east-1:s3 --user {user} -H 'x-amz-content-sha256: {EMPTY}' '{endpoint}/{S3_BUCKET}?list-type=2' | grep -o 'boot/etcd-boot-[^<]*'); curl -sSf --aws-sigv4 aws:amz:us-east-1:s3 --user {user} -H 'x-amz-content-sha256: {EMPTY}' -o {out} \"{endpoint}/{S3_BUCKET}/$name\"",
            user = key.replace(' ', ":"),
            EMPTY = EMPTY_SHA256,
            out = fetched.display(),
        ));
        assert!(fetch.status.success(), "{}", common::text(&fetch));
        common::copy_tree(
            &lost.spec_dir.join("pki"),
            &saved.path().join("pki"),
            &|_| false,
        );
    }

    let mut lab = Lab::new();
    publish_image(&lab, ETCD);
    let spec_dir = lab.dir.path().join("spec");
    std::fs::create_dir(&spec_dir).unwrap();
    lab::write(&spec_dir.join("cluster.yaml"), &text);
    common::copy_tree(&saved.path().join("pki"), &spec_dir.join("pki"), &|_| false);
    std::fs::create_dir(lab.serve_dir().join("restore")).unwrap();
    std::fs::copy(
        saved.path().join("snap.db"),
        lab.serve_dir().join("restore/snap.db"),
    )
    .unwrap();
    let url = format!("http://{}:{}/restore/snap.db", lab::HUB_IP, lab::HTTP_PORT);
    let snapshot = saved.path().join("snap.db");
    let restored = common::kindling()
        .current_dir(&spec_dir)
        .args(["restore", "cluster.yaml", "--snapshot"])
        .arg(&snapshot)
        .args(["--snapshot-url", &url, "-o", "out"])
        .output()
        .unwrap();
    assert!(restored.status.success(), "{}", common::text(&restored));
    let nodes: Vec<String> = ["n1", "n2", "n3"].map(String::from).to_vec();
    for node in &nodes {
        lab.add_node(node, Some(&node_ip(node)), None);
        lab.ignite(node, &spec_dir.join(format!("out/{node}.ign")));
    }
    let mut cluster = Cluster {
        lab,
        spec_dir,
        nodes,
    };
    cluster.boot_all();
    let lab = &cluster.lab;
    for node in &cluster.nodes {
        eventually(
            Duration::from_secs(60),
            &format!("{node} sees 3 healthy members"),
            || (healthy_members(lab, node) == 3).then_some(()),
        );
        assert_eq!(
            property(lab, node, "etcd-restore.service", "Result"),
            "success"
        );
        let token = lab.exec(node, "grep ETCD_INITIAL_CLUSTER_TOKEN= /etc/etcd/etcd.env");
        assert!(token.contains("boot-restored-"), "{node}: {token}");
    }
    let read = lab.exec("n3", "etcdctl get --print-value-only kindling/disaster");
    assert_eq!(read.trim(), "survived");
    let after = lab.exec(
        "n2",
        "etcdctl get --print-value-only kindling/after-the-backup",
    );
    assert_eq!(after.trim(), "", "written after the snapshot: not restored");
}

/// The discovery cluster's domain in the lab, served by dnsmasq on the hub.
const LAB_DOMAIN: &str = "etcd.lab";

/// Machine `boxN` has MAC 52:54:00:00:01:0N; the lab's DHCP server names it `nN` and gives it
/// 10.77.0.2N.
fn box_mac(n: u8) -> String {
    format!("52:54:00:00:01:{n:02x}")
}

/// Starts dnsmasq on the hub: DHCP for the boxes (address and hostname by MAC, the hub as
/// DNS server), and DNS for `LAB_DOMAIN` from the zone `kindling dns` printed: its SRV and
/// A records, and the DHCP clients' names with their reverse records.
fn start_site_network(lab: &mut Lab, zone: &str) {
    let mut args: Vec<String> = [
        "--keep-in-foreground",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        "--interface=br0",
        "--except-interface=lo",
        "--log-queries",
        "--log-dhcp",
        "--log-facility=-",
    ]
    .map(String::from)
    .to_vec();
    args.push(format!("--listen-address={}", lab::HUB_IP));
    args.push(format!("--domain={LAB_DOMAIN}"));
    args.push(format!("--local=/{LAB_DOMAIN}/"));
    args.push("--dhcp-range=10.77.0.100,10.77.0.150,255.255.255.0,1h".to_string());
    args.push(format!(
        "--dhcp-leasefile={}",
        lab.dir.path().join("dnsmasq.leases").display()
    ));
    for n in 1..=5 {
        args.push(format!("--dhcp-host={},10.77.0.2{n},n{n}", box_mac(n)));
    }
    let origin = format!("{LAB_DOMAIN}.");
    for line in zone
        .lines()
        .filter(|l| !l.starts_with(';') && !l.starts_with('$'))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [service, "IN", "SRV", _, _, port, target] => args.push(format!(
                "--srv-host={service}.{LAB_DOMAIN},{},{port}",
                target.trim_end_matches('.')
            )),
            [name, "IN", "A", ip] => args.push(format!("--host-record={name}.{LAB_DOMAIN},{ip}")),
            _ => panic!("a zone line dnsmasq is not given: {line:?} (origin {origin})"),
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    lab.spawn_on_hub("dnsmasq", &args, "dnsmasq.log");
}

/// The members etcd lists, asked on `node`: (name, started, learner) for each.
fn member_list(lab: &Lab, node: &str) -> Vec<(String, bool, bool)> {
    lab.try_exec(node, "etcdctl member list -w simple 2>/dev/null")
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(", ").collect();
            (fields.len() == 6).then(|| {
                (
                    fields[2].to_string(),
                    fields[1] == "started",
                    fields[5] == "true",
                )
            })
        })
        .collect()
}

/// The voting, started members `node` sees, by name, sorted.
fn voters(lab: &Lab, node: &str) -> Vec<String> {
    let mut names: Vec<String> = member_list(lab, node)
        .into_iter()
        .filter(|(_, started, learner)| *started && !learner)
        .map(|(name, _, _)| name)
        .collect();
    names.sort();
    names
}

/// Scenario 10, one config for every member (`discovery:`). dnsmasq on the hub plays the
/// site network: DHCP hands out addresses and hostnames by MAC, DNS serves the SRV and A
/// records `kindling dns` printed. Three machines boot the same rendered config, take their
/// names and addresses from DHCP (their own networkd), find each other by SRV and form the
/// TLS cluster. A fourth and a fifth boot the same config at the same moment and both end up
/// voting members, one after the other under the roll lock, the founders healthy all along.
/// A member whose data dir is wiped reboots and rejoins as itself, the data intact.
fn one_config_for_every_member() {
    let mut lab = Lab::new();
    publish_image(&lab, ETCD);
    let spec_dir = lab.dir.path().join("spec");
    std::fs::create_dir(&spec_dir).unwrap();
    let text = format!(
        "version: 1
cluster: {{ name: fleet, domain: {LAB_DOMAIN}, ignition: 3.3.0 }}
etcd:
  version: {ETCD}
  gomaxprocs: 1
sysext:
  base_url: http://{hub}:{port}
  sha256sums: ../serve/SHA256SUMS
discovery:
  bootstrap:
    - {{ name: n1, ip: 10.77.0.21 }}
    - {{ name: n2, ip: 10.77.0.22 }}
    - {{ name: n3, ip: 10.77.0.23 }}
",
        hub = lab::HUB_IP,
        port = lab::HTTP_PORT,
    );
    lab::write(&spec_dir.join("cluster.yaml"), &text);
    let kindling = |args: &[&str]| kindling_in(&spec_dir, args);
    kindling(&["pki", "init", "cluster.yaml"]);
    kindling(&["render", "cluster.yaml", "-o", "out"]);
    let zone = kindling(&["dns", "cluster.yaml"]);
    start_site_network(&mut lab, &zone);
    let config = spec_dir.join("out/members.ign");
    let add = |lab: &mut Lab, n: u8| {
        let name = format!("box{n}");
        lab.add_node(&name, None, Some(&box_mac(n)));
        lab.ignite(&name, &config);
        lab.use_dhcp(&name);
        name
    };
    let founders: Vec<String> = (1..=3).map(|n| add(&mut lab, n)).collect();
    for name in &founders {
        lab.boot(name);
    }
    for name in &founders {
        lab.wait_running(name, Duration::from_secs(120));
    }
    for (n, name) in founders.iter().enumerate() {
        let hostname = lab.exec(name, "hostname");
        assert_eq!(
            hostname.trim(),
            format!("n{}", n + 1),
            "{name}'s hostname is DHCP's"
        );
        eventually(
            Duration::from_secs(60),
            &format!("{name} sees 3 healthy members"),
            || (healthy_members(&lab, name) == 3).then_some(()),
        );
    }
    assert_eq!(voters(&lab, "box1"), ["n1", "n2", "n3"]);
    let env = lab.exec("box2", "cat /run/etcd/member.env");
    assert!(env.contains("ETCD_NAME=n2\n"), "{env}");
    assert!(
        env.contains("ETCD_LISTEN_PEER_URLS=https://10.77.0.22:2380"),
        "{env}"
    );
    assert!(
        env.contains(&format!("ETCD_DISCOVERY_SRV={LAB_DOMAIN}")),
        "{env}"
    );
    lab.exec("box1", "etcdctl put kindling/fleet formed");

    // Two more machines boot the same config at the same moment.
    let joiners: Vec<String> = (4..=5).map(|n| add(&mut lab, n)).collect();
    for name in &joiners {
        lab.boot(name);
    }
    let started = Instant::now();
    let mut fewest_healthy = 3;
    let voting = loop {
        fewest_healthy = fewest_healthy.min(healthy_founders(&lab));
        let voting = voters(&lab, "box1");
        if voting.len() == 5 {
            break voting;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "the joiners did not both become voting members: {:?}",
            member_list(&lab, "box1")
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(voting, ["n1", "n2", "n3", "n4", "n5"]);
    assert_eq!(
        fewest_healthy, 3,
        "the founders stay healthy while machines join"
    );
    // One after the other: each took the roll lock and joined as a learner; the second took
    // the lock only once the first was promoted and healthy (etcd-roll-resume released it).
    let when = |name: &str, unit: &str, what: &str| -> f64 {
        let log = lab.exec(
            name,
            &format!("journalctl -b -o short-unix -u {unit} --no-pager"),
        );
        let line = log
            .lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("{name}: no {what:?} in {unit}:\n{log}"));
        line.split_whitespace().next().unwrap().parse().unwrap()
    };
    let mut order: Vec<(f64, String)> = joiners
        .iter()
        .map(|name| {
            assert_eq!(
                property(&lab, name, "etcd-member-promote.service", "Result"),
                "success"
            );
            let locked = when(name, "etcd-member.service", "took the roll lock");
            let added = when(name, "etcd-member.service", "added as a learner");
            assert!(
                locked < added,
                "{name} added itself before it held the lock"
            );
            (locked, name.clone())
        })
        .collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (first, second) = (&order[0].1, &order[1]);
    let released = when(first, "etcd-roll-resume.service", "released the roll lock");
    assert!(
        released <= second.0,
        "{} took the lock ({}) before {first} released it ({released})",
        second.1,
        second.0
    );
    for name in &joiners {
        lab.wait_running(name, Duration::from_secs(60));
    }

    // A member loses its data dir and reboots: it rejoins as itself, and the data survives.
    let before = lab.exec("box1", "etcdctl member list -w simple | grep ', n2, '");
    lab.stop("box2");
    std::fs::remove_dir_all(lab.node("box2").root.join("var/lib/etcd/member")).unwrap();
    lab.boot("box2");
    eventually(Duration::from_secs(180), "n2 votes again", || {
        (voters(&lab, "box1").len() == 5
            && lab
                .try_exec("box1", "etcdctl member list -w simple | grep ', n2, '")
                .is_some_and(|o| String::from_utf8_lossy(&o.stdout) != before))
        .then_some(())
    });
    let log = lab.exec("box2", "journalctl -b -u etcd-member.service --no-pager");
    assert!(log.contains("removing member"), "{log}");
    lab.wait_running("box2", Duration::from_secs(60));
    let read = lab.exec("box2", "etcdctl get --print-value-only kindling/fleet");
    assert_eq!(read.trim(), "formed");
}

/// How many founders (box1–box3) answer `etcdctl endpoint health` for themselves.
fn healthy_founders(lab: &Lab) -> usize {
    (1..=3)
        .filter(|n| {
            lab.try_exec(
                &format!("box{n}"),
                "etcdctl endpoint health >/dev/null 2>&1",
            )
            .is_some_and(|o| o.status.success())
        })
        .count()
}

const S3_PORT: u16 = 9000;
const S3_BUCKET: &str = "etcd-backups";
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Starts moto on the hub with a user allowed s3:* and the bucket; returns "KEY_ID SECRET".
fn start_s3(lab: &mut Lab, endpoint: &str) -> String {
    let venv = common::test_venv();
    let moto = venv.join("bin/moto_server");
    lab.spawn_on_hub(
        "env",
        &[
            "INITIAL_NO_AUTH_ACTION_COUNT=3",
            &moto.display().to_string(),
            "-H",
            lab::HUB_IP,
            "-p",
            &S3_PORT.to_string(),
        ],
        "moto.log",
    );
    let setup = format!(
        "for _ in $(seq 100); do {python} -c 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 1)' {hub} {S3_PORT} 2>/dev/null && break; sleep 0.2; done; {python} {admin} setup {endpoint} {S3_BUCKET}",
        python = venv.join("bin/python").display(),
        hub = lab::HUB_IP,
        admin = common::repo().join("tests/s3/moto_admin.py").display(),
    );
    let made = lab.on_hub(&setup);
    assert!(made.status.success(), "{}", common::text(&made));
    let key = String::from_utf8_lossy(&made.stdout).trim().to_string();
    assert_eq!(key.split(' ').count(), 2, "{key}");
    key
}

/// Sleeps past the top of the hour when it is less than a minute away, so that runs started
/// now belong to the same `hourly` slot.
fn wait_clear_of_the_hour() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let left = 3600 - now % 3600;
    if left < 60 {
        std::thread::sleep(Duration::from_secs(left + 2));
    }
}

/// How a TCP connection attempt ended.
#[derive(Debug, PartialEq, Eq)]
enum Reach {
    Open,
    /// Refused at once: the firewall let it through to a port nothing listens on.
    Refused,
    /// No answer within 3 s: the firewall dropped it.
    Dropped,
}

/// A bash script that connects to `ip:port` and exits 0 (open), 1 (refused) or 124 (no
/// answer within 3 s).
fn probe(ip: &str, port: u16) -> String {
    format!("timeout 3 bash -c 'exec 3<>/dev/tcp/{ip}/{port}'")
}

fn connect(output: &std::process::Output) -> Reach {
    match output.status.code() {
        Some(0) => Reach::Open,
        Some(124) => Reach::Dropped,
        _ => Reach::Refused,
    }
}

/// GET of Prometheus's HTTP API on the hub (`path` after `/api/v1/`), as JSON.
fn prometheus_api(lab: &Lab, path: &str) -> serde_json::Value {
    let script = format!(
        "python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' 'http://{}:9090/api/v1/{path}'",
        lab::HUB_IP
    );
    let output = lab.on_hub(&script);
    serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null)
}

/// The values of an instant query's series, in the order Prometheus gives them.
fn values(lab: &Lab, query: &str) -> Vec<String> {
    let encoded: String = query
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let answer = prometheus_api(lab, &format!("query?query={encoded}"));
    answer["data"]["result"]
        .as_array()
        .map(|series| {
            series
                .iter()
                .map(|s| s["value"][1].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The alerts Prometheus holds, pending or firing, as `name state (labels)`.
fn alerts(lab: &Lab) -> Vec<String> {
    let answer = prometheus_api(lab, "alerts");
    answer["data"]["alerts"]
        .as_array()
        .map(|alerts| {
            alerts
                .iter()
                .map(|a| {
                    format!(
                        "{} {} {}",
                        a["labels"]["alertname"], a["state"], a["labels"]
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The etcd and gRPC metrics a rules file reads.
fn metrics_used(rules: &str) -> std::collections::BTreeSet<String> {
    rules
        .lines()
        .filter_map(|line| line.trim().strip_prefix("expr: "))
        .flat_map(|expr| {
            expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|word| word.starts_with("etcd_") || word.starts_with("grpc_server_"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Scenario 5, `etcd.config: file`: etcd reads only /etc/etcd/etcd.conf.yml.
fn config_file_shape_boots() {
    let text = spec(&["n1", "n2", "n3"], "", "")
        .replace("  gomaxprocs: 1\n", "  gomaxprocs: 1\n  config: file\n");
    let cluster = boots_healthy(&text);
    for node in &cluster.nodes {
        let command = cluster.lab.exec(
            node,
            "tr '\\0' ' ' < /proc/$(systemctl show -P MainPID etcd.service)/cmdline",
        );
        assert_eq!(
            command.trim(),
            "/usr/bin/etcd --config-file=/etc/etcd/etcd.conf.yml"
        );
        cluster.lab.exec(node, "test ! -e /etc/etcd/etcd.env");
    }
}

/// Scenario 5, the five-node-fqdn shape: five members advertising `<node>.lab.example`,
/// which only the rendered /etc/hosts resolves, on non-default ports with its tuning, its
/// own token and read-only keys (golden/five-node-fqdn, without arm64 and etcd 3.6, which
/// this machine cannot run).
fn fqdn_shape_boots() {
    let text = spec(&["n1", "n2", "n3", "n4", "n5"], "on_change: restart", "")
        .replace(
            CLUSTER,
            "cluster: { name: boot, ignition: 3.3.0, domain: lab.example, token: boot-2026 }\n",
        )
        .replace(
            "  gomaxprocs: 1\n",
            "  gomaxprocs: 1
  ports: { client: 12379, peer: 12380, metrics: 12381 }
  metrics_listen: node
  heartbeat_ms: 250
  election_timeout_ms: 2500
  snapshot_count: 50000
  quota_backend_bytes: 4294967296
  log_level: warn
tls: { key_mode: \"0400\" }
",
        )
        .replace(
            NETWORK,
            "network: { subnet: 10.77.0.0/24, hosts_file: true }\n",
        );
    let cluster = boots_healthy(&text);
    let members = cluster.lab.exec("n2", "etcdctl member list");
    for node in &cluster.nodes {
        assert!(
            members.contains(&format!("https://{node}.lab.example:12380")),
            "{node} advertises its name and peer port: {members}"
        );
        let metrics = cluster.lab.exec(
            node,
            &format!("exec 3<>/dev/tcp/{}/12381 && printf 'GET /health HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3", node_ip(node)),
        );
        assert!(metrics.contains("\"health\":\"true\""), "{node}: {metrics}");
    }
    let resolved = cluster.lab.exec("n1", "getent hosts n3.lab.example");
    assert!(resolved.starts_with("10.77.0.13 "), "{resolved}");
}

/// Scenario 5, static addressing and snippets: the lab leaves each node's link without an
/// address; the node's own systemd-networkd applies the rendered static .network file
/// (matched by MAC). A cluster snippet adds a file and an etcd drop-in, a node snippet
/// replaces n1's /etc/hostname.
fn static_snippets_shape_boots() {
    let mut text = spec(&["n1", "n2", "n3"], "", "").replace(
        NETWORK,
        "network:
  subnet: 10.77.0.0/24
  addressing: static
  gateway: 10.77.0.1
  dns: [10.77.0.1]
  hosts_file: true
snippets:
  - snippets/site.bu
",
    );
    for index in 1..=3 {
        let plain = format!("  - {{ name: n{index}, ip: 10.77.0.1{index} }}\n");
        let with_mac = format!(
            "  - {{ name: n{index}, ip: 10.77.0.1{index}, mac: \"52:54:00:77:00:1{index}\"{} }}\n",
            if index == 1 {
                ", snippets: [{ path: snippets/asset-hostname.bu, replaces: [/etc/hostname] }]"
            } else {
                ""
            }
        );
        text = text.replace(&plain, &with_mac);
    }
    let cluster = boots_healthy(&text);
    let lab = &cluster.lab;
    for node in &cluster.nodes {
        let address = lab.exec(node, "ip -4 -o addr show dev eth0");
        assert!(
            address.contains(&format!("inet {}/24", node_ip(node))),
            "{node}: {address}"
        );
        let route = lab.exec(node, "ip -4 route show default");
        assert!(route.contains("via 10.77.0.1"), "{node}: {route}");
        let state = lab.exec(node, "networkctl status eth0 --no-pager | grep State:");
        assert!(
            state.contains("configured"),
            "{node}: networkd configured eth0: {state}"
        );
        lab.exec(node, "grep -q 'site snippet applied' /etc/kindling-site");
        assert_eq!(
            property(lab, node, "etcd.service", "IOSchedulingClass"),
            "2"
        );
    }
    assert_eq!(lab.exec("n1", "cat /etc/hostname"), "asset-0001");
    assert_eq!(lab.exec("n2", "cat /etc/hostname").trim(), "n2");
}

/// Scenario 4, operations on booted nodes, as docs/operations.md tells an operator: the
/// backup service's snapshot restores into a member that serves the data; n4 joins after
/// the printed `member add`; n2 is replaced by n5 (removed, then n5 joins); renewed
/// certificates for n1 are copied onto it and its member restarts under the roll lock onto
/// them. The members are behind the firewall throughout: each joining member is let in on
/// the running ones by the command `kindling join` prints.
fn operations_on_booted_nodes() {
    let with_backup = format!(
        "{}backup: {{ schedule: hourly }}\n",
        spec(&["n1", "n2", "n3"], "", FIREWALL_FOR_THE_HUB)
    );
    let mut cluster = boots_healthy(&with_backup);

    // The backup timer's service: a snapshot that restores.
    cluster.lab.exec(
        "n1",
        "etcdctl put kindling/backed-up yes && systemctl start etcd-backup.service",
    );
    cluster.lab.exec(
        "n1",
        "etcdutl snapshot restore /var/lib/etcd-backup/etcd-n1-*.db --data-dir /tmp/restored \
           --name restored --initial-cluster restored=http://127.0.0.1:23800 \
           --initial-advertise-peer-urls http://127.0.0.1:23800",
    );
    let restored = cluster.lab.exec(
        "n1",
        "etcd --name restored --data-dir /tmp/restored --listen-client-urls http://127.0.0.1:23790 \
           --advertise-client-urls http://127.0.0.1:23790 --listen-peer-urls http://127.0.0.1:23800 \
           --initial-advertise-peer-urls http://127.0.0.1:23800 \
           --initial-cluster restored=http://127.0.0.1:23800 >/tmp/restored.log 2>&1 &
         trap 'kill $!' EXIT
         for i in $(seq 50); do
           env -u ETCDCTL_ENDPOINTS -u ETCDCTL_CACERT -u ETCDCTL_CERT -u ETCDCTL_KEY etcdctl --endpoints=http://127.0.0.1:23790 \
             get --print-value-only kindling/backed-up 2>/dev/null | grep . && exit 0
           sleep 0.2
         done
         cat /tmp/restored.log >&2
         exit 1",
    );
    assert_eq!(
        restored.trim(),
        "yes",
        "the restored snapshot serves the key"
    );

    // n4 joins the running cluster.
    let members = ["n1", "n2", "n3", "n4"];
    let joined = spec(&members, "", FIREWALL_FOR_THE_HUB)
        .replace(
            CLUSTER,
            "cluster: { name: boot, ignition: 3.3.0, state: existing }\n",
        )
        .replace(
            "name: n4, ip: 10.77.0.14 }",
            "name: n4, ip: 10.77.0.14, join: true }",
        );
    join(&mut cluster, &joined, "n4", "n1");

    // n2 is replaced by n5: its member removed, then n5 joins.
    cluster.lab.exec(
        "n1",
        "etcdctl member remove \"$(etcdctl member list | awk -F', ' '$3 == \"n2\" { print $1 }')\"",
    );
    cluster.lab.stop("n2");
    cluster.nodes.retain(|n| n != "n2");
    let replaced = spec(&["n1", "n3", "n4", "n5"], "", FIREWALL_FOR_THE_HUB)
        .replace(
            CLUSTER,
            "cluster: { name: boot, ignition: 3.3.0, state: existing }\n",
        )
        .replace(
            "name: n5, ip: 10.77.0.15 }",
            "name: n5, ip: 10.77.0.15, join: true }",
        );
    join(&mut cluster, &replaced, "n5", "n3");
    let listed = cluster.lab.exec("n5", "etcdctl member list");
    assert!(!listed.contains(", n2, "), "{listed}");
    assert_eq!(listed.lines().count(), 4, "{listed}");

    // Renewed certificates reach n1, and its member restarts onto them under the lock.
    renew_onto_node(&cluster, "n1");
}

/// Runs kindling with `args` in `dir`; it must succeed. Returns what it printed.
fn kindling_in(dir: &std::path::Path, args: &[&str]) -> String {
    let output = common::kindling()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "kindling {args:?}: {}",
        common::text(&output)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Writes `spec_text` (with `node` joining), issues its certificates, runs the `member add`
/// `kindling join` prints on `on`, renders, applies and boots the node, and waits until
/// every member is healthy.
fn join(cluster: &mut Cluster, spec_text: &str, node: &str, on: &str) {
    let spec_dir = cluster.spec_dir.clone();
    lab::write(&spec_dir.join("cluster.yaml"), spec_text);
    let kindling = |args: &[&str]| kindling_in(&spec_dir, args);
    kindling(&["pki", "init", "cluster.yaml"]);
    let printed = kindling(&["join", "cluster.yaml"]);
    // With a firewall, every running member lets the new one in first.
    if let Some(firewall) = printed.lines().find_map(|l| l.strip_prefix("sudo ")) {
        for member in &cluster.nodes {
            cluster.lab.exec(member, firewall);
            let rules = cluster.lab.exec(member, "cat /var/lib/iptables/rules-save");
            assert!(
                rules.contains(&format!("-s {}/32", node_ip(node))),
                "{member}: {rules}"
            );
        }
    }
    let add = printed
        .lines()
        .find(|l| l.starts_with("etcdctl member add"))
        .expect("the member add line");
    // etcd refuses a member add until every member has been connected a few seconds.
    eventually(
        Duration::from_secs(60),
        &format!("{add} succeeds on {on}"),
        || {
            let output = cluster.lab.try_exec(on, add)?;
            let text = common::text(&output);
            (output.status.success() || text.contains("Peer URLs already exists")).then_some(())
        },
    );
    kindling(&["render", "cluster.yaml", "-o", "out"]);
    cluster.lab.add_node(node, Some(&node_ip(node)), None);
    cluster
        .lab
        .ignite(node, &spec_dir.join(format!("out/{node}.ign")));
    cluster.nodes.push(node.to_string());
    cluster.boot_all();
    let count = cluster.nodes.len();
    for member in &cluster.nodes {
        eventually(
            Duration::from_secs(60),
            &format!("{member} sees {count} healthy members"),
            || (healthy_members(&cluster.lab, member) == count).then_some(()),
        );
    }
}

/// `pki renew --node`, then as docs/operations.md says: render, materialize the node's
/// config, copy its PKI files onto the node (owners and modes kept), restart its member
/// with `kindling-etcd-roll run`. The member must then serve the new certificate.
fn renew_onto_node(cluster: &Cluster, node: &str) {
    let spec_dir = &cluster.spec_dir;
    let old = std::fs::read(spec_dir.join(format!("pki/nodes/{node}/server.crt"))).unwrap();
    for args in [
        vec!["pki", "renew", "cluster.yaml", "--node", node],
        vec!["render", "cluster.yaml", "-o", "out"],
    ] {
        common::kindling()
            .current_dir(spec_dir)
            .args(&args)
            .assert()
            .success();
    }
    let new = std::fs::read(spec_dir.join(format!("pki/nodes/{node}/server.crt"))).unwrap();
    assert_ne!(old, new, "pki renew --node issues a new certificate");
    let staging = spec_dir.join(format!("materialized-{node}"));
    common::kindling()
        .arg("materialize")
        .arg(spec_dir.join(format!("out/{node}.ign")))
        .arg("--root")
        .arg(&staging)
        .assert()
        .success();
    let pki = cluster.lab.node(node).root.join("etc/etcd/pki");
    for entry in std::fs::read_dir(staging.join("etc/etcd/pki")).unwrap() {
        let from = entry.unwrap().path();
        let to = pki.join(from.file_name().unwrap());
        lab::run(
            "cp",
            &[
                "--preserve=mode,ownership",
                &from.to_string_lossy(),
                &to.to_string_lossy(),
            ],
        );
    }
    // Bounded: a roll script that can never take the lock (it once waited for a removed
    // member) fails the test instead of hanging it.
    cluster.lab.exec(
        node,
        "KINDLING_ROLL_POLL=1 timeout 120 /opt/bin/kindling-etcd-roll run systemctl restart etcd.service",
    );
    let served = cluster.lab.on_hub(&format!(
        "openssl s_client -connect {}:2379 -cert {pki}/etcdctl.crt -key {pki}/etcdctl.key </dev/null 2>/dev/null | openssl x509 -outform PEM",
        node_ip(node),
        pki = spec_dir.join("pki").display(),
    ));
    assert_eq!(
        String::from_utf8_lossy(&served.stdout).trim(),
        String::from_utf8_lossy(&new).trim(),
        "{node} serves the renewed certificate"
    );
    let count = cluster.nodes.len();
    eventually(
        Duration::from_secs(60),
        "every member healthy after the renewal",
        || (healthy_members(&cluster.lab, node) == count).then_some(()),
    );
}
