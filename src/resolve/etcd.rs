//! What kindling knows about etcd's configuration: which settings each release line accepts
//! (so a typo in `etcd.env` is caught before boot), and the member env it derives itself.

/// Flags every supported release line (3.4–3.6) accepts. Env names are `ETCD_` + the flag
/// upper-cased with `-` → `_`.
const COMMON_FLAGS: &[&str] = &[
    "name",
    "data-dir",
    "wal-dir",
    "snapshot-count",
    "heartbeat-interval",
    "election-timeout",
    "initial-election-tick-advance",
    "listen-peer-urls",
    "listen-client-urls",
    "max-snapshots",
    "max-wals",
    "cors",
    "quota-backend-bytes",
    "backend-batch-limit",
    "backend-batch-interval",
    "max-txn-ops",
    "max-request-bytes",
    "grpc-keepalive-min-time",
    "grpc-keepalive-interval",
    "grpc-keepalive-timeout",
    "initial-advertise-peer-urls",
    "initial-cluster",
    "initial-cluster-state",
    "initial-cluster-token",
    "advertise-client-urls",
    "discovery",
    "discovery-srv",
    "discovery-srv-name",
    "discovery-fallback",
    "discovery-proxy",
    "strict-reconfig-check",
    "auto-compaction-retention",
    "auto-compaction-mode",
    "pre-vote",
    "cert-file",
    "key-file",
    "client-cert-auth",
    "client-crl-file",
    "client-cert-allowed-hostname",
    "trusted-ca-file",
    "auto-tls",
    "peer-cert-file",
    "peer-key-file",
    "peer-client-cert-auth",
    "peer-crl-file",
    "peer-trusted-ca-file",
    "peer-auto-tls",
    "peer-cert-allowed-cn",
    "peer-cert-allowed-hostname",
    "cipher-suites",
    "auth-token",
    "bcrypt-cost",
    "enable-pprof",
    "metrics",
    "listen-metrics-urls",
    "logger",
    "log-outputs",
    "log-level",
    "enable-grpc-gateway",
    "self-signed-cert-validity",
    "force-new-cluster",
    "unsafe-no-fsync",
];

/// Flags of 3.4 and 3.5 that 3.6 removed or renamed.
const BEFORE_3_6_FLAGS: &[&str] = &[
    "enable-v2",
    "experimental-enable-v2v3",
    "proxy",
    "proxy-failure-wait",
    "proxy-refresh-interval",
    "proxy-dial-timeout",
    "proxy-write-timeout",
    "proxy-read-timeout",
    "experimental-initial-corrupt-check",
    "experimental-corrupt-check-time",
    "experimental-enable-lease-checkpoint",
    "experimental-compaction-batch-limit",
    "experimental-peer-skip-client-san-verification",
    "experimental-watch-progress-notify-interval",
    "experimental-warning-apply-duration",
    "experimental-backend-bbolt-freelist-type",
    "experimental-txn-mode-write-with-shared-buffer",
    "experimental-downgrade-check-time",
    "experimental-enable-distributed-tracing",
    "experimental-distributed-tracing-address",
    "experimental-distributed-tracing-service-name",
    "experimental-distributed-tracing-instance-id",
];

/// Flags that arrived in 3.5 and stayed in 3.6.
const SINCE_3_5_FLAGS: &[&str] = &[
    "socket-reuse-port",
    "socket-reuse-address",
    "auth-token-ttl",
    "enable-log-rotation",
    "log-rotation-config-json",
    "client-cert-file",
    "client-key-file",
    "peer-client-cert-file",
    "peer-client-key-file",
    "tls-min-version",
    "tls-max-version",
    "listen-client-http-urls",
    "max-concurrent-streams",
    "experimental-memory-mlock",
];

/// Flags of 3.5 only (experimental names that 3.6 renamed).
const ONLY_3_5_FLAGS: &[&str] = &[
    "experimental-compact-hash-check-enabled",
    "experimental-compact-hash-check-time",
    "experimental-wait-cluster-ready-timeout",
    "experimental-stop-grpc-service-on-defrag",
    "experimental-max-learners",
    "experimental-snapshot-catchup-entries",
    "experimental-compaction-sleep-interval",
    "experimental-bootstrap-defrag-threshold-megabytes",
    "experimental-enable-lease-checkpoint-persist",
];

/// Flags new in 3.6 (including the renamed, formerly experimental, ones).
const SINCE_3_6_FLAGS: &[&str] = &[
    "feature-gates",
    "log-format",
    "max-learners",
    "discovery-token",
    "discovery-endpoints",
    "discovery-dial-timeout",
    "discovery-request-timeout",
    "discovery-keepalive-time",
    "discovery-keepalive-timeout",
    "discovery-insecure-transport",
    "discovery-insecure-skip-tls-verify",
    "discovery-cert",
    "discovery-key",
    "discovery-cacert",
    "discovery-user",
    "discovery-password",
    "corrupt-check-time",
    "compact-hash-check-time",
    "watch-progress-notify-interval",
    "warning-apply-duration",
    "downgrade-check-time",
    "compaction-batch-limit",
    "compaction-sleep-interval",
    "snapshot-catchup-entries",
    "bootstrap-defrag-threshold-megabytes",
    "memory-mlock",
    "peer-skip-client-san-verification",
    "warning-unary-request-duration",
    "distributed-tracing-address",
    "distributed-tracing-service-name",
    "distributed-tracing-instance-id",
    "distributed-tracing-sampling-rate",
    "enable-distributed-tracing",
];

/// What replaces a flag 3.6 deprecates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replacement {
    /// The same setting without the `experimental-` prefix.
    Flag(&'static str),
    /// A boolean that became an `ETCD_FEATURE_GATES` entry (`Gate=true`).
    FeatureGate(&'static str),
}

/// Experimental flags 3.6 still accepts but deprecates (3.7 removes them). Setting one
/// together with its replacement makes etcd refuse to start.
pub const DEPRECATED_IN_3_6: &[(&str, Replacement)] = &[
    (
        "experimental-corrupt-check-time",
        Replacement::Flag("corrupt-check-time"),
    ),
    (
        "experimental-compact-hash-check-time",
        Replacement::Flag("compact-hash-check-time"),
    ),
    (
        "experimental-watch-progress-notify-interval",
        Replacement::Flag("watch-progress-notify-interval"),
    ),
    (
        "experimental-warning-apply-duration",
        Replacement::Flag("warning-apply-duration"),
    ),
    (
        "experimental-downgrade-check-time",
        Replacement::Flag("downgrade-check-time"),
    ),
    (
        "experimental-compaction-batch-limit",
        Replacement::Flag("compaction-batch-limit"),
    ),
    (
        "experimental-compaction-sleep-interval",
        Replacement::Flag("compaction-sleep-interval"),
    ),
    (
        "experimental-snapshot-catchup-entries",
        Replacement::Flag("snapshot-catchup-entries"),
    ),
    (
        "experimental-bootstrap-defrag-threshold-megabytes",
        Replacement::Flag("bootstrap-defrag-threshold-megabytes"),
    ),
    (
        "experimental-memory-mlock",
        Replacement::Flag("memory-mlock"),
    ),
    (
        "experimental-peer-skip-client-san-verification",
        Replacement::Flag("peer-skip-client-san-verification"),
    ),
    (
        "experimental-max-learners",
        Replacement::Flag("max-learners"),
    ),
    (
        "experimental-initial-corrupt-check",
        Replacement::FeatureGate("InitialCorruptCheck"),
    ),
    (
        "experimental-compact-hash-check-enabled",
        Replacement::FeatureGate("CompactHashCheck"),
    ),
    (
        "experimental-enable-lease-checkpoint",
        Replacement::FeatureGate("LeaseCheckpoint"),
    ),
    (
        "experimental-enable-lease-checkpoint-persist",
        Replacement::FeatureGate("LeaseCheckpointPersist"),
    ),
    (
        "experimental-txn-mode-write-with-shared-buffer",
        Replacement::FeatureGate("TxnModeWriteWithSharedBuffer"),
    ),
    (
        "experimental-stop-grpc-service-on-defrag",
        Replacement::FeatureGate("StopGRPCServiceOnDefrag"),
    ),
];

/// The replacement of a setting 3.6 deprecates, by env name.
pub fn deprecated_in_3_6(env: &str) -> Option<Replacement> {
    DEPRECATED_IN_3_6
        .iter()
        .find(|(flag, _)| is_env_name_of(flag, env))
        .map(|(_, replacement)| *replacement)
}

/// The flag names a release line (`minor` of 3.x) accepts (3.6: with the deprecated ones).
fn flags_for(minor: u32) -> impl Iterator<Item = &'static str> {
    let groups: &[&[&str]] = match minor {
        4 => &[COMMON_FLAGS, BEFORE_3_6_FLAGS],
        5 => &[
            COMMON_FLAGS,
            BEFORE_3_6_FLAGS,
            SINCE_3_5_FLAGS,
            ONLY_3_5_FLAGS,
        ],
        _ => &[COMMON_FLAGS, SINCE_3_5_FLAGS, SINCE_3_6_FLAGS],
    };
    let deprecated = DEPRECATED_IN_3_6
        .iter()
        .filter(move |_| minor >= 6)
        .map(|(flag, _)| *flag);
    groups
        .iter()
        .flat_map(|group| group.iter().copied())
        .chain(deprecated)
}

/// `ETCD_LOG_LEVEL` for `log-level`.
pub fn env_name(flag: &str) -> String {
    format!("ETCD_{}", flag.to_ascii_uppercase().replace('-', "_"))
}

/// Whether `name` is `env_name(flag)`, without building it (this runs for every flag of
/// every setting of every node).
fn is_env_name_of(flag: &str, name: &str) -> bool {
    name.strip_prefix("ETCD_").is_some_and(|rest| {
        rest.len() == flag.len()
            && rest.bytes().zip(flag.bytes()).all(|(written, flag)| {
                written
                    == if flag == b'-' {
                        b'_'
                    } else {
                        flag.to_ascii_uppercase()
                    }
            })
    })
}

/// Whether etcd 3.`minor` knows the env name.
pub fn is_known_env(minor: u32, name: &str) -> bool {
    flags_for(minor).any(|flag| is_env_name_of(flag, name))
}

/// The known name closest to `name` (for a "did you mean" hint).
pub fn closest_env(minor: u32, name: &str) -> Option<String> {
    flags_for(minor)
        .map(env_name)
        .map(|candidate| (crate::diag::edit_distance(name, &candidate), candidate))
        .filter(|(distance, _)| *distance <= 3)
        .min()
        .map(|(_, candidate)| candidate)
}

/// Which release lines know the name, for a hint when the spec's line does not.
pub fn lines_knowing(name: &str) -> Vec<String> {
    (4..=6)
        .filter(|minor| is_known_env(*minor, name))
        .map(|minor| format!("v3.{minor}"))
        .collect()
}

/// Log levels etcd accepts.
pub const LOG_LEVELS: &[&str] = &["debug", "info", "warn", "error", "panic", "fatal"];

/// Auto-compaction modes etcd accepts.
pub const COMPACTION_MODES: &[&str] = &["periodic", "revision"];

/// The flag an `ETCD_*` env name sets (`ETCD_PRE_VOTE` → `pre-vote`).
pub fn flag_of(env_name: &str) -> String {
    env_name
        .trim_start_matches("ETCD_")
        .to_ascii_lowercase()
        .replace('_', "-")
}

/// Flags etcd parses as booleans (Go's `strconv.ParseBool`).
pub const BOOL_FLAGS: &[&str] = &[
    "strict-reconfig-check",
    "pre-vote",
    "client-cert-auth",
    "auto-tls",
    "peer-client-cert-auth",
    "peer-auto-tls",
    "enable-pprof",
    "enable-grpc-gateway",
    "force-new-cluster",
    "unsafe-no-fsync",
    "initial-election-tick-advance",
    "enable-v2",
    "experimental-enable-v2v3",
    "experimental-initial-corrupt-check",
    "experimental-enable-lease-checkpoint",
    "experimental-peer-skip-client-san-verification",
    "experimental-enable-distributed-tracing",
    "socket-reuse-port",
    "socket-reuse-address",
    "enable-log-rotation",
    "experimental-memory-mlock",
    "experimental-compact-hash-check-enabled",
    "experimental-stop-grpc-service-on-defrag",
    "experimental-enable-lease-checkpoint-persist",
    "discovery-insecure-transport",
    "discovery-insecure-skip-tls-verify",
];

/// Flags etcd parses as unsigned integers.
pub const UINT_FLAGS: &[&str] = &[
    "snapshot-count",
    "heartbeat-interval",
    "election-timeout",
    "max-snapshots",
    "max-wals",
    "backend-batch-limit",
    "max-txn-ops",
    "max-request-bytes",
    "bcrypt-cost",
    "self-signed-cert-validity",
    "auth-token-ttl",
    "max-concurrent-streams",
    "experimental-compaction-batch-limit",
    "experimental-max-learners",
    "experimental-snapshot-catchup-entries",
    "experimental-bootstrap-defrag-threshold-megabytes",
    "max-learners",
];

/// A boolean as etcd's flag parser (Go's `strconv.ParseBool`) reads it.
pub fn go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A value for a boolean or integer flag must parse as one: etcd refuses to start
/// otherwise. Other flags (strings, URLs, durations) are only checked as env text.
pub fn check_flag_value(flag: &str, value: &str) -> Result<(), crate::resolve::values::Invalid> {
    let (ok, expected) = if BOOL_FLAGS.contains(&flag) {
        (go_bool(value).is_some(), "true or false")
    } else if UINT_FLAGS.contains(&flag) {
        (value.parse::<u64>().is_ok(), "a whole number")
    } else {
        (true, "")
    };
    if ok {
        return Ok(());
    }
    Err(crate::resolve::values::Invalid {
        message: format!("--{flag} takes {expected}, not {value:?}"),
        help: format!("etcd refuses to start when --{flag} does not parse; write {expected}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_env_name_matches_exactly_the_flag_it_is_built_from() {
        for flag in flags_for(5).chain(flags_for(6)) {
            assert!(is_env_name_of(flag, &env_name(flag)), "{flag}");
        }
        for (flag, name) in [
            ("log-level", "ETCD_LOG_LEVE"),
            ("log-level", "ETCD_LOG_LEVELS"),
            ("log-level", "ETCD_LOG-LEVEL"),
            ("log-level", "ETCD_log_level"),
            ("log-level", "LOG_LEVEL"),
        ] {
            assert!(!is_env_name_of(flag, name), "{name}");
        }
    }

    #[test]
    fn names_follow_the_release_line() {
        assert!(is_known_env(5, "ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK"));
        assert!(
            is_known_env(6, "ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK"),
            "deprecated, still accepted"
        );
        assert!(!is_known_env(6, "ETCD_EXPERIMENTAL_ENABLE_V2V3"), "removed");
        assert_eq!(
            deprecated_in_3_6("ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK"),
            Some(Replacement::FeatureGate("InitialCorruptCheck"))
        );
        assert!(is_known_env(6, "ETCD_FEATURE_GATES"));
        assert!(!is_known_env(5, "ETCD_FEATURE_GATES"));
        assert!(is_known_env(4, "ETCD_LISTEN_METRICS_URLS"));
        assert!(!is_known_env(4, "ETCD_TLS_MIN_VERSION"));
    }

    #[test]
    fn typos_get_a_suggestion() {
        assert_eq!(
            closest_env(5, "ETCD_LOG_LEVLE").as_deref(),
            Some("ETCD_LOG_LEVEL")
        );
        assert_eq!(closest_env(5, "ETCD_COMPLETELY_DIFFERENT_THING"), None);
        assert_eq!(lines_knowing("ETCD_FEATURE_GATES"), vec!["v3.6"]);
    }
}
