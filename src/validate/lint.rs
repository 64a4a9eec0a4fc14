//! kindling's own rules, stricter than Ignition's validator: things Ignition accepts that
//! then fail (or quietly do nothing) at boot. Each has its own code. Only inline contents
//! that Ignition cannot write are errors; the rest are warnings, and the ones that depend on
//! what an OS ships (its units, targets and trees) run only for a named `Os`.

use crate::json::Lookup;
use std::collections::BTreeSet;

use serde_json::Value;

use super::{Os, Parsed, array, finding, text, warning};
use crate::diag::Diagnostic;
use crate::ignition::{ContentHasher, INFLATE_LIMIT, InflateError, gunzip_into};

/// Runs every lint over a config; the OS-specific ones only when `os` is given.
pub(crate) fn check(config: &Value, os: Option<Os>, parsed: &Parsed) -> Vec<Diagnostic> {
    let mut findings = Vec::new();
    check_inline_contents(config, parsed, &mut findings);
    check_unit_contents(config, os, parsed, &mut findings);
    if let Some(os) = os {
        check_dropin_units(config, os, &mut findings);
        check_link_targets(config, &mut findings);
    }
    findings
}

/// Inline (`data:`) file contents: gzip that must decompress, a hash that must match what
/// Ignition will write, and private keys that must not be readable by others.
fn check_inline_contents(config: &Value, parsed: &Parsed, findings: &mut Vec<Diagnostic>) {
    for (index, file) in array(config, "/storage/files").iter().enumerate() {
        let at = |field: &str| format!("$.storage.files.{index}.{field}");
        let Some(contents) = file.member("contents") else {
            continue;
        };
        let source = text(contents, "source");
        let decoded = parsed.decode(source);
        let Ok(raw) = decoded.as_ref() else {
            continue;
        };
        let hash = contents.at("/verification/hash").and_then(Value::as_str);
        let mode = file.member("mode").and_then(Value::as_u64).unwrap_or(0o644);
        let readable_by_others = mode & 0o077 != 0;
        let gzip = text(contents, "compression") == "gzip";
        let mut inspected = Inspected::new(hash, readable_by_others && gzip);
        if gzip {
            match gunzip_into(raw, INFLATE_LIMIT, &mut inspected) {
                Ok(_) => {}
                Err(InflateError::Corrupt(_)) => {
                    findings.push(finding(
                        "ign.gzip",
                        at("contents.compression"),
                        "contents claim gzip but do not decompress",
                    ));
                    continue;
                }
                Err(too_large @ InflateError::TooLarge { .. }) => {
                    findings.push(warning(
                        "ign.gzip-unchecked",
                        at("contents.compression"),
                        format!("the contents were not checked to the end: {too_large}"),
                    ));
                    continue;
                }
            }
        } else {
            inspected.absorb(raw);
        }
        if let (Some(hash), Some(hasher)) = (hash, inspected.hasher) {
            let actual = hasher.finish();
            if !actual.eq_ignore_ascii_case(hash) {
                findings.push(finding(
                    "ign.data-hash-mismatch",
                    at("contents.verification.hash"),
                    format!("the inline contents hash to {actual}; Ignition will refuse the file"),
                ));
            }
        }
        if !readable_by_others {
            continue;
        }
        // The inflated start of gzip contents, or plain contents where they are.
        let head = inspected
            .head
            .as_deref()
            .unwrap_or(&raw[..HEAD.min(raw.len())]);
        if looks_like_private_key(head) {
            findings.push(warning(
                "ign.private-key-mode",
                at("mode"),
                format!("a private key in a file of mode 0{mode:o}, readable by group or others"),
            ));
        }
    }
}

/// How much of a file's start is kept to look for a private key.
const HEAD: usize = 1 << 20;

/// Inline contents seen once, as they stream past: hashed when a hash is given, and their
/// start kept when asked (gzip contents a private key could hide in; plain contents are
/// searched where they are). Nothing else is held, however large they inflate.
struct Inspected {
    hasher: Option<ContentHasher>,
    head: Option<Vec<u8>>,
}

impl Inspected {
    fn new(hash: Option<&str>, keep_head: bool) -> Self {
        Inspected {
            hasher: hash.and_then(ContentHasher::for_hash),
            head: keep_head.then(Vec::new),
        }
    }

    fn absorb(&mut self, bytes: &[u8]) {
        if let Some(hasher) = &mut self.hasher {
            hasher.update(bytes);
        }
        if let Some(head) = &mut self.head {
            let room = HEAD.saturating_sub(head.len());
            head.extend_from_slice(&bytes[..room.min(bytes.len())]);
        }
    }
}

impl std::io::Write for Inspected {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.absorb(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether a line of `bytes` starts `-----BEGIN ` and ends `PRIVATE KEY-----` (lines end at
/// `\n` or `\r\n`, as `str::lines` has them). The line ending is searched for first, so a
/// large file without a key is passed over at memory speed.
fn looks_like_private_key(bytes: &[u8]) -> bool {
    const BEGIN: &[u8] = b"-----BEGIN ";
    const END: &[u8] = b"PRIVATE KEY-----";
    memchr::memmem::find_iter(bytes, END).any(|at| {
        let end = at + END.len();
        let ends_line = matches!(bytes[end..], [] | [b'\n', ..] | [b'\r', b'\n', ..]);
        let start = memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |newline| newline + 1);
        ends_line && bytes[start..end].starts_with(BEGIN)
    })
}

/// Sections systemd knows in unit files and drop-ins.
const SECTIONS: [&str; 11] = [
    "Unit",
    "Install",
    "Service",
    "Socket",
    "Mount",
    "Automount",
    "Swap",
    "Path",
    "Timer",
    "Slice",
    "Scope",
];

/// Targets (and other units) an `[Install]` section may hook into on Flatcar and Fedora
/// CoreOS alike.
const OS_TARGETS: [&str; 22] = [
    "multi-user.target",
    "default.target",
    "graphical.target",
    "basic.target",
    "sysinit.target",
    "network.target",
    "network-online.target",
    "network-pre.target",
    "timers.target",
    "sockets.target",
    "paths.target",
    "local-fs.target",
    "remote-fs.target",
    "swap.target",
    "getty.target",
    "machines.target",
    "cryptsetup.target",
    "emergency.target",
    "rescue.target",
    "shutdown.target",
    "ignition-complete.target",
    "sysinit-reboot.target",
];

/// Settings whose value is a command line: systemd takes an absolute path or a bare name it
/// looks up in its search path, and refuses a relative path with a slash.
const EXEC_KEYS: [&str; 8] = [
    "ExecStart",
    "ExecStartPre",
    "ExecStartPost",
    "ExecStop",
    "ExecStopPost",
    "ExecReload",
    "ExecCondition",
    "ExecPaths",
];

fn configured_units(config: &Value) -> BTreeSet<&str> {
    array(config, "/systemd/units")
        .iter()
        .map(|u| text(u, "name"))
        .collect()
}

fn check_unit_contents(
    config: &Value,
    os: Option<Os>,
    parsed: &Parsed,
    findings: &mut Vec<Diagnostic>,
) {
    let units = configured_units(config);
    let context = UnitContext {
        units: &units,
        os,
        parsed,
    };
    for (index, unit) in array(config, "/systemd/units").iter().enumerate() {
        let at = format!("$.systemd.units.{index}");
        if let Some(contents) = unit.member("contents").and_then(Value::as_str) {
            check_unit_text(contents, &format!("{at}.contents"), &context, findings);
        }
        for (dropin_index, dropin) in array(unit, "/dropins").iter().enumerate() {
            if let Some(contents) = dropin.member("contents").and_then(Value::as_str) {
                check_unit_text(
                    contents,
                    &format!("{at}.dropins.{dropin_index}.contents"),
                    &context,
                    findings,
                );
            }
        }
    }
}

/// What a unit's text is checked against: the units the config defines, and the OS; and
/// where its parse, shared with the rules, is kept.
struct UnitContext<'a, 'known> {
    units: &'a BTreeSet<&'a str>,
    os: Option<Os>,
    parsed: &'a Parsed<'known>,
}

fn check_unit_text(
    contents: &str,
    at: &str,
    context: &UnitContext,
    findings: &mut Vec<Diagnostic>,
) {
    let sections = context.parsed.unit_sections(contents);
    let Ok(sections) = sections.as_ref() else {
        return; // ign.unit-syntax already reports it
    };
    for section in sections
        .iter()
        .filter(|s| !SECTIONS.contains(&s.as_str()) && !s.starts_with("X-"))
    {
        findings.push(warning(
            "ign.unit-section",
            at.to_string(),
            format!("[{section}] is not a section systemd knows (custom sections start with X-)"),
        ));
    }
    let mut section = "";
    for line in contents.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name;
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if EXEC_KEYS.contains(&key) {
            let command = value.trim_start_matches(['-', '@', ':', '+', '!', '|']);
            let binary = command.split_whitespace().next().unwrap_or("");
            if binary.contains('/') && !binary.starts_with('/') {
                findings.push(warning(
                    "ign.unit-exec-path",
                    at.to_string(),
                    format!("{key}={value}: systemd refuses {binary:?}, a relative path (write it absolute, or a bare name from its search path)"),
                ));
            }
        }
        let install = section == "Install" && matches!(key, "WantedBy" | "RequiredBy" | "UpheldBy");
        if let (true, Some(os)) = (install, context.os) {
            for target in value
                .split_whitespace()
                .filter(|t| !OS_TARGETS.contains(t) && !context.units.contains(t))
            {
                findings.push(warning("ign.unit-install-target", at.to_string(), format!("{key}={target}: no such unit on {} or in this config, so enabling does nothing", os_name(os))));
            }
        }
    }
}

fn os_name(os: Os) -> &'static str {
    match os {
        Os::Flatcar => "Flatcar",
        Os::Fcos => "Fedora CoreOS",
    }
}

/// Units the OS ships that a drop-in may reasonably extend.
fn is_standard_unit(name: &str, os: Os) -> bool {
    const FLATCAR: [&str; 4] = [
        "etcd-member.service",
        "flanneld.service",
        "update-engine.service",
        "locksmithd.service",
    ];
    const FCOS: [&str; 6] = [
        "zincati.service",
        "rpm-ostreed.service",
        "rpm-ostree-countme.service",
        "podman.service",
        "NetworkManager.service",
        "afterburn.service",
    ];
    let shipped_here = match os {
        Os::Flatcar => FLATCAR.contains(&name),
        Os::Fcos => FCOS.contains(&name) || name.starts_with("coreos-"),
    };
    const SHIPPED: [&str; 12] = [
        "docker.service",
        "docker.socket",
        "containerd.service",
        "sshd.service",
        "sshd.socket",
        "chronyd.service",
        "ntpd.service",
        "getty@.service",
        "serial-getty@.service",
        "user@.service",
        "dbus.service",
        "polkit.service",
    ];
    shipped_here
        || name.starts_with("systemd-")
        || name.starts_with("ignition-")
        || name.ends_with(".target")
        || SHIPPED.contains(&name)
        || name.starts_with("getty@")
        || name.starts_with("serial-getty@")
}

/// Units the Flatcar sysext bakery's images ship, by extension name: a config that installs
/// the image (a file or link `/etc/extensions/<name>.raw`) may drop into them.
const EXTENSION_UNITS: [(&str, &str); 1] = [("kubernetes", "kubelet.service")];

fn shipped_by_an_installed_extension(config: &Value, unit: &str) -> bool {
    EXTENSION_UNITS
        .iter()
        .filter(|(_, shipped)| *shipped == unit)
        .any(|(extension, _)| {
            let installed = format!("/etc/extensions/{extension}.raw");
            ["files", "links"]
                .iter()
                .flat_map(|list| array(config, &format!("/storage/{list}")))
                .any(|node| text(node, "path") == installed)
        })
}

fn check_dropin_units(config: &Value, os: Os, findings: &mut Vec<Diagnostic>) {
    for (index, unit) in array(config, "/systemd/units").iter().enumerate() {
        let name = text(unit, "name");
        let has_contents = unit.member("contents").is_some_and(|c| !c.is_null());
        if !array(unit, "/dropins").is_empty()
            && !has_contents
            && !is_standard_unit(name, os)
            && !shipped_by_an_installed_extension(config, name)
        {
            findings.push(warning(
                "ign.dropin-unknown-unit",
                format!("$.systemd.units.{index}.name"),
                format!(
                    "drop-ins for {name}, a unit neither configured here nor shipped by {}",
                    os_name(os)
                ),
            ));
        }
    }
}

/// Where a link may point without kindling knowing the target: the OS's own trees.
const STANDARD_PREFIXES: [&str; 9] = [
    "/usr/", "/dev/", "/proc/", "/sys/", "/run/", "/bin/", "/sbin/", "/lib/", "/lib64/",
];

fn check_link_targets(config: &Value, findings: &mut Vec<Diagnostic>) {
    let configured: BTreeSet<&str> = ["files", "directories", "links"]
        .iter()
        .flat_map(|list| array(config, &format!("/storage/{list}")))
        .map(|node| text(node, "path"))
        .collect();
    for (index, link) in array(config, "/storage/links").iter().enumerate() {
        let target = text(link, "target");
        if !target.starts_with('/') {
            continue; // relative targets resolve on the node; an empty one is a rule's
        }
        let absolute = resolve_target(text(link, "path"), target);
        let known = configured.contains(absolute.as_str())
            || STANDARD_PREFIXES.iter().any(|p| absolute.starts_with(p))
            || absolute == "/dev/null";
        if !known {
            findings.push(warning(
                "ign.link-target-unknown",
                format!("$.storage.links.{index}.target"),
                format!(
                    "{target} is neither configured here nor under an OS path ({})",
                    STANDARD_PREFIXES.join(" ")
                ),
            ));
        }
    }
}

/// The absolute, clean path a link target names (relative targets start at the link's
/// directory).
fn resolve_target(link: &str, target: &str) -> String {
    let base = if target.starts_with('/') {
        String::new()
    } else {
        link.rsplit_once('/')
            .map_or(String::new(), |(dir, _)| dir.to_string())
    };
    clean_path(&format!("{base}/{target}"))
}

/// Go's `path.Clean` for an absolute path: no empty or `.` parts, `..` applied, no
/// trailing slash.
pub(crate) fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition of a private key's first line, spelled the slow way: any line, as
    /// `str::lines` splits them.
    fn by_lines(bytes: &[u8]) -> bool {
        String::from_utf8_lossy(bytes)
            .lines()
            .any(|l| l.starts_with("-----BEGIN ") && l.ends_with("PRIVATE KEY-----"))
    }

    proptest::proptest! {
        #[test]
        fn the_private_key_search_agrees_with_the_definition(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    &b"-----BEGIN "[..], b"PRIVATE KEY-----", b"RSA ", b"\n", b"\r", b"-", b" ",
                    b"x", b"\xff",
                ]),
                0..12,
            )
        ) {
            let bytes = pieces.concat();
            proptest::prop_assert_eq!(looks_like_private_key(&bytes), by_lines(&bytes));
        }
    }

    #[test]
    fn a_private_key_is_a_begin_line_ending_private_key() {
        let cases: [&[u8]; 14] = [
            b"-----BEGIN PRIVATE KEY-----\nMIG\n",
            b"-----BEGIN EC PRIVATE KEY-----",
            b"x\r\n-----BEGIN RSA PRIVATE KEY-----\r\nMII",
            b"-----BEGIN CERTIFICATE-----\n",
            b"-----BEGIN PRIVATE KEY----- \n",
            b" -----BEGIN PRIVATE KEY-----\n",
            b"-----BEGIN PRIVATE KEY-----\r",
            b"-----BEGIN PRIVATE KEY-----\rx\n",
            b"-----BEGIN \xff PRIVATE KEY-----\n",
            b"\xff\n-----BEGIN PRIVATE KEY-----",
            b"PRIVATE KEY-----\n-----BEGIN \n",
            b"-----BEGIN PRIVATE KEY-----PRIVATE KEY-----\n",
            b"-----BEGINPRIVATE KEY-----",
            b"",
        ];
        for bytes in cases {
            assert_eq!(
                looks_like_private_key(bytes),
                by_lines(bytes),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        assert!(looks_like_private_key(cases[2]));
        assert!(!looks_like_private_key(cases[3]));
    }

    #[test]
    fn relative_link_targets_resolve_from_the_link_directory() {
        assert_eq!(resolve_target("/etc/a/link", "../b/c"), "/etc/b/c");
        assert_eq!(resolve_target("/etc/link", "/usr/bin/x"), "/usr/bin/x");
        assert_eq!(resolve_target("/etc/link", "./x"), "/etc/x");
    }

    #[test]
    fn a_dropin_for_an_unknown_unit_is_flagged_unless_an_installed_extension_ships_it() {
        let mut config = serde_json::json!({
            "systemd": { "units": [{ "name": "kubelet.service", "dropins": [{ "name": "a.conf" }] }] }
        });
        let mut findings = Vec::new();
        check_dropin_units(&config, Os::Flatcar, &mut findings);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].code, "ign.dropin-unknown-unit");
        // Another extension does not ship the kubelet.
        config["storage"] = serde_json::json!({
            "links": [{ "path": "/etc/extensions/etcd.raw", "target": "/opt/e.raw" }]
        });
        findings.clear();
        check_dropin_units(&config, Os::Flatcar, &mut findings);
        assert_eq!(findings.len(), 1);
        config["storage"] = serde_json::json!({
            "links": [{ "path": "/etc/extensions/kubernetes.raw", "target": "/opt/k.raw" }]
        });
        findings.clear();
        check_dropin_units(&config, Os::Flatcar, &mut findings);
        assert!(findings.is_empty());
    }
}
