//! Ingest: listeners that read frames from TCP, UDP and TLS peers and feed
//! them to the router.
//!
//! Sockets are bound here, before the runtime starts (and before privileges
//! are dropped); every plain address gets a TCP listener and a UDP socket on
//! the same port. `[::]` is dual-stack (takes IPv4 clients too, as it did
//! for the original) unless an IPv4 address is configured on its port.
pub mod ack;
pub mod framebuf;
pub mod limits;
pub mod reader;
pub mod rejects;
pub mod sessions;
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
    /// The Prometheus endpoint's listeners (`[metrics] listen`; see
    /// [`crate::metrics::http::bind`]).
    pub metrics: Vec<std::net::TcpListener>,
    /// The syslog sockets (bound separately: see `crate::syslog`).
    pub syslog: crate::syslog::SyslogListeners,
}

impl Listeners {
    /// Binds `plain` addresses (TCP + UDP) and `tls` addresses (TCP).
    pub fn bind(plain: &[SocketAddr], tls: &[SocketAddr]) -> Result<Listeners, BindError> {
        let v4_ports: Vec<u16> = plain
            .iter()
            .chain(tls)
            .filter(|a| a.is_ipv4())
            .map(SocketAddr::port)
            .collect();
        let mut out = Listeners::default();
        for &addr in plain {
            let (tcp, udp) = bind_pair(addr, dual_stack(addr, &v4_ports))?;
            out.tcp.push(tcp);
            out.udp.push(udp);
        }
        for &addr in tls {
            let dual = dual_stack(addr, &v4_ports);
            out.tls
                .push(bind_tcp(addr, dual).map_err(|source| BindError {
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
        out.extend(
            self.metrics
                .iter()
                .filter_map(|l| Some(("metrics", l.local_addr().ok()?))),
        );
        out
    }
}

/// Whether the socket for `addr` should take IPv4 clients as well: only the
/// IPv6 wildcard (`[::]`, `[::0]`), and only when no IPv4 address is
/// configured on the same port (plain or TLS), since then the IPv4 socket
/// must be able to bind beside it. Port 0 picks a fresh port, so it never
/// collides.
fn dual_stack(addr: SocketAddr, v4_ports: &[u16]) -> bool {
    match addr {
        SocketAddr::V6(a) => {
            a.ip().is_unspecified() && (a.port() == 0 || !v4_ports.contains(&a.port()))
        }
        SocketAddr::V4(_) => false,
    }
}

/// Binds TCP, then UDP on the port TCP got (port 0 picks one: retried a few
/// times in case UDP's side of that port is taken).
fn bind_pair(
    addr: SocketAddr,
    dual: bool,
) -> Result<(std::net::TcpListener, std::net::UdpSocket), BindError> {
    let tries = if addr.port() == 0 { 20 } else { 1 };
    let mut last = None;
    for _ in 0..tries {
        let tcp = bind_tcp(addr, dual).map_err(|source| BindError {
            proto: "tcp",
            addr,
            source,
        })?;
        let mut udp_addr = addr;
        udp_addr.set_port(tcp.local_addr().map(|a| a.port()).unwrap_or(addr.port()));
        match bind_udp(udp_addr, dual) {
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

fn socket_for(addr: SocketAddr, ty: Type, proto: Protocol, dual: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
    if addr.is_ipv6() {
        // Set either way: the system default (net.ipv6.bindv6only) varies.
        socket.set_only_v6(!dual)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_cloexec(true)?;
    Ok(socket)
}

fn bind_tcp(addr: SocketAddr, dual: bool) -> io::Result<std::net::TcpListener> {
    let socket = socket_for(addr, Type::STREAM, Protocol::TCP, dual)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

fn bind_udp(addr: SocketAddr, dual: bool) -> io::Result<std::net::UdpSocket> {
    let socket = socket_for(addr, Type::DGRAM, Protocol::UDP, dual)?;
    // Bursts of datagrams wait here while a batch is routed; the kernel
    // caps this at net.core.rmem_max.
    let _ = socket.set_recv_buffer_size(8 << 20);
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn only_the_ipv6_wildcard_without_an_ipv4_neighbour_is_dual_stack() {
        let none: &[u16] = &[];
        assert!(dual_stack(a("[::]:5566"), none));
        assert!(dual_stack(a("[::]:5566"), &[5577, 16655]));
        assert!(!dual_stack(a("[::]:5566"), &[5566]));
        // Port 0 gets a port of its own, so an IPv4 port 0 is no neighbour.
        assert!(dual_stack(a("[::]:0"), &[0]));
        assert!(!dual_stack(a("[::1]:5566"), none));
        assert!(!dual_stack(a("0.0.0.0:5566"), none));
    }

    #[test]
    fn a_dual_stack_wildcard_takes_ipv4_tcp_and_udp_clients() {
        let l = Listeners::bind(&[a("[::]:0")], &[]).expect("bind [::]");
        let port = l.tcp[0].local_addr().expect("addr").port();
        let v4 = SocketAddr::from(([127, 0, 0, 1], port));
        std::net::TcpStream::connect(v4).expect("IPv4 client accepted on [::]");
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
        sender.send_to(b"ping", v4).expect("send");
        l.udp[0].set_nonblocking(false).expect("blocking");
        l.udp[0]
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        let mut buf = [0u8; 8];
        let (n, _) = l.udp[0].recv_from(&mut buf).expect("IPv4 datagram on [::]");
        assert_eq!(&buf[..n], b"ping");
    }

    #[test]
    fn an_ipv4_listener_on_the_same_port_binds_beside_the_wildcard() {
        // Find a port free on both families, then ask for both on it.
        let probe = Listeners::bind(&[a("[::]:0")], &[]).expect("probe");
        let port = probe.tcp[0].local_addr().expect("addr").port();
        drop(probe);
        let both = [
            SocketAddr::from(([127, 0, 0, 1], port)),
            SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port)),
        ];
        let l = Listeners::bind(&both, &[]).expect("IPv4 and [::] on one port");
        assert_eq!(l.tcp.len(), 2);
        assert_eq!(l.udp.len(), 2);
    }
}
