//! `storage.raid`, as Ignition checks it: a level mdadm knows, member devices given as
//! absolute paths, no spares for arrays that cannot use them, one array per name.

use std::collections::HashMap;

use crate::json::Lookup;
use serde_json::Value;

use super::{absolute_path, duplicate};
use crate::diag::Diagnostic;
use crate::validate::{array, finding, text};

const CODE: &str = "ign.raid";

const LEVELS: [&str; 15] = [
    "linear", "raid0", "0", "stripe", "raid1", "1", "mirror", "raid4", "4", "raid5", "5", "raid6",
    "6", "raid10", "10",
];

pub fn check(config: &Value, findings: &mut Vec<Diagnostic>) {
    let mut names = HashMap::new();
    for (index, raid) in array(config, "/storage/raid").iter().enumerate() {
        let at = format!("$.storage.raid.{index}");
        let level = text(raid, "level");
        if level.is_empty() {
            findings.push(finding(
                CODE,
                format!("{at}.level"),
                "raid level is required",
            ));
        } else if !LEVELS.contains(&level) {
            findings.push(finding(
                CODE,
                format!("{at}.level"),
                format!("unrecognized raid level {level:?}"),
            ));
        } else if raid.member("spares").and_then(Value::as_i64).unwrap_or(0) != 0
            && matches!(level, "linear" | "raid0" | "0" | "stripe")
        {
            findings.push(finding(
                CODE,
                format!("{at}.level"),
                "spares unsupported for linear and raid0 arrays",
            ));
        }
        let devices = array(raid, "/devices");
        if devices.is_empty() {
            findings.push(finding(
                CODE,
                format!("{at}.devices"),
                "raid devices required",
            ));
        }
        for (device_index, device) in devices.iter().enumerate() {
            if let Some(device) = device.as_str() {
                absolute_path(
                    CODE,
                    device,
                    &format!("{at}.devices.{device_index}"),
                    findings,
                );
            }
        }
        let name = text(raid, "name");
        if !name.is_empty() && names.insert(name, index).is_some() {
            findings.push(duplicate(CODE, at, "raid name"));
        }
    }
}
