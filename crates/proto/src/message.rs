//! The message a frame carries: a JSON object with the record and its
//! metadata.
//!
//! Strings borrow from the payload unless JSON escapes force a copy
//! (`Cow`), so decoding a plain ASCII record allocates nothing for its text.
use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::error::{MessageError, SignatureError};
use crate::signing::MacAlg;
use crate::{fastjson, signing};

/// The only protocol version there is.
pub const PROTOCOL_VERSION: i64 = 1;

/// One log record as sent by a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message<'a> {
    /// Protocol version, always 1.
    pub version: i64,
    /// The application: a section of facilities.conf.
    pub app_id: Cow<'a, str>,
    /// The logger name (`web.requests`, `root`, or empty).
    pub module: Cow<'a, str>,
    /// Seconds since the epoch, client clock.
    pub stamp: i64,
    /// Nanoseconds within that second.
    pub nsecs: i64,
    /// The sending host, if the client said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<Cow<'a, str>>,
    /// The formatted record; may contain newlines.
    pub body: Cow<'a, str>,
    /// Lowercase hex HMAC-MD5 (or HMAC-SHA256, see `protection.mac`), when
    /// the client signs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<Cow<'a, str>>,
    /// Fields beyond v1, which v1 readers ignore: the MAC's name and the
    /// replay-protection nonce.
    #[serde(flatten)]
    pub protection: Protection<'a>,
}

/// Optional signing fields beyond v1 (a v1 verifier ignores them and
/// checks `signature` as before, when it is HMAC-MD5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Protection<'a> {
    /// `"sha256"`: `signature` is HMAC-SHA256. Absent (or `"md5"`): HMAC-MD5.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<Cow<'a, str>>,
    /// Replay protection: the client session's random nonce (32 hex digits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<Cow<'a, str>>,
    /// Replay protection: the record's number within the nonce, increasing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce_seq: Option<i64>,
    /// Replay protection: HMAC (same kind as `signature`) over
    /// `signature + nonce + str(nonce_seq)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce_sig: Option<Cow<'a, str>>,
}

/// The replay-protection fields of a message, all present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nonce<'m> {
    /// The nonce as sent.
    pub nonce: &'m str,
    /// The record's number within it.
    pub seq: i64,
}

/// What the JSON may hold: every field optional, so that a missing one is
/// reported by name and unknown ones are ignored.
#[derive(Debug, Default, PartialEq, Deserialize)]
pub(crate) struct Wire<'a> {
    pub(crate) version: Option<i64>,
    #[serde(borrow)]
    pub(crate) app_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) module: Option<Cow<'a, str>>,
    pub(crate) stamp: Option<i64>,
    pub(crate) nsecs: Option<i64>,
    #[serde(borrow)]
    pub(crate) hostname: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) body: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) signature: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) mac: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) nonce: Option<Cow<'a, str>>,
    pub(crate) nonce_seq: Option<i64>,
    #[serde(borrow)]
    pub(crate) nonce_sig: Option<Cow<'a, str>>,
}

impl<'a> Message<'a> {
    /// Parses and validates a message from JSON bytes.
    pub fn parse(json: &'a [u8]) -> Result<Message<'a>, MessageError> {
        let wire = match fastjson::parse(json) {
            Some(wire) => wire,
            None => serde_json::from_slice(json).map_err(|e| MessageError::Invalid {
                detail: e.to_string(),
            })?,
        };
        let version = wire
            .version
            .ok_or(MessageError::MissingField { field: "version" })?;
        if version != PROTOCOL_VERSION {
            return Err(MessageError::UnsupportedVersion { version });
        }
        Ok(Message {
            version,
            app_id: wire
                .app_id
                .ok_or(MessageError::MissingField { field: "app_id" })?,
            module: wire
                .module
                .ok_or(MessageError::MissingField { field: "module" })?,
            stamp: wire
                .stamp
                .ok_or(MessageError::MissingField { field: "stamp" })?,
            nsecs: wire
                .nsecs
                .ok_or(MessageError::MissingField { field: "nsecs" })?,
            hostname: wire.hostname,
            body: wire
                .body
                .ok_or(MessageError::MissingField { field: "body" })?,
            signature: wire.signature,
            protection: Protection {
                mac: wire.mac,
                nonce: wire.nonce,
                nonce_seq: wire.nonce_seq,
                nonce_sig: wire.nonce_sig,
            },
        })
    }

    /// Appends the message as JSON to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        serde_json::to_writer(out, self).expect("serializing strings and integers cannot fail");
    }

    /// Sets `signature` for `secret` (SPEC §1): HMAC-MD5, as v1.
    pub fn sign(&mut self, secret: &[u8]) {
        self.sign_with(secret, MacAlg::Md5);
    }

    /// Sets `signature` for `secret` with `alg`, and `mac` to say which.
    pub fn sign_with(&mut self, secret: &[u8], alg: MacAlg) {
        let sig = signing::signature_hex_with(
            alg,
            secret,
            &self.app_id,
            &self.module,
            self.stamp,
            self.nsecs,
            &self.body,
        );
        self.signature = Some(Cow::Owned(sig));
        self.protection.mac = alg.field().map(Cow::Borrowed);
    }

    /// Adds replay protection to a signed message: `nonce`, `nonce_seq`
    /// and their signature, bound to `signature`. Call after signing.
    pub fn protect(&mut self, secret: &[u8], nonce: &'a str, seq: i64) {
        let alg = self.mac_alg().unwrap_or_default();
        let sig = self.signature.as_deref().unwrap_or("");
        let nonce_sig = signing::nonce_signature_hex(alg, secret, sig, nonce, seq);
        self.protection.nonce = Some(Cow::Borrowed(nonce));
        self.protection.nonce_seq = Some(seq);
        self.protection.nonce_sig = Some(Cow::Owned(nonce_sig));
    }

    /// Which MAC `signature` is, from the `mac` field; None for a name
    /// this version does not know.
    pub fn mac_alg(&self) -> Option<MacAlg> {
        MacAlg::from_field(self.protection.mac.as_deref())
    }

    /// Checks the signature against `secret` in constant time.
    pub fn verify(&self, secret: &[u8]) -> Result<(), SignatureError> {
        let sig = self.signature.as_deref().ok_or(SignatureError::Missing)?;
        let alg = self.mac_alg().ok_or(SignatureError::UnknownMac)?;
        signing::verify(
            alg,
            secret,
            &self.app_id,
            &self.module,
            self.stamp,
            self.nsecs,
            &self.body,
            sig,
        )
    }

    /// The replay-protection fields, checked against `secret` in constant
    /// time: `Ok(None)` when the message carries none, an error when they
    /// are incomplete or their signature does not match. Call after
    /// [`Message::verify`].
    pub fn verify_nonce(&self, secret: &[u8]) -> Result<Option<Nonce<'_>>, SignatureError> {
        let p = &self.protection;
        let (Some(nonce), Some(seq), Some(nonce_sig)) =
            (p.nonce.as_deref(), p.nonce_seq, p.nonce_sig.as_deref())
        else {
            if p.nonce.is_none() && p.nonce_seq.is_none() && p.nonce_sig.is_none() {
                return Ok(None);
            }
            return Err(SignatureError::Malformed);
        };
        let alg = self.mac_alg().ok_or(SignatureError::UnknownMac)?;
        let sig = self.signature.as_deref().ok_or(SignatureError::Missing)?;
        signing::verify_nonce(alg, secret, sig, nonce, seq, nonce_sig)?;
        Ok(Some(Nonce { nonce, seq }))
    }

    /// A copy that owns its strings.
    pub fn into_owned(self) -> Message<'static> {
        Message {
            version: self.version,
            app_id: Cow::Owned(self.app_id.into_owned()),
            module: Cow::Owned(self.module.into_owned()),
            stamp: self.stamp,
            nsecs: self.nsecs,
            hostname: self.hostname.map(|h| Cow::Owned(h.into_owned())),
            body: Cow::Owned(self.body.into_owned()),
            signature: self.signature.map(|s| Cow::Owned(s.into_owned())),
            protection: Protection {
                mac: self.protection.mac.map(|s| Cow::Owned(s.into_owned())),
                nonce: self.protection.nonce.map(|s| Cow::Owned(s.into_owned())),
                nonce_seq: self.protection.nonce_seq,
                nonce_sig: self
                    .protection
                    .nonce_sig
                    .map(|s| Cow::Owned(s.into_owned())),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_are_named() {
        let err = Message::parse(
            br#"{"version": 1, "app_id": "a", "module": "", "stamp": 1, "nsecs": 2}"#,
        )
        .unwrap_err();
        assert_eq!(err, MessageError::MissingField { field: "body" });
    }

    #[test]
    fn wrong_types_and_non_objects_are_invalid() {
        for bad in [
            &br#"{"version": 1, "app_id": "a", "module": "", "stamp": 1.5, "nsecs": 2, "body": "x"}"#[..],
            br#"{"version": 1, "app_id": "a", "module": "", "stamp": "1", "nsecs": 2, "body": "x"}"#,
            br#"{"version": 1, "app_id": 5, "module": "", "stamp": 1, "nsecs": 2, "body": "x"}"#,
            br#"[1, 2]"#,
            b"\xff\xfe",
            b"not json",
        ] {
            assert!(
                matches!(Message::parse(bad), Err(MessageError::Invalid { .. })),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn unknown_fields_are_ignored_and_versions_checked() {
        let m = Message::parse(
            br#"{"version": 1, "app_id": "a", "module": "m", "stamp": 1, "nsecs": 2, "body": "x", "extra": [1]}"#,
        )
        .unwrap();
        assert_eq!(m.body, "x");
        assert_eq!(m.hostname, None);
        assert_eq!(
            Message::parse(br#"{"version": 2, "app_id": "a", "module": "m", "stamp": 1, "nsecs": 2, "body": "x"}"#),
            Err(MessageError::UnsupportedVersion { version: 2 })
        );
    }

    #[test]
    fn python_json_is_read_as_python_reads_it() {
        // A Python 3 app logging undecodable bytes (surrogateescape) sends
        // a lone surrogate; a hand-built dict may repeat a key.
        let m = Message::parse(
            br#"{"version": 1, "app_id": "a", "module": "m", "stamp": 1, "nsecs": 2, "body": "first", "extra": [null, 1.5], "body": "caf\udce9"}"#,
        )
        .unwrap();
        assert_eq!(m.body, "caf\u{fffd}");
        assert_eq!((m.app_id.as_ref(), m.stamp), ("a", 1));
    }

    #[test]
    fn json_round_trip_with_signature() {
        let mut m = Message {
            version: 1,
            app_id: "app".into(),
            module: "web".into(),
            stamp: 10,
            nsecs: 20,
            hostname: Some("h/\"x\"".into()),
            body: "line one\nline two é 😀".into(),
            signature: None,
            protection: Protection::default(),
        };
        m.sign(b"s3cret");
        let mut json = Vec::new();
        m.write_json(&mut json);
        let back = Message::parse(&json).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.verify(b"s3cret"), Ok(()));
        assert_eq!(back.verify(b"other"), Err(SignatureError::Mismatch));
    }

    #[test]
    fn sha256_and_replay_fields_round_trip_and_leave_the_v1_signature_alone() {
        let mut m = Message {
            version: 1,
            app_id: "app".into(),
            module: "web".into(),
            stamp: 10,
            nsecs: 20,
            hostname: None,
            body: "b".into(),
            signature: None,
            protection: Protection::default(),
        };
        // MD5 plus replay protection: the v1 signature is unchanged, so a
        // v1 verifier (which ignores the extra fields) still accepts it.
        m.sign(b"k");
        let v1_sig = m.signature.clone();
        m.protect(b"k", "00112233445566778899aabbccddeeff", 5);
        assert_eq!(m.signature, v1_sig);
        let mut json = Vec::new();
        m.write_json(&mut json);
        let text = String::from_utf8(json.clone()).unwrap();
        assert!(text.contains(r#""nonce_seq":5"#), "{text}");
        assert!(!text.contains("\"mac\""), "{text}");
        let back = Message::parse(&json).unwrap();
        assert_eq!(back.verify(b"k"), Ok(()));
        let n = back.verify_nonce(b"k").unwrap().unwrap();
        assert_eq!((n.nonce, n.seq), ("00112233445566778899aabbccddeeff", 5));
        // A replayed record with another number does not verify.
        let mut forged = back.clone();
        forged.protection.nonce_seq = Some(6);
        assert_eq!(forged.verify_nonce(b"k"), Err(SignatureError::Mismatch));

        let mut s = m.clone();
        s.sign_with(b"k", MacAlg::Sha256);
        s.protect(b"k", "00112233445566778899aabbccddeeff", 5);
        assert_eq!(s.signature.as_deref().map(str::len), Some(64));
        let mut json = Vec::new();
        s.write_json(&mut json);
        let back = Message::parse(&json).unwrap();
        assert_eq!(back.mac_alg(), Some(MacAlg::Sha256));
        assert_eq!(back.verify(b"k"), Ok(()));
        assert!(back.verify_nonce(b"k").unwrap().is_some());
        // Claiming MD5 for a SHA-256 signature fails.
        let mut wrong = back.clone();
        wrong.protection.mac = None;
        assert_eq!(wrong.verify(b"k"), Err(SignatureError::Malformed));
        wrong.protection.mac = Some("sha3".into());
        assert_eq!(wrong.verify(b"k"), Err(SignatureError::UnknownMac));
        // No replay fields at all is Ok(None); some of them is malformed.
        let mut none = back.clone();
        none.protection.nonce = None;
        none.protection.nonce_seq = None;
        none.protection.nonce_sig = None;
        assert_eq!(none.verify_nonce(b"k"), Ok(None));
        none.protection.nonce_seq = Some(1);
        assert_eq!(none.verify_nonce(b"k"), Err(SignatureError::Malformed));
    }
}
