//! `backup.s3`: where each schedule slot's snapshot goes off the node. Every value is checked
//! here by the rules S3 applies to it, since the backup script prints them into request URLs
//! that are signed as they are written.

use super::{Resolver, value_or, values};
use crate::diag::{Diagnostic, Location};
use crate::spec::S3Section;
use values::Invalid;

/// `backup.s3` of the spec, with its defaults.
#[derive(Debug)]
pub struct S3Settings {
    /// `http(s)://host[:port]`, without a trailing slash; objects are addressed path-style.
    pub endpoint: String,
    pub bucket: String,
    /// Prepended to each object name as it is (`etcd/` puts them in a "folder").
    pub prefix: String,
    pub region: String,
    /// The node's file with the access key (`AWS_ACCESS_KEY_ID=…`, `AWS_SECRET_ACCESS_KEY=…`).
    pub credentials: String,
    /// Objects kept in the bucket; older ones are deleted after each upload.
    pub keep: u32,
    /// A CA bundle on the node for the endpoint's certificate; the system's when empty.
    pub ca_file: String,
}

/// Where the operator provisions the access key when the spec does not say.
pub const DEFAULT_CREDENTIALS: &str = "/etc/kindling/backup-s3.env";

pub(super) fn resolve_s3(r: &mut Resolver, section: &S3Section, local_keep: u32) -> S3Settings {
    let endpoint = checked_endpoint(r, section);
    let bucket = r.checked("backup.s3-bucket", &section.bucket, bucket);
    let prefix = section
        .prefix
        .as_ref()
        .map_or_else(String::new, |p| r.checked("backup.s3-prefix", p, prefix));
    let region = section.region.as_ref().map_or_else(
        || "us-east-1".to_string(),
        |g| r.checked("backup.s3-region", g, region),
    );
    let credentials = section.credentials.as_ref().map_or_else(
        || DEFAULT_CREDENTIALS.to_string(),
        |c| r.checked("backup.s3-credentials", c, values::node_file),
    );
    let ca_file = section.ca_file.as_ref().map_or_else(String::new, |c| {
        r.checked("backup.s3-ca-file", c, values::node_file)
    });
    let keep = value_or(&section.keep, local_keep);
    if let Some(written) = &section.keep
        && keep == 0
    {
        let span = r.span(written);
        r.error(
            "backup.s3-keep",
            &span,
            "keep: 0 would delete every uploaded snapshot".into(),
            "keep at least 1 snapshot in the bucket (backup.keep is the default)",
        );
    }
    S3Settings {
        endpoint,
        bucket,
        prefix,
        region,
        credentials,
        keep,
        ca_file,
    }
}

fn checked_endpoint(r: &mut Resolver, section: &S3Section) -> String {
    let written = &section.endpoint;
    let span = r.span(written);
    match endpoint(&written.value) {
        Ok(url) => {
            if url.starts_with("http://") {
                r.report.push(
                    Diagnostic::warning(
                        "backup.s3-plain-http",
                        "snapshots hold every key of the cluster: over http they cross the network readable by anyone on the way",
                        Location::Source(span),
                    )
                    .with_help("use the endpoint's https:// URL (with ca_file for a private CA)"),
                );
            }
            url
        }
        Err(invalid) => {
            r.fail("backup.s3-endpoint", span, invalid);
            written.value.clone()
        }
    }
}

/// `http(s)://host[:port]`, nothing else: the bucket and object names are appended to it.
fn endpoint(value: &str) -> Result<String, Invalid> {
    let help = "write the service's base URL, e.g. https://s3.eu-west-1.amazonaws.com or https://minio.example.net:9000";
    let invalid = |message: String| Invalid {
        message,
        help: help.to_string(),
    };
    let parsed =
        url::Url::parse(value).map_err(|e| invalid(format!("{value:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "URL scheme {:?} is not http or https",
            parsed.scheme()
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Invalid {
            message: "the URL holds credentials (user:password@)".into(),
            help:
                "keys go in the node's credentials file (backup.s3.credentials), never in the spec"
                    .into(),
        });
    }
    if parsed.host_str().is_none()
        || parsed.path() != "/"
        || parsed.query().is_some()
        || parsed.fragment().is_some()
    {
        return Err(invalid(format!(
            "{value:?} is not a plain endpoint URL (no path, query or fragment)"
        )));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_string())
}

/// S3's bucket naming rules (general purpose buckets).
fn bucket(value: &str) -> Result<(), Invalid> {
    let allowed = value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let ends_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let looks_like_ip = value.parse::<std::net::Ipv4Addr>().is_ok();
    if (3..=63).contains(&value.len())
        && allowed
        && ends_ok(value.as_bytes().first())
        && ends_ok(value.as_bytes().last())
        && !value.contains("..")
        && !looks_like_ip
        && !value.starts_with("xn--")
        && !value.starts_with("sthree-")
        && !value.ends_with("-s3alias")
        && !value.ends_with("--ol-s3")
    {
        return Ok(());
    }
    Err(Invalid {
        message: format!("{value:?} is not a valid S3 bucket name"),
        help: "3 to 63 lowercase letters, digits, `.` and `-`, starting and ending with a letter or digit, not an IP address".into(),
    })
}

/// An object-name prefix of characters that need no escaping in a URL or a signature.
fn prefix(value: &str) -> Result<(), Invalid> {
    let ok = value.len() <= 512
        && !value.starts_with('/')
        && !value.contains("//")
        && !value.split('/').any(|part| part == "." || part == "..")
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'));
    if ok {
        return Ok(());
    }
    Err(Invalid {
        message: format!("{value:?} is not an object-name prefix kindling can sign"),
        help: "letters, digits, `-`, `_`, `.` and `/`, not starting with `/`, without `//`, `.` or `..` parts, e.g. etcd/prod/".into(),
    })
}

/// An AWS region name as it goes into the signature's scope (`eu-west-1`).
fn region(value: &str) -> Result<(), Invalid> {
    let ok = (1..=32).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-');
    if ok {
        return Ok(());
    }
    Err(Invalid {
        message: format!("{value:?} is not a region name"),
        help: "write the bucket's region as the service names it, e.g. eu-west-1 (MinIO and most others accept us-east-1)".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_base_urls_only() {
        assert_eq!(
            endpoint("https://s3.eu-west-1.amazonaws.com/").unwrap(),
            "https://s3.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            endpoint("http://127.0.0.1:9000").unwrap(),
            "http://127.0.0.1:9000"
        );
        for bad in [
            "s3.amazonaws.com",
            "ftp://host",
            "https://key:secret@host",
            "https://host/bucket",
            "https://host/?x=1",
            "https://host/#f",
        ] {
            assert!(endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn buckets_follow_s3_naming() {
        for good in ["etcd-backups", "my.bucket.1", "abc"] {
            assert!(bucket(good).is_ok(), "{good}");
        }
        for bad in [
            "ab",
            "Upper",
            "-lead",
            "trail.",
            "a..b",
            "192.168.5.4",
            "xn--abc",
            "under_score",
            &"a".repeat(64),
        ] {
            assert!(bucket(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixes_and_regions() {
        assert!(prefix("etcd/prod/").is_ok());
        assert!(prefix("").is_ok());
        for bad in ["/etcd", "a//b", "a/../b", "a b", "a%2f", "a?b"] {
            assert!(prefix(bad).is_err(), "{bad}");
        }
        assert!(region("eu-west-1").is_ok());
        for bad in ["", "EU", "-x", "eu west"] {
            assert!(region(bad).is_err(), "{bad}");
        }
    }
}
