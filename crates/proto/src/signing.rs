//! Message signatures: lowercase hex HMAC-MD5 (v1) or HMAC-SHA256 over
//! `app_id + module + str(stamp) + str(nsecs) + body`, and the nonce
//! signature of replay protection over `signature + nonce + str(seq)`.
//!
//! The MAC is fed piece by piece (no concatenated copy) and checked with
//! `verify_slice`, which compares in constant time.
use hmac::{Hmac, Mac};
use md5::Md5;
use sha2::Sha256;

use crate::error::SignatureError;

type HmacMd5 = Hmac<Md5>;
type HmacSha256 = Hmac<Sha256>;

/// Which HMAC a signature is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MacAlg {
    /// HMAC-MD5, 32 hex digits: v1, what every old client sends.
    #[default]
    Md5,
    /// HMAC-SHA256, 64 hex digits; the message says `"mac": "sha256"`.
    Sha256,
}

impl MacAlg {
    /// The `mac` field's value for this algorithm (None: the v1 default).
    pub fn field(self) -> Option<&'static str> {
        match self {
            MacAlg::Md5 => None,
            MacAlg::Sha256 => Some("sha256"),
        }
    }

    /// The algorithm a `mac` field names; None for an unknown name.
    pub fn from_field(field: Option<&str>) -> Option<MacAlg> {
        match field {
            None | Some("md5") => Some(MacAlg::Md5),
            Some("sha256") => Some(MacAlg::Sha256),
            Some(_) => None,
        }
    }
}

/// One HMAC of either kind, fed in pieces.
enum AnyMac {
    Md5(HmacMd5),
    Sha256(HmacSha256),
}

impl AnyMac {
    fn new(alg: MacAlg, secret: &[u8]) -> AnyMac {
        match alg {
            MacAlg::Md5 => {
                AnyMac::Md5(HmacMd5::new_from_slice(secret).expect("HMAC takes keys of any length"))
            }
            MacAlg::Sha256 => AnyMac::Sha256(
                HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length"),
            ),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            AnyMac::Md5(m) => m.update(bytes),
            AnyMac::Sha256(m) => m.update(bytes),
        }
    }

    fn finalize(self) -> Vec<u8> {
        match self {
            AnyMac::Md5(m) => m.finalize().into_bytes().to_vec(),
            AnyMac::Sha256(m) => m.finalize().into_bytes().to_vec(),
        }
    }

    /// Constant-time comparison with `tag`.
    fn verify(self, tag: &[u8]) -> Result<(), SignatureError> {
        match self {
            AnyMac::Md5(m) => m.verify_slice(tag),
            AnyMac::Sha256(m) => m.verify_slice(tag),
        }
        .map_err(|_| SignatureError::Mismatch)
    }

    fn tag_len(&self) -> usize {
        match self {
            AnyMac::Md5(_) => 16,
            AnyMac::Sha256(_) => 32,
        }
    }
}

fn mac(
    alg: MacAlg,
    secret: &[u8],
    app_id: &str,
    module: &str,
    stamp: i64,
    nsecs: i64,
    body: &str,
) -> AnyMac {
    let mut mac = AnyMac::new(alg, secret);
    mac.update(app_id.as_bytes());
    mac.update(module.as_bytes());
    let mut digits = [0u8; 20];
    mac.update(decimal(stamp, &mut digits));
    mac.update(decimal(nsecs, &mut digits));
    mac.update(body.as_bytes());
    mac
}

fn nonce_mac(alg: MacAlg, secret: &[u8], signature: &str, nonce: &str, seq: i64) -> AnyMac {
    let mut mac = AnyMac::new(alg, secret);
    mac.update(signature.as_bytes());
    mac.update(nonce.as_bytes());
    let mut digits = [0u8; 20];
    mac.update(decimal(seq, &mut digits));
    mac
}

fn hex(tag: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(tag.len() * 2);
    for &b in tag {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
    }
    out
}

/// Decodes hex of exactly `len` bytes and checks it against `mac`.
fn check(mac: AnyMac, signature: &str) -> Result<(), SignatureError> {
    let mut tag = [0u8; 32];
    let len = mac.tag_len();
    let hex = signature.as_bytes();
    if hex.len() != len * 2 {
        return Err(SignatureError::Malformed);
    }
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        tag[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    mac.verify(&tag[..len])
}

/// The signature of a record with `alg`, as lowercase hex.
pub fn signature_hex_with(
    alg: MacAlg,
    secret: &[u8],
    app_id: &str,
    module: &str,
    stamp: i64,
    nsecs: i64,
    body: &str,
) -> String {
    hex(&mac(alg, secret, app_id, module, stamp, nsecs, body).finalize())
}

/// The replay-protection signature, binding `nonce` and `seq` to the
/// record whose signature is `signature`, as lowercase hex.
pub fn nonce_signature_hex(
    alg: MacAlg,
    secret: &[u8],
    signature: &str,
    nonce: &str,
    seq: i64,
) -> String {
    hex(&nonce_mac(alg, secret, signature, nonce, seq).finalize())
}

pub(crate) fn verify_nonce(
    alg: MacAlg,
    secret: &[u8],
    signature: &str,
    nonce: &str,
    seq: i64,
    nonce_sig: &str,
) -> Result<(), SignatureError> {
    check(nonce_mac(alg, secret, signature, nonce, seq), nonce_sig)
}

/// Python's `str(int)` into a stack buffer.
fn decimal(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// The signature a client sends: lowercase hex HMAC-MD5.
pub fn signature_hex(
    secret: &[u8],
    app_id: &str,
    module: &str,
    stamp: i64,
    nsecs: i64,
    body: &str,
) -> String {
    signature_hex_with(MacAlg::Md5, secret, app_id, module, stamp, nsecs, body)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn verify(
    alg: MacAlg,
    secret: &[u8],
    app_id: &str,
    module: &str,
    stamp: i64,
    nsecs: i64,
    body: &str,
    signature: &str,
) -> Result<(), SignatureError> {
    check(
        mac(alg, secret, app_id, module, stamp, nsecs, body),
        signature,
    )
}

fn nibble(c: u8) -> Result<u8, SignatureError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(SignatureError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_matches_python_str() {
        let mut buf = [0u8; 20];
        for n in [0i64, 7, 10, 1358363502, -42, i64::MIN, i64::MAX] {
            assert_eq!(decimal(n, &mut buf), n.to_string().as_bytes());
        }
    }

    #[test]
    fn known_vector() {
        // RFC 2104 test case 2: key "Jefe", data "what do ya want for nothing?",
        // fed here as app_id/module/stamp/nsecs/body pieces.
        let sig = signature_hex(b"Jefe", "what do ya want ", "for nothing?", 0, 0, "");
        assert_eq!(sig.len(), 32);
        let whole = {
            let mut m = HmacMd5::new_from_slice(b"Jefe").unwrap();
            m.update(b"what do ya want for nothing?00");
            m.finalize().into_bytes()
        };
        let hex: String = whole.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(sig, hex);
    }

    #[test]
    fn malformed_and_uppercase_signatures() {
        let sig = signature_hex(b"k", "a", "m", 1, 2, "b");
        let md5 = MacAlg::Md5;
        assert_eq!(verify(md5, b"k", "a", "m", 1, 2, "b", &sig), Ok(()));
        assert_eq!(
            verify(md5, b"k", "a", "m", 1, 2, "b", &sig.to_uppercase()),
            Ok(())
        );
        assert_eq!(
            verify(md5, b"k", "a", "m", 1, 2, "b", "zz"),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(md5, b"k", "a", "m", 1, 3, "b", &sig),
            Err(SignatureError::Mismatch)
        );
        // An MD5 signature is not a SHA-256 one, whatever its length.
        assert_eq!(
            verify(MacAlg::Sha256, b"k", "a", "m", 1, 2, "b", &sig),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn sha256_known_vector() {
        // RFC 4231 test case 2: key "Jefe", "what do ya want for nothing?",
        // here with the two decimal zeros of stamp and nsecs appended.
        let whole = {
            let mut m = HmacSha256::new_from_slice(b"Jefe").unwrap();
            m.update(b"what do ya want for nothing?00");
            hex(&m.finalize().into_bytes())
        };
        let sig = signature_hex_with(
            MacAlg::Sha256,
            b"Jefe",
            "what do ya want ",
            "for nothing?",
            0,
            0,
            "",
        );
        assert_eq!(sig, whole);
        assert_eq!(sig.len(), 64);
        assert_eq!(
            verify(
                MacAlg::Sha256,
                b"Jefe",
                "what do ya want ",
                "for nothing?",
                0,
                0,
                "",
                &sig
            ),
            Ok(())
        );
        // RFC 4231 itself, without our suffix, to pin the primitive.
        let mut m = HmacSha256::new_from_slice(b"Jefe").unwrap();
        m.update(b"what do ya want for nothing?");
        assert_eq!(
            hex(&m.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn nonce_signatures_bind_nonce_and_seq() {
        let n = nonce_signature_hex(MacAlg::Sha256, b"k", "abc", "n1", 7);
        assert_eq!(
            verify_nonce(MacAlg::Sha256, b"k", "abc", "n1", 7, &n),
            Ok(())
        );
        assert_eq!(
            verify_nonce(MacAlg::Sha256, b"k", "abc", "n1", 8, &n),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_nonce(MacAlg::Sha256, b"k", "abd", "n1", 7, &n),
            Err(SignatureError::Mismatch)
        );
    }
}
