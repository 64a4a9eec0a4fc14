//! The PKI operators already have, made with the real `openssl` CLI: every key form openssl
//! writes (PKCS#8, SEC1, PKCS#1) for ECDSA P-256/P-384/P-521, RSA and Ed25519, CAs that sign
//! with every digest, RSA-PSS, and an intermediate CA under an offline root. kindling must
//! sign with each (`pki init`, `pki renew`), every leaf it issues must pass `openssl verify`,
//! and `check` must find nothing wrong in material `openssl verify` accepts.
//!
//! Needs `openssl` (.ci/run installs it). Without it each test shows as ignored in
//! `cargo test`'s summary, with the reason; under CI=true it fails.

mod common;

use std::path::PathBuf;
use std::process::Output;

use common::openssl::{CLIENT_EXTENSIONS, Form, Key, Openssl, member_extensions};
use common::{kindling, render_spec_and_materialize, scratch_copy, trial_needing};
use serde_json::Value;

fn main() {
    let arguments = libtest_mimic::Arguments::from_args();
    let missing: Vec<String> = if common::on_path("openssl") {
        Vec::new()
    } else {
        vec!["openssl is not installed".to_string()]
    };
    let trial = |name, test| trial_needing(name, missing.clone(), "openssl", test);
    let trials = vec![
        trial(
            "pki_init_signs_with_every_ca_key_form_openssl_writes",
            pki_init_signs_with_every_ca_key_form_openssl_writes,
        ),
        trial(
            "check_accepts_every_openssl_made_chain_that_openssl_verify_accepts",
            check_accepts_every_openssl_made_chain_that_openssl_verify_accepts,
        ),
        trial(
            "a_leaf_from_another_ca_is_still_not_signed",
            a_leaf_from_another_ca_is_still_not_signed,
        ),
        trial(
            "rsa_pss_parameters_etcd_refuses_are_an_error_that_says_so",
            rsa_pss_parameters_etcd_refuses_are_an_error_that_says_so,
        ),
        trial(
            "sha224_and_unknown_signature_algorithms_say_what_they_are",
            sha224_and_unknown_signature_algorithms_say_what_they_are,
        ),
        trial(
            "an_encrypted_ca_key_gets_the_command_that_decrypts_it",
            an_encrypted_ca_key_gets_the_command_that_decrypts_it,
        ),
        trial(
            "keys_etcd_cannot_use_are_refused_with_the_reason",
            keys_etcd_cannot_use_are_refused_with_the_reason,
        ),
        trial(
            "an_intermediate_ca_under_an_offline_root_issues_chained_leaves",
            an_intermediate_ca_under_an_offline_root_issues_chained_leaves,
        ),
        trial(
            "an_intermediate_setup_that_would_not_verify_is_refused",
            an_intermediate_setup_that_would_not_verify_is_refused,
        ),
        trial(
            "generated_keys_follow_tls_key_algorithm",
            generated_keys_follow_tls_key_algorithm,
        ),
    ];
    libtest_mimic::run(&arguments, trials).exit();
}

/// A scratch copy of golden/single-node without its PKI: one member, three leaves.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        let dir = scratch_copy("single-node");
        std::fs::remove_dir_all(dir.path().join("pki")).unwrap();
        std::fs::create_dir_all(dir.path().join("pki/nodes/etcd0")).unwrap();
        Site { dir }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn openssl(&self) -> Openssl<'_> {
        Openssl {
            dir: self.dir.path(),
        }
    }

    /// A leaf of `role` (client, or the member's server or peer) signed by the CA `ca`.
    fn leaf(&self, role: &str, key: &str, cert: &str, ca: (&str, &str), signing: &[&str]) {
        let (subject, extensions) = if role == "client" {
            ("/CN=etcdctl", CLIENT_EXTENSIONS.to_string())
        } else {
            (
                "/CN=etcd0",
                member_extensions("DNS:etcd0,IP:192.168.10.5,IP:127.0.0.1"),
            )
        };
        self.openssl()
            .leaf(key, cert, subject, &extensions, ca, signing);
    }

    /// Every leaf of the cluster made by openssl with keys `leaf_key`, signed by the CA in
    /// pki/ca.{crt,key} with `signing`.
    fn openssl_leaves(&self, leaf_key: Key, form: Form, signing: &[&str]) {
        for (role, stem) in [
            ("client", "pki/etcdctl"),
            ("server", "pki/nodes/etcd0/server"),
            ("peer", "pki/nodes/etcd0/peer"),
        ] {
            let key = format!("{stem}.key");
            self.openssl().new_key(&key, leaf_key, form);
            self.leaf(
                role,
                &key,
                &format!("{stem}.crt"),
                ("pki/ca.crt", "pki/ca.key"),
                signing,
            );
        }
    }

    fn kindling(&self, args: &[&str]) -> Output {
        kindling()
            .args(["--format", "json"])
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }

    fn kindling_ok(&self, args: &[&str]) {
        let output = self.kindling(args);
        assert!(
            output.status.success(),
            "kindling {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The findings of `kindling check` whose code starts with `tls.` or `pki.`.
    fn tls_findings(&self) -> Vec<Value> {
        let output = self.kindling(&["check", "cluster.yaml"]);
        findings(&output)
            .into_iter()
            .filter(|f| {
                let code = f["code"].as_str().unwrap_or("");
                code.starts_with("tls.") || code.starts_with("pki.")
            })
            .collect()
    }

    fn leaf_files(&self) -> Vec<&'static str> {
        vec![
            "pki/etcdctl.crt",
            "pki/nodes/etcd0/server.crt",
            "pki/nodes/etcd0/peer.crt",
        ]
    }

    fn assert_every_leaf_verifies(&self, anchor: &str) {
        for cert in self.leaf_files() {
            self.openssl().assert_verifies(anchor, cert);
        }
    }
}

fn findings(output: &Output) -> Vec<Value> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let parsed: Value = serde_json::from_str(&stdout).unwrap_or_else(|_| {
        panic!(
            "not JSON: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    parsed.as_array().cloned().unwrap_or_default()
}

fn codes(findings: &[Value]) -> Vec<String> {
    findings
        .iter()
        .map(|f| f["code"].as_str().unwrap_or("").to_string())
        .collect()
}

/// No message may name a crate or a Rust type.
fn assert_plain_words(findings: &[Value]) {
    for finding in findings {
        let text = finding.to_string();
        for word in [
            "rcgen",
            "ring::",
            "x509_parser",
            "x509-parser",
            "rsa::",
            "p256::",
            "p521::",
            "ecdsa::",
            "der::",
            "Error {",
            "Err(",
        ] {
            assert!(!text.contains(word), "{word} in {text}");
        }
    }
}

const CA_KEYS: [(Key, Form); 11] = [
    (Key::P256, Form::Traditional),
    (Key::P256, Form::Pkcs8),
    (Key::P384, Form::Traditional),
    (Key::P384, Form::Pkcs8),
    (Key::P521, Form::Traditional),
    (Key::P521, Form::Pkcs8),
    (Key::Rsa(2048), Form::Traditional),
    (Key::Rsa(3072), Form::Pkcs8),
    (Key::Rsa(4096), Form::Traditional),
    (Key::Rsa(4096), Form::Pkcs8),
    (Key::Ed25519, Form::Pkcs8),
];

/// `pki init` with an operator's CA of every kind and form: the leaves are signed with the
/// algorithm the CA key calls for, `openssl verify` accepts each, `check` and `render`
/// are clean, and `pki renew` signs the same way.
fn pki_init_signs_with_every_ca_key_form_openssl_writes() {
    for (key, form) in CA_KEYS {
        let site = Site::new();
        site.openssl().new_key("pki/ca.key", key, form);
        let digest = (!matches!(key, Key::Ed25519)).then_some("-sha512");
        site.openssl()
            .self_signed_ca("pki/ca.key", "pki/ca.crt", "operator CA", digest);
        site.kindling_ok(&["pki", "init", "cluster.yaml"]);
        site.assert_every_leaf_verifies("pki/ca.crt");
        for cert in site.leaf_files() {
            assert_eq!(
                site.openssl().signature_of(cert),
                key.kindling_signature(),
                "{key:?} {form:?} {cert}"
            );
        }
        assert_eq!(site.tls_findings(), Vec::<Value>::new(), "{key:?} {form:?}");
        site.kindling_ok(&["render", "cluster.yaml", "-o", "out"]);
        let before = std::fs::read(site.path("pki/nodes/etcd0/server.crt")).unwrap();
        site.kindling_ok(&["pki", "renew", "cluster.yaml", "--node", "etcd0"]);
        assert_ne!(
            before,
            std::fs::read(site.path("pki/nodes/etcd0/server.crt")).unwrap()
        );
        site.assert_every_leaf_verifies("pki/ca.crt");
        assert_eq!(
            site.tls_findings(),
            Vec::<Value>::new(),
            "{key:?} {form:?} after renew"
        );
    }
}

/// Leaves made entirely by openssl, by CAs of every kind signing with every digest Go
/// verifies (RSA also with PSS): where `openssl verify` accepts, `check` finds nothing.
fn check_accepts_every_openssl_made_chain_that_openssl_verify_accepts() {
    let ecdsa_digests: &[&[&str]] = &[&["-sha256"], &["-sha384"], &["-sha512"]];
    let rsa_signing: &[&[&str]] = &[
        &["-sha256"],
        &["-sha384"],
        &["-sha512"],
        &[
            "-sha256",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:digest",
        ],
        &[
            "-sha512",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:digest",
        ],
    ];
    let cases: Vec<(Key, &[&[&str]], Key, Form)> = vec![
        (Key::P256, ecdsa_digests, Key::P256, Form::Traditional),
        (Key::P384, ecdsa_digests, Key::P384, Form::Pkcs8),
        // The hand-built reference cluster: a secp521r1 CA, P-256 node keys.
        (Key::P521, ecdsa_digests, Key::P256, Form::Traditional),
        (
            Key::Rsa(2048),
            rsa_signing,
            Key::Rsa(2048),
            Form::Traditional,
        ),
        (Key::Rsa(3072), rsa_signing, Key::P256, Form::Pkcs8),
        (Key::Ed25519, &[&[]], Key::Ed25519, Form::Pkcs8),
        (Key::P256, &[&["-sha256"]], Key::Ed25519, Form::Pkcs8),
        (Key::Ed25519, &[&[]], Key::P521, Form::Traditional),
    ];
    for (ca_key, signings, leaf_key, form) in cases {
        for signing in signings {
            let site = Site::new();
            site.openssl().new_key("pki/ca.key", ca_key, Form::Pkcs8);
            let digest = (!matches!(ca_key, Key::Ed25519)).then_some("-sha256");
            site.openssl()
                .self_signed_ca("pki/ca.key", "pki/ca.crt", "reference CA", digest);
            site.openssl_leaves(leaf_key, form, signing);
            site.assert_every_leaf_verifies("pki/ca.crt");
            let findings = site.tls_findings();
            assert_eq!(
                findings,
                Vec::<Value>::new(),
                "{ca_key:?} {signing:?} {leaf_key:?}"
            );
            site.kindling_ok(&["render", "cluster.yaml", "-o", "out"]);
        }
    }
}

/// The proof that the check above can fail: a leaf signed by another CA of the same name.
fn a_leaf_from_another_ca_is_still_not_signed() {
    let site = Site::new();
    site.openssl()
        .new_key("pki/ca.key", Key::P521, Form::Traditional);
    site.openssl()
        .self_signed_ca("pki/ca.key", "pki/ca.crt", "reference CA", Some("-sha512"));
    site.openssl_leaves(Key::P256, Form::Traditional, &["-sha256"]);
    site.openssl()
        .new_key("other.key", Key::P521, Form::Traditional);
    site.openssl()
        .self_signed_ca("other.key", "other.crt", "reference CA", Some("-sha512"));
    site.leaf(
        "server",
        "pki/nodes/etcd0/server.key",
        "pki/nodes/etcd0/server.crt",
        ("other.crt", "other.key"),
        &["-sha256"],
    );
    assert!(
        !site
            .openssl()
            .verify("pki/ca.crt", "pki/nodes/etcd0/server.crt")
            .status
            .success()
    );
    let findings = site.tls_findings();
    assert_eq!(codes(&findings), ["tls.chain"], "{findings:?}");
    let message = findings[0]["message"].as_str().unwrap();
    assert!(
        message.contains("server.crt") && message.contains("not signed by the cluster CA"),
        "{message}"
    );
    assert!(
        findings[0]["help"].as_str().unwrap().contains("pki renew"),
        "{findings:?}"
    );
    assert_plain_words(&findings);
}

/// openssl accepts a PSS salt of 20 bytes with SHA-256; Go's crypto/x509, and so etcd, does
/// not. That is an error naming the reason, not "not signed".
fn rsa_pss_parameters_etcd_refuses_are_an_error_that_says_so() {
    let site = Site::new();
    site.openssl()
        .new_key("pki/ca.key", Key::Rsa(2048), Form::Traditional);
    site.openssl()
        .self_signed_ca("pki/ca.key", "pki/ca.crt", "rsa CA", Some("-sha256"));
    site.openssl_leaves(Key::P256, Form::Pkcs8, &["-sha256"]);
    site.leaf(
        "server",
        "pki/nodes/etcd0/server.key",
        "pki/nodes/etcd0/server.crt",
        ("pki/ca.crt", "pki/ca.key"),
        &[
            "-sha256",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:20",
        ],
    );
    assert!(
        site.openssl()
            .verify("pki/ca.crt", "pki/nodes/etcd0/server.crt")
            .status
            .success()
    );
    let findings = site.tls_findings();
    assert_eq!(codes(&findings), ["tls.signature"], "{findings:?}");
    let message = findings[0]["message"].as_str().unwrap();
    assert!(
        message.contains("RSA-PSS parameters etcd (Go's crypto/x509) refuses"),
        "{message}"
    );
    assert_plain_words(&findings);
}

/// SHA-224, which openssl accepts and Go does not verify, is an error saying so; a
/// signature algorithm kindling does not know is a warning that says it is unchecked, never
/// "not signed".
fn sha224_and_unknown_signature_algorithms_say_what_they_are() {
    let site = Site::new();
    site.openssl().new_key("pki/ca.key", Key::P256, Form::Pkcs8);
    site.openssl()
        .self_signed_ca("pki/ca.key", "pki/ca.crt", "CA", Some("-sha256"));
    site.openssl_leaves(Key::P256, Form::Pkcs8, &["-sha256"]);
    let server = "pki/nodes/etcd0/server.crt";
    site.leaf(
        "server",
        "pki/nodes/etcd0/server.key",
        server,
        ("pki/ca.crt", "pki/ca.key"),
        &["-sha224"],
    );
    site.openssl().assert_verifies("pki/ca.crt", server);
    let refused = site.tls_findings();
    assert_eq!(codes(&refused), ["tls.signature"], "{refused:?}");
    assert!(refused[0]["message"].as_str().unwrap().contains("SHA-224"));

    // ecdsa-with-SHA256 (1.2.840.10045.4.3.2) turned into the unassigned 1.2.840.10045.4.3.9,
    // in the certificate and in its signed part alike.
    site.leaf(
        "server",
        "pki/nodes/etcd0/server.key",
        server,
        ("pki/ca.crt", "pki/ca.key"),
        &["-sha256"],
    );
    let pem = std::fs::read_to_string(site.path(server)).unwrap();
    let der = pem_der(&pem);
    let from = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    let mut patched = Vec::new();
    let mut rest = &der[..];
    while let Some(at) = rest.windows(from.len()).position(|w| w == from) {
        patched.extend_from_slice(&rest[..at]);
        patched.extend_from_slice(&from[..9]);
        patched.push(0x09);
        rest = &rest[at + from.len()..];
    }
    patched.extend_from_slice(rest);
    assert_ne!(patched, der);
    std::fs::write(site.path(server), pem_of(&patched)).unwrap();
    let output = site.kindling(&["check", "cluster.yaml"]);
    let findings: Vec<Value> = findings(&output)
        .into_iter()
        .filter(|f| f["code"].as_str().unwrap().starts_with("tls."))
        .collect();
    assert_eq!(
        codes(&findings),
        ["tls.signature-unchecked"],
        "{findings:?}"
    );
    assert_eq!(findings[0]["severity"], "warning");
    assert!(
        findings[0]["message"]
            .as_str()
            .unwrap()
            .contains("1.2.840.10045.4.3.9")
    );
    assert_eq!(output.status.code(), Some(0), "a warning only");
}

fn pem_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

fn pem_of(der: &[u8]) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// Both ways openssl encrypts a key: PKCS#8 and the legacy PEM header.
fn an_encrypted_ca_key_gets_the_command_that_decrypts_it() {
    for encrypt in [
        &[
            "pkey",
            "-in",
            "plain.key",
            "-aes256",
            "-passout",
            "pass:secret",
            "-out",
            "pki/ca.key",
        ][..],
        &[
            "ec",
            "-in",
            "plain.key",
            "-aes256",
            "-passout",
            "pass:secret",
            "-out",
            "pki/ca.key",
        ][..],
    ] {
        let site = Site::new();
        site.openssl()
            .new_key("plain.key", Key::P256, Form::Traditional);
        site.openssl()
            .self_signed_ca("plain.key", "pki/ca.crt", "CA", Some("-sha256"));
        site.openssl().ok(encrypt);
        let output = site.kindling(&["pki", "init", "cluster.yaml"]);
        assert_eq!(output.status.code(), Some(1));
        let findings = findings(&output);
        assert_eq!(codes(&findings), ["pki.ca-key"], "{findings:?}");
        assert!(
            findings[0]["message"]
                .as_str()
                .unwrap()
                .contains("encrypted with a passphrase")
        );
        let help = findings[0]["help"].as_str().unwrap();
        assert!(
            help.contains("openssl pkey -in pki/ca.key -out pki/ca.key.plain"),
            "{help}"
        );
        assert_plain_words(&findings);
        assert!(!site.path("pki/etcdctl.crt").exists(), "nothing is written");
        // The command the help shows does decrypt it.
        site.openssl().ok(&[
            "pkey",
            "-in",
            "pki/ca.key",
            "-passin",
            "pass:secret",
            "-out",
            "pki/ca.key.plain",
        ]);
        std::fs::rename(site.path("pki/ca.key.plain"), site.path("pki/ca.key")).unwrap();
        site.kindling_ok(&["pki", "init", "cluster.yaml"]);
    }
}

/// Keys Go's TLS (and so etcd) cannot use: refused, with the reason, and no crate named.
fn keys_etcd_cannot_use_are_refused_with_the_reason() {
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "ecparam",
                "-name",
                "secp256k1",
                "-genkey",
                "-noout",
                "-out",
                "pki/ca.key",
            ],
            "secp256k1",
        ),
        (
            &[
                "ecparam",
                "-name",
                "secp224r1",
                "-genkey",
                "-noout",
                "-out",
                "pki/ca.key",
            ],
            "P-224",
        ),
        (
            &["genpkey", "-algorithm", "ED448", "-out", "pki/ca.key"],
            "Ed448",
        ),
        (
            &[
                "genpkey",
                "-algorithm",
                "RSA-PSS",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                "pki/ca.key",
            ],
            "restricted to PSS",
        ),
    ];
    for (make, reason) in cases {
        let site = Site::new();
        site.openssl().ok(make);
        site.openssl()
            .self_signed_ca("pki/ca.key", "pki/ca.crt", "CA", None);
        let output = site.kindling(&["pki", "init", "cluster.yaml"]);
        assert_eq!(output.status.code(), Some(1), "{reason}");
        let findings = findings(&output);
        assert_eq!(codes(&findings), ["pki.ca-key"], "{findings:?}");
        let message = findings[0]["message"].as_str().unwrap();
        assert!(
            message.contains(reason) && message.contains("etcd"),
            "{message}"
        );
        assert_plain_words(&findings);
    }
}

/// Vault's or a corporate CA's shape: an RSA root kept offline (root.crt only), an
/// intermediate in ca.crt/ca.key. Leaves carry the intermediate; members trust the root.
fn an_intermediate_ca_under_an_offline_root_issues_chained_leaves() {
    let site = Site::new();
    make_intermediate(&site);
    site.kindling_ok(&["pki", "init", "cluster.yaml"]);
    for cert in site.leaf_files() {
        let text = std::fs::read_to_string(site.path(cert)).unwrap();
        assert_eq!(
            text.matches("BEGIN CERTIFICATE").count(),
            2,
            "{cert} carries the intermediate"
        );
        assert_eq!(site.openssl().signature_of(cert), "sha256WithRSAEncryption");
    }
    site.assert_every_leaf_verifies("pki/root.crt");
    // Without the chain it carries, a leaf does not verify against the root alone.
    let bare = site.openssl().run(&[
        "verify",
        "-CAfile",
        "pki/root.crt",
        "pki/nodes/etcd0/server.crt",
    ]);
    assert!(!bare.status.success());
    assert_eq!(site.tls_findings(), Vec::<Value>::new());
    site.kindling_ok(&["pki", "renew", "cluster.yaml", "--node", "etcd0"]);
    site.assert_every_leaf_verifies("pki/root.crt");
    assert_eq!(site.tls_findings(), Vec::<Value>::new());
    // Members trust the root: it is the CA file rendered onto the node, and the server
    // certificate there carries the intermediate.
    let nodes = site.dir.path().join("nodes");
    render_spec_and_materialize(&site.path("cluster.yaml"), &nodes);
    let on_node = |path: &str| std::fs::read_to_string(nodes.join("etcd0").join(path)).unwrap();
    let root = std::fs::read_to_string(site.path("pki/root.crt")).unwrap();
    let intermediate = std::fs::read_to_string(site.path("pki/ca.crt")).unwrap();
    assert_eq!(on_node("etc/etcd/pki/ca.crt"), root);
    assert!(on_node("etc/etcd/pki/server.crt").ends_with(&intermediate));
    // openssl-made leaves under the intermediate, with the chain appended, check clean too.
    site.openssl_leaves(Key::P256, Form::Traditional, &["-sha256"]);
    for cert in site.leaf_files() {
        let mut text = std::fs::read_to_string(site.path(cert)).unwrap();
        text.push_str(&intermediate);
        std::fs::write(site.path(cert), text).unwrap();
    }
    site.assert_every_leaf_verifies("pki/root.crt");
    assert_eq!(site.tls_findings(), Vec::<Value>::new());
}

fn make_intermediate(site: &Site) {
    site.openssl().intermediate_under_offline_root();
}

/// What would not verify on the members is refused before anything is signed or rendered.
fn an_intermediate_setup_that_would_not_verify_is_refused() {
    // A leaf without the intermediate it needs.
    let site = Site::new();
    make_intermediate(&site);
    site.kindling_ok(&["pki", "init", "cluster.yaml"]);
    let server = site.path("pki/nodes/etcd0/server.crt");
    let text = std::fs::read_to_string(&server).unwrap();
    let leaf_only = &text[..text.find("-----END CERTIFICATE-----").unwrap() + 26];
    std::fs::write(&server, leaf_only).unwrap();
    let incomplete = site.tls_findings();
    assert_eq!(
        codes(&incomplete),
        ["tls.chain-incomplete"],
        "{incomplete:?}"
    );
    assert!(
        incomplete[0]["help"]
            .as_str()
            .unwrap()
            .contains("cat ca.crt >>"),
        "{incomplete:?}"
    );
    let output = site.kindling(&["render", "cluster.yaml", "-o", "out"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(!site.path("out").exists());

    // The intermediate and the root in ca.crt, no root.crt: which one is trusted is unsaid.
    let site = Site::new();
    make_intermediate(&site);
    let mut bundle = std::fs::read_to_string(site.path("pki/ca.crt")).unwrap();
    bundle.push_str(&std::fs::read_to_string(site.path("pki/root.crt")).unwrap());
    std::fs::write(site.path("pki/ca.crt"), bundle).unwrap();
    std::fs::remove_file(site.path("pki/root.crt")).unwrap();
    let output = site.kindling(&["pki", "init", "cluster.yaml"]);
    assert_eq!(codes(&findings(&output)), ["pki.ca-bundle"]);

    // An intermediate the root did not sign.
    let site = Site::new();
    make_intermediate(&site);
    site.openssl()
        .new_key("other.key", Key::Rsa(2048), Form::Pkcs8);
    site.openssl()
        .self_signed_ca("other.key", "pki/root.crt", "Corp Root CA", Some("-sha256"));
    let output = site.kindling(&["pki", "init", "cluster.yaml"]);
    let refused = findings(&output);
    assert_eq!(codes(&refused), ["pki.chain"], "{refused:?}");
    assert_plain_words(&refused);

    // root.crt alone: kindling never makes an intermediate.
    let site = Site::new();
    make_intermediate(&site);
    std::fs::remove_file(site.path("pki/ca.crt")).unwrap();
    std::fs::remove_file(site.path("pki/ca.key")).unwrap();
    let output = site.kindling(&["pki", "init", "cluster.yaml"]);
    assert_eq!(codes(&findings(&output)), ["pki.intermediate-missing"]);
}

/// `tls.key_algorithm` picks the keys `pki init` generates, CA and leaves alike.
fn generated_keys_follow_tls_key_algorithm() {
    for (name, openssl_says, signature) in [
        ("ecdsa-p384", "NIST CURVE: P-384", "ecdsa-with-SHA384"),
        ("ecdsa-p521", "NIST CURVE: P-521", "ecdsa-with-SHA512"),
        (
            "rsa-2048",
            "Private-Key: (2048 bit, 2 primes)",
            "sha256WithRSAEncryption",
        ),
        ("ed25519", "ED25519 Private-Key", "ED25519"),
    ] {
        let site = Site::new();
        let spec = site.path("cluster.yaml");
        let text = std::fs::read_to_string(&spec).unwrap();
        std::fs::write(&spec, format!("{text}tls: {{ key_algorithm: {name} }}\n")).unwrap();
        site.kindling_ok(&["pki", "init", "cluster.yaml"]);
        for key in [
            "pki/ca.key",
            "pki/etcdctl.key",
            "pki/nodes/etcd0/server.key",
        ] {
            let output = site.openssl().run(&["pkey", "-in", key, "-noout", "-text"]);
            let text = String::from_utf8_lossy(&output.stdout);
            assert!(text.contains(openssl_says), "{name} {key}: {text}");
        }
        assert_eq!(site.openssl().signature_of("pki/etcdctl.crt"), signature);
        site.assert_every_leaf_verifies("pki/ca.crt");
        assert_eq!(site.tls_findings(), Vec::<Value>::new(), "{name}");
    }
    let site = Site::new();
    let spec = site.path("cluster.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, format!("{text}tls: {{ key_algorithm: dsa-1024 }}\n")).unwrap();
    let output = site.kindling(&["pki", "init", "cluster.yaml"]);
    let refused = findings(&output);
    assert_eq!(codes(&refused), ["tls.key-algorithm"], "{refused:?}");
    let line = text.lines().count() as u64 + 1;
    assert_eq!(refused[0]["line"], line, "{refused:?}");
    assert!(
        refused[0]["help"]
            .as_str()
            .unwrap()
            .contains("ecdsa-p256, ecdsa-p384")
    );
}
