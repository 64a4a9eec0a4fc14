//! Private and public keys: every unencrypted form openssl writes (PKCS#8, SEC1, PKCS#1),
//! for the algorithms etcd's TLS (Go's crypto/tls and crypto/x509) accepts — ECDSA on
//! P-256, P-384 and P-521, RSA, Ed25519 — and signatures made and checked with them.
//!
//! A key that cannot be used says why in words an operator acts on: an encrypted key gets
//! the openssl command that decrypts it, a key etcd would refuse gets etcd's reason.

use std::fmt;

use getrandom::SysRng;
use p256::ecdsa::signature::SignatureEncoding;
use p256::elliptic_curve::Generate;
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use sha2::{Digest, Sha256, Sha384, Sha512};
use x509_cert::der::asn1::{Null, ObjectIdentifier as Oid};
use x509_cert::der::{Any, Decode, Encode};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoRef};

/// The algorithm of the keys kindling generates (`tls.key_algorithm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlgorithm {
    P256,
    P384,
    P521,
    Rsa(usize),
    Ed25519,
}

impl KeyAlgorithm {
    /// The spelling in the spec, in the order the docs list them.
    pub const NAMES: [&'static str; 7] = [
        "ecdsa-p256",
        "ecdsa-p384",
        "ecdsa-p521",
        "rsa-2048",
        "rsa-3072",
        "rsa-4096",
        "ed25519",
    ];

    pub fn parse(name: &str) -> Option<KeyAlgorithm> {
        Some(match name {
            "ecdsa-p256" => KeyAlgorithm::P256,
            "ecdsa-p384" => KeyAlgorithm::P384,
            "ecdsa-p521" => KeyAlgorithm::P521,
            "rsa-2048" => KeyAlgorithm::Rsa(2048),
            "rsa-3072" => KeyAlgorithm::Rsa(3072),
            "rsa-4096" => KeyAlgorithm::Rsa(4096),
            "ed25519" => KeyAlgorithm::Ed25519,
            _ => return None,
        })
    }
}

/// A private key kindling can sign with.
pub enum PrivateKey {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    P521(p521::ecdsa::SigningKey),
    Rsa(Box<rsa::PrivateKey>),
    Ed25519(ed25519_dalek::SigningKey),
}

/// A public key whose signatures kindling can check.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(p521::ecdsa::VerifyingKey),
    Rsa(rsa::PublicKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

/// Why a key file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    /// Encrypted with a passphrase (PKCS#8 `ENCRYPTED PRIVATE KEY` or a legacy
    /// `Proc-Type: 4,ENCRYPTED` header).
    Encrypted,
    /// No PEM private-key block, or one that does not decode.
    NotAKey(String),
    /// A well-formed key that etcd's TLS does not accept, and why.
    Refused(String),
}

impl KeyProblem {
    /// The message for the key at `path`, with the command or change that fixes it.
    pub fn describe(&self, path: &std::path::Path) -> (String, String) {
        let shown = path.display();
        match self {
            KeyProblem::Encrypted => (
                format!("{shown} is encrypted with a passphrase"),
                format!(
                    "kindling and etcd read unencrypted keys only: decrypt it with `(umask 077; openssl pkey -in {shown} -out {shown}.plain) && mv {shown}.plain {shown}` (openssl asks for the passphrase)"
                ),
            ),
            KeyProblem::NotAKey(why) => (
                format!("{shown} is not a PEM private key: {why}"),
                "a key is one PEM block: BEGIN PRIVATE KEY (PKCS#8), BEGIN EC PRIVATE KEY (SEC1) or BEGIN RSA PRIVATE KEY (PKCS#1)".to_string(),
            ),
            KeyProblem::Refused(why) => (
                format!("{shown}: {why}"),
                "etcd's TLS takes ECDSA keys on P-256, P-384 or P-521, RSA keys of 2048 to 8192 bits (1024 works, but is weak), and Ed25519 keys".to_string(),
            ),
        }
    }
}

/// Object identifiers of the keys and signatures kindling handles.
pub mod oid {
    use super::Oid;

    pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
    pub const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
    pub const P384: Oid = Oid::new_unwrap("1.3.132.0.34");
    pub const P521: Oid = Oid::new_unwrap("1.3.132.0.35");
    pub const P224: Oid = Oid::new_unwrap("1.3.132.0.33");
    pub const SECP256K1: Oid = Oid::new_unwrap("1.3.132.0.10");
    pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
    pub const RSASSA_PSS: Oid = Oid::new_unwrap("1.2.840.113549.1.1.10");
    pub const ED25519: Oid = Oid::new_unwrap("1.3.101.112");
    pub const ED448: Oid = Oid::new_unwrap("1.3.101.113");
    pub const X25519: Oid = Oid::new_unwrap("1.3.101.110");
    pub const X448: Oid = Oid::new_unwrap("1.3.101.111");
    pub const DSA: Oid = Oid::new_unwrap("1.2.840.10040.4.1");
    pub const ECDSA_SHA1: Oid = Oid::new_unwrap("1.2.840.10045.4.1");
    pub const ECDSA_SHA224: Oid = Oid::new_unwrap("1.2.840.10045.4.3.1");
    pub const ECDSA_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
    pub const ECDSA_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
    pub const ECDSA_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
    pub const RSA_MD5: Oid = Oid::new_unwrap("1.2.840.113549.1.1.4");
    pub const RSA_SHA1: Oid = Oid::new_unwrap("1.2.840.113549.1.1.5");
    pub const RSA_SHA224: Oid = Oid::new_unwrap("1.2.840.113549.1.1.14");
    pub const RSA_SHA256: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
    pub const RSA_SHA384: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
    pub const RSA_SHA512: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
    pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
    pub const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
    pub const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");
    pub const MGF1: Oid = Oid::new_unwrap("1.2.840.113549.1.1.8");
}

/// One PEM block: its label, the text of its headers (legacy encryption lives there) and
/// its decoded bytes (None when the base64 is damaged).
pub struct PemBlock {
    pub label: String,
    pub headers: String,
    pub der: Option<Vec<u8>>,
}

/// Every PEM block in `text`, in order; text outside blocks is ignored, as openssl does.
pub fn pem_blocks(text: &str) -> Vec<PemBlock> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let Some(label_end) = after.find("-----") else {
            break;
        };
        let label = &after[..label_end];
        let end_marker = format!("-----END {label}-----");
        let body_start = label_end + 5;
        let Some(body_len) = after[body_start..].find(&end_marker) else {
            break;
        };
        let body = &after[body_start..body_start + body_len];
        let (headers, base64) = match body.find(':') {
            Some(_) => split_headers(body),
            None => (String::new(), body.to_string()),
        };
        let der = decode_base64(&base64);
        blocks.push(PemBlock {
            label: label.to_string(),
            headers,
            der,
        });
        rest = &after[body_start + body_len + end_marker.len()..];
    }
    blocks
}

/// RFC 1421 headers (`Name: value` lines, then a blank line) and the base64 after them.
fn split_headers(body: &str) -> (String, String) {
    let mut headers = String::new();
    let mut base64 = String::new();
    let mut in_headers = true;
    for line in body.lines() {
        if in_headers && line.contains(':') {
            headers.push_str(line);
            headers.push('\n');
        } else if in_headers && line.trim().is_empty() {
            in_headers = headers.is_empty();
        } else {
            in_headers = false;
            base64.push_str(line);
        }
    }
    (headers, base64)
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

/// The DER bytes of every `CERTIFICATE` block in `text`, in order.
pub fn certificate_ders(text: &str) -> Vec<Vec<u8>> {
    pem_blocks(text)
        .into_iter()
        .filter(|block| block.label == "CERTIFICATE")
        .filter_map(|block| block.der)
        .collect()
}

/// `der` as one PEM block of `label`, lines of 64 characters, LF endings.
pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut text = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(line).unwrap_or_default());
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}

impl PrivateKey {
    /// Reads the one private key in a PEM file (an `EC PARAMETERS` block before it, as
    /// `openssl ecparam -genkey` writes, is skipped).
    pub fn from_pem(text: &str) -> Result<PrivateKey, KeyProblem> {
        let (label, der) = key_block(text)?;
        let kind = kind_of(&label, &der)?;
        Ok(match (kind, label.as_str()) {
            (KeyKind::P256, "EC PRIVATE KEY") => PrivateKey::P256(
                p256::SecretKey::from_sec1_der(&der)
                    .map_err(damaged)?
                    .into(),
            ),
            (KeyKind::P384, "EC PRIVATE KEY") => PrivateKey::P384(
                p384::SecretKey::from_sec1_der(&der)
                    .map_err(damaged)?
                    .into(),
            ),
            (KeyKind::P521, "EC PRIVATE KEY") => PrivateKey::P521(
                p521::SecretKey::from_sec1_der(&der)
                    .map_err(damaged)?
                    .into(),
            ),
            (KeyKind::P256, _) => {
                PrivateKey::P256(p256::ecdsa::SigningKey::from_pkcs8_der(&der).map_err(damaged)?)
            }
            (KeyKind::P384, _) => {
                PrivateKey::P384(p384::ecdsa::SigningKey::from_pkcs8_der(&der).map_err(damaged)?)
            }
            (KeyKind::P521, _) => {
                PrivateKey::P521(p521::ecdsa::SigningKey::from_pkcs8_der(&der).map_err(damaged)?)
            }
            (KeyKind::Rsa(_), "RSA PRIVATE KEY") => PrivateKey::Rsa(Box::new(
                <rsa::PrivateKey as rsa::pkcs1::DecodeRsaPrivateKey>::from_pkcs1_der(&der)
                    .map_err(damaged)?,
            )),
            (KeyKind::Rsa(_), _) => PrivateKey::Rsa(Box::new(
                rsa::PrivateKey::from_pkcs8_der(&der).map_err(damaged)?,
            )),
            (KeyKind::Ed25519, _) => PrivateKey::Ed25519(
                ed25519_dalek::SigningKey::from_pkcs8_der(&der).map_err(damaged)?,
            ),
        })
    }

    /// A new key of `algorithm` from the operating system's random source.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<PrivateKey, String> {
        let failed = |e: &dyn fmt::Display| format!("cannot generate a key: {e}");
        let mut rng = SysRng;
        Ok(match algorithm {
            KeyAlgorithm::P256 => PrivateKey::P256(
                p256::ecdsa::SigningKey::try_generate_from_rng(&mut rng).map_err(|e| failed(&e))?,
            ),
            KeyAlgorithm::P384 => PrivateKey::P384(
                p384::ecdsa::SigningKey::try_generate_from_rng(&mut rng).map_err(|e| failed(&e))?,
            ),
            KeyAlgorithm::P521 => PrivateKey::P521(
                p521::ecdsa::SigningKey::try_generate_from_rng(&mut rng).map_err(|e| failed(&e))?,
            ),
            KeyAlgorithm::Rsa(bits) => PrivateKey::Rsa(Box::new(
                rsa::PrivateKey::new(&mut rng, bits).map_err(|e| failed(&e))?,
            )),
            KeyAlgorithm::Ed25519 => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(|e| failed(&e))?;
                PrivateKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
        })
    }

    /// The key as PKCS#8 PEM (`BEGIN PRIVATE KEY`), the form every TLS stack reads.
    pub fn to_pem(&self) -> Result<String, String> {
        let der = match self {
            PrivateKey::P256(key) => key.to_pkcs8_der(),
            PrivateKey::P384(key) => key.to_pkcs8_der(),
            PrivateKey::P521(key) => key.to_pkcs8_der(),
            PrivateKey::Rsa(key) => key.to_pkcs8_der(),
            PrivateKey::Ed25519(key) => return Ok(pem("PRIVATE KEY", &ed25519_pkcs8_v1(key))),
        }
        .map_err(|e| format!("cannot encode the key: {e}"))?;
        Ok(pem("PRIVATE KEY", der.as_bytes()))
    }

    pub fn public_key(&self) -> PublicKey {
        match self {
            PrivateKey::P256(key) => PublicKey::P256(*key.verifying_key()),
            PrivateKey::P384(key) => PublicKey::P384(*key.verifying_key()),
            PrivateKey::P521(key) => PublicKey::P521(*key.verifying_key()),
            PrivateKey::Rsa(key) => PublicKey::Rsa(key.to_public_key()),
            PrivateKey::Ed25519(key) => PublicKey::Ed25519(key.verifying_key()),
        }
    }

    /// The signature algorithm this key signs certificates with: ECDSA with the digest that
    /// fits its curve, RSA PKCS#1 v1.5 with SHA-256 (openssl's default), or Ed25519.
    pub fn signature_algorithm(&self) -> AlgorithmIdentifierOwned {
        let (oid, null_parameters) = match self {
            PrivateKey::P256(_) => (oid::ECDSA_SHA256, false),
            PrivateKey::P384(_) => (oid::ECDSA_SHA384, false),
            PrivateKey::P521(_) => (oid::ECDSA_SHA512, false),
            PrivateKey::Rsa(_) => (oid::RSA_SHA256, true),
            PrivateKey::Ed25519(_) => (oid::ED25519, false),
        };
        AlgorithmIdentifierOwned {
            oid,
            parameters: null_parameters.then(|| Any::from(Null)),
        }
    }

    /// Signs `message` with the algorithm `signature_algorithm` names; the bytes of the
    /// certificate's signature BIT STRING.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        use p256::ecdsa::signature::Signer;
        let failed = |e: &dyn fmt::Display| format!("signing failed: {e}");
        Ok(match self {
            PrivateKey::P256(key) => {
                let signature: p256::ecdsa::DerSignature =
                    key.try_sign(message).map_err(|e| failed(&e))?;
                signature.to_vec()
            }
            PrivateKey::P384(key) => {
                let signature: p384::ecdsa::DerSignature =
                    key.try_sign(message).map_err(|e| failed(&e))?;
                signature.to_vec()
            }
            PrivateKey::P521(key) => {
                let signature: p521::ecdsa::DerSignature =
                    key.try_sign(message).map_err(|e| failed(&e))?;
                signature.to_vec()
            }
            PrivateKey::Rsa(key) => {
                let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(key.as_ref().clone());
                let signature = signer.try_sign(message).map_err(|e| failed(&e))?;
                Box::<[u8]>::from(signature).into_vec()
            }
            PrivateKey::Ed25519(key) => key.sign(message).to_bytes().to_vec(),
        })
    }
}

/// An Ed25519 key as RFC 8410 PKCS#8 version 1 (the seed only), the form openssl writes and
/// reads: openssl 3.0 cannot read the version 2 form, which adds the public key.
fn ed25519_pkcs8_v1(key: &ed25519_dalek::SigningKey) -> Vec<u8> {
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut der = PREFIX.to_vec();
    der.extend_from_slice(&key.to_bytes());
    der
}

fn damaged<E>(_: E) -> KeyProblem {
    KeyProblem::NotAKey("the key does not decode, or is not a valid key of its kind".into())
}

/// What a key file holds, read from its structure alone: cheap enough for every render
/// (no arithmetic on the key), and enough to refuse what etcd cannot use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    P256,
    P384,
    P521,
    Rsa(usize),
    Ed25519,
}

impl KeyKind {
    /// The kind of the one private key in a PEM file, or why it cannot be used.
    pub fn of_pem(text: &str) -> Result<KeyKind, KeyProblem> {
        let (label, der) = key_block(text)?;
        kind_of(&label, &der)
    }
}

/// The one private-key block of a PEM file: its label and bytes.
fn key_block(text: &str) -> Result<(String, Vec<u8>), KeyProblem> {
    let blocks = pem_blocks(text);
    if blocks.iter().any(|b| {
        b.label == "ENCRYPTED PRIVATE KEY"
            || (b.label.ends_with("PRIVATE KEY") && b.headers.contains("ENCRYPTED"))
    }) {
        return Err(KeyProblem::Encrypted);
    }
    let mut keys = blocks
        .into_iter()
        .filter(|b| b.label.ends_with("PRIVATE KEY"));
    let (Some(block), None) = (keys.next(), keys.next()) else {
        return Err(KeyProblem::NotAKey(
            "a key file holds exactly one PRIVATE KEY block".into(),
        ));
    };
    let der = block
        .der
        .ok_or_else(|| KeyProblem::NotAKey("the base64 inside the block is damaged".into()))?;
    Ok((block.label, der))
}

fn kind_of(label: &str, der: &[u8]) -> Result<KeyKind, KeyProblem> {
    match label {
        "PRIVATE KEY" => pkcs8_kind(der),
        "EC PRIVATE KEY" => sec1_kind(der),
        "RSA PRIVATE KEY" => rsa_kind(der),
        "DSA PRIVATE KEY" => Err(KeyProblem::Refused(
            "is a DSA key, which etcd's TLS does not accept".into(),
        )),
        "OPENSSH PRIVATE KEY" => Err(KeyProblem::NotAKey(
            "it is an OpenSSH key; convert it with `ssh-keygen -p -m PKCS8 -f FILE`".into(),
        )),
        other => Err(KeyProblem::NotAKey(format!(
            "a {other} block is not a key openssl writes"
        ))),
    }
}

fn pkcs8_kind(der: &[u8]) -> Result<KeyKind, KeyProblem> {
    let info = p256::pkcs8::PrivateKeyInfoRef::from_der(der)
        .map_err(|_| KeyProblem::NotAKey("the PKCS#8 structure does not decode".into()))?;
    let algorithm = info.algorithm.oid;
    if algorithm == oid::EC_PUBLIC_KEY {
        let curve = info
            .algorithm
            .parameters
            .and_then(|p| p.decode_as::<Oid>().ok());
        return curve_kind(curve);
    }
    if algorithm == oid::RSA_ENCRYPTION {
        return rsa_kind(info.private_key.as_bytes());
    }
    if algorithm == oid::ED25519 {
        return Ok(KeyKind::Ed25519);
    }
    Err(KeyProblem::Refused(format!(
        "is {}, which etcd's TLS does not accept",
        key_kind(algorithm)
    )))
}

/// A SEC1 `EC PRIVATE KEY`: the curve is in its parameters (openssl always writes them);
/// without them, the length of the secret tells P-256, P-384 and P-521 apart.
fn sec1_kind(der: &[u8]) -> Result<KeyKind, KeyProblem> {
    let parsed = sec1::EcPrivateKey::from_der(der)
        .map_err(|_| KeyProblem::NotAKey("the SEC1 structure is damaged".into()))?;
    let curve = parsed
        .parameters
        .and_then(|p| p.named_curve())
        .map(|c| Oid::new(&c.to_string()).ok())
        .unwrap_or_else(|| match parsed.private_key.len() {
            32 => Some(oid::P256),
            48 => Some(oid::P384),
            66 => Some(oid::P521),
            _ => None,
        });
    curve_kind(curve)
}

fn curve_kind(curve: Option<Oid>) -> Result<KeyKind, KeyProblem> {
    match curve {
        Some(c) if c == oid::P256 => Ok(KeyKind::P256),
        Some(c) if c == oid::P384 => Ok(KeyKind::P384),
        Some(c) if c == oid::P521 => Ok(KeyKind::P521),
        other => Err(refused_curve(other)),
    }
}

/// A PKCS#1 `RSAPrivateKey` structure, and its size.
fn rsa_kind(der: &[u8]) -> Result<KeyKind, KeyProblem> {
    let key = rsa::pkcs1::RsaPrivateKey::<x509_cert::der::asn1::UintRef<'_>>::from_der(der)
        .map_err(|_| KeyProblem::NotAKey("the RSA key does not decode".into()))?;
    let modulus = key.modulus.as_bytes();
    let bits = modulus.len() * 8 - modulus.first().map_or(8, |b| b.leading_zeros() as usize);
    if !(1024..=8192).contains(&bits) {
        return Err(KeyProblem::Refused(format!(
            "is a {bits}-bit RSA key; etcd (Go) refuses RSA keys under 1024 bits, and kindling reads up to 8192"
        )));
    }
    Ok(KeyKind::Rsa(bits))
}

fn refused_curve(curve: Option<Oid>) -> KeyProblem {
    let name = match curve {
        Some(c) if c == oid::P224 => "P-224 (Go's TLS has no signature scheme for it)".to_string(),
        Some(c) if c == oid::SECP256K1 => {
            "secp256k1 (Go's crypto/x509 cannot parse it)".to_string()
        }
        Some(c) => format!("the curve {c} (Go's crypto/x509 cannot parse it)"),
        None => "a curve given by explicit parameters (Go's crypto/x509 reads named curves only)"
            .to_string(),
    };
    KeyProblem::Refused(format!(
        "is an EC key on {name}; etcd's TLS takes P-256, P-384 and P-521"
    ))
}

/// A name for a key algorithm kindling does not use.
fn key_kind(algorithm: Oid) -> String {
    match algorithm {
        a if a == oid::ED448 => "an Ed448 key".into(),
        a if a == oid::X25519 || a == oid::X448 => "a key-agreement (X25519/X448) key, not a signing key".into(),
        a if a == oid::DSA => "a DSA key".into(),
        a if a == oid::RSASSA_PSS => "an RSA key restricted to PSS (Go's crypto/x509 cannot parse it; `openssl genpkey -algorithm RSA` makes a usable one)".into(),
        a => format!("a key of algorithm {a}"),
    }
}

/// The outcome of checking a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    /// The signature does not verify with the issuer's key (or the key's type cannot have
    /// made it).
    Invalid,
    /// A well-defined signature that etcd (Go's crypto/x509) refuses to accept, and why.
    Refused(String),
    /// An algorithm kindling cannot check, named.
    Unchecked(String),
}

impl PublicKey {
    /// The key in a certificate's subjectPublicKeyInfo (DER).
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, KeyProblem> {
        let info = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|_| KeyProblem::NotAKey("the public key does not decode".into()))?;
        let algorithm = info.algorithm.oid;
        let damaged = |_| KeyProblem::NotAKey("the public key is damaged".into());
        if algorithm == oid::EC_PUBLIC_KEY {
            let curve = info
                .algorithm
                .parameters
                .and_then(|p| p.decode_as::<Oid>().ok());
            return match curve {
                Some(c) if c == oid::P256 => Ok(PublicKey::P256(
                    p256::ecdsa::VerifyingKey::from_public_key_der(der).map_err(damaged)?,
                )),
                Some(c) if c == oid::P384 => Ok(PublicKey::P384(
                    p384::ecdsa::VerifyingKey::from_public_key_der(der).map_err(damaged)?,
                )),
                Some(c) if c == oid::P521 => Ok(PublicKey::P521(
                    p521::ecdsa::VerifyingKey::from_public_key_der(der).map_err(damaged)?,
                )),
                other => Err(refused_curve(other)),
            };
        }
        if algorithm == oid::RSA_ENCRYPTION {
            return rsa::PublicKey::from_public_key_der(der)
                .map(PublicKey::Rsa)
                .map_err(|_| {
                    KeyProblem::Refused(
                        "is an RSA key outside 1024 to 8192 bits, or damaged".into(),
                    )
                });
        }
        if algorithm == oid::ED25519 {
            return ed25519_dalek::VerifyingKey::from_public_key_der(der)
                .map(PublicKey::Ed25519)
                .map_err(damaged);
        }
        Err(KeyProblem::Refused(format!(
            "is {}, which etcd's TLS does not accept",
            key_kind(algorithm)
        )))
    }

    /// The subjectPublicKeyInfo, DER.
    pub fn to_spki_der(&self) -> Result<Vec<u8>, String> {
        match self {
            PublicKey::P256(key) => key.to_public_key_der(),
            PublicKey::P384(key) => key.to_public_key_der(),
            PublicKey::P521(key) => key.to_public_key_der(),
            PublicKey::Rsa(key) => key.to_public_key_der(),
            PublicKey::Ed25519(key) => key.to_public_key_der(),
        }
        .map(|doc| doc.as_bytes().to_vec())
        .map_err(|e| format!("cannot encode the public key: {e}"))
    }

    /// Whether `signature` over `message` was made by this key with `algorithm` (OID and
    /// DER parameters), for every algorithm Go's crypto/x509 verifies.
    pub fn verify(
        &self,
        algorithm: &Oid,
        parameters: Option<&[u8]>,
        message: &[u8],
        signature: &[u8],
    ) -> Verdict {
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        let Some(scheme) = Scheme::of(algorithm, parameters) else {
            return unknown_algorithm(algorithm, parameters);
        };
        let verified = match (self, scheme) {
            (PublicKey::P256(key), Scheme::Ecdsa(hash)) => {
                p256::ecdsa::Signature::from_der(signature)
                    .is_ok_and(|s| key.verify_prehash(&hash.digest(message), &s).is_ok())
            }
            (PublicKey::P384(key), Scheme::Ecdsa(hash)) => {
                p384::ecdsa::Signature::from_der(signature)
                    .is_ok_and(|s| key.verify_prehash(&hash.digest(message), &s).is_ok())
            }
            (PublicKey::P521(key), Scheme::Ecdsa(hash)) => {
                p521::ecdsa::Signature::from_der(signature)
                    .is_ok_and(|s| key.verify_prehash(&hash.digest(message), &s).is_ok())
            }
            (PublicKey::Rsa(key), Scheme::RsaPkcs1(hash)) => {
                rsa_pkcs1_verify(key, hash, message, signature)
            }
            (PublicKey::Rsa(key), Scheme::RsaPss(hash)) => {
                rsa_pss_verify(key, hash, message, signature)
            }
            (PublicKey::Ed25519(key), Scheme::Ed25519) => {
                ed25519_dalek::Signature::from_slice(signature)
                    .is_ok_and(|s| key.verify_strict(message, &s).is_ok())
            }
            _ => false,
        };
        if verified {
            Verdict::Valid
        } else {
            Verdict::Invalid
        }
    }

    /// The key's size in bits, for RSA.
    pub fn rsa_bits(&self) -> Option<usize> {
        match self {
            PublicKey::Rsa(key) => Some(rsa::traits::PublicKeyParts::size(key) * 8),
            _ => None,
        }
    }
}

#[derive(Clone, Copy)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn of(digest: &Oid) -> Option<Hash> {
        Some(match *digest {
            d if d == oid::SHA256 => Hash::Sha256,
            d if d == oid::SHA384 => Hash::Sha384,
            d if d == oid::SHA512 => Hash::Sha512,
            _ => return None,
        })
    }

    fn digest(self, message: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(message).to_vec(),
            Hash::Sha384 => Sha384::digest(message).to_vec(),
            Hash::Sha512 => Sha512::digest(message).to_vec(),
        }
    }
}

#[derive(Clone, Copy)]
enum Scheme {
    Ecdsa(Hash),
    RsaPkcs1(Hash),
    RsaPss(Hash),
    Ed25519,
}

impl Scheme {
    /// The signature schemes Go's crypto/x509 verifies (SHA-1 and MD5 excluded: Go refuses
    /// them), with RSA-PSS parameters as strict as Go's.
    fn of(algorithm: &Oid, parameters: Option<&[u8]>) -> Option<Scheme> {
        Some(match *algorithm {
            a if a == oid::ECDSA_SHA256 => Scheme::Ecdsa(Hash::Sha256),
            a if a == oid::ECDSA_SHA384 => Scheme::Ecdsa(Hash::Sha384),
            a if a == oid::ECDSA_SHA512 => Scheme::Ecdsa(Hash::Sha512),
            a if a == oid::RSA_SHA256 => Scheme::RsaPkcs1(Hash::Sha256),
            a if a == oid::RSA_SHA384 => Scheme::RsaPkcs1(Hash::Sha384),
            a if a == oid::RSA_SHA512 => Scheme::RsaPkcs1(Hash::Sha512),
            a if a == oid::RSASSA_PSS => Scheme::RsaPss(pss_hash(parameters?)?),
            a if a == oid::ED25519 => Scheme::Ed25519,
            _ => return None,
        })
    }
}

/// RSASSA-PSS parameters as Go accepts them: SHA-256/384/512, MGF1 with the same hash, and
/// a salt as long as the hash.
fn pss_hash(parameters: &[u8]) -> Option<Hash> {
    let params = rsa::pkcs1::RsaPssParams::<Any>::from_der(parameters).ok()?;
    let hash = Hash::of(&params.hash.oid)?;
    let mgf_hash = params.mask_gen.parameters.as_ref().map(|p| p.oid)?;
    let salt = match hash {
        Hash::Sha256 => 32,
        Hash::Sha384 => 48,
        Hash::Sha512 => 64,
    };
    let fits = params.mask_gen.oid == oid::MGF1
        && mgf_hash == params.hash.oid
        && u32::from(params.salt_len) == salt
        && params.trailer_field == rsa::pkcs1::TrailerField::BC;
    fits.then_some(hash)
}

fn unknown_algorithm(algorithm: &Oid, parameters: Option<&[u8]>) -> Verdict {
    match *algorithm {
        a if a == oid::ECDSA_SHA1 || a == oid::RSA_SHA1 => {
            Verdict::Refused("is signed with SHA-1, which etcd (Go's crypto/x509) refuses".into())
        }
        a if a == oid::RSA_MD5 => {
            Verdict::Refused("is signed with MD5, which etcd (Go's crypto/x509) refuses".into())
        }
        a if a == oid::ECDSA_SHA224 || a == oid::RSA_SHA224 => Verdict::Refused(
            "is signed with SHA-224, which etcd (Go's crypto/x509) does not verify".into(),
        ),
        a if a == oid::RSASSA_PSS => Verdict::Refused(format!(
            "is signed with RSA-PSS parameters etcd (Go's crypto/x509) refuses{}: Go takes SHA-256, SHA-384 or SHA-512 with MGF1 over the same hash and a salt as long as the hash",
            if parameters.is_none() {
                " (none given)"
            } else {
                ""
            }
        )),
        a => Verdict::Unchecked(format!("signature algorithm {a}")),
    }
}

fn rsa_pkcs1_verify(key: &rsa::PublicKey, hash: Hash, message: &[u8], signature: &[u8]) -> bool {
    let digest = hash.digest(message);
    match hash {
        Hash::Sha256 => key.verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest, signature),
        Hash::Sha384 => key.verify(rsa::Pkcs1v15Sign::new::<Sha384>(), &digest, signature),
        Hash::Sha512 => key.verify(rsa::Pkcs1v15Sign::new::<Sha512>(), &digest, signature),
    }
    .is_ok()
}

fn rsa_pss_verify(key: &rsa::PublicKey, hash: Hash, message: &[u8], signature: &[u8]) -> bool {
    let digest = hash.digest(message);
    match hash {
        Hash::Sha256 => key.verify(rsa::Pss::<Sha256>::new_with_salt(32), &digest, signature),
        Hash::Sha384 => key.verify(rsa::Pss::<Sha384>::new_with_salt(48), &digest, signature),
        Hash::Sha512 => key.verify(rsa::Pss::<Sha512>::new_with_salt(64), &digest, signature),
    }
    .is_ok()
}

/// The SubjectPublicKeyInfo DER, re-encoded, of an SPKI reference (for comparisons).
pub fn spki_der(info: &SubjectPublicKeyInfoRef<'_>) -> Option<Vec<u8>> {
    info.to_der().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_algorithm_name_parses_and_nothing_else_does() {
        for name in KeyAlgorithm::NAMES {
            assert!(KeyAlgorithm::parse(name).is_some(), "{name}");
        }
        for name in ["", "P-256", "rsa-1024", "ecdsa-p224", "ED25519"] {
            assert_eq!(KeyAlgorithm::parse(name), None, "{name}");
        }
    }

    #[test]
    fn pem_blocks_keep_legacy_headers_apart_from_the_base64() {
        let text = "junk\n-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        let blocks = pem_blocks(text);
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].label, "EC PARAMETERS");
        assert_eq!(
            blocks[1].headers,
            "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n"
        );
        assert_eq!(blocks[1].der.as_deref(), Some(&[0u8, 0, 0][..]));
        assert_eq!(
            PrivateKey::from_pem(text).err(),
            Some(KeyProblem::Encrypted)
        );
    }

    #[test]
    fn a_file_without_exactly_one_key_is_not_a_key() {
        assert!(matches!(
            PrivateKey::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            Err(KeyProblem::NotAKey(_))
        ));
        let key = PrivateKey::generate(KeyAlgorithm::P256)
            .unwrap()
            .to_pem()
            .unwrap();
        assert!(PrivateKey::from_pem(&key).is_ok());
        assert!(matches!(
            PrivateKey::from_pem(&format!("{key}{key}")),
            Err(KeyProblem::NotAKey(_))
        ));
    }

    #[test]
    fn generated_keys_sign_what_their_public_half_verifies() {
        for algorithm in [
            KeyAlgorithm::P256,
            KeyAlgorithm::P384,
            KeyAlgorithm::P521,
            KeyAlgorithm::Ed25519,
        ] {
            let key = PrivateKey::generate(algorithm).unwrap();
            let reread = PrivateKey::from_pem(&key.to_pem().unwrap()).unwrap();
            assert!(reread.public_key() == key.public_key(), "{algorithm:?}");
            let signature = key.sign(b"tbs").unwrap();
            let id = key.signature_algorithm();
            let parameters = id.parameters.as_ref().map(|p| p.to_der().unwrap());
            let public = key.public_key();
            assert_eq!(
                public.verify(&id.oid, parameters.as_deref(), b"tbs", &signature),
                Verdict::Valid
            );
            assert_eq!(
                public.verify(&id.oid, parameters.as_deref(), b"tbz", &signature),
                Verdict::Invalid
            );
        }
    }

    #[test]
    fn an_unknown_signature_algorithm_is_unchecked_not_invalid() {
        let key = PrivateKey::generate(KeyAlgorithm::P256).unwrap();
        let unknown = Oid::new_unwrap("1.2.840.10045.4.3.9");
        assert!(matches!(
            key.public_key().verify(&unknown, None, b"tbs", b"sig"),
            Verdict::Unchecked(_)
        ));
        assert!(matches!(
            key.public_key()
                .verify(&oid::RSA_SHA1, None, b"tbs", b"sig"),
            Verdict::Refused(_)
        ));
    }
}
