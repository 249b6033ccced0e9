//! Stream connections (plain TCP and TLS): the accept loop and the
//! per-connection read loop.
//!
//! A connection reads as much as the socket has (up to a buffer that grows
//! with the load), decodes every whole frame in it, and hands the resulting
//! batch to the writers, then waits for the writers' commit signal: with
//! `flush_every = 1` (the write itself) before reading again, so a `kill -9`
//! loses at most one read per connection; otherwise before handing over the
//! next read. When the writers fall behind or a file cannot be written, the
//! socket stops being read and TCP pushes back on the client. The server
//! never writes to a v1 connection; one whose first frame is a v2 hello
//! gets a welcome and one acknowledgement per read (see `ack.rs`).
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use loghog_proto::v2::FLAG_CONTROL;
use loghog_proto::{Decode, FrameDecoder, RawFrame};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::ack::{self, Acks, Refused};
use super::limits::{Connection, Registry};
use super::reader::{ConnReader, Read};
use super::sessions::Sessions;
use crate::router::{Batch, Router};

/// Shared by every stream listener: the connection limit and what each
/// connection needs.
#[derive(Clone)]
pub struct StreamContext {
    /// The router every connection feeds.
    pub router: Arc<Router>,
    /// Open connections, TCP and TLS together, and their limits.
    pub connections: Arc<Registry>,
    /// Cancelled when the daemon stops.
    pub shutdown: CancellationToken,
    /// Tracks every connection task so shutdown can wait for them.
    pub tracker: TaskTracker,
    /// v2 client sessions; None when `[server] acknowledgements = no`
    /// (a hello is then ignored, and the server never writes).
    pub sessions: Option<Arc<Sessions>>,
}

/// Accepts plain TCP connections until shutdown.
pub async fn accept_plain(listener: TcpListener, ctx: StreamContext) {
    accept_loop(listener, ctx, "tcp", |stream, peer, ctx, conn| async move {
        serve(stream, peer, &ctx, &conn).await;
    })
    .await;
}

/// Accepts TLS connections until shutdown. The handshake runs in the
/// connection's own task, under `handshake_timeout`, registered like any
/// other connection (so a stalled handshake is idle and can be evicted).
pub async fn accept_tls(
    listener: TcpListener,
    ctx: StreamContext,
    acceptor: tokio_rustls::TlsAcceptor,
    handshake_timeout: Duration,
) {
    accept_loop(listener, ctx, "tls", move |stream, peer, ctx, conn| {
        let acceptor = acceptor.clone();
        async move {
            let handshake = tokio::select! {
                r = super::tls::accept(&acceptor, stream, handshake_timeout) => r,
                () = conn.stopped() => return,
            };
            match handshake {
                Ok(tls) => serve(tls, peer, &ctx, &conn).await,
                Err(e) => ctx.router.rejects().report(
                    peer,
                    e.reason(),
                    &format!("TLS handshake failed: {e}{}", e.advice()),
                ),
            }
        }
    })
    .await;
}

/// The accept loop every stream listener shares (plain, TLS, syslog): accept, register the connection
/// (which may evict the longest-idle one, or refuse a peer over its share:
/// dropping the socket closes it), and run `connection` in a tracked task
/// that owns the registration (and the open-connection count of
/// `transport`) until it ends.
pub(crate) async fn accept_loop<F, Fut>(
    listener: TcpListener,
    ctx: StreamContext,
    transport: &'static str,
    connection: F,
) where
    F: Fn(TcpStream, SocketAddr, StreamContext, Connection) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        if !ctx.connections.room().await {
            return;
        }
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = ctx.shutdown.cancelled() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let Some(conn) = ctx.connections.admit(peer) else {
                    continue;
                };
                let open = ctx.router.metrics().connection(transport);
                let task = connection(stream, peer, ctx.clone(), conn);
                ctx.tracker.spawn(async move {
                    let _open = open;
                    task.await;
                });
            }
            Err(e) => {
                // Logged (rate-limited); out of descriptors, an idle
                // connection is closed. Back off so the loop does not spin.
                ctx.connections.accept_failed(&e);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Reads frames from one connection until it closes, is evicted, or the
/// daemon stops.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    ctx: &StreamContext,
    conn: &Connection,
) {
    tracing::debug!(peer = %peer, "connection opened");
    let router = &ctx.router;
    let mut decoder = FrameDecoder::new(router.max_payload());
    let mut reader = ConnReader::new();
    let mut batch = router.batch();
    let mut in_flight = Vec::new();
    let mut acks: Option<Acks> = None;
    let mut first_frame = true;
    loop {
        let read = reader
            .read(
                &mut stream,
                conn,
                |buf| decoder.wanted(buf),
                superseded(acks.as_ref()),
            )
            .await;
        match read {
            Read::Bytes(_) => {}
            Read::Eof => {
                let left = reader.buf.len();
                if left > 0 || decoder.is_skipping() {
                    router.rejects().report(
                        peer,
                        "partial_frame",
                        &format!("client disconnected mid-frame; {left} bytes discarded"),
                    );
                }
                break;
            }
            Read::Failed(e) => {
                tracing::debug!(peer = %peer, error = %e, "connection read failed");
                break;
            }
            Read::Stop => {
                if acks.as_ref().is_some_and(Acks::is_superseded) {
                    tracing::debug!(peer = %peer, "session taken over by a newer connection");
                }
                break;
            }
        }
        let buf = &reader.buf;
        router.begin(&mut batch, buf.len());
        let mut pos = 0;
        loop {
            match decoder.decode(&buf[pos..]) {
                Decode::Frame { frame, consumed } => {
                    let first = std::mem::replace(&mut first_frame, false);
                    if frame.flags & FLAG_CONTROL != 0 {
                        if !control(&mut stream, peer, ctx, conn, &frame, first, &mut acks).await {
                            return;
                        }
                    } else {
                        route(router, &mut batch, peer, &frame, acks.as_mut());
                    }
                    pos += consumed;
                }
                Decode::NeedMore { consumed } => {
                    pos += consumed;
                    break;
                }
                Decode::Rejected { error, consumed } => {
                    first_frame = false;
                    router
                        .rejects()
                        .report(peer, error.reason(), &format!("{error}; skipped"));
                    if let Some(a) = acks.as_mut() {
                        let seq = a.number();
                        a.reject(seq, error.reason());
                    }
                    pos += consumed;
                }
            }
        }
        reader.consumed(pos, conn);
        if let Some(a) = acks.as_mut() {
            if a.round_pending() && !acknowledge(&mut stream, peer, router, &mut batch, a).await {
                break;
            }
            continue;
        }
        if !hand_over(router, &mut batch, &mut in_flight).await {
            break;
        }
    }
    tracing::debug!(peer = %peer, "connection closed");
}

/// Hands one read's records to the writers (a v1 or syslog connection):
/// waits first for the previous read to be taken (never more than one read
/// handed over and not yet taken), and for this one to be written when its
/// facility asks (`flush_every = 1`, `fsync`): one wait per read, however
/// many records it held. False when the writers are gone.
pub async fn hand_over(
    router: &Router,
    batch: &mut Batch,
    in_flight: &mut Vec<tokio::sync::oneshot::Receiver<()>>,
) -> bool {
    if batch.is_empty() {
        return true;
    }
    for ack in in_flight.drain(..) {
        let _ = ack.await;
    }
    match router.commit(batch).await {
        Ok(c) if c.wait_now => {
            for ack in c.acks {
                let _ = ack.await;
            }
        }
        Ok(c) => *in_flight = c.acks,
        Err(_) => return false,
    }
    true
}

/// Resolves when a newer connection has taken this one's v2 session; never
/// for a v1 connection.
async fn superseded(acks: Option<&Acks>) {
    match acks {
        Some(a) => a.superseded().await,
        None => std::future::pending().await,
    }
}

/// One data frame: routed, on a v2 connection numbered first and its
/// rejection noted for the ack.
fn route(
    router: &Router,
    batch: &mut Batch,
    peer: SocketAddr,
    frame: &RawFrame<'_>,
    acks: Option<&mut Acks>,
) {
    let Some(a) = acks else {
        router.route(batch, peer, frame);
        return;
    };
    let seq = a.number();
    if let Err(reason) = router.route_checked(batch, peer, frame) {
        a.reject(seq, reason);
    }
}

/// A control frame. Only a hello as the first frame, with acknowledgements
/// on, opens v2 (and is answered with a welcome); anything else is dropped
/// without a byte written back. False when the connection must end.
async fn control<S: AsyncWrite + Unpin>(
    stream: &mut S,
    peer: SocketAddr,
    ctx: &StreamContext,
    conn: &Connection,
    frame: &RawFrame<'_>,
    first: bool,
    acks: &mut Option<Acks>,
) -> bool {
    let Some(sessions) = ctx.sessions.as_ref() else {
        // A v1 server: the client falls back once its wait runs out.
        tracing::debug!(peer = %peer, "v2 hello ignored: acknowledgements are off");
        return true;
    };
    if !first || acks.is_some() {
        ctx.router.rejects().report(
            peer,
            "misplaced_control",
            &"control frame after the first frame; dropped",
        );
        return true;
    }
    match Acks::open(frame.payload, sessions, conn.stopped()).await {
        Ok((opened, welcome)) => {
            if let Err(e) = ack::send(stream, &welcome).await {
                tracing::debug!(peer = %peer, error = %e, "cannot send the welcome");
                return false;
            }
            *acks = Some(opened);
            true
        }
        Err(Refused::Bad(e)) => {
            ctx.router
                .rejects()
                .report(peer, e.reason(), &format!("{e}; the connection stays v1"));
            true
        }
        Err(Refused::Stopping) => false,
    }
}

/// The end of a read on a v2 connection: hand the records over, wait until
/// they may be acknowledged, then send one cumulative ack. False when they
/// may not be (the connection closes unacknowledged; the client resends).
async fn acknowledge<S: AsyncWrite + Unpin>(
    stream: &mut S,
    peer: SocketAddr,
    router: &Router,
    batch: &mut Batch,
    acks: &mut Acks,
) -> bool {
    if !batch.is_empty() {
        let Ok(committed) = router.commit_written(batch).await else {
            return false;
        };
        if !ack::may_acknowledge(committed).await {
            tracing::debug!(peer = %peer, "records not confirmed written; closing unacknowledged");
            return false;
        }
    }
    let reply = acks.finish_round();
    match ack::send(stream, &reply).await {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(peer = %peer, error = %e, "cannot send an acknowledgement");
            false
        }
    }
}
