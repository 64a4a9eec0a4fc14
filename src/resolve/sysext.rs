//! The `sysext:` section: where each node fetches the etcd image, how its hash is known,
//! and how systemd-sysupdate keeps it current.

use serde_saphyr::Spanned;

use super::{EtcdSettings, Resolver, SysextSettings, UpdateSettings, container, value_or, values};
use crate::diag::Span;

pub(super) fn resolve_sysext(
    r: &mut Resolver,
    etcd: &EtcdSettings,
    profile: Option<&str>,
) -> SysextSettings {
    let Some(sysext) = &r.doc.spec.sysext else {
        return no_sysext(r, etcd, profile);
    };
    let mut settings = image_source(r, sysext, "etcd", &etcd.version);
    settings.update = resolve_update(r, etcd, &settings.arch);
    settings
}

/// Where nodes fetch a sysext image (`<extension>-<version>-<arch>.raw`) and how its hash
/// is known; no update of it (the caller adds that for etcd's).
pub(super) fn image_source(
    r: &mut Resolver,
    sysext: &crate::spec::SysextSection,
    extension: &str,
    version: &str,
) -> SysextSettings {
    let base_span = r.span(&sysext.base_url);
    let base_url = r.check(
        "sysext.base-url",
        base_span.clone(),
        values::http_base_url(&sysext.base_url.value),
        String::new(),
    );
    let arch = r.choice("sysext.arch", &sysext.arch, &["x86-64", "arm64"], "x86-64");
    let image_file = format!("{extension}-{version}-{arch}.raw");
    let path_of = |r: &Resolver, p: &Spanned<String>| (r.doc.dir.join(&p.value), r.span(p));
    let sha256sums = sysext.sha256sums.as_ref().map(|p| path_of(r, p));
    let local_image = sysext.image.as_ref().map(|p| path_of(r, p));
    let allow_unverified = value_or(&sysext.allow_unverified, false);
    if sha256sums.is_none() && local_image.is_none() && !allow_unverified {
        r.error(
            "sysext.hash-missing",
            &base_span,
            format!("no way to verify {image_file}: neither sha256sums nor image is set"),
            "set sha256sums to the published SHA256SUMS file (or image to a local copy); `allow_unverified: true` opts out",
        );
    }
    SysextSettings {
        base_url,
        arch,
        image_file,
        allow_unverified,
        sha256sums,
        local_image,
        base_span,
        update: UpdateSettings::none(),
    }
}

/// A spec without `sysext:`: fine for the container profiles, which fetch no image (and
/// update none); an error for every other profile.
pub(super) fn no_sysext(
    r: &mut Resolver,
    etcd: &EtcdSettings,
    profile: Option<&str>,
) -> SysextSettings {
    let start = Span::file_start(&r.doc.source);
    if !profile.is_some_and(|p| container::CONTAINER_PROFILES.contains(&p)) {
        r.error(
            "spec.missing-key",
            &start,
            "the spec has no `sysext:`, which says where nodes fetch the etcd image".into(),
            "add sysext: { base_url: ..., sha256sums: ... } (only the container profiles run without it)",
        );
    }
    SysextSettings {
        base_url: String::new(),
        arch: "x86-64".to_string(),
        image_file: format!("etcd-{}-x86-64.raw", etcd.version),
        allow_unverified: true,
        sha256sums: None,
        local_image: None,
        base_span: start,
        update: UpdateSettings::none(),
    }
}

pub(super) fn resolve_update(r: &mut Resolver, etcd: &EtcdSettings, arch: &str) -> UpdateSettings {
    let update = r.doc.spec.sysext.as_ref().and_then(|s| s.update.as_ref());
    let on_change = r.choice(
        "sysext.on-change",
        &update.and_then(|u| u.on_change.clone()),
        &["reboot", "restart"],
        "reboot",
    );
    let track = r.choice(
        "sysext.track",
        &update.and_then(|u| u.track.clone()),
        &["minor", "any"],
        "minor",
    );
    let match_pattern = if track == "minor" {
        format!("etcd-v3.{}.@v-{arch}.raw", etcd.minor)
    } else {
        format!("etcd-@v-{arch}.raw")
    };
    let instances = update.and_then(|u| u.instances_max.as_ref());
    let instances_max = instances.map_or(3, |i| i.value);
    if let Some(spanned) = instances
        && instances_max < 2
    {
        let span = r.span(spanned);
        r.error("sysext.instances-max", &span, format!("instances_max {instances_max} leaves no room for an update"), "systemd-sysupdate needs InstancesMax of at least 2 (the current image and the new one)");
    }
    UpdateSettings {
        enabled: update
            .and_then(|u| u.enabled.as_ref())
            .is_none_or(|e| e.value),
        on_change,
        track,
        match_pattern,
        instances_max,
    }
}
