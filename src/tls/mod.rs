//! The cluster's TLS material: where it lives in the spec's TLS directory, how
//! `kindling pki init` and `pki renew` create it, and how its keys, signatures and chains
//! are read and checked.

pub mod certificate;
pub mod chain;
pub mod keys;
pub mod pki;
pub mod proof;
pub mod renew;

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
