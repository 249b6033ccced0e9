//! Syslog datagrams, UDP and the local unix socket: one message each.
//!
//! Read in bursts like v1 UDP: after one datagram arrives, whatever else
//! is queued is taken without waiting, routed as one batch and offered to
//! the writers without waiting for room; what does not fit is dropped and
//! counted (`queue_full`), since a datagram sender cannot be pushed back.
use tokio::net::{UdpSocket, UnixDatagram};
use tokio_util::sync::CancellationToken;

use super::local::SocketFile;
use super::route::{Peer, SyslogRoute};

/// Datagrams taken per batch at most.
const BURST: usize = 256;
/// The largest UDP datagram.
const DATAGRAM: usize = 65536;

/// Serves one UDP socket until shutdown, then what is already queued.
pub async fn serve_udp(socket: UdpSocket, mut route: SyslogRoute, shutdown: CancellationToken) {
    let router = route.router().clone();
    let mut buf = vec![0u8; DATAGRAM];
    let mut batch = router.batch();
    let mut stopping = false;
    loop {
        let (n, peer) = if stopping {
            match socket.try_recv_from(&mut buf) {
                Ok(r) => r,
                Err(_) => return,
            }
        } else {
            tokio::select! {
                r = socket.recv_from(&mut buf) => match r {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::debug!(error = %e, "syslog udp receive failed");
                        continue;
                    }
                },
                () = shutdown.cancelled() => {
                    stopping = true;
                    continue;
                }
            }
        };
        router.begin(&mut batch, n * 2);
        one(&mut route, &mut batch, Peer::Net(peer), &buf[..n]);
        let mut last = peer;
        for _ in 1..BURST {
            match socket.try_recv_from(&mut buf) {
                Ok((n, p)) => {
                    one(&mut route, &mut batch, Peer::Net(p), &buf[..n]);
                    last = p;
                }
                Err(_) => break,
            }
        }
        router.try_commit(&mut batch, Peer::Net(last));
    }
}

/// Serves the local socket until shutdown, then what is already queued;
/// the socket file is removed when this returns.
pub async fn serve_local(
    socket: UnixDatagram,
    file: SocketFile,
    mut route: SyslogRoute,
    shutdown: CancellationToken,
) {
    let router = route.router().clone();
    let peer = Peer::Local(file.path());
    // One byte more than the limit, so that a longer datagram is seen as
    // too large instead of being cut silently.
    let mut buf = vec![0u8; (router.max_payload() + 1).max(DATAGRAM)];
    let mut batch = router.batch();
    let mut stopping = false;
    loop {
        let n = if stopping {
            match socket.try_recv(&mut buf) {
                Ok(n) => n,
                Err(_) => break,
            }
        } else {
            tokio::select! {
                r = socket.recv(&mut buf) => match r {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::debug!(error = %e, "syslog socket receive failed");
                        continue;
                    }
                },
                () = shutdown.cancelled() => {
                    stopping = true;
                    continue;
                }
            }
        };
        router.begin(&mut batch, n * 2);
        one(&mut route, &mut batch, peer, &buf[..n]);
        for _ in 1..BURST {
            match socket.try_recv(&mut buf) {
                Ok(n) => one(&mut route, &mut batch, peer, &buf[..n]),
                Err(_) => break,
            }
        }
        router.try_commit(&mut batch, peer);
    }
    drop(socket);
    drop(file);
}

fn one(route: &mut SyslogRoute, batch: &mut crate::router::Batch, peer: Peer<'_>, msg: &[u8]) {
    let max = route.router().max_payload();
    if msg.len() > max {
        route.router().rejects().report(
            peer,
            "message_too_large",
            &format_args!(
                "syslog message of {} bytes is over max_message_size ({max}); dropped",
                msg.len()
            ),
        );
        return;
    }
    route.message(batch, peer, msg);
}
