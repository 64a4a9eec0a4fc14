//! The `openssl` CLI, as operators run it to make their PKI: keys in every form it writes,
//! self-signed CAs, leaves signed from a CSR, and `openssl verify`.

use std::path::Path;
use std::process::{Command, Output};

/// A key openssl makes, and the form it writes it in.
#[derive(Clone, Copy, Debug)]
pub enum Key {
    P256,
    P384,
    P521,
    Rsa(u32),
    Ed25519,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Form {
    /// `BEGIN PRIVATE KEY`.
    Pkcs8,
    /// What openssl's older commands write: SEC1 `BEGIN EC PRIVATE KEY` (after an
    /// `EC PARAMETERS` block, as `ecparam -genkey` writes it) or PKCS#1 `BEGIN RSA PRIVATE KEY`.
    Traditional,
}

impl Key {
    pub fn curve(self) -> Option<&'static str> {
        match self {
            Key::P256 => Some("prime256v1"),
            Key::P384 => Some("secp384r1"),
            Key::P521 => Some("secp521r1"),
            _ => None,
        }
    }

    /// The signature algorithm kindling signs with when this is the CA's key, as openssl
    /// prints it.
    pub fn kindling_signature(self) -> &'static str {
        match self {
            Key::P256 => "ecdsa-with-SHA256",
            Key::P384 => "ecdsa-with-SHA384",
            Key::P521 => "ecdsa-with-SHA512",
            Key::Rsa(_) => "sha256WithRSAEncryption",
            Key::Ed25519 => "ED25519",
        }
    }
}

/// openssl, run in a directory (paths are relative to it).
pub struct Openssl<'a> {
    pub dir: &'a Path,
}

impl Openssl<'_> {
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("openssl")
            .args(args)
            .current_dir(self.dir)
            .output()
            .unwrap()
    }

    pub fn ok(&self, args: &[&str]) {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A new key at `path`, written the way the usual command for `form` writes it.
    pub fn new_key(&self, path: &str, key: Key, form: Form) {
        match (key, key.curve(), form) {
            (_, Some(curve), Form::Traditional) => {
                self.ok(&["ecparam", "-name", curve, "-genkey", "-out", path]);
            }
            (_, Some(curve), Form::Pkcs8) => self.ok(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                &format!("ec_paramgen_curve:{curve}"),
                "-out",
                path,
            ]),
            (Key::Rsa(bits), _, Form::Traditional) => {
                self.ok(&["genrsa", "-traditional", "-out", path, &bits.to_string()]);
            }
            (Key::Rsa(bits), _, Form::Pkcs8) => self.ok(&[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                &format!("rsa_keygen_bits:{bits}"),
                "-out",
                path,
            ]),
            (_, _, _) => self.ok(&["genpkey", "-algorithm", "ED25519", "-out", path]),
        }
        let head = std::fs::read_to_string(self.dir.join(path)).unwrap();
        let expected = match (key, form) {
            (Key::Ed25519, _) | (_, Form::Pkcs8) => "-----BEGIN PRIVATE KEY-----",
            (Key::Rsa(_), Form::Traditional) => "-----BEGIN RSA PRIVATE KEY-----",
            (_, Form::Traditional) => "-----BEGIN EC PARAMETERS-----",
        };
        assert!(head.starts_with(expected), "{path}: {head}");
    }

    /// A self-signed CA at `cert` for the key at `key`, signed with `digest` (none for Ed25519).
    pub fn self_signed_ca(&self, key: &str, cert: &str, name: &str, digest: Option<&str>) {
        let subject = format!("/CN={name}");
        let mut args = vec![
            "req",
            "-x509",
            "-new",
            "-key",
            key,
            "-subj",
            &subject,
            "-days",
            "3650",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            cert,
        ];
        args.extend(digest);
        self.ok(&args);
    }

    /// An intermediate CA at `cert` for `key`, signed by `issuer` (certificate, key).
    pub fn intermediate_ca(&self, key: &str, cert: &str, name: &str, issuer: (&str, &str)) {
        let csr = format!("{cert}.csr");
        let ext = format!("{cert}.ext");
        let subject = format!("/CN={name}");
        self.ok(&["req", "-new", "-key", key, "-subj", &subject, "-out", &csr]);
        std::fs::write(
            self.dir.join(&ext),
            "basicConstraints = critical,CA:TRUE,pathlen:0\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n",
        )
        .unwrap();
        self.ok(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            issuer.0,
            "-CAkey",
            issuer.1,
            "-CAcreateserial",
            "-days",
            "1825",
            "-sha256",
            "-extfile",
            &ext,
            "-out",
            cert,
        ]);
        std::fs::remove_file(self.dir.join(&csr)).unwrap();
        std::fs::remove_file(self.dir.join(&ext)).unwrap();
    }

    /// A corporate or Vault-shaped PKI in `pki/`: an RSA-4096 root whose key is then deleted
    /// (kept offline; only `pki/root.crt` remains) and an RSA-2048 intermediate it signed in
    /// `pki/ca.crt` and `pki/ca.key` (PKCS#1).
    pub fn intermediate_under_offline_root(&self) {
        self.new_key("root.key", Key::Rsa(4096), Form::Pkcs8);
        self.self_signed_ca("root.key", "pki/root.crt", "Corp Root CA", Some("-sha256"));
        self.new_key("pki/ca.key", Key::Rsa(2048), Form::Traditional);
        self.intermediate_ca(
            "pki/ca.key",
            "pki/ca.crt",
            "Corp etcd Issuing CA",
            ("pki/root.crt", "root.key"),
        );
        std::fs::remove_file(self.dir.join("root.key")).unwrap();
    }

    /// A leaf the way the reference setup makes one: a CSR for `key` with `subject`, signed by
    /// the CA (certificate, key) with `signing` options (`-sha256`, `-sigopt …`) and the
    /// extensions `extensions` (openssl config lines).
    pub fn leaf(
        &self,
        key: &str,
        cert: &str,
        subject: &str,
        extensions: &str,
        ca: (&str, &str),
        signing: &[&str],
    ) {
        let csr = format!("{cert}.csr");
        let ext = format!("{cert}.ext");
        self.ok(&["req", "-new", "-key", key, "-subj", subject, "-out", &csr]);
        std::fs::write(self.dir.join(&ext), extensions).unwrap();
        let mut args = vec![
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            ca.0,
            "-CAkey",
            ca.1,
            "-CAcreateserial",
            "-days",
            "365",
            "-extfile",
            &ext,
            "-out",
            cert,
        ];
        args.extend(signing);
        self.ok(&args);
        std::fs::remove_file(self.dir.join(&csr)).unwrap();
        std::fs::remove_file(self.dir.join(&ext)).unwrap();
    }

    /// `openssl verify` of a certificate file as a member sees it: trusting `anchor` only,
    /// with what the file presents after the leaf as untrusted intermediates.
    pub fn verify(&self, anchor: &str, cert: &str) -> Output {
        self.run(&[
            "verify",
            "-x509_strict",
            "-CAfile",
            anchor,
            "-untrusted",
            cert,
            cert,
        ])
    }

    pub fn assert_verifies(&self, anchor: &str, cert: &str) {
        let output = self.verify(anchor, cert);
        assert!(
            output.status.success(),
            "openssl verify {cert}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The certificate's signature algorithm as openssl names it.
    pub fn signature_of(&self, cert: &str) -> String {
        let output = self.run(&["x509", "-in", cert, "-noout", "-text"]);
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.lines()
            .find_map(|line| line.trim().strip_prefix("Signature Algorithm: "))
            .unwrap_or_default()
            .to_string()
    }
}

/// The extensions of a member's certificate in the reference setup: its names, and both
/// TLS usages (a member is a server and a client of its peers).
pub fn member_extensions(sans: &str) -> String {
    format!(
        "subjectAltName = {sans}\nextendedKeyUsage = clientAuth,serverAuth\nkeyUsage = critical,digitalSignature,keyEncipherment\n"
    )
}

/// The extensions of a client certificate.
pub const CLIENT_EXTENSIONS: &str =
    "extendedKeyUsage = clientAuth\nkeyUsage = critical,digitalSignature,keyEncipherment\n";
