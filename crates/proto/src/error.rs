//! Errors of the protocol layer, one enum per stage of decoding.
//!
//! Each error has a stable `reason()` string so the daemon can count and
//! rate-limit bad input by kind without parsing messages.
use thiserror::Error;

/// A frame header that cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// The header announces a payload longer than the configured limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Announced payload length.
        len: u64,
        /// The configured limit.
        max: usize,
    },
    /// A datagram holds fewer bytes than its header announces.
    #[error("datagram holds {actual} payload bytes but its header says {declared}")]
    Truncated {
        /// Announced payload length.
        declared: u64,
        /// Payload bytes actually present.
        actual: usize,
    },
    /// A datagram holds bytes after the frame its header announces.
    #[error("datagram has {extra} bytes after its frame")]
    TrailingBytes {
        /// How many bytes follow the frame.
        extra: usize,
    },
}

impl FrameError {
    /// A stable, short name for counting.
    pub fn reason(&self) -> &'static str {
        match self {
            FrameError::TooLarge { .. } => "frame_too_large",
            FrameError::Truncated { .. } => "truncated_datagram",
            FrameError::TrailingBytes { .. } => "trailing_bytes",
        }
    }
}

/// A payload that cannot be turned into JSON bytes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PayloadError {
    /// Flag bits this version of the protocol does not define.
    #[error("unknown flag bits {flags:#x}")]
    UnknownFlags {
        /// The whole flags word.
        flags: u32,
    },
    /// The zlib stream is corrupt or ends early.
    #[error("corrupt zlib payload: {detail}")]
    CorruptZlib {
        /// What the inflater said.
        detail: String,
    },
    /// The zlib stream inflates beyond the limit.
    #[error("zlib payload inflates beyond {max} bytes")]
    InflateTooLarge {
        /// The limit.
        max: usize,
    },
}

impl PayloadError {
    /// A stable, short name for counting.
    pub fn reason(&self) -> &'static str {
        match self {
            PayloadError::UnknownFlags { .. } => "unknown_flags",
            PayloadError::CorruptZlib { .. } => "corrupt_zlib",
            PayloadError::InflateTooLarge { .. } => "inflate_too_large",
        }
    }
}

/// A payload that is not a valid version 1 message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MessageError {
    /// Not UTF-8, not JSON, not an object, or a field of the wrong type.
    #[error("invalid message: {detail}")]
    Invalid {
        /// What the JSON parser said.
        detail: String,
    },
    /// A required field is absent.
    #[error("required field `{field}` is missing")]
    MissingField {
        /// The field's name.
        field: &'static str,
    },
    /// A version other than 1.
    #[error("unsupported protocol version {version}")]
    UnsupportedVersion {
        /// The version the message claims.
        version: i64,
    },
}

impl MessageError {
    /// A stable, short name for counting.
    pub fn reason(&self) -> &'static str {
        match self {
            MessageError::Invalid { .. } => "invalid_message",
            MessageError::MissingField { .. } => "missing_field",
            MessageError::UnsupportedVersion { .. } => "unsupported_version",
        }
    }
}

/// Why a message's signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SignatureError {
    /// The facility requires a signature and the message has none.
    #[error("signature missing")]
    Missing,
    /// The signature is not a 32-digit hex string.
    #[error("signature is not 32 (HMAC-MD5) or 64 (HMAC-SHA256) hex digits")]
    Malformed,
    /// The signature does not match the message and secret.
    #[error("signature does not match")]
    Mismatch,
    /// The `mac` field names an algorithm this version does not know.
    #[error("unknown MAC in the mac field")]
    UnknownMac,
}

impl SignatureError {
    /// A stable, short name for counting.
    pub fn reason(&self) -> &'static str {
        match self {
            SignatureError::Missing => "missing_signature",
            SignatureError::Malformed | SignatureError::Mismatch | SignatureError::UnknownMac => {
                "bad_signature"
            }
        }
    }
}
