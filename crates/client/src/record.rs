//! Turning one log record into one frame: JSON message, optional HMAC-MD5
//! or HMAC-SHA256 signature (with replay protection when asked), optional
//! zlib.
//!
//! All of it goes through loghog-proto, so the bytes are the ones the daemon
//! decodes. The JSON is written into a caller-provided scratch vector that is
//! reused from record to record (no allocation per record when neither
//! signing nor compression is on).
use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use std::cell::RefCell;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use loghog_proto::{FLAG_ZLIB, MacAlg, Message, PROTOCOL_VERSION, PayloadCompressor, encode_frame};

thread_local! {
    /// Each thread that encodes compressed records keeps one deflate state
    /// and one output buffer, reset per record.
    static DEFLATE: RefCell<(PayloadCompressor, Vec<u8>)> =
        RefCell::new((PayloadCompressor::new(), Vec::new()));
}

/// The per-client constant parts of every message.
#[derive(Debug, Clone)]
pub(crate) struct Encoder {
    pub(crate) app: String,
    pub(crate) hostname: String,
    pub(crate) secret: Option<Vec<u8>>,
    pub(crate) compress: bool,
    /// Which HMAC signs (with a secret).
    pub(crate) mac: MacAlg,
    /// Replay protection (with a secret): this client's nonce and the
    /// number of its next record, shared by every clone of the encoder.
    pub(crate) replay: Option<Arc<ReplayNonce>>,
}

/// A client's replay-protection nonce and record counter.
#[derive(Debug)]
pub(crate) struct ReplayNonce {
    pub(crate) nonce: String,
    pub(crate) next: AtomicI64,
}

impl ReplayNonce {
    /// A random nonce, numbering from 1.
    pub(crate) fn random() -> ReplayNonce {
        ReplayNonce {
            nonce: format!("{:032x}", random_id()),
            next: AtomicI64::new(1),
        }
    }
}

impl Encoder {
    /// Writes the record's payload into `json` (cleared first) and returns
    /// the frame flags for it.
    pub(crate) fn payload(
        &self,
        module: &str,
        body: &str,
        stamp: i64,
        nsecs: i64,
        json: &mut Vec<u8>,
    ) -> u32 {
        json.clear();
        let mut message = Message {
            version: PROTOCOL_VERSION,
            app_id: Cow::Borrowed(&self.app),
            module: Cow::Borrowed(module),
            stamp,
            nsecs,
            hostname: Some(Cow::Borrowed(&self.hostname)),
            body: Cow::Borrowed(body),
            signature: None,
            protection: Default::default(),
        };
        if let Some(secret) = &self.secret {
            message.sign_with(secret, self.mac);
            if let Some(r) = &self.replay {
                let seq = r.next.fetch_add(1, Ordering::Relaxed);
                message.protect(secret, &r.nonce, seq);
            }
        }
        message.write_json(json);
        if self.compress {
            DEFLATE.with_borrow_mut(|(deflater, z)| {
                deflater.compress_into(json, z);
                std::mem::swap(json, z);
            });
            FLAG_ZLIB
        } else {
            0
        }
    }
}

/// Builds whole frames exactly as a [`crate::Client`] with the same options
/// would queue them; for tools that write prebuilt frames themselves (such
/// as `loghog bench`). Made by [`crate::ClientBuilder::frame_encoder`].
#[derive(Debug, Clone)]
pub struct FrameEncoder {
    pub(crate) encoder: Encoder,
    pub(crate) scratch: Vec<u8>,
}

impl FrameEncoder {
    /// Appends one frame for the record to `out`.
    pub fn encode(&mut self, module: &str, body: &str, stamp: i64, nsecs: i64, out: &mut Vec<u8>) {
        let flags = self
            .encoder
            .payload(module, body, stamp, nsecs, &mut self.scratch);
        encode_frame(&self.scratch, flags, out);
    }

    /// Appends one frame for the record, stamped now, to `out`.
    pub fn encode_now(&mut self, module: &str, body: &str, out: &mut Vec<u8>) {
        let (stamp, nsecs) = now_stamp();
        self.encode(module, body, stamp, nsecs, out);
    }
}

/// 128 random bits for a session id or a nonce, fresh in every process:
/// from the kernel, so that pre-fork workers (which inherit their parent's
/// user-space random state) never share one. Should /dev/urandom be
/// unreadable, the generator is mixed with the process id and the clock.
pub(crate) fn random_id() -> u128 {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok()
    {
        return u128::from_le_bytes(bytes);
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    fastrand::u128(..) ^ nanos ^ (u128::from(std::process::id()) << 96)
}

/// The current time as the wire wants it: seconds and nanoseconds.
pub(crate) fn now_stamp() -> (i64, i64) {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            i64::from(d.subsec_nanos()),
        ),
        // A clock before 1970: send the negative offset, as Python would.
        Err(e) => {
            let d = e.duration();
            (-i64::try_from(d.as_secs()).unwrap_or(i64::MAX), 0)
        }
    }
}

/// The machine's host name, or "localhost" if it cannot be read.
pub(crate) fn machine_hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use loghog_proto::{DEFAULT_MAX_PAYLOAD, FrameDecoder, open_payload};

    #[test]
    fn frames_decode_and_verify_with_proto() {
        let enc = Encoder {
            app: "app".into(),
            hostname: "box".into(),
            secret: Some(b"k".to_vec()),
            compress: true,
            mac: MacAlg::Md5,
            replay: None,
        };
        let mut out = Vec::new();
        let mut enc = FrameEncoder {
            encoder: enc,
            scratch: Vec::new(),
        };
        enc.encode("web.x", "hé\nllo", 12, 34, &mut out);
        let mut dec = FrameDecoder::new(DEFAULT_MAX_PAYLOAD);
        let loghog_proto::Decode::Frame { frame, consumed } = dec.decode(&out) else {
            panic!("no frame");
        };
        assert_eq!(consumed, out.len());
        assert_eq!(frame.flags, FLAG_ZLIB);
        let mut inflated = Vec::new();
        let json = open_payload(&frame, DEFAULT_MAX_PAYLOAD, &mut inflated).unwrap();
        let m = Message::parse(json).unwrap();
        assert_eq!((m.app_id.as_ref(), m.module.as_ref()), ("app", "web.x"));
        assert_eq!((m.stamp, m.nsecs, m.body.as_ref()), (12, 34, "hé\nllo"));
        assert_eq!(m.hostname.as_deref(), Some("box"));
        assert_eq!(m.verify(b"k"), Ok(()));
    }

    #[test]
    fn stamp_is_now() {
        let (s, ns) = now_stamp();
        assert!(s > 1_700_000_000);
        assert!((0..1_000_000_000).contains(&ns));
    }
}
