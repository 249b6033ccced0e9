//! Uses `tracing`: events become LogHog records with their fields in the
//! body (`INFO - request done status=200 path="/"`).
//!
//! Run: `cargo run -p loghog-client --example tracing_integration`
use std::sync::Arc;
use std::time::Duration;

use loghog_client::{Client, LoghogLayer};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = std::env::var("LOGHOG_PORT").map_or(Ok(5566), |p| p.parse())?;
    let client = Arc::new(Client::builder("my-first-app").port(port).build()?);
    tracing_subscriber::registry()
        .with(LoghogLayer::new(client.clone()).level(tracing::Level::INFO))
        .init();
    tracing::info!(status = 200, path = "/", "request done");
    tracing::error!(target: "tracing_integration::db", error = "timeout", "query failed");
    client.close(Duration::from_secs(5))?;
    Ok(())
}
