//! The certificates kindling issues — a CA, or a leaf with kindling's profile (names,
//! key usages, validity) — encoded as X.509 and signed by whichever key signs them, with
//! the signature algorithm that key calls for (`keys::PrivateKey::signature_algorithm`).

use std::net::IpAddr;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_cert::builder::{Builder, CertificateBuilder, profile::BuilderProfile};
use x509_cert::der::asn1::{BitString, Ia5String, OctetString};
use x509_cert::der::oid::AssociatedOid;
use x509_cert::der::{Any, Decode, Encode, Tag};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{
    AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, EncodePublicKey,
    SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef,
};
use x509_cert::time::{Time, Validity};

use super::keys::{PrivateKey, PublicKey};

const COMMON_NAME: &str = "2.5.4.3";
const ORGANIZATION: &str = "2.5.4.10";
const SERVER_AUTH: &str = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";

/// What a certificate is for.
pub enum Purpose {
    /// A CA that signs leaves only (path length 0).
    Ca,
    /// A leaf: the names it answers to and its extended key usages.
    Leaf {
        sans: Vec<San>,
        server: bool,
        client: bool,
    },
}

/// A subject alternative name.
pub enum San {
    Dns(String),
    Ip(IpAddr),
}

/// Everything about a certificate but its keys.
pub struct Profile {
    pub common_name: String,
    pub organization: Option<String>,
    pub purpose: Purpose,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// Who signs: the key, the name it signs as (the CA certificate's subject, byte for byte)
/// and the CA certificate's subject key identifier, which the leaf names as its authority
/// key identifier so verifiers (openssl among them) find the right issuer.
pub struct Signer<'a> {
    pub key: &'a PrivateKey,
    pub name: Name,
    pub key_identifier: Option<Vec<u8>>,
}

/// A certificate for `subject_key` per `profile`, signed by `signer` (None: self-signed
/// with `self_key`, whose public half is `subject_key`). Returns the DER.
pub fn issue(
    profile: &Profile,
    subject_key: &PublicKey,
    signer: Option<&Signer>,
    self_key: Option<&PrivateKey>,
) -> Result<Vec<u8>, String> {
    let failed = |e: &dyn std::fmt::Display| format!("cannot encode the certificate: {e}");
    let subject =
        name(&profile.common_name, profile.organization.as_deref()).map_err(|e| failed(&e))?;
    let spki_der = subject_key.to_spki_der()?;
    let own_id = key_identifier(&spki_der);
    let (signing_key, issuer, authority_id) = match (signer, self_key) {
        (Some(signer), _) => (
            signer.key,
            signer.name.clone(),
            signer.key_identifier.clone(),
        ),
        (None, Some(key)) => (key, subject.clone(), Some(own_id.clone())),
        (None, None) => return Err("a certificate needs a signer".into()),
    };
    let extensions =
        extensions(profile, subject_key, &own_id, authority_id).map_err(|e| failed(&e))?;
    let layout = Layout {
        subject,
        issuer,
        extensions,
    };
    let validity = Validity::new(time(profile.not_before)?, time(profile.not_after)?);
    let spki = SubjectPublicKeyInfoOwned::from_der(&spki_der).map_err(|e| failed(&e))?;
    let serial =
        SerialNumber::new(&serial(&spki_der, profile.not_before)).map_err(|e| failed(&e))?;
    let mut builder =
        CertificateBuilder::new(layout, serial, validity, spki).map_err(|e| failed(&e))?;
    let signing = SigningWith(signing_key);
    let tbs = builder.finalize(&signing).map_err(|e| failed(&e))?;
    let signature = signing_key.sign(&tbs)?;
    let signature = BitString::from_bytes(&signature).map_err(|e| failed(&e))?;
    let certificate = builder
        .assemble(signature, &signing)
        .map_err(|e| failed(&e))?;
    certificate.to_der().map_err(|e| failed(&e))
}

/// The subject and issuer names and the extensions, as the builder asks for them.
struct Layout {
    subject: Name,
    issuer: Name,
    extensions: Vec<Extension>,
}

impl BuilderProfile for Layout {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        _subject_key: SubjectPublicKeyInfoRef<'_>,
        _issuer_key: SubjectPublicKeyInfoRef<'_>,
        _tbs: &x509_cert::TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(self.extensions.clone())
    }
}

/// A private key in the shape the certificate builder signs with.
struct SigningWith<'a>(&'a PrivateKey);

impl p256::ecdsa::signature::Keypair for SigningWith<'_> {
    type VerifyingKey = PublicKey;

    fn verifying_key(&self) -> PublicKey {
        self.0.public_key()
    }
}

impl DynSignatureAlgorithmIdentifier for SigningWith<'_> {
    fn signature_algorithm_identifier(&self) -> x509_cert::spki::Result<AlgorithmIdentifierOwned> {
        Ok(self.0.signature_algorithm())
    }
}

impl EncodePublicKey for PublicKey {
    fn to_public_key_der(&self) -> x509_cert::spki::Result<x509_cert::der::Document> {
        let der = self
            .to_spki_der()
            .map_err(|_| x509_cert::spki::Error::KeyMalformed)?;
        Ok(x509_cert::der::Document::try_from(der)?)
    }
}

fn extensions(
    profile: &Profile,
    subject_key: &PublicKey,
    own_id: &[u8],
    authority_id: Option<Vec<u8>>,
) -> Result<Vec<Extension>, x509_cert::der::Error> {
    let mut extensions = Vec::new();
    match &profile.purpose {
        Purpose::Ca => {
            extensions.push(extension(
                &BasicConstraints {
                    ca: true,
                    path_len_constraint: Some(0),
                },
                BasicConstraints::OID,
                true,
            )?);
            let usages = KeyUsages::KeyCertSign | KeyUsages::CRLSign | KeyUsages::DigitalSignature;
            extensions.push(extension(&KeyUsage(usages), KeyUsage::OID, true)?);
        }
        Purpose::Leaf {
            sans,
            server,
            client,
        } => {
            // RSA keys also encipher (TLS 1.2 key transport); EC and Ed25519 keys only sign.
            let usages = if subject_key.rsa_bits().is_some() {
                KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment
            } else {
                KeyUsages::DigitalSignature.into()
            };
            extensions.push(extension(&KeyUsage(usages), KeyUsage::OID, true)?);
            let mut purposes = Vec::new();
            if *server {
                purposes.push(oid(SERVER_AUTH));
            }
            if *client {
                purposes.push(oid(CLIENT_AUTH));
            }
            extensions.push(extension(
                &ExtendedKeyUsage(purposes),
                ExtendedKeyUsage::OID,
                false,
            )?);
            if !sans.is_empty() {
                let names = sans
                    .iter()
                    .map(general_name)
                    .collect::<Result<Vec<_>, _>>()?;
                extensions.push(extension(
                    &SubjectAltName(names),
                    SubjectAltName::OID,
                    false,
                )?);
            }
        }
    }
    let own = SubjectKeyIdentifier(OctetString::new(own_id)?);
    extensions.push(extension(&own, SubjectKeyIdentifier::OID, false)?);
    if let Some(id) = authority_id {
        let authority = AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(id)?),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        };
        extensions.push(extension(&authority, AuthorityKeyIdentifier::OID, false)?);
    }
    Ok(extensions)
}

fn extension(
    value: &impl Encode,
    id: x509_cert::der::asn1::ObjectIdentifier,
    critical: bool,
) -> Result<Extension, x509_cert::der::Error> {
    Ok(Extension {
        extn_id: id,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

fn general_name(san: &San) -> Result<GeneralName, x509_cert::der::Error> {
    Ok(match san {
        San::Dns(name) => GeneralName::DnsName(Ia5String::new(name)?),
        San::Ip(IpAddr::V4(ip)) => GeneralName::IpAddress(OctetString::new(ip.octets())?),
        San::Ip(IpAddr::V6(ip)) => GeneralName::IpAddress(OctetString::new(ip.octets())?),
    })
}

fn oid(text: &str) -> x509_cert::der::asn1::ObjectIdentifier {
    x509_cert::der::asn1::ObjectIdentifier::new_unwrap(text)
}

/// `CN=<common name>[, O=<organization>]`, as UTF8Strings.
fn name(common_name: &str, organization: Option<&str>) -> Result<Name, x509_cert::der::Error> {
    let mut sequence = RdnSequence::default();
    let mut attributes = vec![(COMMON_NAME, common_name)];
    attributes.extend(organization.map(|o| (ORGANIZATION, o)));
    for (id, value) in attributes {
        let mut rdn = RelativeDistinguishedName::default();
        rdn.insert(x509_cert::attr::AttributeTypeAndValue {
            oid: oid(id),
            value: Any::new(Tag::Utf8String, value.as_bytes())?,
        })?;
        sequence.push(rdn);
    }
    Name::from_der(&sequence.to_der()?)
}

/// A time as X.509 writes it: whole seconds, UTCTime until 2049, GeneralizedTime after.
fn time(at: OffsetDateTime) -> Result<Time, String> {
    let seconds = u64::try_from(at.unix_timestamp())
        .map_err(|_| "a certificate cannot start before 1970".to_string())?;
    let system = std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds);
    Time::try_from(system).map_err(|e| format!("cannot encode the date {at}: {e}"))
}

/// RFC 7093's method: the leftmost 160 bits of the SHA-256 of the public key's bits.
fn key_identifier(spki_der: &[u8]) -> Vec<u8> {
    let bits = SubjectPublicKeyInfoRef::from_der(spki_der)
        .map(|info| info.subject_public_key.raw_bytes().to_vec())
        .unwrap_or_default();
    Sha256::digest(bits)[..20].to_vec()
}

/// A positive 128-bit serial derived from the (random) public key and the time.
fn serial(spki_der: &[u8], at: OffsetDateTime) -> [u8; 16] {
    let mut hasher = Sha256::new();
    hasher.update(spki_der);
    hasher.update(at.unix_timestamp().to_be_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hasher.finalize()[..16]);
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    bytes
}

/// A name as a certificate encodes it (an issuer's subject, byte for byte).
pub fn name_from_der(der: &[u8]) -> Result<Name, String> {
    Name::from_der(der).map_err(|e| format!("its subject name does not decode: {e}"))
}
