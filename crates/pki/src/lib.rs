//! The certificate rules loghogd and the certificate commands share: what
//! current TLS libraries refuse (X.509 v1, broken digests, short RSA keys)
//! and whether one certificate was signed by another's key.
//!
//! One definition, so that `loghogd --check-config`, the TLS listener and
//! `loghog-server-cert --upgrade` can never disagree about a certificate.

use std::fmt;

use x509_parser::prelude::X509Certificate;
use x509_parser::public_key::PublicKey;

/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// Signature algorithms whose digest is broken (dotted OIDs): MD2, MD4 and MD5
/// with RSA; SHA-1 with RSA (PKCS#1 and the old OIW arc), DSA and ECDSA.
const WEAK_SIGNATURES: &[(&str, &str)] = &[
    ("1.2.840.113549.1.1.2", "MD2 with RSA"),
    ("1.2.840.113549.1.1.3", "MD4 with RSA"),
    ("1.2.840.113549.1.1.4", "MD5 with RSA"),
    ("1.2.840.113549.1.1.5", "SHA-1 with RSA"),
    ("1.3.14.3.2.29", "SHA-1 with RSA"),
    ("1.3.14.3.2.25", "MD5 with RSA"),
    ("1.2.840.10040.4.3", "SHA-1 with DSA"),
    ("1.2.840.10045.4.1", "SHA-1 with ECDSA"),
];

/// Why current TLS libraries (rustls, OpenSSL at its default security level)
/// refuse a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Weakness {
    /// X.509 version 1: no extensions, so no basicConstraints or key usage.
    /// Not a weak key or digest: the format itself is no longer accepted.
    Version1,
    /// Signed with a broken digest (the name, e.g. "SHA-1 with RSA").
    Signature(&'static str),
    /// An RSA key shorter than [`MIN_RSA_BITS`].
    RsaKey {
        /// Modulus length in bits.
        bits: usize,
    },
}

impl Weakness {
    /// True when the key itself is too weak, so that keeping the key (and
    /// re-issuing only the certificate) cannot help.
    pub fn is_key(&self) -> bool {
        matches!(self, Weakness::RsaKey { .. })
    }
}

impl fmt::Display for Weakness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Weakness::Version1 => f.write_str(
                "is an X.509 v1 certificate, which current TLS libraries no longer accept \
                 (its key and digest may be fine)",
            ),
            Weakness::Signature(name) => {
                write!(f, "is signed with {name}, a digest too weak for TLS")
            }
            Weakness::RsaKey { bits } => write!(
                f,
                "has a {bits}-bit RSA key, too weak for TLS (at least {MIN_RSA_BITS} needed)"
            ),
        }
    }
}

/// The first reason current TLS libraries refuse `cert`, if any.
pub fn weakness(cert: &X509Certificate<'_>) -> Option<Weakness> {
    if let Some(bits) = rsa_bits(cert).filter(|bits| *bits < MIN_RSA_BITS) {
        return Some(Weakness::RsaKey { bits });
    }
    let oid = cert.signature_algorithm.algorithm.to_id_string();
    if let Some((_, name)) = WEAK_SIGNATURES.iter().find(|(weak, _)| *weak == oid) {
        return Some(Weakness::Signature(name));
    }
    if cert.version().0 == 0 {
        return Some(Weakness::Version1);
    }
    None
}

/// The RSA modulus length of `cert`'s key in bits, if it is an RSA key.
pub fn rsa_bits(cert: &X509Certificate<'_>) -> Option<usize> {
    match cert.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) => Some(modulus_bits(rsa.modulus)),
        _ => None,
    }
}

/// Bit length of a big-endian unsigned modulus (DER may prefix a zero byte).
pub fn modulus_bits(modulus: &[u8]) -> usize {
    let digits: &[u8] = match modulus.iter().position(|b| *b != 0) {
        Some(first) => &modulus[first..],
        None => return 0,
    };
    digits.len() * 8 - digits[0].leading_zeros() as usize
}

/// True when `cert` names `issuer` as its issuer and carries a valid signature
/// made with `issuer`'s key.
pub fn signed_by(cert: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> bool {
    cert.issuer() == issuer.subject() && cert.verify_signature(Some(issuer.public_key())).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modulus_bits_ignore_leading_zero() {
        assert_eq!(modulus_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(modulus_bits(&[0x01, 0xff]), 9);
        assert_eq!(modulus_bits(&[0, 0]), 0);
        assert_eq!(modulus_bits(&[]), 0);
    }

    #[test]
    fn only_a_short_rsa_key_is_a_key_weakness() {
        assert!(Weakness::RsaKey { bits: 1024 }.is_key());
        assert!(!Weakness::Version1.is_key());
        assert!(!Weakness::Signature("SHA-1 with RSA").is_key());
    }

    #[test]
    fn version1_message_does_not_call_the_key_weak() {
        let msg = Weakness::Version1.to_string();
        assert!(msg.contains("X.509 v1"), "{msg}");
        assert!(!msg.contains("too weak"), "{msg}");
    }
}
