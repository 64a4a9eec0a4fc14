//! Checks on single values from the spec, before any of them can reach a template.
//!
//! Each function accepts exactly the strings that are safe to print into an env, unit or
//! sysupdate file; anything with a newline, control character or shell-significant
//! surprise is refused with a message that says what would be accepted.

use std::net::IpAddr;

/// A problem with one value: what is wrong, and how to write it instead.
#[derive(Debug)]
pub struct Invalid {
    pub message: String,
    pub help: String,
}

fn invalid(message: impl Into<String>, help: impl Into<String>) -> Invalid {
    Invalid {
        message: message.into(),
        help: help.into(),
    }
}

/// A DNS label: node names, the cluster name. etcd member names and hostnames both accept it.
pub fn dns_label(what: &str, value: &str) -> Result<(), Invalid> {
    let ok_chars = value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ok_ends = !value.starts_with('-') && !value.ends_with('-');
    if !value.is_empty() && value.len() <= 63 && ok_chars && ok_ends {
        return Ok(());
    }
    Err(invalid(
        format!("{what} {value:?} is not a valid DNS label"),
        "use 1 to 63 characters from a-z, 0-9 and '-', not starting or ending with '-'",
    ))
}

/// A DNS domain: dot-separated labels.
pub fn domain(value: &str) -> Result<(), Invalid> {
    let labels_ok = !value.is_empty()
        && value.len() <= 253
        && value
            .split('.')
            .all(|label| dns_label("label", label).is_ok());
    if labels_ok {
        return Ok(());
    }
    Err(invalid(
        format!("domain {value:?} is not a valid DNS domain"),
        "write labels of a-z, 0-9 and '-' separated by dots, e.g. kloud.lan",
    ))
}

/// An initial-cluster token: printed unquoted into the env file.
pub fn token(value: &str) -> Result<(), Invalid> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        return Ok(());
    }
    Err(invalid(
        format!("token {value:?} has characters that are not allowed"),
        "use 1 to 128 characters from A-Z, a-z, 0-9, '-', '_' and '.'",
    ))
}

/// An IP address as written in the spec.
pub fn ip(value: &str) -> Result<IpAddr, Invalid> {
    value.parse::<IpAddr>().map_err(|_| {
        invalid(
            format!("{value:?} is not an IP address"),
            "write an IPv4 address such as 10.0.0.11 or an IPv6 address such as fd00::11",
        )
    })
}

/// A network in CIDR form, as a firewall rule takes it: host bits set are refused, since
/// `10.0.0.5/24` most likely meant one address or the whole `10.0.0.0/24`.
pub fn cidr(value: &str) -> Result<ipnet::IpNet, Invalid> {
    let parsed = value
        .parse::<ipnet::IpNet>()
        .or_else(|_| value.parse::<IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            invalid(
                format!("{value:?} is not a network"),
                "write an address or a network in CIDR form: 10.0.9.5, 10.0.9.0/24, fd00::/64",
            )
        })?;
    if parsed.trunc() != parsed {
        return Err(invalid(
            format!("{value:?} has host bits set"),
            format!(
                "write {} for the whole network, or {}/{} for one address",
                parsed.trunc(),
                parsed.addr(),
                parsed.max_prefix_len()
            ),
        ));
    }
    Ok(parsed)
}

/// A member's own address: an IP a peer can dial, so not `0.0.0.0`/`::` (a listen-anywhere
/// address), multicast or the IPv4 broadcast address.
pub fn node_ip(value: &str) -> Result<IpAddr, Invalid> {
    let ip = self::ip(value)?;
    let broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
    if ip.is_unspecified() || ip.is_multicast() || broadcast {
        return Err(invalid(
            format!("{ip} cannot be a member's address: peers could not dial it"),
            "give each node the unicast address its peers reach it at, e.g. 10.0.0.11",
        ));
    }
    Ok(ip)
}

/// A MAC address, normalised to lower-case colon form (`52:54:00:00:00:11`).
/// Accepts `:` or `-` separators, any case. A machine's own address is unicast and not
/// all zeros, so the broadcast and multicast forms are refused.
pub fn mac(value: &str) -> Result<String, Invalid> {
    let groups: Vec<&str> = value.split([':', '-']).collect();
    let well_formed = groups.len() == 6
        && groups
            .iter()
            .all(|g| g.len() == 2 && g.bytes().all(|b| b.is_ascii_hexdigit()));
    if well_formed {
        let first = u8::from_str_radix(groups[0], 16).unwrap_or(0);
        let all_zero = groups.iter().all(|g| *g == "00");
        if first & 1 == 1 || all_zero {
            return Err(invalid(
                format!("{value:?} is a broadcast, multicast or all-zero MAC, not a machine's"),
                "write the MAC of the machine's network interface, e.g. 52:54:00:00:00:11",
            ));
        }
        return Ok(groups.join(":").to_ascii_lowercase());
    }
    Err(invalid(
        format!("{value:?} is not a MAC address"),
        "write six two-digit hex groups, e.g. 52:54:00:00:00:11",
    ))
}

/// An http(s) base URL without query or fragment, normalised to end without a slash.
/// It is printed into a sysupdate transfer file and combined with image names.
pub fn http_base_url(value: &str) -> Result<String, Invalid> {
    let help = "write an http:// or https:// URL of the directory holding the images, without ?query or #fragment";
    let parsed = url::Url::parse(value)
        .map_err(|e| invalid(format!("{value:?} is not a URL: {e}"), help))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid(
            format!("URL scheme {:?} is not http or https", parsed.scheme()),
            help,
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid(
            "the URL holds credentials (user:password@)",
            "they would be published in every node's config and by Matchbox under /assets, readable by anyone: serve the images without credentials (e.g. on a private network)",
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() || parsed.host_str().is_none() {
        return Err(invalid(
            format!("{value:?} is not a plain directory URL"),
            help,
        ));
    }
    if parsed
        .as_str()
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '%')
    {
        return Err(invalid(
            format!("{value:?} has characters that cannot go into a sysupdate file"),
            help,
        ));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_string())
}

/// An etcd version as upstream spells it (`v3.5.21`): returns (minor, patch).
pub fn etcd_version(value: &str) -> Result<(u32, u32), Invalid> {
    let help =
        "write the etcd release as upstream tags it, e.g. v3.5.21 (supported: v3.4, v3.5, v3.6)";
    let numbers = value
        .strip_prefix('v')
        .ok_or_else(|| invalid(format!("etcd version {value:?} must start with 'v'"), help))?;
    let parts: Vec<&str> = numbers.split('.').collect();
    let parsed: Vec<u32> = parts.iter().filter_map(|p| p.parse().ok()).collect();
    let plain_digits = parts
        .iter()
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if parts.len() != 3 || parsed.len() != 3 || !plain_digits {
        return Err(invalid(
            format!("etcd version {value:?} is not vMAJOR.MINOR.PATCH"),
            help,
        ));
    }
    if parsed[0] != 3 || !(4..=6).contains(&parsed[1]) {
        return Err(invalid(
            format!("etcd {value} is not a supported release line"),
            help,
        ));
    }
    Ok((parsed[1], parsed[2]))
}

/// A container image reference split into its parts (`name[:tag][@sha256:digest]`).
#[derive(Debug, PartialEq, Eq)]
pub struct ImageRef<'a> {
    pub name: &'a str,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

impl ImageRef<'_> {
    /// The name containerd's image store keeps a pulled image under: the registry spelled
    /// out (`docker.io/library/` for Docker Hub's short names) and, for a pinned image, the
    /// digest in place of the tag, as the kubelet's CRI stores it.
    pub fn containerd_name(&self) -> String {
        let first = self.name.split('/').next().unwrap_or_default();
        let has_registry = self.name.contains('/')
            && (first.contains('.') || first.contains(':') || first == "localhost");
        let name = match (has_registry, self.name.contains('/')) {
            (true, _) => self.name.to_string(),
            (false, true) => format!("docker.io/{}", self.name),
            (false, false) => format!("docker.io/library/{}", self.name),
        };
        match (self.digest, self.tag) {
            (Some(digest), _) => format!("{name}@sha256:{digest}"),
            (None, Some(tag)) => format!("{name}:{tag}"),
            (None, None) => format!("{name}:latest"),
        }
    }
}

/// A container image reference as Docker and containerd parse it: a lowercase name of
/// registry and path components, an optional tag, an optional `@sha256:` digest of 64
/// lowercase hex digits. Nothing else: the reference is printed into a unit and a manifest.
pub fn container_image(value: &str) -> Result<ImageRef<'_>, Invalid> {
    let help = "write REGISTRY/PATH:TAG@sha256:DIGEST, e.g. gcr.io/etcd-development/etcd:v3.5.21@sha256:<64 hex digits>";
    let bad = |what: &str| invalid(format!("{value:?} is not an image reference: {what}"), help);
    let (rest, digest) = match value.split_once('@') {
        Some((rest, digest)) => {
            let hex = digest
                .strip_prefix("sha256:")
                .ok_or_else(|| bad("the digest is not sha256:"))?;
            if hex.len() != 64
                || !hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(bad("the digest is not 64 lowercase hex digits"));
            }
            (rest, Some(hex))
        }
        None => (value, None),
    };
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    let name_ok = !name.is_empty()
        && name.split('/').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-:".contains(&b))
        });
    if !name_ok {
        return Err(bad(
            "the name has characters other than a-z, 0-9, '.', '_', '-' and '/'",
        ));
    }
    if let Some(tag) = tag {
        let tag_ok = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !tag_ok {
            return Err(bad(
                "the tag has characters other than letters, digits, '.', '_' and '-'",
            ));
        }
    }
    Ok(ImageRef { name, tag, digest })
}

/// A value printed after `NAME=` in an env file: one line, no control characters, and no
/// quote or backslash (systemd would interpret them). The same value goes into etcd's YAML
/// config file and the static pod's manifest, so it also keeps to YAML's printable
/// characters (no U+FFFE or U+FFFF) and holds none of YAML 1.1's line breaks (U+2028,
/// U+2029), which go-yaml folds into spaces.
pub fn env_value(value: &str) -> Result<(), Invalid> {
    let bad = value.chars().find(|c| {
        c.is_control()
            || matches!(c, '"' | '\'' | '\\' | '$' | '`')
            || matches!(c, '\u{FFFE}' | '\u{FFFF}' | '\u{2028}' | '\u{2029}')
    });
    match bad {
        None => Ok(()),
        Some(c) => Err(invalid(
            format!(
                "value {value:?} contains {c:?}, which cannot go into an env file or etcd's YAML config"
            ),
            "env values are printed unquoted, one per line: use printable characters without quotes, backslashes or '$'",
        )),
    }
}

/// An SSH public key line for `authorized_keys`.
pub fn ssh_public_key(value: &str) -> Result<(), Invalid> {
    const TYPES: [&str; 8] = [
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
        "ssh-dss",
    ];
    let help = "paste one public key line, e.g. \"ssh-ed25519 AAAAC3... admin@host\"";
    if value.chars().any(char::is_control) {
        return Err(invalid(
            "SSH key contains a newline or control character",
            help,
        ));
    }
    let mut fields = value.split_whitespace();
    let key_type = fields.next().unwrap_or_default();
    let body = fields.next().unwrap_or_default();
    if !TYPES.contains(&key_type) || body.len() < 16 {
        return Err(invalid(
            format!("{:?} does not look like an SSH public key", shorten(value)),
            help,
        ));
    }
    Ok(())
}

/// A file mode written in octal: `0o644`, `"0644"`. A bare `644` is refused: YAML 1.2
/// reads it as decimal, YAML 1.1 as octal, and a mode must never silently change meaning.
pub fn octal_mode(value: &str) -> Result<u32, Invalid> {
    let help = "write modes in octal with a leading zero, e.g. \"0644\" or 0o644";
    let digits = match value.strip_prefix("0o") {
        Some(rest) => rest,
        None if value.len() > 1 && value.starts_with('0') => &value[1..],
        None => {
            return Err(invalid(
                format!("mode {value} is ambiguous (decimal or octal?)"),
                help,
            ));
        }
    };
    let mode = u32::from_str_radix(digits, 8)
        .map_err(|_| invalid(format!("mode {value:?} is not an octal number"), help))?;
    if mode > 0o7777 {
        return Err(invalid(format!("mode {value} is larger than 07777"), help));
    }
    Ok(mode)
}

/// A Flatcar release number (`4230.2.3`) or `current`.
pub fn flatcar_version(value: &str) -> Result<(), Invalid> {
    let numeric = value.split('.').count() == 3
        && value
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if value == "current" || numeric {
        return Ok(());
    }
    Err(invalid(
        format!("{value:?} is not a Flatcar release"),
        "write a release such as 4230.2.3, or current",
    ))
}

/// A block device path for flatcar-install (`/dev/sda`, `/dev/disk/by-id/…`).
pub fn device_path(value: &str) -> Result<(), Invalid> {
    let ok = value.starts_with("/dev/")
        && value.len() > 5
        && !value.split('/').any(|part| part == "." || part == "..")
        && value.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b':' | b'+')
        });
    if ok {
        return Ok(());
    }
    Err(invalid(
        format!("{value:?} is not a device path"),
        "write a path under /dev, e.g. /dev/sda or /dev/disk/by-id/…",
    ))
}

/// An absolute directory on the node for kindling's own files (`/var/lib/etcd-backup`): only
/// characters that need no quoting in a unit or a shell script, no `.` or `..` parts.
pub fn node_dir(value: &str) -> Result<(), Invalid> {
    let ok = value.starts_with('/')
        && value.len() > 1
        && !value.ends_with('/')
        && !value
            .split('/')
            .skip(1)
            .any(|p| p.is_empty() || p == "." || p == "..")
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'));
    if ok {
        return Ok(());
    }
    Err(invalid(
        format!("{value:?} is not an absolute directory kindling can write into a unit"),
        "write an absolute path of letters, digits, `-`, `_`, `.` and `/`, e.g. /var/lib/etcd-backup",
    ))
}

/// An absolute file on the node that a kindling script reads (a credentials or CA file): the
/// same characters as [`node_dir`].
pub fn node_file(value: &str) -> Result<(), Invalid> {
    node_dir(value).map_err(|_| {
        invalid(
            format!("{value:?} is not an absolute file path kindling can write into a script"),
            "write an absolute path of letters, digits, `-`, `_`, `.` and `/`, e.g. /etc/kindling/backup-s3.env",
        )
    })
}

/// `etcd.auto_compaction_retention` as etcd reads it (`parseCompactionRetention`): a whole
/// number of hours (periodic mode) or revisions (revision mode), or else a Go duration
/// (`30m`, `1h30m`), which in revision mode etcd takes as a count of nanoseconds.
pub fn compaction_retention(mode: &str, value: &str) -> Result<(), Invalid> {
    if value.bytes().all(|b| b.is_ascii_digit()) && !value.is_empty() {
        return value.parse::<i64>().map(|_| ()).map_err(|_| {
            invalid(
                format!("retention {value:?} is larger than etcd can hold"),
                "give a smaller number",
            )
        });
    }
    if mode == "revision" {
        return Err(invalid(
            format!("in revision mode the retention is a number of revisions, not {value:?}"),
            "write a whole number of revisions to keep (10000 is common); etcd would read a duration such as \"1h\" as 3,600,000,000,000 revisions and never compact",
        ));
    }
    match go_duration_nanos(value) {
        Some(nanos) if nanos >= 0 => Ok(()),
        Some(_) => Err(invalid(
            format!("retention {value:?} is negative"),
            "give how long to keep history: a whole number of hours or a duration such as \"30m\" or \"1h\"",
        )),
        None => Err(invalid(
            format!(
                "etcd cannot read the retention {value:?} (\"error parsing CompactionRetention\"): it is neither a whole number of hours nor a Go duration"
            ),
            "write a whole number of hours, or a duration of numbers with the units ns, us, ms, s, m, h (\"30m\", \"1h30m\")",
        )),
    }
}

/// Go's `time.ParseDuration`: an optional sign, then one or more decimal numbers each with
/// a unit (ns, us, µs, ms, s, m, h); "0" alone needs none. Nanoseconds, or None where Go
/// returns an error (overflow included).
pub fn go_duration_nanos(text: &str) -> Option<i64> {
    let (negative, mut rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_end];
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return None;
        }
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale: u128 = match &rest[..unit_end] {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        rest = &rest[unit_end..];
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        let mut part = whole.checked_mul(scale)?;
        let mut place = scale;
        for digit in fraction.bytes().take(30) {
            place /= 10;
            part += u128::from(digit - b'0') * place;
        }
        total = total.checked_add(part)?;
        if total > i64::MAX as u128 + u128::from(negative) {
            return None;
        }
    }
    let signed = i128::try_from(total).ok()?;
    i64::try_from(if negative { -signed } else { signed }).ok()
}

/// A systemd calendar expression for `OnCalendar=` (`daily`, `*-*-* 02:30:00`, `Mon *-*-*`),
/// checked by systemd's own grammar (systemd.time(7)): an expression systemd refuses would
/// leave the timer without a schedule ("Timer unit lacks value setting. Refusing."), so no
/// backup would ever run. `tests/hostile_input_2.rs` holds it to `systemd-analyze calendar`.
pub fn calendar(value: &str) -> Result<(), Invalid> {
    let fits = value.len() <= 100 && calendar::parses(value);
    if fits {
        return Ok(());
    }
    Err(invalid(
        format!("systemd cannot read {value:?} as a calendar expression"),
        "write what OnCalendar= takes, e.g. daily, hourly, \"Mon..Fri 02:30\" or \"*-*-* 02:30:00\" (check it with `systemd-analyze calendar`)",
    ))
}

/// systemd's calendar grammar: `[WEEKDAYS] [[YEAR-]MONTH-DAY] [HOUR:MINUTE[:SECOND]] [TZ]`,
/// a shorthand (`daily`, …), or `@EPOCH`.
mod calendar {
    const SHORTHANDS: [&str; 9] = [
        "minutely",
        "hourly",
        "daily",
        "weekly",
        "monthly",
        "yearly",
        "annually",
        "quarterly",
        "semiannually",
    ];
    const DAYS: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];

    pub fn parses(value: &str) -> bool {
        if value.starts_with(' ') || value.ends_with(' ') {
            return false; // systemd takes spaces between the parts only
        }
        let mut words: Vec<&str> = value.split(' ').filter(|w| !w.is_empty()).collect();
        if words.len() > 1 && words.last().is_some_and(|w| is_timezone(w)) {
            words.pop();
        }
        if let [only] = words.as_slice() {
            if SHORTHANDS.iter().any(|s| s.eq_ignore_ascii_case(only)) {
                return true;
            }
            if let Some(epoch) = only.strip_prefix('@') {
                return !epoch.is_empty() && epoch.bytes().all(|b| b.is_ascii_digit());
            }
        }
        let mut rest = words.as_slice();
        let mut any = false;
        if let [first, tail @ ..] = rest
            && first.starts_with(|c: char| c.is_ascii_alphabetic())
        {
            if !weekdays(first) {
                return false;
            }
            rest = tail;
            any = true;
        }
        if let [first, tail @ ..] = rest
            && !first.contains(':')
        {
            if !date(first) {
                return false;
            }
            rest = tail;
            any = true;
        }
        if let [first, tail @ ..] = rest {
            if !time(first) {
                return false;
            }
            rest = tail;
            any = true;
        }
        any && rest.is_empty()
    }

    /// `UTC`, or a zone of the tz database (`Europe/Berlin`), looked up where this machine
    /// keeps it, as systemd does on the node (Flatcar ships the same database).
    fn is_timezone(word: &str) -> bool {
        if word == "UTC" {
            return true;
        }
        let shaped = word.contains('/')
            && word.split('/').all(|part| {
                !part.is_empty()
                    && part != ".."
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+'))
            });
        shaped
            && std::path::Path::new("/usr/share/zoneinfo")
                .join(word)
                .is_file()
    }

    fn day_index(name: &str) -> Option<usize> {
        DAYS.iter()
            .position(|day| day.eq_ignore_ascii_case(name) || day[..3].eq_ignore_ascii_case(name))
    }

    /// `Mon`, `Mon,Fri`, `Mon..Fri`, `Mon-Fri` (systemd lets a list end with a comma).
    fn weekdays(word: &str) -> bool {
        let list = word.strip_suffix(',').unwrap_or(word);
        list.split(',').all(|item| {
            let range = item.split_once("..").or_else(|| item.split_once('-'));
            match range {
                Some((from, to)) => day_index(from)
                    .zip(day_index(to))
                    .is_some_and(|(a, b)| a <= b),
                None => day_index(item).is_some(),
            }
        })
    }

    /// `[YEAR-]MONTH-DAY`, the last separator `~` to count days from the month's end.
    fn date(word: &str) -> bool {
        let Some(split) = word.rfind(['-', '~']) else {
            return false;
        };
        let (head, day) = (&word[..split], &word[split + 1..]);
        let (year, month) = match head.split_once('-') {
            Some((year, month)) => (Some(year), month),
            None => (None, head),
        };
        year.is_none_or(|y| chain(y, 0, 2199, |v| v <= 99 || v >= 1970))
            && chain(month, 1, 12, |_| true)
            && chain(day, 1, 31, |_| true)
    }

    /// `HOUR:MINUTE[:SECOND]`; seconds may have a fraction.
    fn time(word: &str) -> bool {
        let parts: Vec<&str> = word.split(':').collect();
        match parts.as_slice() {
            [hour, minute] => chain(hour, 0, 23, |_| true) && chain(minute, 0, 59, |_| true),
            [hour, minute, second] => {
                chain(hour, 0, 23, |_| true)
                    && chain(minute, 0, 59, |_| true)
                    && chain(&without_fractions(second), 0, 59, |_| true)
            }
            _ => false,
        }
    }

    /// Seconds as their whole part (`05.25` is second 5): each number of the chain loses
    /// a `.digits` tail.
    fn without_fractions(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '.' && chars.peek().is_some_and(char::is_ascii_digit) && !out.ends_with('.') {
                while chars.peek().is_some_and(char::is_ascii_digit) {
                    chars.next();
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    /// `*`, `N`, `N..M`, each with an optional `/STEP` (STEP > 0), joined by `,`; every
    /// number from `min` to `max` and passing `allowed`.
    fn chain(text: &str, min: u32, max: u32, allowed: impl Fn(u32) -> bool) -> bool {
        let number = |t: &str| -> Option<u32> {
            (!t.is_empty() && t.len() <= 4 && t.bytes().all(|b| b.is_ascii_digit()))
                .then(|| t.parse().ok())
                .flatten()
                .filter(|v| (min..=max).contains(v) && allowed(*v))
        };
        text.split(',').all(|item| {
            let (base, step) = match item.split_once('/') {
                Some((base, step)) => (base, Some(step)),
                None => (item, None),
            };
            let step_ok = step.is_none_or(|s| {
                !s.is_empty()
                    && s.bytes().all(|b| b.is_ascii_digit())
                    && s.parse::<u32>().is_ok_and(|v| v > 0)
            });
            let base_ok = base == "*"
                || match base.split_once("..") {
                    Some((from, to)) => number(from).zip(number(to)).is_some_and(|(a, b)| a <= b),
                    None => number(base).is_some(),
                };
            step_ok && base_ok
        })
    }
}

/// The name of an extra client certificate: its common name and its file name in
/// `<tls.dir>/clients/`.
pub fn client_name(value: &str) -> Result<(), Invalid> {
    let ok = (1..=64).contains(&value.len())
        && value
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !ok {
        return Err(invalid(
            format!("{value:?} is not a client certificate name"),
            "use 1 to 64 letters, digits, `-`, `_` and `.`, starting with a letter or digit (it is the certificate's CN and its file name)",
        ));
    }
    if value == "etcdctl" {
        return Err(invalid(
            "etcdctl is the client certificate kindling always issues",
            "give this client another name",
        ));
    }
    Ok(())
}

/// An X.509 organisation (`O=`): printable, at most 64 characters (its upper bound).
pub fn organization(value: &str) -> Result<(), Invalid> {
    if (1..=64).contains(&value.chars().count()) && !value.chars().any(char::is_control) {
        return Ok(());
    }
    Err(invalid(
        format!("{value:?} cannot be a certificate organisation"),
        "use 1 to 64 printable characters, e.g. system:masters",
    ))
}

/// A network interface name for networkd's `Name=` match: a kernel name (at most 15
/// characters, none of them `/`, `:` or white space) or a glob such as `en*` or `eth[01]`.
pub fn interface_name(value: &str) -> Result<(), Invalid> {
    let glob = value.contains(['*', '?', '[']);
    let ok = !value.is_empty()
        && (glob || value.len() <= 15)
        && value != "."
        && value != ".."
        && value.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'_' | b'.' | b'*' | b'?' | b'[' | b']' | b'!')
        });
    if ok {
        return Ok(());
    }
    Err(invalid(
        format!("{value:?} is not a network interface name"),
        "write the kernel's name for the interface (eth0, enp1s0, at most 15 characters) or a glob such as en*",
    ))
}

/// One kernel command-line argument: printable, no spaces or quotes, and nothing iPXE
/// would read as an operator or expansion (Matchbox joins the arguments into the iPXE
/// `kernel` line: `||`, `&&`, `${...}`).
pub fn kernel_arg(value: &str) -> Result<(), Invalid> {
    let ok = !value.is_empty()
        && value.chars().all(|c| {
            c.is_ascii_graphic()
                && !matches!(
                    c,
                    '"' | '\'' | '\\' | '%' | '$' | '|' | '&' | ';' | '{' | '}' | '<' | '>' | '`'
                )
        });
    if ok {
        return Ok(());
    }
    Err(invalid(
        format!("kernel argument {value:?} is not one plain word"),
        "give each argument as its own list item, without spaces, quotes or the iPXE characters $ | & ; { } < >",
    ))
}

/// A mode for files that hold private keys: readable by the owner, at most also by the
/// group, never writable or executable by anyone but the owner, no special bits (0600,
/// 0400, 0640 or 0440).
pub fn key_file_mode(value: &str) -> Result<u32, Invalid> {
    let mode = octal_mode(value)?;
    if mode & !0o640 != 0 || mode & 0o400 == 0 {
        return Err(invalid(
            format!("mode {value} would let others read or change a file that holds private keys"),
            "use 0600 (or 0640 to let the owner's group read it)",
        ));
    }
    Ok(mode)
}

fn shorten(value: &str) -> String {
    value.chars().take(24).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Go's time.ParseDuration says of each (checked against Go's own documentation
    /// and tests: "1h30m", "1.5h", ".5s", "-1h" parse; "1y", "1", "", "-", "1.h.5" do not).
    #[test]
    fn go_durations_parse_as_go_parses_them() {
        assert_eq!(go_duration_nanos("0"), Some(0));
        assert_eq!(go_duration_nanos("1h30m"), Some(5_400_000_000_000));
        assert_eq!(go_duration_nanos("1.5h"), Some(5_400_000_000_000));
        assert_eq!(go_duration_nanos(".5s"), Some(500_000_000));
        assert_eq!(go_duration_nanos("5."), None);
        assert_eq!(go_duration_nanos("5.s"), Some(5_000_000_000));
        assert_eq!(go_duration_nanos("-1h"), Some(-3_600_000_000_000));
        assert_eq!(go_duration_nanos("+30m"), Some(1_800_000_000_000));
        assert_eq!(go_duration_nanos("1\u{b5}s"), Some(1_000));
        for bad in ["1y", "1", "", "-", "h", "1.h.5", "abc", "1 h", "2562048h"] {
            assert_eq!(go_duration_nanos(bad), None, "{bad}");
        }
    }

    /// bad-input-2/10: what etcd refuses, and "1h" in revision mode.
    #[test]
    fn compaction_retention_follows_etcd() {
        for ok in ["1", "0", "72", "30m", "1h30m"] {
            assert!(compaction_retention("periodic", ok).is_ok(), "{ok}");
        }
        for bad in ["1y", "-1", "abc", "-1h", ""] {
            assert!(compaction_retention("periodic", bad).is_err(), "{bad}");
        }
        assert!(compaction_retention("revision", "10000").is_ok());
        assert!(compaction_retention("revision", "1h").is_err());
    }

    #[test]
    fn dns_labels() {
        assert!(dns_label("node", "etcd-1").is_ok());
        for bad in [
            "",
            "Etcd1",
            "-a",
            "a-",
            "a_b",
            "a.b",
            "a\nb",
            &"a".repeat(64),
        ] {
            assert!(dns_label("node", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn macs_are_normalised() {
        assert_eq!(mac("52-54-00-AA-bb-11").unwrap(), "52:54:00:aa:bb:11");
        for bad in [
            "52:54:00:aa:bb",
            "52:54:00:aa:bb:1g",
            "525400aabb11",
            "52:54:00:aa:bb:11:22",
        ] {
            assert!(mac(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn base_urls() {
        assert_eq!(
            http_base_url("http://m:8080/assets/ext/").unwrap(),
            "http://m:8080/assets/ext"
        );
        for bad in [
            "ftp://m/x",
            "http://m/x?y=1",
            "m/x",
            "http://m/x#f",
            "http://m/a b",
        ] {
            assert!(http_base_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn containerd_names_spell_out_the_registry_and_prefer_the_digest() {
        let digest = "0".repeat(64);
        let name = |text: &str| container_image(text).unwrap().containerd_name();
        assert_eq!(
            name(&format!("registry.k8s.io/etcd:3.5.21-0@sha256:{digest}")),
            format!("registry.k8s.io/etcd@sha256:{digest}")
        );
        assert_eq!(
            name("quay.io/coreos/etcd:v3.5.21"),
            "quay.io/coreos/etcd:v3.5.21"
        );
        assert_eq!(name("bitnami/etcd:3.5.21"), "docker.io/bitnami/etcd:3.5.21");
        assert_eq!(name("etcd"), "docker.io/library/etcd:latest");
        assert_eq!(
            name("localhost:5000/etcd:v3.5.21"),
            "localhost:5000/etcd:v3.5.21"
        );
    }

    #[test]
    fn etcd_versions() {
        assert_eq!(etcd_version("v3.5.21").unwrap(), (5, 21));
        for bad in [
            "3.5.21",
            "v3.5",
            "v2.3.8",
            "v3.7.0",
            "v3.5.x",
            "v3.5.21-rc.1",
        ] {
            assert!(etcd_version(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn env_values_cannot_inject_lines() {
        assert!(env_value("info").is_ok());
        for bad in ["a\nETCD_X=1", "a\r", "\"q\"", "a\\b", "$HOME", "a\u{7f}"] {
            assert!(env_value(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn modes_are_octal_and_never_ambiguous() {
        assert_eq!(octal_mode("0644").unwrap(), 0o644);
        assert_eq!(octal_mode("0o600").unwrap(), 0o600);
        assert_eq!(octal_mode("00").unwrap(), 0);
        for bad in ["644", "420", "0o8", "0999", "017777", "0x1a4", ""] {
            assert!(octal_mode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ssh_keys() {
        assert!(ssh_public_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGm admin").is_ok());
        for bad in [
            "ssh-ed25519",
            "hello world AAAAAAAAAAAAAAAAAAAA",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGm\nx",
        ] {
            assert!(ssh_public_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn image_references_split_and_refuse_what_a_unit_cannot_hold() {
        let digest = "a".repeat(64);
        let pinned = format!("gcr.io/etcd-development/etcd:v3.5.21@sha256:{digest}");
        let parsed = container_image(&pinned).unwrap();
        assert_eq!(parsed.name, "gcr.io/etcd-development/etcd");
        assert_eq!(parsed.tag, Some("v3.5.21"));
        assert_eq!(parsed.digest, Some(digest.as_str()));
        let port = container_image("localhost:5000/etcd:3.5.21-0").unwrap();
        assert_eq!(
            (port.name, port.tag, port.digest),
            ("localhost:5000/etcd", Some("3.5.21-0"), None)
        );
        for bad in [
            "",
            "Etcd:v3",
            "etcd:v3 --privileged",
            "etcd:v3\nExecStart=/bin/sh",
            "etcd@sha256:abc",
            "etcd@md5:0123",
            "etcd:$(id)",
        ] {
            assert!(container_image(bad).is_err(), "{bad:?}");
        }
    }
}
