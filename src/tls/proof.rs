//! Whether a certificate is signed by the CA and belongs to its key, and the record of the
//! pairs already proven (`TLS_DIR/proven`), so later runs need not prove them again.
//!
//! Proving a pair costs an ECDSA signature verification and a key-pair check, about a
//! million instructions: for a five-node cluster, a quarter of a whole render; for a
//! thousand nodes, most of it. Both are pure functions of the bytes of the CA certificate,
//! the leaf certificate and the key file, so `pki init` records a SHA-256 over those three
//! for each pair it created or proved, and `check` skips the proof when the hash of what it
//! reads is in the record. Any change to any of the three files changes the hash, and the
//! pair is proven in full again; a missing or damaged record only costs time. The record
//! holds digests only: nothing in it reveals a key.

use std::collections::HashSet;
use std::path::Path;

use sha2::{Digest, Sha256};
use x509_parser::prelude::*;

use super::CertPair;
use crate::diag::Report;

/// The record's file name inside the TLS directory.
pub const RECORD: &str = "proven";

const HEADER: &str = "# kindling pki: SHA-256 of (CA certificate, certificate, key) for each pair `kindling pki init` proved signed by the CA and matching its key. Safe to delete.\n";

/// The largest record read; a bigger file is ignored (it only saves time).
const RECORD_LIMIT: u64 = 16 << 20;

/// Whether `cert` carries the CA's signature (and names the CA as its issuer).
pub fn signed_by(cert: &X509Certificate, ca: &X509Certificate) -> bool {
    cert.issuer() == ca.subject() && cert.verify_signature(Some(ca.public_key())).is_ok()
}

/// Whether the private key in `key_pem` is the certificate's: None when the key is in a
/// format kindling cannot read.
pub fn key_matches(cert: &X509Certificate, key_pem: &str) -> Option<bool> {
    let key = rcgen::KeyPair::from_pem(key_pem).ok()?;
    Some(key.public_key_raw() == cert.public_key().subject_public_key.data.as_ref())
}

/// The pairs proven so far under one CA.
#[derive(Debug, Default)]
pub struct Proven {
    digests: HashSet<String>,
}

impl Proven {
    /// Reads the record in `dir`; an absent, unreadable or oversized one is empty.
    pub fn load(dir: &Path) -> Proven {
        let digests = crate::read::regular_text(&dir.join(RECORD), RECORD_LIMIT)
            .map(|text| {
                text.lines()
                    .filter(|line| !line.starts_with('#'))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Proven { digests }
    }

    /// Whether this exact CA, certificate and key were proven to belong together.
    pub fn vouches(&self, ca_der: &[u8], cert_der: &[u8], key_pem: &str) -> bool {
        !self.digests.is_empty() && self.digests.contains(&digest(ca_der, cert_der, key_pem))
    }
}

/// The record's line for a pair.
pub fn digest(ca_der: &[u8], cert_der: &[u8], key_pem: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [ca_der, cert_der, key_pem.as_bytes()] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

/// Proves every pair whose files are in `pairs` against the CA certificate at `ca_cert` and
/// replaces the record in `dir` with the ones that hold (sorted, so the file is the same
/// whenever the material is). A pair that does not hold is left out, for `check` to report.
pub fn record(dir: &Path, ca_cert: &Path, pairs: &[CertPair]) -> Result<(), Report> {
    let read = |path: &Path| crate::read::text(path, crate::read::SPEC_LIMIT).ok();
    let Some(ca_pem) = read(ca_cert) else {
        return Ok(());
    };
    let Some(ca_der) = pem_der(&ca_pem) else {
        return Ok(());
    };
    let Ok((_, ca)) = X509Certificate::from_der(&ca_der) else {
        return Ok(());
    };
    let mut lines = Vec::new();
    for pair in pairs {
        let (Some(cert_pem), Some(key_pem)) = (read(&pair.cert), read(&pair.key)) else {
            continue;
        };
        let Some(cert_der) = pem_der(&cert_pem) else {
            continue;
        };
        let Ok((_, cert)) = X509Certificate::from_der(&cert_der) else {
            continue;
        };
        if signed_by(&cert, &ca) && key_matches(&cert, &key_pem) == Some(true) {
            lines.push(digest(&ca_der, &cert_der, &key_pem));
        }
    }
    lines.sort();
    let mut text = String::from(HEADER);
    for line in lines {
        text.push_str(&line);
        text.push('\n');
    }
    crate::emit::replace_file(&dir.join(RECORD), text.as_bytes(), 0o600)
}

/// The DER bytes of the first PEM block in `text`.
pub fn pem_der(text: &str) -> Option<Vec<u8>> {
    let (_, pem) = parse_x509_pem(text.as_bytes()).ok()?;
    Some(pem.contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_line_is_the_lowercase_hex_sha256_of_the_length_prefixed_parts() {
        // hashlib.sha256(b"".join(struct.pack(">Q", len(p)) + p for p in parts)).hexdigest()
        assert_eq!(
            digest(b"a", b"bc", "d"),
            "5f57d28dfd0ca19a2024a5c7e99508c5c479adac47d802042b37a4cf78a7a205"
        );
    }

    #[test]
    fn every_byte_of_every_part_counts() {
        let base = digest(b"ca", b"cert", "key");
        assert_ne!(base, digest(b"ca", b"cert", "kez"));
        assert_ne!(base, digest(b"ca", b"cerT", "key"));
        assert_ne!(base, digest(b"cb", b"cert", "key"));
        // Lengths are part of the hash: moving a byte across a boundary changes it.
        assert_ne!(base, digest(b"cac", b"ert", "key"));
    }

    #[test]
    fn an_absent_record_vouches_for_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!Proven::load(dir.path()).vouches(b"ca", b"cert", "key"));
        std::fs::write(
            dir.path().join(RECORD),
            format!("{HEADER}{}\n", digest(b"ca", b"cert", "key")),
        )
        .unwrap();
        let proven = Proven::load(dir.path());
        assert!(proven.vouches(b"ca", b"cert", "key"));
        assert!(!proven.vouches(b"ca", b"cert", "other key"));
    }
}
