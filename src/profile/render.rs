//! Render: one node's context through a profile's manifest and templates, giving the
//! entries (files, directories, links, units, users) of that node's config.
//!
//! Templates only print what `resolve` computed. A `when:` names a boolean of the context
//! that switches an entry on or off; that is selection, not computation.

use crate::json::Lookup;
use handlebars::Context;
use serde_json::Value;
use serde_saphyr::Spanned;

use super::{Profile, file_name, inline_name, is_literal, value_path};
use crate::diag::{Diagnostic, Report, Span};
use crate::ignition::{Contents, Entry, EntryKind, NodeEntry, Owner};
use crate::resolve::values::octal_mode;

/// Renders every manifest entry for one node. `context` is the node's `NodeContext` as JSON.
pub fn render(profile: &Profile, context: Value) -> Result<Vec<Entry>, Report> {
    let mut renderer = Renderer {
        profile,
        context: Context::from(context),
        report: Report::default(),
        entries: Vec::new(),
        output: String::new(),
    };
    renderer.directories();
    renderer.files();
    renderer.links();
    renderer.units();
    renderer.users();
    let Renderer {
        report, entries, ..
    } = renderer;
    report.into_result(entries)
}

struct Renderer<'a> {
    profile: &'a Profile,
    context: Context,
    report: Report,
    entries: Vec<Entry>,
    /// Where each template renders, kept from one template to the next so that it grows
    /// once to the longest text (a large cluster's member list) rather than every time.
    output: String,
}

impl Renderer<'_> {
    fn span<T>(&self, value: &Spanned<T>) -> Span {
        self.profile.span(value)
    }

    fn node_name(&self) -> &str {
        self.context
            .data()
            .at("/node/name")
            .and_then(Value::as_str)
            .unwrap_or("?")
    }

    fn run(&mut self, name: &str, span: &Span) -> String {
        self.output.clear();
        let rendered = self
            .profile
            .templates
            .render(name, &self.context, &mut self.output);
        match rendered {
            Ok(()) => self.output.clone(),
            Err(error) => {
                self.render_error(&error, span);
                String::new()
            }
        }
    }

    fn render_error(&mut self, error: &handlebars::RenderError, span: &Span) {
        let message = format!(
            "rendering for node {} failed: {}",
            self.node_name(),
            error.reason()
        );
        self.report.push(
            Diagnostic::at("profile.render", message, span)
                .with_help("templates may print only the values listed in docs/profiles.md"),
        );
    }

    fn inline(&mut self, value: &Spanned<String>) -> String {
        if is_literal(&value.value) {
            return value.value.clone();
        }
        if let Some(path) = value_path(&value.value) {
            return self.looked_up(value, path);
        }
        let span = self.span(value);
        self.run(&inline_name(value), &span)
    }

    /// A `{{a.b}}` string: the value as handlebars prints it (a string as it is, a number
    /// or boolean in JSON's spelling). Anything else (missing, null, a list or an object)
    /// goes through handlebars itself, so its output or error is exactly handlebars'.
    fn looked_up(&mut self, value: &Spanned<String>, path: &str) -> String {
        match self.context.data().at_dotted(path) {
            Some(Value::String(text)) => return text.clone(),
            Some(Value::Number(number)) => return number.to_string(),
            Some(Value::Bool(flag)) => return flag.to_string(),
            _ => {}
        }
        match self
            .profile
            .templates
            .render_text(&value.value, &self.context)
        {
            Ok(text) => text,
            Err(error) => {
                let span = self.span(value);
                self.render_error(&error, &span);
                String::new()
            }
        }
    }

    fn file(&mut self, value: &Spanned<String>) -> String {
        let span = self.span(value);
        self.run(&file_name(value), &span)
    }

    fn mode(&mut self, value: &Spanned<String>) -> u32 {
        let text = self.inline(value);
        octal_mode(&text).unwrap_or_else(|invalid| {
            let span = self.span(value);
            self.report.push(
                Diagnostic::at("profile.mode", invalid.message, &span).with_help(invalid.help),
            );
            0o644
        })
    }

    /// Whether an entry with this `when:` is on for this node.
    fn enabled(&mut self, when: &Option<Spanned<String>>) -> bool {
        let Some(when) = when else {
            return true;
        };
        match self.context.data().at_dotted(&when.value) {
            Some(Value::Bool(on)) => *on,
            _ => {
                let span = self.span(when);
                self.report.push(
                    Diagnostic::at("profile.when", format!("`when: {}` is not a true/false value of the context", when.value), &span)
                        .with_help("name a boolean such as sysext.update_enabled (docs/profiles.md lists them)"),
                );
                false
            }
        }
    }

    fn push(&mut self, origin: String, kind: EntryKind) {
        self.entries.push(Entry { origin, kind });
    }

    fn directories(&mut self) {
        for (index, spec) in self.profile.manifest.directories.iter().enumerate() {
            if !self.enabled(&spec.when) {
                continue;
            }
            let kind = EntryKind::Node(NodeEntry::Directory {
                path: self.inline(&spec.path),
                mode: self.mode(&spec.mode),
                owner: Owner {
                    uid: spec.user,
                    gid: spec.group,
                },
            });
            let origin = self.profile.origins.directories[index].clone();
            self.push(origin, kind);
        }
    }

    fn files(&mut self) {
        for (index, spec) in self.profile.manifest.files.iter().enumerate() {
            if !self.enabled(&spec.when) {
                continue;
            }
            let contents = match (&spec.template, &spec.inline, &spec.source) {
                (Some(template), _, _) => Contents::Inline(self.file(template)),
                (None, Some(inline), _) => Contents::Inline(self.inline(inline)),
                (None, None, Some(source)) => {
                    let url = self.inline(source);
                    let hash = spec
                        .hash
                        .as_ref()
                        .map(|h| self.inline(h))
                        .filter(|h| !h.is_empty());
                    Contents::Remote { url, hash }
                }
                (None, None, None) => Contents::Inline(String::new()),
            };
            let kind = EntryKind::Node(NodeEntry::File {
                path: self.inline(&spec.path),
                mode: self.mode(&spec.mode),
                owner: Owner {
                    uid: spec.user,
                    gid: spec.group,
                },
                overwrite: spec.overwrite.unwrap_or(true),
                contents,
            });
            let origin = self.profile.origins.files[index].clone();
            self.push(origin, kind);
        }
    }

    fn links(&mut self) {
        for (index, spec) in self.profile.manifest.links.iter().enumerate() {
            if !self.enabled(&spec.when) {
                continue;
            }
            let kind = EntryKind::Node(NodeEntry::Link {
                path: self.inline(&spec.path),
                target: self.inline(&spec.target),
                owner: Owner::default(),
                overwrite: spec.overwrite.unwrap_or(true),
                hard: spec.hard.unwrap_or(false),
            });
            let origin = self.profile.origins.links[index].clone();
            self.push(origin, kind);
        }
    }

    fn units(&mut self) {
        for (index, spec) in self.profile.manifest.units.iter().enumerate() {
            if !self.enabled(&spec.when) {
                continue;
            }
            let dropins = spec
                .dropins
                .iter()
                .map(|d| (self.inline(&d.name), self.file(&d.template)))
                .collect();
            let kind = EntryKind::Unit {
                name: self.inline(&spec.name),
                enabled: spec.enabled,
                mask: spec.mask,
                contents: spec.template.as_ref().map(|t| self.file(t)),
                dropins,
            };
            let origin = self.profile.origins.units[index].clone();
            self.push(origin, kind);
        }
    }

    fn users(&mut self) {
        for (index, spec) in self.profile.manifest.users.iter().enumerate() {
            if !self.enabled(&spec.when) {
                continue;
            }
            let keys = self.string_list(&spec.ssh_authorized_keys);
            if keys.is_empty() {
                continue;
            }
            let kind = EntryKind::User {
                name: self.inline(&spec.name),
                ssh_authorized_keys: keys,
            };
            let origin = self.profile.origins.users[index].clone();
            self.push(origin, kind);
        }
    }

    fn string_list(&mut self, path: &Spanned<String>) -> Vec<String> {
        let list = self
            .context
            .data()
            .at_dotted(&path.value)
            .and_then(Value::as_array);
        let strings: Option<Vec<String>> =
            list.and_then(|l| l.iter().map(|v| v.as_str().map(str::to_string)).collect());
        strings.unwrap_or_else(|| {
            let span = self.span(path);
            self.report.push(Diagnostic::at(
                "profile.list",
                format!("{} is not a list of strings in the context", path.value),
                &span,
            ));
            Vec::new()
        })
    }
}
