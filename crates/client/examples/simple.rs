//! Sends a few records over TCP to `localhost:5566` (or `LOGHOG_HOST` /
//! `LOGHOG_PORT`) and waits for them to be delivered.
//!
//! Run: `cargo run -p loghog-client --example simple`
use std::time::Duration;

use loghog_client::Client;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let host = std::env::var("LOGHOG_HOST").unwrap_or_else(|_| "localhost".into());
    let port = std::env::var("LOGHOG_PORT").map_or(Ok(5566), |p| p.parse())?;
    let client = Client::builder("my-first-app")
        .host(host)
        .port(port)
        .print_debug(true)
        .build()?;
    for i in 0..10 {
        client.send("examples.simple", &format!("INFO - hello number {i}"));
    }
    client.close(Duration::from_secs(5))?;
    println!("delivered {} records", client.delivered());
    Ok(())
}
