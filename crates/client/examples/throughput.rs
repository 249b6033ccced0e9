//! Measures one process sending through the library into a TCP sink on
//! 127.0.0.1 (a thread that reads and discards): records/s enqueued and
//! delivered, and how many a full buffer dropped.
//!
//! Run: `cargo run -p loghog-client --example throughput -- [RECORDS] [BODY_BYTES]`
use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use loghog_client::Client;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let records: u64 = args.next().map_or(Ok(2_000_000), |a| a.parse())?;
    let size: usize = args.next().map_or(Ok(200), |a| a.parse())?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let sink = std::thread::spawn(move || -> std::io::Result<u64> {
        let (mut conn, _) = listener.accept()?;
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            match conn.read(&mut buf)? {
                0 => return Ok(total),
                n => total += n as u64,
            }
        }
    });
    let client = Client::builder("throughput")
        .host("127.0.0.1")
        .port(port)
        .max_buffer_size(64 * 1024)
        .build()?;
    let body = "x".repeat(size);
    let start = Instant::now();
    for _ in 0..records {
        client.send("bench.module", &body);
    }
    let enqueued = start.elapsed().as_secs_f64();
    client.close(Duration::from_secs(60))?;
    let delivered = start.elapsed().as_secs_f64();
    let bytes = sink.join().map_err(|_| "sink panicked")??;
    println!("records: {records}, body bytes: {size}");
    println!("enqueue: {:.0} records/s", records as f64 / enqueued);
    println!(
        "delivered: {} records, {:.0} records/s, {:.1} MB/s",
        client.delivered(),
        client.delivered() as f64 / delivered,
        bytes as f64 / 1e6 / delivered
    );
    println!("dropped (buffer full): {}", client.dropped());
    Ok(())
}
