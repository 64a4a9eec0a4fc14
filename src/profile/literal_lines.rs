//! Compiles a handlebars template without making handlebars parse its literal text.
//!
//! Handlebars' parser spends several hundred instructions on each byte of literal text, and
//! most of a profile's text is literal: whole lines of shell or unit file with no tag on
//! them. Parsing was a third of a five-node render. So whole literal lines are set aside
//! before parsing, each run replaced by a short marker that keeps the line count, and put
//! back into the parsed template's text afterwards.
//!
//! Lines with tags on them are mostly literal too (`ExecStart=/usr/bin/etcd {{flags}}`), so
//! the longer literal stretches between a line's tags become markers as well. Such a marker
//! is shorter than its text, so the column handlebars records for each later element on its
//! line is moved back by the difference.
//!
//! The result is the template handlebars builds from the original text, element for element
//! and with the same line and column for each: handlebars only ever looks at the rest of a
//! tag's own line (standalone tags, partial indentation), a tag's line is never set aside,
//! and a stretch's marker is, like its words, not whitespace. Whitespace control (`{{~`,
//! `~}}`) can reach across lines, and raw blocks (`{{{{`) strip a newline, so a template that
//! uses either is parsed whole. Whenever a marker does not come back intact, or the
//! shortened text does not parse, the original is parsed instead, so errors carry
//! handlebars' own message and position. Tests compare the two ways for every built-in
//! template and for generated ones.

use handlebars::TemplateError;
use handlebars::template::{Template, TemplateElement};

/// Runs of literal lines shorter than this stay in the text: a marker would save little.
const SHORTEST_RUN: usize = 24;

/// Literal stretches inside a tag line shorter than this stay in the text.
const SHORTEST_STRETCH: usize = 8;

/// The characters that open and close a marker (Unicode private use: a template that holds
/// either is parsed whole).
const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// The template handlebars compiles from `text`, named `name`.
pub fn compile(name: &str, text: &str) -> Result<Template, TemplateError> {
    if let Some(shortened) = Shortened::of(text)
        && let Ok(mut template) = Template::compile_with_name(&shortened.text, name.to_owned())
        && shortened.restore(&mut template)
    {
        return Ok(template);
    }
    Template::compile_with_name(text, name.to_owned())
}

/// A template's text with its literal line runs, and the longer literal stretches between
/// the tags of other lines, replaced by markers.
struct Shortened<'a> {
    text: String,
    /// The text each marker stands for, by marker number.
    runs: Vec<&'a str>,
    /// Where a marker inside a line moved the columns after it, in line order.
    shifts: Vec<Shift>,
}

/// A marker that stands for `chars` more characters than it has, at `column` (counted in
/// characters from 1, as handlebars counts) of `line` of the shortened text.
#[derive(Debug, Clone, Copy)]
struct Shift {
    line: usize,
    column: usize,
    chars: usize,
}

impl<'a> Shortened<'a> {
    /// The shortened text, or nothing when the template must be parsed whole or has no run
    /// worth setting aside.
    fn of(text: &'a str) -> Option<Self> {
        let parse_whole =
            ["{{~", "~}}", "{{{{"].iter().any(|s| text.contains(s)) || text.contains([OPEN, CLOSE]);
        if parse_whole {
            return None;
        }
        let mut shortened = Shortened {
            text: String::with_capacity(text.len() / 2),
            runs: Vec::new(),
            shifts: Vec::new(),
        };
        let mut run_start = 0;
        let mut offset = 0;
        for (index, line) in text.split_inclusive('\n').enumerate() {
            let end = offset + line.len();
            if !is_literal_line(line) {
                shortened.push_run(&text[run_start..offset]);
                shortened.push_tag_line(index + 1, line);
                run_start = end;
            }
            offset = end;
        }
        shortened.push_run(&text[run_start..]);
        (!shortened.runs.is_empty()).then_some(shortened)
    }

    /// Appends a run of literal lines: as a marker when it is long enough, else as it is.
    fn push_run(&mut self, run: &'a str) {
        let (_, body) = split_run(run);
        if run.len() < SHORTEST_RUN || body.is_empty() {
            self.text.push_str(run);
            return;
        }
        self.text.push_str(&marker(self.runs.len(), run));
        self.runs.push(run);
    }

    /// Appends line `number`, which holds a tag, with each literal stretch between its tags
    /// that is long enough replaced by a marker. A line with a backslash (an escaped tag) or
    /// a carriage return is kept whole, and so is the rest of a line from a tag that does
    /// not close on it. A line that closes a tag opened on an earlier line is read as if it
    /// began outside a tag: a marker put inside the tag that way is not found in literal
    /// text afterwards, so restoring fails and the original is parsed.
    fn push_tag_line(&mut self, number: usize, line: &'a str) {
        if line.contains(['\\', '\r']) {
            self.text.push_str(line);
            return;
        }
        let mut column = 1;
        let mut rest = line;
        while !rest.is_empty() {
            let (literal, from_tag) = rest.split_at(rest.find("{{").unwrap_or(rest.len()));
            column += self.push_literal(number, column, literal);
            let Some(tag_length) = tag_length(from_tag) else {
                self.text.push_str(from_tag);
                return;
            };
            let (tag, after) = from_tag.split_at(tag_length);
            self.text.push_str(tag);
            column += tag.chars().count();
            rest = after;
        }
    }

    /// Appends a literal stretch of a tag line that starts at `column` of line `number`:
    /// its words as a marker when they are long enough, else as they are. Returns the
    /// characters it appended.
    fn push_literal(&mut self, number: usize, column: usize, literal: &'a str) -> usize {
        let words = literal.trim_matches(is_pest_whitespace);
        if words.len() < SHORTEST_STRETCH || words.contains("}}") {
            self.text.push_str(literal);
            return literal.chars().count();
        }
        let marker = marker(self.runs.len(), words);
        let Some(saved) = words.chars().count().checked_sub(marker.chars().count()) else {
            self.text.push_str(literal);
            return literal.chars().count();
        };
        let before =
            &literal[..literal.len() - literal.trim_start_matches(is_pest_whitespace).len()];
        let after = &literal[before.len() + words.len()..];
        self.shifts.push(Shift {
            line: number,
            column: column + before.chars().count(),
            chars: saved,
        });
        self.runs.push(words);
        for piece in [before, &marker, after] {
            self.text.push_str(piece);
        }
        literal.chars().count() - saved
    }

    /// Puts every run back into the parsed template. False when a marker is missing, was
    /// cut, or ended up anywhere but literal text.
    fn restore(&self, template: &mut Template) -> bool {
        let mut restored = vec![false; self.runs.len()];
        let intact = self.restore_in(template, &mut restored) && restored.iter().all(|done| *done);
        if intact {
            self.shift_columns(template);
        }
        intact
    }

    /// Moves each element's recorded column back to where it is in the original text.
    fn shift_columns(&self, template: &mut Template) {
        for mapping in &mut template.mapping {
            let (line, column) = (mapping.0, mapping.1);
            let before = |shift: &&Shift| shift.line == line && shift.column < column;
            mapping.1 += self
                .shifts
                .iter()
                .filter(before)
                .map(|shift| shift.chars)
                .sum::<usize>();
        }
        for inner in template.elements.iter_mut().flat_map(inner_templates) {
            self.shift_columns(inner);
        }
    }

    fn restore_in(&self, template: &mut Template, restored: &mut [bool]) -> bool {
        template.elements.iter_mut().all(|element| match element {
            TemplateElement::RawString(text) => match self.expand(text, restored) {
                Some(expanded) => {
                    *text = expanded;
                    true
                }
                None => false,
            },
            TemplateElement::Comment(text) => !text.contains(OPEN),
            block => inner_templates(block).all(|inner| self.restore_in(inner, restored)),
        })
    }

    /// `text` with each marker replaced by its run; nothing if a marker is not intact.
    fn expand(&self, text: &str, restored: &mut [bool]) -> Option<String> {
        if !text.contains(OPEN) {
            return Some(text.to_owned());
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find(OPEN) {
            out.push_str(&rest[..start]);
            let after = &rest[start + OPEN.len_utf8()..];
            let number: usize = after[..after.find(CLOSE)?].parse().ok()?;
            let run = self.runs.get(number)?;
            let (prefix, body) = split_run(run);
            let whole = marker(number, run);
            rest = rest[start..].strip_prefix(whole.strip_prefix(prefix)?)?;
            let kept_prefix = out.ends_with(prefix);
            if !kept_prefix || std::mem::replace(restored.get_mut(number)?, true) {
                return None;
            }
            out.push_str(body);
        }
        out.push_str(rest);
        Some(out)
    }
}

/// The templates a block element holds: a helper block's body and `else` part, a decorator
/// or partial block's body.
fn inner_templates(element: &mut TemplateElement) -> impl Iterator<Item = &mut Template> {
    let (first, second) = match element {
        TemplateElement::HelperBlock(helper) => (helper.template.as_mut(), helper.inverse.as_mut()),
        TemplateElement::DecoratorBlock(block) | TemplateElement::PartialBlock(block) => {
            (block.template.as_mut(), None)
        }
        _ => (None, None),
    };
    first.into_iter().chain(second)
}

/// The length of the tag `text` starts with (`{{{…}}}` or `{{…}}`), or nothing when it does
/// not close on this line.
fn tag_length(text: &str) -> Option<usize> {
    let close = if text.starts_with("{{{") { "}}}" } else { "}}" };
    Some(text.find(close)? + close.len())
}

/// A line handlebars would read as nothing but literal text whatever surrounds it: it ends
/// in a newline and holds no braces pair and no carriage return (which handlebars also
/// counts as a line end).
fn is_literal_line(line: &str) -> bool {
    line.ends_with('\n') && !line.contains("{{") && !line.contains("}}") && !line.contains('\r')
}

/// The whitespace handlebars' parser skips before literal text, and the rest of the run.
fn split_run(run: &str) -> (&str, &str) {
    let body = run.trim_start_matches(is_pest_whitespace);
    run.split_at(run.len() - body.len())
}

fn is_pest_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// The marker for run `number`: the run's leading whitespace as it is (the parser skips
/// it, and records where the text after it starts), then as many lines as the rest of the
/// run has, so every later line keeps its number.
fn marker(number: usize, run: &str) -> String {
    let (prefix, body) = split_run(run);
    let lines = body.matches('\n').count();
    format!("{prefix}{OPEN}{number}{CLOSE}{}", "\n".repeat(lines))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn whole(text: &str) -> Result<Template, TemplateError> {
        Template::compile_with_name(text, "t".to_owned())
    }

    fn assert_same(text: &str) {
        match (compile("t", text), whole(text)) {
            (Ok(fast), Ok(slow)) => assert_eq!(fast, slow, "template {text:?}"),
            (Err(fast), Err(slow)) => assert_eq!(fast.to_string(), slow.to_string()),
            (fast, slow) => panic!("template {text:?}: {fast:?} against {slow:?}"),
        }
    }

    /// The text is shortened, and the shortened text parses and restores.
    fn takes_the_short_way(text: &str) -> bool {
        Shortened::of(text).is_some_and(|shortened| {
            let mut template = whole(&shortened.text).expect("shortened text parses");
            shortened.restore(&mut template)
        })
    }

    #[test]
    fn every_builtin_template_compiles_to_what_handlebars_builds() {
        let mut shortened = 0;
        for profile in crate::profile::builtin_names() {
            for (_, bytes) in crate::profile::builtin_files(&profile).expect("built in") {
                let text = String::from_utf8(bytes).expect("utf-8");
                shortened += usize::from(takes_the_short_way(&text));
                assert_same(&text);
            }
        }
        assert!(shortened > 10, "only {shortened} templates were shortened");
    }

    #[test]
    fn literal_runs_are_set_aside_and_tag_lines_kept() {
        let text = "#!/bin/sh\nset -eu\necho one two three four\n  {{#if a}}\nx={{b}}\n  {{/if}}\nexit 0 and some more words\n";
        let shortened = Shortened::of(text).expect("shortened");
        assert_eq!(shortened.runs.len(), 2);
        assert_eq!(shortened.text.lines().count(), text.lines().count());
        assert!(shortened.text.contains("  {{#if a}}\nx={{b}}\n  {{/if}}\n"));
        assert!(takes_the_short_way(text));
        assert_same(text);
    }

    #[test]
    fn long_stretches_between_tags_are_set_aside_with_their_columns() {
        let text = "Environment=ETCD_NAME={{name}} and then some words {{x}}\n  {{#if a}}ExecStart=/usr/bin/etcd {{b}}{{/if}}\n";
        let shortened = Shortened::of(text).expect("shortened");
        assert_eq!(
            shortened.runs,
            [
                "Environment=ETCD_NAME=",
                "and then some words",
                "ExecStart=/usr/bin/etcd"
            ]
        );
        assert!(!shortened.text.contains("Environment") && shortened.text.contains(" {{x}}\n"));
        assert!(takes_the_short_way(text));
        assert_same(text);
    }

    #[test]
    fn stretches_the_scan_cannot_place_are_kept_or_fall_back() {
        for text in [
            "{{{triple}}} a long stretch after a triple stash {{x}}\n",
            "\\{{escaped}} a long stretch after an escaped tag {{x}}\n",
            "{{helper \"}} a long stretch inside a string\"}} {{x}}\n",
            "{{!-- a comment }} with a long stretch inside --}} {{x}}\n",
            "{{helper\n  long_parameter_name}} and a long stretch {{x}}\n",
            "\u{1D11E}\u{1D11E}{{x}} eight bytes, two characters\n",
        ] {
            assert_same(text);
        }
    }

    #[test]
    fn whitespace_control_and_raw_blocks_are_parsed_whole() {
        for text in [
            "{{#if a~}}\n   long literal line number one\n{{/if}}\n",
            "a long literal line here ok\n\n{{~b}}\n",
            "{{{{raw}}}}\nliteral line that is quite long\n{{{{/raw}}}}\n",
            "marker \u{E000}0\u{E001} in the text already, long\n",
        ] {
            assert!(Shortened::of(text).is_none(), "{text:?}");
            assert_same(text);
        }
    }

    #[test]
    fn a_run_inside_a_tag_or_comment_falls_back_to_the_whole_text() {
        for text in [
            "{{helper\n   a very long parameter list line\n}}\n",
            "{{!-- a comment\n that spans several long lines of text\n--}}\nafter\n",
            "{{#if\n  this is not a valid expression at all\n}}x{{/if}}\n",
        ] {
            assert_same(text);
        }
    }

    /// Cases the generated ones found: the parser records where literal text starts after
    /// the whitespace it skips, so a marker must start where the run's text does.
    #[test]
    fn literal_text_keeps_its_recorded_position() {
        for text in [
            "[Unit]\nA={{a}}\nB={{b}}\n\n[Service]\nType=oneshot\nExecStart={{c}}\n",
            "{{this}}{{! c }}  ~some literal words{{this}}\t  \n\nsome literal words that make a long line\n  ",
        ] {
            assert!(takes_the_short_way(text), "{text:?}");
            assert_same(text);
        }
    }

    fn pieces() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "{{a}}",
            "{{#if a}}",
            "{{else}}",
            "{{/if}}",
            "{{#each l}}",
            "{{/each}}",
            "{{this}}",
            "{{!-- c --}}",
            "{{! c }}",
            "{{> p}}",
            "{{",
            "}}",
            "\\{{a}}",
            "\\",
            "\n",
            "\n",
            "\n",
            "\r\n",
            "  ",
            "\t",
            "some literal words that make a long line",
            "x",
            "${VAR}",
            "~",
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        #[test]
        fn any_template_compiles_to_what_handlebars_builds(
            parts in prop::collection::vec(pieces(), 0..40)
        ) {
            assert_same(&parts.concat());
        }
    }
}
