//! LogHog wire protocol: frames, messages, signing and payload compression
//! (version 1), and the opt-in acknowledgement exchange of version 2 ([`v2`]).
//!
//! Sans-I/O: everything here works on byte slices, so the daemon (tokio) and
//! the clients (blocking std::net) share one definition of the bytes.
mod error;
mod fastjson;
mod frame;
mod message;
mod payload;
mod signing;
pub mod v2;

pub use error::{FrameError, MessageError, PayloadError, SignatureError};
pub use frame::{
    DEFAULT_MAX_PAYLOAD, Decode, FLAG_ZLIB, FrameDecoder, HEADER_LEN, KNOWN_FLAGS, RawFrame,
    decode_datagram, encode_frame,
};
pub use message::{Message, Nonce, PROTOCOL_VERSION, Protection};
pub use payload::{PayloadCompressor, compress_payload, open_payload};
pub use signing::{MacAlg, nonce_signature_hex, signature_hex, signature_hex_with};
