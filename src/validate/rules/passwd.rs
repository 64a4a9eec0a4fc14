//! Users and groups: each name once, each SSH key once per user.

use std::collections::HashMap;

use crate::json::Lookup;
use serde_json::Value;

use crate::diag::Diagnostic;
use crate::validate::{array, finding};

pub(super) fn check(config: &Value, findings: &mut Vec<Diagnostic>) {
    for (list, code) in [
        ("users", "ign.user-duplicate"),
        ("groups", "ign.group-duplicate"),
    ] {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (index, entry) in array(config, &format!("/passwd/{list}")).iter().enumerate() {
            let name = entry.member("name").and_then(Value::as_str).unwrap_or("");
            if let Some(first) = seen.insert(name, index) {
                findings.push(finding(
                    code,
                    format!("$.passwd.{list}.{index}.name"),
                    format!("{name} is also configured at $.passwd.{list}.{first}"),
                ));
            }
            let mut keys: HashMap<&str, usize> = HashMap::new();
            for (key_index, key) in array(entry, "/sshAuthorizedKeys").iter().enumerate() {
                let key = key.as_str().unwrap_or("");
                if keys.insert(key, key_index).is_some() {
                    findings.push(finding(
                        "ign.ssh-key-duplicate",
                        format!("$.passwd.{list}.{index}.sshAuthorizedKeys.{key_index}"),
                        "the same SSH key is listed twice",
                    ));
                }
            }
        }
    }
}
