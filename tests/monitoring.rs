//! What `monitoring:` and `firewall:` write, read by the programs that read them: Debian's
//! promtool checks every golden case's scrape configuration and rules and runs the rule
//! tests in tests/monitoring/ (every alert fires on series that should trip it and stays
//! quiet on series that should not, the certificate expiry alerts included);
//! iptables-restore and ip6tables-restore read every golden case's firewall files in a
//! network namespace of their own. The booted proof is tests/boot.rs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{golden, render_and_materialize, repo, text, trial};

fn main() {
    let arguments = libtest_mimic::Arguments::from_args();
    let trials = vec![
        trial(
            "promtool_accepts_every_golden_scrape_configuration_and_rules_file",
            &["promtool"],
            promtool_checks_the_goldens,
        ),
        trial(
            "every_alert_fires_and_stays_quiet_in_promtool_rule_tests",
            &["promtool"],
            promtool_rule_tests,
        ),
        trial(
            "a_member_with_its_own_quota_gets_its_own_database_size_alert",
            &["promtool"],
            per_member_quota_alerts,
        ),
        trial(
            "a_render_after_pki_renew_moves_the_expiry_alert_to_the_new_date",
            &[],
            renew_moves_the_expiry_alert,
        ),
        trial(
            "iptables_restore_reads_every_golden_firewall",
            &["iptables-restore", "ip6tables-restore", "unshare"],
            iptables_reads_the_goldens,
        ),
    ];
    libtest_mimic::run(&arguments, trials).exit();
}

/// The golden cases whose expected output has a `monitoring/` directory.
fn monitored_cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(repo().join("golden"))
        .unwrap()
        .flatten()
        .map(|entry| entry.path().join("expected/monitoring"))
        .filter(|dir| dir.is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "a golden case with monitoring");
    cases
}

fn promtool(args: &[&str], dir: &Path) {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "promtool {args:?} in {}: {}",
        dir.display(),
        text(&output)
    );
}

fn promtool_checks_the_goldens() {
    for dir in monitored_cases() {
        // The TLS files it names are on the Prometheus host, not here: syntax only.
        promtool(
            &["check", "config", "--syntax-only", "prometheus.yml"],
            &dir,
        );
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".rules.yml") {
                promtool(&["check", "rules", &name], &dir);
            }
        }
    }
}

fn promtool_rule_tests() {
    let dir = repo().join("tests/monitoring");
    let mut tests: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".test.yml"))
        .collect();
    tests.sort();
    assert!(tests.len() >= 2, "{tests:?}");
    for test in tests {
        promtool(&["test", "rules", &test], &dir);
    }
}

/// A member that sets its own `quota_backend_bytes` (4 GiB) is compared with its own quota:
/// two database-size rules, each selecting its members, both read by promtool.
fn per_member_quota_alerts() {
    let case = common::scratch_copy("monitored");
    let spec = case.path().join("cluster.yaml");
    let edited = std::fs::read_to_string(&spec).unwrap().replace(
        "name: etcd3, ip: 10.0.0.13, mac: \"52:54:00:00:00:13\" }",
        "name: etcd3, ip: 10.0.0.13, mac: \"52:54:00:00:00:13\", overrides: { etcd: { quota_backend_bytes: 4294967296 } } }",
    );
    std::fs::write(&spec, edited).unwrap();
    let output = common::kindling()
        .args(["render", "cluster.yaml", "-o", "out"])
        .current_dir(case.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let dir = case.path().join("out/monitoring");
    let rules = std::fs::read_to_string(dir.join("etcd-k8s0.rules.yml")).unwrap();
    let quota_rules: Vec<&str> = rules
        .lines()
        .filter(|l| l.contains("etcd_mvcc_db_total_size_in_bytes"))
        .collect();
    assert_eq!(
        quota_rules,
        [
            r#"        expr: 'etcd_mvcc_db_total_size_in_bytes{job="etcd-k8s0", member=~"etcd1|etcd2"} > 1610612736'"#,
            r#"        expr: 'etcd_mvcc_db_total_size_in_bytes{job="etcd-k8s0", member=~"etcd3"} > 3221225472'"#,
        ]
    );
    promtool(&["check", "rules", "etcd-k8s0.rules.yml"], &dir);
}

/// `pki renew --client prometheus --leaf-days 10`, then `render`: the prometheus
/// certificate's two expiry rules carry its new `notAfter` (ten days on) and date, every
/// other rule is as before.
fn renew_moves_the_expiry_alert() {
    let case = common::scratch_copy("monitored");
    let kindling = |args: &[&str]| {
        let output = common::kindling()
            .args(args)
            .current_dir(case.path())
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}: {}", text(&output));
        output
    };
    let renewed = kindling(&[
        "pki",
        "renew",
        "cluster.yaml",
        "--client",
        "prometheus",
        "--leaf-days",
        "10",
    ]);
    assert!(
        text(&renewed).contains("certificate expiry alerts"),
        "{}",
        text(&renewed)
    );
    kindling(&["render", "cluster.yaml", "-o", "out"]);
    let before = std::fs::read_to_string(
        golden("monitored").join("expected/monitoring/etcd-k8s0.rules.yml"),
    )
    .unwrap();
    let after =
        std::fs::read_to_string(case.path().join("out/monitoring/etcd-k8s0.rules.yml")).unwrap();
    let changed: Vec<(&str, &str)> = before
        .lines()
        .zip(after.lines())
        .filter(|(old, new)| old != new)
        .collect();
    // Each of the two rules: its expression and its description's date.
    assert_eq!(changed.len(), 4, "the prometheus rules alone: {changed:?}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for (_, new) in changed.iter().filter(|(_, new)| new.contains("expr:")) {
        let not_after: u64 = new
            .split("vector(")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{new}"));
        assert!(
            (now + 9 * 86_400..now + 11 * 86_400).contains(&not_after),
            "{new}: ten days from now"
        );
    }
}

/// Every golden case with `firewall:` has its rules files read, not applied, by the real
/// iptables-restore (`--test`) in a network namespace of its own.
fn iptables_reads_the_goldens() {
    let mut checked = 0;
    for entry in std::fs::read_dir(repo().join("golden")).unwrap().flatten() {
        let case = entry.file_name().to_string_lossy().into_owned();
        let spec = std::fs::read_to_string(golden(&case).join("cluster.yaml")).unwrap();
        if !spec.lines().any(|l| l.starts_with("firewall:")) {
            continue;
        }
        let root = tempfile::tempdir().unwrap();
        let nodes = render_and_materialize(&case, root.path());
        for (node, (tool, file)) in nodes.iter().flat_map(|node| {
            [
                ("iptables-restore", "var/lib/iptables/rules-save"),
                ("ip6tables-restore", "var/lib/ip6tables/rules-save"),
            ]
            .map(|pair| (node, pair))
        }) {
            let rules = root.path().join(node).join(file);
            let output = Command::new("unshare")
                .args(["--net", tool, "--test"])
                .arg(&rules)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{case}: {tool} {}: {}",
                rules.display(),
                text(&output)
            );
            checked += 1;
        }
    }
    assert!(checked >= 2, "a golden case with a firewall");
}
