//! The background sender: one thread per client that owns the connection.
//!
//! It takes everything queued at once and writes it in one call. A record
//! leaves the queue only after it was written whole; when a write fails the
//! whole batch goes back to the front of the queue and is re-sent on the
//! next connection, so a record may arrive twice (the kernel may have
//! accepted part of the batch) but is not lost by the client. Datagrams
//! stand alone: those sent before an error are done, and one too large for
//! UDP is dropped and counted. Reconnects back off exponentially from 1 s
//! to 30 s.
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::queue::{FrameQueue, Shared, State};
use crate::transport::{Connection, Endpoint};

/// First back-off after a failed connect.
pub(crate) const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// How long a sender woken by a record waits for more before writing.
pub(crate) const LINGER: Duration = Duration::from_micros(500);
/// Longest back-off.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(30);

thread_local! {
    static ON_SENDER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the current thread is a sender thread. Log records made there
/// (rustls logs through `log`) must not be sent: each would cause a write
/// that logs again, a feedback loop.
#[cfg(any(feature = "log", feature = "tracing"))]
pub(crate) fn on_sender_thread() -> bool {
    ON_SENDER.with(std::cell::Cell::get)
}

/// What the sender needs besides the shared queue.
pub(crate) struct Sender {
    pub(crate) shared: Arc<Shared>,
    pub(crate) endpoint: Endpoint,
    pub(crate) max_records: usize,
    pub(crate) print_debug: bool,
    /// Acknowledged delivery (protocol v2), when asked for.
    pub(crate) ack: Option<crate::acked::AckSettings>,
}

/// A connection and whether it has carried a batch yet.
struct Live {
    conn: Connection,
    delivered: bool,
}

impl Sender {
    /// The thread's body; returns when the client closes.
    pub(crate) fn run(self) {
        ON_SENDER.with(|on| on.set(true));
        match self.ack {
            Some(ack) => self.run_acked(ack),
            None => self.run_v1(),
        }
        let mut st = self.shared.lock();
        st.exited = true;
        self.shared.progress.notify_all();
    }

    fn run_v1(&self) {
        let mut live: Option<Live> = None;
        let mut batch = FrameQueue::default();
        let mut backoff = INITIAL_BACKOFF;
        loop {
            if !self.wait_for_records() {
                break;
            }
            let Some(current) = live.as_mut() else {
                match Connection::open(&self.endpoint) {
                    Ok(conn) => {
                        live = Some(Live {
                            conn,
                            delivered: false,
                        });
                    }
                    Err(e) => {
                        self.report(&format!("connect to {}: {e}", self.endpoint.display_addr()));
                        if !self.sleep(backoff) {
                            break;
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
                continue;
            };
            if let Err(e) = current.conn.check_open() {
                self.report(&format!("{}: {e}", self.endpoint.display_addr()));
                // A server that closed a connection that never carried
                // anything may be refusing us: back off before the next try.
                let fresh = !current.delivered;
                live = None;
                if fresh {
                    if !self.sleep(backoff) {
                        break;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                continue;
            }
            self.shared.lock().queue.take_into(&mut batch);
            let sent = write_batch(&mut current.conn, &batch);
            let mut st = self.shared.lock();
            let n = batch.remove_front(sent.records) as u64;
            st.removed += n;
            st.delivered += n - sent.oversize;
            st.dropped += sent.oversize;
            if sent.oversize > 0 {
                st.last_error = Some(format!("{} datagram(s) too large to send", sent.oversize));
            }
            if n > 0 {
                self.shared.progress.notify_all();
            }
            match sent.error {
                None => {
                    current.delivered = true;
                    backoff = INITIAL_BACKOFF;
                }
                Some(e) => {
                    st.queue.put_back_front(&mut batch);
                    st.trim_to(self.max_records);
                    let msg = format!("write to {}: {e}", self.endpoint.display_addr());
                    drop(st);
                    self.report(&msg);
                    // A connection that fails before carrying anything is
                    // not worth retrying at once.
                    let fresh = !current.delivered;
                    live = None;
                    if fresh {
                        if !self.sleep(backoff) {
                            break;
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
        }
        if let Some(mut l) = live {
            l.conn.shutdown();
        }
    }

    /// Waits until records are queued; false when the sender should exit
    /// (closing with an empty queue, or close gave up).
    fn wait_for_records(&self) -> bool {
        let mut st = self.shared.lock();
        let mut woken = false;
        loop {
            if st.abandon {
                return false;
            }
            if !st.queue.is_empty() {
                if woken && !st.closing {
                    // Woken by the first record after a quiet spell: let
                    // more gather (callers do not wake a sender that is
                    // not waiting) instead of one wake-up and one write
                    // per record.
                    drop(st);
                    std::thread::sleep(LINGER);
                }
                return true;
            }
            if st.closing {
                return false;
            }
            st.sender_waiting = true;
            st = self
                .shared
                .wake_sender
                .wait(st)
                .unwrap_or_else(|e| e.into_inner());
            st.sender_waiting = false;
            woken = true;
        }
    }

    /// Sleeps for a back-off; false if close gave up meanwhile.
    pub(crate) fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut st = self.shared.lock();
        loop {
            if st.abandon {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            // Not `sender_waiting`: new records do not end a back-off, so
            // callers need not pay for a wake-up; close notifies anyway.
            st = self
                .shared
                .wake_sender
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    pub(crate) fn report(&self, msg: &str) {
        if self.print_debug {
            println!("loghog: {msg}");
        }
        let mut st: std::sync::MutexGuard<'_, State> = self.shared.lock();
        st.last_error = Some(msg.to_string());
    }
}

/// How far a batch got.
struct Sent {
    /// Records done with (written whole, or oversize), not to be re-sent.
    records: usize,
    /// Of those, datagrams too large to send: dropped.
    oversize: u64,
    error: Option<std::io::Error>,
}

fn write_batch(conn: &mut Connection, batch: &FrameQueue) -> Sent {
    if conn.is_datagram() {
        // Each datagram stands alone: the ones sent before an error are done.
        let mut oversize = 0;
        for (i, frame) in batch.frames().enumerate() {
            match conn.send_frame(frame) {
                Ok(()) => {}
                // Too big for a datagram: retrying cannot help, and keeping
                // it would block every record behind it.
                Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EMSGSIZE as i32) => {
                    oversize += 1;
                }
                Err(e) => {
                    return Sent {
                        records: i,
                        oversize,
                        error: Some(e),
                    };
                }
            }
        }
        return Sent {
            records: batch.len(),
            oversize,
            error: None,
        };
    }
    match conn.write_stream(batch.bytes()) {
        Ok(()) => Sent {
            records: batch.len(),
            oversize: 0,
            error: None,
        },
        // Part of the batch may have reached the kernel and still be lost
        // (written after the server closed): re-send all of it.
        Err(e) => Sent {
            records: 0,
            oversize: 0,
            error: Some(e),
        },
    }
}
