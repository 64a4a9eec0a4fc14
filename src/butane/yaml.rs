//! Butane documents read the way Butane's own YAML library (go-yaml v3) reads them: a tree of
//! nodes that keep their source position and how each scalar was written, so the translator
//! can type each value by where it lands (`mode: 0644` is octal 420, `enabled: yes` is true,
//! `gecos: yes` stays the string "yes") and point every finding at its line and column.
//!
//! Only the first document of a stream counts, as in Butane. Anchors and aliases are
//! expanded (within a budget, so an alias bomb is an error, not an out-of-memory), merge keys
//! (`<<`) are applied, and a key defined twice in one mapping is an error.

use std::sync::Arc;

use granit_parser::{Event, Parser, ScalarStyle};

use crate::diag::{Diagnostic, Report, SourceFile, Span};

/// The most nodes a document may expand to through aliases.
const NODE_BUDGET: usize = 1_000_000;

/// A node and where it starts.
#[derive(Clone, Debug)]
pub struct Node {
    pub value: Value,
    pub line: u64,
    pub column: u64,
    /// Written as an alias (`*name`): the value is the anchor's, the position the alias's.
    pub alias: bool,
    /// The byte offset just past the node's text (for an alias, past the alias).
    pub end: usize,
}

#[derive(Clone, Debug)]
pub enum Value {
    /// A scalar, its text after escapes, and whether it was plain (only plain scalars are
    /// resolved to null, booleans and numbers).
    Scalar {
        text: String,
        plain: bool,
    },
    Sequence(Vec<Node>),
    Mapping(Vec<Entry>),
}

/// One key of a mapping. Keys copied in by a merge key are marked, so only the keys the
/// user wrote at this place are reported as unused.
#[derive(Clone, Debug)]
pub struct Entry {
    pub key: String,
    pub key_line: u64,
    pub key_column: u64,
    /// The byte offset where the key starts: the entry is `key_start..value.end`.
    pub key_start: usize,
    pub value: Node,
    pub merged: bool,
}

impl Node {
    /// Whether the node is YAML null (`~`, `null`, or nothing at all).
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// The entries of a mapping (none for anything else).
    pub fn entries(&self) -> &[Entry] {
        match &self.value {
            Value::Mapping(entries) => entries,
            _ => &[],
        }
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries()
            .iter()
            .find(|entry| entry.key == key)
            .map(|entry| &entry.value)
    }

    /// The text of a scalar.
    pub fn scalar(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// How go-yaml names the node's kind in its messages.
    pub fn yaml_tag(&self) -> &'static str {
        match &self.value {
            Value::Sequence(_) => "!!seq",
            Value::Mapping(_) => "!!map",
            Value::Scalar { plain: false, .. } => "!!str",
            Value::Scalar { text, plain: true } => {
                if self.is_null() {
                    "!!null"
                } else if matches!(
                    text.as_str(),
                    "true" | "True" | "TRUE" | "false" | "False" | "FALSE"
                ) {
                    "!!bool"
                } else if parse_int(text).is_some() {
                    "!!int"
                } else if parse_float(text).is_some() {
                    "!!float"
                } else {
                    "!!str"
                }
            }
        }
    }
}

/// go-yaml's integers: decimal, `0x`, `0o`, `0b`, and a leading zero for octal.
pub fn parse_int(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let digits = digits.replace('_', "");
    let (radix, body) = if let Some(rest) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, rest.to_string())
    } else if let Some(rest) = digits.strip_prefix("0o") {
        (8, rest.to_string())
    } else if let Some(rest) = digits.strip_prefix("0b") {
        (2, rest.to_string())
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, digits[1..].to_string())
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(&body, radix).ok()?;
    let value = if negative { -magnitude } else { magnitude };
    i64::try_from(value).ok()
}

/// go-yaml's floats (YAML 1.2 core schema).
pub fn parse_float(text: &str) -> Option<f64> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let body = text.trim_start_matches(['-', '+']);
    let looks_numeric = body.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+' | '_'));
    if !looks_numeric {
        return None;
    }
    text.replace('_', "").parse().ok()
}

/// Reads the first document of `source`. An empty stream is an empty mapping's absence:
/// `None`.
pub fn parse(source: &Arc<SourceFile>) -> Result<Option<Node>, Report> {
    let mut builder = Builder {
        source,
        anchors: Vec::new(),
        nodes: 0,
    };
    let mut events = Parser::new_from_str(&source.text);
    loop {
        match next(&mut events, source)? {
            None | Some((Event::StreamEnd, _)) => return Ok(None),
            Some((Event::DocumentStart(..), _)) => break,
            Some(_) => {}
        }
    }
    let Some(first) = next(&mut events, source)? else {
        return Ok(None);
    };
    if matches!(first.0, Event::DocumentEnd) {
        return Ok(None);
    }
    builder.node(first, &mut events).map(Some)
}

type Located<'a> = (Event<'a>, granit_parser::Span);

fn next<'a>(
    events: &mut Parser<'a, granit_parser::StrInput<'a>>,
    source: &Arc<SourceFile>,
) -> Result<Option<Located<'a>>, Report> {
    loop {
        match events.next() {
            None => return Ok(None),
            Some(Err(error)) => {
                let marker = error.marker();
                let span = Span::new(source, marker.line() as u64, marker.col() as u64 + 1);
                return Err(Report::from(Diagnostic::at(
                    "butane.yaml",
                    format!("invalid YAML: {}", error.info()),
                    &span,
                )));
            }
            Some(Ok((Event::Comment(..) | Event::Anchor(..), _))) => continue,
            Some(Ok(event)) => return Ok(Some(event)),
        }
    }
}

struct Builder<'s> {
    source: &'s Arc<SourceFile>,
    anchors: Vec<(usize, Node)>,
    nodes: usize,
}

impl Builder<'_> {
    fn error(&self, line: u64, column: u64, message: impl Into<String>) -> Report {
        Report::from(Diagnostic::at(
            "butane.yaml",
            message,
            &Span::new(self.source, line, column),
        ))
    }

    fn count(&mut self, line: u64, column: u64, added: usize) -> Result<(), Report> {
        self.nodes = self.nodes.saturating_add(added);
        if self.nodes > NODE_BUDGET {
            return Err(self.error(
                line,
                column,
                format!("the document expands to more than {NODE_BUDGET} nodes through aliases"),
            ));
        }
        Ok(())
    }

    fn node<'a>(
        &mut self,
        (event, span): Located<'a>,
        events: &mut Parser<'a, granit_parser::StrInput<'a>>,
    ) -> Result<Node, Report> {
        let (line, column) = match event {
            Event::Scalar(_, ScalarStyle::Literal | ScalarStyle::Folded, ..) => {
                block_indicator(&self.source.text, &span.start)
            }
            _ => None,
        }
        .unwrap_or((span.start.line() as u64, span.start.col() as u64 + 1));
        self.count(line, column, 1)?;
        let mut end = span.end.byte_offset().unwrap_or(0);
        let (value, anchor) = match event {
            Event::Scalar(text, style, anchor, _) => (
                Value::Scalar {
                    text: text.into_owned(),
                    plain: style == ScalarStyle::Plain,
                },
                anchor,
            ),
            Event::SequenceStart(_, anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let item = self.next_node_event(events)?;
                    if matches!(item.0, Event::SequenceEnd) {
                        end = item.1.end.byte_offset().unwrap_or(end);
                        break;
                    }
                    items.push(self.node(item, events)?);
                }
                (Value::Sequence(items), anchor)
            }
            Event::MappingStart(_, anchor, _) => {
                let (entries, mapping_end) = self.mapping(events)?;
                end = mapping_end.unwrap_or(end);
                (entries, anchor)
            }
            Event::Alias(id) => {
                let Some((_, target)) = self.anchors.iter().rev().find(|(a, _)| *a == id) else {
                    return Err(self.error(line, column, "alias to an unknown anchor"));
                };
                let target = target.clone();
                let size = weight(&target);
                self.count(line, column, size)?;
                return Ok(Node {
                    line,
                    column,
                    alias: true,
                    end,
                    ..target
                });
            }
            _ => return Err(self.error(line, column, "unexpected YAML structure")),
        };
        let node = Node {
            value,
            line,
            column,
            alias: false,
            end,
        };
        if anchor != 0 {
            self.anchors.push((anchor, node.clone()));
        }
        Ok(node)
    }

    fn next_node_event<'a>(
        &mut self,
        events: &mut Parser<'a, granit_parser::StrInput<'a>>,
    ) -> Result<Located<'a>, Report> {
        next(events, self.source)?.ok_or_else(|| {
            let last = self.source.text.lines().count().max(1) as u64;
            self.error(last, 1, "the document ends inside a collection")
        })
    }

    fn mapping<'a>(
        &mut self,
        events: &mut Parser<'a, granit_parser::StrInput<'a>>,
    ) -> Result<(Value, Option<usize>), Report> {
        let mut entries: Vec<Entry> = Vec::new();
        let mut merges = Vec::new();
        let end = loop {
            let key_event = self.next_node_event(events)?;
            if matches!(key_event.0, Event::MappingEnd) {
                break key_event.1.end.byte_offset();
            }
            let key_start = key_event.1.start.byte_offset().unwrap_or(0);
            let key_node = self.node(key_event, events)?;
            let value = {
                let event = self.next_node_event(events)?;
                self.node(event, events)?
            };
            let key = match &key_node.value {
                Value::Scalar { text, .. } => text.clone(),
                _ => {
                    return Err(self.error(
                        key_node.line,
                        key_node.column,
                        "a mapping key must be a scalar",
                    ));
                }
            };
            if let Some(first) = entries.iter().find(|e| e.key == key && !e.merged) {
                return Err(self.error(
                    key_node.line,
                    key_node.column,
                    format!(
                        "mapping key \"{key}\" already defined at line {}",
                        first.key_line
                    ),
                ));
            }
            if key == "<<" && matches!(key_node.value, Value::Scalar { plain: true, .. }) {
                merges.push(value.clone());
            }
            entries.push(Entry {
                key,
                key_line: key_node.line,
                key_column: key_node.column,
                key_start,
                value,
                merged: false,
            });
        };
        for merge in merges {
            let sources = match merge.value {
                Value::Sequence(items) => items,
                _ => vec![merge],
            };
            for source in sources {
                for entry in source.entries() {
                    if !entries.iter().any(|e| e.key == entry.key) {
                        entries.push(Entry {
                            merged: true,
                            ..entry.clone()
                        });
                    }
                }
            }
        }
        Ok((Value::Mapping(entries), end))
    }
}

/// Where a block scalar starts as go-yaml places it: at its `|` or `>` indicator, on the
/// header line above its text (blank lines between belong to the text). The parser reports
/// the first line of text instead.
fn block_indicator(text: &str, start: &granit_parser::Marker) -> Option<(u64, u64)> {
    let mut lines: Vec<&str> = text.lines().take(start.line()).collect();
    if let Some(last) = lines.last_mut() {
        // The text itself is not a header: keep only what precedes the scalar on its line.
        let end = last
            .char_indices()
            .nth(start.col())
            .map_or(last.len(), |(at, _)| at);
        *last = &last[..end];
    }
    for (index, line) in lines.iter().enumerate().rev() {
        let header = line.split(" #").next().unwrap_or(line).trim_end();
        let indicator =
            header.trim_end_matches(|c: char| c.is_ascii_digit() || c == '+' || c == '-');
        if indicator.ends_with(['|', '>']) {
            return Some((index as u64 + 1, indicator.chars().count() as u64));
        }
        if !line.trim().is_empty() {
            return None;
        }
    }
    None
}

/// How many nodes a subtree holds (what an alias to it costs).
fn weight(node: &Node) -> usize {
    match &node.value {
        Value::Scalar { .. } => 1,
        Value::Sequence(items) => 1 + items.iter().map(weight).sum::<usize>(),
        Value::Mapping(entries) => 1 + entries.iter().map(|e| 1 + weight(&e.value)).sum::<usize>(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Node {
        parse(&SourceFile::new("t.bu", text.to_string()))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn integers_as_go_yaml_reads_them() {
        assert_eq!(parse_int("0644"), Some(420));
        assert_eq!(parse_int("0o644"), Some(420));
        assert_eq!(parse_int("0x1F"), Some(31));
        assert_eq!(parse_int("420"), Some(420));
        assert_eq!(parse_int("-1"), Some(-1));
        assert_eq!(parse_int("09"), None);
        assert_eq!(parse_int("99999999999999999999"), None);
        assert_eq!(parse_float("420.5"), Some(420.5));
        assert_eq!(parse_float("yes"), None);
    }

    #[test]
    fn positions_are_one_based() {
        let node = read("a:\n  b: 1\n");
        let b = &node.get("a").unwrap().entries()[0];
        assert_eq!((b.key_line, b.key_column), (2, 3));
    }

    #[test]
    fn block_scalars_start_at_their_indicator() {
        let doc = read("a: |\n  one\nb: >-  # folded\n\n  two\nc:\n  - |2\n     three\n");
        let at = |key: &str| {
            let node = doc.get(key).unwrap();
            (node.line, node.column)
        };
        assert_eq!(at("a"), (1, 4));
        assert_eq!(at("b"), (3, 4));
        let item = &doc.get("c").unwrap();
        let Value::Sequence(items) = &item.value else {
            panic!()
        };
        assert_eq!((items[0].line, items[0].column), (7, 5));
        for text_that_looks_like_a_header in ["a: |\n\n  x |\n", "a: >\n  x\n  y |\n", "a: |"] {
            let doc = read(text_that_looks_like_a_header);
            let node = doc.get("a").unwrap();
            assert_eq!(
                (node.line, node.column),
                (1, 4),
                "{text_that_looks_like_a_header:?}"
            );
        }
    }

    #[test]
    fn duplicate_keys_and_merge_keys() {
        let error = parse(&SourceFile::new("t.bu", "a: 1\na: 2\n".into())).unwrap_err();
        assert!(
            error.diagnostics[0]
                .message
                .contains("already defined at line 1")
        );
        let node = read("x: &o {m: 1}\ny:\n  <<: *o\n  n: 2\n");
        let y = node.get("y").unwrap();
        assert_eq!(y.get("m").unwrap().scalar(), Some("1"));
        assert!(y.entries().iter().any(|e| e.key == "<<"));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..8 {
            let previous = level - 1;
            text.push_str(&format!(
                "a{level}: &a{level} [*a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}]\n"
            ));
        }
        assert!(parse(&SourceFile::new("t.bu", text)).is_err());
    }
}
