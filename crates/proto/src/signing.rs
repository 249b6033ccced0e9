//! Message signatures: lowercase hex HMAC-MD5 over
//! `app_id + module + str(stamp) + str(nsecs) + body`.
//!
//! The MAC is fed piece by piece (no concatenated copy) and checked with
//! `verify_slice`, which compares in constant time.
use hmac::{Hmac, Mac};
use md5::Md5;

use crate::error::SignatureError;

type HmacMd5 = Hmac<Md5>;

fn mac(secret: &[u8], app_id: &str, module: &str, stamp: i64, nsecs: i64, body: &str) -> HmacMd5 {
    let mut mac = HmacMd5::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(app_id.as_bytes());
    mac.update(module.as_bytes());
    let mut digits = [0u8; 20];
    mac.update(decimal(stamp, &mut digits));
    mac.update(decimal(nsecs, &mut digits));
    mac.update(body.as_bytes());
    mac
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
    let tag = mac(secret, app_id, module, stamp, nsecs, body)
        .finalize()
        .into_bytes();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(tag.len() * 2);
    for b in tag {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
    }
    out
}

pub(crate) fn verify(
    secret: &[u8],
    app_id: &str,
    module: &str,
    stamp: i64,
    nsecs: i64,
    body: &str,
    signature: &str,
) -> Result<(), SignatureError> {
    let mut tag = [0u8; 16];
    let hex = signature.as_bytes();
    if hex.len() != tag.len() * 2 {
        return Err(SignatureError::Malformed);
    }
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        tag[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    mac(secret, app_id, module, stamp, nsecs, body)
        .verify_slice(&tag)
        .map_err(|_| SignatureError::Mismatch)
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
        assert_eq!(verify(b"k", "a", "m", 1, 2, "b", &sig), Ok(()));
        assert_eq!(
            verify(b"k", "a", "m", 1, 2, "b", &sig.to_uppercase()),
            Ok(())
        );
        assert_eq!(
            verify(b"k", "a", "m", 1, 2, "b", "zz"),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(b"k", "a", "m", 1, 3, "b", &sig),
            Err(SignatureError::Mismatch)
        );
    }
}
