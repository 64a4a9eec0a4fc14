//! The `fcos` variant's own sugar and checks: `boot_device` (a LUKS-encrypted and/or
//! mirrored root, desugared into disks, RAID, LUKS and filesystems with the partition
//! layout of the Fedora CoreOS image) and `grub.users` (a GRUB `user.cfg`).

use crate::json::Lookup;
use serde_json::{Map, Value, json};

use super::Variant;
use super::contents::set_source;
use super::walk::{Place, Walker};
use super::yaml::{self, Node};

const RESERVED_GUID: &str = "8DA63339-0007-60C0-C436-083AC8230908";
const BIOS_GUID: &str = "21686148-6449-6E6F-744E-656564454649";
const PREP_GUID: &str = "9E1A2D38-C612-4316-AA26-8B49521E5A8B";
const ESP_GUID: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";

/// Whether `key` at the top level is fcos sugar this target has.
pub(super) fn is_root_sugar(walker: &Walker, key: &str) -> bool {
    match key {
        "boot_device" => walker.target.is_fcos_from(3),
        "grub" => walker.target.is_fcos_from(5),
        _ => false,
    }
}

pub(super) fn apply(walker: &mut Walker, root: &Node, config: &mut Value) {
    if walker.target.variant != Variant::Fcos {
        return;
    }
    if is_root_sugar(walker, "boot_device")
        && let Some(device) = root.get("boot_device").filter(|n| !n.is_null())
    {
        boot_device(walker, device, config);
    }
    if is_root_sugar(walker, "grub")
        && let Some(grub) = root.get("grub").filter(|n| !n.is_null())
    {
        grub_users(walker, grub, config);
    }
}

fn place(yaml: &str) -> Place {
    Place {
        json: yaml.to_string(),
        yaml: yaml.to_string(),
    }
}

/// Warns about unknown keys of a sugar mapping.
fn known_keys(walker: &mut Walker, node: &Node, at: &str, keys: &[&str]) {
    for entry in node.entries() {
        if !keys.contains(&entry.key.as_str()) && !entry.merged {
            walker.warn_at(
                "butane.unused-key",
                &place(&format!("{at}.{}", entry.key)),
                entry.key_line,
                entry.key_column,
                format!("unused key {}", entry.key),
            );
        }
    }
}

fn text(node: Option<&Node>) -> Option<String> {
    node.filter(|n| !n.is_null())
        .and_then(Node::scalar)
        .map(str::to_string)
}

fn truthy(node: Option<&Node>) -> bool {
    node.and_then(Node::scalar)
        .is_some_and(|t| matches!(t, "true" | "True" | "TRUE" | "yes" | "Yes" | "on" | "y"))
}

fn boot_device(walker: &mut Walker, device: &Node, config: &mut Value) {
    let minor = walker.target.minor;
    let mut keys = vec!["layout", "luks", "mirror"];
    known_keys(walker, device, "$.boot_device", &keys);
    keys.clear();
    let luks = device.get("luks").filter(|n| !n.is_null());
    let mut luks_keys = vec!["tang", "threshold", "tpm2"];
    if minor >= 5 {
        luks_keys.push("discard");
    }
    if minor >= 6 {
        luks_keys.extend(["device", "cex"]);
    }
    if let Some(luks) = luks {
        known_keys(walker, luks, "$.boot_device.luks", &luks_keys);
    }
    let mirror = device.get("mirror").filter(|n| !n.is_null());
    if let Some(mirror) = mirror {
        known_keys(walker, mirror, "$.boot_device.mirror", &["devices"]);
    }
    let layout = text(device.get("layout"));
    let layout_node = device.get("layout").unwrap_or(device);
    let layout_place = place("$.boot_device.layout");
    let s390x = ["s390x-eckd", "s390x-virt", "s390x-zfcp"];
    let valid = match layout.as_deref() {
        None | Some("aarch64" | "ppc64le" | "x86_64") => true,
        Some(other) => minor >= 6 && s390x.contains(&other),
    };
    if !valid {
        let message = if minor >= 6 {
            "layout must be one of: aarch64, ppc64le, s390x-eckd, s390x-virt, s390x-zfcp, x86_64"
        } else {
            "layout must be one of: aarch64, ppc64le, x86_64"
        };
        walker.error_at("butane.boot-device", &layout_place, layout_node, message);
        return;
    }
    let tang: Vec<&Node> = match luks.and_then(|l| l.get("tang")).map(|n| &n.value) {
        Some(yaml::Value::Sequence(items)) => items.iter().collect(),
        _ => Vec::new(),
    };
    let tpm2 = truthy(luks.and_then(|l| l.get("tpm2")));
    let cex = truthy(
        luks.and_then(|l| l.get("cex"))
            .and_then(|c| c.get("enabled")),
    );
    let luks_device = text(luks.and_then(|l| l.get("device")));
    let devices: Vec<&Node> = match mirror.and_then(|m| m.get("devices")).map(|n| &n.value) {
        Some(yaml::Value::Sequence(items)) => items.iter().collect(),
        _ => Vec::new(),
    };
    let is_s390x = layout.as_deref().is_some_and(|l| s390x.contains(&l));
    if cex && (tpm2 || !tang.is_empty()) {
        let at = luks.unwrap_or(device);
        walker.error_at(
            "butane.boot-device",
            &place("$.boot_device.luks"),
            at,
            "cannot use cex with clevis",
        );
        return;
    }
    if cex && !is_s390x {
        walker.error_at(
            "butane.boot-device",
            &layout_place,
            layout_node,
            "when using cex the targeted architecture must match s390x",
        );
        return;
    }
    if is_s390x {
        if !devices.is_empty() {
            walker.error_at(
                "butane.boot-device",
                &layout_place,
                layout_node,
                "mirroring not supported on layouts: s390x-eckd, s390x-zfcp, s390x-virt",
            );
            return;
        }
        let needs_device = matches!(layout.as_deref(), Some("s390x-eckd" | "s390x-zfcp"));
        if needs_device && (tpm2 || cex || !tang.is_empty()) {
            match luks_device.as_deref() {
                None => {
                    walker.error_at(
                        "butane.boot-device",
                        &layout_place,
                        layout_node,
                        "device is required for layouts: s390x-eckd, s390x-zfcp",
                    );
                    return;
                }
                Some(name) => {
                    let prefix = if layout.as_deref() == Some("s390x-eckd") {
                        "/dev/dasd"
                    } else {
                        "/dev/sd"
                    };
                    if !name.starts_with(prefix) {
                        walker.error_at(
                            "butane.boot-device",
                            &layout_place,
                            layout_node,
                            "device name must start with /dev/dasd on s390x-eckd layout or /dev/sd on s390x-zfcp layout",
                        );
                        return;
                    }
                }
            }
        }
    }
    if devices.len() == 1 {
        let at = mirror.and_then(|m| m.get("devices")).unwrap_or(device);
        walker.error_at(
            "butane.boot-device",
            &place("$.boot_device.mirror.devices"),
            at,
            "mirroring requires at least two devices",
        );
        return;
    }
    if !devices.is_empty() && layout.is_none() && minor >= 4 {
        let at = mirror.unwrap_or(device);
        walker.warn_at(
            "butane.boot-device-layout",
            &place("$.boot_device.mirror"),
            at.line,
            at.column,
            "boot_device.layout should be specified when boot_device.mirror is specified",
        );
    }
    let want_luks = tpm2 || cex || !tang.is_empty();
    let want_mirror = !devices.is_empty();
    if !want_luks && !want_mirror {
        return;
    }
    let layout = layout.unwrap_or_else(|| "x86_64".into());
    let (bios, efi, prep) = match layout.as_str() {
        "x86_64" => (true, true, false),
        "aarch64" => (false, true, false),
        "ppc64le" => (false, false, true),
        _ => (false, false, false),
    };
    let mut disks = Vec::new();
    let mut filesystems = Vec::new();
    let mut raid = Vec::new();
    if want_mirror {
        for (index, node) in devices.iter().enumerate() {
            let n = index + 1;
            let first = if bios {
                partition(&format!("bios-{n}"), 1, BIOS_GUID)
            } else if prep {
                partition(&format!("prep-{n}"), 4, PREP_GUID)
            } else {
                partition(&format!("reserved-{n}"), 1, RESERVED_GUID)
            };
            let second = if efi {
                partition(&format!("esp-{n}"), 127, ESP_GUID)
            } else {
                partition(&format!("reserved-{n}"), 1, RESERVED_GUID)
            };
            let disk_place = Place {
                json: format!("$.storage.disks.{index}"),
                yaml: format!("$.boot_device.mirror.devices.{index}"),
            };
            walker.record(&disk_place, node);
            disks.push(json!({
                "device": node.scalar().unwrap_or_default(),
                "wipeTable": true,
                "partitions": [first, second,
                    {"label": format!("boot-{n}"), "sizeMiB": 384},
                    {"label": format!("root-{n}")}],
            }));
            if efi {
                filesystems.push(json!({
                    "device": format!("/dev/disk/by-partlabel/esp-{n}"),
                    "format": "vfat",
                    "label": format!("esp-{n}"),
                    "wipeFilesystem": true,
                }));
            }
        }
        let members = |prefix: &str| -> Vec<String> {
            (1..=devices.len())
                .map(|n| format!("/dev/disk/by-partlabel/{prefix}-{n}"))
                .collect()
        };
        raid.push(json!({"name": "md-boot", "level": "raid1", "devices": members("boot"), "options": ["--metadata=1.0"]}));
        raid.push(json!({"name": "md-root", "level": "raid1", "devices": members("root")}));
        filesystems.push(json!({"device": "/dev/md/md-boot", "format": "ext4", "label": "boot", "wipeFilesystem": true}));
    }
    let mut storage = Map::new();
    if want_luks {
        let target = match (layout.as_str(), want_mirror) {
            ("s390x-eckd", _) => format!("{}2", luks_device.unwrap_or_default()),
            ("s390x-zfcp", _) => format!("{}4", luks_device.unwrap_or_default()),
            (_, true) => "/dev/md/md-root".into(),
            _ => "/dev/disk/by-partlabel/root".into(),
        };
        let mut volume = Map::new();
        volume.insert("name".into(), json!("root"));
        volume.insert("label".into(), json!("luks-root"));
        volume.insert("device".into(), json!(target));
        volume.insert("wipeVolume".into(), json!(true));
        if let Some(discard) = luks.and_then(|l| l.get("discard")).filter(|n| !n.is_null()) {
            volume.insert("discard".into(), json!(truthy(Some(discard))));
        }
        if cex {
            volume.insert("cex".into(), json!({"enabled": true}));
        } else {
            volume.insert("clevis".into(), clevis(walker, luks.unwrap_or(device)));
        }
        storage.insert("luks".into(), json!([volume]));
    }
    let root_device = if want_luks {
        "/dev/mapper/root"
    } else {
        "/dev/md/md-root"
    };
    filesystems.push(
        json!({"device": root_device, "format": "xfs", "label": "root", "wipeFilesystem": true}),
    );
    if !disks.is_empty() {
        storage.insert("disks".into(), Value::Array(disks));
    }
    if !raid.is_empty() {
        storage.insert("raid".into(), Value::Array(raid));
    }
    storage.insert("filesystems".into(), Value::Array(filesystems));
    let generated = json!({"storage": storage});
    *config = crate::ignition::merge::merge(generated, std::mem::take(config));
}

fn partition(label: &str, size: u32, guid: &str) -> Value {
    json!({"label": label, "sizeMiB": size, "typeGuid": guid})
}

/// The Clevis section of the root volume: Tang servers (translated as the Ignition `tang`
/// entries they are), the threshold and TPM2.
fn clevis(walker: &mut Walker, luks: &Node) -> Value {
    let mut clevis = Map::new();
    if let Some(tang) = luks.get("tang").filter(|n| !n.is_null()) {
        let schema = crate::validate::schema::value(walker.target.ignition);
        if let Some(tang_schema) = schema.at("/$defs/clevis/properties/tang") {
            let at = Place {
                json: "$.storage.luks.0.clevis.tang".into(),
                yaml: "$.boot_device.luks.tang".into(),
            };
            if let Some(value) = walker.value(tang, tang_schema, &at, "tang") {
                clevis.insert("tang".into(), value);
            }
        }
    }
    if let Some(threshold) = luks.get("threshold").and_then(Node::scalar)
        && let Some(value) = yaml::parse_int(threshold)
    {
        clevis.insert("threshold".into(), json!(value));
    }
    if let Some(tpm2) = luks.get("tpm2").filter(|n| !n.is_null()) {
        clevis.insert("tpm2".into(), json!(truthy(Some(tpm2))));
    }
    Value::Object(clevis)
}

fn grub_users(walker: &mut Walker, grub: &Node, config: &mut Value) {
    known_keys(walker, grub, "$.grub", &["users"]);
    let Some(yaml::Value::Sequence(users)) = grub.get("users").map(|n| &n.value) else {
        return;
    };
    if users.is_empty() {
        return;
    }
    let mut names = Vec::new();
    let mut commands = Vec::new();
    for (index, user) in users.iter().enumerate() {
        let at = format!("$.grub.users.{index}");
        known_keys(walker, user, &at, &["name", "password_hash"]);
        let name = text(user.get("name")).filter(|s| !s.is_empty());
        let hash = text(user.get("password_hash")).filter(|s| !s.is_empty());
        match (name, hash) {
            (None, _) => walker.error_at(
                "butane.grub",
                &place(&format!("{at}.name")),
                user,
                "field \"name\" is required",
            ),
            (_, None) => walker.error_at(
                "butane.grub",
                &place(&format!("{at}.password_hash")),
                user,
                "field \"password_hash\" is required",
            ),
            (Some(name), Some(hash)) => {
                commands.push(format!("password_pbkdf2 {name} {hash}"));
                names.push(name);
            }
        }
    }
    if names.len() != users.len() {
        return;
    }
    let contents = format!(
        "# Generated by Butane\n\nset superusers=\"{}\"\n{}\n",
        names.join(" "),
        commands.join("\n")
    );
    let mut user_cfg = Map::new();
    set_source(&mut user_cfg, contents.as_bytes());
    let generated = json!({"storage": {
        "filesystems": [{"device": "/dev/disk/by-label/boot", "format": "ext4", "path": "/boot"}],
        "files": [{"path": "/boot/grub2/user.cfg", "append": [user_cfg]}],
    }});
    *config = crate::ignition::merge::merge(generated, std::mem::take(config));
}
