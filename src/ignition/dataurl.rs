//! RFC 2397 data URLs, the way Ignition reads inline file contents.
//!
//! kindling writes text percent-encoded (`data:,…`) so a golden file stays readable and a
//! diff of two configs shows which line changed; anything that is not UTF-8 goes base64.

use crate::bytes::all_bytes;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use memchr::memmem;

/// How kindling's data URLs write each byte: RFC 3986 unreserved bytes, and the few
/// reserved ones Ignition leaves alone, as they are.
const KEPT: Escapes = Escapes::keeping(b"-_.~/:=@");

/// How a percent-encoding writes each byte: as it is, or as `%XX`. An entry holds the one
/// or three bytes written, little-endian in its low 24 bits, and their count in the top 8,
/// so that the encoder writes every byte the same way, without a branch.
pub(crate) struct Escapes([u32; 256]);

impl Escapes {
    /// Keeps ASCII letters and digits and the bytes of `also`, which must be ASCII (the
    /// tables are constants, so a byte that is not fails the build); escapes every other byte.
    pub(crate) const fn keeping(also: &[u8]) -> Escapes {
        let mut index = 0;
        while index < also.len() {
            assert!(also[index].is_ascii(), "an encoding keeps only ASCII bytes");
            index += 1;
        }
        let mut table = [0; 256];
        let mut byte = 0;
        while byte < 256 {
            let kept = (byte as u8).is_ascii_alphanumeric() || contains(also, byte as u8);
            table[byte] = if kept {
                byte as u32 | 1 << 24
            } else {
                b'%' as u32
                    | (HEX[byte >> 4] as u32) << 8
                    | (HEX[byte & 0xf] as u32) << 16
                    | 3 << 24
            };
            byte += 1;
        }
        Escapes(table)
    }

    fn of(&self, byte: u8) -> u32 {
        self.0[usize::from(byte)]
    }

    /// Whether the byte is written as it is.
    #[cfg(test)]
    fn keeps(&self, byte: u8) -> bool {
        self.of(byte) >> 24 == 1
    }
}

const fn contains(bytes: &[u8], wanted: u8) -> bool {
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == wanted {
            return true;
        }
        index += 1;
    }
    false
}

/// Encodes contents as a data URL: percent-encoded text, or base64 for bytes that are not
/// UTF-8.
pub fn encode(bytes: &[u8]) -> String {
    if std::str::from_utf8(bytes).is_err() {
        return format!("data:;base64,{}", STANDARD.encode(bytes));
    }
    percent_url(bytes, &KEPT)
}

/// Texts shorter than this are not worth a search: encoding them again costs less.
const SHORTEST_SHARED: usize = 512;

/// Long texts that many nodes' files hold (a large cluster's member list in every env file,
/// its client endpoints in every roll script), each percent-encoded once. Percent-encoding
/// writes each byte on its own, so the encoding of a text is the encodings of its stretches
/// joined: where a shared text turns up in a file, its encoding is copied, not made again.
#[derive(Default)]
pub struct SharedTexts {
    texts: Vec<SharedText>,
}

struct SharedText {
    text: Box<[u8]>,
    /// Finds the text's first bytes: a search for a short needle is fast (a long one made a
    /// two-way search as slow as encoding), and a hit is then compared whole.
    start: memmem::Finder<'static>,
    encoded: Box<[u8]>,
}

/// How many of a shared text's first bytes are searched for.
const SEARCHED: usize = 32;

impl SharedTexts {
    /// Remembers the texts at least `SHORTEST_SHARED` bytes long, each once.
    pub fn new<'a>(texts: impl IntoIterator<Item = &'a str>) -> SharedTexts {
        let mut kept: Vec<&str> = texts
            .into_iter()
            .filter(|text| text.len() >= SHORTEST_SHARED)
            .collect();
        kept.sort_unstable();
        kept.dedup();
        let texts = kept
            .into_iter()
            .map(|text| {
                let mut encoded = PercentBuffer::for_bytes(text.len(), b"");
                encoded.escape(text.as_bytes(), &KEPT);
                SharedText {
                    text: text.as_bytes().into(),
                    start: memmem::Finder::new(&text.as_bytes()[..SEARCHED]).into_owned(),
                    encoded: encoded.into_bytes().into(),
                }
            })
            .collect();
        SharedTexts { texts }
    }

    /// The first shared text in `bytes`: where it starts, and that text.
    fn first_in(&self, bytes: &[u8]) -> Option<(usize, &SharedText)> {
        self.texts
            .iter()
            .filter_map(|shared| Some((shared.first_in(bytes)?, shared)))
            .min_by_key(|(start, _)| *start)
    }
}

/// How many places that start like a shared text are compared with it whole before the
/// search gives up (the file is then only encoded): a text that repeats its first bytes
/// often, and each time differs from the shared text only near its end, would otherwise
/// cost a comparison of the whole text at every repeat.
const COMPARED: usize = 8;

impl SharedText {
    fn first_in(&self, bytes: &[u8]) -> Option<usize> {
        let mut from = 0;
        for _ in 0..COMPARED {
            if bytes.len() - from < self.text.len() {
                return None;
            }
            let start = from + self.start.find(&bytes[from..])?;
            if bytes[start..].starts_with(&self.text) {
                return Some(start);
            }
            from = start + 1;
        }
        None
    }
}

/// `text` as a percent-encoded data URL (what `encode` makes of it), with the encoding of
/// every shared text it holds copied from `shared`.
pub fn encode_text(text: &str, shared: &SharedTexts) -> String {
    let mut stretches = Vec::new();
    let mut rest = text.as_bytes();
    while let Some((start, found)) = shared.first_in(rest) {
        stretches.push((&rest[..start], found));
        rest = &rest[start + found.text.len()..];
    }
    // Room for the worst case of what is escaped, and for what is copied as it is.
    let copied: usize = stretches.iter().map(|(_, found)| found.text.len()).sum();
    let mut buffer = PercentBuffer::for_bytes(text.len() - copied, PREFIX);
    buffer.reserve(stretches.iter().map(|(_, found)| found.encoded.len()).sum());
    for (before, found) in stretches {
        buffer.escape(before, &KEPT);
        buffer.copy(&found.encoded);
    }
    buffer.escape(rest, &KEPT);
    buffer.into_string()
}

/// The head of a percent-encoded data URL.
const PREFIX: &[u8] = b"data:,";

/// `data:,` and `bytes` with every byte `escapes` does not keep written `%XX`.
pub(crate) fn percent_url(bytes: &[u8], escapes: &Escapes) -> String {
    let mut buffer = PercentBuffer::for_bytes(bytes.len(), PREFIX);
    buffer.escape(bytes, escapes);
    buffer.into_string()
}

/// A percent-encoding being written into a buffer sized for the worst case (every byte
/// escaped, and one byte more). Each entry is written whole (four bytes, of which the next
/// write overwrites those past its count), so no byte takes a branch of its own; a run of
/// 16 bytes that are all kept is copied at once.
struct PercentBuffer {
    out: Vec<u8>,
    written: usize,
}

impl PercentBuffer {
    /// Room for `head` and the encoding of `len` bytes.
    fn for_bytes(len: usize, head: &[u8]) -> PercentBuffer {
        let mut out = vec![0; head.len() + 3 * len + 1];
        out[..head.len()].copy_from_slice(head);
        PercentBuffer {
            out,
            written: head.len(),
        }
    }

    /// Writes `bytes` encoded.
    fn escape(&mut self, bytes: &[u8], escapes: &Escapes) {
        let mut chunks = bytes.chunks_exact(16);
        for chunk in &mut chunks {
            let widths = chunk
                .iter()
                .fold(0, |widths, &byte| widths | escapes.of(byte));
            if widths >> 24 == 1 {
                self.copy(chunk);
            } else {
                self.escape_each(chunk, escapes);
            }
        }
        self.escape_each(chunks.remainder(), escapes);
    }

    fn escape_each(&mut self, bytes: &[u8], escapes: &Escapes) {
        for &byte in bytes {
            let entry = escapes.of(byte);
            self.out[self.written..self.written + 4].copy_from_slice(&entry.to_le_bytes());
            self.written += (entry >> 24) as usize;
        }
    }

    /// Makes room for `len` more bytes, to be copied as they are.
    fn reserve(&mut self, len: usize) {
        self.out.resize(self.out.len() + len, 0);
    }

    /// Writes bytes already encoded, into room made for them (by `reserve`, or as the
    /// bytes they stand for, which take up to three bytes each).
    fn copy(&mut self, encoded: &[u8]) {
        self.out[self.written..self.written + encoded.len()].copy_from_slice(encoded);
        self.written += encoded.len();
    }

    fn into_bytes(mut self) -> Vec<u8> {
        self.out.truncate(self.written);
        self.out
    }

    fn into_string(self) -> String {
        // Every byte written is a kept byte (ASCII, as `Escapes::keeping` makes sure), '%'
        // or a hex digit, so the conversion never fails; were it to, the URL would carry a
        // replacement character rather than the process panic.
        String::from_utf8(self.into_bytes())
            .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Why a data URL could not be decoded.
#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    NotDataUrl,
    MissingComma,
    BadMediaType,
    BadParameter,
    BadCharacter,
    BadPercentEscape,
    BadBase64,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DecodeError::NotDataUrl => "it does not start with data:",
            DecodeError::MissingComma => "there is no comma before the data",
            DecodeError::BadMediaType => "the media type is not type/subtype of a known type",
            DecodeError::BadParameter => "a parameter is malformed (or ;base64 is not last)",
            DecodeError::BadCharacter => {
                "the data holds a character a data URL may not (a space, #, a quote, a non-ASCII character, or in base64 anything but A-Z a-z 0-9 + / =)"
            }
            DecodeError::BadPercentEscape => "a % is not followed by two hex digits",
            DecodeError::BadBase64 => "the base64 data does not decode",
        })
    }
}

/// Base64 as Go's `base64.StdEncoding` reads it: padding required, but bits after the last
/// full byte may be set (`QR==` decodes).
const GO_STD_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// Decodes a data URL (`data:[<mediatype>][;base64],<data>`) exactly as Ignition's decoder
/// does, so a URL kindling accepts is one the node accepts: the media type, if any, is
/// `type/subtype` of a MIME top-level type; `;base64` is spelled in lower case and comes last;
/// base64 data holds only base64 characters; other data only ASCII URL characters, with
/// `%` escapes.
pub fn decode(url: &str) -> Result<Vec<u8>, DecodeError> {
    let rest = url.strip_prefix("data:").ok_or(DecodeError::NotDataUrl)?;
    let (is_base64, data) = Header::new(rest).parse()?;
    if is_base64 {
        if !data.bytes().all(is_base64_char) {
            return Err(DecodeError::BadCharacter);
        }
        return GO_STD_BASE64
            .decode(data)
            .map_err(|_| DecodeError::BadBase64);
    }
    if !all_bytes(data.as_bytes(), is_url_char) {
        return Err(DecodeError::BadCharacter);
    }
    percent_decode(data)
}

/// Token characters of RFC 2045: printable ASCII but the separators.
fn is_token_char(byte: u8) -> bool {
    byte.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&byte)
}

/// Printable ASCII but the characters RFC 2396 excludes from URLs (the double quote, the
/// backquote, `# < > [ \ ] ^ { | }`), as comparisons rather than a table so that
/// `all_bytes` vectorises it.
const fn is_url_char(byte: u8) -> bool {
    let graphic = byte.wrapping_sub(b'!') <= b'~' - b'!';
    let excluded = (byte.wrapping_sub(b'"') <= 1) // " #
        | (byte == b'<')
        | (byte == b'>')
        | (byte.wrapping_sub(b'[') <= 3) // [ \ ] ^
        | (byte == b'`')
        | (byte.wrapping_sub(b'{') <= 2); // { | }
    graphic & !excluded
}

fn is_base64_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'/' | b'=')
}

/// The part of a data URL before its comma, read as Ignition's lexer reads it.
struct Header<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Header<'a> {
    fn new(text: &'a str) -> Self {
        Header {
            bytes: text.as_bytes(),
            at: 0,
        }
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.bytes.get(self.at).copied();
        if byte.is_some() {
            self.at += 1;
        }
        byte
    }

    /// Whether the data is base64, and the data itself.
    fn parse(mut self) -> Result<(bool, &'a str), DecodeError> {
        match self.bytes.first() {
            None => return Err(DecodeError::MissingComma),
            Some(b';') => {}
            Some(b',') => return Ok((false, self.data(1))),
            Some(_) => self.media_type()?,
        }
        loop {
            // At a ';' (or, after a parameter value, a ',').
            match self.next() {
                Some(b',') => return Ok((false, self.data(self.at))),
                Some(b';') => {}
                None => return Err(DecodeError::MissingComma),
                Some(_) => return Err(DecodeError::BadParameter),
            }
            if let Some(data_at) = self.parameter()? {
                return Ok((true, self.data(data_at)));
            }
        }
    }

    fn data(&self, from: usize) -> &'a str {
        // The header is ASCII up to `from`, so this is a character boundary.
        std::str::from_utf8(&self.bytes[from..]).unwrap_or_default()
    }

    /// `type/subtype`, leaving `at` on the ';' or ',' that follows.
    fn media_type(&mut self) -> Result<(), DecodeError> {
        let start = self.at;
        let first = self.next().ok_or(DecodeError::MissingComma)?;
        let extension = matches!(first, b'x' | b'X') && self.next() == Some(b'-');
        if !extension && !is_token_char(first) {
            return Err(DecodeError::BadMediaType);
        }
        loop {
            match self.next() {
                Some(b'/') => break,
                Some(byte) if is_token_char(byte) => {}
                _ => return Err(DecodeError::BadMediaType),
            }
        }
        let top = &self.bytes[start..self.at - 1];
        const TYPES: [&[u8]; 7] = [
            b"text",
            b"image",
            b"audio",
            b"video",
            b"application",
            b"message",
            b"multipart",
        ];
        if !extension && !TYPES.iter().any(|t| top.starts_with(t)) {
            return Err(DecodeError::BadMediaType);
        }
        loop {
            match self.bytes.get(self.at) {
                Some(b';' | b',') => return Ok(()),
                Some(&byte) if is_token_char(byte) => self.at += 1,
                _ => return Err(DecodeError::BadMediaType),
            }
        }
    }

    /// One parameter after its ';': `attr=value`, leaving `at` on what follows, or the final
    /// `base64,`, returning where the data starts.
    fn parameter(&mut self) -> Result<Option<usize>, DecodeError> {
        let start = self.at;
        loop {
            match self.next() {
                Some(b'=') if self.at - 1 > start => break,
                Some(b',') if &self.bytes[start..self.at - 1] == b"base64" => {
                    return Ok(Some(self.at));
                }
                Some(byte) if is_token_char(byte) => {}
                _ => return Err(DecodeError::BadParameter),
            }
        }
        match self.next() {
            Some(b'"') => self.quoted_value()?,
            Some(byte) if is_token_char(byte) => {
                let value_start = self.at - 1;
                while self.bytes.get(self.at).is_some_and(|&b| is_token_char(b)) {
                    self.at += 1;
                }
                let value = std::str::from_utf8(&self.bytes[value_start..self.at])
                    .map_err(|_| DecodeError::BadParameter)?;
                percent_decode(value)?;
            }
            _ => return Err(DecodeError::BadParameter),
        }
        Ok(None)
    }

    /// A quoted parameter value after its opening quote: ASCII, with Go string escapes.
    fn quoted_value(&mut self) -> Result<(), DecodeError> {
        loop {
            match self.next() {
                Some(b'"') => return Ok(()),
                Some(b'\\') => {
                    let escaped = self.next().ok_or(DecodeError::BadParameter)?;
                    if !b"abfnrtv\\\"".contains(&escaped) {
                        return Err(DecodeError::BadParameter);
                    }
                }
                Some(byte) if byte.is_ascii() && byte != b'\n' => {}
                _ => return Err(DecodeError::BadParameter),
            }
        }
    }
}

fn percent_decode(data: &str) -> Result<Vec<u8>, DecodeError> {
    let mut rest = data.as_bytes();
    let mut out = Vec::with_capacity(rest.len());
    while let Some(percent) = memchr::memchr(b'%', rest) {
        out.extend_from_slice(&rest[..percent]);
        let escape = rest
            .get(percent + 1..percent + 3)
            .ok_or(DecodeError::BadPercentEscape)?;
        let (Some(high), Some(low)) = (hex_value(escape[0]), hex_value(escape[1])) else {
            return Err(DecodeError::BadPercentEscape);
        };
        out.push(high << 4 | low);
        rest = &rest[percent + 3..];
    }
    out.extend_from_slice(rest);
    Ok(out)
}

fn hex_value(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|digit| u8::try_from(digit).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_readably() {
        let text = "ETCD_NAME=etcd1\nA=b c%\"\n";
        let url = encode(text.as_bytes());
        assert_eq!(url, "data:,ETCD_NAME=etcd1%0AA=b%20c%25%22%0A");
        assert_eq!(decode(&url).unwrap(), text.as_bytes());
    }

    #[test]
    fn percent_encoding_escapes_exactly_the_bytes_not_kept() {
        let bytes: Vec<u8> = (0..=u8::MAX).cycle().take(700).collect();
        assert_eq!(percent_url(&bytes, &KEPT), naive_url(&bytes, &KEPT));
        assert_eq!(decode(&percent_url(&bytes, &KEPT)).unwrap(), bytes);
    }

    /// The byte-by-byte encoding the table-driven one must equal.
    fn naive_url(bytes: &[u8], escapes: &Escapes) -> String {
        let mut url = String::from("data:,");
        for &byte in bytes {
            match escapes.keeps(byte) {
                true => url.push(char::from(byte)),
                false => url.push_str(&format!("%{byte:02X}")),
            }
        }
        url
    }

    #[test]
    fn kept_runs_of_every_length_at_every_offset_encode_byte_by_byte() {
        let butane = Escapes::keeping(b"-_.!~*'()");
        for escapes in [&KEPT, &butane] {
            for offset in 0..17 {
                for run in 0..40 {
                    let mut bytes = vec![b' '; offset];
                    bytes.extend(std::iter::repeat_n(b'a', run));
                    bytes.extend_from_slice(b",\n\xff~'");
                    assert_eq!(
                        percent_url(&bytes, escapes),
                        naive_url(&bytes, escapes),
                        "offset {offset}, run {run}"
                    );
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "an encoding keeps only ASCII bytes")]
    fn an_encoding_cannot_keep_a_byte_outside_ascii() {
        Escapes::keeping(b"-\xe9");
    }

    #[test]
    fn the_kept_bytes_are_letters_digits_and_those_named() {
        let kept: Vec<u8> = (0..=u8::MAX).filter(|&byte| KEPT.keeps(byte)).collect();
        let mut expected: Vec<u8> = (0..=u8::MAX)
            .filter(u8::is_ascii_alphanumeric)
            .chain(*b"-_.~/:=@")
            .collect();
        expected.sort_unstable();
        assert_eq!(kept, expected);
    }

    proptest::proptest! {
        #[test]
        fn encoding_equals_the_byte_by_byte_one_and_decodes_back(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    4 => proptest::sample::select(b"abz09-_.~/:=@".to_vec()),
                    1 => proptest::num::u8::ANY,
                ],
                0..200,
            )
        ) {
            proptest::prop_assert_eq!(percent_url(&bytes, &KEPT), naive_url(&bytes, &KEPT));
            let url = encode(&bytes);
            proptest::prop_assert_eq!(decode(&url), Ok(bytes));
        }
    }

    /// A text long enough to be shared, made of `unit` repeated.
    fn long(unit: &str) -> String {
        unit.repeat(SHORTEST_SHARED.div_ceil(unit.len()))
    }

    #[test]
    fn a_text_with_shared_stretches_encodes_as_it_does_alone() {
        let members = long("n1=https://10.0.0.1:2380,");
        let endpoints = long("https://10.0.0.1:2379,é ");
        let shared = SharedTexts::new([members.as_str(), endpoints.as_str(), "short"]);
        assert_eq!(shared.texts.len(), 2, "a short text is not kept");
        let texts = [
            members.clone(),
            format!("A={members}\nB={endpoints}\n"),
            format!("{endpoints}{members}{members}"),
            format!("x{}", &members[1..]),
            format!("ETCD_INITIAL_CLUSTER={members}{}", &members[..7]),
            String::new(),
            "no shared text here %\n".to_string(),
        ];
        for text in texts {
            assert_eq!(encode_text(&text, &shared), encode(text.as_bytes()));
        }
    }

    #[test]
    fn the_search_gives_up_after_a_few_false_starts() {
        let text = format!("{}b", "a".repeat(SHORTEST_SHARED - 1));
        let shared = SharedTexts::new([text.as_str()]);
        let soon = format!("{}{text}", "a".repeat(COMPARED - 1));
        let late = format!("{}{text}", "a".repeat(COMPARED));
        assert_eq!(
            shared.texts[0].first_in(soon.as_bytes()),
            Some(COMPARED - 1)
        );
        assert_eq!(shared.texts[0].first_in(late.as_bytes()), None);
        for haystack in [soon, late] {
            assert_eq!(encode_text(&haystack, &shared), encode(haystack.as_bytes()));
        }
    }

    proptest::proptest! {
        #[test]
        fn shared_stretches_never_change_an_encoding(
            pieces in proptest::collection::vec("[a-c,=:%\n é]{1,8}", 2),
            parts in proptest::collection::vec((0..4usize, "[a-c,=%\n é]{0,12}"), 0..8),
        ) {
            // Two shared texts, and one that holds the other's start (a search that stopped
            // at a false start would show).
            let first = long(&pieces[0]);
            let second = long(&pieces[1]);
            let half: String = first.chars().take(first.chars().count() / 2).collect();
            let overlapping = format!("{half}{second}");
            let shared = SharedTexts::new([first.as_str(), second.as_str(), overlapping.as_str()]);
            let mut text = String::new();
            for (pick, filler) in parts {
                text.push_str(&filler);
                text.push_str(match pick {
                    0 => &first,
                    1 => &second,
                    2 => &overlapping,
                    _ => "",
                });
            }
            proptest::prop_assert_eq!(encode_text(&text, &shared), encode(text.as_bytes()));
        }
    }

    #[test]
    fn url_characters_are_printable_ascii_but_those_rfc_2396_excludes() {
        for byte in 0..=u8::MAX {
            let expected = byte.is_ascii_graphic() && !b"<>#\"{}|\\^[]`".contains(&byte);
            assert_eq!(is_url_char(byte), expected, "byte {byte:#04x}");
            let mut data = vec![b'a'; 130];
            data[byte as usize % 130] = byte;
            assert_eq!(
                all_bytes(&data, is_url_char),
                expected,
                "byte {byte:#04x} in a run"
            );
        }
    }

    #[test]
    fn binary_goes_base64() {
        let bytes = [0xff, 0x00, 0x10];
        let url = encode(&bytes);
        assert!(url.starts_with("data:;base64,"));
        assert_eq!(decode(&url).unwrap(), bytes);
    }

    #[test]
    fn broken_urls_are_refused() {
        assert_eq!(decode("http://x"), Err(DecodeError::NotDataUrl));
        assert_eq!(decode("data:"), Err(DecodeError::MissingComma));
        assert_eq!(decode("data:,%4"), Err(DecodeError::BadPercentEscape));
        assert_eq!(decode("data:;base64,@@@"), Err(DecodeError::BadCharacter));
    }

    #[test]
    fn the_grammar_is_ignitions() {
        let accepted = [
            ("data:,a%20b", &b"a b"[..]),
            ("data:;base64,QR==", b"A"),
            ("data:text/plain;charset=utf-8;base64,QUFB", b"AAA"),
            ("data:text/plain;charset=\"utf-8\",x", b"x"),
            ("data:application/x-foo,x", b"x"),
            ("data:x-custom/thing,x", b"x"),
            ("data:,", b""),
        ];
        for (url, bytes) in accepted {
            assert_eq!(decode(url).as_deref(), Ok(bytes), "{url}");
        }
        let refused = [
            ("data:;base64,QUFB%0AQUFB", DecodeError::BadCharacter),
            ("data:;base64,QU%20FB", DecodeError::BadCharacter),
            ("data:;BASE64,QUFB", DecodeError::BadParameter),
            ("data:,a#b", DecodeError::BadCharacter),
            ("data:foo;base64,QUFB", DecodeError::BadMediaType),
            ("data:;base64;charset=utf-8,QUFB", DecodeError::BadParameter),
            ("data:,a b", DecodeError::BadCharacter),
            ("data:,\u{e9}", DecodeError::BadCharacter),
            ("data:;base64,QUFB=", DecodeError::BadBase64),
            ("data:text/plain", DecodeError::BadMediaType),
        ];
        for (url, error) in refused {
            assert_eq!(decode(url), Err(error), "{url}");
        }
    }
}
