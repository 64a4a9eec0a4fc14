//! Reading an Ignition config someone else wrote: empty input, JSON syntax (with line and
//! column), the spec version (exactly a supported one), then every rule, each finding placed
//! at its JSON path and at that path's line and column in the text.

use crate::json::Lookup;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::positions::Positions;
use crate::diag::{Diagnostic, Location, Report, SourceFile, Span};
use crate::ignition::SpecVersion;
use crate::read;

/// A config that parsed and declares a supported version.
#[derive(Debug)]
pub struct ParsedConfig {
    /// The config as Ignition reads it: keys written in another case renamed to the field
    /// they set (see `keys`).
    pub config: Value,
    pub version: SpecVersion,
    pub source: Arc<SourceFile>,
    /// A warning for each key so renamed.
    pub folded_keys: Report,
    positions: Positions,
}

impl ParsedConfig {
    /// Adds the line and column of each finding's JSON path.
    pub fn locate(&self, mut report: Report) -> Report {
        for d in &mut report.diagnostics {
            if let Location::Json { path, span, .. } = &mut d.location
                && let Some((line, column)) = self.positions.find(path)
            {
                *span = Some(Span::new(&self.source, line, column));
            }
        }
        report
    }
}

/// Reads the config at `file` (`-` for standard input): its display name and its text.
///
/// At most [`read::CONFIG_LIMIT`] bytes are read. Bytes that are not UTF-8 become U+FFFD, as
/// Go's JSON decoder (Ignition's) makes them inside strings; outside strings they are a syntax
/// error either way.
pub fn read(file: &Path) -> Result<(String, String), Report> {
    let (name, bytes) = if file == Path::new("-") {
        let stdin = std::io::stdin().lock();
        (
            "<stdin>".to_string(),
            read::bounded(stdin, read::CONFIG_LIMIT),
        )
    } else {
        let bytes = std::fs::File::open(file)
            .map_err(read::ReadError::Io)
            .and_then(|f| read::file_bytes(f, read::CONFIG_LIMIT));
        (file.display().to_string(), bytes)
    };
    let bytes = bytes.map_err(|error| {
        Report::from(
            Diagnostic::error(
                "ign.unreadable",
                format!("cannot read {name}: {error}"),
                Location::File(file.to_path_buf()),
            )
            .with_help(format!(
                "kindling reads configs of up to {}",
                read::size(read::CONFIG_LIMIT)
            )),
        )
    })?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    };
    Ok((name, text))
}

/// Parses config text named `name` (a path, or `<stdin>`).
pub fn parse(name: &str, text: String) -> Result<ParsedConfig, Report> {
    let text = match lone_surrogates_replaced(&text) {
        Some(replaced) => replaced,
        None => text,
    };
    let source = SourceFile::new(name, text);
    if source.text.trim().is_empty() {
        return Err(Diagnostic::error(
            "ign.empty",
            "the config is empty",
            Location::File(name.into()),
        )
        .into());
    }
    let config: Value = serde_json::from_str(&source.text).map_err(|e| {
        let span = Span::new(&source, e.line() as u64, e.column() as u64);
        Report::from(Diagnostic::at(
            "ign.json-syntax",
            format!("not valid JSON: {}", without_position(&e.to_string())),
            &span,
        ))
    })?;
    let positions = Positions::index(&source.text);
    if !positions.duplicates().is_empty() {
        return Err(duplicate_keys(&positions, &source));
    }
    let mut parsed = ParsedConfig {
        version: SpecVersion::V3_4,
        config,
        source,
        folded_keys: Report::default(),
        positions,
    };
    parsed.version = declared_version(&parsed.config).map_err(|report| parsed.locate(report))?;
    let folded = super::keys::fold(&mut parsed.config, parsed.version);
    parsed.folded_keys = parsed.locate(Report {
        diagnostics: folded,
    });
    Ok(parsed)
}

/// serde_json ends its messages with " at line N column M"; the span says that already.
fn without_position(message: &str) -> &str {
    message
        .rsplit_once(" at line ")
        .map_or(message, |(text, _)| text)
}

/// Go's decoder merges a repeated object key into the first and serde keeps the last, so a
/// config with one would be checked as something other than what the node applies.
fn duplicate_keys(positions: &Positions, source: &Arc<SourceFile>) -> Report {
    let diagnostics = positions
        .duplicates()
        .iter()
        .map(|(path, (line, column))| {
            Diagnostic::error(
                "ign.duplicate-key",
                "this key appears twice in the same object",
                Location::Json {
                    path: path.clone(),
                    origin: None,
                    span: Some(Span::new(source, *line, *column)),
                },
            )
            .with_help("Ignition merges repeated keys while other tools keep one of them: write each key once")
        })
        .collect();
    Report { diagnostics }
}

/// The text with every `\uD800`-`\uDFFF` escape that is not half of a surrogate pair
/// replaced by `\uFFFD`, as Go's decoder reads it (serde_json refuses it). The replacement
/// has the same length, so every line and column stays where it was. None when there is
/// nothing to replace.
fn lone_surrogates_replaced(text: &str) -> Option<String> {
    if !text.contains("\\u") {
        return None;
    }
    let bytes = text.as_bytes();
    let escape_at = |at: usize| -> Option<u16> {
        let digits = bytes.get(at..at + 6)?;
        if digits[0] != b'\\' || digits[1] != b'u' {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(&digits[2..]).ok()?, 16).ok()
    };
    let mut lone = Vec::new();
    let mut in_string = false;
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'"' => in_string = !in_string,
            b'\\' if in_string => {
                match escape_at(at) {
                    Some(0xD800..=0xDBFF) => {
                        if matches!(escape_at(at + 6), Some(0xDC00..=0xDFFF)) {
                            at += 12;
                            continue;
                        }
                        lone.push(at);
                    }
                    Some(0xDC00..=0xDFFF) => lone.push(at),
                    _ => {}
                }
                at += 2;
                continue;
            }
            _ => {}
        }
        at += 1;
    }
    if lone.is_empty() {
        return None;
    }
    let mut out = text.as_bytes().to_vec();
    for at in lone {
        out[at..at + 6].copy_from_slice(b"\\uFFFD");
    }
    String::from_utf8(out).ok()
}

fn declared_version(config: &Value) -> Result<SpecVersion, Report> {
    let at = |path: &str| Location::Json {
        path: path.to_string(),
        origin: None,
        span: None,
    };
    if !config.is_object() {
        return Err(Diagnostic::error(
            "ign.schema",
            "an Ignition config is a JSON object",
            at("$"),
        )
        .into());
    }
    let Some(declared) = config.at("/ignition/version").and_then(Value::as_str) else {
        return Err(Diagnostic::error(
            "ign.version",
            "the config has no ignition.version",
            at("$.ignition"),
        )
        .with_help("every Ignition config starts {\"ignition\": {\"version\": \"3.4.0\"}, …}")
        .into());
    };
    SpecVersion::parse(declared).ok_or_else(|| {
        let why = if declared.contains("experimental") {
            "experimental spec versions are not supported"
        } else {
            "this spec version is not supported"
        };
        Diagnostic::error(
            "ign.version",
            format!("{why}: {declared:?}"),
            at("$.ignition.version"),
        )
        .with_help("kindling validates spec 3.0.0, 3.1.0, 3.2.0, 3.3.0, 3.4.0 and 3.5.0")
        .into()
    })
}

/// Parses and validates config text for no particular OS: every finding, located.
pub fn validate_text(name: &str, text: String) -> Report {
    validate_text_for(name, text, None)
}

/// Like `validate_text`, with the lints for `os` too.
pub fn validate_text_for(name: &str, text: String, os: Option<super::Os>) -> Report {
    match parse(name, text) {
        Ok(parsed) => {
            let mut report = parsed.folded_keys.clone();
            report.extend(parsed.locate(super::validate_for(&parsed.config, parsed.version, os)));
            report
        }
        Err(report) => report,
    }
}
