//! Profiles are data: a manifest (`profile.yaml`) listing the directories, files, links,
//! units and users a node gets, and handlebars templates for their contents. The built-in
//! ones are embedded into the binary; `--profiles DIR` or a path in the spec loads others.
//!
//! Every string in a manifest is a template too (a path may print `{{layout.pki_dir}}`),
//! compiled once per profile (a built-in profile's when first used) and rendered once per
//! node by `render`.

pub mod render;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use handlebars::{
    Context, Handlebars, Output, RenderContext, RenderError, RenderErrorReason, Renderable,
    Template,
};
use include_dir::{Dir, include_dir};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::diag::{Diagnostic, Location, Report, SourceFile, Span};
use crate::resolve::context::{ETCD_LAYOUT, LAYOUTS, Layout};
use crate::resolve::{ProfileChoice, ProfileRef};
use crate::spec::{parse_yaml, span_of};

static BUILTIN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/profiles");

/// The manifest file name inside a profile directory.
pub const MANIFEST: &str = "profile.yaml";

/// A profile manifest, version 1 (documented in docs/profiles.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub version: Spanned<u32>,
    pub description: Option<String>,
    /// A built-in profile whose templates this one uses when it has no file of that name
    /// (the container profiles share the roll, backup and network templates).
    pub templates_from: Option<Spanned<String>>,
    /// Where etcd's files go on the node: `etcd` (the default: /etc/etcd) or `kubeadm`
    /// (/etc/kubernetes/pki/etcd, kubeadm's names).
    pub layout: Option<Spanned<String>>,
    #[serde(default)]
    pub directories: Vec<DirectorySpec>,
    #[serde(default)]
    pub files: Vec<FileSpec>,
    #[serde(default)]
    pub links: Vec<LinkSpec>,
    #[serde(default)]
    pub units: Vec<UnitSpec>,
    #[serde(default)]
    pub users: Vec<UserSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectorySpec {
    pub path: Spanned<String>,
    pub mode: Spanned<String>,
    pub user: Option<u32>,
    pub group: Option<u32>,
    pub when: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    pub path: Spanned<String>,
    pub mode: Spanned<String>,
    pub user: Option<u32>,
    pub group: Option<u32>,
    pub overwrite: Option<bool>,
    pub when: Option<Spanned<String>>,
    /// Contents from a template file of the profile.
    pub template: Option<Spanned<String>>,
    /// Contents from an inline template.
    pub inline: Option<Spanned<String>>,
    /// A URL Ignition fetches at boot (a template), with an optional hash (a template that
    /// may print an empty string when the spec opted out of verification).
    pub source: Option<Spanned<String>>,
    pub hash: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    pub path: Spanned<String>,
    pub target: Spanned<String>,
    pub overwrite: Option<bool>,
    pub hard: Option<bool>,
    pub when: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitSpec {
    pub name: Spanned<String>,
    pub enabled: Option<bool>,
    /// Mask a unit the OS ships (locksmithd when kindling takes over OS update reboots).
    pub mask: Option<bool>,
    pub template: Option<Spanned<String>>,
    #[serde(default)]
    pub dropins: Vec<DropinSpec>,
    pub when: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropinSpec {
    pub name: Spanned<String>,
    pub template: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    pub name: Spanned<String>,
    /// A context path to a list of keys; a user whose list is empty is left out.
    pub ssh_authorized_keys: Spanned<String>,
    pub when: Option<Spanned<String>>,
}

/// A loaded profile: its manifest and every template compiled.
pub struct Profile {
    pub name: String,
    pub manifest: Manifest,
    pub layout: &'static Layout,
    pub source: Arc<SourceFile>,
    origins: Origins,
    templates: Templates,
}

/// Where each manifest entry stands (`profiles/x/profile.yaml:46 (files[14], hostname.hbs)`),
/// written once per profile: every node's entries carry one, so a finding in a node's
/// config can name the entry that produced it.
struct Origins {
    directories: Vec<String>,
    files: Vec<String>,
    links: Vec<String>,
    units: Vec<String>,
    users: Vec<String>,
}

impl Origins {
    fn of(manifest: &Manifest, source: &SourceFile) -> Self {
        let (path, m) = (&source.path, manifest);
        Origins {
            directories: origins(
                path,
                "directories",
                m.directories.iter().map(|d| (&d.path, None)),
            ),
            files: origins(
                path,
                "files",
                m.files.iter().map(|f| (&f.path, f.template.as_ref())),
            ),
            links: origins(path, "links", m.links.iter().map(|l| (&l.path, None))),
            units: origins(
                path,
                "units",
                m.units.iter().map(|u| (&u.name, u.template.as_ref())),
            ),
            users: origins(path, "users", m.users.iter().map(|u| (&u.name, None))),
        }
    }
}

/// The origins of one manifest list, from each entry's anchoring value (its path or name)
/// and template, if it has one.
fn origins<'a>(
    path: &Path,
    list: &str,
    entries: impl Iterator<Item = (&'a Spanned<String>, Option<&'a Spanned<String>>)>,
) -> Vec<String> {
    entries
        .enumerate()
        .map(|(index, (anchor, template))| {
            let line = anchor.referenced.line();
            let shown = template
                .map(|t| format!(", {}", t.value))
                .unwrap_or_default();
            format!("{}:{line} ({list}[{index}]{shown})", path.display())
        })
        .collect()
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Profile {
    pub fn span<T>(&self, value: &Spanned<T>) -> Span {
        span_of(&self.source, &value.referenced)
    }
}

/// A profile's templates. A profile from disk is compiled whole when it loads, so that
/// every template error is reported before anything renders. A built-in profile's
/// templates are known to compile (a test compiles every one), so each is compiled the
/// first time a node renders it: a cluster without backups never compiles the backup
/// script, the largest template after the roll script.
struct Templates {
    registry: Handlebars<'static>,
    /// Built-in templates, by registry name, compiled on first use (by whichever core
    /// renders one first).
    deferred: HashMap<String, Deferred>,
}

struct Deferred {
    text: String,
    /// The template, or why it did not compile.
    compiled: OnceLock<Result<Template, String>>,
}

impl Templates {
    fn new() -> Self {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(handlebars::no_escape);
        Templates {
            registry,
            deferred: HashMap::new(),
        }
    }

    fn contains(&self, name: &str) -> bool {
        self.deferred.contains_key(name) || self.registry.get_template(name).is_some()
    }

    /// Renders the template registered as `name` onto the end of `out`, exactly as
    /// `render_with_context` renders it.
    fn render(&self, name: &str, context: &Context, out: &mut String) -> Result<(), RenderError> {
        let template = match self.deferred.get(name) {
            Some(deferred) => Self::compiled(name, deferred)?,
            None => self
                .registry
                .get_template(name)
                .ok_or_else(|| RenderErrorReason::TemplateNotFound(name.to_string()))?,
        };
        let mut render_context = RenderContext::new(template.name.as_ref());
        template.render(
            &self.registry,
            context,
            &mut render_context,
            &mut Appending(out),
        )
    }

    /// A built-in template, compiled on its first use. Built into the binary and compiled
    /// by a test, so this does not fail; if it ever did, the node's render reports it at the
    /// manifest entry instead of panicking.
    fn compiled<'t>(name: &str, deferred: &'t Deferred) -> Result<&'t Template, RenderError> {
        let compiled = deferred.compiled.get_or_init(|| {
            Template::compile_with_name(&deferred.text, name.to_owned())
                .map_err(|error| error.to_string())
        });
        compiled.as_ref().map_err(|message| {
            RenderError::from(RenderErrorReason::Other(format!(
                "built-in template does not compile: {message}"
            )))
        })
    }

    /// Renders a template text that is not registered (a `{{a.b}}` string whose value is
    /// not a string, a number or a boolean).
    fn render_text(&self, text: &str, context: &Context) -> Result<String, RenderError> {
        self.registry.render_template_with_context(text, context)
    }
}

/// Handlebars' output appended to a string the caller keeps. A node's renders share one,
/// where handlebars' own output would start each template at 8 KiB and double it, copying
/// a long text (a large cluster's member list) again at every step.
struct Appending<'a>(&'a mut String);

impl Output for Appending<'_> {
    fn write(&mut self, segment: &str) -> Result<(), std::io::Error> {
        self.0.push_str(segment);
        Ok(())
    }

    fn write_fmt(&mut self, arguments: std::fmt::Arguments<'_>) -> Result<(), std::io::Error> {
        std::fmt::Write::write_fmt(self.0, arguments).map_err(std::io::Error::other)
    }
}

/// Where a profile's files come from.
enum Files<'a> {
    Builtin(&'a Dir<'static>),
    Disk(PathBuf),
}

impl Files<'_> {
    fn read(&self, name: &str) -> Option<String> {
        match self {
            Files::Builtin(dir) => dir
                .get_file(dir.path().join(name))?
                .contents_utf8()
                .map(str::to_string),
            Files::Disk(dir) => crate::read::text(&dir.join(name), crate::read::SPEC_LIMIT).ok(),
        }
    }

    /// The file as a diagnostic source: a built-in file is always quoted, one on disk only
    /// as `read::may_quote` allows.
    fn source(&self, name: &str, text: String) -> std::sync::Arc<SourceFile> {
        match self {
            Files::Builtin(_) => SourceFile::new(self.label(name), text),
            Files::Disk(_) => SourceFile::named_by_spec(self.label(name), text),
        }
    }

    fn label(&self, name: &str) -> PathBuf {
        match self {
            Files::Builtin(dir) => Path::new("profiles").join(dir.path()).join(name),
            Files::Disk(dir) => dir.join(name),
        }
    }
}

/// Loads the profile the spec chose. A name is looked up in `extra_dir` (from
/// `--profiles`) first, then among the built-in profiles.
pub fn load(choice: &ProfileChoice, extra_dir: Option<&Path>) -> Result<Profile, Report> {
    let (name, files) = match &choice.name_or_dir {
        ProfileRef::Dir(dir) => (dir.display().to_string(), Files::Disk(dir.clone())),
        ProfileRef::Named(name) => match extra_dir
            .map(|d| d.join(name))
            .filter(|d| d.join(MANIFEST).is_file())
        {
            Some(dir) => (name.clone(), Files::Disk(dir)),
            None => match BUILTIN.get_dir(name) {
                Some(dir) => (name.clone(), Files::Builtin(dir)),
                None => return Err(unknown_profile(choice, name).into()),
            },
        },
    };
    let Some(text) = files.read(MANIFEST) else {
        let location = choice
            .span
            .clone()
            .map_or(Location::File(files.label(MANIFEST)), Location::Source);
        return Err(Diagnostic::error(
            "profile.missing",
            format!("profile {name} has no readable {MANIFEST}"),
            location,
        )
        .into());
    };
    let source = files.source(MANIFEST, text);
    let manifest: Manifest = parse_yaml(&source, "profile")?;
    if manifest.version.value != 1 {
        let span = span_of(&source, &manifest.version.referenced);
        return Err(Diagnostic::at(
            "profile.version",
            format!(
                "profile format version {} is not supported",
                manifest.version.value
            ),
            &span,
        )
        .into());
    }
    check_file_contents(&manifest, &source)?;
    let layout = chosen_layout(&manifest, &source)?;
    let base = base_templates(&manifest, &source)?;
    let mut report = Report::default();
    let sources = template_sources(&manifest, &source, &files, base.as_ref(), &mut report);
    let templates = compile_templates(sources, &files, report)?;
    Ok(Profile {
        name,
        origins: Origins::of(&manifest, &source),
        manifest,
        layout,
        source,
        templates,
    })
}

/// The node layout the manifest's `layout:` names (`etcd` when it names none).
fn chosen_layout(manifest: &Manifest, source: &Arc<SourceFile>) -> Result<&'static Layout, Report> {
    let Some(name) = &manifest.layout else {
        return Ok(&ETCD_LAYOUT);
    };
    LAYOUTS
        .iter()
        .find(|(known, _)| *known == name.value)
        .map(|(_, layout)| *layout)
        .ok_or_else(|| {
            let known: Vec<&str> = LAYOUTS.iter().map(|(known, _)| *known).collect();
            Diagnostic::at(
                "profile.layout",
                format!("there is no node layout named {:?}", name.value),
                &span_of(source, &name.referenced),
            )
            .with_help(format!("layouts: {}", known.join(", ")))
            .into()
        })
}

/// The built-in profile named by `templates_from`, if any.
fn base_templates(
    manifest: &Manifest,
    source: &Arc<SourceFile>,
) -> Result<Option<Files<'static>>, Report> {
    let Some(name) = &manifest.templates_from else {
        return Ok(None);
    };
    match BUILTIN.get_dir(&name.value) {
        Some(dir) => Ok(Some(Files::Builtin(dir))),
        None => Err(Diagnostic::at(
            "profile.unknown",
            format!(
                "templates_from names {:?}, which is not a built-in profile",
                name.value
            ),
            &span_of(source, &name.referenced),
        )
        .with_help(format!("built-in profiles: {}", builtin_names().join(", ")))
        .into()),
    }
}

/// Each file takes its contents from exactly one of `template`, `inline` or `source`, and
/// only a fetched file (`source`) can carry a `hash`.
fn check_file_contents(manifest: &Manifest, source: &Arc<SourceFile>) -> Result<(), Report> {
    let mut report = Report::default();
    for file in &manifest.files {
        let given = [
            file.template.is_some(),
            file.inline.is_some(),
            file.source.is_some(),
        ];
        let span = span_of(source, &file.path.referenced);
        if given.iter().filter(|g| **g).count() != 1 {
            report.push(
                Diagnostic::at("profile.contents", format!("file {} needs exactly one of template, inline or source", file.path.value), &span)
                    .with_help("template: a file beside profile.yaml; inline: a short template; source: a URL fetched at boot"),
            );
        }
        if file.hash.is_some() && file.source.is_none() {
            report.push(Diagnostic::at(
                "profile.contents",
                format!("file {} has a hash but no source", file.path.value),
                &span,
            ));
        }
    }
    report.into_result(())
}

/// The files of a built-in profile (its manifest and templates), by file name, with the
/// templates of its `templates_from` profile that its manifest uses and it does not hold
/// itself, so an exported profile is complete and holds nothing it does not use.
pub fn builtin_files(name: &str) -> Option<Vec<(String, Vec<u8>)>> {
    let dir = BUILTIN.get_dir(name)?;
    let listed = |dir: &'static Dir<'static>| {
        dir.files().filter_map(|file| {
            let file_name = file.path().file_name()?.to_str()?.to_string();
            Some((file_name, file.contents().to_vec()))
        })
    };
    let mut files: Vec<(String, Vec<u8>)> = listed(dir).collect();
    let manifest = Files::Builtin(dir)
        .read(MANIFEST)
        .and_then(|text| parse_yaml::<Manifest>(&SourceFile::new(MANIFEST, text), "profile").ok());
    let base = manifest
        .as_ref()
        .and_then(|m| BUILTIN.get_dir(&m.templates_from.as_ref()?.value));
    if let (Some(base), Some(manifest)) = (base, &manifest) {
        let used = template_names(manifest);
        let inherited: Vec<(String, Vec<u8>)> = listed(base)
            .filter(|(n, _)| used.contains(&n.as_str()) && !files.iter().any(|(own, _)| own == n))
            .collect();
        files.extend(inherited);
    }
    files.sort();
    Some(files)
}

/// The template files a manifest names (its files', units' and drop-ins').
fn template_names(manifest: &Manifest) -> Vec<&str> {
    let files = manifest.files.iter().filter_map(|f| f.template.as_ref());
    let units = manifest.units.iter().filter_map(|u| u.template.as_ref());
    let dropins = manifest
        .units
        .iter()
        .flat_map(|u| u.dropins.iter().map(|d| &d.template));
    files
        .chain(units)
        .chain(dropins)
        .map(|t| t.value.as_str())
        .collect()
}

/// Names of the profiles built into this binary.
pub fn builtin_names() -> Vec<String> {
    BUILTIN
        .dirs()
        .map(|d| d.path().display().to_string())
        .collect()
}

fn unknown_profile(choice: &ProfileChoice, name: &str) -> Diagnostic {
    let message = format!("there is no profile named {name:?}");
    let help = format!(
        "built-in profiles: {}; or give a directory path (./my-profile)",
        builtin_names().join(", ")
    );
    let location = choice
        .span
        .clone()
        .map_or(Location::Nowhere, Location::Source);
    Diagnostic::error("profile.unknown", message, location).with_help(help)
}

/// A template reference collected from the manifest: its registry name, its text and
/// where the manifest mentions it.
struct TemplateSource {
    name: String,
    text: String,
    span: Span,
    file: Option<PathBuf>,
}

fn compile_templates(
    sources: Vec<TemplateSource>,
    files: &Files,
    mut report: Report,
) -> Result<Templates, Report> {
    let mut templates = Templates::new();
    for template in sources {
        if templates.contains(&template.name) {
            continue;
        }
        if matches!(files, Files::Builtin(_)) {
            let deferred = Deferred {
                text: template.text,
                compiled: OnceLock::new(),
            };
            templates.deferred.insert(template.name, deferred);
            continue;
        }
        match Template::compile_with_name(&template.text, template.name.clone()) {
            Ok(compiled) => templates
                .registry
                .register_template(&template.name, compiled),
            Err(error) => report.push(template_error(&template, &error)),
        }
    }
    report.into_result(templates)
}

fn template_error(template: &TemplateSource, error: &handlebars::TemplateError) -> Diagnostic {
    let message = format!("template does not compile: {}", error.reason());
    match (&template.file, error.pos()) {
        (Some(file), Some((line, column))) => {
            let file_source = SourceFile::named_by_spec(file.clone(), template.text.clone());
            Diagnostic::at(
                "profile.template",
                message,
                &Span::new(&file_source, line as u64, column as u64),
            )
        }
        _ => Diagnostic::at("profile.template", message, &template.span),
    }
}

/// Every template a manifest uses: file templates by file name, inline strings by the
/// manifest position they stand at (`inline:12:10`).
fn template_sources(
    manifest: &Manifest,
    source: &Arc<SourceFile>,
    files: &Files,
    base: Option<&Files>,
    report: &mut Report,
) -> Vec<TemplateSource> {
    let mut out = Vec::new();
    let mut inline = |value: &Spanned<String>| {
        if is_literal(&value.value) || value_path(&value.value).is_some() {
            return;
        }
        let span = span_of(source, &value.referenced);
        out.push(TemplateSource {
            name: inline_name(value),
            text: value.value.clone(),
            span,
            file: None,
        });
    };
    manifest_strings(manifest).for_each(&mut inline);
    let file_refs = manifest
        .files
        .iter()
        .filter_map(|f| f.template.as_ref())
        .chain(manifest.units.iter().filter_map(|u| u.template.as_ref()))
        .chain(
            manifest
                .units
                .iter()
                .flat_map(|u| u.dropins.iter().map(|d| &d.template)),
        );
    for reference in file_refs {
        let span = span_of(source, &reference.referenced);
        let found = read_template_file(files, &reference.value)
            .map(|text| (text, files))
            .or_else(|| {
                let base = base?;
                read_template_file(base, &reference.value).map(|text| (text, base))
            });
        match found {
            Some((text, from)) => out.push(TemplateSource {
                name: file_name(reference),
                text,
                span,
                file: Some(from.label(&reference.value)),
            }),
            None => report.push(
                Diagnostic::at(
                    "profile.template-missing",
                    format!("template file {:?} is not in the profile", reference.value),
                    &span,
                )
                .with_help(
                    "templates are files beside profile.yaml, named without any directory part",
                ),
            ),
        }
    }
    out
}

/// Every string of a manifest that may be a template, in the manifest's order.
fn manifest_strings(m: &Manifest) -> impl Iterator<Item = &Spanned<String>> {
    let directories = m.directories.iter().flat_map(|d| [&d.path, &d.mode]);
    let files = m.files.iter().flat_map(|f| {
        [&f.path, &f.mode]
            .into_iter()
            .chain(&f.inline)
            .chain(&f.source)
            .chain(&f.hash)
    });
    let links = m.links.iter().flat_map(|l| [&l.path, &l.target]);
    let units = m
        .units
        .iter()
        .flat_map(|u| std::iter::once(&u.name).chain(u.dropins.iter().map(|d| &d.name)));
    let users = m.users.iter().map(|u| &u.name);
    directories
        .chain(files)
        .chain(links)
        .chain(units)
        .chain(users)
}

fn read_template_file(files: &Files, name: &str) -> Option<String> {
    let plain = !name.is_empty()
        && !name.contains('/')
        && !name.contains('\\')
        && name != "."
        && name != "..";
    plain.then(|| files.read(name)).flatten()
}

/// Registry name of an inline template: its text, so a string the manifest repeats
/// (`"{{tls.key_mode}}"`) is compiled once.
pub fn inline_name(value: &Spanned<String>) -> String {
    format!("inline:{}", value.value)
}

/// A manifest string without `{{` has nothing for handlebars to expand: it is used as it
/// stands, with no template compiled (most modes and fixed paths).
pub fn is_literal(text: &str) -> bool {
    !text.contains("{{")
}

/// The path of a manifest string that is exactly one dotted value, `{{tls.key_mode}}`: two
/// or more plain identifiers, so it can be no helper call and nothing but a lookup. Such a
/// string is not compiled; rendering looks the value up (see `render::Renderer::inline`).
pub fn value_path(text: &str) -> Option<&str> {
    let path = text.strip_prefix("{{")?.strip_suffix("}}")?;
    let identifier = |segment: &str| {
        let mut chars = segment.chars();
        chars
            .next()
            .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && segment != "this"
    };
    (path.contains('.') && path.split('.').all(identifier)).then_some(path)
}

/// Registry name of a template file.
pub fn file_name(value: &Spanned<String>) -> String {
    format!("file:{}", value.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Templates {
        /// What `render` appends to an empty string.
        fn rendered(&self, name: &str, context: &Context) -> Result<String, String> {
            let mut out = String::new();
            self.render(name, context, &mut out)
                .map(|()| out)
                .map_err(|error| error.to_string())
        }
    }

    #[test]
    fn a_template_renders_onto_the_end_of_the_text_given_as_handlebars_renders_it() {
        let mut templates = Templates::new();
        let text = "{{#each items}}{{this}},{{/each}}{{missing.value}}";
        templates
            .registry
            .register_template_string("t", text)
            .expect("compiles");
        let context =
            Context::from(serde_json::json!({"items": ["a", 1, true], "missing": {"value": "x"}}));
        let mut out = String::from("kept:");
        templates.render("t", &context, &mut out).expect("renders");
        assert_eq!(out, "kept:a,1,true,x");
        let strict = Context::from(serde_json::json!({"items": []}));
        let expected = templates.registry.render_with_context("t", &strict);
        assert_eq!(
            templates.rendered("t", &strict),
            expected.map_err(|e| e.to_string())
        );
        let unknown = templates.registry.render_with_context("none", &strict);
        assert_eq!(
            templates.rendered("none", &strict),
            unknown.map_err(|e| e.to_string())
        );
    }

    #[test]
    fn only_a_plain_dotted_value_skips_handlebars() {
        assert_eq!(value_path("{{tls.key_mode}}"), Some("tls.key_mode"));
        assert_eq!(value_path("{{a.b_2.c}}"), Some("a.b_2.c"));
        for text in [
            "{{name}}",
            "{{ tls.key_mode }}",
            "{{tls.key_mode}}/x",
            "{{this.a}}",
            "{{a.0}}",
            "{{../a.b}}",
            "{{{a.b}}}",
            "{{~a.b}}",
            "{{@root.a}}",
            "{{a..b}}",
        ] {
            assert_eq!(value_path(text), None, "{text}");
        }
    }

    fn builtin(name: &str) -> Profile {
        let choice = ProfileChoice {
            name_or_dir: ProfileRef::Named(name.to_string()),
            span: None,
        };
        load(&choice, None).expect("built-in profile loads")
    }

    #[test]
    fn every_template_a_builtin_profile_defers_compiles() {
        for name in builtin_names() {
            let profile = builtin(&name);
            assert!(profile.templates.registry.get_templates().is_empty());
            assert!(!profile.templates.deferred.is_empty(), "{name}");
            for (template, deferred) in &profile.templates.deferred {
                if let Err(error) = Template::compile_with_name(&deferred.text, template.clone()) {
                    panic!("{name}: {template} does not compile: {error}");
                }
            }
        }
    }

    #[test]
    fn a_deferred_template_renders_as_a_registered_one_and_is_compiled_once() {
        let profile = builtin("flatcar-sysext");
        let name = "file:etcd.conf.yml.hbs";
        let deferred = &profile.templates.deferred[name];
        let line = |key: &str, value: &str| serde_json::json!({"key": key, "value": value});
        let context = Context::from(serde_json::json!({"etcd": {"version": "v3.6.5", "config": {
            "top": [line("name", "a"), line("data-dir", "/var/lib/etcd")],
            "client_transport": [line("cert-file", "/c.crt")],
            "peer_transport": [],
        }}, "node": {"name": "a"}, "cluster": {"name": "c"}}));
        let mut registered = Templates::new();
        registered
            .registry
            .register_template_string(name, &deferred.text)
            .expect("compiles");
        let expected = registered
            .registry
            .render_with_context(name, &context)
            .expect("renders");
        assert_eq!(registered.rendered(name, &context), Ok(expected.clone()));
        assert!(expected.contains("\ndata-dir: /var/lib/etcd\nclient-transport-security:\n  cert-file: /c.crt\npeer-transport-security:\n"));
        assert!(deferred.compiled.get().is_none());
        let first = profile.templates.rendered(name, &context).expect("renders");
        let compiled: *const Template = deferred
            .compiled
            .get()
            .and_then(|compiled| compiled.as_ref().ok())
            .expect("compiled");
        assert_eq!(first, expected);
        let second = profile.templates.rendered(name, &context).expect("renders");
        assert_eq!(second, expected);
        assert!(std::ptr::eq(
            compiled,
            deferred
                .compiled
                .get()
                .and_then(|compiled| compiled.as_ref().ok())
                .expect("kept")
        ));
        let missing = Context::from(serde_json::json!({"node": {"name": "a"}}));
        assert_eq!(
            profile.templates.rendered(name, &missing),
            registered
                .registry
                .render_with_context(name, &missing)
                .map_err(|e| e.to_string())
        );
    }

    #[test]
    fn a_deferred_template_that_does_not_compile_is_a_render_error_not_a_panic() {
        let mut templates = Templates::new();
        let deferred = Deferred {
            text: "{{#if a}}never closed".to_string(),
            compiled: OnceLock::new(),
        };
        templates
            .deferred
            .insert("file:broken.hbs".to_string(), deferred);
        let context = Context::from(serde_json::json!({"a": true}));
        for _ in 0..2 {
            let error = templates
                .rendered("file:broken.hbs", &context)
                .expect_err("does not compile");
            assert!(
                error.contains("built-in template does not compile"),
                "{error}"
            );
        }
    }
}
