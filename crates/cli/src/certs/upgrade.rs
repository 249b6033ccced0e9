//! `loghog-server-cert --upgrade`: bring an existing CA and server
//! certificate up to what current TLS libraries accept, keeping the CA key.
//!
//! The original's openssl scripts made X.509 v1 certificates, which rustls
//! refuses even over a good RSA-2048 key. Re-issuing the CA certificate as v3
//! with the same key and the same subject, and a new server certificate
//! signed by that key, keeps every deployed client working: OpenSSL-based
//! clients holding the old CA file verify a leaf by issuer name and key.
//! Nothing usable is touched, and what is replaced is kept beside it.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, DnValue, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::{SubjectPublicKeyInfo, X509Name};

use super::{
    CertError, KeyType, PUBLIC_MODE, SECRET_MODE, ServerFiles, check_name, load_key, server_leaf,
    set_validity, subject, write_file,
};

/// What `--upgrade` did with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upgraded {
    /// The file was usable and left as it was.
    Kept(PathBuf),
    /// The file was replaced; the old one was renamed to `backup`.
    Replaced {
        /// The file written.
        path: PathBuf,
        /// Where the old file now is.
        backup: PathBuf,
        /// Why it was replaced.
        why: String,
    },
    /// The file did not exist and was made.
    Created(PathBuf),
}

/// Keeps `{domain}-ca.key` in `dir` and makes `{domain}-ca.cert` and
/// `{domain}-server.pem` beside it usable: each is re-issued (the CA with the
/// same key and subject) only when current TLS libraries would refuse it,
/// the old file renamed to `{file}.old-{stamp}`. New server keys are of
/// `key_type`.
///
/// Refused, with nothing written: no CA key; a CA key that cannot be read or
/// is too short (only a new CA helps: `loghog-server-cert --force`); a CA
/// certificate that belongs to another key.
pub fn upgrade_server_files(
    dir: &Path,
    domain: &str,
    key_type: KeyType,
    stamp: &str,
) -> Result<Vec<Upgraded>, CertError> {
    check_name("domain", domain)?;
    let files = ServerFiles {
        ca_key: dir.join(format!("{domain}-ca.key")),
        ca_cert: dir.join(format!("{domain}-ca.cert")),
        server_pem: dir.join(format!("{domain}-server.pem")),
    };
    if !files.ca_key.is_file() {
        return Err(CertError::CaNotFound {
            file: format!("{domain}-ca.key"),
            searched: vec![dir.to_owned()],
        });
    }
    let key_pem = fs::read(&files.ca_key).map_err(|source| CertError::Read {
        path: files.ca_key.clone(),
        source,
    })?;
    let old_ca = fs::read(&files.ca_cert).ok();
    let ca_key = || load_key(&files.ca_key, &key_pem);
    match ca_key() {
        Ok(key) => check_key_strength(
            &files.ca_key,
            rsa_bits_of_spki(&key.subject_public_key_info()),
        )?,
        // aws-lc will not even load a short RSA key: its certificate says why.
        Err(err) => {
            let cert_bits = old_ca.as_deref().and_then(first_cert).and_then(|der| {
                X509Certificate::from_der(&der)
                    .ok()
                    .and_then(|(_, c)| loghog_pki::rsa_bits(&c))
            });
            check_key_strength(&files.ca_key, cert_bits)?;
            return Err(err);
        }
    }

    let mut done = Vec::new();
    let ca_der = match ca_problem(&files, old_ca.as_deref(), &ca_key()?)? {
        None => {
            done.push(Upgraded::Kept(files.ca_cert.clone()));
            old_ca
                .as_deref()
                .and_then(first_cert)
                .expect("a usable CA has a certificate")
        }
        Some(why) => {
            let name = old_ca
                .as_deref()
                .and_then(first_cert)
                .and_then(|der| copy_subject(&der))
                .unwrap_or_else(|| subject(&format!("{domain} CA")));
            let ca = CertifiedIssuer::self_signed(ca_params(name), ca_key()?)?;
            let der = ca.der().clone();
            done.push(replace(&files.ca_cert, &ca.pem(), PUBLIC_MODE, stamp, why)?);
            der
        }
    };

    let old_server = fs::read(&files.server_pem).ok();
    match server_problem(old_server.as_deref(), &ca_der) {
        None => done.push(Upgraded::Kept(files.server_pem.clone())),
        Some(why) => {
            let issuer = Issuer::from_ca_cert_der(&ca_der, ca_key()?)?;
            let pem = server_leaf(domain, key_type, &issuer)?;
            done.push(replace(&files.server_pem, &pem, SECRET_MODE, stamp, why)?);
        }
    }
    Ok(done)
}

/// The RSA modulus length of a DER SubjectPublicKeyInfo, if it is RSA.
fn rsa_bits_of_spki(spki: &[u8]) -> Option<usize> {
    let (_, info) = SubjectPublicKeyInfo::from_der(spki).ok()?;
    match info.parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => {
            Some(loghog_pki::modulus_bits(rsa.modulus))
        }
        _ => None,
    }
}

/// A short RSA key cannot be kept: every certificate over it is refused.
fn check_key_strength(path: &Path, rsa_bits: Option<usize>) -> Result<(), CertError> {
    match rsa_bits {
        Some(bits) if bits < loghog_pki::MIN_RSA_BITS => Err(CertError::CaUnusable {
            path: path.to_owned(),
            reason: format!("the CA key {}", loghog_pki::Weakness::RsaKey { bits }),
            key_weak: true,
        }),
        _ => Ok(()),
    }
}

/// Why the CA certificate must be re-issued, if it must. A certificate of
/// another key is an error, not a reason: re-issuing would silently change
/// which CA the clients trust.
fn ca_problem(
    files: &ServerFiles,
    pem: Option<&[u8]>,
    key: &KeyPair,
) -> Result<Option<String>, CertError> {
    let Some(pem) = pem else {
        return Ok(Some("it was missing".into()));
    };
    let Some(der) = first_cert(pem) else {
        return Ok(Some("it held no certificate".into()));
    };
    let Ok((_, cert)) = X509Certificate::from_der(&der) else {
        return Ok(Some("it was not valid X.509".into()));
    };
    if cert.public_key().subject_public_key.data.as_ref() != key.der_bytes() {
        return Err(CertError::CaKeyMismatch {
            key: files.ca_key.clone(),
            cert: files.ca_cert.clone(),
        });
    }
    Ok(if let Some(weakness) = loghog_pki::weakness(&cert) {
        Some(format!("it {weakness}"))
    } else if !cert.is_ca() {
        Some("it was not a CA certificate".into())
    } else if !cert.validity().is_valid() {
        Some("it was expired or not yet valid".into())
    } else {
        None
    })
}

/// Why the server pem must be re-issued, if it must.
fn server_problem(pem: Option<&[u8]>, ca_der: &CertificateDer<'_>) -> Option<String> {
    let Some(pem) = pem else {
        return Some("it was missing".into());
    };
    let Some(der) = first_cert(pem) else {
        return Some("it held no certificate".into());
    };
    let Ok(key) = PrivateKeyDer::from_pem_slice(pem) else {
        return Some("it held no unencrypted private key".into());
    };
    let Ok((_, cert)) = X509Certificate::from_der(&der) else {
        return Some("it was not valid X.509".into());
    };
    let (_, ca) = X509Certificate::from_der(ca_der).expect("the CA was checked");
    let key_matches = KeyPair::try_from(&key)
        .is_ok_and(|k| k.der_bytes() == cert.public_key().subject_public_key.data.as_ref());
    if let Some(weakness) = loghog_pki::weakness(&cert) {
        Some(format!("it {weakness}"))
    } else if !key_matches {
        Some("its key did not belong to its certificate".into())
    } else if !loghog_pki::signed_by(&cert, &ca) {
        Some("it was not signed by the CA".into())
    } else if !cert.validity().is_valid() {
        Some("it was expired or not yet valid".into())
    } else {
        None
    }
}

/// Parameters of a v3 CA certificate with the given subject.
fn ca_params(name: DistinguishedName) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    set_validity(&mut params);
    params
}

/// The subject of `der`, attribute by attribute with the same string types,
/// so that the issuer name of new leaves matches old CA files exactly.
fn copy_subject(der: &CertificateDer<'_>) -> Option<DistinguishedName> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    dn_of(cert.subject())
}

fn dn_of(name: &X509Name<'_>) -> Option<DistinguishedName> {
    use x509_parser::der_parser::asn1_rs::Tag;
    let mut dn = DistinguishedName::new();
    for attr in name.iter_attributes() {
        let oid: Vec<u64> = attr.attr_type().iter()?.collect();
        let text = std::str::from_utf8(attr.attr_value().data).ok()?;
        let value = match attr.attr_value().header.tag() {
            Tag::PrintableString => DnValue::PrintableString(text.try_into().ok()?),
            Tag::Ia5String => DnValue::Ia5String(text.try_into().ok()?),
            Tag::Utf8String => DnValue::Utf8String(text.to_owned()),
            _ => return None,
        };
        dn.push(DnType::from_oid(&oid), value);
    }
    Some(dn)
}

fn first_cert(pem: &[u8]) -> Option<CertificateDer<'static>> {
    CertificateDer::from_pem_slice(pem).ok()
}

/// Moves `path` aside to `{path}.old-{stamp}` (if it exists) and writes
/// `contents` in its place.
fn replace(
    path: &Path,
    contents: &str,
    mode: u32,
    stamp: &str,
    why: String,
) -> Result<Upgraded, CertError> {
    if path.symlink_metadata().is_err() {
        write_file(path, contents, mode, false)?;
        return Ok(Upgraded::Created(path.to_owned()));
    }
    let mut backup = PathBuf::from(format!("{}.old-{stamp}", path.display()));
    let mut n = 1;
    while backup.symlink_metadata().is_ok() {
        backup = PathBuf::from(format!("{}.old-{stamp}.{n}", path.display()));
        n += 1;
    }
    fs::rename(path, &backup).map_err(|source| CertError::Write {
        path: backup.clone(),
        source,
    })?;
    write_file(path, contents, mode, false)?;
    Ok(Upgraded::Replaced {
        path: path.to_owned(),
        backup,
        why,
    })
}
