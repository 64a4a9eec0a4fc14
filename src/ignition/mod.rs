//! The Ignition side: spec versions, the typed output model, and `assemble`, which turns a
//! node's rendered entries into one config. Data URLs, sorting and serialization live here
//! and nowhere else; JSON is never built from strings.

pub mod dataurl;
pub mod merge;
pub mod model;

use std::collections::BTreeMap;

use crate::diag::{Diagnostic, Location, Report};
use model::{
    Config, Directory, Dropin, File, IgnitionSection, Link, NodeOwner, Passwd, Resource, Storage,
    Systemd, Unit, User, Verification,
};

/// Ignition config spec versions kindling knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SpecVersion {
    V3_0,
    V3_1,
    V3_2,
    V3_3,
    V3_4,
    V3_5,
}

impl SpecVersion {
    pub const ALL: [SpecVersion; 6] = [
        Self::V3_0,
        Self::V3_1,
        Self::V3_2,
        Self::V3_3,
        Self::V3_4,
        Self::V3_5,
    ];

    /// The version's place in `ALL`, for tables indexed by version.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == text)
    }

    /// The versions kindling renders configs in (`cluster.ignition`, `render --ignition`,
    /// the Terraform query's `ignition`): what current and older Flatcar releases boot.
    pub const RENDERED: [SpecVersion; 2] = [Self::V3_4, Self::V3_3];

    /// `text` when it names a version kindling renders.
    pub fn parse_rendered(text: &str) -> Option<Self> {
        Self::RENDERED.into_iter().find(|v| v.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::V3_0 => "3.0.0",
            Self::V3_1 => "3.1.0",
            Self::V3_2 => "3.2.0",
            Self::V3_3 => "3.3.0",
            Self::V3_4 => "3.4.0",
            Self::V3_5 => "3.5.0",
        }
    }
}

/// The most kindling inflates of one inline file's gzip contents: validation streams them
/// through the hash (memory stays small, the cap bounds the time a gzip bomb takes), and
/// `materialize` holds at most this much of one file.
pub const INFLATE_LIMIT: u64 = 256 << 20;

/// Why gzip contents could not be inflated.
#[derive(Debug)]
pub enum InflateError {
    /// Not gzip, truncated, or followed by bytes that are not another gzip member.
    Corrupt(std::io::Error),
    /// More than the limit once inflated.
    TooLarge { limit: u64 },
}

impl std::fmt::Display for InflateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InflateError::Corrupt(error) => write!(f, "{error}"),
            InflateError::TooLarge { limit } => write!(
                f,
                "they inflate to more than {}, kindling's limit",
                crate::read::size(*limit)
            ),
        }
    }
}

/// Undoes `compression: gzip` into `sink`, every member of a multi-member stream included
/// (as Go's reader does), stopping once more than `limit` bytes came out. Returns how
/// many bytes were inflated.
pub fn gunzip_into(
    bytes: &[u8],
    limit: u64,
    sink: &mut impl std::io::Write,
) -> Result<u64, InflateError> {
    let decoder = flate2::read::MultiGzDecoder::new(bytes);
    let copied = std::io::copy(
        &mut std::io::Read::take(decoder, limit.saturating_add(1)),
        sink,
    )
    .map_err(InflateError::Corrupt)?;
    if copied > limit {
        return Err(InflateError::TooLarge { limit });
    }
    Ok(copied)
}

/// Undoes `compression: gzip` into memory, at most `limit` bytes.
pub fn gunzip(bytes: &[u8], limit: u64) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::new();
    gunzip_into(bytes, limit, &mut out)?;
    Ok(out)
}

/// A running digest in the form of a verification hash (`sha256-<hex>`, `sha512-<hex>`).
pub enum ContentHasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl ContentHasher {
    /// The hasher for the function `hash` names; None for another (the validator refuses those).
    pub fn for_hash(hash: &str) -> Option<Self> {
        use sha2::Digest;
        match hash.split_once('-')?.0 {
            "sha256" => Some(Self::Sha256(sha2::Sha256::new())),
            "sha512" => Some(Self::Sha512(sha2::Sha512::new())),
            _ => None,
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        use sha2::Digest;
        match self {
            Self::Sha256(hasher) => hasher.update(bytes),
            Self::Sha512(hasher) => hasher.update(bytes),
        }
    }

    /// `sha256-<hex>` or `sha512-<hex>`.
    pub fn finish(self) -> String {
        use sha2::Digest;
        match self {
            Self::Sha256(hasher) => format!("sha256-{}", hex::encode(hasher.finalize())),
            Self::Sha512(hasher) => format!("sha512-{}", hex::encode(hasher.finalize())),
        }
    }
}

/// The digest of `bytes` in the form of `hash` (`sha256-<hex>` or `sha512-<hex>`), to compare
/// with it; None for another function (the validator refuses those).
pub fn content_hash(hash: &str, bytes: &[u8]) -> Option<String> {
    let mut hasher = ContentHasher::for_hash(hash)?;
    hasher.update(bytes);
    Some(hasher.finish())
}

/// Who owns a node on disk (numeric ids: Flatcar's etcd user is 232:232).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Owner {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// What a file holds.
#[derive(Clone, Debug)]
pub enum Contents {
    /// Text written inline as a data URL.
    Inline(String),
    /// Fetched by Ignition at boot, checked against `hash` (`sha256-<hex>`) when given.
    Remote { url: String, hash: Option<String> },
}

/// One thing a profile asks to put on the node, with where in the profile it came from.
#[derive(Clone, Debug)]
pub struct Entry {
    pub origin: String,
    pub kind: EntryKind,
}

#[derive(Clone, Debug)]
pub enum EntryKind {
    /// A file, directory or link: they share one namespace keyed by path.
    Node(NodeEntry),
    Unit {
        name: String,
        enabled: Option<bool>,
        mask: Option<bool>,
        contents: Option<String>,
        dropins: Vec<(String, String)>,
    },
    User {
        name: String,
        ssh_authorized_keys: Vec<String>,
    },
}

#[derive(Clone, Debug)]
pub enum NodeEntry {
    Directory {
        path: String,
        mode: u32,
        owner: Owner,
    },
    File {
        path: String,
        mode: u32,
        owner: Owner,
        overwrite: bool,
        contents: Contents,
    },
    Link {
        path: String,
        target: String,
        owner: Owner,
        overwrite: bool,
        hard: bool,
    },
}

/// A node's config plus, for every array element, the profile entry that produced it:
/// the provenance map that turns a finding at a JSON path back into its cause.
#[derive(Debug)]
pub struct Assembled {
    pub config: Config,
    pub provenance: BTreeMap<String, String>,
    /// The text each inline file was encoded from, by the file's index in
    /// `storage.files`: what its data URL decodes to, known without decoding it.
    inline_texts: Vec<(usize, String)>,
}

impl Assembled {
    /// The origin of the longest recorded prefix of a JSON path (`$.storage.files.3.mode`
    /// → the profile entry that made `$.storage.files.3`).
    pub fn origin_of(&self, path: &str) -> Option<&str> {
        let mut candidate = path;
        loop {
            if let Some(origin) = self.provenance.get(candidate) {
                return Some(origin);
            }
            candidate = &candidate[..candidate.rfind('.')?];
        }
    }

    /// Each inline file's data URL, with the bytes it was encoded from.
    pub fn data_urls(&self) -> Vec<(&str, &[u8])> {
        let files = self.config.storage.as_ref().map_or(&[][..], |s| &s.files);
        self.inline_texts
            .iter()
            .filter_map(|(index, text)| {
                let source = &files.get(*index)?.contents.as_ref()?.source;
                Some((source.as_str(), text.as_bytes()))
            })
            .collect()
    }
}

/// Builds a node's config from its entries. A path used twice (across files, directories
/// and links, which share one namespace) or a unit given twice is refused here. Inline
/// contents are encoded with the cluster's `shared` texts encoded once.
pub fn assemble(
    version: SpecVersion,
    entries: Vec<Entry>,
    shared: &dataurl::SharedTexts,
) -> Result<Assembled, Report> {
    let mut report = Report::default();
    let mut nodes: BTreeMap<String, (String, NodeItem)> = BTreeMap::new();
    let mut units: BTreeMap<String, (String, Unit)> = BTreeMap::new();
    let mut users: BTreeMap<String, (String, User)> = BTreeMap::new();
    for entry in entries {
        let origin = entry.origin;
        match entry.kind {
            EntryKind::Unit {
                name,
                enabled,
                mask,
                contents,
                dropins,
            } => {
                let dropins = dropins
                    .into_iter()
                    .map(|(name, contents)| Dropin {
                        name,
                        contents: Some(contents),
                    })
                    .collect();
                let unit = Unit {
                    name: name.clone(),
                    enabled,
                    mask,
                    contents,
                    dropins,
                };
                insert_unique(&mut units, name, origin, unit, "unit", &mut report);
            }
            EntryKind::User {
                name,
                ssh_authorized_keys,
            } => {
                let user = User {
                    name: name.clone(),
                    ssh_authorized_keys,
                };
                insert_unique(&mut users, name, origin, user, "user", &mut report);
            }
            EntryKind::Node(node) => {
                let (path, item) = node_item(node, shared);
                insert_unique(&mut nodes, path, origin, item, "path", &mut report);
            }
        }
    }
    if report.has_errors() {
        return Err(report);
    }
    Ok(build(version, nodes, units, users))
}

enum NodeItem {
    Directory(Directory),
    /// A file, and the text its inline contents were encoded from.
    File(File, Option<String>),
    Link(Link),
}

fn node_item(node: NodeEntry, shared: &dataurl::SharedTexts) -> (String, NodeItem) {
    match node {
        NodeEntry::Directory { path, mode, owner } => {
            let (user, group) = owners(owner);
            (
                path.clone(),
                NodeItem::Directory(Directory {
                    path,
                    overwrite: None,
                    user,
                    group,
                    mode: Some(mode),
                }),
            )
        }
        NodeEntry::File {
            path,
            mode,
            owner,
            overwrite,
            contents,
        } => {
            let (user, group) = owners(owner);
            let (contents, inline_text) = resource(contents, shared);
            (
                path.clone(),
                NodeItem::File(
                    File {
                        path,
                        overwrite: overwrite.then_some(true),
                        user,
                        group,
                        contents: Some(contents),
                        mode: Some(mode),
                    },
                    inline_text,
                ),
            )
        }
        NodeEntry::Link {
            path,
            target,
            owner,
            overwrite,
            hard,
        } => {
            let (user, group) = owners(owner);
            (
                path.clone(),
                NodeItem::Link(Link {
                    path,
                    overwrite: overwrite.then_some(true),
                    user,
                    group,
                    target,
                    hard: hard.then_some(true),
                }),
            )
        }
    }
}

fn owners(owner: Owner) -> (Option<NodeOwner>, Option<NodeOwner>) {
    (
        owner.uid.map(|id| NodeOwner { id }),
        owner.gid.map(|id| NodeOwner { id }),
    )
}

/// The resource of a file's contents, and for inline contents the text it encodes.
fn resource(contents: Contents, shared: &dataurl::SharedTexts) -> (Resource, Option<String>) {
    match contents {
        Contents::Inline(text) => (
            Resource {
                source: dataurl::encode_text(&text, shared),
                compression: None,
                verification: None,
            },
            Some(text),
        ),
        Contents::Remote { url, hash } => (
            Resource {
                source: url,
                compression: None,
                verification: hash.map(|hash| Verification { hash }),
            },
            None,
        ),
    }
}

fn insert_unique<T>(
    map: &mut BTreeMap<String, (String, T)>,
    key: String,
    origin: String,
    value: T,
    what: &str,
    report: &mut Report,
) {
    if let Some((first, _)) = map.get(&key) {
        report.push(
            Diagnostic::error(
                "assemble.duplicate",
                format!("{what} {key} is produced twice, by {origin}"),
                Location::Nowhere,
            )
            .with_help(format!(
                "it is already produced by {first}; a profile may write each {what} once"
            )),
        );
        return;
    }
    map.insert(key, (origin, value));
}

fn build(
    version: SpecVersion,
    nodes: BTreeMap<String, (String, NodeItem)>,
    units: BTreeMap<String, (String, Unit)>,
    users: BTreeMap<String, (String, User)>,
) -> Assembled {
    let mut provenance = BTreeMap::new();
    let mut storage = Storage::default();
    let mut inline_texts = Vec::new();
    for (_, (origin, item)) in nodes {
        let path = match item {
            NodeItem::Directory(d) => {
                push_traced(&mut storage.directories, d, "$.storage.directories")
            }
            NodeItem::File(f, inline_text) => {
                if let Some(text) = inline_text {
                    inline_texts.push((storage.files.len(), text));
                }
                push_traced(&mut storage.files, f, "$.storage.files")
            }
            NodeItem::Link(l) => push_traced(&mut storage.links, l, "$.storage.links"),
        };
        provenance.insert(path, origin);
    }
    let mut systemd = Systemd::default();
    for (_, (origin, unit)) in units {
        provenance.insert(
            push_traced(&mut systemd.units, unit, "$.systemd.units"),
            origin,
        );
    }
    let mut passwd = Passwd::default();
    for (_, (origin, user)) in users {
        provenance.insert(
            push_traced(&mut passwd.users, user, "$.passwd.users"),
            origin,
        );
    }
    let config = Config {
        ignition: IgnitionSection {
            version: version.as_str().to_string(),
        },
        passwd: (!passwd.users.is_empty()).then_some(passwd),
        storage: (!storage.is_empty()).then_some(storage),
        systemd: (!systemd.units.is_empty()).then_some(systemd),
    };
    Assembled {
        config,
        provenance,
        inline_texts,
    }
}

/// Appends and returns the JSON path of the new element.
fn push_traced<T>(list: &mut Vec<T>, item: T, list_path: &str) -> String {
    list.push(item);
    format!("{list_path}.{}", list.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, origin: &str) -> Entry {
        Entry {
            origin: origin.to_string(),
            kind: EntryKind::Node(NodeEntry::File {
                path: path.into(),
                mode: 0o644,
                owner: Owner::default(),
                overwrite: true,
                contents: Contents::Inline("x\n".into()),
            }),
        }
    }

    #[test]
    fn nodes_are_sorted_and_traced() {
        let entries = vec![file("/b", "second"), file("/a", "first")];
        let assembled = assemble(SpecVersion::V3_4, entries, &dataurl::SharedTexts::default())
            .expect("assembles");
        let files = &assembled.config.storage.as_ref().expect("storage").files;
        assert_eq!(files[0].path, "/a");
        assert_eq!(
            assembled.origin_of("$.storage.files.1.mode"),
            Some("second")
        );
        assert_eq!(assembled.origin_of("$.ignition.version"), None);
    }

    #[test]
    fn each_inline_files_url_is_paired_with_its_text() {
        let mut inline = file("/b", "inline");
        if let EntryKind::Node(NodeEntry::File { contents, .. }) = &mut inline.kind {
            *contents = Contents::Inline("b c\n".into());
        }
        let mut remote = file("/a", "remote");
        if let EntryKind::Node(NodeEntry::File { contents, .. }) = &mut remote.kind {
            *contents = Contents::Remote {
                url: "http://h/a".into(),
                hash: None,
            };
        }
        let entries = vec![inline, remote, file("/c", "third")];
        let assembled = assemble(SpecVersion::V3_4, entries, &dataurl::SharedTexts::default())
            .expect("assembles");
        assert_eq!(
            assembled.data_urls(),
            [
                ("data:,b%20c%0A", &b"b c\n"[..]),
                ("data:,x%0A", &b"x\n"[..])
            ]
        );
    }

    #[test]
    fn a_path_used_twice_is_refused() {
        let dir = Entry {
            origin: "dir entry".into(),
            kind: EntryKind::Node(NodeEntry::Directory {
                path: "/a".into(),
                mode: 0o755,
                owner: Owner::default(),
            }),
        };
        let report = assemble(
            SpecVersion::V3_4,
            vec![file("/a", "file entry"), dir],
            &dataurl::SharedTexts::default(),
        )
        .expect_err("duplicate");
        assert_eq!(report.diagnostics[0].code, "assemble.duplicate");
    }
}
