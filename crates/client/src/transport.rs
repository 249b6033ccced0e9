//! Connections to a LogHog server: TCP, TLS over TCP, or UDP.
//!
//! Every address the host resolves to is tried, in random order, so clients
//! spread over a server's addresses and fail over when one is down. Stream
//! connections are checked for a server-side close before each write (v1
//! servers never write, so any byte read is discarded): writing into a
//! closed connection would "succeed" and lose the records.
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

/// How records travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// TCP (or TLS over TCP): frames back to back on one connection.
    #[default]
    Stream,
    /// UDP: one frame per datagram; nothing tells the client of a loss.
    Datagram,
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Host name or address; every address it resolves to is tried.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Stream or datagram.
    pub transport: Transport,
    /// TLS client configuration, for streams only.
    pub tls: Option<Arc<ClientConfig>>,
    /// Bound on connecting to one address (and on the TLS handshake).
    pub connect_timeout: Duration,
    /// Bound on one blocked write before the connection counts as failed.
    pub write_timeout: Duration,
}

impl Endpoint {
    /// A plain TCP endpoint with default timeouts (5 s connect, 10 s write).
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Endpoint {
            host: host.into(),
            port,
            transport: Transport::Stream,
            tls: None,
            connect_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
        }
    }

    /// `host:port` for messages.
    pub fn display_addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        let mut addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| io::Error::new(e.kind(), format!("resolve {}: {e}", self.host)))?
            .collect();
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} resolves to no address", self.host),
            ));
        }
        fastrand::shuffle(&mut addrs);
        Ok(addrs)
    }
}

/// An open connection.
#[derive(Debug)]
pub enum Connection {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS over TCP.
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
    /// A connected UDP socket.
    Udp(UdpSocket),
}

impl Connection {
    /// Connects to the first address of `endpoint` (in random order) that
    /// answers, finishing the TLS handshake when configured.
    pub fn open(endpoint: &Endpoint) -> io::Result<Connection> {
        open_any(endpoint, endpoint.resolve()?)
    }

    /// Whether frames go one per datagram.
    pub fn is_datagram(&self) -> bool {
        matches!(self, Connection::Udp(_))
    }

    /// Fails if the server has closed (or reset) a stream connection; bytes
    /// the server sent are read without blocking and discarded.
    pub fn check_open(&mut self) -> io::Result<()> {
        match self {
            Connection::Udp(_) => Ok(()),
            Connection::Tcp(sock) => {
                sock.set_nonblocking(true)?;
                let result = drain_tcp(sock);
                sock.set_nonblocking(false)?;
                result
            }
            Connection::Tls(stream) => {
                stream.sock.set_nonblocking(true)?;
                let result = drain_tls(stream);
                stream.sock.set_nonblocking(false)?;
                result
            }
        }
    }

    /// Appends to `into` what the server has sent, waiting at most `wait`
    /// for the first bytes (zero: not at all); returns how many arrived.
    /// The end of the stream is an `UnexpectedEof` error. For v2
    /// connections, whose server writes acknowledgements.
    pub fn read_into(&mut self, into: &mut Vec<u8>, wait: Duration) -> io::Result<usize> {
        let mut scratch = [0u8; 4096];
        let mut total = 0;
        let mut first = true;
        for _ in 0..MAX_DRAIN_READS {
            let blocking = first && !wait.is_zero();
            first = false;
            let result = match self {
                Connection::Udp(_) => return Ok(0),
                Connection::Tcp(sock) => {
                    set_wait(sock, blocking, wait)?;
                    let r = sock.read(&mut scratch);
                    sock.set_read_timeout(None)?;
                    sock.set_nonblocking(false)?;
                    r
                }
                Connection::Tls(stream) => {
                    set_wait(&stream.sock, blocking, wait)?;
                    let r = stream.read(&mut scratch);
                    stream.sock.set_read_timeout(None)?;
                    stream.sock.set_nonblocking(false)?;
                    r
                }
            };
            match result {
                Ok(0) => return Err(closed()),
                Ok(n) => {
                    into.extend_from_slice(&scratch[..n]);
                    total += n;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(total);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }

    /// Writes `bytes` whole on a stream connection (and flushes TLS).
    pub fn write_stream(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Connection::Tcp(sock) => sock.write_all(bytes),
            Connection::Tls(stream) => {
                stream.write_all(bytes)?;
                stream.flush()
            }
            Connection::Udp(sock) => sock.send(bytes).map(drop),
        }
    }

    /// Sends one frame as one datagram (or writes it on a stream).
    pub fn send_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        match self {
            Connection::Udp(sock) => {
                let n = sock.send(frame)?;
                if n != frame.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        format!("datagram cut to {n} of {} bytes", frame.len()),
                    ));
                }
                Ok(())
            }
            _ => self.write_stream(frame),
        }
    }

    /// Ends the connection politely: TLS close_notify, TCP FIN.
    pub fn shutdown(&mut self) {
        match self {
            Connection::Tcp(sock) => {
                let _ = sock.shutdown(Shutdown::Write);
            }
            Connection::Tls(stream) => {
                stream.conn.send_close_notify();
                let _ = stream.conn.complete_io(&mut stream.sock);
                let _ = stream.sock.shutdown(Shutdown::Write);
            }
            Connection::Udp(_) => {}
        }
    }
}

/// Tries `addrs` in the order given; the first that connects wins.
fn open_any(endpoint: &Endpoint, addrs: Vec<SocketAddr>) -> io::Result<Connection> {
    let mut last = None;
    for addr in addrs {
        let attempt = match endpoint.transport {
            Transport::Datagram => open_udp(addr).map(Connection::Udp),
            Transport::Stream => open_stream(endpoint, addr),
        };
        match attempt {
            Ok(conn) => return Ok(conn),
            Err(e) => last = Some(io::Error::new(e.kind(), format!("{addr}: {e}"))),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no address to connect to")))
}

fn open_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let sock = UdpSocket::bind(local)?;
    sock.connect(addr)?;
    Ok(sock)
}

fn open_stream(endpoint: &Endpoint, addr: SocketAddr) -> io::Result<Connection> {
    let mut sock = TcpStream::connect_timeout(&addr, endpoint.connect_timeout)?;
    let _ = sock.set_nodelay(true);
    sock.set_write_timeout(Some(endpoint.write_timeout))?;
    let Some(config) = &endpoint.tls else {
        return Ok(Connection::Tcp(sock));
    };
    // The name is only used for SNI: the verifier ignores name mismatches.
    let name = ServerName::try_from(endpoint.host.clone())
        .or_else(|_| ServerName::try_from("loghog".to_string()))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut conn = ClientConnection::new(config.clone(), name).map_err(io::Error::other)?;
    sock.set_read_timeout(Some(endpoint.connect_timeout))?;
    let old_write = sock.write_timeout()?;
    sock.set_write_timeout(Some(endpoint.connect_timeout))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)
            .map_err(|e| io::Error::new(e.kind(), format!("TLS handshake: {e}")))?;
    }
    sock.set_read_timeout(None)?;
    sock.set_write_timeout(old_write)?;
    Ok(Connection::Tls(Box::new(StreamOwned::new(conn, sock))))
}

/// Blocking with a read timeout of `wait`, or non-blocking.
fn set_wait(sock: &TcpStream, blocking: bool, wait: Duration) -> io::Result<()> {
    if blocking {
        sock.set_nonblocking(false)?;
        sock.set_read_timeout(Some(wait))
    } else {
        sock.set_read_timeout(None)?;
        sock.set_nonblocking(true)
    }
}

/// Reads are bounded so that a server that writes without end cannot keep
/// the sender from sending.
const MAX_DRAIN_READS: usize = 64;

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "server closed the connection")
}

fn drain_tcp(sock: &mut TcpStream) -> io::Result<()> {
    let mut scratch = [0u8; 1024];
    for _ in 0..MAX_DRAIN_READS {
        match sock.read(&mut scratch) {
            Ok(0) => return Err(closed()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn drain_tls(stream: &mut StreamOwned<ClientConnection, TcpStream>) -> io::Result<()> {
    let mut scratch = [0u8; 1024];
    for _ in 0..MAX_DRAIN_READS {
        match stream.conn.read_tls(&mut stream.sock) {
            Ok(0) => return Err(closed()),
            Ok(_) => {
                // Post-handshake messages (session tickets) land here.
                stream
                    .conn
                    .process_new_packets()
                    .map_err(io::Error::other)?;
                loop {
                    match stream.conn.reader().read(&mut scratch) {
                        Ok(0) => return Err(closed()),
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn fails_over_to_an_address_that_answers() {
        let up = TcpListener::bind("127.0.0.1:0").unwrap();
        let down = TcpListener::bind("127.0.0.1:0").unwrap();
        let down_addr = down.local_addr().unwrap();
        drop(down);
        let endpoint = Endpoint::new("127.0.0.1", 0);
        for _ in 0..10 {
            let mut addrs = vec![down_addr, up.local_addr().unwrap()];
            fastrand::shuffle(&mut addrs);
            let conn = open_any(&endpoint, addrs).unwrap();
            let Connection::Tcp(sock) = conn else {
                panic!("not TCP")
            };
            assert_eq!(sock.peer_addr().unwrap(), up.local_addr().unwrap());
        }
        let err = open_any(&endpoint, vec![down_addr]).unwrap_err();
        assert!(err.to_string().contains(&down_addr.to_string()), "{err}");
    }

    #[test]
    fn a_closed_connection_is_noticed_before_writing() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = Endpoint::new("127.0.0.1", listener.local_addr().unwrap().port());
        let mut conn = Connection::open(&endpoint).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        // Bytes from a server are discarded; the connection is still open.
        server.write_all(b"ignored").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        conn.check_open().unwrap();
        drop(server);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while conn.check_open().is_ok() {
            assert!(std::time::Instant::now() < deadline, "close not noticed");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}
