//! Protocol version 2 (opt-in): the control frames of acknowledged delivery.
//!
//! A v2 client opens with a hello (a frame whose flags are `FLAG_CONTROL`);
//! the data frames after it are numbered by position, so records carry no
//! new field and a v1 server that drops the hello writes them as before.
//! The server answers with a welcome and then one cumulative ack per write
//! round. Control payloads are small JSON objects; see docs/protocol.md.
use serde::{Deserialize, Serialize};

use crate::frame::{HEADER_LEN, encode_frame};

/// Flag bit of a control frame (hello, welcome, ack): never a record.
pub const FLAG_CONTROL: u32 = 0x02;
/// The protocol version a hello asks for.
pub const ACK_PROTOCOL: u64 = 2;
/// Bytes in a session id (sent as 32 lowercase hex digits).
pub const SESSION_LEN: usize = 16;
/// Longest control payload either side accepts: an ack with many
/// rejections stays far below it.
pub const MAX_CONTROL_PAYLOAD: usize = 1 << 20;

/// A client session: random, fixed for the life of one client, so the
/// server can tell resent records from new ones across connections.
pub type SessionId = [u8; SESSION_LEN];

/// Why a control frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// Not the JSON object this frame must carry.
    #[error("invalid control frame: {detail}")]
    Invalid {
        /// What was wrong.
        detail: String,
    },
    /// A hello asking for a version this side does not speak.
    #[error("unsupported acknowledgement protocol {version}")]
    Unsupported {
        /// The version asked for.
        version: u64,
    },
}

impl ControlError {
    /// A stable, short name for counting.
    pub fn reason(&self) -> &'static str {
        match self {
            ControlError::Invalid { .. } => "bad_hello",
            ControlError::Unsupported { .. } => "unsupported_version",
        }
    }
}

/// The client's opening frame: "number my records from `seq`".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    /// The client's session.
    pub session: SessionId,
    /// The sequence number of the first data frame after the hello.
    pub seq: u64,
}

/// What the server sends on a connection that opted in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerControl {
    /// The answer to a hello: records of this session numbered below
    /// `resume` are already written; the server skips them if resent.
    Welcome {
        /// The session the hello named.
        session: SessionId,
        /// The lowest sequence number the server will still write.
        resume: u64,
    },
    /// Every record numbered below `upto` is done: written (handed to the
    /// OS, synced for `fsync = yes`) or rejected, the rejected ones listed
    /// with their reason.
    Ack {
        /// One past the last record done.
        upto: u64,
        /// Records refused in this round, by sequence number.
        rejected: Vec<(u64, String)>,
    },
}

#[derive(Serialize, Deserialize)]
struct HelloWire {
    loghog: u64,
    session: String,
    seq: u64,
}

#[derive(Serialize, Deserialize)]
struct ServerWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    loghog: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resume: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ack: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    rejected: Vec<(u64, String)>,
}

/// Lowercase hex of a session id.
pub fn session_hex(session: &SessionId) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(SESSION_LEN * 2);
    for b in session {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 0xf)] as char);
    }
    s
}

/// Parses 32 hex digits into a session id.
pub fn parse_session(hex: &str) -> Option<SessionId> {
    let bytes = hex.as_bytes();
    if bytes.len() != SESSION_LEN * 2 {
        return None;
    }
    let mut out = [0u8; SESSION_LEN];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hi = char::from(pair[0]).to_digit(16)?;
        let lo = char::from(pair[1]).to_digit(16)?;
        out[i] = ((hi << 4) | lo) as u8;
    }
    Some(out)
}

impl Hello {
    /// Appends the hello frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let json = serde_json::to_vec(&HelloWire {
            loghog: ACK_PROTOCOL,
            session: session_hex(&self.session),
            seq: self.seq,
        })
        .expect("serializing integers and strings cannot fail");
        encode_frame(&json, FLAG_CONTROL, out);
    }

    /// Reads a hello from a control frame's payload.
    pub fn parse(payload: &[u8]) -> Result<Hello, ControlError> {
        let wire: HelloWire =
            serde_json::from_slice(payload).map_err(|e| ControlError::Invalid {
                detail: e.to_string(),
            })?;
        if wire.loghog != ACK_PROTOCOL {
            return Err(ControlError::Unsupported {
                version: wire.loghog,
            });
        }
        let session = parse_session(&wire.session).ok_or_else(|| ControlError::Invalid {
            detail: "session is not 32 hex digits".into(),
        })?;
        Ok(Hello {
            session,
            seq: wire.seq,
        })
    }
}

impl ServerControl {
    /// Appends the control frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let wire = match self {
            ServerControl::Welcome { session, resume } => ServerWire {
                loghog: Some(ACK_PROTOCOL),
                session: Some(session_hex(session)),
                resume: Some(*resume),
                ack: None,
                rejected: Vec::new(),
            },
            ServerControl::Ack { upto, rejected } => ServerWire {
                loghog: None,
                session: None,
                resume: None,
                ack: Some(*upto),
                rejected: rejected.clone(),
            },
        };
        let json = serde_json::to_vec(&wire).expect("serializing cannot fail");
        encode_frame(&json, FLAG_CONTROL, out);
    }

    /// Reads a server control frame's payload.
    pub fn parse(payload: &[u8]) -> Result<ServerControl, ControlError> {
        let wire: ServerWire =
            serde_json::from_slice(payload).map_err(|e| ControlError::Invalid {
                detail: e.to_string(),
            })?;
        match (wire.loghog, wire.session, wire.resume, wire.ack) {
            (Some(ACK_PROTOCOL), Some(session), Some(resume), None) => {
                let session = parse_session(&session).ok_or_else(|| ControlError::Invalid {
                    detail: "session is not 32 hex digits".into(),
                })?;
                Ok(ServerControl::Welcome { session, resume })
            }
            (Some(v), _, _, None) => Err(ControlError::Unsupported { version: v }),
            (None, _, _, Some(upto)) => Ok(ServerControl::Ack {
                upto,
                rejected: wire.rejected,
            }),
            _ => Err(ControlError::Invalid {
                detail: "neither a welcome nor an ack".into(),
            }),
        }
    }
}

/// Splits whole control frames off the front of `buf` (bytes read from a
/// v2 server), returning each payload; what is left is an incomplete frame.
/// An error means the stream is not a v2 server's: drop the connection.
pub fn take_server_frames(buf: &mut Vec<u8>) -> Result<Vec<ServerControl>, ControlError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while buf.len() - pos >= HEADER_LEN {
        let h = &buf[pos..pos + HEADER_LEN];
        let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let flags = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
        if flags != FLAG_CONTROL || len > MAX_CONTROL_PAYLOAD {
            return Err(ControlError::Invalid {
                detail: format!("server frame with flags {flags:#x} and {len} bytes"),
            });
        }
        if buf.len() - pos < HEADER_LEN + len {
            break;
        }
        out.push(ServerControl::parse(
            &buf[pos + HEADER_LEN..pos + HEADER_LEN + len],
        )?);
        pos += HEADER_LEN + len;
    }
    buf.drain(..pos);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_round_trips_with_its_exact_bytes() {
        let hello = Hello {
            session: [0xab; SESSION_LEN],
            seq: 7,
        };
        let mut out = Vec::new();
        hello.encode(&mut out);
        let payload = br#"{"loghog":2,"session":"abababababababababababababababab","seq":7}"#;
        assert_eq!(&out[..4], &(payload.len() as u32).to_be_bytes());
        assert_eq!(&out[4..8], &[0, 0, 0, 2]);
        assert_eq!(&out[8..], payload);
        assert_eq!(Hello::parse(payload), Ok(hello));
    }

    #[test]
    fn bad_hellos_are_refused_by_reason() {
        assert_eq!(
            Hello::parse(br#"{"loghog":3,"session":"00000000000000000000000000000000","seq":0}"#)
                .unwrap_err()
                .reason(),
            "unsupported_version"
        );
        for bad in [
            &b"{}"[..],
            br#"{"loghog":2,"session":"xyz","seq":0}"#,
            br#"{"loghog":2,"session":"00000000000000000000000000000000","seq":-1}"#,
            b"not json",
        ] {
            assert_eq!(Hello::parse(bad).unwrap_err().reason(), "bad_hello");
        }
    }

    #[test]
    fn server_frames_split_across_reads() {
        let mut stream = Vec::new();
        ServerControl::Welcome {
            session: [1; SESSION_LEN],
            resume: 3,
        }
        .encode(&mut stream);
        ServerControl::Ack {
            upto: 10,
            rejected: vec![(4, "unknown_app".into())],
        }
        .encode(&mut stream);
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for &b in &stream {
            buf.push(b);
            got.extend(take_server_frames(&mut buf).unwrap());
        }
        assert!(buf.is_empty());
        assert_eq!(
            got,
            vec![
                ServerControl::Welcome {
                    session: [1; SESSION_LEN],
                    resume: 3
                },
                ServerControl::Ack {
                    upto: 10,
                    rejected: vec![(4, "unknown_app".into())]
                }
            ]
        );
        let mut ack = Vec::new();
        ServerControl::Ack {
            upto: 5,
            rejected: vec![],
        }
        .encode(&mut ack);
        assert_eq!(&ack[8..], br#"{"ack":5}"#);
        let mut junk = b"\0\0\0\x01\0\0\0\x00x".to_vec();
        assert!(take_server_frames(&mut junk).is_err());
    }
}
