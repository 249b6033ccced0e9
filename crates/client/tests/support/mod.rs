//! A small real frame receiver for tests: TCP (one thread per connection)
//! and UDP on 127.0.0.1, decoding every frame with loghog-proto.
//!
//! It stands in for loghogd until tests run against the daemon itself; a
//! TCP receiver can be stopped (listener and connections closed, as a
//! daemon restart does) and started again on the same port.
#![allow(dead_code)]
use std::io::{ErrorKind, Read};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use loghog_proto::{
    DEFAULT_MAX_PAYLOAD, Decode, FrameDecoder, Message, decode_datagram, open_payload,
};

pub mod tls;

/// One decoded frame.
#[derive(Debug, Clone)]
pub struct Received {
    pub flags: u32,
    pub message: Message<'static>,
}

/// Everything received, shared across restarts.
#[derive(Debug, Clone, Default)]
pub struct Records(Arc<(Mutex<Vec<Received>>, Condvar)>);

impl Records {
    pub fn push(&self, r: Received) {
        self.0.0.lock().unwrap().push(r);
        self.0.1.notify_all();
    }

    pub fn len(&self) -> usize {
        self.0.0.lock().unwrap().len()
    }

    pub fn all(&self) -> Vec<Received> {
        self.0.0.lock().unwrap().clone()
    }

    pub fn bodies(&self) -> Vec<String> {
        self.all()
            .into_iter()
            .map(|r| r.message.body.into_owned())
            .collect()
    }

    /// Waits until `pred` holds for the records, panicking after `timeout`.
    pub fn wait_until(&self, timeout: Duration, what: &str, pred: impl Fn(&[Received]) -> bool) {
        let deadline = Instant::now() + timeout;
        let mut got = self.0.0.lock().unwrap();
        while !pred(&got) {
            let now = Instant::now();
            assert!(
                now < deadline,
                "timed out waiting for {what}: {} records",
                got.len()
            );
            got = self.0.1.wait_timeout(got, deadline - now).unwrap().0;
        }
    }

    /// Waits for at least `n` records.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        self.wait_until(timeout, &format!("{n} records"), |r| r.len() >= n);
        self.all()
    }
}

/// Bodies in order of first appearance (a re-sent batch may repeat some).
pub fn first_appearance(bodies: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    bodies
        .iter()
        .filter(|b| seen.insert((*b).clone()))
        .cloned()
        .collect()
}

/// Reads frames from a stream until EOF, an error or `stop`; the stream
/// must have a short read timeout so `stop` is noticed.
pub fn read_frames(stream: &mut impl Read, records: &Records, stop: &AtomicBool) {
    let mut decoder = FrameDecoder::new(DEFAULT_MAX_PAYLOAD);
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut scratch = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
        loop {
            match decoder.decode(&buf) {
                Decode::Frame { frame, consumed } => {
                    let json = open_payload(&frame, DEFAULT_MAX_PAYLOAD, &mut scratch)
                        .expect("payload opens");
                    let message = Message::parse(json).expect("message parses").into_owned();
                    records.push(Received {
                        flags: frame.flags,
                        message,
                    });
                    buf.drain(..consumed);
                }
                Decode::NeedMore { consumed } => {
                    buf.drain(..consumed);
                    break;
                }
                Decode::Rejected { error, .. } => panic!("frame rejected: {error}"),
            }
        }
    }
}

/// A TCP receiver; connections are served concurrently.
pub struct TcpReceiver {
    pub port: u16,
    pub records: Records,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TcpReceiver {
    pub fn start() -> Self {
        Self::start_on(0, Records::default())
    }

    /// Binds `port` (0: any) and serves into `records`.
    pub fn start_on(port: u16, records: Records) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind receiver");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (stop, records) = (stop.clone(), records.clone());
            std::thread::spawn(move || accept_loop(listener, records, stop))
        };
        TcpReceiver {
            port,
            records,
            stop,
            thread: Some(thread),
        }
    }

    /// Closes the listener and every connection.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("receiver thread");
        }
    }

    /// Stops, then listens again on the same port with the same records.
    pub fn restart(&mut self) {
        self.stop();
        *self = Self::start_on(self.port, self.records.clone());
    }
}

impl Drop for TcpReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn accept_loop(listener: TcpListener, records: Records, stop: Arc<AtomicBool>) {
    let mut conns = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((sock, _)) => {
                let (stop, records) = (stop.clone(), records.clone());
                conns.push(std::thread::spawn(move || serve(sock, &records, &stop)));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
    drop(listener);
    for c in conns {
        c.join().expect("connection thread");
    }
}

fn serve(mut sock: TcpStream, records: &Records, stop: &AtomicBool) {
    sock.set_nonblocking(false).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    read_frames(&mut sock, records, stop);
}

/// A UDP receiver: one frame per datagram.
pub struct UdpReceiver {
    pub port: u16,
    pub records: Records,
    stop: Arc<AtomicBool>,
}

impl UdpReceiver {
    pub fn start() -> Self {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let port = sock.local_addr().unwrap().port();
        let records = Records::default();
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (stop, records) = (stop.clone(), records.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                let mut scratch = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let Ok(n) = sock.recv(&mut buf) else { continue };
                    let frame = decode_datagram(&buf[..n], DEFAULT_MAX_PAYLOAD).expect("datagram");
                    let json = open_payload(&frame, DEFAULT_MAX_PAYLOAD, &mut scratch).unwrap();
                    let message = Message::parse(json).unwrap().into_owned();
                    records.push(Received {
                        flags: frame.flags,
                        message,
                    });
                }
            });
        }
        UdpReceiver {
            port,
            records,
            stop,
        }
    }
}

impl Drop for UdpReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
