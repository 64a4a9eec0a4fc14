//! The `matchbox:` section: where Matchbox serves the nodes and what Flatcar they boot.

use super::{MatchboxSettings, Resolver, values};

pub(super) fn resolve_matchbox(r: &mut Resolver) -> Option<MatchboxSettings> {
    let section = &r.doc.spec.matchbox.as_ref()?.value;
    let url_span = r.span(&section.url);
    let url = r.check(
        "matchbox.url",
        url_span,
        values::http_base_url(&section.url.value),
        String::new(),
    );
    let channel = r.choice(
        "matchbox.channel",
        &section.channel,
        &["stable", "beta", "alpha", "lts"],
        "stable",
    );
    let version = section.version.as_ref().map_or_else(
        || "current".to_string(),
        |v| r.checked("matchbox.version", v, values::flatcar_version),
    );
    let install_disk = section
        .install_disk
        .as_ref()
        .map(|disk| r.checked("matchbox.install-disk", disk, values::device_path));
    let kernel_args = section
        .kernel_args
        .iter()
        .map(|arg| r.checked("matchbox.kernel-arg", arg, values::kernel_arg))
        .collect();
    Some(MatchboxSettings {
        url,
        channel,
        version,
        install_disk,
        kernel_args,
        span: r.span(r.doc.spec.matchbox.as_ref()?),
    })
}
