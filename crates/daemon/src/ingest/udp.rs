//! UDP: one frame per datagram.
//!
//! The socket is read in bursts: after one datagram arrives, whatever else
//! is already queued is taken without waiting, routed as one batch, and
//! offered to the writers without waiting for room; what does not fit is
//! dropped and counted (a datagram sender cannot be pushed back on).
use std::net::SocketAddr;
use std::sync::Arc;

use loghog_proto::decode_datagram;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::router::{Batch, Router};

/// Datagrams taken per batch at most.
const BURST: usize = 256;

/// Reads datagrams until shutdown, then what is already queued.
pub async fn serve_udp(socket: UdpSocket, router: Arc<Router>, shutdown: CancellationToken) {
    let mut buf = vec![0u8; 65536];
    let mut batch = router.batch();
    loop {
        let first = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            () = shutdown.cancelled() => break,
        };
        let peer = match first {
            Ok((n, peer)) => {
                router.begin(&mut batch, n * 8);
                handle(&router, &mut batch, &buf[..n], peer);
                peer
            }
            Err(e) => {
                tracing::debug!(error = %e, "udp receive failed");
                continue;
            }
        };
        let last = drain(&socket, &router, &mut batch, &mut buf, BURST).unwrap_or(peer);
        router.try_commit(&mut batch, last);
    }
    // Stopping: what the kernel has already received is written too.
    router.begin(&mut batch, 0);
    while let Some(peer) = drain(&socket, &router, &mut batch, &mut buf, BURST) {
        router.try_commit(&mut batch, peer);
    }
}

/// Takes up to `max` queued datagrams without waiting; returns the last
/// peer, or None if nothing was queued.
fn drain(
    socket: &UdpSocket,
    router: &Router,
    batch: &mut Batch,
    buf: &mut [u8],
    max: usize,
) -> Option<SocketAddr> {
    let mut last = None;
    for _ in 0..max {
        match socket.try_recv_from(buf) {
            Ok((n, peer)) => {
                handle(router, batch, &buf[..n], peer);
                last = Some(peer);
            }
            Err(_) => break,
        }
    }
    last
}

fn handle(router: &Router, batch: &mut Batch, datagram: &[u8], peer: SocketAddr) {
    router.metrics().series().udp_datagrams_received.inc();
    match decode_datagram(datagram, router.max_payload()) {
        Ok(frame) => router.route(batch, peer, &frame),
        Err(e) => router
            .rejects()
            .report(peer, e.reason(), &format!("{e}; datagram dropped")),
    }
}
