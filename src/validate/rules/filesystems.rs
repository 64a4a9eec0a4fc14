//! `storage.filesystems`, as Ignition checks them: a format Ignition knows (`none` from spec
//! 3.3.0), a format whenever anything else describes the filesystem, labels no longer than
//! the format allows, absolute mount paths, one entry per device; and the warnings for a
//! filesystem written over a partitioned disk or a disk whose table is wiped.

use std::collections::HashMap;

use crate::json::Lookup;
use serde_json::Value;

use super::{absolute_path, duplicate};
use crate::diag::Diagnostic;
use crate::ignition::SpecVersion;
use crate::validate::{array, finding, text, warning};

const CODE: &str = "ign.filesystem";

pub fn check(config: &Value, version: SpecVersion, findings: &mut Vec<Diagnostic>) {
    let mut devices = HashMap::new();
    for (index, filesystem) in array(config, "/storage/filesystems").iter().enumerate() {
        let at = format!("$.storage.filesystems.{index}");
        let path = text(filesystem, "path");
        if !path.is_empty() {
            absolute_path(CODE, path, &format!("{at}.path"), findings);
        }
        check_format(filesystem, &at, version, findings);
        check_label(filesystem, &at, findings);
        let device = text(filesystem, "device");
        if device.is_empty() {
            findings.push(finding(CODE, format!("{at}.device"), "path not specified"));
        } else {
            absolute_path(CODE, device, &format!("{at}.device"), findings);
        }
        if !device.is_empty() && devices.insert(device, index).is_some() {
            findings.push(duplicate(CODE, at.clone(), "filesystem device"));
        }
        check_disk_overwrite(config, filesystem, &at, findings);
    }
}

fn check_format(
    filesystem: &Value,
    at: &str,
    version: SpecVersion,
    findings: &mut Vec<Diagnostic>,
) {
    let format = text(filesystem, "format");
    if format.is_empty() {
        let non_empty = |key: &str| !text(filesystem, key).is_empty();
        let non_empty_list = |key: &str| !array(filesystem, &format!("/{key}")).is_empty();
        // mountOptions arrived in spec 3.1.0; before, it is an unknown key.
        let described = ["path", "label", "uuid"].iter().any(|k| non_empty(k))
            || filesystem.member("wipeFilesystem") == Some(&Value::Bool(true))
            || non_empty_list("options")
            || (version > SpecVersion::V3_0 && non_empty_list("mountOptions"));
        if described {
            findings.push(finding(
                CODE,
                format!("{at}.format"),
                "format cannot be empty when path, label, uuid, wipeFilesystem, options, or mountOptions is specified",
            ));
        }
        return;
    }
    let known = matches!(format, "ext4" | "btrfs" | "xfs" | "swap" | "vfat")
        || (format == "none" && version >= SpecVersion::V3_3);
    if !known {
        findings.push(finding(
            CODE,
            format!("{at}.format"),
            format!("invalid filesystem format {format:?}"),
        ));
    }
}

fn check_label(filesystem: &Value, at: &str, findings: &mut Vec<Diagnostic>) {
    let Some(label) = filesystem
        .member("label")
        .and_then(Value::as_str)
        .filter(|l| !l.is_empty())
    else {
        return;
    };
    let format = text(filesystem, "format");
    let limit = match format {
        "" => {
            findings.push(finding(
                CODE,
                format!("{at}.label"),
                "filesystem must specify format if label is specified",
            ));
            return;
        }
        "ext4" => 16,
        "btrfs" => 256,
        "xfs" => 12,
        "swap" => 15,
        "vfat" => 11,
        _ => return,
    };
    if label.len() > limit {
        findings.push(finding(
            CODE,
            format!("{at}.label"),
            format!(
                "filesystem labels cannot be longer than {limit} characters when using {format}"
            ),
        ));
    }
}

/// A filesystem on a whole disk that the config also partitions, or whose table it wipes.
fn check_disk_overwrite(
    config: &Value,
    filesystem: &Value,
    at: &str,
    findings: &mut Vec<Diagnostic>,
) {
    let device = text(filesystem, "device");
    let Some(disk) = array(config, "/storage/disks")
        .iter()
        .find(|d| !device.is_empty() && text(d, "device") == device)
    else {
        return;
    };
    if !array(disk, "/partitions").is_empty() {
        findings.push(warning(
            "ign.filesystem-overwrite",
            format!("{at}.device"),
            "filesystem overwrites partitioned device",
        ));
    } else if disk.member("wipeTable") == Some(&Value::Bool(true))
        && filesystem.member("wipeFilesystem") != Some(&Value::Bool(true))
    {
        findings.push(warning(
            "ign.filesystem-overwrite",
            format!("{at}.device"),
            "device matches disk with wipeTable enabled; filesystem will be wiped",
        ));
    }
}
