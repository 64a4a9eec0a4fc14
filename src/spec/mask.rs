//! Setting a mistaken entry aside so the rest of the spec can still be read.
//!
//! The typed parse stops at its first error. To report every mistake in one run, the entry
//! at fault (`key: value`, nested values included) is blanked: each of its characters
//! becomes as many spaces as it had bytes, so the text keeps every line and every byte
//! offset (and every column, but after a blanked non-ASCII character on the same line), and
//! the spec is parsed again as if the entry were not there. In a flow mapping (`{ a: 1, b: 2 }`) the comma after the
//! entry goes with it.

use std::ops::Range;

use crate::butane::yaml::{Node, Value};
use crate::diag::{Diagnostic, Location};

/// One `key: value` entry of the spec, by byte range.
#[derive(Clone, Debug)]
pub struct EntryRange {
    pub key: String,
    pub range: Range<usize>,
}

impl EntryRange {
    fn contains(&self, other: &Range<usize>) -> bool {
        self.range.start <= other.start && other.end <= self.range.end
    }
}

/// The spec text with some entries blanked out.
pub struct Masked {
    text: String,
    /// Every entry of the spec, outermost first.
    entries: Vec<EntryRange>,
    blanked: Vec<EntryRange>,
}

impl Masked {
    pub fn new(text: &str, tree: Option<&Node>) -> Masked {
        let mut entries = Vec::new();
        if let Some(tree) = tree {
            collect(tree, &mut entries);
        }
        Masked {
            text: text.to_string(),
            entries,
            blanked: Vec::new(),
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Blanks an entry (and the comma that ends it in a flow mapping).
    pub fn blank(&mut self, entry: EntryRange) {
        let mut end = entry.range.end.min(self.text.len());
        let rest = &self.text[end..];
        let spaces = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        if rest[spaces..].starts_with(',') {
            end += spaces + 1;
        }
        let start = entry.range.start.min(end);
        // As many spaces as the character had bytes: every other entry's byte range stays
        // where it was.
        let blanked: String = self.text[start..end]
            .chars()
            .map(|c| match c {
                '\n' | '\r' => c.to_string(),
                _ => " ".repeat(c.len_utf8()),
            })
            .collect();
        self.text.replace_range(start..end, &blanked);
        self.blanked.push(entry);
    }

    /// The innermost entry holding the place a finding points at, unless that place is
    /// already blanked or holds something blanked (setting it aside would make no progress).
    pub fn entry_at(&self, location: &Location) -> Option<EntryRange> {
        if self.follows_from_a_blank_at(location) {
            return None;
        }
        self.innermost(location).cloned()
    }

    /// Whether a finding is only the echo of an entry set aside: its key is missing now, or
    /// the mapping that held it is empty now.
    pub fn follows_from_a_blank(&self, diagnostic: &Diagnostic) -> bool {
        let missing_a_blanked_key = diagnostic.code == "spec.missing-key"
            && self
                .blanked
                .iter()
                .any(|b| diagnostic.message.contains(&format!("`{}`", b.key)));
        missing_a_blanked_key || self.follows_from_a_blank_at(&diagnostic.location)
    }

    fn follows_from_a_blank_at(&self, location: &Location) -> bool {
        let Some(offset) = self.offset(location) else {
            return false;
        };
        let inside_a_blank = self
            .blanked
            .iter()
            .any(|b| b.range.start <= offset && offset < b.range.end);
        let around_a_blank = self
            .innermost(location)
            .is_some_and(|entry| self.blanked.iter().any(|b| entry.contains(&b.range)));
        inside_a_blank || around_a_blank
    }

    fn innermost(&self, location: &Location) -> Option<&EntryRange> {
        let offset = self.offset(location)?;
        self.entries
            .iter()
            .filter(|entry| entry.range.start <= offset && offset <= entry.range.end)
            .min_by_key(|entry| entry.range.len())
    }

    /// The byte offset of a finding's line and column (both 1-based, the column in chars).
    fn offset(&self, location: &Location) -> Option<usize> {
        let Location::Source(span) = location else {
            return None;
        };
        let line_start = if span.line <= 1 {
            0
        } else {
            self.text
                .match_indices('\n')
                .nth(usize::try_from(span.line - 2).ok()?)?
                .0
                + 1
        };
        let line = &self.text[line_start..];
        let column = usize::try_from(span.column.saturating_sub(1)).ok()?;
        let within = line
            .char_indices()
            .nth(column)
            .map_or(line.len(), |(at, _)| at);
        Some(line_start + within)
    }
}

fn collect(node: &Node, entries: &mut Vec<EntryRange>) {
    if node.alias {
        // The entries are the anchor's, written elsewhere.
        return;
    }
    match &node.value {
        Value::Mapping(items) => {
            for entry in items.iter().filter(|entry| !entry.merged) {
                entries.push(EntryRange {
                    key: entry.key.clone(),
                    range: entry.key_start..entry.value.end.max(entry.key_start),
                });
                collect(&entry.value, entries);
            }
        }
        Value::Sequence(items) => items.iter().for_each(|item| collect(item, entries)),
        Value::Scalar { .. } => {}
    }
}
