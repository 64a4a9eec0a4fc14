//! `with_mount_unit`: a systemd mount (or swap) unit for a filesystem, written as Butane
//! writes it and merged under the user's own units (a unit of the same name wins).

use crate::json::Lookup;
use serde_json::{Value, json};

use super::Variant;
use super::walk::{Place, Walker};
use super::yaml::Node;

/// Adds the mount units the `storage.filesystems` of `root` ask for to `config`.
pub(super) fn apply(walker: &mut Walker, root: &Node, config: &mut Value) {
    if !walker.target.has_mount_units() {
        return;
    }
    let Some(filesystems) = root.get("storage").and_then(|s| s.get("filesystems")) else {
        return;
    };
    let translated = config
        .at("/storage/filesystems")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut units = Vec::new();
    let base = Place {
        json: "$.storage.filesystems".into(),
        yaml: "$.storage.filesystems".into(),
    };
    let super::yaml::Value::Sequence(items) = &filesystems.value else {
        return;
    };
    for (index, (node, filesystem)) in items.iter().zip(&translated).enumerate() {
        let wanted = node
            .get("with_mount_unit")
            .and_then(Node::scalar)
            .is_some_and(|text| matches!(text, "true" | "True" | "TRUE" | "yes" | "on" | "y"));
        if !wanted {
            continue;
        }
        let place = base.index(index);
        if let Some(unit) = unit_for(walker, node, filesystem, &place, config) {
            let unit_place = Place {
                json: format!("$.systemd.units.{}", units.len()),
                yaml: format!("{}.with_mount_unit", place.yaml),
            };
            if let Some(flag) = node.get("with_mount_unit") {
                walker.record(&unit_place, flag);
            }
            units.push(unit);
        }
    }
    if !units.is_empty() {
        let generated = json!({"systemd": {"units": units}});
        *config = crate::ignition::merge::merge(generated, std::mem::take(config));
    }
}

fn unit_for(
    walker: &mut Walker,
    node: &Node,
    filesystem: &Value,
    place: &Place,
    config: &Value,
) -> Option<Value> {
    let text = |key: &str| {
        filesystem
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let Some(format) = text("format") else {
        walker.error_at(
            "butane.mount-unit",
            &place.child("format", "format"),
            node,
            "format is required if with_mount_unit is true",
        );
        return None;
    };
    let device = text("device").unwrap_or_default();
    let swap = format == "swap" && walker.target.has_swap_units();
    let path = text("path");
    if !swap && path.is_none() {
        walker.error_at(
            "butane.mount-unit",
            &place.child("path", "path"),
            node,
            "path is required if with_mount_unit is true and format is not swap",
        );
        return None;
    }
    if let (Some(path), true) = (
        &path,
        walker.target.variant == Variant::Fcos && walker.target.minor >= 6,
    ) {
        let allowed = ["/etc", "/var"]
            .iter()
            .any(|root| path == root || path.starts_with(&format!("{root}/")));
        if !allowed && !swap {
            let path_node = node.get("path").unwrap_or(node);
            walker.error_at(
                "butane.mount-unit",
                &place.child("path", "path"),
                path_node,
                "path must be under /etc or /var if with_mount_unit is true",
            );
            return None;
        }
    }
    let options: Vec<String> = filesystem
        .get("mountOptions")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let remote = is_remote(&device, config);
    let contents = if swap {
        swap_unit(&device, &options, remote)
    } else {
        mount_unit(
            &device,
            path.as_deref().unwrap_or("/"),
            &format,
            &options,
            remote,
        )
    };
    let name = if swap {
        format!("{}.swap", path_escape(&device))
    } else {
        format!("{}.mount", path_escape(path.as_deref().unwrap_or("/")))
    };
    Some(json!({"name": name, "enabled": true, "contents": contents}))
}

/// A filesystem on a LUKS volume unlocked by Tang needs the network.
fn is_remote(device: &str, config: &Value) -> bool {
    let name = device
        .strip_prefix("/dev/mapper/")
        .or_else(|| device.strip_prefix("/dev/disk/by-id/dm-name-"));
    let Some(name) = name else {
        return false;
    };
    config
        .at("/storage/luks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|luks| luks.get("name").and_then(Value::as_str) == Some(name))
        .any(|luks| {
            luks.at("/clevis/tang")
                .and_then(Value::as_array)
                .is_some_and(|tang| !tang.is_empty())
        })
}

fn options_line(options: &[String], remote: bool) -> String {
    if options.is_empty() && !remote {
        return String::new();
    }
    let mut all = options.to_vec();
    if remote {
        all.push("_netdev".into());
    }
    format!("\nOptions={}", all.join(","))
}

fn mount_unit(device: &str, path: &str, format: &str, options: &[String], remote: bool) -> String {
    let escaped = path_escape(device);
    let target = if remote {
        "remote-fs.target"
    } else {
        "local-fs.target"
    };
    format!(
        "# Generated by Butane\n[Unit]\nRequires=systemd-fsck@{escaped}.service\nAfter=systemd-fsck@{escaped}.service\n\n[Mount]\nWhere={path}\nWhat={device}\nType={format}{}\n\n[Install]\nRequiredBy={target}",
        options_line(options, remote)
    )
}

fn swap_unit(device: &str, options: &[String], remote: bool) -> String {
    format!(
        "# Generated by Butane\n[Swap]\nWhat={device}{}\n\n[Install]\nRequiredBy=swap.target",
        options_line(options, remote)
    )
}

/// systemd's path escaping for unit names (`systemd-escape --path`).
pub(crate) fn path_escape(path: &str) -> String {
    let trimmed: Vec<&str> = path.split('/').filter(|part| !part.is_empty()).collect();
    if trimmed.is_empty() {
        return "-".into();
    }
    let joined = trimmed.join("/");
    let mut out = String::with_capacity(joined.len() * 2);
    for (index, byte) in joined.bytes().enumerate() {
        match byte {
            b'/' => out.push('-'),
            b'.' if index == 0 => out.push_str("\\x2e"),
            b if b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'.') => {
                out.push(char::from(b))
            }
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_escape_as_systemd_escape_does() {
        assert_eq!(path_escape("/var/lib/data"), "var-lib-data");
        assert_eq!(
            path_escape("/dev/disk/by-partlabel/var-log"),
            "dev-disk-by\\x2dpartlabel-var\\x2dlog"
        );
        assert_eq!(path_escape("/"), "-");
        assert_eq!(path_escape("/.hidden"), "\\x2ehidden");
    }
}
