//! Mutual TLS against a rustls server in the test, with certificates made
//! by rcgen: the client verifies the chain against the CA but not the host
//! name (the server certificate names another host), and a server signed by
//! another CA is refused.
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use loghog_client::Client;
use support::Records;
use support::first_appearance;
use support::tls::{Pki, tls_server, tls_server_closing_first};

const WAIT: Duration = Duration::from_secs(10);

fn files(dir: &Path, pki: &Pki) -> (PathBuf, PathBuf) {
    let (pem, ca) = (dir.join("client.pem"), dir.join("ca.cert"));
    pki.write_client_pem(&pem);
    pki.write_ca(&ca);
    (pem, ca)
}

#[test]
fn mutual_tls_delivers_and_ignores_the_host_name() {
    let pki = Pki::new("test ca");
    let records = Records::default();
    let port = tls_server(&pki, &pki, records.clone());
    let dir = tempfile::tempdir().unwrap();
    let (pem, ca) = files(dir.path(), &pki);
    let client = Client::builder("tls-app")
        .host("127.0.0.1")
        .port(port)
        .tls(&pem, &ca)
        .build()
        .unwrap();
    for i in 0..100 {
        client.send("tls", &format!("secret record {i}"));
    }
    client.close(WAIT).unwrap();
    let got = records.wait_for(100, WAIT);
    let bodies: Vec<_> = got.iter().map(|r| r.message.body.to_string()).collect();
    assert_eq!(
        bodies,
        (0..100)
            .map(|i| format!("secret record {i}"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_server_from_another_ca_is_refused() {
    let ours = Pki::new("our ca");
    let theirs = Pki::new("their ca");
    let records = Records::default();
    let port = tls_server(&theirs, &ours, records.clone());
    let dir = tempfile::tempdir().unwrap();
    let (pem, ca) = files(dir.path(), &ours);
    let client = Client::builder("tls-app")
        .host("127.0.0.1")
        .port(port)
        .tls(&pem, &ca)
        .build()
        .unwrap();
    client.send("tls", "must not be sent");
    let err = client.close(Duration::from_millis(500)).unwrap_err();
    assert!(err.to_string().contains("TLS handshake"), "{err}");
    assert_eq!(records.len(), 0);
}

#[test]
fn unreadable_tls_files_fail_at_build() {
    let err = Client::builder("tls-app")
        .tls("/nonexistent/client.pem", "/nonexistent/ca.cert")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/"), "{err}");
}

#[test]
fn tls_over_udp_is_refused_at_build() {
    let err = Client::builder("tls-app")
        .datagram(true)
        .tls("client.pem", "ca.cert")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("TLS needs a stream"), "{err}");
}

/// Guards the TLS side of the closed-connection check: a close_notify from
/// the server must be noticed before the next write, so nothing is lost.
#[test]
fn a_tls_server_closing_the_connection_loses_nothing() {
    let pki = Pki::new("test ca");
    let records = Records::default();
    let port = tls_server_closing_first(&pki, &pki, records.clone(), Some(50));
    let dir = tempfile::tempdir().unwrap();
    let (pem, ca) = files(dir.path(), &pki);
    let client = Client::builder("tls-app")
        .host("127.0.0.1")
        .port(port)
        .tls(&pem, &ca)
        .build()
        .unwrap();
    for i in 0..50 {
        client.send("tls", &format!("r{i}"));
    }
    records.wait_for(50, WAIT);
    // Let the server's close reach the client before it writes again.
    std::thread::sleep(Duration::from_millis(200));
    for i in 50..100 {
        client.send("tls", &format!("r{i}"));
    }
    client.flush(WAIT).unwrap();
    let want: Vec<String> = (0..100).map(|i| format!("r{i}")).collect();
    records.wait_until(WAIT, "100 distinct records", |r| {
        let b: Vec<String> = r.iter().map(|r| r.message.body.to_string()).collect();
        first_appearance(&b).len() >= 100
    });
    assert_eq!(first_appearance(&records.bodies()), want);
    client.close(WAIT).unwrap();
}
