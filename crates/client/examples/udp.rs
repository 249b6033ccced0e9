//! Sends records as UDP datagrams (one frame each) with zlib compression;
//! UDP never tells the sender whether anything arrived.
//!
//! Run: `cargo run -p loghog-client --example udp`
use std::time::Duration;

use loghog_client::Client;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = std::env::var("LOGHOG_PORT").map_or(Ok(5566), |p| p.parse())?;
    let client = Client::builder("my-first-app")
        .port(port)
        .datagram(true)
        .compression(true)
        .build()?;
    client.send("examples.udp", "INFO - a datagram");
    client.close(Duration::from_secs(2))?;
    Ok(())
}
