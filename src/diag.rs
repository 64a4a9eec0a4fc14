//! Diagnostics are data: one type for every problem kindling reports, whichever stage found
//! it, and the renderers that turn a list of them into text for people or machines.
//!
//! Tests assert `code` and `location`, never the prose, so messages can improve freely.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::redact;

/// How bad a finding is. Errors stop the pipeline before anything is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }

    fn as_github(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A text file kindling read (a spec, a profile manifest, a template, a config), kept so a
/// diagnostic can quote the offending line.
#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    /// Whether a diagnostic may quote its lines. Files that are neither the user's spec,
    /// a profile nor a config (a `SHA256SUMS` named by the spec, say) are never quoted: the
    /// path could name anything, `/proc/self/environ` included.
    quotable: bool,
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: String) -> Arc<Self> {
        Arc::new(SourceFile {
            path: path.into(),
            text,
            quotable: true,
        })
    }

    /// A file a spec named: quoted only when `read::may_quote` allows it.
    pub fn named_by_spec(path: impl Into<PathBuf>, text: String) -> Arc<Self> {
        let path = path.into();
        let quotable = crate::read::may_quote(&path);
        Arc::new(SourceFile {
            path,
            text,
            quotable,
        })
    }

    /// A file diagnostics point into by line and column but never quote.
    pub fn unquoted(path: impl Into<PathBuf>, text: String) -> Arc<Self> {
        Arc::new(SourceFile {
            path: path.into(),
            text,
            quotable: false,
        })
    }

    /// The text of 1-based `line`, without its line ending.
    pub fn line_text(&self, line: u64) -> Option<&str> {
        let index = usize::try_from(line.checked_sub(1)?).ok()?;
        self.text.lines().nth(index)
    }
}

/// A position in a source file: 1-based line and column.
#[derive(Clone, Debug)]
pub struct Span {
    pub source: Arc<SourceFile>,
    pub line: u64,
    pub column: u64,
}

impl Span {
    pub fn new(source: &Arc<SourceFile>, line: u64, column: u64) -> Self {
        Span {
            source: Arc::clone(source),
            line,
            column,
        }
    }

    /// The start of the file: for problems that belong to a file as a whole.
    pub fn file_start(source: &Arc<SourceFile>) -> Self {
        Span::new(source, 1, 1)
    }

    pub fn path(&self) -> &Path {
        &self.source.path
    }
}

/// Where a problem is.
#[derive(Clone, Debug)]
pub enum Location {
    /// A line and column in a file kindling read.
    Source(Span),
    /// A path inside an Ignition config (`$.storage.files.3.mode`), with the profile entry
    /// that produced it when kindling generated the config itself, and its line and column
    /// when the config was read from a file.
    Json {
        path: String,
        origin: Option<String>,
        span: Option<Span>,
    },
    /// A file as a whole (one that could not be read, say).
    File(PathBuf),
    /// No place: a problem with the command line or the environment.
    Nowhere,
}

/// One finding.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    /// A stable identifier such as `spec.duplicate-ip`; tests and tools match on it.
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub location: Location,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>, location: Location) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            location,
            help: None,
        }
    }

    pub fn warning(code: &'static str, message: impl Into<String>, location: Location) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message, location)
        }
    }

    pub fn at(code: &'static str, message: impl Into<String>, span: &Span) -> Self {
        Diagnostic::error(code, message, Location::Source(span.clone()))
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// A copy whose message, hint and JSON path are scrubbed of key material and cut to a
    /// printable length.
    pub fn printable(&self) -> Diagnostic {
        let mut location = self.location.clone();
        if let Location::Json { path, .. } = &mut location {
            *path = redact::printable(path);
        }
        Diagnostic {
            code: self.code,
            severity: self.severity,
            message: redact::printable(&self.message),
            location,
            help: self.help.as_deref().map(redact::printable),
        }
    }

    /// `file:line:col`, the JSON path, or the file, for one-line formats.
    pub fn place(&self) -> String {
        match &self.location {
            Location::Source(span) => {
                format!("{}:{}:{}", span.path().display(), span.line, span.column)
            }
            Location::Json {
                path,
                span: Some(span),
                ..
            } => {
                format!(
                    "{}:{}:{} ({path})",
                    span.path().display(),
                    span.line,
                    span.column
                )
            }
            Location::Json { path, .. } => path.clone(),
            Location::File(path) => path.display().to_string(),
            Location::Nowhere => String::new(),
        }
    }
}

/// Every finding of one run, in the order found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    pub fn extend(&mut self, other: Report) {
        self.diagnostics.extend(other.diagnostics);
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }

    /// Turns every warning into an error (`--strict`).
    pub fn promote_warnings(&mut self) {
        for d in &mut self.diagnostics {
            d.severity = Severity::Error;
        }
    }

    /// The report with each finding once: a setting or snippet every node shares is
    /// checked once per node, and said once.
    pub fn without_repeats(self) -> Report {
        let mut seen = std::collections::HashSet::new();
        Report {
            diagnostics: self
                .diagnostics
                .into_iter()
                .filter(|d| seen.insert((d.code, d.place(), d.message.clone())))
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.diagnostics.is_empty()
    }

    /// Ok(value) when no error was found, otherwise the report itself.
    pub fn into_result<T>(self, value: T) -> Result<T, Report> {
        if self.has_errors() {
            Err(self)
        } else {
            Ok(value)
        }
    }

    /// Human-readable, rustc-like text: the message, the place, the source line with a
    /// caret under the column, and the hint.
    fn render_human(&self) -> String {
        let mut out = String::new();
        for diagnostic in &self.diagnostics {
            render_one_human(&mut out, diagnostic);
        }
        let errors = self.count(Severity::Error);
        let warnings = self.count(Severity::Warning);
        if errors + warnings > 1 {
            let _ = writeln!(out, "{errors} error(s), {warnings} warning(s)");
        }
        out
    }

    /// One JSON array of findings: code, severity, file/line/column or JSON path, message,
    /// help. Stable for tools; tests assert on it.
    fn render_json(&self) -> String {
        let findings: Vec<serde_json::Value> =
            self.diagnostics.iter().map(Diagnostic::to_json).collect();
        let mut text = serde_json::Value::Array(findings).to_string();
        text.push('\n');
        text
    }

    /// GitHub Actions workflow commands, one line per finding.
    fn render_github(&self) -> String {
        let mut out = String::new();
        for d in &self.diagnostics {
            let mut properties = vec![format!("title={}", escape_github_property(d.code))];
            match &d.location {
                Location::Source(span) => {
                    properties.push(format!(
                        "file={}",
                        escape_github_property(&span.path().display().to_string())
                    ));
                    properties.push(format!("line={}", span.line));
                    properties.push(format!("col={}", span.column));
                }
                Location::File(path) => properties.push(format!(
                    "file={}",
                    escape_github_property(&path.display().to_string())
                )),
                Location::Json {
                    span: Some(span), ..
                } => {
                    properties.push(format!(
                        "file={}",
                        escape_github_property(&span.path().display().to_string())
                    ));
                    properties.push(format!("line={}", span.line));
                    properties.push(format!("col={}", span.column));
                }
                Location::Json { .. } | Location::Nowhere => {}
            }
            let mut message = d.message.clone();
            if let Location::Json { path, .. } = &d.location {
                message = format!("{path}: {message}");
            }
            if let Some(help) = &d.help {
                message = format!("{message} (help: {help})");
            }
            let _ = writeln!(
                out,
                "::{} {}::{}",
                d.severity.as_github(),
                properties.join(","),
                escape_github_data(&message)
            );
        }
        out
    }

    /// The first error (or finding) on one line, with its place and hint, and how many
    /// more there are: for callers such as Terraform that show a single line.
    pub fn render_one_line(&self) -> String {
        let printable = self.printable();
        let first = printable
            .diagnostics
            .iter()
            .find(|d| d.severity == Severity::Error)
            .or(printable.diagnostics.first());
        let Some(d) = first else {
            return String::from("kindling: failed\n");
        };
        let place = d.place();
        let place = if place.is_empty() {
            String::new()
        } else {
            format!(" at {place}")
        };
        let help = d
            .help
            .as_ref()
            .map(|h| format!(" (help: {h})"))
            .unwrap_or_default();
        let more = self.diagnostics.len() - 1;
        let more = if more > 0 {
            format!(" [and {more} more finding(s)]")
        } else {
            String::new()
        };
        let line = format!(
            "kindling: {}[{}]{place}: {}{help}{more}",
            d.severity.as_str(),
            d.code,
            d.message
        );
        format!("{}\n", line.replace(['\n', '\r'], " "))
    }

    /// Renders in the named format. Every message, hint and JSON path is first scrubbed of
    /// key material and cut to a printable length (see `redact`).
    pub fn render(&self, format: Format) -> String {
        let printable = self.printable();
        match format {
            Format::Human => printable.render_human(),
            Format::Json => printable.render_json(),
            Format::Github => printable.render_github(),
        }
    }

    /// The report as it may be printed: see `Diagnostic::printable`.
    pub fn printable(&self) -> Report {
        Report {
            diagnostics: self.diagnostics.iter().map(Diagnostic::printable).collect(),
        }
    }

    fn count(&self, severity: Severity) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    }
}

/// The output formats of a report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Human,
    Json,
    Github,
}

fn escape_github_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_github_property(text: &str) -> String {
    escape_github_data(text)
        .replace(':', "%3A")
        .replace(',', "%2C")
}

impl Diagnostic {
    fn to_json(&self) -> serde_json::Value {
        let mut fields = serde_json::Map::new();
        fields.insert("code".into(), self.code.into());
        fields.insert("severity".into(), self.severity.as_str().into());
        fields.insert("message".into(), self.message.clone().into());
        match &self.location {
            Location::Source(span) => {
                fields.insert("file".into(), span.path().display().to_string().into());
                fields.insert("line".into(), span.line.into());
                fields.insert("column".into(), span.column.into());
            }
            Location::Json { path, origin, span } => {
                fields.insert("path".into(), path.clone().into());
                if let Some(origin) = origin {
                    fields.insert("origin".into(), origin.clone().into());
                }
                if let Some(span) = span {
                    fields.insert("file".into(), span.path().display().to_string().into());
                    fields.insert("line".into(), span.line.into());
                    fields.insert("column".into(), span.column.into());
                }
            }
            Location::File(path) => {
                fields.insert("file".into(), path.display().to_string().into());
            }
            Location::Nowhere => {}
        }
        if let Some(help) = &self.help {
            fields.insert("help".into(), help.clone().into());
        }
        serde_json::Value::Object(fields)
    }
}

impl Report {
    /// A failed file operation: `cannot {action} {path}: {error}`.
    pub fn io(path: &Path, action: &str, error: &std::io::Error) -> Report {
        Diagnostic::error(
            "io",
            format!("cannot {action} {}: {error}", path.display()),
            Location::File(path.to_path_buf()),
        )
        .into()
    }
}

impl From<Diagnostic> for Report {
    fn from(diagnostic: Diagnostic) -> Self {
        Report {
            diagnostics: vec![diagnostic],
        }
    }
}

fn render_one_human(out: &mut String, d: &Diagnostic) {
    let _ = writeln!(out, "{}[{}]: {}", d.severity.as_str(), d.code, d.message);
    match &d.location {
        Location::Source(span) => render_source_excerpt(out, span),
        Location::Json { path, origin, span } => {
            match span {
                Some(span) => {
                    render_source_excerpt(out, span);
                    let _ = writeln!(out, "   = at {path}");
                }
                None => {
                    let _ = writeln!(out, "  --> {path}");
                }
            }
            if let Some(origin) = origin {
                let _ = writeln!(out, "   = produced by: {origin}");
            }
        }
        Location::File(path) => {
            let _ = writeln!(out, "  --> {}", path.display());
        }
        Location::Nowhere => {}
    }
    if let Some(help) = &d.help {
        let _ = writeln!(out, "   = help: {help}");
    }
    out.push('\n');
}

fn render_source_excerpt(out: &mut String, span: &Span) {
    let _ = writeln!(
        out,
        "  --> {}:{}:{}",
        span.path().display(),
        span.line,
        span.column
    );
    if !span.source.quotable {
        return;
    }
    let Some(text) = span.source.line_text(span.line) else {
        return;
    };
    let gutter = span.line.to_string();
    let pad = " ".repeat(gutter.len());
    let column = usize::try_from(span.column.saturating_sub(1)).unwrap_or(usize::MAX);
    let (shown, caret_offset) = redact::excerpt(text, column);
    let _ = writeln!(out, "{pad} |");
    let _ = writeln!(out, "{gutter} | {shown}");
    let _ = writeln!(out, "{pad} | {}^", " ".repeat(caret_offset));
}

/// The candidate closest to `name` by edit distance, when it is close enough to be a typo.
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= 3.min(candidate.len() / 2 + 1))
        .min()
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance, counted in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_rendering_quotes_the_line_and_points_at_the_column() {
        let source = SourceFile::new("cluster.yaml", "version: 1\nnodes: x\n".to_string());
        let report = Report::from(
            Diagnostic::at("spec.type", "expected a list", &Span::new(&source, 2, 8))
                .with_help("write nodes as a list"),
        );
        let text = report.render(Format::Human);
        assert!(text.contains("error[spec.type]: expected a list"), "{text}");
        assert!(text.contains("--> cluster.yaml:2:8"), "{text}");
        assert!(text.contains("2 | nodes: x\n  |        ^"), "{text}");
        assert!(text.contains("= help: write nodes as a list"), "{text}");
    }

    #[test]
    fn json_and_github_formats_carry_code_and_place() {
        let source = SourceFile::new("c.yaml", "a: 1\n".to_string());
        let report = Report::from(Diagnostic::at(
            "spec.x",
            "bad, really: 100%",
            &Span::new(&source, 1, 4),
        ));
        let json: serde_json::Value = serde_json::from_str(&report.render(Format::Json)).unwrap();
        assert_eq!(json[0]["code"], "spec.x");
        assert_eq!(json[0]["line"], 1);
        assert_eq!(json[0]["column"], 4);
        assert_eq!(
            report.render(Format::Github),
            "::error title=spec.x,file=c.yaml,line=1,col=4::bad, really: 100%25\n"
        );
    }
}
