//! The boot lab: rendered configs applied by the real Ignition (Debian's 2.14) into node roots,
//! booted by the real systemd under systemd-nspawn, each node in a network namespace of its
//! own on a bridge whose namespace plays the Matchbox host (it serves the sysext images over
//! HTTP). Every node starts from one cached Debian trixie root posing as Flatcar, built by
//! `tests/boot/make-root.sh`, as an overlay of its own.
//!
//! What the lab creates (namespaces, veths, mounts, cgroups, processes) it removes when it
//! is dropped, whether the test passed or panicked; it kills only the processes it started.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The real Ignition binary of Debian's `ignition` package (ignition-validate is beside it
/// on PATH, but the binary that applies configs lives in its dracut module).
pub const IGNITION: &str = "/usr/lib/dracut/modules.d/30ignition/ignition";

/// The lab's network: the hub (the Matchbox role) is `.1`, nodes take their own addresses.
pub const HUB_IP: &str = "10.77.0.1";
pub const SUBNET: &str = "10.77.0.0/24";
pub const HTTP_PORT: u16 = 8080;

/// Programs and files the lab needs on the host, each missing one as a sentence.
pub fn missing_prerequisites() -> Vec<String> {
    let mut missing = Vec::new();
    if unsafe { libc::geteuid() } != 0 {
        missing.push("the boot lab needs root (namespaces, mounts, nspawn)".to_string());
    }
    for program in [
        "debootstrap",
        "systemd-nspawn",
        "ip",
        "nsenter",
        "mksquashfs",
        "python3",
        "dpkg-deb",
        "useradd",
        "etcdctl",
        "prometheus",
        "dnsmasq",
    ] {
        if !super::common::on_path(program) {
            missing.push(format!("{program} is not installed"));
        }
    }
    let moto = super::common::test_venv().join("bin/moto_server");
    if !moto.exists() {
        missing.push(format!(
            "{} does not exist (run `bash .ci/run`)",
            moto.display()
        ));
    }
    for file in [IGNITION, "/dev/loop-control"] {
        if !Path::new(file).exists() {
            missing.push(format!("{file} does not exist"));
        }
    }
    missing
}

/// The root every node starts from, and trixie's etcd binaries beside it.
pub struct BaseRoot {
    pub root: PathBuf,
    pub etcd: PathBuf,
}

/// The cached base root, built by make-root.sh when the cache has none for its current
/// text (the cache key is the script's SHA-256). Says on stderr which it used.
pub fn base_root() -> &'static BaseRoot {
    static ROOT: OnceLock<BaseRoot> = OnceLock::new();
    ROOT.get_or_init(|| {
        use sha2::Digest;
        let script = super::common::repo().join("tests/boot/make-root.sh");
        let recipe = std::fs::read(&script).expect("make-root.sh is readable");
        let key = hex::encode(&sha2::Sha256::digest(&recipe)[..8]);
        let cache = std::env::var_os("KINDLING_BOOT_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/cache/kindling-boot"));
        std::fs::create_dir_all(&cache).expect("the boot cache directory can be created");
        let out = cache.join(format!("root-{key}"));
        let _lock = lock(&cache.join("lock"));
        if out.join("root").is_dir() {
            eprintln!("boot lab: reusing the cached root {}", out.display());
        } else {
            let started = Instant::now();
            eprintln!(
                "boot lab: building the root {} (no cached one for this recipe)",
                out.display()
            );
            let status = Command::new("bash")
                .arg(&script)
                .arg(&out)
                .status()
                .expect("make-root.sh runs");
            assert!(status.success(), "make-root.sh failed: {status}");
            eprintln!(
                "boot lab: built the root in {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
        BaseRoot {
            root: out.join("root"),
            etcd: out.join("etcd"),
        }
    })
}

/// An exclusive lock on `path`, held until the file is dropped.
fn lock(path: &Path) -> std::fs::File {
    use std::os::fd::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .expect("the lock file opens");
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(locked, 0, "flock {}", path.display());
    file
}

/// Lab directories are `/var/tmp/kindling-boot-*`; each names its owner's PID and tag.
const LAB_PREFIX: &str = "kindling-boot-";

/// Removes what labs of killed test runs left (their owner's PID is gone): the nodes'
/// processes (every process in their cgroups), overlay mounts, cgroups and namespaces.
fn sweep_stale_labs() {
    let Ok(entries) = std::fs::read_dir("/var/tmp") else {
        return;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        if !entry.file_name().to_string_lossy().starts_with(LAB_PREFIX) {
            continue;
        }
        let Ok(owner) = std::fs::read_to_string(dir.join("owner")) else {
            continue;
        };
        let mut fields = owner.split_whitespace();
        let (Some(pid), Some(tag)) = (fields.next(), fields.next()) else {
            continue;
        };
        if Path::new("/proc").join(pid).exists() {
            continue;
        }
        for node in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if !node.path().join("root").is_dir() {
                continue;
            }
            let cgroup = format!("{tag}-{}", node.file_name().to_string_lossy());
            for hierarchy in ["", "systemd", "unified"] {
                let path = Path::new("/sys/fs/cgroup").join(hierarchy).join(&cgroup);
                kill_cgroup(&path);
            }
            std::thread::sleep(Duration::from_millis(500));
            let _ = Command::new("umount")
                .arg(node.path().join("root"))
                .output();
            for hierarchy in ["", "systemd", "unified"] {
                remove_cgroup(&Path::new("/sys/fs/cgroup").join(hierarchy).join(&cgroup));
            }
        }
        let listed = Command::new("ip").args(["netns", "list"]).output();
        for line in listed
            .map(|o| o.stdout)
            .unwrap_or_default()
            .split(|b| *b == b'\n')
        {
            let name = String::from_utf8_lossy(line);
            if let Some(name) = name
                .split_whitespace()
                .next()
                .filter(|n| n.starts_with(&format!("{tag}-")))
            {
                let _ = Command::new("ip").args(["netns", "del", name]).output();
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// SIGKILL to every process in a cgroup and the cgroups below it.
fn kill_cgroup(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            kill_cgroup(&entry.path());
        }
    }
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    for pid in procs
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
    {
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// One node: its namespace, its overlay root and the launcher that boots it again after a
/// reboot, as systemd-nspawn@.service would.
pub struct Node {
    pub name: String,
    netns: String,
    cgroup: String,
    dir: PathBuf,
    pub root: PathBuf,
    launcher: Option<Child>,
    /// The address the node's link has only while Ignition runs (as an initramfs gets one
    /// by DHCP), for a node whose booted system configures the link itself.
    initramfs_ip: Option<String>,
    /// The node gets its address and hostname by DHCP (`use_dhcp`): it boots as `localhost`.
    dhcp: bool,
}

impl Node {
    fn console(&self) -> PathBuf {
        self.dir.join("console.log")
    }
}

pub struct Lab {
    pub dir: tempfile::TempDir,
    tag: String,
    hub: String,
    server: Option<Child>,
    /// Programs started on the hub (a Prometheus), stopped with the lab.
    hub_programs: Vec<Child>,
    /// Namespaces on the bridge that are not nodes (a machine outside the cluster).
    bystanders: Vec<String>,
    nodes: Vec<Node>,
}

impl Lab {
    /// A hub namespace with the bridge and an HTTP server for `serve_dir()` (the Matchbox
    /// role).
    pub fn new() -> Lab {
        sweep_stale_labs();
        let dir = tempfile::Builder::new()
            .prefix(LAB_PREFIX)
            .tempdir_in("/var/tmp")
            .expect("a lab directory");
        let tag = format!("kb{}", std::process::id() % 100_000);
        write(
            &dir.path().join("owner"),
            &format!("{} {tag}\n", std::process::id()),
        );
        let hub = format!("{tag}-hub");
        let mut lab = Lab {
            dir,
            tag,
            hub,
            server: None,
            hub_programs: Vec::new(),
            bystanders: Vec::new(),
            nodes: Vec::new(),
        };
        // A namespace left by a killed earlier run of this PID is removed first.
        let _ = Command::new("ip").args(["netns", "del", &lab.hub]).output();
        run("ip", &["netns", "add", &lab.hub]);
        lab.in_hub(&["ip", "link", "add", "br0", "type", "bridge"]);
        lab.in_hub(&["ip", "addr", "add", &format!("{HUB_IP}/24"), "dev", "br0"]);
        lab.in_hub(&["ip", "link", "set", "br0", "up"]);
        lab.in_hub(&["ip", "link", "set", "lo", "up"]);
        std::fs::create_dir(lab.serve_dir()).unwrap();
        lab.serve(&lab.serve_dir());
        fake_setfiles(&lab.dir.path().join("bin"));
        lab
    }

    /// What the hub serves at `http://HUB_IP:HTTP_PORT/`.
    pub fn serve_dir(&self) -> PathBuf {
        self.dir.path().join("serve")
    }

    fn in_hub(&self, command: &[&str]) {
        let mut args = vec!["netns", "exec", &self.hub];
        args.extend_from_slice(command);
        run("ip", &args);
    }

    /// `python3 -m http.server` on the hub's address, serving `dir`; returns once it answers.
    fn serve(&mut self, dir: &Path) {
        let log = std::fs::File::create(self.dir.path().join("http.log")).unwrap();
        let server = Command::new("ip")
            .args(["netns", "exec", &self.hub, "python3", "-m", "http.server"])
            .args(["--bind", HUB_IP, &HTTP_PORT.to_string(), "--directory"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("the HTTP server starts");
        self.server = Some(server);
        let probe = format!("exec 3<>/dev/tcp/{HUB_IP}/{HTTP_PORT}");
        eventually(
            Duration::from_secs(20),
            "the hub's HTTP server answers",
            || {
                Command::new("ip")
                    .args(["netns", "exec", &self.hub, "bash", "-c", &probe])
                    .output()
                    .is_ok_and(|o| o.status.success())
                    .then_some(())
            },
        );
    }

    /// A node on the bridge with `ip` on its interface `eth0` (or `None`: the link is up but
    /// unconfigured, for the node's own networkd to configure), `mac` as the link's address
    /// when given, and its root: an overlay of the base root.
    pub fn add_node(&mut self, name: &str, ip: Option<&str>, mac: Option<&str>) {
        let index = self.nodes.len();
        let netns = format!("{}-{name}", self.tag);
        let veth = format!("{}v{index}", self.tag);
        let dir = self.dir.path().join(name);
        let root = dir.join("root");
        for sub in ["upper", "work", "root", "ignition"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let _ = Command::new("ip").args(["netns", "del", &netns]).output();
        run("ip", &["netns", "add", &netns]);
        let node = Node {
            name: name.to_string(),
            cgroup: netns.clone(),
            netns,
            dir,
            root,
            launcher: None,
            initramfs_ip: ip.is_none().then(|| format!("10.77.0.{}", 200 + index)),
            dhcp: false,
        };
        self.nodes.push(node);
        let node = &self.nodes[index];
        run(
            "ip",
            &[
                "link",
                "add",
                &veth,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                &node.netns,
            ],
        );
        run("ip", &["link", "set", &veth, "netns", &self.hub]);
        self.in_hub(&["ip", "link", "set", &veth, "master", "br0", "up"]);
        let exec = |command: &[&str]| {
            let mut args = vec!["netns", "exec", &node.netns];
            args.extend_from_slice(command);
            run("ip", &args);
        };
        if let Some(ip) = ip {
            exec(&["ip", "addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
        }
        if let Some(mac) = mac {
            exec(&["ip", "link", "set", "eth0", "address", mac]);
        }
        exec(&["ip", "link", "set", "eth0", "up"]);
        exec(&["ip", "link", "set", "lo", "up"]);
        let lower = &base_root().root;
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            node.dir.join("upper").display(),
            node.dir.join("work").display()
        );
        run(
            "mount",
            &[
                "-t",
                "overlay",
                "overlay",
                "-o",
                &options,
                &node.root.to_string_lossy(),
            ],
        );
    }

    pub fn node(&self, name: &str) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name} in the lab"))
    }

    fn node_mut(&mut self, name: &str) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name} in the lab"))
    }

    /// Applies `config` to the node's root with the real Ignition, as its initramfs would:
    /// the `fetch` stage (downloads over the node's own network, hashes checked), then
    /// `files`. Panics with Ignition's log when a stage fails.
    pub fn ignite(&self, name: &str, config: &Path) {
        let node = self.node(name);
        let link = |args: &[&str]| {
            let mut command = vec!["netns", "exec", &node.netns, "ip"];
            command.extend_from_slice(args);
            run("ip", &command);
        };
        if let Some(ip) = &node.initramfs_ip {
            link(&["addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
        }
        apply_ignition(
            &node.root,
            config,
            &node.dir.join("ignition"),
            Some(&node.netns),
            &self.dir.path().join("bin"),
        );
        if let Some(ip) = &node.initramfs_ip {
            // Only this address: a flush would also remove the kernel's IPv6 link-local
            // address, without which networkd never calls the link configured.
            link(&["addr", "del", &format!("{ip}/24"), "dev", "eth0"]);
        }
    }

    /// Makes a node (added without an IP) a DHCP client, as a Flatcar machine is: its
    /// networkd asks for an address, a hostname and DNS servers (Flatcar's zz-default.network
    /// does; the lab's root has none), it boots without a hostname of its own (`localhost`,
    /// no /etc/hostname), and it resolves through the hub (`HUB_IP`, where the test runs a
    /// DNS server). Flatcar's systemd-resolved would take that server from DHCP; the lab's
    /// root has no resolved, so /etc/resolv.conf names it.
    pub fn use_dhcp(&mut self, name: &str) {
        let node = self.node(name);
        write(
            &node
                .root
                .join("etc/systemd/network/50-kindling-boot-dhcp.network"),
            "[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n\n[DHCPv4]\nUseHostname=yes\nUseDNS=yes\n",
        );
        let _ = std::fs::remove_file(node.root.join("etc/hostname"));
        let _ = std::fs::remove_file(node.root.join("etc/resolv.conf"));
        write(
            &node.root.join("etc/resolv.conf"),
            &format!("nameserver {HUB_IP}\n"),
        );
        self.node_mut(name).dhcp = true;
    }

    pub fn is_booted(&self, name: &str) -> bool {
        self.node(name).launcher.is_some()
    }

    /// Boots the node (`systemd-nspawn -b` in its namespace, in a cgroup of its own) and
    /// boots it again whenever it reboots (exit 133).
    pub fn boot(&mut self, name: &str) {
        assert!(!self.is_booted(name), "{name} is booted already");
        let launcher = super::common::repo().join("tests/boot/launch-node.sh");
        let node = self.node(name);
        let console = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.console())
            .unwrap();
        let child = Command::new("sh")
            .arg(launcher)
            .args([&node.name, &node.netns, &node.cgroup])
            .arg(&node.root)
            .arg(&node.dir)
            .arg(if node.dhcp { "localhost" } else { &node.name })
            .stdin(Stdio::null())
            .stdout(console.try_clone().unwrap())
            .stderr(console)
            .spawn()
            .expect("the node's launcher starts");
        self.node_mut(name).launcher = Some(child);
    }

    /// The node's PID 1 (the child of the running systemd-nspawn), or None between boots.
    fn init_pid(&self, name: &str) -> Option<u32> {
        let launcher = self.node(name).launcher.as_ref()?.id();
        let nspawn = children(launcher).into_iter().next()?;
        children(nspawn).into_iter().next()
    }

    /// Runs `script` with bash as a login shell (so /etc/profile.d applies) inside the
    /// node, with an empty environment; None while the node is between boots.
    pub fn try_exec(&self, name: &str, script: &str) -> Option<Output> {
        let pid = self.init_pid(name)?;
        Command::new("nsenter")
            .args(["-t", &pid.to_string(), "-a"])
            .args([
                "env",
                "-i",
                "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME=/root",
            ])
            .args(["bash", "-lc", script])
            .stdin(Stdio::null())
            .output()
            .ok()
    }

    /// Like `try_exec`, for a node that is up; panics with the output when `script` fails.
    pub fn exec(&self, name: &str, script: &str) -> String {
        let output = self
            .try_exec(name, script)
            .unwrap_or_else(|| panic!("{name} is not running"));
        assert!(
            output.status.success(),
            "on {name}: `{script}` failed: {}",
            super::common::text(&output)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Waits until the node's systemd says `running`; panics naming the failed units (with
    /// their logs) when it says `degraded`, or after `limit`.
    pub fn wait_running(&self, name: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        let state = loop {
            let state = self
                .try_exec(name, "systemctl is-system-running")
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default();
            if matches!(state.as_str(), "running" | "degraded") {
                break state;
            }
            if Instant::now() > deadline {
                let jobs = self
                    .try_exec(name, "systemctl list-jobs --no-pager; systemctl status systemd-networkd --no-pager 2>&1 | head -n 15; networkctl status eth0 --no-pager; ip addr; journalctl -b --no-pager -u systemd-networkd | tail -n 30")
                    .map(|o| super::common::text(&o))
                    .unwrap_or_else(|| "(not running)".into());
                panic!("{name} did not finish booting within {limit:?} (state {state:?}):\n{jobs}");
            }
            std::thread::sleep(Duration::from_millis(300));
        };
        if state == "degraded" {
            let failed = self.exec(
                name,
                "systemctl --failed --no-legend --plain; for u in $(systemctl --failed --no-legend --plain | cut -d' ' -f1); do journalctl -b -u \"$u\" --no-pager | tail -n 20; done",
            );
            panic!("{name} booted degraded, failed units:\n{failed}");
        }
    }

    /// Runs `script` on the hub (the operator's seat, outside every node).
    pub fn on_hub(&self, script: &str) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.hub, "bash", "-c", script])
            .stdin(Stdio::null())
            .output()
            .expect("ip netns exec runs")
    }

    /// Starts watching `addresses` (`IP:PORT`) from the hub: every 100 ms, which of them
    /// accept a TCP connection.
    pub fn watch(&self, addresses: Vec<std::net::SocketAddr>) -> Watcher {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let hub =
            std::fs::File::open(format!("/run/netns/{}", self.hub)).expect("the hub's namespace");
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || watch_from(hub, &addresses, &stopped));
        Watcher { stop, thread }
    }

    /// Starts `program` with `args` on the hub in the background, its output in `log` under
    /// the lab directory; it is stopped with the lab.
    pub fn spawn_on_hub(&mut self, program: &str, args: &[&str], log: &str) {
        let log = std::fs::File::create(self.dir.path().join(log)).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.hub, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("the program starts on the hub");
        self.hub_programs.push(child);
    }

    /// A machine on the bridge at `ip` that is no node: a namespace with one link, nothing
    /// running in it.
    pub fn add_bystander(&mut self, name: &str, ip: &str) {
        let netns = format!("{}-{name}", self.tag);
        let veth = format!("{}b{}", self.tag, self.bystanders.len());
        let _ = Command::new("ip").args(["netns", "del", &netns]).output();
        run("ip", &["netns", "add", &netns]);
        run(
            "ip",
            &[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &netns,
            ],
        );
        run("ip", &["link", "set", &veth, "netns", &self.hub]);
        self.in_hub(&["ip", "link", "set", &veth, "master", "br0", "up"]);
        for command in [
            vec!["ip", "addr", "add", &format!("{ip}/24"), "dev", "eth0"],
            vec!["ip", "link", "set", "eth0", "up"],
            vec!["ip", "link", "set", "lo", "up"],
        ] {
            let mut args = vec!["netns", "exec", &netns];
            args.extend(command);
            run("ip", &args);
        }
        self.bystanders.push(netns);
    }

    /// Runs `script` in the bystander `name`'s namespace.
    pub fn on_bystander(&self, name: &str, script: &str) -> Output {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &format!("{}-{name}", self.tag),
                "bash",
                "-c",
                script,
            ])
            .stdin(Stdio::null())
            .output()
            .expect("ip netns exec runs")
    }

    /// How many times the node rebooted.
    pub fn reboots(&self, name: &str) -> usize {
        std::fs::read_to_string(self.node(name).dir.join("reboots"))
            .map(|text| text.lines().count())
            .unwrap_or(0)
    }

    /// Stops the node for good: no reboot follows.
    pub fn stop(&mut self, name: &str) {
        let pid = self.init_pid(name);
        let node = self.node_mut(name);
        std::fs::write(node.dir.join("stop"), "").unwrap();
        if let Some(pid) = pid {
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        if let Some(mut launcher) = node.launcher.take() {
            let deadline = Instant::now() + Duration::from_secs(30);
            while launcher.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = launcher.kill();
            let _ = launcher.wait();
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let names: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        for name in &names {
            self.stop(name);
        }
        for node in &self.nodes {
            let _ = Command::new("umount").arg(&node.root).output();
            let _ = Command::new("ip")
                .args(["netns", "del", &node.netns])
                .output();
            for hierarchy in ["", "systemd", "unified"] {
                remove_cgroup(
                    &Path::new("/sys/fs/cgroup")
                        .join(hierarchy)
                        .join(&node.cgroup),
                );
            }
        }
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
        for mut program in self.hub_programs.drain(..) {
            let _ = program.kill();
            let _ = program.wait();
        }
        for netns in &self.bystanders {
            let _ = Command::new("ip").args(["netns", "del", netns]).output();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.hub])
            .output();
    }
}

/// A thread sampling which addresses accept connections, in the hub's network namespace.
pub struct Watcher {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Samples>,
}

/// What a watcher saw: the most addresses down in one sample, and each change, as
/// (milliseconds since the start, the addresses down).
#[derive(Debug)]
pub struct Samples {
    pub most_down: usize,
    pub changes: Vec<(u128, Vec<std::net::SocketAddr>)>,
}

impl Watcher {
    pub fn finish(self) -> Samples {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().expect("the watcher ends")
    }
}

fn watch_from(
    hub: std::fs::File,
    addresses: &[std::net::SocketAddr],
    stop: &std::sync::atomic::AtomicBool,
) -> Samples {
    use std::os::fd::AsRawFd;
    // setns moves only this thread into the hub's network namespace.
    let entered = unsafe { libc::setns(hub.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(entered, 0, "setns into the hub's namespace");
    let started = Instant::now();
    let mut samples = Samples {
        most_down: 0,
        changes: Vec::new(),
    };
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let down: Vec<std::net::SocketAddr> = addresses
            .iter()
            .filter(|a| {
                std::net::TcpStream::connect_timeout(a, Duration::from_millis(200)).is_err()
            })
            .copied()
            .collect();
        samples.most_down = samples.most_down.max(down.len());
        if samples.changes.last().is_none_or(|(_, last)| *last != down) {
            samples.changes.push((started.elapsed().as_millis(), down));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    samples
}

/// Debian's Ignition relabels what it wrote with `setfiles`; the roots have SELinux off, so
/// `bin` gets a `setfiles` that does nothing, for PATH.
pub fn fake_setfiles(bin: &Path) {
    std::fs::create_dir_all(bin).unwrap();
    let setfiles = bin.join("setfiles");
    std::fs::write(&setfiles, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&setfiles, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Applies `config` with the real Ignition into `root`; panics with its log when it fails.
pub fn apply_ignition(root: &Path, config: &Path, state: &Path, netns: Option<&str>, bin: &Path) {
    if let Err(log) = try_apply_ignition(root, config, state, netns, bin) {
        panic!("Ignition failed for {}:\n{log}", config.display());
    }
}

/// Applies `config` with the real Ignition into `root` (`fetch`, then `files`), in the
/// network namespace `netns` when given; `state` holds Ignition's cache and logs. Err is
/// the log of the stage that failed.
pub fn try_apply_ignition(
    root: &Path,
    config: &Path,
    state: &Path,
    netns: Option<&str>,
    bin: &Path,
) -> Result<(), String> {
    std::fs::create_dir_all(state).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for stage in ["fetch", "files"] {
        let mut command = match netns {
            Some(netns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", netns, IGNITION]);
                c
            }
            None => Command::new(IGNITION),
        };
        let output = command
            .env("PATH", &path)
            .env("IGNITION_CONFIG_FILE", config)
            .args([
                "-platform",
                "file",
                "-stage",
                stage,
                "-log-to-stdout",
                "-root",
            ])
            .arg(root)
            .arg("-config-cache")
            .arg(state.join("config.json"))
            .arg("-state-file")
            .arg(state.join("state"))
            .arg("-neednet")
            .arg(state.join("neednet"))
            .output()
            .expect("ignition runs");
        let log = super::common::text(&output);
        std::fs::write(state.join(format!("{stage}.log")), &log).unwrap();
        if !output.status.success() {
            return Err(format!("ignition -stage {stage}: {log}"));
        }
    }
    Ok(())
}

/// Retries `probe` every 300 ms until it returns a value, or panics naming `what` after
/// `limit`.
pub fn eventually<T>(limit: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Removes a cgroup directory and the ones the node's systemd made inside it, deepest first.
fn remove_cgroup(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup(&entry.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// Runs a set-up command; panics with its output when it fails.
pub fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} cannot run: {e}"));
    assert!(
        output.status.success(),
        "{program} {}: {}",
        args.join(" "),
        super::common::text(&output)
    );
}

/// Writes `text` to `path` (for generated specs and test inputs).
pub fn write(path: &Path, text: &str) {
    let mut file = std::fs::File::create(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}
