//! loghogd as a library: configuration, ingest, routing and storage.
//!
//! Data flows one way: `ingest` decodes frames from sockets, `router`
//! verifies and resolves each message to a facility file, `storage` owns the
//! files. [`run`] wires them together and implements shutdown and reload.
pub mod cluster;
pub mod config;
pub mod daemonize;
pub mod ingest;
pub mod lifecycle;
pub mod logging;
pub mod metrics;
pub mod pidfile;
pub mod preflight;
pub mod ratelimit;
pub mod replay;
pub mod router;
pub mod server;
pub mod storage;
pub mod syslog;

pub use server::{RunContext, RunError, run};
