//! The `cluster:` and `profile:` sections: the Ignition version rendered, the profile
//! chosen, the cluster token.

use super::{DEFAULT_PROFILE, ProfileChoice, ProfileRef, Resolver, values};
use crate::ignition::SpecVersion;

pub(super) fn resolve_ignition_version(r: &mut Resolver) -> SpecVersion {
    let Some(version) = &r.doc.spec.cluster.ignition else {
        return SpecVersion::V3_4;
    };
    match SpecVersion::parse_rendered(&version.value) {
        Some(v) => v,
        None => {
            let span = r.span(version);
            r.error(
                "spec.ignition-version",
                &span,
                format!(
                    "kindling renders Ignition 3.4.0 or 3.3.0, not {:?}",
                    version.value
                ),
                "use 3.4.0 (current Flatcar) or 3.3.0 (Flatcar releases before 3.4.0 support)",
            );
            SpecVersion::V3_4
        }
    }
}

pub(super) fn resolve_profile(r: &Resolver) -> ProfileChoice {
    let Some(profile) = &r.doc.spec.profile else {
        return ProfileChoice {
            name_or_dir: ProfileRef::Named(DEFAULT_PROFILE.to_string()),
            span: None,
        };
    };
    let text = &profile.value;
    let looks_like_path = text.contains('/') || text.starts_with('.');
    let name_or_dir = if looks_like_path {
        ProfileRef::Dir(r.doc.dir.join(text))
    } else {
        ProfileRef::Named(text.clone())
    };
    ProfileChoice {
        name_or_dir,
        span: Some(r.span(profile)),
    }
}

pub(super) fn resolve_token(r: &mut Resolver) -> String {
    let cluster = &r.doc.spec.cluster;
    match &cluster.token {
        Some(token) => r.checked("spec.token", token, values::token),
        None => cluster.name.value.clone(),
    }
}
