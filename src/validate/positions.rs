//! Where each value of a JSON document stands in its text, so a finding at
//! `$.storage.files.3.mode` can also say "line 41, column 9" and quote that line.
//!
//! serde_json keeps no positions, so this is a small scanner over text that has already
//! parsed: it records, for every object member, the position of its key, and for every
//! array element the position of the element.

use std::collections::HashMap;

/// JSON path → (line, column), both 1-based.
#[derive(Debug, Default)]
pub struct Positions {
    map: HashMap<String, (u64, u64)>,
    /// Object members whose key already appeared in the same object: the path and the
    /// position of the repeated key.
    duplicates: Vec<(String, (u64, u64))>,
}

impl Positions {
    /// Indexes `text`, which must be valid JSON (parse it first).
    pub fn index(text: &str) -> Self {
        let mut scanner = Scanner {
            bytes: text.as_bytes(),
            at: 0,
            line: 1,
            column: 1,
            positions: Positions::default(),
        };
        scanner.skip_space();
        let start = (scanner.line, scanner.column);
        scanner.positions.map.insert("$".to_string(), start);
        scanner.value("$");
        scanner.positions
    }

    /// Keys repeated within one object, in document order: JSON parsers disagree on what
    /// they mean (serde keeps the last, Go merges objects), so they are refused.
    pub fn duplicates(&self) -> &[(String, (u64, u64))] {
        &self.duplicates
    }

    /// The position of `path`, or of its nearest recorded ancestor.
    pub fn find(&self, path: &str) -> Option<(u64, u64)> {
        let mut candidate = path;
        loop {
            if let Some(position) = self.map.get(candidate) {
                return Some(*position);
            }
            candidate = &candidate[..candidate.rfind('.')?];
        }
    }
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
    line: u64,
    column: u64,
    positions: Positions,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn bump(&mut self) {
        if let Some(byte) = self.peek() {
            self.at += 1;
            if byte == b'\n' {
                self.line += 1;
                self.column = 1;
            } else if byte & 0xC0 != 0x80 {
                // Count characters, not UTF-8 continuation bytes.
                self.column += 1;
            }
        }
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.bump();
        }
    }

    fn value(&mut self, path: &str) {
        match self.peek() {
            Some(b'{') => self.object(path),
            Some(b'[') => self.array(path),
            Some(b'"') => {
                self.skip_string();
            }
            Some(_) => {
                while matches!(self.peek(), Some(b) if !matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                {
                    self.bump();
                }
            }
            None => {}
        }
    }

    /// Moves past the string whose opening quote is at `at` and returns what lies between
    /// its quotes, undecoded. The text parsed, so the string holds no raw line break and
    /// only the column moves: by the characters from quote to quote, counted at once.
    fn skip_string(&mut self) -> &'a [u8] {
        let start = self.at + 1;
        let mut end = start;
        while let Some(offset) = self
            .bytes
            .get(end..)
            .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
        {
            end += offset;
            if self.bytes[end] == b'"' {
                break;
            }
            end += 2; // a backslash and the character it escapes
        }
        let end = end.min(self.bytes.len());
        let past = (end + 1).min(self.bytes.len());
        let characters = self.bytes[self.at..past]
            .iter()
            .filter(|&&byte| byte & 0xC0 != 0x80)
            .count();
        self.column += characters as u64;
        self.at = past;
        &self.bytes[start.min(end)..end]
    }

    /// A member's key, decoded (`"\u0061"` is the key `a`).
    fn key(&mut self) -> String {
        let raw = self.skip_string();
        if !raw.contains(&b'\\') {
            return String::from_utf8_lossy(raw).into_owned();
        }
        serde_json::from_slice::<String>(&[b"\"", raw, b"\""].concat()).unwrap_or_default()
    }

    fn object(&mut self, path: &str) {
        self.bump();
        let mut keys = std::collections::HashSet::new();
        loop {
            self.skip_space();
            match self.peek() {
                Some(b'"') => {
                    let position = (self.line, self.column);
                    let key = self.key();
                    let member = format!("{path}.{key}");
                    if keys.insert(key) {
                        self.positions.map.insert(member.clone(), position);
                    } else {
                        self.positions.duplicates.push((member.clone(), position));
                    }
                    self.skip_space();
                    self.bump(); // ':'
                    self.skip_space();
                    self.value(&member);
                    self.skip_space();
                    if self.peek() == Some(b',') {
                        self.bump();
                    }
                }
                Some(b'}') => {
                    self.bump();
                    return;
                }
                _ => return,
            }
        }
    }

    fn array(&mut self, path: &str) {
        self.bump();
        let mut index = 0;
        loop {
            self.skip_space();
            match self.peek() {
                Some(b']') => {
                    self.bump();
                    return;
                }
                Some(_) => {
                    let element = format!("{path}.{index}");
                    self.positions
                        .map
                        .insert(element.clone(), (self.line, self.column));
                    self.value(&element);
                    self.skip_space();
                    if self.peek() == Some(b',') {
                        self.bump();
                    }
                    index += 1;
                }
                None => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_elements_are_located() {
        let text = "{\n  \"ignition\": {\"version\": \"3.4.0\"},\n  \"storage\": {\"files\": [\n    {\"path\": \"/a\", \"mode\": 420},\n    {\"path\": \"/b\\\"é\", \"mode\": 4096}\n  ]}\n}\n";
        let positions = Positions::index(text);
        assert_eq!(positions.find("$.ignition.version"), Some((2, 16)));
        assert_eq!(positions.find("$.storage.files.1"), Some((5, 5)));
        assert_eq!(positions.find("$.storage.files.1.mode"), Some((5, 23)));
        assert_eq!(
            positions.find("$.storage.files.1.mode.nothing"),
            Some((5, 23))
        );
        assert_eq!(positions.find("$.storage.files.0.path"), Some((4, 6)));
        assert!(positions.duplicates().is_empty());
    }

    #[test]
    fn repeated_keys_are_found_once_each_even_when_escaped() {
        let text = r#"{"a": {"b": 1}, "\u0061": {"b": 2}, "c": [{"d": 1, "d": 2}]}"#;
        let positions = Positions::index(text);
        let found: Vec<&str> = positions
            .duplicates()
            .iter()
            .map(|(path, _)| path.as_str())
            .collect();
        assert_eq!(found, ["$.a", "$.c.0.d"]);
        assert_eq!(positions.duplicates()[0].1, (1, 17));
    }

    /// The byte offset of a 1-based (line, column in characters) position.
    fn offset_of(text: &str, (line, column): (u64, u64)) -> usize {
        let line_start: usize = text
            .split_inclusive('\n')
            .take(line as usize - 1)
            .map(str::len)
            .sum();
        text[line_start..]
            .char_indices()
            .nth(column as usize - 1)
            .map_or(text.len(), |(at, _)| line_start + at)
    }

    /// Checks that every member of `value` at `path` is recorded at its key, and every
    /// element at its first character.
    fn assert_located(text: &str, positions: &Positions, path: &str, value: &serde_json::Value) {
        match value {
            serde_json::Value::Object(members) => {
                for (key, member) in members {
                    let at = format!("{path}.{key}");
                    let offset = offset_of(text, positions.map[&at]);
                    let quoted = serde_json::to_string(key).expect("a key prints");
                    assert!(text[offset..].starts_with(&quoted), "{at}");
                    assert_located(text, positions, &at, member);
                }
            }
            serde_json::Value::Array(elements) => {
                for (index, element) in elements.iter().enumerate() {
                    let at = format!("{path}.{index}");
                    let offset = offset_of(text, positions.map[&at]);
                    let printed = serde_json::to_string(element).expect("an element prints");
                    let first = printed.chars().next().expect("not empty");
                    assert!(text[offset..].starts_with(first), "{at}");
                    assert_located(text, positions, &at, element);
                }
            }
            _ => {}
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let text =
            || proptest::string::string_regex("[a-zé\"\\\\\u{1F600}\t/]{0,40}").expect("regex");
        let leaf = prop_oneof![
            text().prop_map(serde_json::Value::String),
            any::<i32>().prop_map(serde_json::Value::from),
            any::<bool>().prop_map(serde_json::Value::Bool),
        ];
        leaf.prop_recursive(4, 40, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
                proptest::collection::btree_map(text(), inner, 0..5)
                    .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn every_member_and_element_is_located_in_compact_and_pretty_text(
            value in json_value()
        ) {
            for text in [
                serde_json::to_string(&value).expect("prints"),
                serde_json::to_string_pretty(&value).expect("prints"),
            ] {
                let positions = Positions::index(&text);
                assert_located(&text, &positions, "$", &value);
            }
        }
    }

    #[test]
    fn a_string_cut_off_after_a_backslash_ends_the_scan() {
        let positions = Positions::index("[\"abc\\");
        assert_eq!(positions.find("$.0"), Some((1, 2)));
    }
}
