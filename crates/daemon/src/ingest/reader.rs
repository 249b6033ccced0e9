//! One stream connection's reading, shared by the LogHog frame loop
//! (`stream.rs`) and the syslog TCP loop (`syslog/tcp.rs`): the buffer that
//! grows with the load and shrinks when idle, the memory budget, eviction,
//! and the shutdown drain with its deadline.
//!
//! The design choice: a read returns only bytes, end of stream or "stop";
//! everything that is the connection's business rather than the protocol's
//! (stops, drains, cuts, idle shrinking) is decided here, once.
use std::future::Future;
use std::io;
use std::time::Duration;

use tokio::io::AsyncRead;

use super::framebuf::{self, FrameBuf};
use super::limits::Connection;

/// A connection's read buffer starts this large...
const INITIAL_BUFFER: usize = 1024;
/// ...and doubles, while reads fill it, up to this (a frame larger than
/// this gets a buffer of its own size, up to `max_message_size`).
pub const MAX_BUFFER: usize = framebuf::LARGE;
/// A connection quiet this long gives its buffer back.
const IDLE_SHRINK: Duration = Duration::from_secs(30);
/// On shutdown a connection reads what has already arrived: it stops once
/// the socket has been quiet this long, or at `shutdown_timeout`.
const DRAIN_QUIET: Duration = Duration::from_millis(100);

/// What one [`ConnReader::read`] came to.
#[derive(Debug)]
pub enum Read {
    /// This many new bytes are at the end of the buffer.
    Bytes(usize),
    /// The client closed its side; the buffer holds what it left.
    Eof,
    /// The read failed, or no buffer could be had for it (logged by the
    /// caller).
    Failed(io::Error),
    /// The connection was told to stop (evicted, over the budget, the
    /// shutdown drain over, or `stop` resolved): close it.
    Stop,
}

/// The read side of one connection.
#[derive(Debug)]
pub struct ConnReader {
    /// Bytes read and not yet decoded.
    pub buf: FrameBuf,
    target: usize,
    drain_until: Option<tokio::time::Instant>,
}

impl Default for ConnReader {
    fn default() -> Self {
        ConnReader {
            buf: FrameBuf::new(),
            target: INITIAL_BUFFER,
            drain_until: None,
        }
    }
}

impl ConnReader {
    /// A reader holding no memory yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads once more from `stream`, after making room for `wanted(buf)`
    /// bytes in all (what the decoder needs next; at least the growing read
    /// size). `stop` ends the read early with [`Read::Stop`] (a v2 session
    /// taken over; `std::future::pending()` when nothing else can stop it).
    pub async fn read<S: AsyncRead + Unpin>(
        &mut self,
        stream: &mut S,
        conn: &Connection,
        wanted: impl Fn(&FrameBuf) -> usize,
        stop: impl Future<Output = ()>,
    ) -> Read {
        tokio::pin!(stop);
        loop {
            let wanted = wanted(&self.buf).max(self.target);
            if let Err(e) = self.buf.reserve_total(wanted) {
                return Read::Failed(e);
            }
            let spare = self.buf.capacity() - self.buf.len();
            conn.memory_room().await;
            let result = match self.drain_until {
                None => tokio::select! {
                    biased;
                    () = &mut stop => return Read::Stop,
                    () = conn.stopped() => match conn.drain_deadline() {
                        Some(limit) => {
                            self.drain_until = Some(limit);
                            continue;
                        }
                        None => return Read::Stop,
                    },
                    r = tokio::time::timeout(IDLE_SHRINK, self.buf.read_from(stream)) => match r {
                        Ok(r) => r,
                        Err(_) => {
                            if self.buf.is_empty() {
                                self.buf.release();
                                self.target = INITIAL_BUFFER;
                            }
                            continue;
                        }
                    },
                },
                Some(limit) => {
                    let now = tokio::time::Instant::now();
                    // Checked before reading: a timeout only fires on a
                    // read that waits, and a client that keeps sending
                    // never makes one wait.
                    let read = if now < limit {
                        tokio::time::timeout_at(
                            (now + DRAIN_QUIET).min(limit),
                            self.buf.read_from(stream),
                        )
                        .await
                        .ok()
                    } else {
                        None
                    };
                    match read {
                        Some(r) => r,
                        None => {
                            conn.cut(stream, self.buf.len()).await;
                            return Read::Stop;
                        }
                    }
                }
            };
            return match result {
                Ok(0) => Read::Eof,
                Ok(n) => {
                    if n == spare && self.target < MAX_BUFFER {
                        self.target *= 2;
                    }
                    Read::Bytes(n)
                }
                Err(e) => Read::Failed(e),
            };
        }
    }

    /// After decoding: drops the first `consumed` bytes and records what the
    /// connection now holds against the budget.
    pub fn consumed(&mut self, consumed: usize, conn: &Connection) {
        self.buf.consume(consumed);
        conn.settle(&mut self.buf, MAX_BUFFER);
    }
}
