//! Errors of the client library: building a client (bad TLS files) and
//! delivering what is queued within a bound.
//!
//! Connection failures are not errors a caller sees: the sender retries them
//! in the background and remembers the last one for `flush`/`close` reports.
use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

/// Why a client could not be built or could not deliver in time.
#[derive(Debug, Error)]
pub enum ClientError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("cannot load {what} from {path}: {detail}")]
    Pem {
        /// What was expected in the file ("client certificate", "CA certificate", ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// rustls refused the TLS configuration.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The CA certificate cannot be used to verify servers.
    #[error("CA certificate: {0}")]
    Verifier(#[from] rustls::client::VerifierBuilderError),
    /// Options that do not go together.
    #[error("invalid client options: {0}")]
    Options(&'static str),
    /// The background sender thread could not be started.
    #[error("cannot start the sender thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// Records were still queued when the time bound ran out.
    #[error("{pending} records not delivered within {timeout:?}{}", last_error.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default())]
    Timeout {
        /// Records still waiting (queued or being written).
        pending: u64,
        /// The bound that ran out.
        timeout: Duration,
        /// The last connection or write error the sender saw, if any.
        last_error: Option<String>,
    },
    /// Bytes given as frames are not whole frames back to back.
    #[error("not whole LogHog frames: {0}")]
    Frames(String),
    /// The client was already closed.
    #[error("the client is closed")]
    Closed,
}
