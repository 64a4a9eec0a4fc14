//! Files and every other resource Ignition fetches (file contents and appends, merged and
//! replacing configs, CAs, LUKS key files): sources Ignition can fetch for the spec version
//! (`gs://` from 3.2.0, S3 ARNs from 3.4.0), data URLs it can decode, S3 URLs and ARNs in
//! its form, hashes with a known function and size, compression it knows (CAs and merged
//! configs only from 3.1.0), HTTP headers only on http(s) sources, and `overwrite` only
//! with a source.

use crate::json::Lookup;
use std::collections::HashMap;

use serde_json::Value;

use super::nodes::StorageNode;
use crate::diag::Diagnostic;
use crate::ignition::SpecVersion;
use crate::validate::Parsed;
use crate::validate::{array, finding, warning};

pub(super) fn check_file(node: &StorageNode, findings: &mut Vec<Diagnostic>) {
    let overwrite = node.value.member("overwrite").and_then(Value::as_bool) == Some(true);
    let has_source = node
        .value
        .at("/contents/source")
        .is_some_and(|s| !s.is_null());
    if overwrite && !has_source {
        findings.push(finding(
            "ign.overwrite-no-source",
            format!("{}.overwrite", node.json_path()),
            "overwrite is true but contents has no source",
        ));
    }
}

/// Where a resource stands in the config, written out (`$.storage.files.3.contents`) only
/// for a finding.
#[derive(Clone, Copy)]
enum Place {
    Contents(usize),
    Append(usize, usize),
    Merge(usize),
    Replace,
    Authority(usize),
    KeyFile(usize),
}

impl Place {
    /// File contents and appends: the only resources spec 3.0.0 lets compress.
    fn is_file(self) -> bool {
        matches!(self, Place::Contents(_) | Place::Append(..))
    }
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Contents(file) => write!(f, "$.storage.files.{file}.contents"),
            Place::Append(file, index) => write!(f, "$.storage.files.{file}.append.{index}"),
            Place::Merge(index) => write!(f, "$.ignition.config.merge.{index}"),
            Place::Replace => write!(f, "$.ignition.config.replace"),
            Place::Authority(index) => {
                write!(f, "$.ignition.security.tls.certificateAuthorities.{index}")
            }
            Place::KeyFile(index) => write!(f, "$.storage.luks.{index}.keyFile"),
        }
    }
}

/// Every resource in the config with its place.
fn resources(config: &Value) -> Vec<(Place, &Value)> {
    let mut out = Vec::new();
    for (index, file) in array(config, "/storage/files").iter().enumerate() {
        if let Some(contents) = file.member("contents") {
            out.push((Place::Contents(index), contents));
        }
        for (append_index, append) in array(file, "/append").iter().enumerate() {
            out.push((Place::Append(index, append_index), append));
        }
    }
    for (index, merge) in array(config, "/ignition/config/merge").iter().enumerate() {
        out.push((Place::Merge(index), merge));
    }
    if let Some(replace) = config.at("/ignition/config/replace") {
        out.push((Place::Replace, replace));
    }
    for (index, ca) in array(config, "/ignition/security/tls/certificateAuthorities")
        .iter()
        .enumerate()
    {
        out.push((Place::Authority(index), ca));
    }
    for (index, luks) in array(config, "/storage/luks").iter().enumerate() {
        if let Some(key_file) = luks.member("keyFile") {
            out.push((Place::KeyFile(index), key_file));
        }
    }
    out
}

pub(super) fn check(
    config: &Value,
    version: SpecVersion,
    parsed: &Parsed,
    findings: &mut Vec<Diagnostic>,
) {
    for (at, resource) in resources(config) {
        // Ignition reads `"source": ""` as no source at all.
        let source = resource
            .member("source")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let compression = resource
            .member("compression")
            .and_then(Value::as_str)
            .unwrap_or("");
        // In 3.0.0 only file contents know `compression`: on a merged config or a CA,
        // Ignition ignores it, and so it is an unknown key, not a wrong value.
        let counts = version > SpecVersion::V3_0 || at.is_file();
        if !counts && resource.member("compression").is_some() {
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
        let hash = resource.at("/verification/hash").and_then(Value::as_str);
        if let Some(hash) = hash {
            check_hash(hash, source.is_some(), at, version, findings);
        }
        if let Some(source) = source {
            check_source(source, at, version, parsed, findings);
        }
        let headers = array(resource, "/httpHeaders");
        let scheme = source.map(crate::validate::go_url::scheme);
        let is_http = matches!(
            scheme.as_ref().map(|s| s.as_deref()),
            Some(Ok("http" | "https"))
        );
        check_headers(headers, at, findings);
        if !headers.is_empty() && !is_http {
            findings.push(finding(
                "ign.http-headers",
                format!("{at}.httpHeaders"),
                "HTTP headers are only allowed with http(s) sources",
            ));
        }
    }
}

/// Header names must be non-empty and given once, and a value, when given, not empty.
fn check_headers(headers: &[Value], at: Place, findings: &mut Vec<Diagnostic>) {
    let mut seen = HashMap::new();
    for (index, header) in headers.iter().enumerate() {
        if header.member("value").and_then(Value::as_str) == Some("") {
            findings.push(finding(
                "ign.http-headers",
                format!("{at}.httpHeaders.{index}.value"),
                "an HTTP header's value is empty: give one, or leave the value out",
            ));
        }
        let name = header.member("name").and_then(Value::as_str).unwrap_or("");
        let path = || format!("{at}.httpHeaders.{index}.name");
        if name.trim().is_empty() {
            findings.push(finding(
                "ign.http-headers",
                path(),
                "an HTTP header needs a name",
            ));
        } else if let Some(first) = seen.insert(name.to_ascii_lowercase(), index) {
            findings.push(finding(
                "ign.http-headers",
                path(),
                format!("header {name} is also given at index {first}"),
            ));
        }
    }
}

fn check_hash(
    hash: &str,
    has_source: bool,
    at: Place,
    version: SpecVersion,
    findings: &mut Vec<Diagnostic>,
) {
    let at = || format!("{at}.verification.hash");
    if !has_source {
        findings.push(finding(
            "ign.verification-no-source",
            at(),
            "verification needs a source",
        ));
    }
    let Some((function, digest)) = hash.split_once('-') else {
        findings.push(finding(
            "ign.hash-format",
            at(),
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
                at(),
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
            at(),
            format!(
                "a {function} digest has {expected} hex digits, this one {}",
                digest.len()
            ),
        ));
    } else if !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        findings.push(finding(
            "ign.hash-hex",
            at(),
            "the digest has characters that are not hex digits",
        ));
    }
}

fn check_source(
    source: &str,
    at: Place,
    version: SpecVersion,
    parsed: &Parsed,
    findings: &mut Vec<Diagnostic>,
) {
    let at = || format!("{at}.source");
    let scheme = match crate::validate::go_url::scheme(source) {
        Ok(scheme) => scheme,
        Err(reason) => {
            findings.push(finding(
                "ign.url",
                at(),
                format!("{:?} is not a valid URL: {reason}", shorten(source)),
            ));
            return;
        }
    };
    let allowed = match scheme.as_str() {
        "http" | "https" | "tftp" | "s3" | "data" => true,
        "gs" => version >= SpecVersion::V3_2,
        "arn" => version >= SpecVersion::V3_4,
        _ => false,
    };
    if !allowed {
        findings.push(finding(
            "ign.url-scheme",
            at(),
            format!(
                "URL scheme of {:?} is not supported by spec {}",
                shorten(source),
                version.as_str()
            ),
        ));
        return;
    }
    if scheme == "data" {
        if let Err(error) = parsed.decode(source).as_ref() {
            findings.push(finding(
                "ign.data-url",
                at(),
                format!("data URL does not decode: {error}"),
            ));
        }
    } else if let Ok(url) = url::Url::parse(source)
        && let Some(problem) = s3_problem(&url)
    {
        findings.push(finding("ign.s3", at(), problem));
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
