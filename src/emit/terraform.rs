//! The Terraform `external` data source protocol: one JSON object of strings on stdin, one
//! JSON object of strings on stdout, or one readable line on stderr and exit 1. No side
//! effects: nothing is written.
//!
//! Query keys: `spec` (path, required), `node` (one node), `pretty` ("true"/"false"),
//! `ignition` ("3.4.0"/"3.3.0"), `profiles` (a directory of profiles, as `--profiles`). Result: `<node>` → Ignition JSON and `<node>_sha256` → its
//! SHA-256 for every node, or `rendered` and `sha256` with `node`; with `monitoring:`,
//! `monitoring_prometheus_yml` and `monitoring_rules_yml` too. Node names are DNS labels, so
//! no key with an underscore can collide with a node's.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::diag::{Diagnostic, Location, Report};
use crate::ignition::SpecVersion;
use crate::{Options, compile};

const KEYS: [&str; 5] = ["spec", "node", "pretty", "ignition", "profiles"];

/// Answers one query: the stdout object on success.
pub fn answer(stdin: &str) -> Result<String, Report> {
    let query = parse_query(stdin)?;
    let spec = query
        .get("spec")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| usage("the query has no \"spec\" (the path of the cluster spec)"))?;
    let options = Options {
        profiles_dir: query
            .get("profiles")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from),
        pretty: parse_pretty(query.get("pretty"))?,
        only_node: query.get("node").filter(|n| !n.is_empty()).cloned(),
        ignition: query
            .get("ignition")
            .map(|v| {
                SpecVersion::parse_rendered(v).ok_or_else(|| {
                    usage(&format!(
                        "\"ignition\" must be \"3.4.0\" or \"3.3.0\", not {v:?}"
                    ))
                })
            })
            .transpose()?,
        ..Options::default()
    };
    let compiled = compile(&PathBuf::from(spec), &options)?;
    let mut result = Map::new();
    for node in compiled.nodes {
        let sha256 = hex::encode(Sha256::digest(node.json.as_bytes()));
        if options.only_node.is_some() {
            result.insert("rendered".into(), Value::String(node.json));
            result.insert("sha256".into(), Value::String(sha256));
        } else {
            let hash_key = format!("{}_sha256", node.name);
            result.insert(node.name, Value::String(node.json));
            result.insert(hash_key, Value::String(sha256));
        }
    }
    for file in &compiled.monitoring {
        let key = if file.name == crate::monitoring::SCRAPE_CONFIG {
            "monitoring_prometheus_yml"
        } else {
            "monitoring_rules_yml"
        };
        result.insert(key.into(), Value::String(file.text.clone()));
    }
    Ok(format!("{}\n", Value::Object(result)))
}

fn parse_query(stdin: &str) -> Result<BTreeMap<String, String>, Report> {
    let value: Value = serde_json::from_str(stdin)
        .map_err(|e| usage(&format!("stdin is not one JSON object: {e}")))?;
    let Value::Object(map) = value else {
        return Err(usage("stdin must be one JSON object of strings"));
    };
    let mut query = BTreeMap::new();
    for (key, value) in map {
        if !KEYS.contains(&key.as_str()) {
            return Err(usage(&format!(
                "unknown query key {key:?} (known: {})",
                KEYS.join(", ")
            )));
        }
        let Value::String(text) = value else {
            return Err(usage(&format!(
                "query value {key:?} must be a string, as Terraform sends it"
            )));
        };
        query.insert(key, text);
    }
    Ok(query)
}

fn parse_pretty(value: Option<&String>) -> Result<bool, Report> {
    match value.map(String::as_str) {
        None | Some("" | "false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(usage(&format!(
            "\"pretty\" must be \"true\" or \"false\", not {other:?}"
        ))),
    }
}

fn usage(message: &str) -> Report {
    Diagnostic::error("terraform.query", message, Location::Nowhere).into()
}
