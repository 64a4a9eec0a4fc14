//! `kindling pki init` and `pki renew`: which certificates a resolved cluster needs, issued
//! from its CA with the primitives of `tls`. Above `resolve` (it takes a `Cluster`), so the
//! arrows run one way: `pki` → `resolve` → `tls`.

pub mod init;
pub mod renew;

pub use init::{Validity, init};
