//! Records reach a real receiver over TCP and UDP, plain, zlib and signed,
//! with every field as given and in order.
mod support;

use std::time::Duration;

use loghog_client::Client;
use loghog_proto::FLAG_ZLIB;
use support::{TcpReceiver, UdpReceiver};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn tcp_records_arrive_in_order_with_their_fields() {
    let rx = TcpReceiver::start();
    let client = Client::builder("my-app")
        .host("127.0.0.1")
        .port(rx.port)
        .hostname("box-1")
        .build()
        .unwrap();
    client.send_at(
        "web.requests",
        "first\nwith a second line é",
        1358363502,
        123,
    );
    for i in 0..500 {
        client.send("root", &format!("record {i}"));
    }
    client.flush(WAIT).unwrap();
    let got = rx.records.wait_for(501, WAIT);
    let first = &got[0].message;
    assert_eq!(first.app_id, "my-app");
    assert_eq!(first.module, "web.requests");
    assert_eq!(first.body, "first\nwith a second line é");
    assert_eq!((first.stamp, first.nsecs), (1358363502, 123));
    assert_eq!(first.hostname.as_deref(), Some("box-1"));
    assert_eq!(first.signature, None);
    assert_eq!(got[0].flags, 0);
    let bodies: Vec<_> = got[1..]
        .iter()
        .map(|r| r.message.body.to_string())
        .collect();
    let expected: Vec<_> = (0..500).map(|i| format!("record {i}")).collect();
    assert_eq!(bodies, expected);
    assert_eq!(client.delivered(), 501);
    assert_eq!(client.dropped(), 0);
    client.close(WAIT).unwrap();
}

#[test]
fn default_hostname_is_the_machines() {
    let rx = TcpReceiver::start();
    let client = Client::builder("a")
        .port(rx.port)
        .host("127.0.0.1")
        .build()
        .unwrap();
    client.send("root", "x");
    client.close(WAIT).unwrap();
    let got = rx.records.wait_for(1, WAIT);
    let expected = nix::unistd::gethostname().unwrap().into_string().unwrap();
    assert_eq!(got[0].message.hostname.as_deref(), Some(expected.as_str()));
}

#[test]
fn zlib_and_signed_frames_decode_and_verify() {
    let rx = TcpReceiver::start();
    let client = Client::builder("my-app")
        .host("127.0.0.1")
        .port(rx.port)
        .compression(true)
        .secret("my-big-secret")
        .build()
        .unwrap();
    for i in 0..50 {
        client.send(
            "signed.zlib",
            &format!("{i} {}", "compressible ".repeat(20)),
        );
    }
    client.close(WAIT).unwrap();
    let got = rx.records.wait_for(50, WAIT);
    for (i, r) in got.iter().enumerate() {
        assert_eq!(r.flags, FLAG_ZLIB);
        assert!(r.message.body.starts_with(&format!("{i} ")));
        assert_eq!(r.message.verify(b"my-big-secret"), Ok(()));
        assert!(r.message.verify(b"another").is_err());
    }
}

#[test]
fn udp_records_arrive_one_per_datagram() {
    let rx = UdpReceiver::start();
    let client = Client::builder("udp-app")
        .host("127.0.0.1")
        .port(rx.port)
        .datagram(true)
        .secret("s")
        .compression(true)
        .build()
        .unwrap();
    for i in 0..20 {
        client.send("udp", &format!("datagram {i}"));
        // Loopback UDP does not drop at this pace; one at a time keeps
        // the receiver's socket buffer from overflowing on a busy machine.
        client.flush(WAIT).unwrap();
    }
    let got = rx.records.wait_for(20, WAIT);
    for (i, r) in got.iter().enumerate() {
        assert_eq!(r.message.body, format!("datagram {i}"));
        assert_eq!(r.flags, FLAG_ZLIB);
        assert_eq!(r.message.verify(b"s"), Ok(()));
    }
    client.close(WAIT).unwrap();
}

#[test]
fn many_threads_share_one_client() {
    let rx = TcpReceiver::start();
    let client = std::sync::Arc::new(
        Client::builder("mt")
            .host("127.0.0.1")
            .port(rx.port)
            .max_buffer_size(100_000)
            .build()
            .unwrap(),
    );
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let client = client.clone();
            std::thread::spawn(move || {
                for i in 0..2000 {
                    client.send(&format!("t{t}"), &format!("{i}"));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    client.flush(WAIT).unwrap();
    let got = rx.records.wait_for(8000, WAIT);
    assert_eq!(got.len(), 8000);
    // Each thread's records keep their order.
    for t in 0..4 {
        let module = format!("t{t}");
        let bodies: Vec<_> = got
            .iter()
            .filter(|r| r.message.module == module)
            .map(|r| r.message.body.parse::<u32>().unwrap())
            .collect();
        assert_eq!(bodies, (0..2000).collect::<Vec<_>>());
    }
}

/// Regression: a record too large for a datagram must be dropped and
/// counted, not retried forever in front of the records behind it.
#[test]
fn an_oversized_datagram_is_dropped_and_the_rest_flow() {
    let rx = UdpReceiver::start();
    let client = Client::builder("udp-app")
        .host("127.0.0.1")
        .port(rx.port)
        .datagram(true)
        .build()
        .unwrap();
    client.send("udp", &"x".repeat(70_000));
    client.send("udp", "small");
    client.flush(WAIT).unwrap();
    let got = rx.records.wait_for(1, WAIT);
    assert_eq!(got[0].message.body, "small");
    assert_eq!(client.dropped(), 1);
    assert_eq!(client.delivered(), 1);
    client.close(WAIT).unwrap();
}
