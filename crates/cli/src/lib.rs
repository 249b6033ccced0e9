//! Code shared by the loghog command-line binaries.
pub mod certs;
