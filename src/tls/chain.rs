//! Whether a certificate chains to the trust anchor: each certificate signed by the next
//! one it presents (by issuer name, as Go's crypto/x509 looks parents up), the last by the
//! anchor, every signature checked with the algorithm it names (`keys::PublicKey::verify`).

use x509_parser::asn1_rs::ToDer;
use x509_parser::prelude::X509Certificate;

use super::keys::{KeyProblem, PublicKey, Verdict};

/// Why a chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainProblem {
    /// The certificate named `subject` is not signed by the one named `issuer`.
    NotSigned { subject: String, issuer: String },
    /// Nothing presented (and not the anchor) has the subject `issuer`.
    Missing { issuer: String },
    /// A signature etcd would refuse, and why.
    Refused(String),
    /// A signature kindling cannot check (a warning, never "not signed").
    Unchecked(String),
}

/// The problem in words, for a message.
pub fn describe(problem: &ChainProblem) -> String {
    match problem {
        ChainProblem::NotSigned { subject, issuer } => {
            format!("the certificate of {subject} is not signed by {issuer}")
        }
        ChainProblem::Missing { issuer } => {
            format!("no certificate of its issuer {issuer} is there")
        }
        ChainProblem::Refused(why) => why.clone(),
        ChainProblem::Unchecked(what) => {
            format!("it is signed with {what}, which kindling cannot check")
        }
    }
}

/// Checks that `presented[0]` chains to `anchor` through the rest of `presented`, in any
/// order. `presented` must not be empty.
pub fn verify(presented: &[X509Certificate], anchor: &X509Certificate) -> Result<(), ChainProblem> {
    let mut used = vec![false; presented.len()];
    let mut current = &presented[0];
    used[0] = true;
    for _ in 0..presented.len() {
        let wanted = current.issuer().as_raw();
        if wanted == anchor.subject().as_raw() {
            return step(current, anchor);
        }
        let parent = presented
            .iter()
            .enumerate()
            .find(|(index, candidate)| !used[*index] && candidate.subject().as_raw() == wanted);
        let Some((index, parent)) = parent else {
            return Err(ChainProblem::Missing {
                issuer: current.issuer().to_string(),
            });
        };
        step(current, parent)?;
        used[index] = true;
        current = parent;
    }
    Err(ChainProblem::Missing {
        issuer: current.issuer().to_string(),
    })
}

/// One link: `child` signed by `parent`.
fn step(child: &X509Certificate, parent: &X509Certificate) -> Result<(), ChainProblem> {
    match signature(child, parent) {
        Verdict::Valid => Ok(()),
        Verdict::Invalid => Err(ChainProblem::NotSigned {
            subject: child.subject().to_string(),
            issuer: parent.subject().to_string(),
        }),
        Verdict::Refused(why) => Err(ChainProblem::Refused(format!(
            "the certificate of {} {why}",
            child.subject()
        ))),
        Verdict::Unchecked(what) => Err(ChainProblem::Unchecked(what)),
    }
}

/// Whether `parent`'s key made `child`'s signature.
pub fn signature(child: &X509Certificate, parent: &X509Certificate) -> Verdict {
    let key = match PublicKey::from_spki_der(parent.public_key().raw) {
        Ok(key) => key,
        Err(KeyProblem::Refused(why)) => {
            return Verdict::Refused(format!("is signed by a key that {why}"));
        }
        Err(_) => return Verdict::Invalid,
    };
    let algorithm = &child.signature_algorithm;
    let Ok(oid) =
        x509_cert::der::asn1::ObjectIdentifier::from_bytes(algorithm.algorithm.as_bytes())
    else {
        return Verdict::Unchecked(format!("signature algorithm {}", algorithm.algorithm));
    };
    let parameters = algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.to_der_vec().ok());
    key.verify(
        &oid,
        parameters.as_deref(),
        child.tbs_certificate.as_ref(),
        &child.signature_value.data,
    )
}
