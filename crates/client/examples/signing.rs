//! Signs every record with HMAC-MD5: the facility in the server's
//! facilities.conf must have the same `secret`.
//!
//! Run: `cargo run -p loghog-client --example signing`
use std::time::Duration;

use loghog_client::Client;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = std::env::var("LOGHOG_PORT").map_or(Ok(5566), |p| p.parse())?;
    let client = Client::builder("my-first-app")
        .port(port)
        .secret("my-big-secret")
        .hostname("example-host")
        .build()?;
    client.send("examples.signing", "WARNING - signed and sealed");
    client.close(Duration::from_secs(5))?;
    Ok(())
}
