//! Payload bytes to JSON bytes: flag checks and bounded zlib inflate.
//!
//! Inflating stops as soon as the output would pass the limit, so a small
//! compressed frame cannot expand into a large allocation (zip bomb).
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::error::PayloadError;
use crate::frame::{FLAG_ZLIB, KNOWN_FLAGS, RawFrame};

/// Returns the JSON bytes a frame carries: the payload itself, or its zlib
/// stream inflated into `scratch` (at most `max_inflated` bytes).
pub fn open_payload<'a>(
    frame: &RawFrame<'a>,
    max_inflated: usize,
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8], PayloadError> {
    if frame.flags & !KNOWN_FLAGS != 0 {
        return Err(PayloadError::UnknownFlags { flags: frame.flags });
    }
    if frame.flags & FLAG_ZLIB == 0 {
        return Ok(frame.payload);
    }
    inflate_bounded(frame.payload, max_inflated, scratch)?;
    Ok(scratch.as_slice())
}

fn inflate_bounded(input: &[u8], max: usize, out: &mut Vec<u8>) -> Result<(), PayloadError> {
    out.clear();
    // Typical log payloads compress 2-5x; start there and grow to the limit.
    out.reserve(input.len().saturating_mul(4).clamp(256, max.max(1)));
    let mut inflater = Decompress::new(true);
    loop {
        if out.len() == out.capacity() {
            // One byte past the limit is enough to tell "too large" apart
            // from "exactly at the limit".
            let grow = out.capacity().max(256).min(max + 1 - out.len());
            out.reserve_exact(grow);
        }
        let consumed = inflater.total_in() as usize;
        let status = inflater
            .decompress_vec(&input[consumed..], out, FlushDecompress::Finish)
            .map_err(|e| PayloadError::CorruptZlib {
                detail: e.to_string(),
            })?;
        if out.len() > max {
            return Err(PayloadError::InflateTooLarge { max });
        }
        match status {
            Status::StreamEnd => return Ok(()),
            Status::Ok | Status::BufError => {
                let no_input_left = inflater.total_in() as usize == input.len();
                if no_input_left && out.len() < out.capacity() {
                    return Err(PayloadError::CorruptZlib {
                        detail: "stream ends before its end marker".into(),
                    });
                }
            }
        }
    }
}

/// Compresses JSON bytes into a zlib stream (default level), as Python's
/// `zlib.compress` does; send it with [`FLAG_ZLIB`].
pub fn compress_payload(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PayloadCompressor::new().compress_into(json, &mut out);
    out
}

/// A reusable zlib compressor for payloads: setting up a deflate state costs
/// more than compressing a typical record, so a sender keeps one and resets
/// it between records.
pub struct PayloadCompressor {
    deflater: Compress,
}

impl Default for PayloadCompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl PayloadCompressor {
    /// A compressor at the default level.
    pub fn new() -> Self {
        PayloadCompressor {
            deflater: Compress::new(Compression::default(), true),
        }
    }

    /// Replaces `out` with the zlib stream of `json`.
    pub fn compress_into(&mut self, json: &[u8], out: &mut Vec<u8>) {
        self.deflater.reset();
        out.clear();
        out.reserve(json.len() / 2 + 64);
        loop {
            let consumed = self.deflater.total_in() as usize;
            let status = self
                .deflater
                .compress_vec(&json[consumed..], out, FlushCompress::Finish)
                .expect("deflate into a growing Vec cannot fail");
            if status == Status::StreamEnd {
                return;
            }
            out.reserve(out.capacity().max(64));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zlib_round_trip() {
        let json = br#"{"body": "hello hello hello hello"}"#;
        let z = compress_payload(json);
        let mut scratch = Vec::new();
        let frame = RawFrame {
            flags: FLAG_ZLIB,
            payload: &z,
        };
        assert_eq!(open_payload(&frame, 1024, &mut scratch).unwrap(), json);
    }

    #[test]
    fn a_reused_compressor_makes_independent_streams() {
        let mut c = PayloadCompressor::new();
        let mut out = Vec::new();
        for json in [
            &b"{\"a\": 1}"[..],
            b"{\"body\": \"second, longer record\"}",
            b"{}",
        ] {
            c.compress_into(json, &mut out);
            assert_eq!(out, compress_payload(json));
            let mut scratch = Vec::new();
            let frame = RawFrame {
                flags: FLAG_ZLIB,
                payload: &out,
            };
            assert_eq!(open_payload(&frame, 1024, &mut scratch).unwrap(), json);
        }
    }

    #[test]
    fn inflate_is_bounded() {
        let bomb = compress_payload(&vec![b'a'; 10 << 20]);
        assert!(bomb.len() < 20_000);
        let mut scratch = Vec::new();
        let frame = RawFrame {
            flags: FLAG_ZLIB,
            payload: &bomb,
        };
        assert_eq!(
            open_payload(&frame, 1 << 20, &mut scratch),
            Err(PayloadError::InflateTooLarge { max: 1 << 20 })
        );
        assert!(scratch.capacity() <= 2 << 20, "{}", scratch.capacity());
    }

    #[test]
    fn exactly_at_limit_is_accepted() {
        let data = vec![b'x'; 5000];
        let z = compress_payload(&data);
        let mut scratch = Vec::new();
        let frame = RawFrame {
            flags: FLAG_ZLIB,
            payload: &z,
        };
        assert_eq!(open_payload(&frame, 5000, &mut scratch).unwrap(), &data[..]);
        let mut scratch = Vec::new();
        assert!(open_payload(&frame, 4999, &mut scratch).is_err());
    }

    #[test]
    fn corrupt_and_truncated_zlib_are_errors() {
        let z = compress_payload(b"{\"a\": 1}");
        let mut scratch = Vec::new();
        let truncated = RawFrame {
            flags: FLAG_ZLIB,
            payload: &z[..z.len() - 3],
        };
        assert!(matches!(
            open_payload(&truncated, 1024, &mut scratch),
            Err(PayloadError::CorruptZlib { .. })
        ));
        let garbage = RawFrame {
            flags: FLAG_ZLIB,
            payload: b"not zlib at all",
        };
        assert!(matches!(
            open_payload(&garbage, 1024, &mut scratch),
            Err(PayloadError::CorruptZlib { .. })
        ));
    }

    #[test]
    fn unknown_flags_are_refused() {
        let mut scratch = Vec::new();
        let frame = RawFrame {
            flags: 0x02,
            payload: b"{}",
        };
        assert_eq!(
            open_payload(&frame, 1024, &mut scratch),
            Err(PayloadError::UnknownFlags { flags: 2 })
        );
    }
}
