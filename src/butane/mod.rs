//! Butane in: translates Butane configs (variants `fcos` 1.0.0–1.6.0 and `flatcar`
//! 1.0.0–1.1.0) into Ignition configs, as the reference Butane translator does, with every
//! finding located at the Butane line and column that caused it.
//!
//! The walk is driven by kindling's Ignition schema for the target spec version: a Butane key
//! is the snake_case form of the Ignition key it becomes. What Butane adds on top (inline and
//! local contents, trees, mount units, local SSH keys and unit contents) is handled where it
//! appears. The output then goes through kindling's own Ignition validator, and each finding
//! is mapped back to the Butane source.

mod advice;
mod contents;
mod fcos;
mod mounts;
mod trees;
mod walk;
pub mod yaml;

pub(crate) use walk::butane_key;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::diag::{Diagnostic, Location, Report, SourceFile, Span};
use crate::ignition::SpecVersion;

/// The Butane variants kindling translates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Fcos,
    Flatcar,
}

/// What a `variant`/`version` pair means: the Ignition version it produces and the Butane
/// base spec (0.1 … 0.6) that decides which sugar exists.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    pub variant: Variant,
    pub minor: u8,
    pub ignition: SpecVersion,
    base: u8,
}

impl Target {
    fn new(variant: &str, version: &str) -> Option<Self> {
        let (variant, minor, ignition, base) = match (variant, version) {
            ("fcos", "1.0.0") => (Variant::Fcos, 0, SpecVersion::V3_0, 1),
            ("fcos", "1.1.0") => (Variant::Fcos, 1, SpecVersion::V3_1, 2),
            ("fcos", "1.2.0") => (Variant::Fcos, 2, SpecVersion::V3_2, 3),
            ("fcos", "1.3.0") => (Variant::Fcos, 3, SpecVersion::V3_2, 3),
            ("fcos", "1.4.0") => (Variant::Fcos, 4, SpecVersion::V3_3, 4),
            ("fcos", "1.5.0") => (Variant::Fcos, 5, SpecVersion::V3_4, 5),
            ("fcos", "1.6.0") => (Variant::Fcos, 6, SpecVersion::V3_5, 6),
            ("flatcar", "1.0.0") => (Variant::Flatcar, 0, SpecVersion::V3_3, 4),
            ("flatcar", "1.1.0") => (Variant::Flatcar, 1, SpecVersion::V3_4, 5),
            _ => return None,
        };
        Some(Target {
            variant,
            minor,
            ignition,
            base,
        })
    }

    /// `inline` beyond file contents, `local`, `trees` and automatic compression.
    fn has_local(self) -> bool {
        self.base >= 2
    }

    fn has_mount_units(self) -> bool {
        self.base >= 2
    }

    fn has_swap_units(self) -> bool {
        self.base >= 4
    }

    /// `contents_local` for units and drop-ins, `ssh_authorized_keys_local` for users.
    fn has_local_units_and_keys(self) -> bool {
        self.base >= 5
    }

    fn is_fcos_from(self, minor: u8) -> bool {
        self.variant == Variant::Fcos && self.minor >= minor
    }
}

/// How to translate.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The directory `local`, `contents_local`, `ssh_authorized_keys_local` and `trees`
    /// paths are relative to (`-d/--files-dir`); without one they are errors.
    pub files_dir: Option<PathBuf>,
}

/// A translated config and the warnings found on the way (no errors).
#[derive(Debug)]
pub struct Translation {
    pub config: Value,
    pub version: SpecVersion,
    pub warnings: Report,
    /// Where each part of `config` was written in the Butane source.
    pub places: Places,
}

/// Translates the Butane text in `source`.
pub fn translate(source: &Arc<SourceFile>, options: &Options) -> Result<Translation, Report> {
    let root = yaml::parse(source)?;
    let target = target_of(source, root.as_ref())?;
    let root = root.unwrap_or(yaml::Node {
        end: 0,
        value: yaml::Value::Mapping(Vec::new()),
        line: 1,
        column: 1,
        alias: false,
    });
    let mut walker = walk::Walker::new(source, target, options.files_dir.as_deref());
    let config = walker.translate(&root);
    let (places, mut report) = walker.finish();
    if report.has_errors() {
        return Err(report);
    }
    let Some(mut config) = config else {
        return Err(report);
    };
    prune(&mut config);
    let findings = crate::validate::validate(&config, target.ignition);
    for diagnostic in findings.diagnostics {
        report.push(places.locate(diagnostic));
    }
    if report.has_errors() {
        return Err(report);
    }
    Ok(Translation {
        config,
        version: target.ignition,
        warnings: report,
        places,
    })
}

/// Leaves out empty objects and lists, as Butane's output does (`contents: {}` says nothing).
fn prune(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for child in map.values_mut() {
                prune(child);
            }
            map.retain(|_, child| match child {
                Value::Object(inner) => !inner.is_empty(),
                Value::Array(items) => !items.is_empty(),
                _ => true,
            });
        }
        Value::Array(items) => items.iter_mut().for_each(prune),
        _ => {}
    }
}

/// Reads `variant` and `version`, as Butane does before anything else.
fn target_of(source: &Arc<SourceFile>, root: Option<&yaml::Node>) -> Result<Target, Report> {
    let at_start = || Location::Source(Span::file_start(source));
    let fail = |code, message: String, location| {
        Err(Report::from(Diagnostic::error(code, message, location)))
    };
    let Some(root) = root else {
        return fail(
            "butane.variant",
            "error parsing variant; must be specified".into(),
            at_start(),
        );
    };
    if !matches!(root.value, yaml::Value::Mapping(_)) {
        return fail(
            "butane.type",
            format!("a Butane config is a mapping, not {}", root.yaml_tag()),
            Location::Source(Span::new(source, root.line, root.column)),
        );
    }
    let span = |node: &yaml::Node| Location::Source(Span::new(source, node.line, node.column));
    let variant = match root.get("variant").filter(|node| !node.is_null()) {
        Some(node) => match node.scalar() {
            Some(text) => (text.to_string(), span(node)),
            None => {
                return fail(
                    "butane.variant",
                    "variant must be a string".into(),
                    span(node),
                );
            }
        },
        None => {
            return fail(
                "butane.variant",
                "error parsing variant; must be specified".into(),
                at_start(),
            );
        }
    };
    let version = match root.get("version").filter(|node| !node.is_null()) {
        Some(node) => match node.scalar() {
            Some(text) if is_semver(text) => (text.to_string(), span(node)),
            _ => {
                return fail(
                    "butane.version",
                    "error parsing version; must be a valid semver".into(),
                    span(node),
                );
            }
        },
        None => {
            return fail(
                "butane.version",
                "error parsing version; must be a valid semver".into(),
                at_start(),
            );
        }
    };
    Target::new(&variant.0, &version.0).ok_or_else(|| {
        Report::from(
            Diagnostic::error(
                "butane.variant",
                format!(
                    "no translator exists for variant {} with version {}",
                    variant.0, version.0
                ),
                version.1,
            )
            .with_help("kindling translates fcos 1.0.0 to 1.6.0 and flatcar 1.0.0 to 1.1.0"),
        )
    })
}

/// `MAJOR.MINOR.PATCH` with an optional pre-release, as Go's semver parser accepts.
fn is_semver(text: &str) -> bool {
    let core = text.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|part| {
            !part.is_empty()
                && part.chars().all(|c| c.is_ascii_digit())
                && (part.len() == 1 || !part.starts_with('0'))
        })
}

/// Where each part of the output came from, so a finding about the output can point at the
/// Butane line that produced it.
#[derive(Debug, Default)]
pub struct Places {
    /// JSON path of an output value → Butane path and position.
    entries: Vec<(String, String, u64, u64)>,
    source: Option<Arc<SourceFile>>,
}

impl Places {
    fn add(&mut self, json: &str, yaml: &str, line: u64, column: u64) {
        self.entries
            .push((json.to_string(), yaml.to_string(), line, column));
    }

    /// The Butane place of exactly this output path, if Butane wrote it.
    fn exactly(&self, json: &str) -> Option<&(String, String, u64, u64)> {
        self.entries.iter().rev().find(|e| e.0 == json)
    }

    /// The Butane place of an output path: the closest enclosing path that was recorded.
    fn find(&self, json: &str) -> Option<&(String, String, u64, u64)> {
        let mut path = json;
        loop {
            if let Some(entry) = self.entries.iter().rev().find(|e| e.0 == path) {
                return Some(entry);
            }
            path = &path[..path.rfind('.')?];
        }
    }

    /// The Butane path and position of an output path (`$.storage.files.0.mode`).
    pub fn source_of(&self, json: &str) -> Option<(String, Span)> {
        let source = self.source.as_ref()?;
        let (_, yaml, line, column) = self.find(json)?;
        Some((yaml.clone(), Span::new(source, *line, *column)))
    }

    /// Points a validator finding (located by JSON path) at the Butane source.
    fn locate(&self, mut diagnostic: Diagnostic) -> Diagnostic {
        if let (Location::Json { path, .. }, Some(source)) = (&diagnostic.location, &self.source)
            && let Some((_, yaml, line, column)) = self.find(path)
        {
            diagnostic.location = Location::Json {
                path: yaml.clone(),
                origin: None,
                span: Some(Span::new(source, *line, *column)),
            };
        }
        diagnostic
    }
}

/// The files-dir path of a `local` reference, refusing paths that leave it.
fn local_path(files_dir: &Path, relative: &str) -> Option<PathBuf> {
    let mut clean = PathBuf::new();
    for part in Path::new(relative).components() {
        match part {
            std::path::Component::Normal(name) => clean.push(name),
            std::path::Component::CurDir | std::path::Component::RootDir => {}
            std::path::Component::ParentDir => {
                if !clean.pop() {
                    return None;
                }
            }
            std::path::Component::Prefix(_) => return None,
        }
    }
    Some(files_dir.join(clean))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_semver() {
        assert!(is_semver("1.6.0"));
        assert!(is_semver("1.0.0-rc1"));
        assert!(!is_semver("1.4"));
        assert!(!is_semver("01.4.0"));
    }

    #[test]
    fn local_paths_stay_inside_the_files_dir() {
        let dir = Path::new("/f");
        assert_eq!(local_path(dir, "a/../b"), Some(PathBuf::from("/f/b")));
        assert_eq!(local_path(dir, "/abs"), Some(PathBuf::from("/f/abs")));
        assert_eq!(local_path(dir, "../x"), None);
    }
}
