//! The `tls:` section: the TLS directory, key modes and algorithm, validity, and the extra
//! client certificates.

use serde_saphyr::Spanned;

use super::values::{self, Invalid};
use super::{Resolver, TlsSettings, operations};
use crate::tls::PkiPaths;
use crate::tls::keys::KeyAlgorithm;

pub(super) fn resolve_tls(r: &mut Resolver) -> TlsSettings {
    let tls = &r.doc.spec.tls;
    let dir = tls
        .dir
        .as_ref()
        .map_or_else(|| "pki".to_string(), |d| d.value.clone());
    let dir_span = tls
        .dir
        .as_ref()
        .map_or_else(|| r.span(&r.doc.spec.cluster.name), |d| r.span(d));
    let key_mode = match &tls.key_mode {
        None => 0o600,
        Some(mode) => {
            let span = r.span(mode);
            let parsed = values::octal_mode(&mode.value).and_then(|m| {
                if m == 0o600 || m == 0o400 {
                    Ok(m)
                } else {
                    Err(Invalid {
                        message: format!("key mode {:o} lets others read private keys", m),
                        help: "use \"0600\" or \"0400\"".into(),
                    })
                }
            });
            r.check("tls.key-mode", span, parsed, 0o600)
        }
    };
    let key_algorithm = match &tls.key_algorithm {
        None => KeyAlgorithm::P256,
        Some(name) => {
            let span = r.span(name);
            let parsed = KeyAlgorithm::parse(&name.value).ok_or_else(|| Invalid {
                message: format!("{:?} is not a key algorithm kindling generates", name.value),
                help: format!("one of {}", KeyAlgorithm::NAMES.join(", ")),
            });
            r.check("tls.key-algorithm", span, parsed, KeyAlgorithm::P256)
        }
    };
    let days = |r: &mut Resolver, value: &Option<Spanned<u32>>, default: u32| match value {
        Some(days) if days.value == 0 => {
            let span = r.span(days);
            r.error(
                "tls.days",
                &span,
                "a validity of 0 days".into(),
                "give the number of days certificates stay valid",
            );
            default
        }
        Some(days) => days.value,
        None => default,
    };
    let ca_days = days(r, &tls.ca_days, 3650);
    let leaf_days = days(r, &tls.leaf_days, 365);
    TlsSettings {
        paths: PkiPaths::new(r.doc.dir.join(dir)),
        dir_span,
        key_mode,
        key_algorithm,
        ca_days,
        leaf_days,
        clients: operations::resolve_clients(r),
    }
}
