//! The kubelet of the kubeadm-static-pod profile: it runs etcd from a static pod manifest,
//! so it must be on the node before etcd is. It comes from a Kubernetes sysext image (the
//! Flatcar bakery's `kubernetes-vX.Y.Z-<arch>.raw`), verified by hash like etcd's image.

use super::sysext::image_source;
use super::{Cluster, Resolver, SysextSettings};
use crate::diag::{Diagnostic, Location, Report, Span};
use crate::resolve::values::Invalid;

/// Built-in profiles that need `kubelet:`.
pub const KUBELET_PROFILES: &[&str] = &["kubeadm-static-pod"];

/// The oldest kubelet whose config file takes `containerRuntimeEndpoint` (1.27); older
/// ones need a flag the standalone drop-in does not pass.
const OLDEST_MINOR: u32 = 27;

#[derive(Debug)]
pub struct KubeletSettings {
    /// `v1.34.2`
    pub version: String,
    pub minor: u32,
    pub image: SysextSettings,
}

pub(super) fn resolve_kubelet(r: &mut Resolver, profile: Option<&str>) -> Option<KubeletSettings> {
    let Some(section) = &r.doc.spec.kubelet else {
        if let Some(name) = profile.filter(|p| KUBELET_PROFILES.contains(p))
            && let Some(span) = r.doc.spec.profile.as_ref().map(|p| r.span(p))
        {
            r.error(
                "kubelet.missing",
                &span,
                format!("profile {name} runs etcd as a static pod, but the spec has no `kubelet:`"),
                "add kubelet: { version: v1.31.2, sysext: { base_url: ..., sha256sums: ... } }",
            );
        }
        return None;
    };
    let version = &section.value.version;
    let span: Span = r.span(version);
    let minor = r.check(
        "kubelet.version",
        span,
        kubernetes_version(&version.value),
        OLDEST_MINOR,
    );
    let image = image_source(r, &section.value.sysext, "kubernetes", &version.value);
    Some(KubeletSettings {
        version: version.value.clone(),
        minor,
        image,
    })
}

/// The `etcd.external` block of a kubeadm ClusterConfiguration that points the control
/// plane at this cluster with one of its `tls.clients` certificates.
#[derive(Debug)]
pub struct ExternalEtcd {
    pub cluster: String,
    /// `kubeadm.k8s.io/v1beta4` (kubeadm 1.31 and later) or `v1beta3`.
    pub api_version: &'static str,
    pub endpoints: Vec<String>,
    pub client: String,
}

/// Where kubeadm's control plane keeps the etcd CA and its client certificate.
const CONTROL_PLANE_PKI: &str = "/etc/kubernetes/pki";

impl ExternalEtcd {
    pub fn ca_file(&self) -> String {
        format!("{CONTROL_PLANE_PKI}/etcd/ca.crt")
    }

    pub fn cert_file(&self) -> String {
        format!("{CONTROL_PLANE_PKI}/{}.crt", self.client)
    }

    pub fn key_file(&self) -> String {
        format!("{CONTROL_PLANE_PKI}/{}.key", self.client)
    }
}

/// The block for `client`, which must be one of `tls.clients`. The API version follows the
/// spec's kubelet release (the control plane runs the same one), v1beta4 without one.
pub fn external_etcd(cluster: &Cluster, client: &str) -> Result<ExternalEtcd, Report> {
    if !cluster.tls.clients.iter().any(|c| c.name == client) {
        // A command-line mistake: located at the clients the spec lists, if it lists any.
        let location = cluster
            .tls
            .clients
            .first()
            .map_or(Location::Nowhere, |first| {
                Location::Source(first.span.clone())
            });
        let listed: Vec<&str> = cluster
            .tls
            .clients
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let help = if client == "etcdctl" {
            "etcdctl is the nodes' own root-only client: give the control plane a certificate of its own, tls: { clients: [{ name: apiserver-etcd-client }] }, run `kindling pki init`, and pass --client apiserver-etcd-client".to_string()
        } else if listed.is_empty() {
            format!("add tls: {{ clients: [{{ name: {client} }}] }} and run `kindling pki init`")
        } else {
            format!(
                "tls.clients names {}; add {client} there and run `kindling pki init`, or pass one of those",
                listed.join(", ")
            )
        };
        return Err(Diagnostic::error(
            "kubeadm.client",
            format!("--client {client}: tls.clients has no certificate of that name for the control plane"),
            location,
        )
        .with_help(help)
        .into());
    }
    let api_version = match &cluster.kubelet {
        Some(kubelet) if kubelet.minor < 31 => "kubeadm.k8s.io/v1beta3",
        _ => "kubeadm.k8s.io/v1beta4",
    };
    Ok(ExternalEtcd {
        cluster: cluster.name.clone(),
        api_version,
        endpoints: super::operations::client_endpoints(cluster)
            .split(',')
            .map(str::to_string)
            .collect(),
        client: client.to_string(),
    })
}

impl std::fmt::Display for ExternalEtcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "# The control plane's side of etcd cluster {}, generated by kindling. On every",
            self.cluster
        )?;
        writeln!(
            f,
            "# control-plane node, copy the spec's tls.dir files ca.crt to {}",
            self.ca_file()
        )?;
        writeln!(
            f,
            "# and clients/{0}.crt and .key to {1}/.",
            self.client, CONTROL_PLANE_PKI
        )?;
        writeln!(f, "apiVersion: {}", self.api_version)?;
        writeln!(f, "kind: ClusterConfiguration")?;
        writeln!(f, "etcd:")?;
        writeln!(f, "  external:")?;
        writeln!(f, "    endpoints:")?;
        for endpoint in &self.endpoints {
            writeln!(f, "      - {endpoint}")?;
        }
        writeln!(f, "    caFile: {}", self.ca_file())?;
        writeln!(f, "    certFile: {}", self.cert_file())?;
        writeln!(f, "    keyFile: {}", self.key_file())
    }
}

/// A Kubernetes release as upstream tags it (`v1.31.2`), 1.27 or later: returns the minor.
fn kubernetes_version(value: &str) -> Result<u32, Invalid> {
    let help = "write the release as Kubernetes tags it, e.g. v1.31.2 (1.27 or later)";
    let invalid = |message: String| Invalid {
        message,
        help: help.into(),
    };
    let parts: Vec<&str> = value.strip_prefix('v').unwrap_or("").split('.').collect();
    let numbers: Vec<u32> = parts
        .iter()
        .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|p| p.parse().ok())
        .collect();
    match numbers.as_slice() {
        [1, minor, _] if parts.len() == 3 && *minor >= OLDEST_MINOR => Ok(*minor),
        [1, minor, _] if parts.len() == 3 => Err(invalid(format!(
            "kubelet {value} is older than v1.{OLDEST_MINOR}, whose config file names the container runtime"
        ))),
        _ => Err(invalid(format!(
            "kubelet version {value:?} is not vMAJOR.MINOR.PATCH"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_upstream_tags_from_1_27() {
        assert_eq!(kubernetes_version("v1.31.2").unwrap(), 31);
        assert_eq!(kubernetes_version("v1.27.0").unwrap(), 27);
        for bad in [
            "1.31.2",
            "v1.31",
            "v1.26.9",
            "v2.0.0",
            "v1.31.2-rc.0",
            "v1.x.2",
            "v1..2",
        ] {
            assert!(kubernetes_version(bad).is_err(), "{bad}");
        }
    }
}
