//! Bad input through the real binary: every spec rule has a failing case here asserting its
//! code and spec line, exit code 1, and that the output directory is left exactly as it was.

mod common;

use std::path::Path;

use common::{kindling, scratch_copy, snapshot};

/// A damaged copy of golden/three-node: `(old, new)` replacements in cluster.yaml.
struct Case {
    name: &'static str,
    edits: &'static [(&'static str, &'static str)],
    code: &'static str,
    /// The spec line the error must point at (None: the error is not in the spec text).
    line: Option<u64>,
}

const NODE1: &str = "  - { name: etcd1, ip: 10.0.0.11, mac: \"52:54:00:00:00:11\" }";
const NODE2: &str = "  - { name: etcd2, ip: 10.0.0.12, mac: \"52:54:00:00:00:12\" }";
const ETCD: &str = "  version: v3.5.21\n";

const CASES: &[Case] = &[
    Case {
        name: "unknown key",
        edits: &[("  name: k8s0\n", "  name: k8s0\n  nmae: x\n")],
        code: "spec.unknown-key",
        line: Some(5),
    },
    Case {
        name: "duplicate key",
        edits: &[("  gomaxprocs: 2\n", "  gomaxprocs: 2\n  gomaxprocs: 3\n")],
        code: "spec.duplicate-key",
        line: Some(9),
    },
    Case {
        name: "wrong type",
        edits: &[("  gomaxprocs: 2\n", "  gomaxprocs: lots\n")],
        code: "spec.type",
        line: Some(8),
    },
    Case {
        name: "missing key",
        edits: &[(
            "  base_url: http://matchbox.example.com:8080/assets/extensions\n",
            "",
        )],
        code: "spec.missing-key",
        line: None,
    },
    Case {
        name: "spec version",
        edits: &[("version: 1\n", "version: 7\n")],
        code: "spec.version",
        line: Some(2),
    },
    Case {
        name: "bad cluster name",
        edits: &[("  name: k8s0\n", "  name: K8S_0\n")],
        code: "spec.cluster-name",
        line: Some(4),
    },
    Case {
        name: "bad domain",
        edits: &[(
            "  name: k8s0\n",
            "  name: k8s0\n  domain: bad_domain..lan\n",
        )],
        code: "spec.domain",
        line: Some(5),
    },
    Case {
        name: "bad token",
        edits: &[("  name: k8s0\n", "  name: k8s0\n  token: \"a b\"\n")],
        code: "spec.token",
        line: Some(5),
    },
    Case {
        name: "bad state",
        edits: &[("  name: k8s0\n", "  name: k8s0\n  state: joining\n")],
        code: "spec.cluster-state",
        line: Some(5),
    },
    Case {
        name: "ignition version",
        edits: &[("  name: k8s0\n", "  name: k8s0\n  ignition: 3.2.0\n")],
        code: "spec.ignition-version",
        line: Some(5),
    },
    Case {
        name: "bad node name",
        edits: &[("name: etcd2,", "name: Etcd_2,")],
        code: "spec.node-name",
        line: Some(21),
    },
    Case {
        name: "bad ip",
        edits: &[("ip: 10.0.0.12,", "ip: 10.0.0.312,")],
        code: "spec.ip",
        line: Some(21),
    },
    Case {
        name: "bad mac",
        edits: &[("52:54:00:00:00:12", "52:54:00:00:12")],
        code: "spec.mac",
        line: Some(21),
    },
    Case {
        name: "bad subnet",
        edits: &[("10.0.0.0/24", "10.0.0.0/33")],
        code: "spec.subnet",
        line: Some(17),
    },
    Case {
        name: "ip outside subnet",
        edits: &[("ip: 10.0.0.12,", "ip: 10.0.1.12,")],
        code: "spec.ip-outside-subnet",
        line: Some(21),
    },
    Case {
        name: "duplicate node name",
        edits: &[("name: etcd2,", "name: etcd1,")],
        code: "spec.duplicate-node-name",
        line: Some(21),
    },
    Case {
        name: "duplicate ip",
        edits: &[("ip: 10.0.0.12,", "ip: 10.0.0.11,")],
        code: "spec.duplicate-ip",
        line: Some(21),
    },
    Case {
        name: "duplicate mac",
        edits: &[("52:54:00:00:00:12", "52-54-00-00-00-11")],
        code: "spec.duplicate-mac",
        line: Some(21),
    },
    Case {
        name: "a joining node in a brand-new cluster",
        edits: &[(NODE2, "  - { name: etcd2, ip: 10.0.0.12, join: true }")],
        code: "spec.join-new-cluster",
        line: Some(21),
    },
    Case {
        name: "two nodes joining at once",
        edits: &[
            ("  name: k8s0\n", "  name: k8s0\n  state: existing\n"),
            (NODE1, "  - { name: etcd1, ip: 10.0.0.11, join: true }"),
            (NODE2, "  - { name: etcd2, ip: 10.0.0.12, join: true }"),
        ],
        code: "spec.join-several",
        line: Some(22),
    },
    Case {
        name: "every node joining",
        edits: &[
            ("  name: k8s0\n", "  name: k8s0\n  state: existing\n"),
            (
                "nodes:\n",
                "nodes:\n  - { name: etcd0, ip: 10.0.0.10, join: true }\n",
            ),
            (NODE1, ""),
            (NODE2, ""),
            (
                "  - { name: etcd3, ip: 10.0.0.13, mac: \"52:54:00:00:00:13\" }",
                "",
            ),
        ],
        code: "spec.join-alone",
        line: Some(21),
    },
    Case {
        name: "backup into the data directory",
        edits: &[(
            "nodes:\n",
            "backup: { dir: /var/lib/etcd/backup }\nnodes:\n",
        )],
        code: "backup.dir",
        line: Some(19),
    },
    Case {
        name: "backup dir that is not absolute",
        edits: &[("nodes:\n", "backup: { dir: backups }\nnodes:\n")],
        code: "backup.dir",
        line: Some(19),
    },
    Case {
        name: "backup schedule that injects a line",
        edits: &[(
            "nodes:\n",
            "backup: { schedule: \"daily\\nExecStart=/bin/sh\" }\nnodes:\n",
        )],
        code: "backup.schedule",
        line: Some(19),
    },
    Case {
        name: "backup keeping nothing",
        edits: &[("nodes:\n", "backup: { keep: 0 }\nnodes:\n")],
        code: "backup.keep",
        line: Some(19),
    },
    Case {
        name: "defrag schedule systemd cannot read",
        edits: &[(
            "nodes:\n",
            "defrag: { schedule: \"every sunday\" }\nnodes:\n",
        )],
        code: "defrag.schedule",
        line: Some(19),
    },
    Case {
        name: "defrag whatever the free space",
        edits: &[("nodes:\n", "defrag: { min_free_bytes: 0 }\nnodes:\n")],
        code: "defrag.min-free",
        line: Some(19),
    },
    Case {
        name: "defrag past the quota",
        edits: &[(
            "nodes:\n",
            "defrag: { min_free_bytes: 2147483648 }\nnodes:\n",
        )],
        code: "defrag.min-free",
        line: Some(19),
    },
    Case {
        name: "roll lock ttl too short",
        edits: &[("nodes:\n", "updates: { lock_ttl_seconds: 5 }\nnodes:\n")],
        code: "updates.lock-ttl",
        line: Some(19),
    },
    Case {
        name: "client certificate with a path in its name",
        edits: &[(
            "  dir: pki\n",
            "  dir: pki\n  clients: [{ name: ../apiserver }]\n",
        )],
        code: "tls.client-name",
        line: Some(15),
    },
    Case {
        name: "client certificate named etcdctl",
        edits: &[(
            "  dir: pki\n",
            "  dir: pki\n  clients: [{ name: etcdctl }]\n",
        )],
        code: "tls.client-name",
        line: Some(15),
    },
    Case {
        name: "client certificate declared twice",
        edits: &[(
            "  dir: pki\n",
            "  dir: pki\n  clients: [{ name: backup }, { name: backup }]\n",
        )],
        code: "tls.client-name",
        line: Some(15),
    },
    Case {
        name: "client organisation with a control character",
        edits: &[(
            "  dir: pki\n",
            "  dir: pki\n  clients: [{ name: api, organization: \"a\\tb\" }]\n",
        )],
        code: "tls.client-organization",
        line: Some(15),
    },
    Case {
        name: "no nodes",
        edits: &[
            (NODE1, ""),
            (NODE2, ""),
            (
                "  - { name: etcd3, ip: 10.0.0.13, mac: \"52:54:00:00:00:13\" }",
                "",
            ),
            ("nodes:\n", "nodes: []\n"),
        ],
        code: "spec.no-nodes",
        line: Some(19),
    },
    Case {
        name: "bad ssh key",
        edits: &[("  - ssh-ed25519 AAAA", "  - ssh-foo AAAA")],
        code: "spec.ssh-key",
        line: Some(16),
    },
    Case {
        name: "etcd version",
        edits: &[(ETCD, "  version: 3.5.21\n")],
        code: "etcd.version",
        line: Some(7),
    },
    Case {
        name: "port clash",
        edits: &[(ETCD, "  version: v3.5.21\n  ports: { client: 2380 }\n")],
        code: "etcd.port-clash",
        line: Some(8),
    },
    Case {
        name: "port zero",
        edits: &[(ETCD, "  version: v3.5.21\n  ports: { metrics: 0 }\n")],
        code: "etcd.port",
        line: Some(8),
    },
    Case {
        name: "port out of range",
        edits: &[(ETCD, "  version: v3.5.21\n  ports: { peer: 70000 }\n")],
        code: "spec.type",
        line: Some(8),
    },
    Case {
        name: "heartbeat zero",
        edits: &[(ETCD, "  version: v3.5.21\n  heartbeat_ms: 0\n")],
        code: "etcd.heartbeat",
        line: Some(8),
    },
    Case {
        name: "election below 5x heartbeat",
        edits: &[(
            ETCD,
            "  version: v3.5.21\n  heartbeat_ms: 300\n  election_timeout_ms: 1000\n",
        )],
        code: "etcd.election-timeout",
        line: Some(9),
    },
    Case {
        name: "election above 50000",
        edits: &[(ETCD, "  version: v3.5.21\n  election_timeout_ms: 60000\n")],
        code: "etcd.election-timeout",
        line: Some(8),
    },
    Case {
        name: "log level",
        edits: &[(ETCD, "  version: v3.5.21\n  log_level: verbose\n")],
        code: "etcd.log-level",
        line: Some(8),
    },
    Case {
        name: "compaction mode",
        edits: &[(
            ETCD,
            "  version: v3.5.21\n  auto_compaction_retention: 1h\n  auto_compaction_mode: hourly\n",
        )],
        code: "etcd.compaction-mode",
        line: Some(9),
    },
    Case {
        name: "metrics listen",
        edits: &[(ETCD, "  version: v3.5.21\n  metrics_listen: everywhere\n")],
        code: "etcd.metrics-listen",
        line: Some(8),
    },
    Case {
        name: "env unknown",
        edits: &[(
            "ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK",
            "ETCD_EXPERIMENTAL_INITIAL_CORUPT_CHECK",
        )],
        code: "etcd.env-unknown",
        line: Some(9),
    },
    Case {
        name: "env of another release",
        edits: &[(
            "ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK",
            "ETCD_FEATURE_GATES",
        )],
        code: "etcd.env-unknown",
        line: Some(9),
    },
    Case {
        name: "env reserved",
        edits: &[(
            "ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK: \"true\"",
            "ETCD_INITIAL_CLUSTER: x",
        )],
        code: "etcd.env-reserved",
        line: Some(9),
    },
    Case {
        name: "container profile without an image",
        edits: &[("profile: flatcar-sysext", "profile: flatcar-container")],
        code: "container.missing",
        line: Some(5),
    },
    Case {
        name: "container image by tag only",
        edits: &[(
            "nodes:\n",
            "container: { image: \"gcr.io/etcd-development/etcd:v3.5.21\" }\nnodes:\n",
        )],
        code: "container.image-unpinned",
        line: Some(19),
    },
    Case {
        name: "container image of another release",
        edits: &[(
            "nodes:\n",
            "container: { image: \"gcr.io/etcd-development/etcd:v3.5.20@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" }\nnodes:\n",
        )],
        code: "container.image-version",
        line: Some(19),
    },
    Case {
        name: "container image injecting an argument",
        edits: &[(
            "nodes:\n",
            "container: { image: \"etcd:v3.5.21 --privileged\" }\nnodes:\n",
        )],
        code: "container.image",
        line: Some(19),
    },
    Case {
        name: "static-pod profile without a kubelet",
        edits: &[
            ("profile: flatcar-sysext", "profile: kubeadm-static-pod"),
            (
                "nodes:\n",
                "container: { image: \"registry.k8s.io/etcd:3.5.21-0@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" }\nnodes:\n",
            ),
        ],
        code: "kubelet.missing",
        line: Some(5),
    },
    Case {
        name: "kubelet older than its config file format",
        edits: &[(
            "nodes:\n",
            "kubelet: { version: v1.26.3, sysext: { base_url: \"http://x/\", sha256sums: SHA256SUMS } }\nnodes:\n",
        )],
        code: "kubelet.version",
        line: Some(19),
    },
    Case {
        name: "kubelet image with no way to verify it",
        edits: &[(
            "nodes:\n",
            "kubelet: { version: v1.34.2, sysext: { base_url: \"http://x/\" } }\nnodes:\n",
        )],
        code: "sysext.hash-missing",
        line: Some(19),
    },
    Case {
        name: "kubelet image without a SHA256SUMS line",
        edits: &[(
            "nodes:\n",
            "kubelet: { version: v1.34.2, sysext: { base_url: \"http://x/\", sha256sums: SHA256SUMS } }\nnodes:\n",
        )],
        code: "sysext.sha256sums-entry",
        line: Some(19),
    },
    Case {
        name: "kubelet image updates (kindling does not roll the kubelet)",
        edits: &[(
            "nodes:\n",
            "kubelet:\n  version: v1.34.2\n  sysext: { base_url: \"http://x/\", allow_unverified: true, update: {} }\nnodes:\n",
        )],
        code: "spec.unknown-key",
        line: Some(21),
    },
    Case {
        name: "config mode",
        edits: &[("  gomaxprocs: 2\n", "  gomaxprocs: 2\n  config: yaml\n")],
        code: "etcd.config",
        line: Some(9),
    },
    Case {
        name: "setting a config file cannot hold",
        edits: &[
            ("  gomaxprocs: 2\n", "  gomaxprocs: 2\n  config: file\n"),
            (
                "ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK: \"true\"",
                "ETCD_CLIENT_CRL_FILE: /etc/etcd/crl.pem",
            ),
        ],
        code: "etcd.config-file-setting",
        line: Some(10),
    },
    Case {
        name: "env name",
        edits: &[("ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK", "etcd_log_level")],
        code: "etcd.env-name",
        line: Some(9),
    },
    Case {
        name: "env value injects a line",
        edits: &[(
            "ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK: \"true\"",
            "ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK: \"true\\nETCD_FORCE_NEW_CLUSTER=true\"",
        )],
        code: "etcd.env-value",
        line: Some(9),
    },
    Case {
        name: "socket clash on a shared host",
        edits: &[
            ("ip: 10.0.0.11,", "ip: 127.0.0.1,"),
            ("ip: 10.0.0.12,", "ip: 127.0.0.2,"),
            ("ip: 10.0.0.13,", "ip: 127.0.0.3,"),
            ("10.0.0.0/24", "127.0.0.0/8"),
        ],
        code: "etcd.socket-clash",
        line: Some(21),
    },
    Case {
        name: "base url scheme",
        edits: &[("http://matchbox", "ftp://matchbox")],
        code: "sysext.base-url",
        line: Some(11),
    },
    Case {
        name: "base url injects a line",
        edits: &[("/assets/extensions\n", "/assets/extensions?x=1\n")],
        code: "sysext.base-url",
        line: Some(11),
    },
    Case {
        name: "arch",
        edits: &[(
            "  sha256sums: SHA256SUMS\n",
            "  sha256sums: SHA256SUMS\n  arch: amd64\n",
        )],
        code: "sysext.arch",
        line: Some(13),
    },
    Case {
        name: "no hash",
        edits: &[("  sha256sums: SHA256SUMS\n", "")],
        code: "sysext.hash-missing",
        line: Some(11),
    },
    Case {
        name: "no sums entry",
        edits: &[(ETCD, "  version: v3.5.99\n")],
        code: "sysext.sha256sums-entry",
        line: Some(12),
    },
    Case {
        name: "sums unreadable",
        edits: &[("sha256sums: SHA256SUMS", "sha256sums: MISSING-SUMS")],
        code: "sysext.sha256sums-unreadable",
        line: Some(12),
    },
    Case {
        name: "image hash mismatch",
        edits: &[(
            "  sha256sums: SHA256SUMS\n",
            "  sha256sums: SHA256SUMS\n  image: cluster.yaml\n",
        )],
        code: "sysext.hash-mismatch",
        line: Some(13),
    },
    Case {
        name: "image unreadable",
        edits: &[("  sha256sums: SHA256SUMS\n", "  image: nothing-here.raw\n")],
        code: "sysext.image-unreadable",
        line: Some(12),
    },
    Case {
        name: "on change",
        edits: &[(
            "  sha256sums: SHA256SUMS\n",
            "  sha256sums: SHA256SUMS\n  update: { on_change: explode }\n",
        )],
        code: "sysext.on-change",
        line: Some(13),
    },
    Case {
        name: "track",
        edits: &[(
            "  sha256sums: SHA256SUMS\n",
            "  sha256sums: SHA256SUMS\n  update: { track: latest }\n",
        )],
        code: "sysext.track",
        line: Some(13),
    },
    Case {
        name: "instances max",
        edits: &[(
            "  sha256sums: SHA256SUMS\n",
            "  sha256sums: SHA256SUMS\n  update: { instances_max: 1 }\n",
        )],
        code: "sysext.instances-max",
        line: Some(13),
    },
    Case {
        name: "yaml 1.1 boolean",
        edits: &[(
            "  sha256sums: SHA256SUMS\n",
            "  sha256sums: SHA256SUMS\n  update: { enabled: no }\n",
        )],
        code: "spec.type",
        line: Some(13),
    },
    Case {
        name: "ambiguous key mode",
        edits: &[("  dir: pki\n", "  dir: pki\n  key_mode: 600\n")],
        code: "tls.key-mode",
        line: Some(15),
    },
    Case {
        name: "readable key mode",
        edits: &[("  dir: pki\n", "  dir: pki\n  key_mode: \"0644\"\n")],
        code: "tls.key-mode",
        line: Some(15),
    },
    Case {
        name: "zero validity",
        edits: &[("  dir: pki\n", "  dir: pki\n  leaf_days: 0\n")],
        code: "tls.days",
        line: Some(15),
    },
    Case {
        name: "tls files missing",
        edits: &[("  dir: pki\n", "  dir: no-such-pki\n")],
        code: "tls.missing",
        line: Some(14),
    },
    Case {
        name: "unknown profile",
        edits: &[("profile: flatcar-sysext", "profile: flatcar-sysextt")],
        code: "profile.unknown",
        line: Some(5),
    },
    Case {
        name: "override of a cluster-wide setting",
        edits: &[(
            "  - { name: etcd1, ip: 10.0.0.11, mac: \"52:54:00:00:00:11\" }",
            "  - { name: etcd1, ip: 10.0.0.11, mac: \"52:54:00:00:00:11\", overrides: { etcd: { heartbeat_ms: 50 } } }",
        )],
        code: "spec.misplaced-key",
        line: Some(20),
    },
    Case {
        name: "addressing",
        edits: &[(
            "network: { subnet: 10.0.0.0/24 }",
            "network: { subnet: 10.0.0.0/24, addressing: manual }",
        )],
        code: "spec.addressing",
        line: Some(17),
    },
    Case {
        name: "static without a subnet",
        edits: &[(
            "network: { subnet: 10.0.0.0/24 }",
            "network: { addressing: static }",
        )],
        code: "spec.network-static",
        line: Some(17),
    },
    Case {
        name: "gateway with dhcp",
        edits: &[(
            "network: { subnet: 10.0.0.0/24 }",
            "network: { subnet: 10.0.0.0/24, gateway: 10.0.0.1 }",
        )],
        code: "spec.network-dhcp",
        line: Some(17),
    },
    Case {
        name: "node network override with dhcp",
        edits: &[(
            "  - { name: etcd1, ip: 10.0.0.11, mac: \"52:54:00:00:00:11\" }",
            "  - { name: etcd1, ip: 10.0.0.11, mac: \"52:54:00:00:00:11\", overrides: { network: { interface: eno1 } } }",
        )],
        code: "spec.network-dhcp",
        line: Some(20),
    },
    Case {
        name: "gateway outside the subnet",
        edits: &[(
            "network: { subnet: 10.0.0.0/24 }",
            "network: { subnet: 10.0.0.0/24, addressing: static, gateway: 10.1.0.1 }",
        )],
        code: "spec.gateway",
        line: Some(17),
    },
    Case {
        name: "gateway is a member",
        edits: &[(
            "network: { subnet: 10.0.0.0/24 }",
            "network: { subnet: 10.0.0.0/24, addressing: static, gateway: 10.0.0.11 }",
        )],
        code: "spec.gateway",
        line: Some(17),
    },
    Case {
        name: "dns server not an address",
        edits: &[(
            "network: { subnet: 10.0.0.0/24 }",
            "network: { subnet: 10.0.0.0/24, addressing: static, dns: [ns1] }",
        )],
        code: "spec.dns",
        line: Some(17),
    },
    Case {
        name: "search domain",
        edits: &[(
            "network: { subnet: 10.0.0.0/24 }",
            "network: { subnet: 10.0.0.0/24, addressing: static, search_domains: [\"-lab\"] }",
        )],
        code: "spec.search-domain",
        line: Some(17),
    },
    Case {
        name: "interface name",
        edits: &[(
            "network: { subnet: 10.0.0.0/24 }",
            "network: { subnet: 10.0.0.0/24, addressing: static, interface: \"eth 0\" }",
        )],
        code: "spec.interface",
        line: Some(17),
    },
    Case {
        name: "static node without mac or interface",
        edits: &[
            (
                "network: { subnet: 10.0.0.0/24 }",
                "network: { subnet: 10.0.0.0/24, addressing: static }",
            ),
            (
                "  - { name: etcd1, ip: 10.0.0.11, mac: \"52:54:00:00:00:11\" }",
                "  - { name: etcd1, ip: 10.0.0.11 }",
            ),
        ],
        code: "spec.network-match",
        line: Some(20),
    },
    Case {
        name: "matchbox override without matchbox",
        edits: &[
            (
                "matchbox: { url: http://matchbox.example.com:8080, version: 4230.2.3 }",
                "# no matchbox",
            ),
            (
                "  - { name: etcd1, ip: 10.0.0.11, mac: \"52:54:00:00:00:11\" }",
                "  - { name: etcd1, ip: 10.0.0.11, mac: \"52:54:00:00:00:11\", overrides: { matchbox: { install_disk: /dev/sda } } }",
            ),
        ],
        code: "spec.matchbox-override",
        line: Some(20),
    },
    Case {
        name: "install disk override",
        edits: &[(
            "  - { name: etcd1, ip: 10.0.0.11, mac: \"52:54:00:00:00:11\" }",
            "  - { name: etcd1, ip: 10.0.0.11, mac: \"52:54:00:00:00:11\", overrides: { matchbox: { install_disk: sda } } }",
        )],
        code: "matchbox.install-disk",
        line: Some(20),
    },
    Case {
        name: "log level override",
        edits: &[(
            "  - { name: etcd1, ip: 10.0.0.11, mac: \"52:54:00:00:00:11\" }",
            "  - { name: etcd1, ip: 10.0.0.11, mac: \"52:54:00:00:00:11\", overrides: { etcd: { log_level: loud } } }",
        )],
        code: "etcd.log-level",
        line: Some(20),
    },
    Case {
        name: "env override unknown",
        edits: &[(
            "  - { name: etcd1, ip: 10.0.0.11, mac: \"52:54:00:00:00:11\" }",
            "  - { name: etcd1, ip: 10.0.0.11, mac: \"52:54:00:00:00:11\", overrides: { etcd: { env: { ETCD_SNAPSHOT_COUNTT: \"5\" } } } }",
        )],
        code: "etcd.env-unknown",
        line: Some(20),
    },
    Case {
        name: "ssh key override",
        edits: &[(
            "  - { name: etcd1, ip: 10.0.0.11, mac: \"52:54:00:00:00:11\" }",
            "  - { name: etcd1, ip: 10.0.0.11, mac: \"52:54:00:00:00:11\", overrides: { ssh_authorized_keys: [nonsense] } }",
        )],
        code: "spec.ssh-key",
        line: Some(20),
    },
    Case {
        name: "empty snippet path",
        edits: &[("nodes:\n", "snippets: [\"\"]\nnodes:\n")],
        code: "spec.snippet-path",
        line: Some(19),
    },
    Case {
        name: "snippet replaces",
        edits: &[(
            "nodes:\n",
            "snippets: [{ path: x.bu, replaces: [hostname] }]\nnodes:\n",
        )],
        code: "spec.snippet-replaces",
        line: Some(19),
    },
    Case {
        name: "snippet entry key",
        edits: &[(
            "nodes:\n",
            "snippets: [{ path: x.bu, replace: [/etc/hostname] }]\nnodes:\n",
        )],
        code: "spec.unknown-key",
        line: Some(19),
    },
    Case {
        name: "snippet missing",
        edits: &[("nodes:\n", "snippets: [missing.bu]\nnodes:\n")],
        code: "snippet.unreadable",
        line: Some(19),
    },
    Case {
        name: "yaml syntax",
        edits: &[("nodes:\n", "nodes: [\n")],
        code: "spec.syntax",
        line: None,
    },
];

/// The first error of a `--format json` report: on stdout, or on stderr when stdout
/// carries a config (`render -o -`).
fn first_finding(output: &std::process::Output) -> serde_json::Value {
    let stream = if output.stdout.is_empty() {
        &output.stderr
    } else {
        &output.stdout
    };
    let findings: serde_json::Value = serde_json::from_slice(stream).unwrap_or_else(|e| {
        panic!(
            "the report is not JSON ({e}): {}",
            String::from_utf8_lossy(stream)
        )
    });
    findings
        .as_array()
        .and_then(|all| all.iter().find(|f| f["severity"] == "error"))
        .cloned()
        .unwrap_or_default()
}

fn prefilled_output(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("etcd1.ign"), b"previous run\n").unwrap();
    std::fs::write(out.join("unrelated.txt"), b"keep me\n").unwrap();
    out
}

#[test]
fn every_bad_spec_is_refused_with_its_code_and_line_and_nothing_written() {
    let mut failures = Vec::new();
    for case in CASES {
        let dir = scratch_copy("three-node");
        let spec_path = dir.path().join("cluster.yaml");
        let mut text = std::fs::read_to_string(&spec_path).unwrap();
        for (old, new) in case.edits {
            assert!(
                text.contains(old),
                "{}: edit target {old:?} not in the spec",
                case.name
            );
            text = text.replacen(old, new, 1);
        }
        std::fs::write(&spec_path, text).unwrap();
        let out = prefilled_output(dir.path());
        let before = snapshot(&out);
        let output = kindling()
            .args(["--format", "json", "render"])
            .arg(&spec_path)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        if output.status.code() != Some(1) {
            failures.push(format!(
                "{}: exit {:?}, not 1: {}",
                case.name,
                output.status.code(),
                String::from_utf8_lossy(&output.stderr)
            ));
            continue;
        }
        let finding = first_finding(&output);
        let got = (
            output.status.code(),
            finding["code"].as_str().map(str::to_string),
            finding["line"].as_u64(),
        );
        let want = (Some(1), Some(case.code.to_string()), case.line);
        let line_ok = case.line.is_none() || got.2 == want.2;
        if got.0 != want.0 || got.1 != want.1 || !line_ok {
            failures.push(format!(
                "{}: want {want:?}, got {got:?}: {finding}",
                case.name
            ));
        }
        if case.line.is_some()
            && !finding["file"]
                .as_str()
                .is_some_and(|f| f.ends_with(".yaml") || f.ends_with("SUMS"))
        {
            failures.push(format!(
                "{}: finding names no spec file: {finding}",
                case.name
            ));
        }
        if snapshot(&out) != before {
            failures.push(format!("{}: the output directory changed", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn human_errors_quote_the_line_and_give_a_hint() {
    let dir = scratch_copy("three-node");
    let spec_path = dir.path().join("cluster.yaml");
    let text = std::fs::read_to_string(&spec_path)
        .unwrap()
        .replace("ip: 10.0.0.12,", "ip: 10.0.0.11,");
    std::fs::write(&spec_path, text).unwrap();
    let output = kindling()
        .arg("render")
        .arg(&spec_path)
        .arg("-o")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("error[spec.duplicate-ip]: duplicate IP address 10.0.0.11"),
        "{stderr}"
    );
    assert!(stderr.contains("cluster.yaml:21:24"), "{stderr}");
    assert!(
        stderr.contains("21 |   - { name: etcd2, ip: 10.0.0.11,"),
        "{stderr}"
    );
    assert!(
        stderr.contains("= help: IP address 10.0.0.11 is already used at line 20"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("out").exists(),
        "nothing is created on error"
    );
}

#[test]
fn a_bad_sha256sums_line_is_located_in_that_file() {
    let dir = scratch_copy("three-node");
    std::fs::write(
        dir.path().join("SHA256SUMS"),
        "deadbeef  etcd-v3.5.21-x86-64.raw\n",
    )
    .unwrap();
    let output = kindling()
        .args(["--format", "json", "render"])
        .arg(dir.path().join("cluster.yaml"))
        .args(["-o", "-", "--node", "etcd1"])
        .output()
        .unwrap();
    let finding = first_finding(&output);
    assert_eq!(finding["code"], "sysext.sha256sums-format");
    assert!(finding["file"].as_str().unwrap().ends_with("SHA256SUMS"));
    assert_eq!(finding["line"], 1);
    assert!(output.stdout.is_empty());
}

#[test]
fn an_encrypted_or_foreign_key_is_refused_without_printing_it() {
    let dir = scratch_copy("three-node");
    let key_path = dir.path().join("pki/nodes/etcd2/peer.key");
    let secret_line = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSECRET";
    std::fs::write(&key_path, format!("-----BEGIN ENCRYPTED PRIVATE KEY-----\n{secret_line}\n-----END ENCRYPTED PRIVATE KEY-----\n")).unwrap();
    let output = kindling()
        .args(["--format", "json", "render"])
        .arg(dir.path().join("cluster.yaml"))
        .arg("-o")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert_eq!(first_finding(&output)["code"], "tls.encrypted-key");
    assert!(!stderr.contains("SECRET"), "key material leaked: {stderr}");
    std::fs::write(&key_path, "not a key at all SECRET\n").unwrap();
    let output = kindling()
        .args(["--format", "json", "render"])
        .arg(dir.path().join("cluster.yaml"))
        .arg("-o")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(first_finding(&output)["code"], "tls.not-pem");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("SECRET"));
    assert!(!String::from_utf8_lossy(&output.stderr).contains("SECRET"));
}

#[test]
fn unknown_node_and_stdout_without_node_are_usage_errors() {
    let spec = common::golden("three-node").join("cluster.yaml");
    let output = kindling()
        .args(["--format", "json", "render"])
        .arg(&spec)
        .args(["-o", "-", "--node", "etcd9"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(first_finding(&output)["code"], "cli.unknown-node");
    let output = kindling()
        .arg("render")
        .arg(&spec)
        .args(["-o", "-"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let output = kindling()
        .args(["render", "--bogus-flag"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn an_unreadable_spec_is_reported() {
    let output = kindling()
        .args([
            "--format",
            "json",
            "render",
            "/nonexistent/cluster.yaml",
            "-o",
            "-",
            "--node",
            "a",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(first_finding(&output)["code"], "spec.unreadable");
}

#[test]
fn github_format_annotates_the_spec_line() {
    let dir = scratch_copy("three-node");
    let spec_path = dir.path().join("cluster.yaml");
    let text = std::fs::read_to_string(&spec_path)
        .unwrap()
        .replace("heartbeat", "x")
        .replace("  gomaxprocs: 2\n", "  gomaxprocs: 2\n  heartbeat_ms: 0\n");
    std::fs::write(&spec_path, text).unwrap();
    let output = kindling()
        .args(["--format", "github", "render"])
        .arg(&spec_path)
        .args(["-o", "-", "--node", "etcd1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with("::error title=etcd.heartbeat,file="),
        "{stderr}"
    );
    assert!(stderr.contains(",line=9,col=17::"), "{stderr}");
}

/// Every finding of `kindling --format json check` on a damaged copy of three-node, as
/// (code, line, column).
fn all_findings(edits: &[(&str, &str)], damage: impl Fn(&Path)) -> Vec<(String, u64, u64)> {
    let dir = scratch_copy("three-node");
    let spec_path = dir.path().join("cluster.yaml");
    let mut text = std::fs::read_to_string(&spec_path).unwrap();
    for (old, new) in edits {
        assert!(text.contains(old), "edit target {old:?} not in the spec");
        text = text.replacen(old, new, 1);
    }
    std::fs::write(&spec_path, text).unwrap();
    damage(dir.path());
    let output = kindling()
        .args(["--format", "json", "check"])
        .arg(&spec_path)
        .output()
        .unwrap();
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    findings
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap_or(0),
                f["column"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn one_mistake_is_one_finding_at_the_value_that_is_wrong() {
    let keep = |_: &Path| {};
    let finding = |code: &str, line, column| vec![(code.to_string(), line, column)];
    // Two bad IPs: each reported once, not also as a duplicate placeholder and its clashes.
    assert_eq!(
        all_findings(
            &[
                ("ip: 10.0.0.12,", "ip: 10.0.0.999,"),
                ("ip: 10.0.0.13,", "ip: nope,"),
            ],
            keep
        ),
        [
            ("spec.ip".to_string(), 21, 24),
            ("spec.ip".to_string(), 22, 24)
        ]
    );
    // A duplicate IP is one finding, not also four listener clashes.
    assert_eq!(
        all_findings(&[("ip: 10.0.0.12,", "ip: 10.0.0.11,")], keep),
        finding("spec.duplicate-ip", 21, 24)
    );
    // A duplicate MAC points at the MAC, not at the node's name.
    assert_eq!(
        all_findings(&[("52:54:00:00:00:12", "52:54:00:00:00:11")], keep),
        finding("spec.duplicate-mac", 21, 40)
    );
    // A node's missing key points at the node, not at the cluster's name.
    assert_eq!(
        all_findings(&[], |dir| std::fs::remove_file(
            dir.join("pki/nodes/etcd2/server.key")
        )
        .unwrap()),
        finding("tls.missing", 21, 13)
    );
}

/// A mistake in one place hides none in another: a dozen independent mistakes across
/// sections (unknown keys, values of the wrong type, values etcd or systemd would refuse)
/// are all reported by one run, each once.
#[test]
fn a_dozen_independent_mistakes_are_reported_in_one_run() {
    let keep = |_: &Path| {};
    let found = all_findings(
        &[
            ("  name: k8s0\n", "  name: k8s0\n  tokn: abc\n"),
            (
                "  gomaxprocs: 2\n",
                "  heartbeat_ms: 100\n  election_timeout_ms: 150\n  gomaxprocs: two\n  log_levle: debug\n",
            ),
            ("INITIAL_CORRUPT_CHECK", "INITIAL_CORUPT_CHECK"),
            (
                "  sha256sums: SHA256SUMS\n",
                "  sha256sums: SHA256SUMS\n  allow_unverified: yes\n",
            ),
            ("  dir: pki\n", "  dir: pki\n  leaf_days: '30'\n"),
            (
                "network: { subnet: 10.0.0.0/24 }",
                "backup: { keep: 0, schedule: \"every day\" }\nnetwork: { subnet: 10.0.0.0/24, hosts_file: yes }",
            ),
            (
                "52:54:00:00:00:12\" }",
                "52:54:00:00:00:12\", join: maybe }",
            ),
            ("name: etcd3, ip: 10.0.0.13", "name: Etcd_3, ip: 10.0.1.13"),
        ],
        keep,
    );
    let mut codes: Vec<(&str, u64)> = found.iter().map(|(c, l, _)| (c.as_str(), *l)).collect();
    codes.sort();
    assert_eq!(
        codes,
        [
            ("backup.keep", 23),
            ("backup.schedule", 23),
            ("etcd.election-timeout", 10),
            ("etcd.env-unknown", 13),
            ("spec.ip-outside-subnet", 29),
            ("spec.node-name", 29),
            ("spec.type", 11),
            ("spec.type", 17),
            ("spec.type", 20),
            ("spec.type", 24),
            ("spec.type", 28),
            ("spec.unknown-key", 5),
            ("spec.unknown-key", 12),
        ]
    );
}

/// A file that cannot be read stops only the checks that need it: a missing SHA256SUMS and
/// a certificate that names the wrong node are both reported.
#[test]
fn a_missing_file_does_not_hide_the_checks_that_do_not_need_it() {
    let found = all_findings(&[], |dir| {
        std::fs::remove_file(dir.join("SHA256SUMS")).unwrap();
        std::fs::copy(
            dir.join("pki/nodes/etcd2/server.crt"),
            dir.join("pki/nodes/etcd1/server.crt"),
        )
        .unwrap();
    });
    let codes: Vec<&str> = found.iter().map(|(c, _, _)| c.as_str()).collect();
    assert_eq!(
        codes,
        [
            "sysext.sha256sums-unreadable",
            "tls.key-mismatch",
            "tls.san-missing"
        ]
    );
}

/// A closed output ends kindling quietly, as it ends `cat` (killed by SIGPIPE): never the
/// abort of a failed print (exit 134), never a message.
#[test]
fn a_closed_output_is_a_quiet_exit() {
    use std::os::unix::process::ExitStatusExt;
    let dir = scratch_copy("three-node");
    let spec = dir.path().join("cluster.yaml");
    let config = common::golden("three-node").join("expected/etcd1.ign");
    let pki = tempfile::tempdir().unwrap();
    let fresh_spec = pki.path().join("cluster.yaml");
    std::fs::copy(&spec, &fresh_spec).unwrap();
    let commands: [Vec<&std::ffi::OsStr>; 6] = [
        vec!["check".as_ref(), spec.as_os_str()],
        vec![
            "render".as_ref(),
            spec.as_os_str(),
            "-o".as_ref(),
            "-".as_ref(),
            "--node".as_ref(),
            "etcd1".as_ref(),
        ],
        vec!["show".as_ref(), config.as_os_str()],
        vec!["join".as_ref(), spec.as_os_str()],
        vec!["validate".as_ref(), config.as_os_str()],
        vec!["pki".as_ref(), "init".as_ref(), fresh_spec.as_os_str()],
    ];
    for args in commands {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_kindling"))
            .args(&args)
            .stdout(writer.try_clone().unwrap())
            .stderr(writer)
            .status()
            .unwrap();
        assert!(
            status.success() || status.signal() == Some(libc::SIGPIPE),
            "kindling {args:?} on a closed pipe: {status:?}"
        );
    }
}

/// `kindling restore` refuses what it cannot restore, each with its code and nothing
/// written: a file that is no etcd snapshot, a URL the nodes cannot fetch, a joining node
/// (a restore starts every member afresh), a profile other than flatcar-sysext. The
/// snapshot that succeeds is tests/etcd_operations.rs's.
#[test]
fn restore_refuses_what_cannot_be_restored() {
    let dir = scratch_copy("three-node");
    let snapshot = dir.path().join("snap.db");
    // bbolt's magic where an etcd snapshot has it (the first meta page, after its header).
    let mut bolt = vec![0u8; 4096];
    bolt[16..20].copy_from_slice(&0xED0C_DAEDu32.to_le_bytes());
    std::fs::write(&snapshot, &bolt).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a snapshot").unwrap();
    let restore = |spec_edit: Option<(&str, &str)>, file: &str, url: &str| {
        let spec = dir.path().join("cluster.yaml");
        let original = std::fs::read_to_string(&spec).unwrap();
        if let Some((old, new)) = spec_edit {
            // A joining node needs a running cluster (state: existing) to be a valid spec.
            let edited = original.replacen(old, new, 1).replacen(
                "  name: k8s0\n",
                "  name: k8s0\n  state: existing\n",
                1,
            );
            std::fs::write(&spec, edited).unwrap();
        }
        let out = dir.path().join("restored");
        let output = kindling()
            .args(["--format", "json", "restore"])
            .arg(&spec)
            .arg("--snapshot")
            .arg(dir.path().join(file))
            .args(["--snapshot-url", url, "-o"])
            .arg(&out)
            .output()
            .unwrap();
        std::fs::write(&spec, original).unwrap();
        assert!(!out.exists(), "nothing written");
        output
    };
    let url = "https://matchbox.example.com/assets/snap.db";
    for (edit, file, url, code) in [
        (None, "notes.txt", url, "restore.snapshot"),
        (None, "missing.db", url, "restore.snapshot"),
        (None, "snap.db", "ftp://example.com/snap.db", "restore.url"),
        (
            Some((
                "  - { name: etcd3, ip: 10.0.0.13, mac: \"52:54:00:00:00:13\" }",
                "  - { name: etcd3, ip: 10.0.0.13, mac: \"52:54:00:00:00:13\", join: true }\n",
            )),
            "snap.db",
            url,
            "restore.join",
        ),
        (
            Some(("profile: flatcar-sysext", "profile: ./my-profile")),
            "snap.db",
            url,
            "restore.profile",
        ),
    ] {
        let output = restore(edit, file, url);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{code}: {}",
            common::text(&output)
        );
        assert_eq!(
            first_finding(&output)["code"],
            code,
            "{}",
            common::text(&output)
        );
    }
}
