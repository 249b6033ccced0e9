//! Syslog over TCP: the accept loop and the per-connection read loop.
//!
//! Connections count against the same limits as v1 connections
//! (`max_connections`, per peer, `max_buffered_bytes`) and stop the same
//! way at shutdown. Like v1, a read is decoded whole and handed to the
//! writers before the next read is handed over, so when the writers fall
//! behind the socket is not read and TCP pushes back on the sender.
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

use super::framing::{Decoded, Finish, StreamDecoder};
use super::route::{Peer, SyslogRoute};
use crate::ingest::framebuf::FrameBuf;
use crate::ingest::limits::Connection;
use crate::ingest::reader::{ConnReader, Read};
use crate::ingest::stream::{StreamContext, accept_loop, hand_over};

/// Accepts syslog TCP connections until shutdown, under the same limits
/// and accounting as LogHog connections (`transport="syslog"`).
pub async fn accept(listener: TcpListener, ctx: StreamContext, route: SyslogRoute) {
    accept_loop(listener, ctx, "syslog", move |stream, peer, ctx, conn| {
        let route = route.clone();
        async move { serve(stream, peer, &ctx, &conn, route).await }
    })
    .await;
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
    let mut reader = ConnReader::new();
    let mut batch = router.batch();
    let mut in_flight = Vec::new();
    loop {
        // Room for the whole octet-counted message at the front, or for a
        // line longer than the buffer (up to just past the limit).
        let wanted = |buf: &FrameBuf| {
            let w = decoder.wanted();
            if buf.len() >= w {
                (buf.len() * 2).min(max + 2).max(buf.len() + 1)
            } else {
                w
            }
        };
        match reader
            .read(&mut stream, conn, wanted, std::future::pending())
            .await
        {
            Read::Bytes(_) => {}
            Read::Failed(e) => {
                tracing::debug!(peer = %addr, error = %e, "syslog connection read failed");
                break;
            }
            Read::Stop => break,
            Read::Eof => {
                let buf = &reader.buf;
                router.begin(&mut batch, buf.len());
                match decoder.finish(buf) {
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
        }
        let buf = &reader.buf;
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
        reader.consumed(pos, conn);
        if !hand_over(&router, &mut batch, &mut in_flight).await {
            break;
        }
    }
    tracing::debug!(peer = %addr, "syslog connection closed");
}
