//! Compiles a handlebars template without making handlebars parse its literal lines.
//!
//! Handlebars' parser spends several hundred instructions on each byte of literal text, and
//! most of a profile's text is literal: whole lines of shell or unit file with no tag on
//! them. Parsing was a third of a five-node render. So whole literal lines are set aside
//! before parsing, each run replaced by a short marker that keeps the line count, and put
//! back into the parsed template's text afterwards.
//!
//! The result is the template handlebars builds from the original text, element for element
//! and with the same line and column for each: handlebars only ever looks at the rest of a
//! tag's own line (standalone tags, partial indentation), and a tag's line is never set
//! aside. Whitespace control (`{{~`, `~}}`) can reach across lines, and raw blocks
//! (`{{{{`) strip a newline, so a template that uses either is parsed whole. Whenever a
//! marker does not come back intact, or the shortened text does not parse, the original is
//! parsed instead, so errors carry handlebars' own message and position. Tests compare the
//! two ways for every built-in template and for generated ones.

use handlebars::TemplateError;
use handlebars::template::{Template, TemplateElement};

/// Runs of literal lines shorter than this stay in the text: a marker would save little.
const SHORTEST_RUN: usize = 24;

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

/// A template's text with its literal line runs replaced by markers.
struct Shortened<'a> {
    text: String,
    /// The lines each marker stands for, by marker number.
    runs: Vec<&'a str>,
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
        };
        let mut run_start = 0;
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            let end = offset + line.len();
            if !is_literal_line(line) {
                shortened.push_run(&text[run_start..offset]);
                shortened.text.push_str(line);
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

    /// Puts every run back into the parsed template. False when a marker is missing, was
    /// cut, or ended up anywhere but literal text.
    fn restore(&self, template: &mut Template) -> bool {
        let mut restored = vec![false; self.runs.len()];
        self.restore_in(template, &mut restored) && restored.iter().all(|done| *done)
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
            TemplateElement::HelperBlock(helper) => [&mut helper.template, &mut helper.inverse]
                .into_iter()
                .flatten()
                .all(|inner| self.restore_in(inner, restored)),
            TemplateElement::DecoratorBlock(block) | TemplateElement::PartialBlock(block) => block
                .template
                .as_mut()
                .is_none_or(|inner| self.restore_in(inner, restored)),
            TemplateElement::Comment(text) => !text.contains(OPEN),
            _ => true,
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
