//! `kindling matchbox`: a Matchbox data directory for the cluster: per node a group
//! (selected by MAC), a profile (Flatcar PXE boot, or PXE install to disk) and the node's
//! Ignition config, plus `assets/extensions/` for systemd-sysupdate.
//!
//! Matchbox serves whatever is on disk, even a broken config, so the tree is never edited in
//! place: a copy is built beside it (unchanged files hard-linked, new files fresh), then the
//! two directories are swapped in one `renameat2(RENAME_EXCHANGE)`. Files of other clusters
//! are kept; this cluster's files from the previous run (listed in
//! `.kindling/<cluster>.files`) are replaced, so a removed node leaves nothing stale.

use crate::json::Lookup;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::diag::{Diagnostic, Location, Report};
use crate::ignition::{dataurl, model};
use crate::resolve::material::sha256_file;
use crate::resolve::{Cluster, MatchboxSettings, Node};
use crate::{Compiled, validate};

use super::tree::{self, Contents};

/// Where the tree goes and what to put in it beyond the configs.
#[derive(Debug, Clone)]
pub struct Options {
    pub dir: PathBuf,
    /// A directory holding the sysext images the spec references, copied (hard-linked when
    /// possible) into `assets/extensions/` with a `SHA256SUMS`.
    pub images: Option<PathBuf>,
    /// Mode of files holding private keys (the node configs).
    pub key_mode: u32,
}

/// One file of the tree: its path relative to the data directory.
struct TreeFile {
    path: String,
    contents: Contents,
    mode: u32,
    /// Owned by this cluster (listed in its manifest, removed when no longer produced).
    /// Images are shared between clusters and never removed.
    owned: bool,
    /// What produced it, for collision messages: `node etcd1`, `the cluster`.
    origin: String,
}

#[derive(Serialize)]
struct Group {
    id: String,
    name: String,
    profile: String,
    selector: std::collections::BTreeMap<&'static str, String>,
    metadata: GroupMetadata,
}

#[derive(Serialize)]
struct GroupMetadata {
    cluster: String,
    node: String,
}

#[derive(Serialize)]
struct Profile {
    id: String,
    name: String,
    ignition_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    boot: Option<Boot>,
}

#[derive(Serialize)]
struct Boot {
    kernel: String,
    initrd: Vec<String>,
    args: Vec<String>,
}

/// The transfer file nodes get, republished beside the images.
const TRANSFER_PATH: &str = "/etc/sysupdate.etcd.d/etcd.conf";
const EXTENSIONS: &str = "assets/extensions";
const MANIFESTS: &str = ".kindling";

/// Builds the cluster's part of the tree and swaps it in. Returns the paths written.
pub fn write(
    cluster: &Cluster,
    compiled: &Compiled,
    options: &Options,
) -> Result<tree::Replaced, Report> {
    let settings = cluster.matchbox.as_ref().ok_or_else(|| {
        Report::from(
            Diagnostic::error("matchbox.missing", "the spec has no `matchbox:` section", Location::Nowhere)
                .with_help("add matchbox: { url: http://matchbox.example.com:8080, version: … } (docs/spec.md#matchbox)"),
        )
    })?;
    let mut files = node_files(cluster, settings, compiled, options.key_mode)?;
    files.extend(extension_files(cluster, compiled, options)?);
    files.extend(monitoring_files(cluster, compiled));
    replace_tree(&options.dir, &cluster.name, files, options.images.is_some())
}

fn node_files(
    cluster: &Cluster,
    settings: &MatchboxSettings,
    compiled: &Compiled,
    key_mode: u32,
) -> Result<Vec<TreeFile>, Report> {
    let mut report = Report::default();
    let mut files = Vec::new();
    for rendered in &compiled.nodes {
        let Some(node) = cluster.nodes.iter().find(|n| n.name == rendered.name) else {
            continue;
        };
        // A discovery cluster's one node: every machine that asks with the cluster's label.
        let by = match (&node.mac, &cluster.discovery) {
            (_, Some(_)) => Selector::Label,
            (Some(mac), None) => Selector::Mac(mac),
            (None, None) => {
                report.push(
                    Diagnostic::at(
                        "matchbox.no-mac",
                        format!("node {} has no MAC address", node.name),
                        &node.span,
                    )
                    .with_help(
                        "Matchbox selects a machine by MAC: add mac: \"52:54:00:…\" to the node",
                    ),
                );
                continue;
            }
        };
        let id = format!("{}-{}", cluster.name, node.name);
        let first = files.len();
        files.push(TreeFile {
            path: format!("ignition/{id}.ign"),
            contents: Contents::Bytes(rendered.json.clone().into_bytes()),
            mode: key_mode,
            owned: true,
            origin: String::new(),
        });
        match &node.install_disk {
            None => {
                let boot = Some(pxe_boot(settings, cluster, node, &by));
                files.push(json_file(
                    &format!("profiles/{id}.json"),
                    &profile(
                        &id,
                        &format!("{} {} (Flatcar PXE)", cluster.name, node.name),
                        boot,
                    ),
                )?);
                files.push(json_file(
                    &format!("groups/{id}.json"),
                    &group(&id, &id, cluster, node, &by, false),
                )?);
            }
            Some(disk) => {
                let install_id = format!("{id}-install");
                let installer = installer_config(cluster, settings, node, &by, disk)?;
                files.push(TreeFile {
                    path: format!("ignition/{install_id}.ign"),
                    contents: Contents::Bytes(installer),
                    mode: 0o644,
                    owned: true,
                    origin: String::new(),
                });
                let boot = Some(pxe_boot(settings, cluster, node, &by));
                files.push(json_file(
                    &format!("profiles/{install_id}.json"),
                    &profile(
                        &install_id,
                        &format!("{} {} (install Flatcar to {disk})", cluster.name, node.name),
                        boot,
                    ),
                )?);
                files.push(json_file(
                    &format!("groups/{install_id}.json"),
                    &group(&install_id, &install_id, cluster, node, &by, false),
                )?);
                files.push(json_file(
                    &format!("profiles/{id}.json"),
                    &profile(
                        &id,
                        &format!("{} {} (installed)", cluster.name, node.name),
                        None,
                    ),
                )?);
                files.push(json_file(
                    &format!("groups/{id}.json"),
                    &group(&id, &id, cluster, node, &by, true),
                )?);
            }
        }
        for file in &mut files[first..] {
            file.origin = format!("node {}", node.name);
        }
    }
    report.into_result(files)
}

/// How a group picks its machines: one node by MAC, or every member of a discovery cluster
/// by the label its iPXE request carries (`etcd-cluster=<name>`).
enum Selector<'a> {
    Mac(&'a str),
    Label,
}

impl Selector<'_> {
    fn entry(&self, cluster: &Cluster) -> (&'static str, String) {
        match self {
            Selector::Mac(mac) => ("mac", (*mac).to_string()),
            Selector::Label => (
                crate::resolve::discovery::MATCHBOX_LABEL,
                cluster.name.clone(),
            ),
        }
    }

    /// The query Matchbox matches this selector with, for URLs a machine fetches.
    fn query(&self, cluster: &Cluster) -> String {
        let (key, value) = self.entry(cluster);
        format!("{key}={value}")
    }
}

fn profile(id: &str, name: &str, boot: Option<Boot>) -> Profile {
    Profile {
        id: id.to_string(),
        name: name.to_string(),
        ignition_id: format!("{id}.ign"),
        boot,
    }
}

fn group(
    id: &str,
    profile: &str,
    cluster: &Cluster,
    node: &Node,
    by: &Selector,
    installed: bool,
) -> Group {
    let mut selector = std::collections::BTreeMap::from([by.entry(cluster)]);
    if installed {
        selector.insert("os", "installed".to_string());
    }
    Group {
        id: id.to_string(),
        name: format!(
            "{} {}{}",
            cluster.name,
            node.name,
            if installed { " (installed)" } else { "" }
        ),
        profile: profile.to_string(),
        selector,
        metadata: GroupMetadata {
            cluster: cluster.name.clone(),
            node: node.name.clone(),
        },
    }
}

/// Flatcar's PXE kernel and initrd from Matchbox's assets, with the node's config URL.
fn pxe_boot(settings: &MatchboxSettings, cluster: &Cluster, node: &Node, by: &Selector) -> Boot {
    let assets = format!("/assets/flatcar/{}", settings.version);
    // A label-selected machine asks for its config with the label, or no group matches.
    let label = match by {
        Selector::Mac(_) => String::new(),
        Selector::Label => format!("&{}", by.query(cluster)),
    };
    let mut args = vec![
        "initrd=flatcar_production_pxe_image.cpio.gz".to_string(),
        format!(
            "flatcar.config.url={}/ignition?uuid=${{uuid}}&mac=${{mac:hexhyp}}{label}",
            settings.url
        ),
        "flatcar.first_boot=yes".to_string(),
    ];
    args.extend(node.kernel_args.iter().cloned());
    Boot {
        kernel: format!("{assets}/flatcar_production_pxe.vmlinuz"),
        initrd: vec![format!("{assets}/flatcar_production_pxe_image.cpio.gz")],
        args,
    }
}

fn json_file<T: Serialize>(path: &str, value: &T) -> Result<TreeFile, Report> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| internal(&e.to_string()))?;
    bytes.push(b'\n');
    Ok(TreeFile {
        path: path.to_string(),
        contents: Contents::Bytes(bytes),
        mode: 0o644,
        owned: true,
        origin: String::new(),
    })
}

/// The live-boot config that installs Flatcar to disk and hands the installed OS its real
/// config (fetched from Matchbox with `os=installed`). Built from the typed model and
/// validated like every config kindling writes.
fn installer_config(
    cluster: &Cluster,
    settings: &MatchboxSettings,
    node: &Node,
    by: &Selector,
    disk: &str,
) -> Result<Vec<u8>, Report> {
    let query = by.query(cluster);
    let unit = format!(
        "[Unit]\nDescription=Install Flatcar {channel} {version} to {disk} for {node}, then reboot\nWants=network-online.target\nAfter=network-online.target\n\n\
         [Service]\nType=oneshot\n\
         ExecStart=/usr/bin/curl --fail --silent --show-error --retry 10 --retry-connrefused --output /tmp/ignition.json \"{url}/ignition?{query}&os=installed\"\n\
         ExecStart=/usr/bin/flatcar-install -d {disk} -C {channel} -V {version} -i /tmp/ignition.json\n\
         ExecStart=/usr/bin/systemctl reboot\n\n[Install]\nWantedBy=multi-user.target\n",
        channel = settings.channel,
        version = settings.version,
        node = node.name,
        url = settings.url,
    );
    let users = (!node.ssh_authorized_keys.is_empty()).then(|| model::Passwd {
        users: vec![model::User {
            name: "core".into(),
            ssh_authorized_keys: node.ssh_authorized_keys.clone(),
        }],
    });
    let config = model::Config {
        ignition: model::IgnitionSection {
            version: cluster.ignition.as_str().to_string(),
        },
        passwd: users,
        storage: None,
        systemd: Some(model::Systemd {
            units: vec![model::Unit {
                name: "flatcar-install.service".into(),
                enabled: Some(true),
                mask: None,
                contents: Some(unit),
                dropins: Vec::new(),
            }],
        }),
    };
    let value = serde_json::to_value(&config).map_err(|e| internal(&e.to_string()))?;
    let findings = validate::validate_for(&value, cluster.ignition, Some(validate::Os::Flatcar));
    if findings.has_errors() {
        return Err(findings);
    }
    let mut bytes = serde_json::to_vec(&value).map_err(|e| internal(&e.to_string()))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// `assets/monitoring/<cluster>/`: Prometheus's scrape configuration and alert rules, which
/// hold no secret, for a Prometheus host to fetch from Matchbox.
fn monitoring_files(cluster: &Cluster, compiled: &Compiled) -> Vec<TreeFile> {
    compiled
        .monitoring
        .iter()
        .map(|file| TreeFile {
            path: format!("assets/monitoring/{}/{}", cluster.name, file.name),
            contents: Contents::Bytes(file.text.clone().into_bytes()),
            mode: 0o644,
            owned: true,
            origin: "the cluster's monitoring".to_string(),
        })
        .collect()
}

/// `assets/extensions/`: the transfer config the cluster's nodes use (`etcd-<cluster>.conf`),
/// and with `--images` the image itself (SHA256SUMS is recomputed over every image in the
/// directory by `replace_tree`, so images other clusters published stay listed).
fn extension_files(
    cluster: &Cluster,
    compiled: &Compiled,
    options: &Options,
) -> Result<Vec<TreeFile>, Report> {
    let mut files = Vec::new();
    if let Some(transfer) = compiled
        .nodes
        .first()
        .and_then(|n| file_in_config(&n.json, TRANSFER_PATH))
    {
        let path = format!("{EXTENSIONS}/etcd-{}.conf", cluster.name);
        files.push(TreeFile {
            path,
            contents: Contents::Bytes(transfer),
            mode: 0o644,
            owned: true,
            origin: "the sysupdate transfer".to_string(),
        });
    }
    let Some(images) = &options.images else {
        return Ok(files);
    };
    let image_file = &cluster.sysext.image_file;
    let source = published_image(&images.join(image_file), image_file)?;
    let actual = sha256_file(&source).map_err(|e| {
        Report::from(
            Diagnostic::error(
                "matchbox.image-missing",
                format!("cannot read {}: {e}", source.display()),
                Location::File(source.clone()),
            )
            .with_help(format!(
                "--images must hold {image_file}, the image the spec references"
            )),
        )
    })?;
    if let Some(expected) = &compiled.image_hash
        && expected.strip_prefix("sha256-") != Some(actual.as_str())
    {
        return Err(Diagnostic::error(
            "sysext.hash-mismatch",
            format!(
                "{} hashes to sha256-{actual}, but the configs verify {expected}",
                source.display()
            ),
            Location::File(source.clone()),
        )
        .with_help("the image in --images is not the one SHA256SUMS (or sysext.image) names")
        .into());
    }
    files.push(TreeFile {
        path: format!("{EXTENSIONS}/{image_file}"),
        contents: Contents::Link(source),
        mode: 0o644,
        owned: false,
        origin: "the sysext image".to_string(),
    });
    Ok(files)
}

/// The file `--images` names for the image, symlinks resolved: what gets hashed is what gets
/// published (a link would serve whatever its target holds later, and a relative one would
/// dangle in the published tree), and it must be a regular file and no PEM text, so no key
/// (with `allow_unverified`, nothing checks the image's hash) lands under /assets.
fn published_image(path: &Path, image_file: &str) -> Result<PathBuf, Report> {
    let refuse = |message: String| {
        Report::from(
            Diagnostic::error("matchbox.image-missing", message, Location::File(path.to_path_buf()))
                .with_help(format!("--images must hold {image_file}, the sysext image the spec references (a symlink to it is followed)")),
        )
    };
    let real = std::fs::canonicalize(path)
        .map_err(|e| refuse(format!("cannot read {}: {e}", path.display())))?;
    let is_image = std::fs::metadata(&real).is_ok_and(|m| m.is_file()) && is_sysext_image(&real);
    if !is_image {
        return Err(refuse(format!(
            "{} is not an image file (a regular file that is not PEM text){}",
            path.display(),
            if real == path {
                String::new()
            } else {
                format!(" (it leads to {})", real.display())
            }
        )));
    }
    Ok(real)
}

/// Whether the file is one kindling may publish as an image: not PEM text (a key or a
/// certificate reached through a symlink must never land under Matchbox's /assets).
fn is_sysext_image(path: &Path) -> bool {
    let mut head = Vec::new();
    let read = std::fs::File::open(path)
        .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, 11), &mut head));
    read.is_ok() && !head.starts_with(b"-----BEGIN ")
}

/// The decoded contents of `path` in a rendered config, if it is an inline file there.
fn file_in_config(json: &str, path: &str) -> Option<Vec<u8>> {
    let config: Value = serde_json::from_str(json).ok()?;
    let files = config.at("/storage/files")?.as_array()?;
    let file = files
        .iter()
        .find(|f| f.get("path").and_then(Value::as_str) == Some(path))?;
    dataurl::decode(file.at("/contents/source")?.as_str()?).ok()
}

/// Builds the new tree beside `dir` and swaps it in (see `tree`). Files listed in this
/// cluster's previous manifest are dropped; every other existing file is carried over.
fn replace_tree(
    dir: &Path,
    cluster: &str,
    files: Vec<TreeFile>,
    refresh_sums: bool,
) -> Result<tree::Replaced, Report> {
    check_within_cluster(&files)?;
    let locked = tree::lock(dir)?;
    let manifest = format!("{MANIFESTS}/{cluster}.files");
    check_other_clusters(locked.path(), cluster, &files)?;
    let mut dropped: BTreeSet<String> = previous_manifest(&locked.path().join(&manifest));
    dropped.extend(files.iter().map(|f| f.path.clone()));
    dropped.insert(manifest.clone());
    let sums = format!("{EXTENSIONS}/SHA256SUMS");
    if refresh_sums {
        dropped.insert(sums.clone());
    }
    let listing: String = files
        .iter()
        .filter(|f| f.owned)
        .map(|f| format!("{}\n", f.path))
        .collect();
    let mut tree_files: Vec<tree::TreeFile> = files
        .into_iter()
        .map(|f| tree::TreeFile {
            path: f.path,
            contents: f.contents,
            mode: f.mode,
        })
        .collect();
    tree_files.push(tree::TreeFile {
        path: manifest,
        contents: Contents::Bytes(listing.into_bytes()),
        mode: 0o644,
    });
    // SHA256SUMS lists every image the directory then holds (other clusters' included), so
    // it is written once the new tree has them.
    let mut write_sums = |staging: &Path| {
        let bytes = sha256sums(&staging.join(EXTENSIONS))?;
        tree::write_file(staging, &sums, &Contents::Bytes(bytes), 0o644)
    };
    let finish: Option<tree::Finish> = if refresh_sums {
        Some(&mut write_sums)
    } else {
        None
    };
    let mut replaced = locked.replace(
        &tree_files,
        &|relative| !dropped.contains(relative),
        0o755,
        finish,
    )?;
    if refresh_sums {
        replaced.written += 1;
    }
    Ok(replaced)
}

/// Two files of this run at one path (node `etcd1-install` beside `etcd1`'s installer).
fn check_within_cluster(files: &[TreeFile]) -> Result<(), Report> {
    let mut seen: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
    let mut report = Report::default();
    for file in files {
        if let Some(first) = seen.insert(&file.path, &file.origin)
            && first != file.origin
        {
            report.push(
                Diagnostic::error(
                    "matchbox.id-collision",
                    format!("{} and {} both produce {}", first, file.origin, file.path),
                    Location::Nowhere,
                )
                .with_help("Matchbox ids are <cluster>-<node> (and <cluster>-<node>-install): rename one of the nodes"),
            );
        }
    }
    report.into_result(())
}

/// A file another cluster's manifest lists: ids are `<cluster>-<node>`, so cluster `a` with
/// node `b-c` and cluster `a-b` with node `c` would silently replace each other.
fn check_other_clusters(dir: &Path, cluster: &str, files: &[TreeFile]) -> Result<(), Report> {
    let own = format!("{cluster}.files");
    let mut report = Report::default();
    let entries = std::fs::read_dir(dir.join(MANIFESTS))
        .into_iter()
        .flatten()
        .flatten();
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(other) = name.strip_suffix(".files") else {
            continue;
        };
        if name == own {
            continue;
        }
        let theirs = previous_manifest(&entry.path());
        for file in files.iter().filter(|f| f.owned && theirs.contains(&f.path)) {
            report.push(
                Diagnostic::error(
                    "matchbox.id-collision",
                    format!(
                        "{} of cluster {cluster} would replace {}, which belongs to cluster {other}",
                        file.origin, file.path
                    ),
                    Location::File(entry.path()),
                )
                .with_help("Matchbox ids are <cluster>-<node>: rename the cluster or the node so the ids differ"),
            );
        }
    }
    report.into_result(())
}

fn previous_manifest(path: &Path) -> BTreeSet<String> {
    crate::read::text(path, crate::read::SPEC_LIMIT)
        .map(|text| {
            text.lines()
                .filter(|l| !l.is_empty() && !l.contains(".."))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `SHA256SUMS` for every `.raw` image in the directory, sorted by name.
fn sha256sums(dir: &Path) -> Result<Vec<u8>, Report> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Report::io(dir, "write", &e))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".raw"))
        .collect();
    names.sort();
    let mut out = String::new();
    for name in names {
        let hex =
            sha256_file(&dir.join(&name)).map_err(|e| Report::io(&dir.join(&name), "write", &e))?;
        out.push_str(&format!("{hex}  {name}\n"));
    }
    Ok(out.into_bytes())
}

fn internal(message: &str) -> Report {
    Diagnostic::error("internal.matchbox", message, Location::Nowhere).into()
}
