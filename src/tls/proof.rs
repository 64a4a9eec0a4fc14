//! Whether a certificate chains to the cluster's trust anchor and belongs to its key, and
//! the record of the pairs already proven (`TLS_DIR/proven`), so later runs need not prove
//! them again.
//!
//! Proving a pair costs a signature verification per link and a key-pair check, about a
//! million instructions: for a five-node cluster, a quarter of a whole render; for a
//! thousand nodes, most of it. Both are pure functions of the bytes of the trust files
//! (`root.crt` and `ca.crt`), the certificate file and the key file, so `pki init` records a
//! SHA-256 over those three for each pair it created or proved, and `check` skips the proof
//! when the hash of what it reads is in the record. Any change to any of the files changes
//! the hash, and the pair is proven in full again; a missing or damaged record only costs
//! time. The record holds digests only: nothing in it reveals a key.

use std::collections::HashSet;
use std::path::Path;

use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::keys::{self, KeyProblem, PrivateKey, PublicKey};
use super::{CertPair, PkiPaths};

/// The record's file name inside the TLS directory.
pub const RECORD: &str = "proven";

const HEADER: &str = "# kindling pki: SHA-256 of (trust files, certificate file, key) for each pair `kindling pki init` proved chained to the trust anchor and matching its key. Safe to delete.\n";

/// The largest record read; a bigger file is ignored (it only saves time).
const RECORD_LIMIT: u64 = 16 << 20;

/// Whether the private key in `key_pem` is the certificate's, or why it cannot be read.
pub fn key_matches(cert: &X509Certificate, key_pem: &str) -> Result<bool, KeyProblem> {
    let key = PrivateKey::from_pem(key_pem)?;
    Ok(PublicKey::from_spki_der(cert.public_key().raw).ok() == Some(key.public_key()))
}

/// The text of the trust files: `root.crt` (when there is one) then `ca.crt`. What a
/// record line covers, and where the anchor is found.
pub fn trust_text(root_pem: Option<&str>, ca_pem: &str) -> String {
    format!("{}{ca_pem}", root_pem.unwrap_or(""))
}

/// The trust anchor's DER: `root.crt`'s certificate, or else the first of `ca.crt`.
pub fn anchor_der(root_pem: Option<&str>, ca_pem: &str) -> Option<Vec<u8>> {
    keys::certificate_ders(root_pem.unwrap_or(ca_pem))
        .into_iter()
        .next()
}

/// Whether the certificate file `cert_pem` (a leaf, then what it presents) chains to the
/// anchor and `key_pem` is its key.
fn holds(anchor: &X509Certificate, cert_pem: &str, key_pem: &str) -> bool {
    let ders = keys::certificate_ders(cert_pem);
    let Ok(presented) = ders
        .iter()
        .map(|der| X509Certificate::from_der(der).map(|(_, c)| c))
        .collect::<Result<Vec<_>, _>>()
    else {
        return false;
    };
    !presented.is_empty()
        && super::chain::verify(&presented, anchor).is_ok()
        && key_matches(&presented[0], key_pem) == Ok(true)
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

    /// Whether these exact trust files, certificate file and key were proven to belong
    /// together.
    pub fn vouches(&self, trust: &str, cert_pem: &str, key_pem: &str) -> bool {
        !self.digests.is_empty()
            && self
                .digests
                .contains(&digest(trust.as_bytes(), cert_pem.as_bytes(), key_pem))
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

/// Proves every pair whose files are in `pairs` against the cluster's trust files and
/// gives the record of the ones that hold (sorted, so the file is the same whenever the
/// material is), to be written at `record_path`; None without readable trust files. A
/// pair that does not hold is left out, for `check` to report.
pub fn record(paths: &PkiPaths, pairs: &[CertPair]) -> Option<String> {
    let read = |path: &Path| crate::read::text(path, crate::read::SPEC_LIMIT).ok();
    let ca_pem = read(&paths.ca().cert)?;
    let root_pem = read(&paths.root());
    let anchor_der = anchor_der(root_pem.as_deref(), &ca_pem)?;
    let (_, anchor) = X509Certificate::from_der(&anchor_der).ok()?;
    let trust = trust_text(root_pem.as_deref(), &ca_pem);
    let mut lines = Vec::new();
    for pair in pairs {
        let (Some(cert_pem), Some(key_pem)) = (read(&pair.cert), read(&pair.key)) else {
            continue;
        };
        if holds(&anchor, &cert_pem, &key_pem) {
            lines.push(digest(trust.as_bytes(), cert_pem.as_bytes(), &key_pem));
        }
    }
    lines.sort();
    let mut text = String::from(HEADER);
    for line in lines {
        text.push_str(&line);
        text.push('\n');
    }
    Some(text)
}

/// Where the record lives in the TLS directory.
pub fn record_path(paths: &PkiPaths) -> std::path::PathBuf {
    paths.dir().join(RECORD)
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
        assert!(!Proven::load(dir.path()).vouches("ca", "cert", "key"));
        std::fs::write(
            dir.path().join(RECORD),
            format!("{HEADER}{}\n", digest(b"ca", b"cert", "key")),
        )
        .unwrap();
        let proven = Proven::load(dir.path());
        assert!(proven.vouches("ca", "cert", "key"));
        assert!(!proven.vouches("ca", "cert", "other key"));
    }
}
