//! Sends over mutual TLS: a client PEM (key + certificate, made with
//! `loghog-client-cert`) and the CA certificate (from `loghog-server-cert`).
//! The server's chain is verified against the CA; its host name is not.
//!
//! Run: `cargo run -p loghog-client --example tls -- client.pem loghog-ca.cert [port]`
use std::time::Duration;

use loghog_client::Client;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [pem, ca, rest @ ..] = args.as_slice() else {
        return Err("usage: tls CLIENT_PEM CA_CERT [PORT]".into());
    };
    let port = rest.first().map_or(Ok(5577), |p| p.parse())?;
    let client = Client::builder("my-first-app")
        .port(port)
        .tls(pem, ca)
        .print_debug(true)
        .build()?;
    client.send("examples.tls", "INFO - over TLS");
    client.close(Duration::from_secs(5))?;
    Ok(())
}
