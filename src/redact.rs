//! Redaction by content. Everything kindling prints about its input (messages, quoted source
//! lines, drift diffs) passes through here on its way out, so key material never reaches a
//! terminal or a CI log, wherever in a file it sits and however it is encoded: plain PEM,
//! percent-encoded in a data URL, base64, or gzip then base64 all show up as long runs of
//! base64 characters, and every such run is replaced by a marker.
//!
//! It also bounds what is echoed: a quoted line is cut to a window around the column it
//! points at, and every printed line to a fixed width, so a 20 MB value gives a short message.

use std::borrow::Cow;
use std::ops::Range;

/// The marker that stands for redacted bytes.
pub const MARKER: &str = "[redacted]";

/// A run of at least this many base64 characters (upper and lower case letters and digits
/// mixed) is treated as encoded data and redacted...
const MIN_RUN: usize = 24;
/// ...when a stretch of it without `/` is at least this long: a file path such as
/// `/tmp/.tmpXyZ12a/pki/nodes/etcd1/server` is made of short parts, a line of base64 of
/// long ones.
const MIN_SEGMENT: usize = 12;

/// Longest line kindling prints; the rest is summarised.
pub const MAX_LINE: usize = 240;

/// Characters shown either side of the column a quoted line points at.
const WINDOW_BEFORE: usize = 40;
const WINDOW_AFTER: usize = 60;

/// `text` with every run of encoded data replaced by [`MARKER`].
pub fn scrub(text: &str) -> Cow<'_, str> {
    scrub_with(text, |_| MARKER.to_string())
}

/// `text` with every run of encoded data replaced by `replace(run)`: `show` names each run
/// by a fingerprint, so a changed key still shows as changed in a golden diff.
pub fn scrub_with(text: &str, replace: impl Fn(&str) -> String) -> Cow<'_, str> {
    let ranges = secret_ranges(text);
    if ranges.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for range in ranges {
        out.push_str(&text[at..range.start]);
        out.push_str(&replace(&text[range.clone()]));
        at = range.end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// `text` scrubbed, then each line cut to [`MAX_LINE`] characters: what every message and
/// hint goes through before it is printed.
pub fn printable(text: &str) -> String {
    let scrubbed = scrub(text);
    let mut out = String::with_capacity(scrubbed.len().min(64 * 1024));
    for (index, line) in scrubbed.split('\n').enumerate() {
        if index > 0 {
            out.push('\n');
        }
        out.push_str(&cut(line, MAX_LINE));
    }
    out
}

/// How far either side of the caret an excerpt's scrubbing looks (bytes). A run reaching
/// into the window is whole within this reach unless it is over a kilobyte of base64
/// characters, whose part inside the reach is then long enough to be judged on its own; so a
/// finding costs the same on a 64 MiB line as on a short one.
const REACH: usize = 1024;

/// A quoted source line for an excerpt: scrubbed, then windowed around the 0-based character
/// `column`. Returns the text and the caret's character offset in it.
pub fn excerpt(line: &str, column: usize) -> (String, usize) {
    let caret_byte = byte_of_column(line, column);
    let start = floor_boundary(line, caret_byte.saturating_sub(REACH));
    let end = floor_boundary(line, caret_byte.saturating_add(REACH).min(line.len()));
    let (shown, caret) = scrubbed_with_caret(&line[start..end], caret_byte - start);
    window(
        &shown.replace('\t', " "),
        caret,
        start > 0,
        end < line.len(),
    )
}

/// The byte offset of character `column` of `line` (its end when the line is shorter). An
/// ASCII prefix, the usual case even on a 64 MiB one-line config, is checked a word at a
/// time instead of walked character by character.
fn byte_of_column(line: &str, column: usize) -> usize {
    let prefix = &line.as_bytes()[..column.min(line.len())];
    if prefix.is_ascii() {
        return prefix.len();
    }
    line.char_indices()
        .nth(column)
        .map_or(line.len(), |(at, _)| at)
}

/// The largest character boundary of `text` at or before `at`.
fn floor_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// `line` scrubbed, and the character offset in it of the byte `caret_byte` of `line` (the
/// start of a marker when the caret falls in redacted bytes).
fn scrubbed_with_caret(line: &str, caret_byte: usize) -> (String, usize) {
    // Scrub first, before any window is cut, so a window edge never splits a run into pieces
    // short enough to pass; then map the caret into the scrubbed text.
    let ranges = secret_ranges(line);
    let mut shown = String::new();
    let mut caret = None;
    let mut at = 0;
    for range in ranges
        .iter()
        .cloned()
        .chain(std::iter::once(line.len()..line.len()))
    {
        if caret.is_none() && caret_byte < range.start {
            caret = Some(shown.chars().count() + line[at..caret_byte].chars().count());
        }
        shown.push_str(&line[at..range.start]);
        if caret.is_none() && caret_byte < range.end {
            caret = Some(shown.chars().count());
        }
        if !range.is_empty() {
            shown.push_str(MARKER);
        }
        at = range.end;
    }
    let caret = caret.unwrap_or_else(|| shown.chars().count());
    (shown, caret)
}

/// At most [`WINDOW_BEFORE`] characters before the caret and [`WINDOW_AFTER`] after it, with
/// `…` where the line goes on (in `text`, or beyond it when `more_before`/`more_after`).
fn window(text: &str, caret: usize, more_before: bool, more_after: bool) -> (String, usize) {
    let chars: Vec<char> = text.chars().map(printable_char).collect();
    let caret = caret.min(chars.len());
    let start = caret.saturating_sub(WINDOW_BEFORE);
    let end = (caret + WINDOW_AFTER).min(chars.len());
    let mut out = String::new();
    let mut offset = caret - start;
    if start > 0 || more_before {
        out.push('…');
        offset += 1;
    }
    out.extend(&chars[start..end]);
    if end < chars.len() || more_after {
        out.push('…');
    }
    (out, offset)
}

/// Control characters are shown as `�` so an excerpt cannot move the cursor or hide text.
fn printable_char(c: char) -> char {
    if c.is_control() { '\u{fffd}' } else { c }
}

/// The first `max` characters of `line`, with a note of how much was left out.
fn cut(line: &str, max: usize) -> Cow<'_, str> {
    match line.char_indices().nth(max) {
        None => Cow::Borrowed(line),
        Some((at, _)) => Cow::Owned(format!("{}… ({} more bytes)", &line[..at], line.len() - at)),
    }
}

/// One unit of a run: a base64 character, or a percent or JSON escape of one.
fn unit_at(bytes: &[u8], at: usize) -> Option<(usize, u8)> {
    let byte = *bytes.get(at)?;
    if byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'/' | b'=') {
        return Some((1, byte));
    }
    if byte == b'%' {
        let escaped = bytes.get(at + 1..at + 3)?;
        let decoded = std::str::from_utf8(escaped)
            .ok()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())?;
        return matches!(decoded, b'+' | b'/' | b'=').then_some((3, decoded));
    }
    if byte == b'\\' && bytes.get(at + 1) == Some(&b'/') {
        return Some((2, b'/'));
    }
    None
}

/// A line break between two lines of a PEM body, as it appears raw, JSON-escaped or
/// percent-encoded.
fn separator_at(bytes: &[u8], at: usize) -> Option<usize> {
    let rest = bytes.get(at..)?;
    if !matches!(rest.first(), Some(b'\r' | b'\n' | b'\\' | b'%')) {
        return None;
    }
    [
        "\r\n", "\n", "\\r\\n", "\\n", "%0D%0A", "%0d%0a", "%0A", "%0a",
    ]
    .iter()
    .find(|s| rest.starts_with(s.as_bytes()))
    .map(|s| s.len())
}

/// How far to move past a byte that starts no run: a whole line break or percent escape, so
/// that the `0A` of `%0A` never starts a run of its own.
fn skip_at(bytes: &[u8], at: usize) -> usize {
    if let Some(width) = separator_at(bytes, at) {
        return width;
    }
    let is_escape = bytes[at] == b'%'
        && bytes
            .get(at + 1..at + 3)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit));
    if is_escape { 3 } else { 1 }
}

/// Byte ranges of `text` holding encoded data: runs of base64 units at least [`MIN_RUN`]
/// long that mix upper case, lower case and digits, and any run that continues one of those
/// on the next line (the short last line of a PEM body).
fn secret_ranges(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut ranges: Vec<Range<usize>> = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let Some(run) = run_at(bytes, at) else {
            at += skip_at(bytes, at);
            continue;
        };
        let follows_secret = ranges
            .last()
            .is_some_and(|last| separator_at(bytes, last.end) == Some(at - last.end));
        if run.looks_encoded() || (follows_secret && run.units >= 2) {
            match ranges.last_mut() {
                Some(last) if follows_secret => last.end = run.end,
                _ => ranges.push(at..run.end),
            }
        }
        at = run.end;
    }
    ranges
}

struct Run {
    end: usize,
    units: usize,
    /// The most units in a row without a `/`.
    longest_segment: usize,
    upper: bool,
    lower: bool,
    digit: bool,
}

impl Run {
    fn looks_encoded(&self) -> bool {
        self.units >= MIN_RUN
            && self.longest_segment >= MIN_SEGMENT
            && self.upper
            && self.lower
            && self.digit
    }
}

fn run_at(bytes: &[u8], start: usize) -> Option<Run> {
    let mut run = Run {
        end: start,
        units: 0,
        longest_segment: 0,
        upper: false,
        lower: false,
        digit: false,
    };
    let mut segment = 0;
    while let Some((width, byte)) = unit_at(bytes, run.end) {
        run.units += 1;
        segment = if byte == b'/' { 0 } else { segment + 1 };
        run.longest_segment = run.longest_segment.max(segment);
        run.upper |= byte.is_ascii_uppercase();
        run.lower |= byte.is_ascii_lowercase();
        run.digit |= byte.is_ascii_digit();
        run.end += width;
    }
    (run.units > 0).then_some(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgk3Hn2Hf0ZrJx1kLd\nV6Ufr9oU9hQ2PgRzlnYm+0pEXKahRANCAAT3kQ2F0l/JYX9pVxw8k0uHqNVoW1kE\nY0DtT9yq\n-----END PRIVATE KEY-----\n";

    fn body_lines() -> Vec<&'static str> {
        KEY.lines().filter(|l| !l.starts_with("-----")).collect()
    }

    #[test]
    fn plain_pem_bodies_are_redacted_to_the_last_short_line() {
        let out = scrub(KEY);
        for line in body_lines() {
            assert!(!out.contains(line), "{out}");
        }
        assert!(out.contains("-----BEGIN PRIVATE KEY-----"), "{out}");
    }

    #[test]
    fn percent_encoded_and_json_escaped_keys_are_redacted() {
        let url = crate::ignition::dataurl::encode(KEY.as_bytes());
        let json = serde_json::to_string(&url).unwrap();
        for text in [
            url.as_str(),
            json.as_str(),
            &serde_json::to_string(KEY).unwrap(),
        ] {
            let out = scrub(text);
            assert!(!out.contains("MIGHAgEAMBMGByqGSM49"), "{out}");
            assert!(
                !out.contains("Y0DtT9yq"),
                "the short last line goes too: {out}"
            );
        }
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        for text in [
            "ETCD_INITIAL_CLUSTER=etcd1=https://10.0.0.11:2380,etcd2=https://10.0.0.12:2380",
            "sha256-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "/etc/systemd/system/multi-user.target.wants/etcd.service",
            "ExecStart=/usr/bin/etcd",
            "/tmp/.tmpXyZ12a/pki/nodes/etcd1/server.key",
            "/tmp/tmpAbC123/sub/DirX9y8z7/golden/etcd1.ign",
        ] {
            assert_eq!(scrub(text), text);
        }
    }

    #[test]
    fn a_column_is_a_character_count_whatever_the_prefix() {
        let by_chars = |line: &str, column: usize| {
            line.char_indices()
                .nth(column)
                .map_or(line.len(), |(at, _)| at)
        };
        for line in [
            "",
            "abc",
            "héllo wörld",
            "ascii then é",
            "ééé",
            "a\u{1F600}b",
        ] {
            for column in 0..line.len() + 3 {
                assert_eq!(
                    byte_of_column(line, column),
                    by_chars(line, column),
                    "{line:?} {column}"
                );
            }
        }
    }

    #[test]
    fn excerpts_are_windowed_and_point_at_the_same_character() {
        let line = format!("{}X{}", "a".repeat(500), "b".repeat(500));
        let (shown, caret) = excerpt(&line, 500);
        assert!(
            shown.chars().count() <= WINDOW_BEFORE + WINDOW_AFTER + 2,
            "{shown}"
        );
        assert_eq!(shown.chars().nth(caret), Some('X'));
    }

    #[test]
    fn an_excerpt_inside_a_key_shows_the_marker_under_the_caret() {
        let line = format!("{{\"source\":{}}}", serde_json::to_string(KEY).unwrap());
        let column = line.find("k3Hn").unwrap();
        let (shown, caret) = excerpt(&line, column);
        assert!(!shown.contains("k3Hn"), "{shown}");
        assert_eq!(
            &shown.chars().skip(caret).take(10).collect::<String>(),
            MARKER
        );
    }

    #[test]
    fn a_caret_deep_in_a_huge_encoded_run_shows_only_the_marker() {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let blob: String = (0..200_000u64)
            .map(|i| char::from(alphabet[(i.wrapping_mul(2_654_435_761) >> 7) as usize % 64]))
            .collect();
        let line = format!("{{\"source\":\"data:;base64,{blob}\"}}");
        let (shown, caret) = excerpt(&line, 100_000);
        assert!(shown.starts_with('…') && shown.ends_with('…'), "{shown}");
        assert_eq!(shown, format!("…{MARKER}…"));
        assert_eq!(
            &shown.chars().skip(caret).take(10).collect::<String>(),
            MARKER
        );
    }

    #[test]
    fn long_lines_are_cut() {
        let text = format!("short\n{}", "x".repeat(20_000_000));
        let out = printable(&text);
        assert!(out.len() < 400, "{}", out.len());
        assert!(out.starts_with("short\n"));
    }
}
