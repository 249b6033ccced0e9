//! Connection limits: the registry of open stream connections (TCP and TLS)
//! that enforces `max_connections`, `max_connections_per_peer` and the
//! global `max_buffered_bytes` budget, and counts what shutdown cuts.
//!
//! The limits act by closing connections rather than by not accepting: a
//! full daemon closes the connection idle the longest, a budget overrun
//! closes the connections holding the most bytes, so a new client is never
//! left in the kernel's backlog behind idle ones.
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::Notify;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use super::framebuf::FrameBuf;
use super::rejects::Rejects;

/// A connection closed because it was idle reads what has already arrived
/// for at most this long (it should be nothing: it was idle).
const EVICTED_DRAIN: Duration = Duration::from_secs(1);
/// The accept loop's own lines ("waiting for room", "accept failed") are
/// logged at most this often each, with a count of those held back.
const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(10);
/// At a cut, at most this many bytes still waiting in the socket are read
/// (and counted, not decoded), so a client that keeps sending cannot hold
/// the cut up.
const CUT_COUNT_LIMIT: u64 = 64 << 20;

/// The per-connection state counted in `max_buffered_bytes` (measured:
/// about 3 KiB of RSS per idle connection; rounded up).
pub const CONNECTION_STATE: usize = 8 * 1024;

/// The share of `max_buffered_bytes` kept free of counted bytes, for what
/// is not counted per connection (the allocator's free lists after many
/// connections closed, the bad-input log): buffers are held to 31/32 of it.
const UNCOUNTED_SHARE: usize = 32;

/// The limits, from `[server]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once; the longest-idle one is closed to admit a
    /// new one beyond it.
    pub max_connections: usize,
    /// Connections from one IP address at once; more are refused.
    pub max_per_peer: usize,
    /// Bytes held in read buffers (partial frames) across all connections,
    /// each counted at its capacity plus `state_per_connection`.
    pub max_buffered_bytes: usize,
    /// What one open connection costs beyond its buffer (task, socket,
    /// decoder, batch), counted in the budget from its admission so that
    /// memory, not only frame bytes, stays within it: [`CONNECTION_STATE`]
    /// in the daemon.
    pub state_per_connection: usize,
    /// How long connections read after shutdown starts.
    pub shutdown_timeout: Duration,
}

impl Limits {
    /// What the counted bytes may come to: `max_buffered_bytes` less the
    /// uncounted share.
    fn held_limit(&self) -> usize {
        self.max_buffered_bytes - self.max_buffered_bytes / UNCOUNTED_SHARE
    }
}

/// Why a connection was told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The daemon is stopping: read what has arrived, up to the deadline.
    Shutdown,
    /// Closed as the longest idle to admit a new connection.
    Idle,
    /// Closed for holding the most bytes when the budget ran out.
    Budget,
}

const LIVE: u8 = 0;
const EVICTED_IDLE: u8 = 1;
const EVICTED_BUDGET: u8 = 2;

/// One open connection as the registry sees it.
#[derive(Debug)]
struct Slot {
    peer: SocketAddr,
    /// Microseconds since the registry's epoch at the last read.
    last_active: AtomicU64,
    /// Bytes this connection holds; always exactly its share of the
    /// registry's total (changed only by swap + matching add/sub).
    buffered: AtomicUsize,
    /// LIVE or why it was evicted.
    evicted: AtomicU8,
    /// A child of the shutdown token: cancelled to evict or to stop.
    stop: CancellationToken,
}

#[derive(Debug, Default)]
struct Inner {
    slots: HashMap<u64, Arc<Slot>>,
    per_peer: HashMap<IpAddr, usize>,
    next_id: u64,
    /// Evicted slots not yet dropped.
    closing: usize,
}

/// Totals over the daemon's run, for the log.
#[derive(Debug, Default)]
struct Counts {
    evicted_idle: AtomicU64,
    refused_peer: AtomicU64,
    closed_budget: AtomicU64,
    closed_budget_bytes: AtomicU64,
    cut: AtomicU64,
    cut_buffered: AtomicU64,
    cut_unread: AtomicU64,
}

/// Every open stream connection, and the limits over them.
#[derive(Debug)]
pub struct Registry {
    limits: Limits,
    epoch: Instant,
    inner: Mutex<Inner>,
    /// Bytes held in partial frames, all connections together.
    buffered: AtomicUsize,
    /// Woken whenever a connection closes.
    closed: Notify,
    /// Rate limits for the accept loop's lines.
    wait_log: Throttle,
    accept_error_log: Throttle,
    shutdown: CancellationToken,
    rejects: Arc<Rejects>,
    counts: Counts,
}

impl Registry {
    /// An empty registry; connections stop when `shutdown` is cancelled.
    pub fn new(limits: Limits, shutdown: CancellationToken, rejects: Arc<Rejects>) -> Arc<Self> {
        Arc::new(Registry {
            limits,
            epoch: Instant::now(),
            inner: Mutex::new(Inner::default()),
            buffered: AtomicUsize::new(0),
            closed: Notify::new(),
            wait_log: Throttle::default(),
            accept_error_log: Throttle::default(),
            shutdown,
            rejects,
            counts: Counts::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Microseconds since the registry started (never 0).
    fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Open connections, including those being closed.
    pub fn open(&self) -> usize {
        self.lock().slots.len()
    }

    /// Bytes held in partial frames, all connections together.
    pub fn buffered(&self) -> usize {
        self.buffered.load(Ordering::Relaxed)
    }

    /// The most sockets open at once: evicted connections take a moment
    /// to close, so admitting goes on past `max_connections` by this much
    /// before the accept loop waits.
    fn hard_cap(&self) -> usize {
        let max = self.limits.max_connections;
        max.saturating_add(max.div_ceil(8))
    }

    /// Waits until a connection may be accepted (only while evicted ones
    /// are still closing is there none). False once the daemon is stopping.
    pub async fn room(&self) -> bool {
        loop {
            let closed = self.closed.notified();
            tokio::pin!(closed);
            closed.as_mut().enable();
            let (open, closing) = {
                let inner = self.lock();
                (inner.slots.len(), inner.closing)
            };
            if open < self.hard_cap() {
                return true;
            }
            self.log_wait(open, closing);
            tokio::select! {
                () = closed => {}
                () = self.shutdown.cancelled() => return false,
            }
        }
    }

    /// Logs (rate-limited) that the accept loop waits for room.
    fn log_wait(&self, open: usize, closing: usize) {
        if let Some(held_back) = self.wait_log.allow(self.now_us()) {
            tracing::warn!(
                open,
                closing,
                max_connections = self.limits.max_connections,
                held_back,
                "connection limit reached while closed connections are still closing; \
                 new connections wait in the backlog"
            );
        }
    }

    /// A failed accept: logged (rate-limited, with a count). Out of file
    /// descriptors, the longest-idle connection is closed so that the next
    /// accept can succeed, as at `max_connections`.
    pub fn accept_failed(&self, e: &std::io::Error) {
        let out_of_fds = matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
        let victim = if out_of_fds {
            self.evict_idle(&mut self.lock())
        } else {
            None
        };
        if let Some((peer, idle_us)) = victim {
            let total = self.counts.evicted_idle.fetch_add(1, Ordering::Relaxed) + 1;
            self.rejects.report(
                peer,
                "evicted_idle",
                &format!(
                    "connection closed after {:.1}s idle: out of file descriptors \
                     (raise the open-files limit); {total} closed so far",
                    idle_us as f64 / 1e6
                ),
            );
        }
        if let Some(held_back) = self.accept_error_log.allow(self.now_us()) {
            tracing::error!(error = %e, open = self.open(), held_back, "accept failed");
        }
    }

    /// Registers a new connection from `peer`, closing the longest-idle
    /// connection if the limit is reached. None if `peer`'s address already
    /// has its share: the caller drops (closes) the socket.
    pub fn admit(self: &Arc<Self>, peer: SocketAddr) -> Option<Connection> {
        let ip = peer.ip().to_canonical();
        let mut inner = self.lock();
        let from_peer = inner.per_peer.get(&ip).copied().unwrap_or(0);
        if from_peer >= self.limits.max_per_peer {
            drop(inner);
            let total = self.counts.refused_peer.fetch_add(1, Ordering::Relaxed) + 1;
            self.rejects.report(
                peer,
                "peer_connection_limit",
                &format!(
                    "connection refused: {ip} already has {from_peer} connections \
                     (max_connections_per_peer = {}); {total} refused so far",
                    self.limits.max_per_peer
                ),
            );
            return None;
        }
        let victim = if inner.slots.len() - inner.closing >= self.limits.max_connections {
            self.evict_idle(&mut inner)
        } else {
            None
        };
        let now = self.now_us();
        // Its state counts from now; its buffer once it has read.
        let state = self.limits.state_per_connection;
        self.buffered.fetch_add(state, Ordering::Relaxed);
        let slot = Arc::new(Slot {
            peer,
            last_active: AtomicU64::new(now),
            buffered: AtomicUsize::new(state),
            evicted: AtomicU8::new(LIVE),
            stop: self.shutdown.child_token(),
        });
        let id = inner.next_id;
        inner.next_id += 1;
        inner.slots.insert(id, slot.clone());
        *inner.per_peer.entry(ip).or_insert(0) += 1;
        drop(inner);
        if let Some((victim, idle_us)) = victim {
            let total = self.counts.evicted_idle.fetch_add(1, Ordering::Relaxed) + 1;
            self.rejects.report(
                victim,
                "evicted_idle",
                &format!(
                    "connection closed after {:.1}s idle to admit {peer}: \
                     max_connections = {} reached; {total} closed so far",
                    idle_us as f64 / 1e6,
                    self.limits.max_connections
                ),
            );
        }
        Some(Connection {
            registry: self.clone(),
            slot,
            id,
        })
    }

    /// Marks the live connection idle the longest for closing; returns its
    /// peer and how long it was idle.
    fn evict_idle(&self, inner: &mut Inner) -> Option<(SocketAddr, u64)> {
        let slot = inner
            .slots
            .values()
            .filter(|s| s.evicted.load(Ordering::Relaxed) == LIVE)
            .min_by_key(|s| s.last_active.load(Ordering::Relaxed))?
            .clone();
        slot.evicted.store(EVICTED_IDLE, Ordering::Relaxed);
        inner.closing += 1;
        slot.stop.cancel();
        let idle = self
            .now_us()
            .saturating_sub(slot.last_active.load(Ordering::Relaxed));
        Some((slot.peer, idle))
    }

    /// Over budget: closes the connections holding the most bytes until
    /// the rest fit. Their bytes stay in the total until each connection
    /// has stopped and freed them (see `Drop for Connection`): a closed
    /// task can take a while to be scheduled, and meanwhile reads on other
    /// connections close more of them rather than let memory pass the
    /// budget (measured: up to 22 MiB over it when they left at once).
    fn enforce_budget(&self) {
        let (limit, budget) = (self.limits.held_limit(), self.limits.max_buffered_bytes);
        let mut victims = Vec::new();
        {
            let mut inner = self.lock();
            let total = self.buffered.load(Ordering::Relaxed);
            if total <= limit {
                return;
            }
            let mut over = total - limit;
            let mut live: Vec<(usize, Arc<Slot>)> = inner
                .slots
                .values()
                .filter(|s| s.evicted.load(Ordering::Relaxed) == LIVE)
                .map(|s| (s.buffered.load(Ordering::Relaxed), s.clone()))
                .filter(|(held, _)| *held > 0)
                .collect();
            live.sort_unstable_by_key(|(held, _)| std::cmp::Reverse(*held));
            for (_, slot) in live {
                if over == 0 {
                    break;
                }
                let held = slot.buffered.load(Ordering::Relaxed);
                slot.evicted.store(EVICTED_BUDGET, Ordering::Relaxed);
                inner.closing += 1;
                slot.stop.cancel();
                over = over.saturating_sub(held);
                victims.push((slot.peer, held));
            }
        }
        for (peer, held) in victims {
            let total = self.counts.closed_budget.fetch_add(1, Ordering::Relaxed) + 1;
            let bytes = self
                .counts
                .closed_budget_bytes
                .fetch_add(held as u64, Ordering::Relaxed)
                + held as u64;
            self.rejects.report(
                peer,
                "buffer_budget",
                &format!(
                    "connection closed holding {held} bytes of partial frames: \
                     max_buffered_bytes = {budget} exceeded; {total} closed so far, \
                     {bytes} bytes discarded"
                ),
            );
        }
    }

    /// Logs what the limits and the shutdown deadline did over the run.
    /// `abandoned` is true when connections were still open at the final
    /// deadline and are dropped with the runtime.
    pub fn log_shutdown(&self, abandoned: bool) {
        let c = &self.counts;
        let cut = c.cut.load(Ordering::Relaxed);
        if cut > 0 {
            tracing::warn!(
                connections = cut,
                buffered_bytes = c.cut_buffered.load(Ordering::Relaxed),
                unread_bytes = c.cut_unread.load(Ordering::Relaxed),
                "shutdown cut connections: bytes buffered but not decoded, and bytes \
                 received but not read, were dropped"
            );
        }
        if abandoned {
            let open = self.open();
            tracing::warn!(
                connections = open,
                buffered_bytes = self.buffered(),
                "connections still open at the shutdown deadline were abandoned"
            );
        }
        let (idle, peer, budget) = (
            c.evicted_idle.load(Ordering::Relaxed),
            c.refused_peer.load(Ordering::Relaxed),
            c.closed_budget.load(Ordering::Relaxed),
        );
        if idle + peer + budget > 0 {
            tracing::info!(
                evicted_idle = idle,
                refused_per_peer = peer,
                closed_over_budget = budget,
                closed_over_budget_bytes = c.closed_budget_bytes.load(Ordering::Relaxed),
                "connection limits applied since start"
            );
        }
    }
}

/// A log line allowed at most once per ACCEPT_LOG_EVERY, counting the ones
/// held back in between.
#[derive(Debug, Default)]
struct Throttle {
    /// When the last line was let through (µs since the epoch; 0 = never).
    last: AtomicU64,
    held_back: AtomicU64,
}

impl Throttle {
    /// Some(lines held back since the last one) if a line may go out now.
    fn allow(&self, now_us: u64) -> Option<u64> {
        let every = u64::try_from(ACCEPT_LOG_EVERY.as_micros()).unwrap_or(u64::MAX);
        let last = self.last.load(Ordering::Relaxed);
        let recent = last != 0 && now_us.saturating_sub(last) < every;
        if recent
            || self
                .last
                .compare_exchange(last, now_us, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            self.held_back.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(self.held_back.swap(0, Ordering::Relaxed))
    }
}

/// Raises the soft open-files limit to the hard one (each connection is a
/// file descriptor) and warns when it is still below what `max_connections`
/// and `max_open_files` need.
pub fn raise_fd_limit(max_connections: usize, max_open_files: usize) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    let soft = if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        hard
    } else {
        soft
    };
    // Listeners, the internal log, state files and the runtime need a few
    // more.
    let wanted = (max_connections + max_open_files) as u64 + 64;
    if soft < wanted {
        tracing::warn!(
            open_files_limit = soft,
            max_connections,
            max_open_files,
            "the open-files limit is below max_connections + max_open_files + 64; when it \
             runs out, idle connections are closed to accept new ones (raise LimitNOFILE \
             or ulimit -n)"
        );
    }
}

/// A registered connection; dropping it unregisters it.
#[derive(Debug)]
pub struct Connection {
    registry: Arc<Registry>,
    slot: Arc<Slot>,
    id: u64,
}

impl Connection {
    /// Resolves when the connection must stop: the daemon is stopping or
    /// the connection was evicted. See `drain_deadline` for how.
    pub fn stopped(&self) -> WaitForCancellationFuture<'_> {
        self.slot.stop.cancelled()
    }

    /// Why the connection was told to stop (Shutdown if it was not
    /// evicted).
    pub fn stop_reason(&self) -> Stop {
        match self.slot.evicted.load(Ordering::Relaxed) {
            EVICTED_IDLE => Stop::Idle,
            EVICTED_BUDGET => Stop::Budget,
            _ => Stop::Shutdown,
        }
    }

    /// Once stopped: until when to read what has already arrived, or None
    /// to close at once (a connection closed over the budget must release
    /// its memory, not read more).
    pub fn drain_deadline(&self) -> Option<tokio::time::Instant> {
        let now = tokio::time::Instant::now();
        match self.stop_reason() {
            Stop::Shutdown => Some(now + self.registry.limits.shutdown_timeout),
            Stop::Idle => Some(now + EVICTED_DRAIN),
            Stop::Budget => None,
        }
    }

    /// After a read has been decoded: records the activity and what `buf`
    /// holds (its capacity, plus the connection's state), and enforces the
    /// budget. A buffer grown past `normal` (for a frame larger than the
    /// usual read buffer) is given back once empty.
    pub fn settle(&self, buf: &mut FrameBuf, normal: usize) {
        if buf.is_empty() && buf.capacity() > normal {
            buf.release();
        }
        let reg = &self.registry;
        self.slot.last_active.store(reg.now_us(), Ordering::Relaxed);
        let held = buf.capacity().max(buf.len()) + reg.limits.state_per_connection;
        let closing = self.slot.evicted.load(Ordering::Relaxed) != LIVE;
        if closing && held <= self.slot.buffered.load(Ordering::Relaxed) {
            // A closing connection's bytes stay counted until it is dropped
            // (one draining after an idle eviction may still grow: counted).
            return;
        }
        let old = self.slot.buffered.swap(held, Ordering::Relaxed);
        if held > old {
            let total = reg.buffered.fetch_add(held - old, Ordering::Relaxed) + (held - old);
            if total > reg.limits.held_limit() {
                reg.enforce_budget();
            }
        } else if old > held {
            reg.buffered.fetch_sub(old - held, Ordering::Relaxed);
        }
    }

    /// The connection ends with data undecoded: `buffered` bytes of a
    /// partial frame, plus whatever is already waiting in the socket (read
    /// now without waiting, counted, dropped). Counted and logged.
    pub async fn cut<S: AsyncRead + Unpin>(&self, stream: &mut S, buffered: usize) {
        let unread = discard_ready(stream, CUT_COUNT_LIMIT).await;
        if buffered == 0 && unread == 0 {
            return;
        }
        let reason = self.stop_reason();
        let (tag, why) = match reason {
            Stop::Shutdown => ("shutdown_cut", "at shutdown (shutdown_timeout)"),
            Stop::Idle | Stop::Budget => ("eviction_cut", "when closed by a limit"),
        };
        let c = &self.registry.counts;
        if reason == Stop::Shutdown {
            c.cut.fetch_add(1, Ordering::Relaxed);
            c.cut_buffered.fetch_add(buffered as u64, Ordering::Relaxed);
            c.cut_unread.fetch_add(unread, Ordering::Relaxed);
        }
        let more = if unread >= CUT_COUNT_LIMIT {
            " or more"
        } else {
            ""
        };
        self.registry.rejects.report(
            self.slot.peer,
            tag,
            &format!(
                "connection cut {why}: {buffered} bytes buffered but not decoded, \
                 {unread}{more} bytes received but not read, dropped"
            ),
        );
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let reg = &self.registry;
        {
            let mut inner = reg.lock();
            inner.slots.remove(&self.id);
            if self.slot.evicted.load(Ordering::Relaxed) != LIVE {
                inner.closing -= 1;
            }
            let ip = self.slot.peer.ip().to_canonical();
            if let Some(n) = inner.per_peer.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    inner.per_peer.remove(&ip);
                }
            }
        }
        let held = self.slot.buffered.swap(0, Ordering::Relaxed);
        reg.buffered.fetch_sub(held, Ordering::Relaxed);
        reg.closed.notify_waiters();
    }
}

/// Reads and drops what `stream` has ready without waiting, up to `limit`
/// bytes; returns how many there were.
async fn discard_ready<S: AsyncRead + Unpin>(stream: &mut S, limit: u64) -> u64 {
    let mut scratch = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    while total < limit {
        let n = std::future::poll_fn(|cx| {
            let mut rb = ReadBuf::new(&mut scratch);
            match Pin::new(&mut *stream).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => Poll::Ready(rb.filled().len()),
                // Pending: nothing more has arrived; an error ends it too.
                Poll::Ready(Err(_)) | Poll::Pending => Poll::Ready(0),
            }
        })
        .await;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(max: usize, per_peer: usize, budget: usize) -> Arc<Registry> {
        Registry::new(
            Limits {
                max_connections: max,
                max_per_peer: per_peer,
                max_buffered_bytes: budget,
                state_per_connection: 0,
                shutdown_timeout: Duration::from_secs(3),
            },
            CancellationToken::new(),
            Arc::new(Rejects::new()),
        )
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_longest_idle_connection_is_evicted_at_the_limit() {
        let r = registry(2, 10, 1 << 20);
        let a = r.admit(addr("10.0.0.1:1")).unwrap();
        let b = r.admit(addr("10.0.0.2:1")).unwrap();
        // `b` has been quiet longer than `a`.
        a.slot.last_active.store(20, Ordering::Relaxed);
        b.slot.last_active.store(10, Ordering::Relaxed);
        let c = r.admit(addr("10.0.0.3:1")).unwrap();
        assert_eq!(b.stop_reason(), Stop::Idle);
        assert!(b.slot.stop.is_cancelled());
        assert!(!a.slot.stop.is_cancelled() && !c.slot.stop.is_cancelled());
        assert_eq!(r.open(), 3);
        assert_eq!(r.rejects.count("evicted_idle"), 1);
        drop(b);
        assert_eq!(r.open(), 2);
        assert_eq!(r.lock().closing, 0);
    }

    #[test]
    fn a_peer_over_its_share_is_refused_and_counted() {
        let r = registry(100, 2, 1 << 20);
        let a = r.admit(addr("10.0.0.1:1")).unwrap();
        let _b = r.admit(addr("[::ffff:10.0.0.1]:2")).unwrap();
        assert!(r.admit(addr("10.0.0.1:3")).is_none());
        assert!(r.admit(addr("10.0.0.2:3")).is_some());
        assert_eq!(r.rejects.count("peer_connection_limit"), 1);
        drop(a);
        assert!(r.admit(addr("10.0.0.1:4")).is_some());
    }

    #[test]
    fn over_budget_the_connections_holding_most_are_closed() {
        let r = registry(100, 100, 1000);
        let small = r.admit(addr("10.0.0.1:1")).unwrap();
        let big = r.admit(addr("10.0.0.2:1")).unwrap();
        let mid = r.admit(addr("10.0.0.3:1")).unwrap();
        small.settle(&mut vec![0; 100].into(), 1 << 20);
        big.settle(&mut vec![0; 600].into(), 1 << 20);
        assert_eq!(r.buffered(), 700);
        mid.settle(&mut vec![0; 400].into(), 1 << 20);
        assert_eq!(big.stop_reason(), Stop::Budget);
        assert!(big.drain_deadline().is_none());
        assert!(!mid.slot.stop.is_cancelled() && !small.slot.stop.is_cancelled());
        // The closed connection's bytes count until it has let them go.
        assert_eq!(r.buffered(), 1100);
        big.settle(&mut vec![0; 100].into(), 1 << 20);
        assert_eq!(r.buffered(), 1100);
        drop(big);
        assert_eq!(r.buffered(), 500);
        drop(mid);
        drop(small);
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn an_oversized_buffer_counts_at_capacity_and_is_given_back_empty() {
        let r = registry(100, 100, 1 << 30);
        let c = r.admit(addr("10.0.0.1:1")).unwrap();
        let mut buf = FrameBuf::from(vec![1, 2, 3]);
        buf.reserve_total(10_000).unwrap();
        c.settle(&mut buf, 4096);
        assert_eq!(r.buffered(), buf.capacity());
        buf.consume(3);
        c.settle(&mut buf, 4096);
        assert_eq!(buf.capacity(), 0);
        assert_eq!(r.buffered(), 0);
    }

    #[tokio::test]
    async fn room_waits_only_while_evicted_connections_are_closing() {
        let r = registry(1, 10, 1 << 20);
        let first = r.admit(addr("10.0.0.1:1")).unwrap();
        assert!(r.room().await);
        // One over the limit (the first is evicted) fills the hard cap of 2.
        let _second = r.admit(addr("10.0.0.2:1")).unwrap();
        let waiter = tokio::spawn({
            let r = r.clone();
            async move { r.room().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(first);
        assert!(waiter.await.unwrap());
    }

    #[test]
    fn out_of_file_descriptors_the_longest_idle_connection_is_closed() {
        let r = registry(100, 100, 1 << 20);
        let a = r.admit(addr("10.0.0.1:1")).unwrap();
        r.accept_failed(&std::io::Error::from_raw_os_error(libc::EMFILE));
        assert_eq!(a.stop_reason(), Stop::Idle);
        r.accept_failed(&std::io::Error::from_raw_os_error(libc::ECONNABORTED));
        assert_eq!(r.rejects.count("evicted_idle"), 1);
    }

    #[test]
    fn a_throttle_lets_one_line_through_per_period_and_counts_the_rest() {
        let t = Throttle::default();
        let every = u64::try_from(ACCEPT_LOG_EVERY.as_micros()).unwrap();
        assert_eq!(t.allow(1), Some(0));
        assert_eq!(t.allow(2), None);
        assert_eq!(t.allow(every), None);
        assert_eq!(t.allow(every + 1), Some(2));
    }
}
