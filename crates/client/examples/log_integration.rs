//! Uses the `log` facade: every `info!` etc. becomes a LogHog record whose
//! module is the target (`log_integration.db` for `target: "log_integration::db"`).
//!
//! Run: `cargo run -p loghog-client --example log_integration`
use std::sync::Arc;
use std::time::Duration;

use loghog_client::{Client, LoghogLogger};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = std::env::var("LOGHOG_PORT").map_or(Ok(5566), |p| p.parse())?;
    let client = Arc::new(Client::builder("my-first-app").port(port).build()?);
    LoghogLogger::new(client.clone())
        .level(log::LevelFilter::Info)
        .init()?;
    log::info!("service started");
    log::warn!(target: "log_integration::db", "slow query: {} ms", 1200);
    log::debug!("not sent: below the level");
    // The global logger is never dropped: flush before exiting.
    client.close(Duration::from_secs(5))?;
    Ok(())
}
