//! The semantic rules Ignition enforces when it runs (shared/reference/ignition-rules.md),
//! plus kindling's stricter ones. One function per rule family; each finding has a stable
//! code and the JSON path of the offending value. Sections with rules of their own live in
//! the submodules, organised as the spec is; files, links, units and passwd are still here.
//!
//! The rules read the config as JSON, so they apply to any config, not only kindling's.

mod disks;
mod filesystems;
mod ignition_section;
mod kernel_args;
mod luks;
mod raid;

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::unit::parse_sections;
use super::{array, finding, warning};
use crate::diag::{Diagnostic, Report};
use crate::ignition::{SpecVersion, dataurl};

/// Runs every rule over a config of spec `version`.
pub fn check(config: &Value, version: SpecVersion) -> Report {
    let mut findings = Vec::new();
    check_version(config, version, &mut findings);
    check_whole_numbers(config, "$", &mut findings);
    let nodes = storage_nodes(config);
    check_node_paths(&nodes, &mut findings);
    check_nodes(&nodes, version, &mut findings);
    check_resources(config, version, &mut findings);
    check_units(config, &mut findings);
    check_unit_path_conflicts(config, &nodes, &mut findings);
    check_passwd(config, &mut findings);
    ignition_section::check(config, version, &mut findings);
    disks::check(config, &mut findings);
    filesystems::check(config, version, &mut findings);
    raid::check(config, &mut findings);
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

/// Every number in an Ignition config is an integer, and Go's decoder refuses `420.0` or
/// `4.2e2` for one (JSON Schema would call both integers).
fn check_whole_numbers(value: &Value, at: &str, findings: &mut Vec<Diagnostic>) {
    match value {
        Value::Number(number) if !number.is_i64() && !number.is_u64() => findings.push(finding(
            "ign.schema",
            at.to_string(),
            format!("{number} is not a whole number written as one (no fraction, no exponent)"),
        )),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                check_whole_numbers(item, &format!("{at}.{index}"), findings);
            }
        }
        Value::Object(members) => {
            for (key, member) in members {
                check_whole_numbers(member, &format!("{at}.{key}"), findings);
            }
        }
        _ => {}
    }
}

/// A device or mount path that must be absolute.
fn absolute_path(code: &'static str, path: &str, at: &str, findings: &mut Vec<Diagnostic>) {
    if !path.starts_with('/') {
        findings.push(finding(code, at.to_string(), "path not absolute"));
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

/// A file, directory or link: they share one namespace keyed by path.
struct StorageNode<'a> {
    kind: &'static str,
    json_path: String,
    value: &'a Value,
}

impl StorageNode<'_> {
    fn path(&self) -> Option<&str> {
        self.value.get("path").and_then(Value::as_str)
    }
}

fn storage_nodes(config: &Value) -> Vec<StorageNode<'_>> {
    let mut nodes = Vec::new();
    for (kind, list) in [
        ("file", "files"),
        ("directory", "directories"),
        ("link", "links"),
    ] {
        for (index, value) in array(config, &format!("/storage/{list}"))
            .iter()
            .enumerate()
        {
            nodes.push(StorageNode {
                kind,
                json_path: format!("$.storage.{list}.{index}"),
                value,
            });
        }
    }
    nodes
}

fn check_version(config: &Value, version: SpecVersion, findings: &mut Vec<Diagnostic>) {
    let declared = config.pointer("/ignition/version").and_then(Value::as_str);
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

/// A path is usable when it is absolute and cleaning it changes nothing.
fn path_problem(path: &str) -> Option<&'static str> {
    if !path.starts_with('/') {
        return Some("path is not absolute");
    }
    let unclean = path.len() > 1 && path.ends_with('/')
        || path.contains("//")
        || path.split('/').any(|part| part == "." || part == "..");
    unclean.then_some("path is not in simplest form (no //, /./, /../ or trailing /)")
}

fn check_node_paths(nodes: &[StorageNode], findings: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    let links: Vec<&str> = nodes
        .iter()
        .filter(|n| n.kind == "link")
        .filter_map(StorageNode::path)
        .collect();
    for node in nodes {
        let Some(path) = node.path() else { continue };
        let at = format!("{}.path", node.json_path);
        if let Some(problem) = path_problem(path) {
            let code = if path.starts_with('/') {
                "ign.path-unclean"
            } else {
                "ign.path-relative"
            };
            findings.push(finding(code, at.clone(), format!("{problem}: {path:?}")));
        }
        if let Some(first) = seen.insert(path, &node.json_path) {
            findings.push(finding(
                "ign.path-duplicate",
                at.clone(),
                format!("{path} is also configured at {first}"),
            ));
        }
        if let Some(link) = links.iter().find(|link| {
            path.len() > link.len()
                && path.starts_with(*link)
                && path.as_bytes()[link.len()] == b'/'
        }) {
            findings.push(finding(
                "ign.path-under-link",
                at,
                format!("{path} lies under {link}, which is a link"),
            ));
        }
    }
}

fn check_nodes(nodes: &[StorageNode], version: SpecVersion, findings: &mut Vec<Diagnostic>) {
    let directories: Vec<&str> = nodes
        .iter()
        .filter(|n| n.kind == "directory")
        .filter_map(StorageNode::path)
        .collect();
    for node in nodes {
        for owner in ["user", "group"] {
            let value = &node.value[owner];
            if value.get("id").is_some_and(|v| !v.is_null())
                && value.get("name").is_some_and(|v| !v.is_null())
            {
                findings.push(finding(
                    "ign.owner-both",
                    format!("{}.{owner}", node.json_path),
                    format!("{owner} sets both id and name"),
                ));
            }
        }
        if let Some(mode) = node.value.get("mode").and_then(Value::as_i64) {
            check_mode(mode, &node.json_path, version, findings);
        }
        match node.kind {
            "file" => check_file(node, findings),
            "link" => check_link(node, &directories, version, findings),
            _ => {}
        }
    }
}

fn check_mode(mode: i64, at: &str, version: SpecVersion, findings: &mut Vec<Diagnostic>) {
    let at = format!("{at}.mode");
    if !(0..=0o7777).contains(&mode) {
        findings.push(finding(
            "ign.mode-range",
            at,
            format!("mode {mode} is outside 0..=0o7777 (written in decimal)"),
        ));
    } else if mode & 0o7000 != 0 && version <= SpecVersion::V3_4 {
        findings.push(warning("ign.mode-special", at, format!("mode 0{mode:o} sets setuid/setgid/sticky bits, which Ignition before spec 3.6 ignores")));
    }
}

fn check_file(node: &StorageNode, findings: &mut Vec<Diagnostic>) {
    let overwrite = node.value.get("overwrite").and_then(Value::as_bool) == Some(true);
    let has_source = node
        .value
        .pointer("/contents/source")
        .is_some_and(|s| !s.is_null());
    if overwrite && !has_source {
        findings.push(finding(
            "ign.overwrite-no-source",
            format!("{}.overwrite", node.json_path),
            "overwrite is true but contents has no source",
        ));
    }
}

fn check_link(
    node: &StorageNode,
    directories: &[&str],
    version: SpecVersion,
    findings: &mut Vec<Diagnostic>,
) {
    let target = node.value.get("target").and_then(Value::as_str);
    let Some(target) = target.filter(|t| !t.is_empty()) else {
        // Ignition requires a target from spec 3.3.0 on; before, it accepts the config.
        if version >= SpecVersion::V3_3 {
            findings.push(finding(
                "ign.link-target",
                format!("{}.target", node.json_path),
                "link target is required",
            ));
        }
        return;
    };
    let hard = node.value.get("hard").and_then(Value::as_bool) == Some(true);
    for owner in ["user", "group"].into_iter().filter(|o| {
        hard && node
            .value
            .get(*o)
            .is_some_and(|v| v.as_object().is_some_and(|m| !m.is_empty()))
    }) {
        findings.push(warning(
            "ign.hardlink-owner",
            format!("{}.{owner}", node.json_path),
            format!("a hard link shares its target's owner: this {owner} is ignored"),
        ));
    }
    if hard && directories.contains(&target) {
        findings.push(finding(
            "ign.hardlink-dir",
            format!("{}.target", node.json_path),
            format!("hard link to {target}, a configured directory"),
        ));
    }
}

/// Every resource in the config with its JSON path.
fn resources(config: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    for (index, file) in array(config, "/storage/files").iter().enumerate() {
        if let Some(contents) = file.get("contents") {
            out.push((format!("$.storage.files.{index}.contents"), contents));
        }
        for (append_index, append) in array(file, "/append").iter().enumerate() {
            out.push((
                format!("$.storage.files.{index}.append.{append_index}"),
                append,
            ));
        }
    }
    for (index, merge) in array(config, "/ignition/config/merge").iter().enumerate() {
        out.push((format!("$.ignition.config.merge.{index}"), merge));
    }
    if let Some(replace) = config.pointer("/ignition/config/replace") {
        out.push(("$.ignition.config.replace".into(), replace));
    }
    for (index, ca) in array(config, "/ignition/security/tls/certificateAuthorities")
        .iter()
        .enumerate()
    {
        out.push((
            format!("$.ignition.security.tls.certificateAuthorities.{index}"),
            ca,
        ));
    }
    for (index, luks) in array(config, "/storage/luks").iter().enumerate() {
        if let Some(key_file) = luks.get("keyFile") {
            out.push((format!("$.storage.luks.{index}.keyFile"), key_file));
        }
    }
    out
}

fn check_resources(config: &Value, version: SpecVersion, findings: &mut Vec<Diagnostic>) {
    for (at, resource) in resources(config) {
        // Ignition reads `"source": ""` as no source at all.
        let source = resource
            .get("source")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let compression = resource
            .get("compression")
            .and_then(Value::as_str)
            .unwrap_or("");
        // In 3.0.0 only file contents know `compression`: on a merged config or a CA,
        // Ignition ignores it, and so it is an unknown key, not a wrong value.
        let counts = version > SpecVersion::V3_0 || at.starts_with("$.storage.files.");
        if !counts && resource.get("compression").is_some() {
            findings.push(warning(
                "ign.unknown-key",
                format!("{at}.compression"),
                "unknown key \"compression\": spec 3.0.0 does not define it here",
            ));
        } else if counts && !matches!(compression, "" | "gzip") {
            findings.push(finding(
                "ign.compression",
                format!("{at}.compression"),
                format!("compression {compression:?} is not \"gzip\""),
            ));
        }
        let hash = resource
            .pointer("/verification/hash")
            .and_then(Value::as_str);
        if let Some(hash) = hash {
            check_hash(hash, source.is_some(), &at, version, findings);
        }
        if let Some(source) = source {
            check_source(source, &at, version, findings);
        }
        let headers = array(resource, "/httpHeaders");
        let is_http = source.is_some_and(|s| s.starts_with("http://") || s.starts_with("https://"));
        check_header_names(headers, &at, findings);
        if !headers.is_empty() && !is_http {
            findings.push(finding(
                "ign.http-headers",
                format!("{at}.httpHeaders"),
                "HTTP headers are only allowed with http(s) sources",
            ));
        }
    }
}

/// Header names must be non-empty and given once.
fn check_header_names(headers: &[Value], at: &str, findings: &mut Vec<Diagnostic>) {
    let mut seen = HashMap::new();
    for (index, header) in headers.iter().enumerate() {
        let name = header.get("name").and_then(Value::as_str).unwrap_or("");
        let path = format!("{at}.httpHeaders.{index}.name");
        if name.trim().is_empty() {
            findings.push(finding(
                "ign.http-headers",
                path,
                "an HTTP header needs a name",
            ));
        } else if let Some(first) = seen.insert(name.to_ascii_lowercase(), index) {
            findings.push(finding(
                "ign.http-headers",
                path,
                format!("header {name} is also given at index {first}"),
            ));
        }
    }
}

fn check_hash(
    hash: &str,
    has_source: bool,
    at: &str,
    version: SpecVersion,
    findings: &mut Vec<Diagnostic>,
) {
    let at = format!("{at}.verification.hash");
    if !has_source {
        findings.push(finding(
            "ign.verification-no-source",
            at.clone(),
            "verification needs a source",
        ));
    }
    let Some((function, digest)) = hash.split_once('-') else {
        findings.push(finding(
            "ign.hash-format",
            at,
            format!("hash {hash:?} is not <function>-<hex>"),
        ));
        return;
    };
    let expected = match function {
        "sha512" => 128,
        "sha256" if version >= SpecVersion::V3_1 => 64,
        _ => {
            findings.push(finding(
                "ign.hash-format",
                at,
                format!(
                    "hash function {function:?} is not supported by spec {}",
                    version.as_str()
                ),
            ));
            return;
        }
    };
    if digest.len() != expected {
        findings.push(finding(
            "ign.hash-format",
            at,
            format!(
                "a {function} digest has {expected} hex digits, this one {}",
                digest.len()
            ),
        ));
    } else if !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        findings.push(finding(
            "ign.hash-hex",
            at,
            "the digest has characters that are not hex digits",
        ));
    }
}

fn check_source(source: &str, at: &str, version: SpecVersion, findings: &mut Vec<Diagnostic>) {
    let at = format!("{at}.source");
    let scheme = source.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    let allowed = match scheme.as_deref() {
        Some("http" | "https" | "tftp" | "s3" | "data") => true,
        Some("gs") => version >= SpecVersion::V3_2,
        Some("arn") => version >= SpecVersion::V3_4,
        _ => false,
    };
    if !allowed {
        findings.push(finding(
            "ign.url-scheme",
            at,
            format!(
                "URL scheme of {:?} is not supported by spec {}",
                shorten(source),
                version.as_str()
            ),
        ));
        return;
    }
    if scheme.as_deref() == Some("data") {
        if let Err(error) = dataurl::decode(source) {
            findings.push(finding(
                "ign.data-url",
                at,
                format!("data URL does not decode: {error}"),
            ));
        }
    } else if let Ok(url) = url::Url::parse(source) {
        if let Some(problem) = s3_problem(&url) {
            findings.push(finding("ign.s3", at, problem));
        }
    } else {
        findings.push(finding(
            "ign.url",
            at,
            format!("{:?} is not a valid URL", shorten(source)),
        ));
    }
}

/// What Ignition refuses in an `s3://` URL or an S3 ARN: an empty `versionId`, an ARN that
/// is not `arn:PARTITION:s3:REGION:ACCOUNT:RESOURCE` naming an object.
fn s3_problem(url: &url::Url) -> Option<&'static str> {
    let empty_version = url
        .query_pairs()
        .any(|(k, v)| k == "versionId" && v.is_empty());
    match url.scheme() {
        "s3" if empty_version => Some("invalid S3 object VersionId"),
        "arn" => {
            let full = format!("arn:{}", url.path());
            let parts: Vec<&str> = full.splitn(6, ':').collect();
            let resource = parts.get(5).copied().unwrap_or("");
            let segments = full.split('/').count();
            let needed = if resource.starts_with("accesspoint/") {
                3
            } else {
                2
            };
            if parts.len() < 6 || parts[2] != "s3" || segments < needed {
                Some("invalid S3 ARN format")
            } else if empty_version {
                Some("invalid S3 object VersionId")
            } else {
                None
            }
        }
        _ => None,
    }
}

fn shorten(text: &str) -> String {
    text.chars().take(60).collect()
}

const UNIT_SUFFIXES: [&str; 12] = [
    ".service",
    ".socket",
    ".device",
    ".mount",
    ".automount",
    ".swap",
    ".target",
    ".path",
    ".timer",
    ".snapshot",
    ".slice",
    ".scope",
];

fn check_units(config: &Value, findings: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let units = array(config, "/systemd/units");
    for (index, unit) in units.iter().enumerate() {
        let at = format!("$.systemd.units.{index}");
        let name = unit.get("name").and_then(Value::as_str).unwrap_or("");
        if !UNIT_SUFFIXES
            .iter()
            .any(|suffix| name.len() > suffix.len() && name.ends_with(suffix))
            || name.contains('/')
        {
            findings.push(finding(
                "ign.unit-name",
                format!("{at}.name"),
                format!("{name:?} is not a unit name with a known type suffix"),
            ));
        }
        if let Some(first) = seen.insert(name, index) {
            findings.push(finding(
                "ign.unit-duplicate",
                format!("{at}.name"),
                format!("unit {name} is also configured at $.systemd.units.{first}"),
            ));
        }
        let contents = unit.get("contents").and_then(Value::as_str);
        if let Some(contents) = contents {
            check_unit_text(contents, &format!("{at}.contents"), findings);
        }
        let enabled = unit.get("enabled").and_then(Value::as_bool) == Some(true);
        // Contents that do not parse are reported as ign.unit-syntax, not as missing [Install].
        if enabled && contents.is_some_and(lacks_install) {
            findings.push(warning(
                "ign.unit-no-install",
                format!("{at}.enabled"),
                format!("{name} is enabled but has no [Install] section, so enabling does nothing"),
            ));
        }
        if enabled && contents.is_none() {
            check_template_install(units, name, findings);
        }
        check_dropins(unit, &at, findings);
    }
}

/// Whether unit contents parse and have no `[Install]` section.
fn lacks_install(contents: &str) -> bool {
    parse_sections(contents).is_ok_and(|sections| !sections.iter().any(|s| s == "Install"))
}

/// An enabled instance (`a@one.service`) without contents of its own is enabled through its
/// template (`a@.service`), which then needs an `[Install]` section.
fn check_template_install(units: &[Value], instance: &str, findings: &mut Vec<Diagnostic>) {
    let Some((prefix, rest)) = instance.split_once('@') else {
        return;
    };
    let Some((_, suffix)) = rest.rsplit_once('.') else {
        return;
    };
    let template = format!("{prefix}@.{suffix}");
    let found = units
        .iter()
        .enumerate()
        .find(|(_, u)| u.get("name").and_then(Value::as_str) == Some(template.as_str()));
    if let Some((index, unit)) = found
        && unit
            .get("contents")
            .and_then(Value::as_str)
            .is_some_and(lacks_install)
    {
        findings.push(warning(
            "ign.unit-no-install",
            format!("$.systemd.units.{index}.contents"),
            format!(
                "template unit {template:?} for {instance:?} doesn't have an [Install] section"
            ),
        ));
    }
}

fn check_dropins(unit: &Value, at: &str, findings: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (index, dropin) in array(unit, "/dropins").iter().enumerate() {
        let at = format!("{at}.dropins.{index}");
        let name = dropin.get("name").and_then(Value::as_str).unwrap_or("");
        if !name.ends_with(".conf") || name.len() <= 5 || name.contains('/') {
            findings.push(finding(
                "ign.dropin-name",
                format!("{at}.name"),
                format!("drop-in name {name:?} must end in .conf"),
            ));
        }
        if let Some(first) = seen.insert(name, index) {
            findings.push(finding(
                "ign.dropin-duplicate",
                format!("{at}.name"),
                format!("drop-in {name} is also configured at index {first}"),
            ));
        }
        if let Some(contents) = dropin.get("contents").and_then(Value::as_str) {
            check_unit_text(contents, &format!("{at}.contents"), findings);
        }
    }
}

fn check_unit_text(text: &str, at: &str, findings: &mut Vec<Diagnostic>) {
    if let Err(error) = parse_sections(text) {
        findings.push(finding(
            "ign.unit-syntax",
            at.to_string(),
            format!("line {}: {}", error.line, error.message),
        ));
    }
}

/// A file, directory or link at a unit's own path would fight the unit Ignition writes.
fn check_unit_path_conflicts(
    config: &Value,
    nodes: &[StorageNode],
    findings: &mut Vec<Diagnostic>,
) {
    let mut unit_paths: BTreeMap<String, String> = BTreeMap::new();
    for (index, unit) in array(config, "/systemd/units").iter().enumerate() {
        let name = unit.get("name").and_then(Value::as_str).unwrap_or("");
        if unit.get("contents").is_some_and(|c| !c.is_null()) {
            unit_paths.insert(
                format!("/etc/systemd/system/{name}"),
                format!("$.systemd.units.{index}"),
            );
        }
        for (dropin_index, dropin) in array(unit, "/dropins").iter().enumerate() {
            let dropin_name = dropin.get("name").and_then(Value::as_str).unwrap_or("");
            if dropin.get("contents").is_some_and(|c| !c.is_null()) {
                unit_paths.insert(
                    format!("/etc/systemd/system/{name}.d/{dropin_name}"),
                    format!("$.systemd.units.{index}.dropins.{dropin_index}"),
                );
            }
        }
    }
    for node in nodes {
        if let Some(unit) = node.path().and_then(|p| unit_paths.get(p)) {
            findings.push(finding(
                "ign.unit-path-conflict",
                format!("{}.path", node.json_path),
                format!(
                    "this {} is at the path of the unit or drop-in at {unit}",
                    node.kind
                ),
            ));
        }
    }
}

fn check_passwd(config: &Value, findings: &mut Vec<Diagnostic>) {
    for (list, code) in [
        ("users", "ign.user-duplicate"),
        ("groups", "ign.group-duplicate"),
    ] {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (index, entry) in array(config, &format!("/passwd/{list}")).iter().enumerate() {
            let name = entry.get("name").and_then(Value::as_str).unwrap_or("");
            if let Some(first) = seen.insert(name, index) {
                findings.push(finding(
                    code,
                    format!("$.passwd.{list}.{index}.name"),
                    format!("{name} is also configured at $.passwd.{list}.{first}"),
                ));
            }
            let mut keys: HashMap<&str, usize> = HashMap::new();
            for (key_index, key) in array(entry, "/sshAuthorizedKeys").iter().enumerate() {
                let key = key.as_str().unwrap_or("");
                if keys.insert(key, key_index).is_some() {
                    findings.push(finding(
                        "ign.ssh-key-duplicate",
                        format!("$.passwd.{list}.{index}.sshAuthorizedKeys.{key_index}"),
                        "the same SSH key is listed twice",
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn codes(config: Value) -> Vec<(&'static str, String)> {
        check(&config, SpecVersion::V3_4)
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
                "$.systemd.units.0.enabled",
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
        let report = check(&with_source("3.3.0", arn), SpecVersion::V3_3);
        assert_eq!(report.diagnostics[0].code, "ign.url-scheme");
    }
}
