//! Validate: checks an Ignition config against kindling's strict embedded JSON schema for
//! its spec version, then against the semantic rules Ignition enforces at boot (see
//! `rules`). A config kindling rendered itself must pass both before anything is written.
//!
//! Findings carry JSON paths (`$.storage.files.3.mode`); the caller maps them back to the
//! profile entry or spec line that produced them.

pub mod go_url;
pub mod input;
pub mod keys;
pub mod lint;
pub mod positions;
pub mod rules;
pub mod schema;
pub mod tree;
pub mod unit;

use crate::json::Lookup;
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use serde_json::Value;

use crate::diag::{Diagnostic, Location, Report};
use crate::ignition::SpecVersion;

/// Every code the validator can report, with its severity: the list docs/validate.md
/// documents and the corpus test holds complete.
pub const CODES: &[(&str, &str)] = &[
    ("ign.empty", "error"),
    ("ign.json-syntax", "error"),
    ("ign.unreadable", "error"),
    ("ign.version", "error"),
    ("ign.schema", "error"),
    ("ign.unknown-key", "warning"),
    ("ign.path-relative", "error"),
    ("ign.path-unclean", "error"),
    ("ign.path-duplicate", "error"),
    ("ign.path-under-link", "error"),
    ("ign.owner-both", "error"),
    ("ign.mode-range", "error"),
    ("ign.mode-special", "warning"),
    ("ign.overwrite-no-source", "error"),
    ("ign.link-target", "error"),
    ("ign.hardlink-dir", "error"),
    ("ign.hardlink-owner", "warning"),
    ("ign.compression", "error"),
    ("ign.verification-no-source", "error"),
    ("ign.hash-format", "error"),
    ("ign.hash-hex", "error"),
    ("ign.url-scheme", "error"),
    ("ign.url", "error"),
    ("ign.data-url", "error"),
    ("ign.http-headers", "error"),
    ("ign.unit-name", "error"),
    ("ign.unit-duplicate", "error"),
    ("ign.dropin-name", "error"),
    ("ign.dropin-duplicate", "error"),
    ("ign.unit-syntax", "error"),
    ("ign.unit-no-install", "warning"),
    ("ign.unit-path-conflict", "error"),
    ("ign.user-duplicate", "error"),
    ("ign.group-duplicate", "error"),
    ("ign.ssh-key-duplicate", "error"),
    ("ign.gzip", "error"),
    ("ign.gzip-unchecked", "warning"),
    ("ign.duplicate-key", "error"),
    ("ign.data-hash-mismatch", "error"),
    ("ign.private-key-mode", "warning"),
    ("ign.unit-section", "warning"),
    ("ign.unit-exec-path", "warning"),
    ("ign.unit-install-target", "warning"),
    ("ign.dropin-unknown-unit", "warning"),
    ("ign.link-target-unknown", "warning"),
    ("ign.s3", "error"),
    ("ign.source-required", "error"),
    ("ign.proxy", "error"),
    ("ign.proxy-insecure", "warning"),
    ("ign.disk", "error"),
    ("ign.partition", "error"),
    ("ign.filesystem", "error"),
    ("ign.filesystem-overwrite", "warning"),
    ("ign.raid", "error"),
    ("ign.luks", "error"),
    ("ign.kernel-args", "error"),
];

/// The operating system a config is for, when known: it enables the lints that depend on
/// what the OS ships (its units, targets and directories). Without one, only lints that are
/// right on every OS run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Os {
    Flatcar,
    Fcos,
}

/// Validates a config that claims `version` for no particular OS: Ignition's rules,
/// kindling's stricter lints that hold everywhere, and the schema.
pub fn validate(config: &Value, version: SpecVersion) -> Report {
    validate_for(config, version, None)
}

/// Like `validate`, with the lints for `os` too. A schema finding at a path where a rule
/// already reported something is left out: the rule's code says more.
pub fn validate_for(config: &Value, version: SpecVersion, os: Option<Os>) -> Report {
    validate_knowing(config, version, os, &[])
}

/// Like `validate_for`, for a config whose data URLs are partly known already: `known`
/// pairs a URL with the bytes it was encoded from (kindling's own output, where assemble
/// encoded them a moment ago), and a URL of the config equal to one of them is read as
/// those bytes instead of being decoded again. Every other URL is decoded as usual.
pub fn validate_knowing(
    config: &Value,
    version: SpecVersion,
    os: Option<Os>,
    known: &[(&str, &[u8])],
) -> Report {
    let parsed = Parsed::knowing(known);
    let mut report = rules::check(config, version, &parsed);
    report.diagnostics.extend(lint::check(config, os, &parsed));
    let covered: std::collections::HashSet<String> =
        report.diagnostics.iter().map(Diagnostic::place).collect();
    let schema = schema::check(config, version);
    report.diagnostics.extend(
        schema
            .diagnostics
            .into_iter()
            .filter(|d| d.code != "ign.schema" || !covered.contains(&d.place())),
    );
    report
}

/// What validation reads more than once, worked out once per validation: data URLs
/// decoded (the rules need to know that one decodes, the lints need its bytes) and unit
/// texts parsed (the rules check their syntax and `[Install]`, the lints their sections
/// and lines). Both walk the same config, so a string is known by its address and length
/// (never dereferenced: only compared). A URL equal to one the caller already knows is not
/// decoded at all.
#[derive(Default)]
pub(crate) struct Parsed<'a> {
    known: &'a [(&'a str, &'a [u8])],
    decoded: Memo<Decoded<'a>>,
    units: Memo<Result<Vec<String>, unit::SyntaxError>>,
}

type Decoded<'a> = Result<Cow<'a, [u8]>, crate::ignition::dataurl::DecodeError>;

/// Values worked out from strings of the config, by the string's address and length.
type Memo<T> = RefCell<HashMap<(usize, usize), Rc<T>>>;

fn remembered<T>(memo: &Memo<T>, text: &str, work_out: impl FnOnce() -> T) -> Rc<T> {
    let key = (text.as_ptr() as usize, text.len());
    Rc::clone(
        memo.borrow_mut()
            .entry(key)
            .or_insert_with(|| Rc::new(work_out())),
    )
}

impl<'a> Parsed<'a> {
    fn knowing(known: &'a [(&'a str, &'a [u8])]) -> Self {
        Parsed {
            known,
            ..Parsed::default()
        }
    }

    /// The bytes of the data URL `url`, decoded (or found known) on the first call for
    /// that string.
    pub(crate) fn decode(&self, url: &str) -> Rc<Decoded<'a>> {
        remembered(&self.decoded, url, || self.read(url))
    }

    /// The sections of the unit text `text`, in order, or its first syntax error: parsed
    /// on the first call for that string.
    pub(crate) fn unit_sections(&self, text: &str) -> Rc<Result<Vec<String>, unit::SyntaxError>> {
        remembered(&self.units, text, || unit::parse_sections(text))
    }

    fn read(&self, url: &str) -> Decoded<'a> {
        let known = self.known.iter().find(|(known, _)| *known == url);
        match known {
            Some((_, bytes)) => {
                debug_assert_eq!(
                    crate::ignition::dataurl::decode(url).as_deref(),
                    Ok(*bytes),
                    "a known data URL decodes to its bytes"
                );
                Ok(Cow::Borrowed(*bytes))
            }
            None => crate::ignition::dataurl::decode(url).map(Cow::Owned),
        }
    }
}

/// `$.a.0.b` from the JSON pointer `/a/0/b`.
pub fn json_path(pointer: &str) -> String {
    let mut path = String::from("$");
    for part in pointer.split('/').skip(1) {
        path.push('.');
        path.push_str(&part.replace("~1", "/").replace("~0", "~"));
    }
    path
}

/// The array at a JSON pointer, or nothing (the schema reports a wrong type).
pub(crate) fn array<'a>(value: &'a Value, pointer: &str) -> &'a [Value] {
    value
        .at(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The string under `key`, or "" (the schema reports a wrong type).
pub(crate) fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.member(key).and_then(Value::as_str).unwrap_or("")
}

/// A place in a config: its JSON path (the line is added when the text is known).
fn json_location(path: String) -> Location {
    Location::Json {
        path,
        origin: None,
        span: None,
    }
}

pub(crate) fn finding(code: &'static str, path: String, message: impl Into<String>) -> Diagnostic {
    Diagnostic::error(code, message, json_location(path))
}

pub(crate) fn warning(code: &'static str, path: String, message: impl Into<String>) -> Diagnostic {
    Diagnostic::warning(code, message, json_location(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_url_is_read_as_its_bytes_and_any_other_is_decoded() {
        let text = b"a b\n";
        let known = [("data:,a%20b%0A", &text[..])];
        let parsed = Parsed::knowing(&known);
        let copy = String::from("data:,a%20b%0A");
        match parsed.decode(&copy).as_ref() {
            Ok(Cow::Borrowed(bytes)) => assert_eq!(bytes.as_ptr(), text.as_ptr()),
            other => panic!("not read from the known bytes: {other:?}"),
        }
        assert!(matches!(
            parsed.decode("data:,c%0A").as_ref(),
            Ok(Cow::Owned(bytes)) if bytes == b"c\n"
        ));
    }

    #[test]
    fn a_unit_text_is_parsed_once_per_string_and_each_string_on_its_own() {
        let parsed = Parsed::default();
        let text = String::from("[Unit]\nA=b\n");
        let first = parsed.unit_sections(&text);
        assert_eq!(first.as_ref(), &Ok(vec!["Unit".to_string()]));
        assert!(Rc::ptr_eq(&first, &parsed.unit_sections(&text)));
        let equal = text.clone();
        assert!(!Rc::ptr_eq(&first, &parsed.unit_sections(&equal)));
        let prefix = &text[..7];
        assert_eq!(
            parsed.unit_sections(prefix).as_ref(),
            &Ok(vec!["Unit".to_string()])
        );
        let broken = parsed.unit_sections("A=b\n");
        assert_eq!(broken.as_ref().as_ref().map_err(|e| e.line), Err(1));
    }

    #[test]
    fn knowing_some_urls_leaves_the_others_checked() {
        let config = serde_json::json!({
            "ignition": {"version": "3.4.0"},
            "storage": {"files": [
                {"path": "/a", "contents": {"source": "data:,a%0A"}},
                {"path": "/b", "contents": {"source": "data:,%4"}},
            ]},
        });
        let report = validate_knowing(&config, SpecVersion::V3_4, None, &[("data:,a%0A", b"a\n")]);
        let found: Vec<(&str, String)> = report
            .diagnostics
            .iter()
            .map(|d| (d.code, d.place()))
            .collect();
        assert_eq!(
            found,
            [(
                "ign.data-url",
                "$.storage.files.1.contents.source".to_string()
            )]
        );
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "a known data URL decodes to its bytes")]
    fn a_known_url_that_does_not_decode_to_its_bytes_is_caught_in_debug_builds() {
        let parsed = Parsed::knowing(&[("data:,a%0A", b"b\n")]);
        let _ = parsed.decode("data:,a%0A");
    }

    #[test]
    fn pointers_become_dotted_paths() {
        assert_eq!(json_path(""), "$");
        assert_eq!(json_path("/storage/files/3/mode"), "$.storage.files.3.mode");
    }
}
