//! The `log` and `tracing` integrations: module from the target, body in
//! the documented format, fields included.
mod support;

use std::sync::Arc;
use std::time::Duration;

use loghog_client::{Client, LoghogLayer, LoghogLogger};
use support::TcpReceiver;
use tracing_subscriber::layer::SubscriberExt;

const WAIT: Duration = Duration::from_secs(10);

fn client(port: u16) -> Arc<Client> {
    Arc::new(
        Client::builder("integrations")
            .host("127.0.0.1")
            .port(port)
            .build()
            .unwrap(),
    )
}

// One test for `log`: the global logger can be set once per process.
#[test]
fn log_records_become_loghog_records() {
    let rx = TcpReceiver::start();
    let client = client(rx.port);
    LoghogLogger::new(client.clone())
        .level(log::LevelFilter::Info)
        .init()
        .unwrap();
    log::info!(target: "my_app::web::db", "slow query: {} ms", 1200);
    log::debug!("below the level: not sent");
    log::error!("boom");
    client.flush(WAIT).unwrap();
    let got = rx.records.wait_for(2, WAIT);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].message.module, "my_app.web.db");
    assert_eq!(got[0].message.body, "INFO - slow query: 1200 ms");
    assert_eq!(got[1].message.module, "integrations");
    assert_eq!(got[1].message.body, "ERROR - boom");
}

#[test]
fn custom_log_format() {
    let rx = TcpReceiver::start();
    let client = client(rx.port);
    let logger = LoghogLogger::new(client.clone()).format(|record, out| {
        out.push_str(&format!(
            "[{}] {}",
            record.level().as_str().to_lowercase(),
            record.args()
        ));
    });
    log::Log::log(
        &logger,
        &log::Record::builder()
            .args(format_args!("hello"))
            .level(log::Level::Warn)
            .target("a::b")
            .build(),
    );
    client.flush(WAIT).unwrap();
    let got = rx.records.wait_for(1, WAIT);
    assert_eq!(got[0].message.module, "a.b");
    assert_eq!(got[0].message.body, "[warn] hello");
}

#[test]
fn tracing_events_carry_their_fields() {
    let rx = TcpReceiver::start();
    let client = client(rx.port);
    let subscriber = tracing_subscriber::registry()
        .with(LoghogLayer::new(client.clone()).level(tracing::Level::INFO));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(target: "svc::http", status = 200, path = "/x", "request done");
        tracing::debug!("filtered out");
        tracing::warn!(attempt = 3, "retrying");
    });
    client.flush(WAIT).unwrap();
    let got = rx.records.wait_for(2, WAIT);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].message.module, "svc.http");
    assert_eq!(
        got[0].message.body,
        "INFO - request done status=200 path=\"/x\""
    );
    assert_eq!(got[1].message.body, "WARN - retrying attempt=3");
}
