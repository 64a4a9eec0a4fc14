//! An Ignition config as a person reads it: Butane-style YAML (snake_case keys, octal modes,
//! file contents decoded and un-gzipped into `inline:` blocks, units as text). `kindling
//! show` prints it; `check --golden` diffs it, so a PR's golden changes read like the change
//! that caused them.
//!
//! One redaction covers every place a key can hide: every string of the config (file
//! contents, units, drop-ins, users, anything) has each PEM block and each run of encoded
//! data replaced by a one-line fingerprint, and every data URL outside file contents (merge
//! and replace configs, CA sources, any other field, whatever the case of its scheme) is
//! shown only by its size and fingerprint. Inflation is bounded per file and per config, so
//! a gzip bomb costs what `validate` costs.

use serde_json::{Map, Value};

use crate::ignition::{InflateError, dataurl, gunzip};

/// The most of one file's gzip contents `show` inflates; a larger file is summarised.
const SHOWN_INFLATE_LIMIT: u64 = 4 << 20;
/// The most inflated bytes `show` holds for a whole config; later gzip files are summarised.
const SHOWN_INFLATE_BUDGET: u64 = 64 << 20;

/// The readable form of `config`, ending in a newline.
pub fn render(config: &Value) -> String {
    let mut view = config.clone();
    let mut budget = SHOWN_INFLATE_BUDGET;
    decode_contents(&mut view, &mut budget);
    redact_strings(&mut view);
    let mut out = String::new();
    match &view {
        Value::Object(fields) if !fields.is_empty() => mapping(&mut out, fields, 0, None),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

/// Every string of the view redacted: PEM blocks and runs of encoded data fingerprinted,
/// data URLs (anywhere, any case) summarised.
fn redact_strings(value: &mut Value) {
    match value {
        Value::String(text) => {
            let shown = if is_data_url(text) {
                format!(
                    "[a data URL, {} bytes, fingerprint {}]",
                    text.len(),
                    fingerprint(text.as_bytes())
                )
            } else {
                let without_pem = redact_pem(text);
                crate::redact::scrub_with(&without_pem, |run| {
                    format!("[redacted, fingerprint {}]", fingerprint(run.as_bytes()))
                })
                .into_owned()
            };
            if shown != *text {
                *text = shown;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_strings),
        Value::Object(fields) => fields.values_mut().for_each(redact_strings),
        _ => {}
    }
}

/// Whether `text` is a data URL, whatever the case of its scheme (Ignition would refuse an
/// upper-case one, but it is printed all the same).
fn is_data_url(text: &str) -> bool {
    text.get(..5)
        .is_some_and(|s| s.eq_ignore_ascii_case("data:"))
}

/// Replaces each decodable data URL of a file's contents or appends with its text.
fn decode_contents(config: &mut Value, budget: &mut u64) {
    let Some(files) = config
        .pointer_mut("/storage/files")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for file in files {
        if let Some(contents) = file.get_mut("contents") {
            decode_resource(contents, budget);
        }
        if let Some(appends) = file.get_mut("append").and_then(Value::as_array_mut) {
            for append in appends {
                decode_resource(append, budget);
            }
        }
    }
}

fn decode_resource(resource: &mut Value, budget: &mut u64) {
    let Some(fields) = resource.as_object_mut() else {
        return;
    };
    let Some(source) = fields.get("source").and_then(Value::as_str) else {
        return;
    };
    if !source.starts_with("data:") {
        return; // a remote source, or a data URL Ignition refuses: redacted as any string
    }
    let gzipped = fields.get("compression").and_then(Value::as_str) == Some("gzip");
    let summary = |what: &str, bytes: &[u8]| {
        format!(
            "[{what}, {} bytes, fingerprint {}]",
            bytes.len(),
            fingerprint(bytes)
        )
    };
    let shown = match dataurl::decode(source) {
        Err(_) => summary("a data URL that does not decode", source.as_bytes()),
        Ok(bytes) if gzipped => {
            let limit = SHOWN_INFLATE_LIMIT.min(*budget);
            match gunzip(&bytes, limit) {
                Ok(inflated) => {
                    *budget -= inflated.len() as u64;
                    text_or_summary(inflated)
                }
                Err(InflateError::TooLarge { .. }) => {
                    summary("gzip contents too large to show inflated", &bytes)
                }
                Err(InflateError::Corrupt(_)) => {
                    summary("gzip contents that do not inflate", &bytes)
                }
            }
        }
        Ok(bytes) => text_or_summary(bytes),
    };
    fields.remove("source");
    fields.remove("compression");
    fields.insert("inline".into(), Value::String(shown));
}

/// Text as it is (redacted later with every other string), binary as a summary.
fn text_or_summary(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(binary) => format!(
            "[binary contents, {} bytes, fingerprint {}]",
            binary.as_bytes().len(),
            fingerprint(binary.as_bytes())
        ),
    }
}

/// Every PEM block replaced by one line with its fingerprint: certificates named as such,
/// anything else (a private key, or a block whose label was edited) redacted. An
/// unterminated block is redacted to the end of the text.
pub fn redact_pem(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(begin) = rest.find("-----BEGIN") {
        out.push_str(&rest[..begin]);
        let block = &rest[begin..];
        let end = match block.find("-----END") {
            Some(at) => block[at + 8..]
                .find("-----")
                .map_or(block.len(), |close| at + 8 + close + 5),
            None => block.len(),
        };
        let (pem, after) = block.split_at(end);
        let is_certificate = pem.starts_with("-----BEGIN CERTIFICATE-----")
            && pem.ends_with("-----END CERTIFICATE-----");
        let what = if is_certificate {
            "certificate"
        } else if pem
            .lines()
            .next()
            .is_some_and(|l| l.contains("PRIVATE KEY"))
        {
            "private key redacted"
        } else {
            "PEM block redacted"
        };
        out.push_str(&format!(
            "[{what}, fingerprint {}]",
            fingerprint(pem.as_bytes())
        ));
        rest = after;
    }
    out.push_str(rest);
    out
}

/// A short, non-reversible tag that changes when the bytes change (the first 8 hex digits of
/// their SHA-256): enough to see "this key was replaced", nothing about the key.
pub fn fingerprint(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(bytes)[..4])
}

/// Keys that name an entry come first, as in Butane's examples; the rest in order.
const LEADING_KEYS: [&str; 4] = ["name", "path", "device", "number"];

fn ordered(fields: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = fields.iter().collect();
    entries.sort_by_key(|(key, _)| {
        LEADING_KEYS
            .iter()
            .position(|lead| lead == key)
            .unwrap_or(LEADING_KEYS.len())
    });
    entries
}

fn mapping(out: &mut String, fields: &Map<String, Value>, indent: usize, first: Option<&str>) {
    for (index, (key, value)) in ordered(fields).into_iter().enumerate() {
        match (index, first) {
            (0, Some(prefix)) => out.push_str(prefix),
            _ => out.push_str(&" ".repeat(indent)),
        }
        out.push_str(&crate::butane::butane_key(key));
        out.push(':');
        after_key(out, key, value, indent);
    }
}

fn after_key(out: &mut String, key: &str, value: &Value, indent: usize) {
    match value {
        Value::Object(fields) if fields.is_empty() => out.push_str(" {}\n"),
        Value::Object(fields) => {
            out.push('\n');
            mapping(out, fields, indent + 2, None);
        }
        Value::Array(items) if items.is_empty() => out.push_str(" []\n"),
        Value::Array(items) => {
            out.push('\n');
            sequence(out, items, indent + 2);
        }
        Value::Number(mode) if key == "mode" && mode.as_u64().is_some() => {
            out.push_str(&format!(" 0{:o}\n", mode.as_u64().unwrap_or_default()));
        }
        Value::String(text) if block_fits(text) => block(out, text, indent + 2),
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn sequence(out: &mut String, items: &[Value], indent: usize) {
    let dash = format!("{}- ", " ".repeat(indent));
    for item in items {
        match item {
            Value::Object(fields) if !fields.is_empty() => {
                mapping(out, fields, indent + 2, Some(&dash));
            }
            Value::String(text) if block_fits(text) => {
                out.push_str(dash.trim_end());
                block(out, text, indent + 2);
            }
            other => {
                out.push_str(&dash);
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

/// Multi-line text a literal block can hold exactly.
fn block_fits(text: &str) -> bool {
    text.contains('\n')
        && !text.starts_with([' ', '\t', '\n'])
        && text
            .chars()
            .all(|c| c == '\n' || c == '\t' || !c.is_control())
}

/// ` |` (one final newline), ` |-` (none) or ` |+` (more), then the lines indented.
fn block(out: &mut String, text: &str, indent: usize) {
    let body = text.trim_end_matches('\n');
    let chomp = match text.len() - body.len() {
        0 => "-",
        1 => "",
        _ => "+",
    };
    out.push_str(&format!(" |{chomp}\n"));
    let pad = " ".repeat(indent);
    for line in text.strip_suffix('\n').unwrap_or(text).split('\n') {
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
        out.push('\n');
    }
}

/// A scalar as YAML: plain when it cannot be misread, double-quoted (JSON escaping, which
/// YAML shares) otherwise.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) if is_plain(text) => text.clone(),
        Value::String(text) => Value::String(text.clone()).to_string(),
        other => other.to_string(),
    }
}

fn is_plain(text: &str) -> bool {
    let reserved = matches!(
        text.to_ascii_lowercase().as_str(),
        "" | "~" | "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
    );
    let first_ok = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '.'));
    let looks_numeric = text.parse::<f64>().is_ok() || text.starts_with("0x");
    !reserved
        && first_ok
        && !looks_numeric
        && !text.ends_with([' ', ':'])
        && !text.contains(": ")
        && !text.contains(" #")
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " /_.:=,@+%~-()".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn files_are_decoded_and_keys_read_like_butane() {
        let gzipped = {
            use std::io::Write;
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(b"zipped\n").unwrap();
            encoder.finish().unwrap()
        };
        let config = json!({
            "ignition": {"version": "3.4.0"},
            "passwd": {"users": [{"name": "core", "sshAuthorizedKeys": ["ssh-ed25519 AAAA x"]}]},
            "storage": {"files": [
                {"path": "/etc/a", "mode": 420, "contents": {"source": "data:,line%201%0Aline%202%0A"}},
                {"path": "/etc/z", "mode": 384, "contents": {"compression": "gzip", "source": dataurl::encode(&gzipped)}}
            ]},
            "systemd": {"units": [{"name": "a.service", "enabled": true, "contents": "[Service]\nExecStart=/bin/true\n"}]}
        });
        assert_eq!(
            render(&config),
            "ignition:\n  version: 3.4.0\n\
             passwd:\n  users:\n    - name: core\n      ssh_authorized_keys:\n        - ssh-ed25519 AAAA x\n\
             storage:\n  files:\n    - path: /etc/a\n      mode: 0644\n      contents:\n        inline: |\n          line 1\n          line 2\n\
             \x20   - path: /etc/z\n      mode: 0600\n      contents:\n        inline: |\n          zipped\n\
             systemd:\n  units:\n    - name: a.service\n      enabled: true\n      contents: |\n        [Service]\n        ExecStart=/bin/true\n"
        );
    }

    #[test]
    fn private_keys_are_replaced_by_a_fingerprint() {
        let key = "-----BEGIN PRIVATE KEY-----\nSECRETSECRET\n-----END PRIVATE KEY-----\n";
        let config = json!({"storage": {"files": [{"path": "/k", "mode": 384, "contents": {"source": dataurl::encode(key.as_bytes())}}]}});
        let shown = render(&config);
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(
            shown.contains("[private key redacted, fingerprint "),
            "{shown}"
        );
    }

    #[test]
    fn values_that_yaml_would_misread_are_quoted() {
        for text in ["yes", "0644", "a: b", "", " lead", "x #y", "1e3"] {
            assert!(!is_plain(text), "{text:?}");
        }
        for text in ["/etc/hostname", "etcd.service", "sha256-abc", "3.4.0"] {
            assert!(is_plain(text), "{text:?}");
        }
    }
}
