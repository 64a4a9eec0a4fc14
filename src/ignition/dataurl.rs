//! RFC 2397 data URLs, the way Ignition reads inline file contents.
//!
//! kindling writes text percent-encoded (`data:,…`) so a golden file stays readable and a
//! diff of two configs shows which line changed; anything that is not UTF-8 goes base64.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Bytes kept as they are in a percent-encoded data URL: RFC 3986 unreserved characters
/// plus a few that are unambiguous after the comma.
fn is_kept(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/' | b':' | b'=' | b'@')
}

/// Encodes contents as a data URL.
pub fn encode(bytes: &[u8]) -> String {
    if std::str::from_utf8(bytes).is_err() {
        return format!("data:;base64,{}", STANDARD.encode(bytes));
    }
    let mut out = String::with_capacity(6 + bytes.len() * 2);
    out.push_str("data:,");
    for &byte in bytes {
        if is_kept(byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Why a data URL could not be decoded.
#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    NotDataUrl,
    MissingComma,
    BadPercentEscape,
    BadBase64,
}

/// Decodes a data URL (`data:[<mediatype>][;base64],<data>`).
pub fn decode(url: &str) -> Result<Vec<u8>, DecodeError> {
    let rest = url.strip_prefix("data:").ok_or(DecodeError::NotDataUrl)?;
    let (header, data) = rest.split_once(',').ok_or(DecodeError::MissingComma)?;
    let unescaped = percent_decode(data)?;
    if header.ends_with(";base64") {
        let compact: Vec<u8> = unescaped
            .into_iter()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        return STANDARD.decode(compact).map_err(|_| DecodeError::BadBase64);
    }
    Ok(unescaped)
}

fn percent_decode(data: &str) -> Result<Vec<u8>, DecodeError> {
    let bytes = data.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .ok_or(DecodeError::BadPercentEscape)?;
            let text = std::str::from_utf8(hex).map_err(|_| DecodeError::BadPercentEscape)?;
            out.push(u8::from_str_radix(text, 16).map_err(|_| DecodeError::BadPercentEscape)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
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
    fn binary_goes_base64() {
        let bytes = [0xff, 0x00, 0x10];
        let url = encode(&bytes);
        assert!(url.starts_with("data:;base64,"));
        assert_eq!(decode(&url).unwrap(), bytes);
    }

    #[test]
    fn broken_urls_are_refused() {
        assert_eq!(decode("http://x"), Err(DecodeError::NotDataUrl));
        assert_eq!(decode("data:text/plain"), Err(DecodeError::MissingComma));
        assert_eq!(decode("data:,%4"), Err(DecodeError::BadPercentEscape));
        assert_eq!(decode("data:;base64,@@@"), Err(DecodeError::BadBase64));
    }
}
