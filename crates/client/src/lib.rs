//! LogHog client library: send log records to `loghogd` without ever
//! waiting on the network.
//!
//! A [`Client`] encodes each record into a frame (loghog-proto) and queues
//! it; one background thread per client delivers the queue in large writes,
//! reconnecting with back-off. `log` and `tracing` integrations sit on top
//! ([`LoghogLogger`], [`LoghogLayer`]).
//!
//! ```no_run
//! let client = loghog_client::Client::builder("my-app").build()?;
//! client.send("web.requests", "GET / 200");
//! client.close(std::time::Duration::from_secs(5))?;
//! # Ok::<(), loghog_client::ClientError>(())
//! ```
mod acked;
mod client;
mod error;
#[cfg(feature = "tracing")]
mod layer;
#[cfg(feature = "log")]
mod logger;
mod queue;
mod record;
mod sender;
mod tls;
mod transport;

pub use client::{
    Client, ClientBuilder, DEFAULT_ACK_TIMEOUT, DEFAULT_MAX_BUFFER_SIZE, DEFAULT_PORT,
};
pub use error::ClientError;
#[cfg(feature = "tracing")]
pub use layer::LoghogLayer;
#[cfg(feature = "log")]
pub use logger::LoghogLogger;
pub use loghog_proto::MacAlg;
pub use record::FrameEncoder;
pub use tls::tls_config;
pub use transport::{Connection, Endpoint, Transport};

/// The logger name as LogHog modules spell it: Rust paths (`a::b`) become
/// dotted (`a.b`), like Python logger names.
pub fn module_from_target(target: &str) -> std::borrow::Cow<'_, str> {
    if target.contains("::") {
        std::borrow::Cow::Owned(target.replace("::", "."))
    } else {
        std::borrow::Cow::Borrowed(target)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn targets_become_dotted_modules() {
        assert_eq!(
            super::module_from_target("my_app::web::db"),
            "my_app.web.db"
        );
        assert_eq!(super::module_from_target("root"), "root");
    }
}
