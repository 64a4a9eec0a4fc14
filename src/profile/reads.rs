//! What of the node context a profile can reach, found by reading its texts.
//!
//! A template reaches a value by name: a path names every object on its way
//! (`etcd.flags`), and a block names what it walks (`{{#each etcd.env}}`). Only a few forms
//! reach a value without naming it: the current object itself (`this`, `.`, `..`,
//! `@root`) and an object walked, printed or handed to a helper whole (`{{#each etcd}}`,
//! `{{lookup etcd name}}`, a block's `as |x|` parameters). `Reads` collects the names every
//! expression of a profile uses and the objects it may take whole, and gives up (answers
//! "everything") on any syntax it does not follow, so it can only over-estimate. The node
//! context then leaves out the costly values no template can reach (see
//! `resolve::context::Wanted`): a profile pays only for what it prints.

/// For the values a profile will be asked about, the names its texts use and the objects
/// they may take whole.
#[derive(Debug)]
pub struct Reads {
    /// Some text may reach any value: it takes the whole context, or was not understood.
    everything: bool,
    /// The paths that will be asked about (`etcd.flags`).
    asked: &'static [&'static str],
    /// Each name those paths are made of: whether an expression names it, and whether one
    /// may take it whole (a path of the expression ends in it). Names nothing asked about
    /// is made of are not kept: a profile's texts hold hundreds of expressions.
    names: Vec<Name>,
}

#[derive(Debug)]
struct Name {
    name: &'static str,
    named: bool,
    whole: bool,
}

impl Reads {
    /// Reads that will answer for `asked`; for any other path the answer is yes.
    pub fn asking(asked: &'static [&'static str]) -> Reads {
        let mut names: Vec<Name> = Vec::new();
        for name in asked.iter().flat_map(|path| path.split('.')) {
            if names.iter().all(|known| known.name != name) {
                names.push(Name {
                    name,
                    named: false,
                    whole: false,
                });
            }
        }
        Reads {
            everything: false,
            asked,
            names,
        }
    }

    /// Whether some text may reach the value at `path` (`etcd.flags`) or anything in it:
    /// it names the value, or takes one of the objects around it whole.
    pub fn may_read(&self, path: &str) -> bool {
        if self.everything || !self.asked.contains(&path) {
            return true;
        }
        let segments: Vec<&str> = path.split('.').collect();
        let Some((name, around)) = segments.split_last() else {
            return true;
        };
        self.known(name).is_none_or(|known| known.named)
            || around
                .iter()
                .any(|object| self.known(object).is_none_or(|known| known.whole))
    }

    fn known(&self, name: &str) -> Option<&Name> {
        self.names.iter().find(|known| known.name == name)
    }

    fn known_mut(&mut self, name: &str) -> Option<&mut Name> {
        self.names.iter_mut().find(|known| known.name == name)
    }

    /// Notes a context path the manifest names outside any template (`when:`,
    /// `ssh_authorized_keys:`).
    pub fn path(&mut self, path: &str) {
        self.word(path, &[]);
    }

    /// Notes every expression of a handlebars text.
    pub fn template(&mut self, text: &str) {
        let mut blocks = Vec::new();
        let mut rest = text;
        while let Some(start) = find_pair(rest, b'{') {
            let after = &rest[start + 2..];
            let (body, next) = if let Some(comment) = after.strip_prefix("!--") {
                match comment.find("--}}") {
                    Some(end) => (None, &comment[end + 4..]),
                    None => return self.give_up(),
                }
            } else {
                match find_pair(after, b'}') {
                    Some(end) => (Some(&after[..end]), &after[end + 2..]),
                    None => return self.give_up(),
                }
            };
            rest = next;
            if let Some(body) = body
                && self.expression(body, &mut blocks).is_none()
            {
                return self.give_up();
            }
        }
        if !blocks.is_empty() {
            self.give_up();
        }
    }

    fn give_up(&mut self) {
        self.everything = true;
    }

    /// One `{{…}}`; None when its form is not one this reading follows.
    fn expression(&mut self, body: &str, blocks: &mut Vec<Block>) -> Option<()> {
        let body = body
            .trim_start_matches(['{', '~'])
            .trim_end_matches(['}', '~'])
            .trim();
        let (sigil, inner) = match body.chars().next() {
            Some(sigil @ ('#' | '/' | '^' | '>' | '&' | '!' | '*')) => (Some(sigil), &body[1..]),
            _ => (None, body),
        };
        let tokens = tokens(inner)?;
        match sigil {
            Some('!') => Some(()),
            Some('/') => {
                let open = blocks.pop()?;
                (tokens.first() == Some(&Token::Word(open.helper.as_str()))).then_some(())
            }
            Some('#') => {
                let block = self.block(&tokens, blocks)?;
                blocks.push(block);
                Some(())
            }
            Some('^') if tokens.is_empty() => blocks.last_mut().map(Block::turn_to_else),
            Some('^') => {
                self.words(&tokens, blocks)?;
                let helper = tokens.first().and_then(Token::word)?.to_string();
                blocks.push(Block {
                    helper,
                    object: Object::Same,
                });
                Some(())
            }
            _ if tokens.first() == Some(&Token::Word("else")) => {
                self.words(&tokens[1..], blocks)?;
                match tokens.get(1) {
                    None | Some(Token::Word("if" | "unless")) => {
                        blocks.last_mut().map(Block::turn_to_else)
                    }
                    Some(_) => None,
                }
            }
            _ => self.words(&tokens, blocks),
        }
    }

    /// A block's opening `{{#helper params}}`: notes its words, and what the block's own
    /// `this` is.
    fn block(&mut self, tokens: &[Token], blocks: &[Block]) -> Option<Block> {
        self.words(tokens, blocks)?;
        let helper = match tokens.first()? {
            Token::Word(helper) => helper.trim_start_matches(['>', '*']),
            _ => return None,
        };
        let object = match (helper, tokens.get(1)) {
            ("if" | "unless", _) => Object::Same,
            // The value walked was noted above as one that may be taken whole.
            ("each" | "with", Some(Token::Word(_))) => Object::Walked,
            _ => Object::Unknown,
        };
        Some(Block {
            helper: helper.to_string(),
            object,
        })
    }

    /// Notes every path among `tokens`; None when one takes an object this reading cannot
    /// place.
    fn words(&mut self, tokens: &[Token], blocks: &[Block]) -> Option<()> {
        for token in tokens {
            if let Token::Word(word) = token {
                self.word(word, blocks);
            }
        }
        Some(())
    }

    /// Notes one path: the names it uses, and the object it may take whole.
    fn word(&mut self, word: &str, blocks: &[Block]) {
        let word = word.trim_start_matches(['>', '*', '&']);
        if word == "@root" {
            return self.give_up();
        }
        if word.starts_with('@') && !word.starts_with("@root") {
            // A data value (`@index`, `@key`) of the block, not of the context.
            return;
        }
        match path(word) {
            Path::Named(segments) => {
                for segment in &segments {
                    if let Some(known) = self.known_mut(segment) {
                        known.named = true;
                    }
                }
                if let Some(known) = segments.last().and_then(|last| self.known_mut(last)) {
                    known.whole = true;
                }
            }
            // The object a block walks was noted whole where the block opened; the whole
            // context, or what another helper made, is anything.
            Path::Current if current(blocks) == Some(&Object::Walked) => {}
            Path::Current | Path::Above => self.give_up(),
        }
    }
}

/// Where `byte` first appears twice in a row (`{{`, `}}`) in `text`.
fn find_pair(text: &str, byte: u8) -> Option<usize> {
    let bytes = text.as_bytes();
    memchr::memchr_iter(byte, bytes).find(|&at| bytes.get(at + 1) == Some(&byte))
}

/// An open block: its helper, and what `this` is inside it.
#[derive(Debug)]
struct Block {
    helper: String,
    object: Object,
}

impl Block {
    /// After `{{else}}`, `this` is the object around the block again.
    fn turn_to_else(&mut self) {
        self.object = Object::Same;
    }
}

/// What `this` is inside a block.
#[derive(Debug, PartialEq)]
enum Object {
    /// What it is around the block (`if`, `unless`, an `else` branch).
    Same,
    /// The value an `each` or `with` names (or an element of it).
    Walked,
    /// Something this reading does not follow (another helper, a computed value).
    Unknown,
}

/// What `this` is at the innermost block that changes it; None for the whole context.
fn current(blocks: &[Block]) -> Option<&Object> {
    blocks
        .iter()
        .rev()
        .map(|block| &block.object)
        .find(|object| **object != Object::Same)
}

/// A path, split.
enum Path<'a> {
    /// `a.b`, `this.a`, `../a`, `@root.a`, `a.[b]`: the segments it names.
    Named(Vec<&'a str>),
    /// `this`, `.`: the current object itself.
    Current,
    /// `..`, `../..`: an object around the current one.
    Above,
}

fn path(word: &str) -> Path<'_> {
    let mut rest = word;
    let mut above = false;
    loop {
        if let Some(after) = rest.strip_prefix("../") {
            (rest, above) = (after, true);
        } else if rest == ".." {
            (rest, above) = ("", true);
        } else if rest == "." || rest == "this" {
            rest = "";
        } else if let Some(after) = ["./", "this.", "this/", "@root.", "@root/"]
            .iter()
            .find_map(|lead| rest.strip_prefix(lead))
        {
            rest = after;
        } else {
            break;
        }
    }
    let segments: Vec<&str> = rest
        .split(['.', '/'])
        .map(|segment| segment.trim_start_matches('[').trim_end_matches(']'))
        .filter(|segment| !segment.is_empty())
        .collect();
    match (segments.is_empty(), above) {
        (false, _) => Path::Named(segments),
        (true, false) => Path::Current,
        (true, true) => Path::Above,
    }
}

/// A piece of an expression.
#[derive(Debug, PartialEq)]
enum Token<'a> {
    /// A path, a helper's name, a number or a keyword.
    Word(&'a str),
    /// A quoted string.
    Literal,
    /// `(`, `)`, `|` or `=`.
    Mark,
}

impl<'a> Token<'a> {
    fn word(&self) -> Option<&'a str> {
        match self {
            Token::Word(word) => Some(word),
            _ => None,
        }
    }
}

/// The pieces of an expression; None for an unclosed quote.
fn tokens(text: &str) -> Option<Vec<Token<'_>>> {
    let mut tokens = Vec::new();
    let mut rest = text.trim_start();
    while let Some(first) = rest.chars().next() {
        let taken = match first {
            '"' | '\'' => {
                let end = rest[1..].find(first)?;
                tokens.push(Token::Literal);
                end + 2
            }
            '(' | ')' | '|' | '=' => {
                tokens.push(Token::Mark);
                1
            }
            _ => {
                let end = rest
                    .find(|c: char| c.is_whitespace() || "()|='\"".contains(c))
                    .unwrap_or(rest.len());
                tokens.push(Token::Word(&rest[..end]));
                end
            }
        };
        rest = rest[taken..].trim_start();
    }
    Some(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads(texts: &[&str]) -> Reads {
        let mut reads = Reads::asking(&PATHS);
        for text in texts {
            reads.template(text);
        }
        reads
    }

    const PATHS: [&str; 4] = ["etcd.flags", "etcd.env", "pod", "network.hosts"];

    /// The paths of `PATHS` the texts may reach.
    fn reached(texts: &[&str]) -> Vec<&'static str> {
        let reads = reads(texts);
        PATHS
            .into_iter()
            .filter(|path| reads.may_read(path))
            .collect()
    }

    #[test]
    fn what_is_named_is_read() {
        assert_eq!(reached(&["{{etcd.version}} {{network.address}}"]), [""; 0]);
        assert_eq!(reached(&["{{etcd.flags}}"]), ["etcd.flags"]);
        assert_eq!(
            reached(&["{{#each etcd.env}}{{name}}{{/each}}"]),
            ["etcd.env"]
        );
        assert_eq!(reached(&["{{pod.command.0}}"]), ["pod"]);
        assert_eq!(reached(&["{{@root.pod.command}}"]), ["pod"]);
        assert_eq!(reached(&["{{etcd.[flags]}}"]), ["etcd.flags"]);
        assert_eq!(reached(&["{{etcd/flags}}"]), ["etcd.flags"]);
        assert_eq!(
            reached(&["{{#each network.dns}}{{../pod}}{{/each}}"]),
            ["pod"]
        );
        assert_eq!(reached(&["{{{etcd.flags}}}"]), ["etcd.flags"]);
        assert_eq!(
            reached(&["{{~#if x~}}{{pod.probe_port}}{{~/if~}}"]),
            ["pod"]
        );
        assert_eq!(reached(&["{{x (lookup pod 'a b')}}"]), ["pod"]);
    }

    #[test]
    fn an_object_taken_whole_reads_everything_in_it() {
        let etcd = ["etcd.flags", "etcd.env"];
        assert_eq!(reached(&["{{#each etcd}}{{@key}}{{/each}}"]), etcd);
        assert_eq!(reached(&["{{#with etcd}}{{version}}{{/with}}"]), etcd);
        assert_eq!(reached(&["{{lookup etcd name}}"]), etcd);
        assert_eq!(reached(&["{{etcd}}"]), etcd);
        assert_eq!(reached(&["{{#with etcd as |e|}}{{e}}{{/with}}"]), etcd);
        assert_eq!(
            reached(&["{{#with etcd}}{{#each this}}x{{/each}}{{/with}}"]),
            etcd
        );
        assert_eq!(
            reached(&["{{#with etcd}}{{lookup . 'flags'}}{{/with}}"]),
            etcd
        );
        assert_eq!(reached(&["{{x a=etcd}}"]), etcd);
        assert_eq!(reached(&["{{> file:x etcd}}"]), etcd);
    }

    #[test]
    fn the_current_object_is_followed_through_blocks() {
        // `this` in a walk over the DNS servers is a server: nothing optional.
        assert_eq!(
            reached(&["{{#each network.dns}}DNS={{this}}\n{{/each}}"]),
            [""; 0]
        );
        assert_eq!(
            reached(&["{{#each etcd.config.top}}{{#if this}}{{.}}{{/if}}{{/each}}"]),
            [""; 0]
        );
    }

    #[test]
    fn the_whole_context_or_anything_not_followed_reads_everything() {
        for text in [
            "{{this}}",
            "{{.}}",
            "{{@root}}",
            "{{lookup @root 'pod'}}",
            "{{#if x}}{{this}}{{/if}}",
            "{{#each etcd.env}}{{..}}{{/each}}",
            "{{#with etcd}}{{lookup @root 'pod'}}{{/with}}",
            "{{#each etcd.env}}{{#each ../..}}{{/each}}{{/each}}",
            "{{#each network.dns}}x{{else}}{{this}}{{/each}}",
            "{{#each network.dns}}x{{^}}{{#each this}}{{/each}}{{/each}}",
            "{{#each (lookup . 'etcd')}}{{/each}}",
            "{{#each (x)}}{{this}}{{/each}}",
            "{{#*inline 'p'}}{{this}}{{/inline}}",
            "{{#> layout}}{{this}}{{/layout}}",
            "{{#each a}}{{else each b}}{{/each}}",
            "{{#each a}}",
            "{{#each a}}{{/with}}",
            "{{/each}}",
            "{{pod",
            "{{x 'open}}",
            "{{!-- {{pod}}",
            "{{{{raw}}}}{{pod}}{{{{/raw}}}}",
        ] {
            assert_eq!(reached(&[text]), PATHS, "{text}");
        }
    }

    #[test]
    fn comments_literals_and_data_values_name_nothing() {
        assert_eq!(
            reached(&["{{! pod }}{{!-- {{etcd.flags}} }} --}}{{x 'pod'}}{{@index}}"]),
            [""; 0]
        );
        assert_eq!(reached(&["pod etcd.flags {{ etcd.version }}"]), [""; 0]);
    }

    #[test]
    fn manifest_paths_count_as_named() {
        let mut reads = Reads::asking(&PATHS);
        reads.path("pod.enabled");
        assert!(reads.may_read("pod"));
        assert!(!reads.may_read("etcd.flags"));
        reads.path("etcd");
        assert!(reads.may_read("etcd.flags"));
    }

    proptest::proptest! {
        /// A user profile's template is input: any text is read without a panic, and no
        /// text leaves the reading unable to see a later `{{this}}`.
        #[test]
        fn any_text_is_read_without_a_panic(
            text in "([{}#/^>&!*~ .|=()'\"@\\\\a-z]|é|\\{\\{|\\}\\}|this|each|else|\\.\\.){0,40}"
        ) {
            let mut reads = reads(&[&text]);
            reads.template("{{this}}");
            proptest::prop_assert!(reads.may_read("pod"));
        }
    }

    #[test]
    fn a_path_not_asked_about_may_be_read() {
        let reads = reads(&["{{etcd.version}}"]);
        assert!(!reads.may_read("pod"));
        assert!(reads.may_read("kubelet"));
        assert!(reads.may_read("etcd.version.x"));
    }
}
