//! Ingest: listeners that read frames from TCP, UDP and TLS peers and feed
//! them to the router.
//!
//! Sockets are bound here, before the runtime starts (and before privileges
//! are dropped); every plain address gets a TCP listener and a UDP socket on
//! the same port.
pub mod limits;
pub mod rejects;
pub mod stream;
pub mod tls;
pub mod udp;

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// A socket that could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {proto} {addr}: {source}")]
pub struct BindError {
    /// `tcp`, `udp` or `tls`.
    pub proto: &'static str,
    /// The address asked for.
    pub addr: SocketAddr,
    /// What the OS said.
    #[source]
    pub source: io::Error,
}

/// Every bound socket, not yet handed to the runtime.
#[derive(Debug, Default)]
pub struct Listeners {
    /// Plain TCP listeners.
    pub tcp: Vec<std::net::TcpListener>,
    /// UDP sockets, one per plain address, on the TCP listener's port.
    pub udp: Vec<std::net::UdpSocket>,
    /// TCP listeners that speak TLS.
    pub tls: Vec<std::net::TcpListener>,
}

impl Listeners {
    /// Binds `plain` addresses (TCP + UDP) and `tls` addresses (TCP).
    pub fn bind(plain: &[SocketAddr], tls: &[SocketAddr]) -> Result<Listeners, BindError> {
        let mut out = Listeners::default();
        for &addr in plain {
            let (tcp, udp) = bind_pair(addr)?;
            out.tcp.push(tcp);
            out.udp.push(udp);
        }
        for &addr in tls {
            out.tls.push(bind_tcp(addr).map_err(|source| BindError {
                proto: "tls",
                addr,
                source,
            })?);
        }
        Ok(out)
    }

    /// The addresses actually bound, as `(proto, address)`.
    pub fn local_addrs(&self) -> Vec<(&'static str, SocketAddr)> {
        let mut out = Vec::new();
        out.extend(
            self.tcp
                .iter()
                .filter_map(|l| Some(("tcp", l.local_addr().ok()?))),
        );
        out.extend(
            self.udp
                .iter()
                .filter_map(|s| Some(("udp", s.local_addr().ok()?))),
        );
        out.extend(
            self.tls
                .iter()
                .filter_map(|l| Some(("tls", l.local_addr().ok()?))),
        );
        out
    }
}

/// Binds TCP, then UDP on the port TCP got (port 0 picks one: retried a few
/// times in case UDP's side of that port is taken).
fn bind_pair(addr: SocketAddr) -> Result<(std::net::TcpListener, std::net::UdpSocket), BindError> {
    let tries = if addr.port() == 0 { 20 } else { 1 };
    let mut last = None;
    for _ in 0..tries {
        let tcp = bind_tcp(addr).map_err(|source| BindError {
            proto: "tcp",
            addr,
            source,
        })?;
        let mut udp_addr = addr;
        udp_addr.set_port(tcp.local_addr().map(|a| a.port()).unwrap_or(addr.port()));
        match bind_udp(udp_addr) {
            Ok(udp) => return Ok((tcp, udp)),
            Err(source) => {
                last = Some(BindError {
                    proto: "udp",
                    addr: udp_addr,
                    source,
                })
            }
        }
    }
    Err(last.expect("at least one try"))
}

fn socket_for(addr: SocketAddr, ty: Type, proto: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
    if addr.is_ipv6() {
        // `[::]` must not also take the IPv4 port that listen_ipv4 binds.
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_cloexec(true)?;
    Ok(socket)
}

fn bind_tcp(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = socket_for(addr, Type::STREAM, Protocol::TCP)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

fn bind_udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let socket = socket_for(addr, Type::DGRAM, Protocol::UDP)?;
    // Bursts of datagrams wait here while a batch is routed; the kernel
    // caps this at net.core.rmem_max.
    let _ = socket.set_recv_buffer_size(8 << 20);
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}
