//! LogHog wire protocol.
