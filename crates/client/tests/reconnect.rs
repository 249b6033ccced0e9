//! Server restarts, servers that are not there, and a full buffer: nothing
//! queued is lost across a reconnect, the oldest records are dropped and
//! counted when the buffer is full, and nothing ever blocks the caller.
mod support;

use std::time::{Duration, Instant};

use loghog_client::{Client, ClientError};
use support::{Records, TcpReceiver, first_appearance, free_port};

const WAIT: Duration = Duration::from_secs(15);

fn bodies(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|i| format!("record {i}")).collect()
}

/// Guards against records being written into a connection the server has
/// already closed (they would vanish): the sender must see the close first.
#[test]
fn receiver_restart_mid_stream_loses_nothing() {
    let mut rx = TcpReceiver::start();
    let client = Client::builder("restart")
        .host("127.0.0.1")
        .port(rx.port)
        .max_buffer_size(10_000)
        .build()
        .unwrap();
    for b in bodies(0..1000) {
        client.send("root", &b);
    }
    rx.records.wait_for(1000, WAIT);
    // A graceful restart: listener and connection closed.
    rx.stop();
    for b in bodies(1000..2000) {
        client.send("root", &b);
    }
    std::thread::sleep(Duration::from_millis(200));
    rx.restart();
    for b in bodies(2000..3000) {
        client.send("root", &b);
    }
    client.flush(WAIT).unwrap();
    let want = bodies(0..3000);
    rx.records.wait_until(WAIT, "3000 distinct records", |r| {
        let b: Vec<String> = r.iter().map(|r| r.message.body.to_string()).collect();
        first_appearance(&b).len() >= 3000
    });
    assert_eq!(first_appearance(&rx.records.bodies()), want);
    assert_eq!(client.dropped(), 0);
    client.close(WAIT).unwrap();
}

#[test]
fn full_buffer_drops_the_oldest_and_counts_them() {
    let port = free_port();
    let client = Client::builder("overflow")
        .host("127.0.0.1")
        .port(port)
        .max_buffer_size(10)
        .build()
        .unwrap();
    for b in bodies(0..25) {
        client.send("root", &b);
    }
    assert_eq!(client.dropped(), 15);
    assert_eq!(client.pending(), 10);
    // The server comes up: the ten newest records arrive, in order.
    let rx = TcpReceiver::start_on(port, Records::default());
    client.flush(WAIT).unwrap();
    rx.records.wait_for(10, WAIT);
    assert_eq!(rx.records.bodies(), bodies(15..25));
    client.close(WAIT).unwrap();
    assert_eq!(client.dropped(), 15);
}

#[test]
fn without_a_server_send_returns_at_once_and_close_is_bounded() {
    let client = Client::builder("nobody")
        .host("127.0.0.1")
        .port(free_port())
        .build()
        .unwrap();
    let started = Instant::now();
    for b in bodies(0..1000) {
        client.send("root", &b);
    }
    // Enqueueing only: far below one connect attempt's back-off (1 s).
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert!(client.flush(Duration::from_millis(100)).is_err());
    let started = Instant::now();
    let err = client.close(Duration::from_millis(300)).unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(800), "close took {took:?}");
    match err {
        ClientError::Timeout {
            pending,
            last_error,
            ..
        } => {
            assert_eq!(pending, 1000);
            let last = last_error.expect("the connect error is remembered");
            assert!(last.contains("connect"), "{last}");
        }
        other => panic!("unexpected {other}"),
    }
    // Records given after close are dropped and counted.
    client.send("root", "late");
    assert!(client.dropped() >= 1);
}

/// A sender stuck in a write (a server that accepts and never reads) must
/// not hold up close.
#[test]
fn close_does_not_wait_for_a_stuck_write() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = Client::builder("stuck")
        .host("127.0.0.1")
        .port(port)
        .max_buffer_size(100_000)
        .write_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let big = "x".repeat(64 * 1024);
    for _ in 0..500 {
        client.send("root", &big);
    }
    // Held open, never read: the sender fills the socket buffers and
    // blocks in write.
    let (_held, _) = listener.accept().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    assert!(client.close(Duration::from_millis(300)).is_err());
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
}
