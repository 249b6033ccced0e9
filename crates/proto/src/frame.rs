//! Frames: an 8-byte header (payload length, flags; both u32 big-endian)
//! followed by the payload.
//!
//! The stream decoder checks the announced length against the limit before
//! anything is buffered; an oversized frame is skipped as its bytes arrive,
//! so a hostile length costs no memory and the connection carries on.
use crate::error::FrameError;

/// Length of the frame header in bytes.
pub const HEADER_LEN: usize = 8;
/// Flag bit: the payload is a zlib stream (RFC 1950).
pub const FLAG_ZLIB: u32 = 0x01;
/// Every flag bit protocol version 1 defines.
pub const KNOWN_FLAGS: u32 = FLAG_ZLIB;
/// The default limit on a payload's length (and on its inflated length).
pub const DEFAULT_MAX_PAYLOAD: usize = 1 << 20;

/// A frame borrowed from the buffer it was decoded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawFrame<'b> {
    /// The header's flags word, unchecked (see [`crate::open_payload`]).
    pub flags: u32,
    /// The payload as sent.
    pub payload: &'b [u8],
}

/// The outcome of one [`FrameDecoder::decode`] call.
#[derive(Debug, PartialEq, Eq)]
pub enum Decode<'b> {
    /// A whole frame; `consumed` bytes of the buffer belong to it.
    Frame {
        /// The frame.
        frame: RawFrame<'b>,
        /// Bytes to drop from the front of the buffer.
        consumed: usize,
    },
    /// No whole frame yet. `consumed` is non-zero only while an oversized
    /// frame is being skipped: those bytes may be dropped.
    NeedMore {
        /// Bytes to drop from the front of the buffer.
        consumed: usize,
    },
    /// The frame at the front was refused; its header (and whatever of its
    /// payload is in the buffer, `consumed` in all) may be dropped, and the
    /// rest of it is skipped by later calls.
    Rejected {
        /// Why.
        error: FrameError,
        /// Bytes to drop from the front of the buffer.
        consumed: usize,
    },
}

/// Incremental decoder for a stream of frames (TCP, TLS).
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_payload: usize,
    /// Bytes of a refused frame still to be skipped.
    skipping: u64,
}

impl FrameDecoder {
    /// A decoder that refuses payloads longer than `max_payload` bytes.
    pub fn new(max_payload: usize) -> Self {
        FrameDecoder {
            max_payload,
            skipping: 0,
        }
    }

    /// Whether the decoder is in the middle of a frame it is skipping.
    pub fn is_skipping(&self) -> bool {
        self.skipping > 0
    }

    /// Decodes the frame at the front of `buf`, which holds the bytes
    /// received and not yet consumed.
    pub fn decode<'b>(&mut self, buf: &'b [u8]) -> Decode<'b> {
        if self.skipping > 0 {
            let n = usize::try_from(self.skipping).map_or(buf.len(), |s| s.min(buf.len()));
            self.skipping -= n as u64;
            if self.skipping > 0 {
                return Decode::NeedMore { consumed: n };
            }
            return match self.decode(&buf[n..]) {
                Decode::Frame { frame, consumed } => Decode::Frame {
                    frame,
                    consumed: consumed + n,
                },
                Decode::NeedMore { consumed } => Decode::NeedMore {
                    consumed: consumed + n,
                },
                Decode::Rejected { error, consumed } => Decode::Rejected {
                    error,
                    consumed: consumed + n,
                },
            };
        }
        let Some((len, flags)) = read_header(buf) else {
            return Decode::NeedMore { consumed: 0 };
        };
        if len > self.max_payload as u64 {
            let available = (buf.len() - HEADER_LEN) as u64;
            let taken = available.min(len);
            self.skipping = len - taken;
            return Decode::Rejected {
                error: FrameError::TooLarge {
                    len,
                    max: self.max_payload,
                },
                consumed: HEADER_LEN + taken as usize,
            };
        }
        let total = HEADER_LEN + len as usize;
        if buf.len() < total {
            return Decode::NeedMore { consumed: 0 };
        }
        Decode::Frame {
            frame: RawFrame {
                flags,
                payload: &buf[HEADER_LEN..total],
            },
            consumed: total,
        }
    }

    /// How many bytes the buffer must hold before the next call can make
    /// progress: lets a reader size its buffer for the frame in flight.
    pub fn wanted(&self, buf: &[u8]) -> usize {
        if self.skipping > 0 {
            return 1;
        }
        match read_header(buf) {
            Some((len, _)) if len <= self.max_payload as u64 => HEADER_LEN + len as usize,
            _ => HEADER_LEN,
        }
    }
}

fn read_header(buf: &[u8]) -> Option<(u64, u32)> {
    let header: &[u8; HEADER_LEN] = buf.get(..HEADER_LEN)?.try_into().ok()?;
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let flags = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    Some((u64::from(len), flags))
}

/// Decodes a datagram, which must hold exactly one frame.
pub fn decode_datagram(buf: &[u8], max_payload: usize) -> Result<RawFrame<'_>, FrameError> {
    let Some((len, flags)) = read_header(buf) else {
        return Err(FrameError::Truncated {
            declared: 0,
            actual: buf.len(),
        });
    };
    if len > max_payload as u64 {
        return Err(FrameError::TooLarge {
            len,
            max: max_payload,
        });
    }
    let actual = buf.len() - HEADER_LEN;
    let len = len as usize;
    if actual < len {
        return Err(FrameError::Truncated {
            declared: len as u64,
            actual,
        });
    }
    if actual > len {
        return Err(FrameError::TrailingBytes {
            extra: actual - len,
        });
    }
    Ok(RawFrame {
        flags,
        payload: &buf[HEADER_LEN..],
    })
}

/// Appends a frame holding `payload` to `out`.
///
/// # Panics
/// If the payload is longer than `u32::MAX` bytes, which no frame can carry.
pub fn encode_frame(payload: &[u8], flags: u32, out: &mut Vec<u8>) {
    let len = u32::try_from(payload.len()).expect("payload longer than u32::MAX");
    out.reserve(HEADER_LEN + payload.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(payload, 0, &mut out);
        out
    }

    #[test]
    fn decodes_back_to_back_frames_byte_by_byte() {
        let mut stream = frame(b"one");
        stream.extend(frame(b"two"));
        let mut dec = FrameDecoder::new(16);
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for &b in &stream {
            buf.push(b);
            loop {
                match dec.decode(&buf) {
                    Decode::Frame { frame, consumed } => {
                        got.push(frame.payload.to_vec());
                        buf.drain(..consumed);
                    }
                    Decode::NeedMore { consumed } => {
                        buf.drain(..consumed);
                        break;
                    }
                    Decode::Rejected { error, .. } => panic!("unexpected {error}"),
                }
            }
        }
        assert_eq!(got, vec![b"one".to_vec(), b"two".to_vec()]);
        assert!(buf.is_empty());
    }

    #[test]
    fn oversized_frame_is_skipped_without_buffering_and_next_frame_decodes() {
        let mut dec = FrameDecoder::new(4);
        let big = frame(&[7u8; 100]);
        // Only the header and a few payload bytes have arrived.
        match dec.decode(&big[..20]) {
            Decode::Rejected { error, consumed } => {
                assert_eq!(error, FrameError::TooLarge { len: 100, max: 4 });
                assert_eq!(consumed, 20);
            }
            other => panic!("expected rejection, got {other:?}"),
        }
        assert!(dec.is_skipping());
        // The rest of the big frame and a good frame arrive together.
        let mut rest = big[20..].to_vec();
        rest.extend(frame(b"ok"));
        match dec.decode(&rest) {
            Decode::Frame { frame, consumed } => {
                assert_eq!(frame.payload, b"ok");
                assert_eq!(consumed, rest.len());
            }
            other => panic!("expected frame, got {other:?}"),
        }
        assert!(!dec.is_skipping());
    }

    #[test]
    fn limit_is_inclusive() {
        let mut dec = FrameDecoder::new(3);
        let f = frame(b"abc");
        assert!(matches!(dec.decode(&f), Decode::Frame { consumed: 11, .. }));
        assert_eq!(dec.wanted(&f[..8]), 11);
    }

    #[test]
    fn datagrams_must_hold_exactly_one_frame() {
        let f = frame(b"hello");
        assert_eq!(decode_datagram(&f, 100).unwrap().payload, b"hello");
        assert_eq!(
            decode_datagram(&f[..10], 100),
            Err(FrameError::Truncated {
                declared: 5,
                actual: 2
            })
        );
        let mut long = f.clone();
        long.push(0);
        assert_eq!(
            decode_datagram(&long, 100),
            Err(FrameError::TrailingBytes { extra: 1 })
        );
        assert!(matches!(
            decode_datagram(&f, 2),
            Err(FrameError::TooLarge { len: 5, max: 2 })
        ));
        assert!(decode_datagram(&f[..3], 100).is_err());
    }
}
