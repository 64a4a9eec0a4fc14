//! Reading an Ignition config someone else wrote: empty input, JSON syntax (with line and
//! column), the spec version (exactly a supported one), then every rule, each finding placed
//! at its JSON path and at that path's line and column in the text.

use std::sync::Arc;

use serde_json::Value;

use super::positions::Positions;
use crate::diag::{Diagnostic, Location, Report, SourceFile, Span};
use crate::ignition::SpecVersion;

/// A config that parsed and declares a supported version.
#[derive(Debug)]
pub struct ParsedConfig {
    pub config: Value,
    pub version: SpecVersion,
    pub source: Arc<SourceFile>,
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

/// Parses config text named `name` (a path, or `<stdin>`).
pub fn parse(name: &str, text: String) -> Result<ParsedConfig, Report> {
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
            format!("not valid JSON: {e}"),
            &span,
        ))
    })?;
    let positions = Positions::index(&source.text);
    let parsed = ParsedConfig {
        version: SpecVersion::V3_4,
        config,
        source,
        positions,
    };
    let version = declared_version(&parsed.config).map_err(|report| parsed.locate(report))?;
    Ok(ParsedConfig { version, ..parsed })
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
    let Some(declared) = config.pointer("/ignition/version").and_then(Value::as_str) else {
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
        .with_help("kindling validates spec 3.0.0, 3.1.0, 3.2.0, 3.3.0 and 3.4.0")
        .into()
    })
}

/// Parses and validates config text: every finding, located.
pub fn validate_text(name: &str, text: String) -> Report {
    match parse(name, text) {
        Ok(parsed) => parsed.locate(super::validate(&parsed.config, parsed.version)),
        Err(report) => report,
    }
}
