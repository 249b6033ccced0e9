//! Regression: rustls logs through `log` on the sender thread; with a
//! `LoghogLogger` at trace level those records must not be sent, or every
//! write would log and cause another write.
mod support;

use std::sync::Arc;
use std::time::Duration;

use loghog_client::{Client, LoghogLogger};
use support::Records;
use support::tls::{Pki, tls_server};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn records_logged_on_the_sender_thread_are_not_sent() {
    let pki = Pki::new("feedback ca");
    let records = Records::default();
    let port = tls_server(&pki, &pki, records.clone());
    let dir = tempfile::tempdir().unwrap();
    let (pem, ca) = (dir.path().join("client.pem"), dir.path().join("ca.cert"));
    pki.write_client_pem(&pem);
    pki.write_ca(&ca);
    let client = Arc::new(
        Client::builder("feedback")
            .host("127.0.0.1")
            .port(port)
            .tls(&pem, &ca)
            .build()
            .unwrap(),
    );
    LoghogLogger::new(client.clone()).init().unwrap();
    log::info!("one");
    log::info!("two");
    client.flush(WAIT).unwrap();
    records.wait_for(2, WAIT);
    std::thread::sleep(Duration::from_millis(300));
    client.flush(WAIT).unwrap();
    let got = records.all();
    // The test's own TLS server logs on its threads (rustls.server.*):
    // those are ordinary records. The client side of rustls runs on the
    // sender thread: none of its records may appear.
    let client_side: Vec<_> = got
        .iter()
        .filter(|r| r.message.module.starts_with("rustls.client"))
        .map(|r| r.message.body.to_string())
        .collect();
    assert!(client_side.is_empty(), "{client_side:?}");
    let ours: Vec<_> = got
        .iter()
        .filter(|r| r.message.module == "log_feedback")
        .map(|r| r.message.body.to_string())
        .collect();
    assert_eq!(ours, ["INFO - one", "INFO - two"]);
}
