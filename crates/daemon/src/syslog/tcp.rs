//! Syslog over TCP: the accept loop and the per-connection read loop.
//!
//! Connections count against the same limits as v1 connections
//! (`max_connections`, per peer, `max_buffered_bytes`) and stop the same
//! way at shutdown. Like v1, a read is decoded whole and handed to the
//! writers before the next read is handed over, so when the writers fall
//! behind the socket is not read and TCP pushes back on the sender.
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use super::framing::{Decoded, Finish, StreamDecoder};
use super::route::{Peer, SyslogRoute};
use crate::ingest::framebuf::FrameBuf;
use crate::ingest::limits::Connection;
use crate::ingest::stream::StreamContext;

/// A connection's read buffer starts this large...
const INITIAL_BUFFER: usize = 1024;
/// ...and doubles, while reads fill it, up to this (or to one message).
const MAX_BUFFER: usize = crate::ingest::framebuf::LARGE;
/// A connection quiet this long gives its buffer back.
const IDLE_SHRINK: Duration = Duration::from_secs(30);
/// On shutdown a connection reads until it has been quiet this long.
const DRAIN_QUIET: Duration = Duration::from_millis(100);

/// Accepts syslog TCP connections until shutdown.
pub async fn accept(listener: TcpListener, ctx: StreamContext, route: SyslogRoute) {
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
                let route = route.clone();
                let ctx2 = ctx.clone();
                ctx.tracker
                    .spawn(async move { serve(stream, peer, &ctx2, &conn, route).await });
            }
            Err(e) => {
                ctx.connections.accept_failed(&e);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// How a read ended.
enum Read {
    Bytes(usize),
    Eof,
    Stop,
}

/// Reads messages from one connection until it closes, is evicted, or the
/// daemon stops.
async fn serve(
    mut stream: TcpStream,
    addr: SocketAddr,
    ctx: &StreamContext,
    conn: &Connection,
    mut route: SyslogRoute,
) {
    tracing::debug!(peer = %addr, "syslog connection opened");
    let peer = Peer::Net(addr);
    let router = ctx.router.clone();
    let max = router.max_payload();
    let mut decoder = StreamDecoder::new(max);
    let mut buf = FrameBuf::new();
    let mut target = INITIAL_BUFFER;
    let mut batch = router.batch();
    let mut in_flight = Vec::new();
    let mut drain_until = None;
    loop {
        // Room for the whole octet-counted message at the front, or for a
        // line longer than the buffer (up to just past the limit).
        let mut wanted = decoder.wanted().max(target);
        if buf.len() >= wanted {
            wanted = (buf.len() * 2).min(max + 2).max(buf.len() + 1);
        }
        if let Err(e) = buf.reserve_total(wanted) {
            tracing::warn!(peer = %peer, error = %e, bytes = wanted, "cannot allocate a read buffer; connection closed");
            break;
        }
        let spare = buf.capacity() - buf.len();
        conn.memory_room().await;
        let read = match drain_until {
            None => tokio::select! {
                biased;
                () = conn.stopped() => match conn.drain_deadline() {
                    Some(limit) => {
                        drain_until = Some(limit);
                        continue;
                    }
                    None => Read::Stop,
                },
                r = tokio::time::timeout(IDLE_SHRINK, buf.read_from(&mut stream)) => match r {
                    Ok(Ok(0)) => Read::Eof,
                    Ok(Ok(n)) => Read::Bytes(n),
                    Ok(Err(e)) => {
                        tracing::debug!(peer = %addr, error = %e, "syslog connection read failed");
                        Read::Stop
                    }
                    Err(_) => {
                        if buf.is_empty() {
                            buf.release();
                            target = INITIAL_BUFFER;
                        }
                        continue;
                    }
                },
            },
            Some(limit) => {
                let now = tokio::time::Instant::now();
                let read = if now < limit {
                    tokio::time::timeout_at(
                        (now + DRAIN_QUIET).min(limit),
                        buf.read_from(&mut stream),
                    )
                    .await
                    .ok()
                } else {
                    None
                };
                match read {
                    Some(Ok(0)) => Read::Eof,
                    Some(Ok(n)) => Read::Bytes(n),
                    Some(Err(_)) => Read::Stop,
                    None => {
                        conn.cut(&mut stream, buf.len()).await;
                        break;
                    }
                }
            }
        };
        let n = match read {
            Read::Bytes(n) => n,
            Read::Stop => break,
            Read::Eof => {
                router.begin(&mut batch, buf.len());
                match decoder.finish(&buf) {
                    Finish::Nothing => {}
                    Finish::Message(msg) => route.message(&mut batch, peer, msg),
                    Finish::Partial(lost) => router.rejects().report(
                        peer,
                        "partial_frame",
                        &format_args!(
                            "client disconnected mid-message (octet count not reached); {lost} bytes discarded"
                        ),
                    ),
                }
                if !batch.is_empty() {
                    let _ = router.commit(&mut batch).await;
                }
                break;
            }
        };
        if n == spare && target < MAX_BUFFER {
            target *= 2;
        }
        router.begin(&mut batch, buf.len());
        let mut pos = 0;
        loop {
            match decoder.decode(&buf[pos..]) {
                Decoded::Message { msg, consumed } => {
                    route.message(&mut batch, peer, msg);
                    pos += consumed;
                }
                Decoded::NeedMore { consumed } => {
                    pos += consumed;
                    break;
                }
                Decoded::TooLarge { len, consumed } => {
                    router.rejects().report(
                        peer,
                        "message_too_large",
                        &format_args!(
                            "syslog message of {len} bytes or more is over max_message_size ({max}); skipped"
                        ),
                    );
                    pos += consumed;
                }
            }
        }
        buf.consume(pos);
        conn.settle(&mut buf, MAX_BUFFER);
        if !batch.is_empty() {
            for ack in in_flight.drain(..) {
                let _ = ack.await;
            }
            match router.commit(&mut batch).await {
                Ok(c) if c.wait_now => {
                    for ack in c.acks {
                        let _ = ack.await;
                    }
                }
                Ok(c) => in_flight = c.acks,
                Err(_) => break,
            }
        }
    }
    tracing::debug!(peer = %addr, "syslog connection closed");
}
