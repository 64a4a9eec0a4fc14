//! `storage.luks`, as Ignition checks it: device-mapper names without slashes, labels that
//! fit a LUKS2 header, a device for every volume, one volume per name, and Clevis either
//! custom or built from tpm2/tang/threshold, with a known pin, a config, and for each Tang
//! server an http(s) URL, a thumbprint and an advertisement that is JSON. From spec 3.5.0, a
//! volume keyed by an IBM CEX card uses neither Clevis nor a key file.

use crate::json::Lookup;
use std::collections::HashMap;

use serde_json::Value;

use super::{absolute_path, duplicate};
use crate::diag::Diagnostic;
use crate::ignition::SpecVersion;
use crate::validate::{array, finding, text};

const CODE: &str = "ign.luks";

pub fn check(config: &Value, version: SpecVersion, findings: &mut Vec<Diagnostic>) {
    let mut names = HashMap::new();
    for (index, luks) in array(config, "/storage/luks").iter().enumerate() {
        let at = format!("$.storage.luks.{index}");
        let name = text(luks, "name");
        if name.contains('/') {
            findings.push(finding(
                CODE,
                format!("{at}.name"),
                "device names cannot contain slashes",
            ));
        }
        if luks
            .member("label")
            .and_then(Value::as_str)
            .is_some_and(|l| l.len() > 47)
        {
            findings.push(finding(
                CODE,
                format!("{at}.label"),
                "luks device labels cannot be longer than 47 characters",
            ));
        }
        match luks
            .member("device")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
        {
            None => findings.push(finding(
                CODE,
                format!("{at}.device"),
                "disk device is required",
            )),
            Some(device) => absolute_path(CODE, device, &format!("{at}.device"), findings),
        }
        if let Some(clevis) = luks.member("clevis") {
            check_clevis(clevis, &format!("{at}.clevis"), findings);
        }
        if version >= SpecVersion::V3_5 {
            check_cex(luks, &at, findings);
        }
        if !name.is_empty() && names.insert(name, index).is_some() {
            findings.push(duplicate(CODE, at, "luks name"));
        }
    }
}

/// A CEX-keyed volume (`cex.enabled`) takes its key from the card alone.
fn check_cex(luks: &Value, at: &str, findings: &mut Vec<Diagnostic>) {
    if luks.at("/cex/enabled") != Some(&Value::Bool(true)) {
        return;
    }
    // Any Clevis setting counts, as Ignition's `Clevis.IsPresent` has it.
    let clevis = luks.member("clevis");
    let uses_clevis = clevis.is_some_and(|c| {
        let custom = c.member("custom").unwrap_or(&Value::Null);
        c.member("tpm2") == Some(&Value::Bool(true))
            || !array(c, "/tang").is_empty()
            || c.member("threshold")
                .and_then(Value::as_i64)
                .is_some_and(|t| t != 0)
            || !text(custom, "pin").is_empty()
            || !text(custom, "config").is_empty()
            || custom.member("needsNetwork") == Some(&Value::Bool(true))
    });
    if uses_clevis {
        findings.push(finding(
            CODE,
            format!("{at}.cex"),
            "cannot use both cex and clevis",
        ));
    }
    if luks.at("/keyFile/source").is_some_and(|s| !s.is_null()) {
        findings.push(finding(
            CODE,
            format!("{at}.cex"),
            "cannot use key file with cex",
        ));
    }
}

fn check_clevis(clevis: &Value, at: &str, findings: &mut Vec<Diagnostic>) {
    let tang = array(clevis, "/tang");
    for (index, server) in tang.iter().enumerate() {
        check_tang(server, &format!("{at}.tang.{index}"), findings);
    }
    let Some(custom) = clevis.member("custom").filter(|c| c.is_object()) else {
        return;
    };
    let others = clevis.member("tpm2") == Some(&Value::Bool(true))
        || !tang.is_empty()
        || clevis
            .member("threshold")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            != 0;
    if others {
        findings.push(finding(
            CODE,
            at.to_string(),
            "cannot use custom clevis config with tpm2, tang, or threshold",
        ));
    }
    let pin = text(custom, "pin");
    let config = text(custom, "config");
    let needs_network = custom.member("needsNetwork") == Some(&Value::Bool(true));
    if pin.is_empty() && config.is_empty() && !needs_network {
        return;
    }
    if pin.is_empty() {
        findings.push(finding(
            CODE,
            format!("{at}.custom.pin"),
            "missing required custom clevis pin",
        ));
    } else if !matches!(pin, "tpm2" | "tang" | "sss") {
        findings.push(finding(
            CODE,
            format!("{at}.custom.pin"),
            format!("unsupported clevis pin {pin:?}"),
        ));
    }
    if config.is_empty() {
        findings.push(finding(
            CODE,
            format!("{at}.custom.config"),
            "missing required custom clevis config",
        ));
    }
}

fn check_tang(server: &Value, at: &str, findings: &mut Vec<Diagnostic>) {
    let url = text(server, "url");
    match crate::validate::go_url::scheme(url).as_deref() {
        Err(reason) => findings.push(finding(
            CODE,
            format!("{at}.url"),
            format!("unable to parse url: {reason}"),
        )),
        Ok(scheme) if !matches!(scheme, "http" | "https") => findings.push(finding(
            CODE,
            format!("{at}.url"),
            "invalid url scheme: Tang servers are reached over http(s)",
        )),
        Ok(_) => {}
    }
    if text(server, "thumbprint").is_empty() {
        findings.push(finding(
            CODE,
            format!("{at}.thumbprint"),
            "thumbprint is required",
        ));
    }
    if let Some(advertisement) = server.member("advertisement").and_then(Value::as_str)
        && !advertisement.is_empty()
        && serde_json::from_str::<serde::de::IgnoredAny>(advertisement).is_err()
    {
        findings.push(finding(
            CODE,
            format!("{at}.advertisement"),
            "advertisement is not valid JSON",
        ));
    }
}
