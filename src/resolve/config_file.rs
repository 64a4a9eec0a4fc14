//! etcd's YAML config file (`--config-file`), from the same member settings as the env file.
//!
//! etcd reads the file into its `embed.Config` through JSON, so each value must have the
//! JSON type of its field: booleans and integers bare, durations as integer nanoseconds,
//! lists as sequences, and the TLS settings inside `client-transport-security` and
//! `peer-transport-security` under their own names. A setting etcd cannot read from a file
//! (the CRL files) is refused at its spec line rather than silently dropped.

use super::etcd::{BOOL_FLAGS, UINT_FLAGS, flag_of, go_bool};

/// Where a setting goes in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Top,
    ClientTransport,
    PeerTransport,
}

/// One `key: value` line; `value` is already a YAML scalar or flow sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub section: Section,
    pub key: String,
    pub value: String,
}

/// Settings etcd takes as integers that are not unsigned flags.
const INT_FIELDS: &[&str] = &["quota-backend-bytes"];

/// Settings whose field is a `time.Duration` (written in nanoseconds).
const DURATION_FIELDS: &[&str] = &[
    "grpc-keepalive-min-time",
    "grpc-keepalive-interval",
    "grpc-keepalive-timeout",
    "backend-batch-interval",
    "experimental-corrupt-check-time",
    "experimental-watch-progress-notify-interval",
    "experimental-warning-apply-duration",
    "experimental-downgrade-check-time",
    "experimental-compact-hash-check-time",
    "experimental-wait-cluster-ready-timeout",
    "experimental-compaction-sleep-interval",
    "watch-progress-notify-interval",
    "warning-apply-duration",
    "downgrade-check-time",
    "corrupt-check-time",
    "compact-hash-check-time",
    "compaction-sleep-interval",
    "discovery-dial-timeout",
    "discovery-request-timeout",
    "discovery-keepalive-time",
    "discovery-keepalive-timeout",
];

/// Settings whose field is a list of strings (comma-separated in the env file).
const LIST_FIELDS: &[&str] = &["cipher-suites", "log-outputs"];

/// Flags that move into a transport section, with their name there.
const TRANSPORT: &[(&str, Section, &str)] = &[
    ("cert-file", Section::ClientTransport, "cert-file"),
    ("key-file", Section::ClientTransport, "key-file"),
    (
        "client-cert-auth",
        Section::ClientTransport,
        "client-cert-auth",
    ),
    (
        "trusted-ca-file",
        Section::ClientTransport,
        "trusted-ca-file",
    ),
    ("auto-tls", Section::ClientTransport, "auto-tls"),
    (
        "client-cert-file",
        Section::ClientTransport,
        "client-cert-file",
    ),
    (
        "client-key-file",
        Section::ClientTransport,
        "client-key-file",
    ),
    (
        "client-cert-allowed-hostname",
        Section::ClientTransport,
        "allowed-hostname",
    ),
    ("peer-cert-file", Section::PeerTransport, "cert-file"),
    ("peer-key-file", Section::PeerTransport, "key-file"),
    (
        "peer-client-cert-auth",
        Section::PeerTransport,
        "client-cert-auth",
    ),
    (
        "peer-trusted-ca-file",
        Section::PeerTransport,
        "trusted-ca-file",
    ),
    ("peer-auto-tls", Section::PeerTransport, "auto-tls"),
    (
        "peer-client-cert-file",
        Section::PeerTransport,
        "client-cert-file",
    ),
    (
        "peer-client-key-file",
        Section::PeerTransport,
        "client-key-file",
    ),
    ("peer-cert-allowed-cn", Section::PeerTransport, "allowed-cn"),
    (
        "peer-cert-allowed-hostname",
        Section::PeerTransport,
        "allowed-hostname",
    ),
    (
        "experimental-peer-skip-client-san-verification",
        Section::PeerTransport,
        "skip-client-san-verification",
    ),
];

/// Flags etcd only reads from the command line or the environment.
const FLAG_ONLY: &[&str] = &["client-crl-file", "peer-crl-file"];

/// The file entry for `ETCD_NAME=value`, or why it cannot be written in the file.
pub fn entry(env_name: &str, value: &str) -> Result<Entry, String> {
    let flag = flag_of(env_name);
    if FLAG_ONLY.contains(&flag.as_str()) {
        return Err(format!(
            "etcd does not read --{flag} from a config file, only from flags or the environment"
        ));
    }
    let value = yaml_value(&flag, value)?;
    let (section, key) = TRANSPORT
        .iter()
        .find(|(name, _, _)| *name == flag)
        .map_or((Section::Top, flag.clone()), |(_, section, key)| {
            (*section, (*key).to_string())
        });
    Ok(Entry {
        section,
        key,
        value,
    })
}

fn yaml_value(flag: &str, value: &str) -> Result<String, String> {
    let flag = flag.to_string();
    if BOOL_FLAGS.contains(&flag.as_str()) {
        return go_bool(value)
            .map(|b| b.to_string())
            .ok_or_else(|| format!("--{flag} takes true or false, not {value:?}"));
    }
    if UINT_FLAGS.contains(&flag.as_str()) || INT_FIELDS.contains(&flag.as_str()) {
        return value
            .parse::<u64>()
            .map(|n| n.to_string())
            .map_err(|_| format!("--{flag} takes a whole number, not {value:?}"));
    }
    if DURATION_FIELDS.contains(&flag.as_str()) {
        return go_duration_nanos(value)
            .map(|n| n.to_string())
            .ok_or_else(|| {
                format!("--{flag} takes a duration such as 5s or 100ms, not {value:?}")
            });
    }
    if LIST_FIELDS.contains(&flag.as_str()) {
        let items: Vec<String> = value
            .split(',')
            .filter(|item| !item.is_empty())
            .map(yaml_quoted)
            .collect();
        return Ok(format!("[{}]", items.join(", ")));
    }
    Ok(yaml_quoted(value))
}

/// A YAML double-quoted scalar: JSON's string syntax is valid YAML, and nothing in a JSON
/// string can end the line.
pub(super) fn yaml_quoted(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// Go's `time.ParseDuration` for the units etcd settings use (`1h30m`, `500ms`, `5s`).
pub fn go_duration_nanos(text: &str) -> Option<u64> {
    if text == "0" {
        return Some(0);
    }
    if text.is_empty() {
        return None;
    }
    let mut rest = text;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| !b.is_ascii_digit()).count();
        let per_unit: u64 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total = total.checked_add(number.checked_mul(per_unit)?)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_quoting_is_json_string_syntax() {
        for text in [
            "",
            "a b",
            "q\"uote",
            "back\\slash",
            "line\nbreak\r\t",
            "\u{1}\u{1f}\u{7f}",
            "é✓",
        ] {
            assert_eq!(
                yaml_quoted(text),
                serde_json::Value::String(text.to_string()).to_string()
            );
        }
        assert_eq!(yaml_quoted("a\nb\u{1}"), r#""a\nb\u0001""#);
        for byte in 0..=0x7fu8 {
            let text = format!("{}{}", "x".repeat(70), char::from(byte));
            let json = serde_json::Value::String(text.clone()).to_string();
            assert_eq!(yaml_quoted(&text), json, "byte {byte:#04x}");
        }
    }

    fn yaml(name: &str, value: &str) -> (Section, String, String) {
        let e = entry(name, value).unwrap();
        (e.section, e.key, e.value)
    }

    #[test]
    fn values_get_the_json_type_of_their_field() {
        assert_eq!(
            yaml("ETCD_NAME", "m1"),
            (Section::Top, "name".into(), "\"m1\"".into())
        );
        assert_eq!(yaml("ETCD_STRICT_RECONFIG_CHECK", "True").2, "true");
        assert_eq!(yaml("ETCD_HEARTBEAT_INTERVAL", "100").2, "100");
        assert_eq!(
            yaml("ETCD_QUOTA_BACKEND_BYTES", "8589934592").2,
            "8589934592"
        );
        assert_eq!(
            yaml("ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL", "5s").2,
            "5000000000"
        );
        assert_eq!(
            yaml("ETCD_LOG_OUTPUTS", "stderr,/var/log/etcd").2,
            "[\"stderr\", \"/var/log/etcd\"]"
        );
        assert_eq!(yaml("ETCD_AUTO_COMPACTION_RETENTION", "1h").2, "\"1h\"");
    }

    #[test]
    fn tls_settings_move_into_their_transport_section() {
        assert_eq!(
            yaml("ETCD_PEER_CERT_FILE", "/p.crt"),
            (
                Section::PeerTransport,
                "cert-file".into(),
                "\"/p.crt\"".into()
            )
        );
        assert_eq!(
            yaml("ETCD_CLIENT_CERT_AUTH", "true").0,
            Section::ClientTransport
        );
        assert_eq!(yaml("ETCD_PEER_CERT_ALLOWED_CN", "etcd").1, "allowed-cn");
    }

    #[test]
    fn what_a_file_cannot_hold_is_refused() {
        assert!(entry("ETCD_CLIENT_CRL_FILE", "/crl.pem").is_err());
        assert!(entry("ETCD_HEARTBEAT_INTERVAL", "fast").is_err());
        assert!(entry("ETCD_GRPC_KEEPALIVE_TIMEOUT", "5 seconds").is_err());
    }

    #[test]
    fn go_durations_add_up() {
        assert_eq!(go_duration_nanos("1h30m"), Some(5_400_000_000_000));
        assert_eq!(go_duration_nanos("250ms"), Some(250_000_000));
        assert_eq!(go_duration_nanos("0"), Some(0));
        assert_eq!(go_duration_nanos("5"), None);
        assert_eq!(go_duration_nanos("1.5s"), None);
        assert_eq!(go_duration_nanos(""), None);
    }
}
