//! Certificates for loghogd's ssl listeners: a CA, a server certificate and
//! client certificates, as written by `loghog-server-cert` and
//! `loghog-client-cert`.
//!
//! Everything is X.509 v3, SHA-256, ECDSA P-256 (or RSA-2048), valid until the
//! year 3000, so that both rustls and Python's `ssl` (OpenSSL) accept it. No
//! file is ever half-replaced: every target is checked before anything is written.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PublicKeyData,
};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Directories searched, in order, for `{ca-name}-ca.key` when no CA directory is given.
pub const CA_SEARCH_DIRS: [&str; 4] = [
    ".",
    "/etc/loghogd",
    "/etc/loghogd/certs",
    "/usr/local/etc/loghogd",
];

/// The CA name used when none is given.
pub const DEFAULT_CA_NAME: &str = "loghog";

mod upgrade;
pub use upgrade::{Upgraded, upgrade_server_files};

/// Last day of validity: "1000 years" as the original promised, rounded.
const NOT_AFTER_YEAR: i32 = 3000;

/// Mode of files holding a private key.
const SECRET_MODE: u32 = 0o600;
/// Mode of the CA certificate, which is handed out to every client.
const PUBLIC_MODE: u32 = 0o644;

/// Key algorithm for new certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyType {
    /// ECDSA on P-256 with SHA-256 (the default: small and fast).
    #[default]
    Ecdsa,
    /// RSA-2048 with SHA-256, for peers that cannot do ECDSA.
    Rsa,
}

/// The files `loghog-server-cert` writes.
#[derive(Debug, Clone)]
pub struct ServerFiles {
    /// `{domain}-ca.key`: the CA private key (0600); keep it secret.
    pub ca_key: PathBuf,
    /// `{domain}-ca.cert`: the CA certificate, loghogd's `cacert` and the clients' CA.
    pub ca_cert: PathBuf,
    /// `{domain}-server.pem`: server key and certificate (0600), loghogd's `pemfile`.
    pub server_pem: PathBuf,
}

/// A CA found on disk: its key and its certificate.
#[derive(Debug, Clone)]
pub struct CaFiles {
    /// `{ca-name}-ca.key`.
    pub key: PathBuf,
    /// `{ca-name}-ca.cert`, beside the key.
    pub cert: PathBuf,
}

/// Making or writing certificates failed.
#[derive(Debug)]
pub enum CertError {
    /// A domain or client name that cannot be used as a file name or in a certificate.
    InvalidName {
        /// What the name is for ("domain", "client name", "CA name").
        what: &'static str,
        /// The name given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A target file exists and `--force` was not given.
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// Writing a file failed.
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Reading a CA file failed.
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// No `{ca-name}-ca.key` in any searched directory.
    CaNotFound {
        /// The file name looked for.
        file: String,
        /// The directories searched.
        searched: Vec<PathBuf>,
    },
    /// The CA key was found but its certificate is not beside it.
    CaCertMissing {
        /// The key found.
        key: PathBuf,
        /// The certificate expected.
        cert: PathBuf,
    },
    /// The CA key or certificate cannot be used.
    BadCa {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The CA certificate is one current TLS libraries refuse (X.509 v1, an
    /// old digest, a short key).
    CaUnusable {
        /// The CA certificate.
        path: PathBuf,
        /// What is wrong.
        reason: String,
        /// True when the key itself is too weak (a new CA is needed).
        key_weak: bool,
    },
    /// The CA key does not belong to the CA certificate.
    CaKeyMismatch {
        /// The key.
        key: PathBuf,
        /// The certificate.
        cert: PathBuf,
    },
    /// rcgen could not generate a key or a certificate.
    Generate(rcgen::Error),
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const REGENERATE: &str = "make a new CA with `loghog-server-cert [domain]`";
        match self {
            CertError::InvalidName { what, name, reason } => {
                write!(f, "invalid {what} {name:?}: {reason}")
            }
            CertError::Exists { path } if is_server_file(path) => write!(
                f,
                "{} already exists; to keep this CA (and every client's CA file) and \
                 re-issue only what current TLS libraries refuse, use --upgrade; --force \
                 makes a new CA, whose certificate every client then needs",
                path.display()
            ),
            CertError::Exists { path } => write!(
                f,
                "{} already exists; remove it or use --force to overwrite",
                path.display()
            ),
            CertError::Write { path, source } => {
                write!(f, "cannot write {}: {source}", path.display())
            }
            CertError::Read { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            CertError::CaNotFound { file, searched } => {
                let dirs: Vec<String> = searched.iter().map(|d| d.display().to_string()).collect();
                write!(
                    f,
                    "no CA key {file} in {}; give the CA directory as the second argument, \
                     or {REGENERATE}",
                    dirs.join(", ")
                )
            }
            CertError::CaCertMissing { key, cert } => write!(
                f,
                "found the CA key {} but not its certificate {}; put the CA certificate \
                 beside the key, or {REGENERATE}",
                key.display(),
                cert.display()
            ),
            CertError::BadCa { path, reason } => {
                write!(f, "{}: {reason}; {REGENERATE}", path.display())
            }
            CertError::CaUnusable {
                path,
                reason,
                key_weak: false,
            } => write!(
                f,
                "{}: {reason}; run `loghog-server-cert --upgrade` in its directory to \
                 re-issue it with the same key (clients keep their CA file)",
                path.display()
            ),
            CertError::CaUnusable { path, reason, .. } => write!(
                f,
                "{}: {reason}; the CA key must be replaced: {REGENERATE} --force, then hand \
                 the new CA certificate to every client",
                path.display()
            ),
            CertError::CaKeyMismatch { key, cert } => write!(
                f,
                "the CA key {} does not belong to the CA certificate {}; {REGENERATE}",
                key.display(),
                cert.display()
            ),
            CertError::Generate(err) => write!(f, "cannot generate the certificate: {err}"),
        }
    }
}

/// True for the files `loghog-server-cert` writes, whose refusal message
/// points at `--upgrade`.
fn is_server_file(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        n.ends_with("-ca.key") || n.ends_with("-ca.cert") || n.ends_with("-server.pem")
    })
}

impl std::error::Error for CertError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CertError::Write { source, .. } | CertError::Read { source, .. } => Some(source),
            CertError::Generate(err) => Some(err),
            _ => None,
        }
    }
}

impl From<rcgen::Error> for CertError {
    fn from(err: rcgen::Error) -> Self {
        CertError::Generate(err)
    }
}

/// Makes a new CA and a server certificate for `domain` and writes
/// `{domain}-ca.key`, `{domain}-ca.cert` and `{domain}-server.pem` into `dir`.
///
/// Existing files are refused unless `force`; nothing is written then.
pub fn make_server_files(
    dir: &Path,
    domain: &str,
    key_type: KeyType,
    force: bool,
) -> Result<ServerFiles, CertError> {
    check_name("domain", domain)?;
    let files = ServerFiles {
        ca_key: dir.join(format!("{domain}-ca.key")),
        ca_cert: dir.join(format!("{domain}-ca.cert")),
        server_pem: dir.join(format!("{domain}-server.pem")),
    };
    check_targets(&[&files.ca_key, &files.ca_cert, &files.server_pem], force)?;

    let ca = new_ca(domain, key_type)?;
    let pem = server_leaf(domain, key_type, &ca)?;
    write_file(&files.ca_key, &ca.key().serialize_pem(), SECRET_MODE, force)?;
    write_file(&files.ca_cert, &ca.pem(), PUBLIC_MODE, force)?;
    write_file(&files.server_pem, &pem, SECRET_MODE, force)?;
    Ok(files)
}

/// A new server key and certificate for `domain` signed by `issuer`, as one
/// PEM text (key first), ready to be loghogd's `pemfile`.
fn server_leaf(
    domain: &str,
    key_type: KeyType,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<String, CertError> {
    let mut params = CertificateParams::new(vec![domain.to_owned()])?;
    leaf_params(
        &mut params,
        domain,
        key_type,
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let key = new_key(key_type)?;
    let cert = params.signed_by(&key, issuer)?;
    Ok(format!("{}{}", key.serialize_pem(), cert.pem()))
}

/// Makes a client certificate for `name` signed by the CA in `ca`, and writes
/// `{name}.pem` (key + certificate, 0600) into `dir`. Returns its path.
pub fn make_client_file(
    dir: &Path,
    name: &str,
    ca: &CaFiles,
    key_type: KeyType,
    force: bool,
) -> Result<PathBuf, CertError> {
    check_name("client name", name)?;
    let path = dir.join(format!("{name}.pem"));
    check_targets(&[&path], force)?;

    let issuer = load_ca(ca)?;
    // No subjectAltName: loghogd checks the chain, not the client's name, and
    // a client name need not be a valid DNS name.
    let mut params = CertificateParams::default();
    leaf_params(
        &mut params,
        name,
        key_type,
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let key = new_key(key_type)?;
    let cert = params.signed_by(&key, &issuer)?;
    let pem = format!("{}{}", key.serialize_pem(), cert.pem());
    write_file(&path, &pem, SECRET_MODE, force)?;
    Ok(path)
}

/// Under `sudo`, gives `path` to the user who ran sudo (`SUDO_UID` and
/// `SUDO_GID`, set by sudo), as the original did: the client certificate is
/// for that user's applications, not for root. Returns the new owner's name
/// when the file was handed over.
pub fn give_to_sudo_user(path: &Path) -> Result<Option<String>, CertError> {
    let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    let (Some(uid), Some(gid)) = (var("SUDO_UID"), var("SUDO_GID")) else {
        return Ok(None);
    };
    let (Ok(uid), Ok(gid)) = (uid.parse::<u32>(), gid.parse::<u32>()) else {
        return Ok(None);
    };
    if uid == 0 {
        return Ok(None);
    }
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|source| CertError::Write {
        path: path.to_owned(),
        source,
    })?;
    Ok(Some(
        var("SUDO_USER").unwrap_or_else(|| format!("uid {uid}")),
    ))
}

/// Finds `{ca_name}-ca.key` and the `{ca_name}-ca.cert` beside it, in
/// `ca_dir` if given, else in the first of [`CA_SEARCH_DIRS`] that has the key.
pub fn find_ca(ca_dir: Option<&Path>, ca_name: &str) -> Result<CaFiles, CertError> {
    match ca_dir {
        Some(dir) => find_ca_in(&[dir.to_owned()], ca_name),
        None => {
            let dirs: Vec<PathBuf> = CA_SEARCH_DIRS.iter().map(PathBuf::from).collect();
            find_ca_in(&dirs, ca_name)
        }
    }
}

/// [`find_ca`] over an explicit list of directories.
pub fn find_ca_in(dirs: &[PathBuf], ca_name: &str) -> Result<CaFiles, CertError> {
    check_name("CA name", ca_name)?;
    let key_file = format!("{ca_name}-ca.key");
    for dir in dirs {
        let key = dir.join(&key_file);
        if key.is_file() {
            let cert = dir.join(format!("{ca_name}-ca.cert"));
            if !cert.is_file() {
                return Err(CertError::CaCertMissing { key, cert });
            }
            return Ok(CaFiles { key, cert });
        }
    }
    Err(CertError::CaNotFound {
        file: key_file,
        searched: dirs.to_vec(),
    })
}

/// Reads a CA from disk and checks that it can sign: a CA certificate that is
/// v3, not weak, and matches its key.
fn load_ca(ca: &CaFiles) -> Result<Issuer<'static, KeyPair>, CertError> {
    let bad_cert = |reason: String| CertError::BadCa {
        path: ca.cert.clone(),
        reason,
    };
    // The certificate first: a weak old CA's RSA-1024 key would not even
    // load, and "too weak" is the more useful message.
    let cert_pem = fs::read_to_string(&ca.cert).map_err(|source| CertError::Read {
        path: ca.cert.clone(),
        source,
    })?;
    let cert_der = rustls_pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|err| bad_cert(format!("no certificate ({err})")))?;
    let (_, cert) = X509Certificate::from_der(&cert_der)
        .map_err(|err| bad_cert(format!("not valid X.509 ({err})")))?;
    if let Some(weakness) = loghog_pki::weakness(&cert) {
        return Err(CertError::CaUnusable {
            path: ca.cert.clone(),
            reason: format!("the CA certificate {weakness}"),
            key_weak: weakness.is_key(),
        });
    }
    if !cert.is_ca() {
        return Err(bad_cert(
            "not a CA certificate (no basicConstraints CA:TRUE)".into(),
        ));
    }
    let key_pem = fs::read(&ca.key).map_err(|source| CertError::Read {
        path: ca.key.clone(),
        source,
    })?;
    let key = load_key(&ca.key, &key_pem)?;

    if cert.public_key().subject_public_key.data.as_ref() != key.der_bytes() {
        return Err(CertError::CaKeyMismatch {
            key: ca.key.clone(),
            cert: ca.cert.clone(),
        });
    }
    Issuer::from_ca_cert_der(&cert_der, key)
        .map_err(|err| bad_cert(format!("cannot sign with it ({err})")))
}

/// The private key in `pem`, read from `path` (named in the errors).
fn load_key(path: &Path, pem: &[u8]) -> Result<KeyPair, CertError> {
    let bad = |reason: String| CertError::BadCa {
        path: path.to_owned(),
        reason,
    };
    let der = PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| bad(format!("no unencrypted private key in it ({e})")))?;
    KeyPair::try_from(&der).map_err(|e| bad(format!("unsupported private key ({e})")))
}

fn new_key(key_type: KeyType) -> Result<KeyPair, CertError> {
    Ok(match key_type {
        KeyType::Ecdsa => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?,
        KeyType::Rsa => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)?
        }
    })
}

fn new_ca(domain: &str, key_type: KeyType) -> Result<CertifiedIssuer<'static, KeyPair>, CertError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = subject(&format!("{domain} CA"));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    set_validity(&mut params);
    Ok(CertifiedIssuer::self_signed(params, new_key(key_type)?)?)
}

/// Fills the parts every leaf shares: subject, CA:false, key usages, validity.
fn leaf_params(
    params: &mut CertificateParams,
    common_name: &str,
    key_type: KeyType,
    usage: ExtendedKeyUsagePurpose,
) {
    params.distinguished_name = subject(common_name);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if key_type == KeyType::Rsa {
        // TLS 1.2 RSA key exchange encrypts the premaster secret to the key.
        params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
    }
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    set_validity(params);
}

fn subject(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "LogHog");
    dn.push(DnType::CommonName, common_name);
    dn
}

fn set_validity(params: &mut CertificateParams) {
    // A day back, so a client whose clock is a little behind still accepts it.
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = rcgen::date_time_ymd(NOT_AFTER_YEAR, 1, 1);
}

/// Names become file names and certificate names: keep them to one plain,
/// printable path component.
fn check_name(what: &'static str, name: &str) -> Result<(), CertError> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.starts_with('.') || name.starts_with('-') {
        Some("it must not start with '.' or '-'")
    } else if name.contains('/') || name.contains('\0') {
        Some("it must be a plain name, not a path")
    } else if !name.chars().all(|c| c.is_ascii_graphic()) {
        Some("only printable ASCII without spaces is allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(CertError::InvalidName {
            what,
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

fn check_targets(paths: &[&PathBuf], force: bool) -> Result<(), CertError> {
    if force {
        return Ok(());
    }
    for path in paths {
        // symlink_metadata: a dangling symlink is in the way too.
        if path.symlink_metadata().is_ok() {
            return Err(CertError::Exists {
                path: (*path).clone(),
            });
        }
    }
    Ok(())
}

/// Creates `path` with `mode` from the start, so a key is never readable by
/// others even for a moment; with `force` an old file (or symlink) is removed first.
fn write_file(path: &Path, contents: &str, mode: u32, force: bool) -> Result<(), CertError> {
    let err = |source| CertError::Write {
        path: path.to_owned(),
        source,
    };
    if force {
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(e)),
        }
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                CertError::Exists {
                    path: path.to_owned(),
                }
            } else {
                err(e)
            }
        })?;
    file.write_all(contents.as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_paths_are_refused() {
        for bad in [
            "",
            "../x",
            "a/b",
            ".hidden",
            "-rf",
            "two words",
            "caf\u{e9}",
        ] {
            assert!(check_name("domain", bad).is_err(), "{bad:?}");
        }
        for good in ["loghog", "logs.example.com", "web-01", "10.0.0.5"] {
            check_name("domain", good).unwrap();
        }
    }

    #[test]
    fn server_and_client_certificates_are_v3_sha256_with_extensions() {
        let dir = tempfile::tempdir().unwrap();
        for key_type in [KeyType::Ecdsa, KeyType::Rsa] {
            let domain = format!("d{key_type:?}");
            let files = make_server_files(dir.path(), &domain, key_type, false).unwrap();
            let ca = find_ca_in(&[dir.path().to_owned()], &domain).unwrap();
            let client = make_client_file(dir.path(), "c1", &ca, key_type, true).unwrap();

            let ca_pem = fs::read(&files.ca_cert).unwrap();
            let ca_der = rustls_pki_types::CertificateDer::from_pem_slice(&ca_pem).unwrap();
            let (_, ca_cert) = X509Certificate::from_der(&ca_der).unwrap();
            assert!(ca_cert.is_ca());
            assert_eq!(ca_cert.version().0, 2);
            let bc = ca_cert.basic_constraints().unwrap().unwrap();
            assert!(bc.critical && bc.value.ca);
            let ku = ca_cert.key_usage().unwrap().unwrap().value;
            assert!(ku.key_cert_sign() && ku.crl_sign());
            assert_eq!(
                ca_cert.validity().not_after.to_datetime().year(),
                NOT_AFTER_YEAR
            );

            for (path, server) in [(&files.server_pem, true), (&client, false)] {
                let pem = fs::read(path).unwrap();
                PrivateKeyDer::from_pem_slice(&pem).unwrap();
                let der = rustls_pki_types::CertificateDer::from_pem_slice(&pem).unwrap();
                let (_, cert) = X509Certificate::from_der(&der).unwrap();
                assert_eq!(cert.version().0, 2);
                assert!(loghog_pki::weakness(&cert).is_none());
                assert!(!cert.is_ca());
                assert_eq!(cert.issuer(), ca_cert.subject());
                let eku = cert.extended_key_usage().unwrap().unwrap().value;
                assert_eq!((eku.server_auth, eku.client_auth), (server, !server));
                let ku = cert.key_usage().unwrap().unwrap().value;
                assert!(ku.digital_signature());
                assert_eq!(ku.key_encipherment(), key_type == KeyType::Rsa);
                let san = cert.subject_alternative_name().unwrap();
                assert_eq!(san.is_some(), server);
            }
        }
    }

    #[test]
    fn mismatched_ca_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        make_server_files(dir.path(), "a", KeyType::Ecdsa, false).unwrap();
        make_server_files(dir.path(), "b", KeyType::Ecdsa, false).unwrap();
        let ca = CaFiles {
            key: dir.path().join("a-ca.key"),
            cert: dir.path().join("b-ca.cert"),
        };
        let err = make_client_file(dir.path(), "c", &ca, KeyType::Ecdsa, false).unwrap_err();
        assert!(matches!(err, CertError::CaKeyMismatch { .. }), "{err:?}");
        assert!(!dir.path().join("c.pem").exists());
    }
}
