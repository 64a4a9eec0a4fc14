//! `storage.disks` and their partitions, as Ignition checks them: a device for every disk and
//! one entry per device; partitions named by a number or a label, neither used twice, GPT
//! label and GUID forms, no overlap between partitions placed explicitly, and
//! `shouldExist: false` (delete) without anything that would describe a partition to keep.

use std::collections::HashMap;

use crate::json::Lookup;
use serde_json::Value;

use super::{absolute_path, duplicate};
use crate::diag::Diagnostic;
use crate::validate::{array, finding};

const CODE: &str = "ign.partition";

pub fn check(config: &Value, findings: &mut Vec<Diagnostic>) {
    let mut devices = HashMap::new();
    for (index, disk) in array(config, "/storage/disks").iter().enumerate() {
        let at = format!("$.storage.disks.{index}");
        match disk
            .member("device")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
        {
            None => findings.push(finding(
                "ign.disk",
                format!("{at}.device"),
                "disk device is required",
            )),
            Some(device) => {
                absolute_path("ign.disk", device, &format!("{at}.device"), findings);
                if devices.insert(device, index).is_some() {
                    findings.push(duplicate("ign.disk", at.clone(), "disk device"));
                }
            }
        }
        check_partitions(disk, &at, findings);
    }
}

/// A partition's number, 0 when it has none ("next free").
fn number(partition: &Value) -> i64 {
    partition
        .member("number")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

fn label(partition: &Value) -> Option<&str> {
    partition.member("label").and_then(Value::as_str)
}

fn mib(partition: &Value, key: &str) -> Option<i64> {
    partition.member(key).and_then(Value::as_i64)
}

fn check_partitions(disk: &Value, at: &str, findings: &mut Vec<Diagnostic>) {
    let partitions = array(disk, "/partitions");
    let mut numbers = HashMap::new();
    let mut labels = HashMap::new();
    for (index, partition) in partitions.iter().enumerate() {
        let here = format!("{at}.partitions.{index}");
        check_partition(partition, &here, findings);
        if number(partition) != 0 && numbers.insert(number(partition), index).is_some() {
            findings.push(finding(CODE, here.clone(), "partition numbers collide"));
        }
        if let Some(label) = label(partition)
            && labels.insert(label, index).is_some()
        {
            findings.push(finding(
                CODE,
                here.clone(),
                "cannot use the same partition label twice",
            ));
        }
        if overlaps_earlier(partitions, index) {
            findings.push(finding(CODE, here, "partitions overlap"));
        }
    }
}

/// Whether partition `index`, placed with an explicit start and size, overlaps an earlier
/// one also placed so. A start of 0 means "where sgdisk finds room" and is not checked; a
/// size of 0 ("fill the rest") covers only its first MiB here, as in Ignition.
fn overlaps_earlier(partitions: &[Value], index: usize) -> bool {
    let extent = |p: &Value| match (mib(p, "startMiB"), mib(p, "sizeMiB")) {
        (Some(start), Some(size)) if start != 0 => {
            Some((start, if size == 0 { start } else { start + size - 1 }))
        }
        _ => None,
    };
    let Some((start, end)) = extent(&partitions[index]) else {
        return false;
    };
    partitions[..index]
        .iter()
        .filter(|other| **other != partitions[index])
        .filter_map(extent)
        .any(|(other_start, other_end)| start <= other_end && other_start <= end)
}

fn check_partition(partition: &Value, at: &str, findings: &mut Vec<Diagnostic>) {
    if let Some(label) = label(partition) {
        // Ignition counts bytes here, though GPT holds 36 UTF-16 code units.
        if label.len() > 36 {
            findings.push(finding(
                CODE,
                format!("{at}.label"),
                "partition labels may not exceed 36 characters",
            ));
        }
        if label.contains(':') {
            findings.push(finding(
                CODE,
                format!("{at}.label"),
                "partition label will be truncated to text before the colon",
            ));
        }
    }
    for key in ["typeGuid", "guid"] {
        if let Some(guid) = partition.member(key).and_then(Value::as_str)
            && !guid.is_empty()
            && !is_guid(guid)
        {
            findings.push(finding(
                CODE,
                format!("{at}.{key}"),
                "doesn't match the form \"01234567-89AB-CDEF-EDCB-A98765432101\"",
            ));
        }
    }
    let deleted = partition.member("shouldExist") == Some(&Value::Bool(false));
    let describes = label(partition).is_some()
        || ["typeGuid", "guid"].iter().any(|k| {
            partition
                .member(k)
                .and_then(Value::as_str)
                .is_some_and(|g| !g.is_empty())
        })
        || mib(partition, "startMiB").is_some()
        || mib(partition, "sizeMiB").is_some();
    if deleted && describes {
        findings.push(finding(
            CODE,
            at.to_string(),
            "shouldExist specified false with other options also specified",
        ));
    }
    if number(partition) == 0 && label(partition).is_none() {
        findings.push(finding(
            CODE,
            at.to_string(),
            "a partition number >= 1 or a label must be specified",
        ));
    }
}

/// `01234567-89AB-CDEF-EDCB-A98765432101`, any case.
fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}
