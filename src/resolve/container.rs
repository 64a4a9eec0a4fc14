//! The etcd container image of the profiles that run etcd in a container (flatcar-container,
//! kubeadm-static-pod). A tag can be moved to other bytes, so the image must be pinned by
//! digest, the container counterpart of the sysext image's hash; and its tag, when it has
//! one, must name the etcd release the settings were generated for.

use super::{Resolver, values};
use crate::diag::Span;

/// Built-in profiles that run etcd from `container.image`.
pub const CONTAINER_PROFILES: &[&str] = &["flatcar-container", "kubeadm-static-pod"];

#[derive(Debug, Clone)]
pub struct ContainerSettings {
    /// The reference exactly as written (`registry/etcd:v3.5.21@sha256:…`).
    pub image: String,
    pub span: Span,
}

pub(super) fn resolve_container(
    r: &mut Resolver,
    etcd_version: &str,
    profile: Option<&str>,
) -> Option<ContainerSettings> {
    let Some(section) = &r.doc.spec.container else {
        if let Some(name) = profile.filter(|p| CONTAINER_PROFILES.contains(p)) {
            let span = r.doc.spec.profile.as_ref().map(|p| r.span(p));
            if let Some(span) = span {
                r.error(
                    "container.missing",
                    &span,
                    format!("profile {name} runs etcd from a container image, but the spec has no `container:`"),
                    "add container: { image: REGISTRY/etcd:TAG@sha256:DIGEST }",
                );
            }
        }
        return None;
    };
    let image = &section.value.image;
    let span = r.span(image);
    let allow_unpinned = section
        .value
        .allow_unpinned
        .as_ref()
        .is_some_and(|a| a.value);
    match values::container_image(&image.value) {
        Err(invalid) => r.error("container.image", &span, invalid.message, &invalid.help),
        Ok(parsed) => {
            if parsed.digest.is_none() && !allow_unpinned {
                r.error(
                    "container.image-unpinned",
                    &span,
                    format!("{} names no digest: a tag can be moved to other bytes", image.value),
                    "pin it: append @sha256:<digest> (`docker buildx imagetools inspect IMAGE` prints it), or set allow_unpinned: true",
                );
            }
            if let Some(tag) = parsed.tag
                && !tag_names_version(tag, etcd_version)
            {
                r.error(
                    "container.image-version",
                    &span,
                    format!("the image is tagged {tag}, but etcd.version is {etcd_version}"),
                    "the settings are generated for etcd.version: use that release's image",
                );
            }
        }
    }
    Some(ContainerSettings {
        image: image.value.clone(),
        span,
    })
}

/// `v3.5.21`, `3.5.21` and kubeadm's `3.5.21-0` all name etcd v3.5.21; `3.5.2` does not.
fn tag_names_version(tag: &str, version: &str) -> bool {
    let number = version.trim_start_matches('v');
    let rest = tag.trim_start_matches('v');
    rest.strip_prefix(number)
        .is_some_and(|after| after.is_empty() || after.starts_with('-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_name_a_release_upstream_or_kubeadm_style() {
        assert!(tag_names_version("v3.5.21", "v3.5.21"));
        assert!(tag_names_version("3.5.21-0", "v3.5.21"));
        assert!(!tag_names_version("3.5.2", "v3.5.21"));
        assert!(!tag_names_version("v3.5.210", "v3.5.21"));
        assert!(!tag_names_version("latest", "v3.5.21"));
    }
}
