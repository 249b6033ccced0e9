//! Ingest: listeners that read frames from TCP, UDP and TLS peers.
pub mod tls;
