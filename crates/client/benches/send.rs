//! Throughput of `Client::send` into a real TCP sink on 127.0.0.1: the
//! caller's cost of encoding and queueing ~200-byte records, with the sender
//! thread writing them out concurrently.
use std::io::Read;
use std::net::TcpListener;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use loghog_client::Client;

/// A sink that reads and discards everything, on its own thread.
fn sink() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind sink");
    let port = listener.local_addr().expect("sink address").port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 20];
                while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    port
}

fn send(c: &mut Criterion) {
    let port = sink();
    let body = "x".repeat(200);
    let mut group = c.benchmark_group("send");
    group.throughput(Throughput::Elements(1));
    let client = Client::builder("bench")
        .host("127.0.0.1")
        .port(port)
        .max_buffer_size(1 << 16)
        .build()
        .expect("client");
    group.bench_function("tcp_200b", |b| {
        b.iter(|| client.send("bench.module", &body))
    });
    let signed = Client::builder("bench")
        .host("127.0.0.1")
        .port(port)
        .secret("my-big-secret")
        .max_buffer_size(1 << 16)
        .build()
        .expect("client");
    group.bench_function("tcp_200b_signed", |b| {
        b.iter(|| signed.send("bench.module", &body))
    });
    group.finish();
    let _ = client.close(Duration::from_secs(5));
    eprintln!(
        "dropped (buffer full while the sender wrote): {}",
        client.dropped()
    );
}

criterion_group!(benches, send);
criterion_main!(benches);
