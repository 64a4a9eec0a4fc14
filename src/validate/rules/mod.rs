//! The semantic rules Ignition enforces when it runs (shared/reference/ignition-rules.md),
//! plus kindling's stricter ones, in one module per section of the spec (each with its
//! version differences); this one runs them all and holds what spans sections. Each
//! finding has a stable code and the JSON path of the offending value.
//!
//! The rules read the config as JSON, so they apply to any config, not only kindling's.

mod disks;
mod files;
mod filesystems;
mod ignition_section;
mod kernel_args;
mod links;
mod luks;
mod nodes;
mod passwd;
mod raid;
mod sets;
mod units;

use crate::json::Lookup;
use serde_json::Value;

use super::{Parsed, finding};
use crate::diag::{Diagnostic, Report};
use crate::ignition::SpecVersion;

/// Runs every rule over a config of spec `version`.
pub(crate) fn check(config: &Value, version: SpecVersion, parsed: &Parsed) -> Report {
    let mut findings = Vec::new();
    check_version(config, version, &mut findings);
    if holds_fraction(config) {
        check_whole_numbers(config, &mut String::from("$"), &mut findings);
    }
    let nodes = nodes::storage_nodes(config);
    nodes::check(&nodes, version, &mut findings);
    files::check(config, version, parsed, &mut findings);
    units::check(config, &nodes, parsed, &mut findings);
    passwd::check(config, &mut findings);
    ignition_section::check(config, version, &mut findings);
    disks::check(config, &mut findings);
    filesystems::check(config, version, &mut findings);
    raid::check(config, &mut findings);
    sets::check(config, version, &mut findings);
    if version >= SpecVersion::V3_2 {
        luks::check(config, version, &mut findings);
    }
    if version >= SpecVersion::V3_3 {
        kernel_args::check(config, &mut findings);
    }
    Report {
        diagnostics: findings,
    }
}

/// Whether any number in `value` is not written as an integer: the cheap walk, which keeps
/// no paths, that spares almost every config the one below.
fn holds_fraction(value: &Value) -> bool {
    match value {
        Value::Number(number) => !number.is_i64() && !number.is_u64(),
        Value::Array(items) => items.iter().any(holds_fraction),
        Value::Object(members) => members.values().any(holds_fraction),
        _ => false,
    }
}

/// Every number in an Ignition config is an integer, and Go's decoder refuses `420.0` or
/// `4.2e2` for one (JSON Schema would call both integers).
fn check_whole_numbers(value: &Value, at: &mut String, findings: &mut Vec<Diagnostic>) {
    let length = at.len();
    match value {
        Value::Number(number) if !number.is_i64() && !number.is_u64() => findings.push(finding(
            "ign.schema",
            at.clone(),
            format!("{number} is not a whole number written as one (no fraction, no exponent)"),
        )),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                at.push('.');
                at.push_str(&index.to_string());
                check_whole_numbers(item, at, findings);
                at.truncate(length);
            }
        }
        Value::Object(members) => {
            for (key, member) in members {
                at.push('.');
                at.push_str(key);
                check_whole_numbers(member, at, findings);
                at.truncate(length);
            }
        }
        _ => {}
    }
}

/// A device or mount path, which Ignition wants absolute and in its simplest form.
fn absolute_path(code: &'static str, path: &str, at: &str, findings: &mut Vec<Diagnostic>) {
    if !path.starts_with('/') {
        findings.push(finding(code, at.to_string(), "path not absolute"));
    } else if nodes::path_problem(path).is_some() {
        findings.push(finding(
            code,
            at.to_string(),
            "path is not fully simplified",
        ));
    }
}

/// A second entry with a key an earlier one already has.
fn duplicate(code: &'static str, at: String, what: &str) -> Diagnostic {
    finding(
        code,
        at,
        format!("duplicate entry defined: this {what} is given twice"),
    )
}

fn check_version(config: &Value, version: SpecVersion, findings: &mut Vec<Diagnostic>) {
    let declared = config.at("/ignition/version").and_then(Value::as_str);
    if declared != Some(version.as_str()) {
        findings.push(finding(
            "ign.version",
            "$.ignition.version".into(),
            format!(
                "version must be exactly {:?}, found {declared:?}",
                version.as_str()
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn codes(config: Value) -> Vec<(&'static str, String)> {
        check(&config, SpecVersion::V3_4, &Parsed::default())
            .diagnostics
            .into_iter()
            .map(|d| (d.code, d.place()))
            .collect()
    }

    fn with_storage(storage: Value) -> Value {
        json!({"ignition": {"version": "3.4.0"}, "storage": storage})
    }

    fn with_units(units: Value) -> Value {
        json!({"ignition": {"version": "3.4.0"}, "systemd": {"units": units}})
    }

    #[test]
    fn a_clean_config_has_no_findings() {
        let config = json!({
            "ignition": {"version": "3.4.0"},
            "storage": {
                "directories": [{"path": "/var/lib/etcd", "mode": 448}],
                "files": [{"path": "/etc/a", "contents": {"source": "data:,x"}, "overwrite": true}],
                "links": [{"path": "/etc/l", "target": "/etc/a"}]
            },
            "systemd": {"units": [{"name": "a.service", "enabled": true, "contents": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n", "dropins": [{"name": "x.conf", "contents": "[Service]\n"}]}]},
            "passwd": {"users": [{"name": "core", "sshAuthorizedKeys": ["ssh-ed25519 A"]}]}
        });
        assert_eq!(codes(config), vec![]);
    }

    #[test]
    fn every_rule_has_a_failing_case() {
        let sha = "a".repeat(64);
        let cases: Vec<(Value, &str, &str)> = vec![
            (
                json!({"ignition": {"version": "3.3.0"}}),
                "ign.version",
                "$.ignition.version",
            ),
            (
                with_storage(json!({"files": [{"path": "etc/a"}]})),
                "ign.path-relative",
                "$.storage.files.0.path",
            ),
            (
                with_storage(json!({"files": [{"path": "/etc/a/"}]})),
                "ign.path-unclean",
                "$.storage.files.0.path",
            ),
            (
                with_storage(json!({"files": [{"path": "/etc//a"}]})),
                "ign.path-unclean",
                "$.storage.files.0.path",
            ),
            (
                with_storage(json!({"files": [{"path": "/etc/../a"}]})),
                "ign.path-unclean",
                "$.storage.files.0.path",
            ),
            (
                with_storage(json!({"files": [{"path": "/a"}], "directories": [{"path": "/a"}]})),
                "ign.path-duplicate",
                "$.storage.directories.0.path",
            ),
            (
                with_storage(
                    json!({"files": [{"path": "/l/a"}], "links": [{"path": "/l", "target": "/x"}]}),
                ),
                "ign.path-under-link",
                "$.storage.files.0.path",
            ),
            (
                with_storage(json!({"files": [{"path": "/a", "user": {"id": 0, "name": "root"}}]})),
                "ign.owner-both",
                "$.storage.files.0.user",
            ),
            (
                with_storage(json!({"files": [{"path": "/a", "mode": 5000}]})),
                "ign.mode-range",
                "$.storage.files.0.mode",
            ),
            (
                with_storage(json!({"files": [{"path": "/a", "mode": 2541}]})),
                "ign.mode-special",
                "$.storage.files.0.mode",
            ),
            (
                with_storage(json!({"files": [{"path": "/a", "overwrite": true}]})),
                "ign.overwrite-no-source",
                "$.storage.files.0.overwrite",
            ),
            (
                with_storage(
                    json!({"files": [{"path": "/a", "contents": {"source": "data:,x", "compression": "xz"}}]}),
                ),
                "ign.compression",
                "$.storage.files.0.contents.compression",
            ),
            (
                with_storage(
                    json!({"files": [{"path": "/a", "contents": {"verification": {"hash": format!("sha256-{sha}")}}}]}),
                ),
                "ign.verification-no-source",
                "$.storage.files.0.contents.verification.hash",
            ),
            (
                with_storage(
                    json!({"files": [{"path": "/a", "contents": {"source": "http://x/a", "verification": {"hash": "sha256-abc"}}}]}),
                ),
                "ign.hash-format",
                "$.storage.files.0.contents.verification.hash",
            ),
            (
                with_storage(
                    json!({"files": [{"path": "/a", "contents": {"source": "http://x/a", "verification": {"hash": format!("sha256-{}", "z".repeat(64))}}}]}),
                ),
                "ign.hash-hex",
                "$.storage.files.0.contents.verification.hash",
            ),
            (
                with_storage(
                    json!({"files": [{"path": "/a", "contents": {"source": "ftp://x/a"}}]}),
                ),
                "ign.url-scheme",
                "$.storage.files.0.contents.source",
            ),
            (
                with_storage(
                    json!({"files": [{"path": "/a", "contents": {"source": "data:,%zz"}}]}),
                ),
                "ign.data-url",
                "$.storage.files.0.contents.source",
            ),
            (
                with_storage(
                    json!({"files": [{"path": "/a", "contents": {"source": "data:,x", "httpHeaders": [{"name": "A", "value": "b"}]}}]}),
                ),
                "ign.http-headers",
                "$.storage.files.0.contents.httpHeaders",
            ),
            (
                with_storage(json!({"links": [{"path": "/l"}]})),
                "ign.link-target",
                "$.storage.links.0.target",
            ),
            (
                with_storage(
                    json!({"links": [{"path": "/l", "target": "/d", "hard": true}], "directories": [{"path": "/d"}]}),
                ),
                "ign.hardlink-dir",
                "$.storage.links.0.target",
            ),
            (
                with_units(json!([{"name": "etcd"}])),
                "ign.unit-name",
                "$.systemd.units.0.name",
            ),
            (
                with_units(json!([{"name": "a.service"}, {"name": "a.service"}])),
                "ign.unit-duplicate",
                "$.systemd.units.1.name",
            ),
            (
                with_units(json!([{"name": "a.service", "dropins": [{"name": "x.txt"}]}])),
                "ign.dropin-name",
                "$.systemd.units.0.dropins.0.name",
            ),
            (
                with_units(
                    json!([{"name": "a.service", "dropins": [{"name": "x.conf"}, {"name": "x.conf"}]}]),
                ),
                "ign.dropin-duplicate",
                "$.systemd.units.0.dropins.1.name",
            ),
            (
                with_units(json!([{"name": "a.service", "contents": "[Service\n"}])),
                "ign.unit-syntax",
                "$.systemd.units.0.contents",
            ),
            (
                with_units(
                    json!([{"name": "a.service", "dropins": [{"name": "x.conf", "contents": "junk\n"}]}]),
                ),
                "ign.unit-syntax",
                "$.systemd.units.0.dropins.0.contents",
            ),
            (
                with_units(
                    json!([{"name": "a.service", "enabled": true, "contents": "[Service]\nExecStart=/bin/true\n"}]),
                ),
                "ign.unit-no-install",
                "$.systemd.units.0.contents",
            ),
            (
                json!({"ignition": {"version": "3.4.0"}, "storage": {"files": [{"path": "/etc/systemd/system/a.service"}]}, "systemd": {"units": [{"name": "a.service", "contents": "[Unit]\n"}]}}),
                "ign.unit-path-conflict",
                "$.storage.files.0.path",
            ),
            (
                json!({"ignition": {"version": "3.4.0"}, "passwd": {"users": [{"name": "core"}, {"name": "core"}]}}),
                "ign.user-duplicate",
                "$.passwd.users.1.name",
            ),
            (
                json!({"ignition": {"version": "3.4.0"}, "passwd": {"groups": [{"name": "g"}, {"name": "g"}]}}),
                "ign.group-duplicate",
                "$.passwd.groups.1.name",
            ),
            (
                json!({"ignition": {"version": "3.4.0"}, "passwd": {"users": [{"name": "core", "sshAuthorizedKeys": ["k", "k"]}]}}),
                "ign.ssh-key-duplicate",
                "$.passwd.users.0.sshAuthorizedKeys.1",
            ),
            (
                json!({"ignition": {"version": "3.4.0", "config": {"merge": [{"source": "data:,a"}, {"source": "data:,a"}]}}}),
                "ign.duplicate",
                "$.ignition.config.merge.1",
            ),
            (
                json!({"ignition": {"version": "3.4.0", "security": {"tls": {"certificateAuthorities": [{"source": "data:,a"}, {"source": "data:,a"}]}}}}),
                "ign.duplicate",
                "$.ignition.security.tls.certificateAuthorities.1",
            ),
            (
                json!({"ignition": {"version": "3.4.0", "proxy": {"noProxy": ["a", "b", "a"]}}}),
                "ign.duplicate",
                "$.ignition.proxy.noProxy.2",
            ),
            (
                json!({"ignition": {"version": "3.4.0"}, "passwd": {"users": [{"name": "core", "groups": ["wheel", "wheel"]}]}}),
                "ign.duplicate",
                "$.passwd.users.0.groups.1",
            ),
            (
                json!({"ignition": {"version": "3.4.0"}, "storage": {"raid": [{"name": "r", "level": "raid1", "devices": ["/dev/a", "/dev/a"]}]}}),
                "ign.duplicate",
                "$.storage.raid.0.devices.1",
            ),
            (
                json!({"ignition": {"version": "3.4.0"}, "storage": {"luks": [{"name": "l", "device": "/dev/a", "openOptions": ["--x", "--x"], "clevis": {"tang": [{"url": "http://t", "thumbprint": "x"}, {"url": "http://t", "thumbprint": "y"}]}}]}}),
                "ign.duplicate",
                "$.storage.luks.0.clevis.tang.1",
            ),
            (
                json!({"ignition": {"version": "3.4.0"}, "storage": {"luks": [{"name": "l", "device": "/dev/a", "openOptions": ["--x", "--x"]}]}}),
                "ign.duplicate",
                "$.storage.luks.0.openOptions.1",
            ),
            (
                json!({"ignition": {"version": "3.4.0"}, "storage": {"directories": [{"path": "/etc/d"}], "links": [{"path": "/a/l", "target": "/etc/d/", "hard": true}]}}),
                "ign.hardlink-dir",
                "$.storage.links.0.target",
            ),
        ];
        for (config, code, path) in cases {
            let found = codes(config.clone());
            assert!(
                found.contains(&(code, path.to_string())),
                "expected {code} at {path} for {config}, got {found:?}"
            );
        }
    }

    #[test]
    fn url_schemes_follow_the_spec_version() {
        let with_source = |version: &str, source: &str| json!({"ignition": {"version": version}, "storage": {"files": [{"path": "/a", "contents": {"source": source}}]}});
        let arn = "arn:aws:s3:us-east-1:123:accesspoint/x/object/y";
        assert!(codes(with_source("3.4.0", arn)).is_empty());
        let report = check(
            &with_source("3.3.0", arn),
            SpecVersion::V3_3,
            &Parsed::default(),
        );
        assert_eq!(report.diagnostics[0].code, "ign.url-scheme");
    }
}
