//! The baseline for `scripts/bench-pipeline.sh`: about the least a log
//! server can do. Accepts TCP connections, splits the stream into frames
//! and appends each payload, as is, plus a newline to one file. No JSON,
//! no routing, no formatting: what is left is sockets, framing and writes.
//!
//! cargo run --release -p loghog-cli --example tcp_sink -- OUTPUT_FILE
//! Prints `listening 127.0.0.1:PORT`, then runs until killed.
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use loghog_proto::{Decode, FrameDecoder};

fn main() -> std::io::Result<()> {
    let path = std::env::args()
        .nth(1)
        .expect("usage: tcp_sink OUTPUT_FILE");
    let file = Arc::new(Mutex::new(
        OpenOptions::new().create(true).append(true).open(path)?,
    ));
    let listener = TcpListener::bind("127.0.0.1:0")?;
    println!("listening {}", listener.local_addr()?);
    std::io::stdout().flush()?;
    for conn in listener.incoming() {
        let mut conn = conn?;
        let file = file.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 256 * 1024];
            let mut have = 0;
            let mut out = Vec::with_capacity(512 * 1024);
            let mut decoder = FrameDecoder::new(1 << 20);
            loop {
                if have == buf.len() {
                    buf.resize(buf.len() * 2, 0);
                }
                let n = match conn.read(&mut buf[have..]) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                have += n;
                let mut pos = 0;
                while let Decode::Frame { frame, consumed } = decoder.decode(&buf[pos..have]) {
                    out.extend_from_slice(frame.payload);
                    out.push(b'\n');
                    pos += consumed;
                }
                buf.copy_within(pos..have, 0);
                have -= pos;
                let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
                if f.write_all(&out).is_err() {
                    return;
                }
                out.clear();
            }
        });
    }
    Ok(())
}
