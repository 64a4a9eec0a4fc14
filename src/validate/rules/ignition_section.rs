//! The `ignition` section: proxies that are http(s) URLs (and a warning for a plaintext
//! proxy carrying HTTPS traffic), and a source for every merged config and CA. Each
//! source's URL and hash are checked with every other resource (`check_resources`).

use crate::json::Lookup;
use serde_json::Value;

use crate::diag::Diagnostic;
use crate::ignition::SpecVersion;
use crate::validate::{array, finding, text, warning};

pub fn check(config: &Value, version: SpecVersion, findings: &mut Vec<Diagnostic>) {
    for key in ["httpProxy", "httpsProxy"] {
        let proxy = config
            .at(&format!("/ignition/proxy/{key}"))
            .and_then(Value::as_str);
        // Ignition checks any proxy that is not null: an empty one has no scheme.
        if let Some(proxy) = proxy {
            check_proxy(key, proxy, findings);
        }
    }
    // Spec 3.0.0 accepts a merged config without a source; a CA always needs one.
    let merged = array(config, "/ignition/config/merge")
        .iter()
        .enumerate()
        .filter(|_| version > SpecVersion::V3_0)
        .map(|(i, m)| (format!("$.ignition.config.merge.{i}"), m));
    let authorities = array(config, "/ignition/security/tls/certificateAuthorities")
        .iter()
        .enumerate()
        .map(|(i, ca)| {
            (
                format!("$.ignition.security.tls.certificateAuthorities.{i}"),
                ca,
            )
        });
    for (at, resource) in merged.chain(authorities) {
        if text(resource, "source").is_empty() {
            findings.push(finding("ign.source-required", at, "source is required"));
        }
    }
}

fn check_proxy(key: &str, proxy: &str, findings: &mut Vec<Diagnostic>) {
    let at = format!("$.ignition.proxy.{key}");
    match crate::validate::go_url::scheme(proxy).as_deref() {
        Err(reason) => findings.push(finding(
            "ign.proxy",
            at,
            format!("unable to parse url: {reason}"),
        )),
        Ok(scheme) if !matches!(scheme, "http" | "https") => {
            findings.push(finding("ign.proxy", at, "proxies must be http(s)"));
        }
        Ok("http") if key == "httpsProxy" => findings.push(warning(
            "ign.proxy-insecure",
            at,
            "insecure plaintext HTTP proxy specified for HTTPS resources",
        )),
        Ok(_) => {}
    }
}
