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
    let tests: [(&'static str, fn()); 3] = [
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
