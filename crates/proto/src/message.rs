//! The message a frame carries: a JSON object with the record and its
//! metadata.
//!
//! Strings borrow from the payload unless JSON escapes force a copy
//! (`Cow`), so decoding a plain ASCII record allocates nothing for its text.
use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::error::{MessageError, SignatureError};
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
    /// Lowercase hex HMAC-MD5, when the client signs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<Cow<'a, str>>,
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
        })
    }

    /// Appends the message as JSON to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        serde_json::to_writer(out, self).expect("serializing strings and integers cannot fail");
    }

    /// Sets `signature` for `secret` (SPEC §1).
    pub fn sign(&mut self, secret: &[u8]) {
        let sig = signing::signature_hex(
            secret,
            &self.app_id,
            &self.module,
            self.stamp,
            self.nsecs,
            &self.body,
        );
        self.signature = Some(Cow::Owned(sig));
    }

    /// Checks the signature against `secret` in constant time.
    pub fn verify(&self, secret: &[u8]) -> Result<(), SignatureError> {
        let sig = self.signature.as_deref().ok_or(SignatureError::Missing)?;
        signing::verify(
            secret,
            &self.app_id,
            &self.module,
            self.stamp,
            self.nsecs,
            &self.body,
            sig,
        )
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
        };
        m.sign(b"s3cret");
        let mut json = Vec::new();
        m.write_json(&mut json);
        let back = Message::parse(&json).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.verify(b"s3cret"), Ok(()));
        assert_eq!(back.verify(b"other"), Err(SignatureError::Mismatch));
    }
}
