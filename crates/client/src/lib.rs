//! LogHog client library.
