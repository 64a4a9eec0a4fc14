//! URLs as Go's `net/url.Parse` reads them. Ignition decides with it whether a source, a
//! proxy or a Tang server is a URL at all and what its scheme is, and it differs from a
//! browser's parser: it refuses a bad `%` escape, a port that is not a number and a space
//! in a host, and it reads `example.com:3128` as the scheme `example.com`.

/// The scheme (lowercased, empty when there is none) of a URL Go parses, or why Go refuses it.
pub fn scheme(raw: &str) -> Result<String, String> {
    let (url, fragment) = raw.split_once('#').unwrap_or((raw, ""));
    let scheme = scheme_without_fragment(url)?;
    unescape_check(fragment, Part::Other)?;
    Ok(scheme)
}

fn scheme_without_fragment(url: &str) -> Result<String, String> {
    if url.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("it contains a control character".into());
    }
    if url == "*" {
        return Ok(String::new());
    }
    let (scheme, rest) = split_scheme(url)?;
    let rest = rest.split_once('?').map_or(rest, |(before, _)| before);
    if !rest.starts_with('/') {
        if !scheme.is_empty() {
            return Ok(scheme); // an opaque URL such as `data:,x`: Go looks no further
        }
        if rest.split('/').next().is_some_and(|s| s.contains(':')) {
            return Err("its first path segment contains a colon".into());
        }
    }
    let mut path = rest;
    if (!scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let after = &rest[2..];
        let (authority, tail) = after.split_at(after.find('/').unwrap_or(after.len()));
        check_authority(authority)?;
        path = tail;
    }
    unescape_check(path, Part::Other)?;
    Ok(scheme)
}

/// Splits `scheme:rest` the way Go does: a scheme is a letter then letters, digits, `+`, `-`
/// or `.`; anything else before the first `:` means there is no scheme.
fn split_scheme(url: &str) -> Result<(String, &str), String> {
    for (i, c) in url.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            ':' if i == 0 => return Err("it is missing a scheme before `:`".into()),
            ':' => return Ok((url[..i].to_ascii_lowercase(), &url[i + 1..])),
            _ => return Ok((String::new(), url)),
        }
    }
    Ok((String::new(), url))
}

fn check_authority(authority: &str) -> Result<(), String> {
    let (userinfo, host) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    check_host(host)?;
    if let Some(userinfo) = userinfo {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c);
        if !userinfo.chars().all(allowed) {
            return Err("its user information has a character that must be escaped".into());
        }
        unescape_check(userinfo, Part::Other)?;
    }
    Ok(())
}

fn check_host(host: &str) -> Result<(), String> {
    if let Some(literal) = host.strip_prefix('[') {
        let Some(close) = literal.rfind(']') else {
            return Err("its host has `[` without `]`".into());
        };
        check_port(&literal[close + 1..])?;
        let inside = &host[..close + 1];
        return match inside.find("%25") {
            Some(zone) => {
                unescape_check(&inside[..zone], Part::Host)?;
                unescape_check(&inside[zone..], Part::Zone)?;
                unescape_check(&host[close + 1..], Part::Host)
            }
            None => unescape_check(host, Part::Host),
        };
    }
    if let Some(colon) = host.rfind(':') {
        check_port(&host[colon..])?;
    }
    unescape_check(host, Part::Host)
}

/// After a host, nothing or `:` and digits.
fn check_port(port: &str) -> Result<(), String> {
    let valid = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_digit()));
    if valid {
        Ok(())
    } else {
        Err(format!("its port {port:?} is not a number"))
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Part {
    Host,
    Zone,
    Other,
}

/// Whether Go's `unescape` accepts `text` in this part of a URL: every `%` starts two hex
/// digits, and in a host only non-ASCII bytes (or `%25`) may be escaped and only the
/// characters a host may hold appear.
fn unescape_check(text: &str, part: Part) -> Result<(), String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte == b'%' {
            let escape = bytes
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
            let Some(hex) = escape else {
                let shown: String = text[i..].chars().take(3).collect();
                return Err(format!("{shown:?} is not a valid % escape"));
            };
            let value =
                u8::from_str_radix(std::str::from_utf8(hex).unwrap_or("00"), 16).unwrap_or(0);
            let percent = value == b'%';
            let refused = match part {
                Part::Host => value < 0x80 && !percent,
                Part::Zone => !percent && value != b' ' && host_must_escape(value),
                Part::Other => false,
            };
            if refused {
                return Err(format!(
                    "its host escapes {:?}, which a host may not",
                    &text[i..i + 3]
                ));
            }
            i += 3;
            continue;
        }
        if part != Part::Other && byte < 0x80 && host_must_escape(byte) {
            return Err(format!("its host contains {:?}", byte as char));
        }
        i += 1;
    }
    Ok(())
}

/// The ASCII characters Go does not allow unescaped in a host.
fn host_must_escape(byte: u8) -> bool {
    !(byte.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&byte))
}

#[cfg(test)]
mod tests {
    use super::scheme;

    #[test]
    fn schemes_as_go_reads_them() {
        assert_eq!(scheme("https://example.com/a").unwrap(), "https");
        assert_eq!(scheme("HTTP://example.com").unwrap(), "http");
        assert_eq!(
            scheme("data:,%zz").unwrap(),
            "data",
            "opaque: not unescaped"
        );
        assert_eq!(scheme("example.com:3128").unwrap(), "example.com");
        assert_eq!(scheme("/a/b").unwrap(), "");
        assert_eq!(scheme("").unwrap(), "");
        assert_eq!(scheme("http://[::1]:80/").unwrap(), "http");
        assert_eq!(scheme("http://u:p%20w@host/").unwrap(), "http");
        assert_eq!(scheme("http://h%C3%A9.example/").unwrap(), "http");
        assert_eq!(scheme("http://[fe80::1%25eth0]/").unwrap(), "http");
    }

    #[test]
    fn what_go_refuses() {
        for bad in [
            "http://[::1]a",
            "http://[::1",
            "https://a/%zz",
            "https://a/b%2",
            "https://a/#%zz",
            "http://host:port/",
            "http://ho st/",
            "http://h%41/",
            "http://a b@host/",
            ":foo",
            "1a:b",
            "1http://x",
            "http://x/\u{7f}",
            "x:y\n",
            "https://a/b%0éé",
            "https://a/b%é",
        ] {
            assert!(scheme(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
