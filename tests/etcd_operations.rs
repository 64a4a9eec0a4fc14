//! Operating a cluster for a year, proven on real etcd (Debian's 3.4) from rendered configs:
//! a member joins with the printed `etcdctl member add`, a member is replaced, the rendered
//! roll script restarts every member at once without ever losing more than one, a rendered
//! backup restores into a new member, and `pki renew` rolls onto a running cluster.
//!
//! Each test runs its own three members on its own loopback /24 (127.0.N.x), started from
//! the materialized env files with only paths moved into the node's root. Members run under
//! a small supervisor loop that restarts etcd when it exits, the way systemd's
//! `Restart=always` does on a node; stubs of `systemctl` and `systemd-sysext` on PATH let
//! the roll script's own commands restart or "reboot" them. Like etcd_cluster.rs, a test is
//! ignored (with a note) when etcd is missing, and fails under CI=true.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{golden, kindling, text};

/// What every test here runs.
const NEEDS: &[&str] = &["etcd", "etcdctl", "bash"];

fn trial(name: &'static str, test: fn()) -> libtest_mimic::Trial {
    common::trial(name, NEEDS, test)
}

fn main() {
    let mut arguments = libtest_mimic::Arguments::from_args();
    // One cluster at a time: four clusters of three members on two cores would starve each
    // other's heartbeats.
    arguments.test_threads = Some(1);
    let trials = vec![
        trial(
            "a_member_joins_and_a_member_is_replaced_with_the_printed_commands",
            members_join_and_are_replaced,
        ),
        trial(
            "the_roll_script_run_on_every_member_at_once_keeps_all_but_one_up",
            rolling_restart_keeps_a_quorum,
        ),
        trial(
            "a_rendered_backup_restores_into_a_new_member",
            backup_restores,
        ),
        trial(
            "pki_renew_rolls_onto_a_running_cluster",
            pki_renew_on_a_running_cluster,
        ),
        trial(
            "defrag_shrinks_every_member_one_at_a_time_under_the_roll_lock",
            defrag_one_member_at_a_time,
        ),
        trial(
            "a_destroyed_cluster_comes_back_from_its_restore_configs",
            restore_configs_rebuild_the_cluster,
        ),
        s3_trial(
            "one_member_per_slot_uploads_its_snapshot_to_s3_verified_and_pruned",
            backups_leave_the_node,
        ),
    ];
    libtest_mimic::run(&arguments, trials).exit();
}

/// A cluster spec and its running members, in a scratch directory.
struct Lab {
    dir: tempfile::TempDir,
    /// The third octet of the members' 127.0.N.x addresses.
    net: u8,
    members: BTreeMap<String, Child>,
}

impl Lab {
    /// golden/loopback-tls on 127.0.`net`.x, with `edit` applied to the spec and a new PKI.
    fn new(net: u8, edit: impl Fn(String) -> String) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let spec = std::fs::read_to_string(golden("loopback-tls").join("cluster.yaml"))
            .unwrap()
            .replace("ip: 127.0.0.", &format!("ip: 127.0.{net}."));
        std::fs::write(dir.path().join("cluster.yaml"), edit(spec)).unwrap();
        std::fs::copy(
            golden("loopback-tls").join("SHA256SUMS"),
            dir.path().join("SHA256SUMS"),
        )
        .unwrap();
        let lab = Lab {
            dir,
            net,
            members: BTreeMap::new(),
        };
        lab.kindling(&["pki init"]);
        lab
    }

    /// `new`, rendered, and m1..m3 started and healthy.
    fn formed(net: u8, edit: impl Fn(String) -> String) -> Lab {
        let mut lab = Lab::new(net, edit);
        lab.render();
        for node in ["m1", "m2", "m3"] {
            lab.start(node);
        }
        lab.wait_healthy("m1", 3);
        lab
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn ip(&self, member: u8) -> String {
        format!("127.0.{}.{member}", self.net)
    }

    /// Runs `kindling ARGS[0] cluster.yaml ARGS[1..]` in the lab (`ARGS[0]` may be two
    /// words: `pki init`); it must succeed.
    fn kindling(&self, args: &[&str]) -> Output {
        let output = kindling()
            .current_dir(self.dir.path())
            .args(args[0].split(' '))
            .arg("cluster.yaml")
            .args(&args[1..])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "kindling {args:?}: {}",
            text(&output)
        );
        output
    }

    /// Adds member `m<n>` with `join: true`, issues its certificates, renders, and returns
    /// the `etcdctl member add` that `kindling join` prints for it.
    fn join_node(&self, n: u8) -> String {
        let line = format!("  - {{ name: m{n}, ip: {}, join: true }}\n", self.ip(n));
        let spec = std::fs::read_to_string(self.path("cluster.yaml")).unwrap();
        std::fs::write(self.path("cluster.yaml"), format!("{spec}{line}")).unwrap();
        self.kindling(&["pki init"]);
        self.render();
        let output = self.kindling(&["join"]);
        let printed = String::from_utf8(output.stdout).unwrap();
        assert_eq!(printed.lines().count(), 1, "{printed}");
        printed.trim().to_string()
    }

    fn edit_spec(&self, old: &str, new: &str) {
        let path = self.path("cluster.yaml");
        let spec = std::fs::read_to_string(&path).unwrap();
        assert!(spec.contains(old), "{old:?} not in {spec}");
        std::fs::write(path, spec.replacen(old, new, 1)).unwrap();
    }

    /// Renders the spec and materializes every node into `roots/<node>` (data kept).
    fn render(&self) {
        let _ = std::fs::remove_dir_all(self.path("ign"));
        self.kindling(&["render", "-o", "ign"]);
        for entry in std::fs::read_dir(self.path("ign")).unwrap() {
            let config = entry.unwrap().path();
            let node = config.file_stem().unwrap().to_string_lossy().into_owned();
            let materialized = kindling()
                .arg("materialize")
                .arg(&config)
                .arg("--root")
                .arg(self.root(&node))
                .output()
                .unwrap();
            assert!(materialized.status.success(), "{}", text(&materialized));
        }
    }

    fn root(&self, node: &str) -> PathBuf {
        self.path(&format!("roots/{node}"))
    }

    /// `NAME=value` lines of a node's file, with /etc/etcd and /var/lib/etcd paths moved
    /// into its root.
    fn settings(&self, node: &str, file: &str) -> BTreeMap<String, String> {
        let root = self.root(node);
        common::settings(&root.join(file), &root).0
    }

    /// The etcdctl settings of a node (its own member, its client certificate).
    fn client(&self, node: &str) -> BTreeMap<String, String> {
        self.settings(node, "etc/profile.d/etcdctl.sh")
    }

    fn etcdctl(&self, node: &str, args: &[&str]) -> Output {
        common::etcdctl(&self.client(node), args)
    }

    /// Starts a member from its rendered env file under a supervisor loop that restarts etcd
    /// whenever it exits (unless `down` exists: a machine that is "rebooting").
    fn start(&mut self, node: &str) {
        let state = self.path(&format!("state/{node}"));
        std::fs::create_dir_all(&state).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(&format!("{node}.log")))
            .unwrap();
        let supervisor = format!(
            "while :; do while [ -e {s}/down ]; do sleep 0.2; done; etcd & echo $! > {s}/pid; wait $!; sleep 0.3; done",
            s = state.display()
        );
        let child = Command::new("bash")
            .arg("-c")
            .arg(supervisor)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.settings(node, "etc/etcd/etcd.env"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap();
        self.members.insert(node.to_string(), child);
    }

    /// Kills a member's supervisor and etcd (its whole process group) and reaps it.
    fn stop(&mut self, node: &str) {
        if let Some(mut child) = self.members.remove(node) {
            // bash's own kill: a process group needs `-- -PGID`, and procps may be absent.
            let _ = Command::new("bash")
                .arg("-c")
                .arg(format!("kill -KILL -- -{}", child.id()))
                .status();
            let _ = child.wait();
        }
    }

    fn log(&self, node: &str) -> String {
        std::fs::read_to_string(self.path(&format!("{node}.log"))).unwrap_or_default()
    }

    /// Waits until `endpoint health --cluster`, asked through `via`, reports `count`
    /// healthy members.
    fn wait_healthy(&self, via: &str, count: usize) {
        common::wait_healthy(&self.client(via), count);
    }

    fn get(&self, via: &str, key: &str) -> String {
        let got = self.etcdctl(via, &["get", "--print-value-only", key]);
        assert!(got.status.success(), "get via {via}: {}", text(&got));
        String::from_utf8_lossy(&got.stdout).trim().to_string()
    }

    fn put(&self, via: &str, key: &str, value: &str) {
        let put = self.etcdctl(via, &["put", key, value]);
        assert!(put.status.success(), "put via {via}: {}", text(&put));
    }

    /// No member refused a TLS connection for its certificate (the loopback quirk of
    /// docs/reference: check the logs, not only health). Connections cut by a member that
    /// is stopping, or by a client that hung up (a killed `etcdctl lease keep-alive`), are
    /// logged as "rejected" too, without a TLS or certificate error: those are not refusals.
    fn assert_no_rejected_connections(&self, nodes: &[&str]) {
        for node in nodes {
            let log = self.log(node);
            let refused: Vec<&str> = log
                .lines()
                .filter(|line| line.contains("rejected connection"))
                .filter(|line| {
                    ["certificate", "x509", "tls:"]
                        .iter()
                        .any(|why| line.contains(why))
                })
                .collect();
            assert!(
                refused.is_empty(),
                "{node} rejected TLS connections:\n{}",
                refused.join("\n")
            );
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let nodes: Vec<String> = self.members.keys().cloned().collect();
        for node in nodes {
            self.stop(&node);
        }
    }
}

/// Runs a command line printed by kindling (`etcdctl member add …`) against the cluster.
fn run_printed(lab: &Lab, via: &str, line: &str) -> Output {
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[0], "etcdctl", "{line}");
    reconfigure(lab, via, &words[1..], "Peer URLs already exists")
}

/// A membership change, retried while etcd answers that it cannot take one now: its strict
/// reconfiguration check refuses ("unhealthy cluster") until every member has been
/// connected for a few seconds, and a request can time out during an election (as
/// docs/operations.md tells operators). A retry of a change that did land while its answer
/// timed out gets `done`, the error etcd gives for a change already made.
fn reconfigure(lab: &Lab, via: &str, args: &[&str], done: &str) -> Output {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut retried = false;
    loop {
        let output = lab.etcdctl(via, args);
        if output.status.success() || (retried && text(&output).contains(done)) {
            return output;
        }
        retried = true;
        let transient = [
            "unhealthy cluster",
            "request timed out",
            "leader changed",
            "context deadline exceeded",
        ]
        .iter()
        .any(|why| text(&output).contains(why));
        assert!(
            transient && Instant::now() < deadline,
            "etcdctl {args:?}: {}",
            text(&output)
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn members_join_and_are_replaced() {
    let mut lab = Lab::formed(11, |spec| spec);
    lab.put("m1", "kindling/before", "written before the join");

    // m4 joins: the spec marks it, kindling prints what to run first.
    lab.edit_spec(
        "cluster: { name: loopback }",
        "cluster: { name: loopback, state: existing }",
    );
    let add = lab.join_node(4);
    assert_eq!(
        add,
        format!(
            "etcdctl member add m4 --peer-urls=https://{}:2380",
            lab.ip(4)
        )
    );
    let env = lab.settings("m4", "etc/etcd/etcd.env");
    assert_eq!(env["ETCD_INITIAL_CLUSTER_STATE"], "existing");
    let added = run_printed(&lab, "m1", &add);
    let printed = text(&added);
    // etcdctl's own answer names the same initial cluster kindling rendered for m4 (unless
    // the answer was lost to a timeout and a retry found the member added).
    assert!(
        !added.status.success()
            || sorted_members(&printed) == sorted_members(&env["ETCD_INITIAL_CLUSTER"]),
        "etcdctl says {printed}, kindling rendered {}",
        env["ETCD_INITIAL_CLUSTER"]
    );
    lab.start("m4");
    lab.wait_healthy("m1", 4);
    assert_eq!(lab.get("m4", "kindling/before"), "written before the join");

    // m2 fails and is replaced by m5: remove, then join (docs/operations.md).
    let list = lab.etcdctl("m1", &["member", "list"]);
    let id = String::from_utf8_lossy(&list.stdout)
        .lines()
        .find(|line| line.contains(", m2, "))
        .and_then(|line| line.split(',').next())
        .unwrap()
        .to_string();
    lab.stop("m2");
    reconfigure(&lab, "m1", &["member", "remove", &id], "member not found");
    lab.edit_spec(&format!("  - {{ name: m2, ip: {} }}\n", lab.ip(2)), "");
    lab.edit_spec(", join: true }", " }");
    let add = lab.join_node(5);
    run_printed(&lab, "m1", &add);
    lab.start("m5");
    lab.wait_healthy("m1", 4);
    assert_eq!(lab.get("m5", "kindling/before"), "written before the join");
    lab.assert_no_rejected_connections(&["m1", "m3", "m4", "m5"]);
}

/// The members of an initial cluster (`a=x,b=y`, or etcdctl's `ETCD_INITIAL_CLUSTER="…"`
/// line), sorted.
fn sorted_members(text: &str) -> Vec<String> {
    let list = text
        .lines()
        .find_map(|line| line.strip_prefix("ETCD_INITIAL_CLUSTER="))
        .unwrap_or(text)
        .trim_matches('"');
    let mut members: Vec<String> = list.split(',').map(str::to_string).collect();
    members.sort();
    members
}

/// Writes an executable script.
fn script(path: &Path, body: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Stubs of what the roll script calls on a node: `systemctl restart etcd.service` kills the
/// member (its supervisor starts it again, like Restart=always), `systemctl reboot` takes it
/// down until the test brings the "machine" back, `systemd-sysext refresh` does nothing.
fn node_stubs(lab: &Lab, node: &str) -> PathBuf {
    let state = lab.path(&format!("state/{node}"));
    let bin = lab.path(&format!("stubs/{node}"));
    script(
        &bin.join("systemctl"),
        &format!(
            "#!/bin/sh\nold=$(cat {s}/pid)\ncase \"$1\" in\n  restart) kill \"$old\"; while [ \"$(cat {s}/pid)\" = \"$old\" ]; do sleep 0.1; done ;;\n  reboot) touch {s}/down; kill \"$old\" ;;\n  *) exit 1 ;;\nesac\n",
            s = state.display()
        ),
    );
    script(&bin.join("systemd-sysext"), "#!/bin/sh\nexit 0\n");
    bin
}

/// Runs the rendered roll script of `node` with `action`, certificates from its root.
fn roll(lab: &Lab, node: &str, action: &str) -> Command {
    let mut command = Command::new(lab.root(node).join("opt/bin/kindling-etcd-roll"));
    let client = lab.client(node);
    command
        .arg(action)
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}:{}",
                node_stubs(lab, node).display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("KINDLING_ROLL_POLL", "0.3")
        .env("ETCDCTL_CACERT", &client["ETCDCTL_CACERT"])
        .env("ETCDCTL_CERT", &client["ETCDCTL_CERT"])
        .env("ETCDCTL_KEY", &client["ETCDCTL_KEY"]);
    command
}

/// Runs the roll script with `action` on every member of `nodes` at once, each member's
/// health polled every 50 ms meanwhile; every run must succeed. Returns each run's log
/// and the health samples (milliseconds since the start, one state per member).
fn roll_everywhere(
    lab: &Lab,
    nodes: &[&str],
    action: &str,
) -> (Vec<String>, Vec<(u128, Vec<Health>)>) {
    let ips: Vec<String> = (1..=nodes.len() as u8).map(|i| lab.ip(i)).collect();
    let done = Arc::new(AtomicBool::new(false));
    let poller = {
        let done = done.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            let mut samples = Vec::new();
            while !done.load(Ordering::SeqCst) {
                let states: Vec<Health> = ips.iter().map(|ip| health(ip)).collect();
                samples.push((start.elapsed().as_millis(), states));
                std::thread::sleep(Duration::from_millis(50));
            }
            samples
        })
    };
    let scripts: Vec<Child> = nodes
        .iter()
        .map(|node| {
            roll(lab, node, action)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let logs = nodes
        .iter()
        .zip(scripts)
        .map(|(node, child)| {
            let output = child.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "{node}: {:?} {}",
                output.status,
                text(&output)
            );
            String::from_utf8_lossy(&output.stderr).into_owned()
        })
        .collect();
    done.store(true, Ordering::SeqCst);
    (logs, poller.join().unwrap())
}

/// What a member's `GET /health` on its metrics port says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Health {
    /// Not running, or not listening yet: the connection is refused.
    NoAnswer,
    /// Running, but without a leader, behind, or too slow to say (`/health` waits for a
    /// quorum read, which blocks during an election).
    Unhealthy,
    Healthy,
}

fn health(ip: &str) -> Health {
    let Ok(mut stream) = TcpStream::connect_timeout(
        &format!("{ip}:2381").parse().unwrap(),
        Duration::from_millis(200),
    ) else {
        return Health::NoAnswer;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let request = format!("GET /health HTTP/1.0\r\nHost: {ip}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return Health::NoAnswer;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    if answer.contains("\"health\":\"true\"") {
        Health::Healthy
    } else {
        Health::Unhealthy
    }
}

/// The most members down at one moment over a timeline of samples (milliseconds, states).
/// A member is down when it does not answer, or when it has been unhealthy while another
/// member was healthy for at least a second: when a leader restarts, the followers are
/// leaderless for an election timeout (500 ms here) and learn of the new leader one after
/// the other, which is an election, not members down.
fn most_down(samples: &[(u128, Vec<Health>)]) -> usize {
    let members = samples.first().map_or(0, |s| s.1.len());
    let mut lagging_since: Vec<Option<u128>> = vec![None; members];
    let mut most = 0;
    for (ms, states) in samples {
        let any_healthy = states.contains(&Health::Healthy);
        let mut down = 0;
        for (member, state) in states.iter().enumerate() {
            let lagging = any_healthy && *state == Health::Unhealthy;
            lagging_since[member] = if lagging {
                Some(lagging_since[member].unwrap_or(*ms))
            } else {
                None
            };
            let long_lagging = lagging_since[member].is_some_and(|since| ms - since >= 1000);
            if *state == Health::NoAnswer || long_lagging {
                down += 1;
            }
        }
        most = most.max(down);
    }
    most
}

fn pid(lab: &Lab, node: &str) -> String {
    std::fs::read_to_string(lab.path(&format!("state/{node}/pid"))).unwrap_or_default()
}

fn rolling_restart_keeps_a_quorum() {
    let lab = Lab::formed(12, |spec| spec);
    let nodes = ["m1", "m2", "m3"];
    lab.put("m1", "kindling/before", "kept");
    let pids_before: Vec<String> = nodes.iter().map(|n| pid(&lab, n)).collect();

    // Poll every member's health while the same update lands on all of them at once.
    let (logs, samples) = roll_everywhere(&lab, &nodes, "restart");
    let most_down = most_down(&samples);

    for (i, node) in nodes.iter().enumerate() {
        assert_ne!(pid(&lab, node), pids_before[i], "{node} was not restarted");
        assert!(
            logs[i].contains("took the roll lock"),
            "{node}: {}",
            logs[i]
        );
        assert!(
            logs[i].contains("released the roll lock"),
            "{node}: {}",
            logs[i]
        );
    }
    let timeline: Vec<String> = samples
        .iter()
        .map(|(ms, states)| format!("{ms} ms: {states:?}"))
        .collect();
    assert_eq!(
        most_down,
        1,
        "at most one member may be down at a time (and one was, three times):\n{}\n{}",
        timeline.join("\n"),
        logs.join("\n")
    );
    lab.wait_healthy("m2", 3);
    assert_eq!(lab.get("m3", "kindling/before"), "kept");
    assert_eq!(lab.get("m1", "kindling/loopback/roll-lock"), "");

    // A reboot holds the lock while the machine is down; after the boot `resume` releases
    // it once the member is healthy, and meanwhile no other member may take it.
    let rebooted = roll(&lab, "m2", "reboot").output().unwrap();
    assert!(rebooted.status.success(), "{}", text(&rebooted));
    assert_eq!(lab.get("m1", "kindling/loopback/roll-lock"), "m2");
    let waiting = roll(&lab, "m3", "restart")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let m3_pid = pid(&lab, "m3");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        pid(&lab, "m3"),
        m3_pid,
        "m3 restarted while m2 held the lock"
    );
    std::fs::remove_file(lab.path("state/m2/down")).unwrap();
    let resumed = roll(&lab, "m2", "resume").output().unwrap();
    assert!(resumed.status.success(), "{}", text(&resumed));
    let waited = waiting.wait_with_output().unwrap();
    assert!(waited.status.success(), "m3: {}", text(&waited));
    assert_ne!(
        pid(&lab, "m3"),
        m3_pid,
        "m3 had its turn after m2's release"
    );
    lab.wait_healthy("m1", 3);
    assert_eq!(lab.get("m1", "kindling/loopback/roll-lock"), "");
    lab.assert_no_rejected_connections(&nodes);
}

/// Bytes of `node`'s database file and of what is in use, from `etcdctl endpoint status`.
fn db_sizes(lab: &Lab, node: &str, ip: &str) -> (u64, u64) {
    let mut env = lab.client(node);
    env.insert("ETCDCTL_ENDPOINTS".into(), format!("https://{ip}:2379"));
    let status = common::etcdctl(&env, &["endpoint", "status", "-w", "json"]);
    assert!(status.status.success(), "{}", text(&status));
    let parsed: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let of = |field: &str| parsed[0]["Status"][field].as_u64().unwrap();
    (of("dbSize"), of("dbSizeInUse"))
}

/// `defrag:` on real etcd. Every member's database is fragmented (16 MiB written, deleted,
/// compacted), then the rendered roll script's `defrag` starts on every member at once:
/// each takes the roll lock in turn, shrinks, and releases it healthy, while each member's
/// health, polled every 50 ms, never shows two down. Run again with nothing worth
/// returning, no member takes the lock.
fn defrag_one_member_at_a_time() {
    let lab = Lab::formed(14, |spec| {
        spec.replace(
            "nodes:\n",
            "defrag: { schedule: weekly, min_free_bytes: 4194304 }\nnodes:\n",
        )
    });
    let nodes = ["m1", "m2", "m3"];
    let ips: Vec<String> = (1..=3).map(|i| lab.ip(i)).collect();
    let value = "x".repeat(64 * 1024);
    for i in 0..256 {
        lab.put("m1", &format!("kindling/fragment/{i:03}"), &value);
    }
    lab.put("m1", "kindling/before", "kept");
    let deleted = lab.etcdctl("m1", &["del", "--prefix", "kindling/fragment/"]);
    assert!(deleted.status.success(), "{}", text(&deleted));
    let revision = lab.etcdctl("m1", &["endpoint", "status", "-w", "json"]);
    let revision: serde_json::Value = serde_json::from_slice(&revision.stdout).unwrap();
    let revision = revision[0]["Status"]["header"]["revision"]
        .as_u64()
        .unwrap();
    let compacted = lab.etcdctl("m1", &["compaction", "--physical", &revision.to_string()]);
    assert!(compacted.status.success(), "{}", text(&compacted));
    // bbolt counts the compacted pages free after its next commits.
    let deadline = Instant::now() + Duration::from_secs(30);
    let before: Vec<(u64, u64)> = loop {
        lab.put("m1", "kindling/commit", "a write that commits");
        let sizes: Vec<(u64, u64)> = nodes
            .iter()
            .zip(&ips)
            .map(|(node, ip)| db_sizes(&lab, node, ip))
            .collect();
        if sizes.iter().all(|(size, in_use)| size - in_use > 8 << 20) {
            break sizes;
        }
        assert!(
            Instant::now() < deadline,
            "the members are not fragmented: {sizes:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };

    let (logs, samples) = roll_everywhere(&lab, &nodes, "defrag");
    for ((node, ip), log) in nodes.iter().zip(&ips).zip(&logs) {
        let (size, in_use) = db_sizes(&lab, node, ip);
        let (size_before, _) = before[nodes.iter().position(|n| n == node).unwrap()];
        assert!(
            size < size_before / 2,
            "{node} shrank: {size_before} -> {size} ({in_use} in use)\n{log}"
        );
        for said in [
            "took the roll lock",
            "defragmented member",
            "released the roll lock",
        ] {
            assert!(log.contains(said), "{node}: {log}");
        }
    }
    assert!(
        most_down(&samples) <= 1,
        "two members down at once: {samples:?}"
    );
    assert_eq!(lab.get("m2", "kindling/before"), "kept");
    assert_eq!(lab.get("m1", "kindling/loopback/roll-lock"), "");

    let again = roll(&lab, "m1", "defrag").output().unwrap();
    assert!(again.status.success(), "{}", text(&again));
    let said = text(&again);
    assert!(
        said.contains("no defragmentation") && !said.contains("took the roll lock"),
        "{said}"
    );
    lab.assert_no_rejected_connections(&nodes);
}

/// The cluster ID a member reports.
fn cluster_id(lab: &Lab, node: &str) -> u64 {
    let status = lab.etcdctl(node, &["endpoint", "status", "-w", "json"]);
    assert!(status.status.success(), "{}", text(&status));
    let parsed: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    parsed[0]["Status"]["header"]["cluster_id"]
        .as_u64()
        .unwrap()
}

/// Disaster recovery as docs/operations.md tells it: a snapshot of a running cluster, every
/// member destroyed (processes and data), `kindling restore` configs rendered from the
/// snapshot and applied (the snapshot at the URL and with the hash Ignition would fetch and
/// check), each member's rendered restore script run, and
/// the members started from their new env files: a new cluster (another ID, the new token)
/// of three healthy members serving the keys written before the snapshot. The restore script
/// refuses to run again over a member's data.
fn restore_configs_rebuild_the_cluster() {
    let mut lab = Lab::formed(15, |spec| spec);
    let nodes = ["m1", "m2", "m3"];
    lab.put("m1", "kindling/survives", "the disaster");
    let lost_id = cluster_id(&lab, "m1");
    let assets = lab.path("assets");
    std::fs::create_dir_all(&assets).unwrap();
    let snapshot = assets.join("snap.db");
    let saved = lab.etcdctl("m1", &["snapshot", "save", snapshot.to_str().unwrap()]);
    assert!(saved.status.success(), "{}", text(&saved));
    lab.put("m1", "kindling/after-the-snapshot", "lost");
    for node in nodes {
        lab.stop(node);
        std::fs::remove_dir_all(lab.root(node).join("var/lib/etcd/member")).unwrap();
    }

    let printed = lab.kindling(&[
        "restore",
        "--snapshot",
        snapshot.to_str().unwrap(),
        "--snapshot-url",
        "http://matchbox.example.com:8080/assets/snap.db",
        "-o",
        "restored",
    ]);
    let said = text(&printed);
    let token = said
        .split("cluster token ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .unwrap_or_else(|| panic!("{said}"))
        .to_string();
    use sha2::Digest;
    let hash = format!(
        "sha256-{}",
        hex::encode(sha2::Sha256::digest(std::fs::read(&snapshot).unwrap()))
    );
    for node in nodes {
        let config = lab.path(&format!("restored/{node}.ign"));
        let parsed: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
        let fetched = parsed["storage"]["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == "/var/lib/etcd-restore/snapshot.db")
            .expect("the snapshot is in the config");
        assert_eq!(
            fetched["contents"]["source"],
            "http://matchbox.example.com:8080/assets/snap.db"
        );
        assert_eq!(fetched["contents"]["verification"]["hash"], hash.as_str());
        // What Ignition's fetch stage does: the file at its path (materialize skips remote
        // sources).
        let materialized = kindling()
            .arg("materialize")
            .arg(&config)
            .arg("--root")
            .arg(lab.root(node))
            .output()
            .unwrap();
        assert!(materialized.status.success(), "{}", text(&materialized));
        std::fs::copy(
            &snapshot,
            lab.root(node).join("var/lib/etcd-restore/snapshot.db"),
        )
        .unwrap();
        let env = lab.settings(node, "etc/etcd/etcd.env");
        assert_eq!(env["ETCD_INITIAL_CLUSTER_TOKEN"], token);
        assert_eq!(env["ETCD_INITIAL_CLUSTER_STATE"], "new");
        let restored = restore_script(&lab, node).output().unwrap();
        assert!(restored.status.success(), "{node}: {}", text(&restored));
    }
    for node in nodes {
        lab.start(node);
    }
    lab.wait_healthy("m2", 3);
    assert_eq!(lab.get("m3", "kindling/survives"), "the disaster");
    assert_eq!(lab.get("m1", "kindling/after-the-snapshot"), "");
    assert_ne!(
        cluster_id(&lab, "m1"),
        lost_id,
        "a new cluster, not the lost one"
    );

    let again = restore_script(&lab, "m1").output().unwrap();
    assert!(
        !again.status.success(),
        "a second restore over the data must fail"
    );
    assert!(
        text(&again).contains("holds a member already"),
        "{}",
        text(&again)
    );
    lab.assert_no_rejected_connections(&nodes);
}

/// The rendered restore script of `node`, with its data and snapshot in the node's root.
fn restore_script(lab: &Lab, node: &str) -> Command {
    let root = lab.root(node);
    let mut command = Command::new(root.join("opt/bin/kindling-etcd-restore"));
    command
        .env("KINDLING_RESTORE_DATA_DIR", root.join("var/lib/etcd"))
        .env(
            "KINDLING_RESTORE_SNAPSHOT",
            root.join("var/lib/etcd-restore/snapshot.db"),
        );
    command
}

fn backup_restores() {
    let mut lab = Lab::formed(13, |spec| {
        spec.replace("nodes:\n", "backup: { keep: 2 }\nnodes:\n")
    });
    lab.put("m2", "kindling/backed-up", "restored");
    let backups = lab.path("backups");
    std::fs::create_dir_all(&backups).unwrap();
    let client = lab.client("m1");
    for _ in 0..3 {
        let output = Command::new(lab.root("m1").join("opt/bin/kindling-etcd-backup"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KINDLING_BACKUP_DIR", &backups)
            .envs(&client)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output));
        assert!(text(&output).contains("wrote"), "{}", text(&output));
        // Snapshot names carry the time to the second.
        std::thread::sleep(Duration::from_millis(1100));
    }
    let mut snapshots: Vec<String> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    snapshots.sort();
    assert_eq!(
        snapshots.len(),
        2,
        "keep: 2 keeps the newest two: {snapshots:?}"
    );
    assert!(
        snapshots
            .iter()
            .all(|s| s.starts_with("etcd-m1-") && s.ends_with("Z.db"))
    );
    let newest = backups.join(&snapshots[1]);
    assert_eq!(
        std::fs::metadata(&newest).unwrap().permissions().mode() & 0o777,
        0o600
    );
    for node in ["m1", "m2", "m3"] {
        lab.stop(node);
    }

    assert_eq!(
        read_from_snapshot(&lab, &newest, "kindling/backed-up"),
        "restored"
    );
}

/// Restores `snapshot` with etcd's own tool into a fresh data dir, starts one member from
/// it on 127.0.N.9 and reads `key` from it.
fn read_from_snapshot(lab: &Lab, snapshot: &Path, key: &str) -> String {
    let restored = lab.path("restored");
    let peer = format!("http://{}:12380", lab.ip(9));
    let restore = Command::new("etcdctl")
        .args(["snapshot", "restore"])
        .arg(snapshot)
        .arg("--data-dir")
        .arg(&restored)
        .args(["--name", "restored", "--initial-cluster"])
        .arg(format!("restored={peer}"))
        .arg("--initial-advertise-peer-urls")
        .arg(&peer)
        .output()
        .unwrap();
    assert!(restore.status.success(), "{}", text(&restore));
    let client_url = format!("http://{}:12379", lab.ip(9));
    let mut single = Command::new("etcd")
        .arg("--data-dir")
        .arg(&restored)
        .args(["--name", "restored"])
        .arg(format!("--listen-peer-urls={peer}"))
        .arg(format!("--listen-client-urls={client_url}"))
        .arg(format!("--advertise-client-urls={client_url}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let value = loop {
        let got = Command::new("etcdctl")
            .arg(format!("--endpoints={client_url}"))
            .args(["get", "--print-value-only", key])
            .output()
            .unwrap();
        if got.status.success() {
            break String::from_utf8_lossy(&got.stdout).trim().to_string();
        }
        assert!(Instant::now() < deadline, "{}", text(&got));
        std::thread::sleep(Duration::from_millis(300));
    };
    let _ = single.kill();
    let _ = single.wait();
    value
}

/// The certificate a member serves on its client port, as PEM, fetched with openssl.
fn served_certificate(lab: &Lab, node: &str, ip: &str) -> String {
    let client = lab.client(node);
    let output = Command::new("openssl")
        .args(["s_client", "-connect", &format!("{ip}:2379"), "-CAfile"])
        .arg(&client["ETCDCTL_CACERT"])
        .arg("-cert")
        .arg(&client["ETCDCTL_CERT"])
        .arg("-key")
        .arg(&client["ETCDCTL_KEY"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    let start = out
        .find("-----BEGIN CERTIFICATE-----")
        .expect("a certificate");
    let end = out.find("-----END CERTIFICATE-----").unwrap() + "-----END CERTIFICATE-----".len();
    out[start..end].to_string()
}

fn pki_renew_on_a_running_cluster() {
    let mut lab = Lab::formed(14, |spec| spec);
    let nodes = ["m1", "m2", "m3"];
    lab.put("m1", "kindling/before", "kept");
    let old_server = std::fs::read_to_string(lab.path("pki/nodes/m2/server.crt")).unwrap();

    // Every leaf expires within 400 days: all are renewed, by the same CA.
    let renewed = lab.kindling(&["pki renew", "--within", "400"]);
    assert!(
        text(&renewed).contains("7 pair(s) renewed"),
        "{}",
        text(&renewed)
    );
    let new_server = std::fs::read_to_string(lab.path("pki/nodes/m2/server.crt")).unwrap();
    assert_ne!(old_server, new_server);
    lab.render();

    // Restart members one at a time onto the new files, the cluster healthy in between.
    for (i, node) in nodes.iter().enumerate() {
        lab.stop(node);
        lab.start(node);
        lab.wait_healthy(nodes[(i + 1) % 3], 3);
    }
    for (i, node) in nodes.iter().enumerate() {
        let served = served_certificate(&lab, node, &lab.ip(i as u8 + 1));
        let on_disk =
            std::fs::read_to_string(lab.path(&format!("pki/nodes/{node}/server.crt"))).unwrap();
        assert_eq!(
            served.trim(),
            on_disk.trim(),
            "{node} serves its new certificate"
        );
    }
    assert_eq!(lab.get("m3", "kindling/before"), "kept");
    lab.assert_no_rejected_connections(&nodes);
}

fn s3_trial(name: &'static str, test: fn()) -> libtest_mimic::Trial {
    let mut missing: Vec<String> = ["etcd", "etcdctl", "bash", "curl", "systemd-analyze"]
        .iter()
        .filter(|p| !common::on_path(p))
        .map(|p| format!("{p} is not installed"))
        .collect();
    if !common::test_venv().join("bin/moto_server").exists() {
        missing.push(format!(
            "{} has no moto_server",
            common::test_venv().join("bin").display()
        ));
    }
    common::trial_needing(
        name,
        missing,
        "etcd, curl, systemd-analyze and moto from tests/s3/requirements.txt (run `bash .ci/run`)",
        test,
    )
}

/// moto, an S3 server that checks every request's signature once a key exists, on a free
/// loopback port; killed when dropped.
struct S3Server {
    child: Child,
    endpoint: String,
    key_id: String,
    secret: String,
}

const BUCKET: &str = "etcd-backups";

impl S3Server {
    fn start(dir: &Path) -> S3Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.join("moto.log")).unwrap();
        let child = Command::new(common::test_venv().join("bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // The user, its key and its policy are made without a signature; every request
            // after them is checked.
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "3")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let endpoint = format!("http://127.0.0.1:{port}");
        let mut server = S3Server {
            child,
            endpoint,
            key_id: String::new(),
            secret: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start");
            std::thread::sleep(Duration::from_millis(200));
        }
        let made = server.admin(&["setup", &server.endpoint.clone(), BUCKET]);
        let words: Vec<String> = made.split_whitespace().map(String::from).collect();
        assert_eq!(words.len(), 2, "{made}");
        server.key_id = words[0].clone();
        server.secret = words[1].clone();
        server
    }

    fn admin(&self, args: &[&str]) -> String {
        let output = Command::new(common::test_venv().join("bin/python"))
            .arg(common::repo().join("tests/s3/moto_admin.py"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "moto_admin {args:?}: {}",
            text(&output)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Every object in the bucket with the SHA-256 of its bytes, read back with boto3.
    fn objects(&self) -> BTreeMap<String, String> {
        self.admin(&["list", &self.endpoint, BUCKET, &self.key_id, &self.secret])
            .lines()
            .map(|line| {
                let (name, sha) = line.split_once(' ').unwrap();
                (name.to_string(), sha.to_string())
            })
            .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The schedule of the off-node test: a slot every 10 seconds.
const SLOT_SECONDS: u64 = 10;

/// Sleeps until a second into the next slot, so that a run started now ends in its slot.
fn wait_for_next_slot() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let into = now.as_millis() as u64 % (SLOT_SECONDS * 1000);
    std::thread::sleep(Duration::from_millis(SLOT_SECONDS * 1000 - into + 1000));
}

/// Runs the rendered backup script of `node` with the S3 key in `credentials`.
fn backup_to_s3(lab: &Lab, node: &str, credentials: &Path) -> Command {
    let dir = lab.path(&format!("backups/{node}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut command = Command::new(lab.root(node).join("opt/bin/kindling-etcd-backup"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KINDLING_BACKUP_DIR", &dir)
        .env("KINDLING_BACKUP_POLL", "0.2")
        .env("KINDLING_S3_CREDENTIALS", credentials)
        .envs(lab.client(node));
    command
}

fn sha256_of(path: &Path) -> String {
    let output = Command::new("sha256sum").arg(path).output().unwrap();
    text(&output).split_whitespace().next().unwrap().to_string()
}

/// The newest snapshot in a member's local backup directory.
fn newest_local(lab: &Lab, node: &str) -> PathBuf {
    let dir = lab.path(&format!("backups/{node}"));
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    names.pop().unwrap()
}

fn backups_leave_the_node() {
    let scratch = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(scratch.path());
    let section = format!(
        "backup:\n  keep: 1\n  schedule: \"*:*:0/{SLOT_SECONDS}\"\n  s3: {{ endpoint: \"{}\", bucket: {BUCKET}, prefix: lab/, keep: 2 }}\nnodes:\n",
        s3.endpoint
    );
    let lab = Lab::formed(16, |spec| spec.replace("nodes:\n", &section));
    let credentials = lab.path("backup-s3.env");
    let write_credentials = |secret: &str, mode: u32| {
        std::fs::write(
            &credentials,
            format!(
                "AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={secret}\n",
                s3.key_id
            ),
        )
        .unwrap();
        std::fs::set_permissions(&credentials, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    write_credentials(&s3.secret, 0o600);
    lab.put("m1", "kindling/backed-up", "off the node");

    // Every member's timer fires in the same slot: one uploads, the others see it done.
    wait_for_next_slot();
    let runs: Vec<(&str, std::process::Child)> = ["m1", "m2", "m3"]
        .into_iter()
        .map(|node| {
            let child = backup_to_s3(&lab, node, &credentials)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (node, child)
        })
        .collect();
    let mut uploaders = Vec::new();
    let mut logs = String::new();
    for (node, child) in runs {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{node}: {}", text(&output));
        logs.push_str(&format!("{node}:\n{}\n", text(&output)));
        if text(&output).contains("kindling-etcd-backup: uploaded") {
            uploaders.push(node);
        } else {
            assert!(
                text(&output).contains("another member uploaded the snapshot of the slot"),
                "{node}: {}",
                text(&output)
            );
        }
    }
    assert_eq!(
        uploaders.len(),
        1,
        "one member uploads per slot: {uploaders:?}\n{logs}"
    );
    let objects = s3.objects();
    assert_eq!(objects.len(), 1, "{objects:?}");
    let (name, sha) = objects.iter().next().unwrap();
    let uploader = uploaders[0];
    assert!(
        name.starts_with("lab/etcd-loopback-") && name.ends_with(&format!("-{uploader}.db")),
        "{name}"
    );
    assert_eq!(*sha, sha256_of(&newest_local(&lab, uploader)));

    // Two more slots: three objects made, the newest two kept.
    for node in ["m2", "m3"] {
        wait_for_next_slot();
        let output = backup_to_s3(&lab, node, &credentials).output().unwrap();
        assert!(output.status.success(), "{node}: {}", text(&output));
        assert!(text(&output).contains("uploaded"), "{}", text(&output));
    }
    let objects = s3.objects();
    let names: Vec<&String> = objects.keys().collect();
    assert_eq!(names.len(), 2, "keep: 2 in the bucket: {names:?}");
    assert!(
        names[0].ends_with("-m2.db") && names[1].ends_with("-m3.db"),
        "{names:?}"
    );
    assert_eq!(objects[names[1]], sha256_of(&newest_local(&lab, "m3")));

    // A wrong secret: S3 refuses the signature, the unit fails saying so, the bucket is as
    // it was, and the snapshot is still kept on the node.
    write_credentials("wrong/secret/0000000000000000000000000000", 0o600);
    wait_for_next_slot();
    let before = std::fs::read_dir(lab.path("backups/m1")).unwrap().count();
    let output = backup_to_s3(&lab, "m1", &credentials).output().unwrap();
    assert!(!output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("SignatureDoesNotMatch"),
        "{}",
        text(&output)
    );
    assert!(
        !text(&output).contains("wrong/secret"),
        "the key is never printed: {}",
        text(&output)
    );
    assert_eq!(s3.objects(), objects);
    assert_eq!(
        std::fs::read_dir(lab.path("backups/m1")).unwrap().count(),
        before.max(1)
    );

    // A key file others can read is refused before any request.
    write_credentials(&s3.secret, 0o644);
    let output = backup_to_s3(&lab, "m1", &credentials).output().unwrap();
    assert!(!output.status.success());
    assert!(text(&output).contains("chmod 0600"), "{}", text(&output));

    // The uploaded snapshot restores: the key written before it is in it.
    let fetched = lab.path("fetched.db");
    let got = Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--fail",
            "--aws-sigv4",
            "aws:amz:us-east-1:s3",
        ])
        .arg("--user")
        .arg(format!("{}:{}", s3.key_id, s3.secret))
        .arg("-H")
        .arg(format!("x-amz-content-sha256: {EMPTY_SHA256}"))
        .arg("-o")
        .arg(&fetched)
        .arg(format!("{}/{BUCKET}/{}", s3.endpoint, names[1]))
        .output()
        .unwrap();
    assert!(got.status.success(), "{}", text(&got));
    assert_eq!(
        read_from_snapshot(&lab, &fetched, "kindling/backed-up"),
        "off the node"
    );
}

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
