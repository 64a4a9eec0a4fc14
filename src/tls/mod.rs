//! The cluster's TLS material: where it lives in the spec's TLS directory, and how its keys,
//! signatures and chains are read, made and checked. Knows nothing of the spec: `pki`
//! (above `resolve`) decides what to issue, `resolve` and `check` read what is there.

pub mod certificate;
pub mod chain;
pub mod keys;
pub mod proof;

use std::path::{Path, PathBuf};

/// File names inside the spec's TLS directory. `pki init` writes them, `resolve` reads them.
#[derive(Clone, Debug)]
pub struct PkiPaths {
    dir: PathBuf,
}

/// A certificate and its private key.
#[derive(Clone, Debug)]
pub struct CertPair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertPair {
    /// The `kindling pki renew` that issues a new pair in place of this one: by node or client.
    pub fn renew_command(&self) -> String {
        let stem = self.cert.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let parent = self.cert.parent();
        let parent_name = parent
            .and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .unwrap_or("");
        let grandparent_name = parent
            .and_then(Path::parent)
            .and_then(Path::file_name)
            .and_then(|n| n.to_str());
        let selector = match (stem, grandparent_name) {
            ("server" | "peer", Some("nodes")) => format!("--node {parent_name}"),
            _ => format!("--client {stem}"),
        };
        format!("kindling pki renew SPEC {selector}")
    }
}

impl PkiPaths {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        PkiPaths { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA that signs leaves: `ca.crt` (followed by any CA between it and the root, when
    /// it is an intermediate) and `ca.key`.
    pub fn ca(&self) -> CertPair {
        self.pair(self.dir.clone(), "ca")
    }

    /// The trust anchor when `ca.crt` is an intermediate: the root certificate, whose key
    /// stays offline. Absent, `ca.crt` is the anchor.
    pub fn root(&self) -> PathBuf {
        self.dir.join("root.crt")
    }

    /// The etcdctl client certificate (clientAuth), installed root-only on every node.
    pub fn client(&self) -> CertPair {
        self.pair(self.dir.clone(), "etcdctl")
    }

    pub fn server(&self, node: &str) -> CertPair {
        self.pair(self.node_dir(node), "server")
    }

    pub fn peer(&self, node: &str) -> CertPair {
        self.pair(self.node_dir(node), "peer")
    }

    /// An extra client certificate of `tls.clients`.
    pub fn extra_client(&self, name: &str) -> CertPair {
        self.pair(self.dir.join("clients"), name)
    }

    pub fn node_dir(&self, node: &str) -> PathBuf {
        self.dir.join("nodes").join(node)
    }

    fn pair(&self, dir: PathBuf, stem: &str) -> CertPair {
        CertPair {
            cert: dir.join(format!("{stem}.crt")),
            key: dir.join(format!("{stem}.key")),
        }
    }
}
