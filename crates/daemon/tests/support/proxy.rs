//! A real TCP proxy between a client and the daemon, for tests of delivery
//! across broken connections and restarts: it forwards both ways, can be
//! pointed at a restarted daemon's new port, and can cut connections (both
//! sides shut down) at once or after a random number of bytes.
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A running proxy; stops accepting when dropped.
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

struct Shared {
    target: Mutex<SocketAddr>,
    open: Mutex<Vec<TcpStream>>,
    /// Connections still to cut at a random point (client bytes in
    /// 1..=`cut_max`), counted down.
    cuts_left: AtomicUsize,
    cut_max: AtomicUsize,
    cuts_done: AtomicUsize,
    stop: AtomicBool,
}

impl Proxy {
    /// Starts forwarding 127.0.0.1:(any port) to `target`.
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            target: Mutex::new(target),
            open: Mutex::default(),
            cuts_left: AtomicUsize::new(0),
            cut_max: AtomicUsize::new(0),
            cuts_done: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let target = *s.target.lock().unwrap();
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let limit = if s
                    .cuts_left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    Some(fastrand::usize(1..=s.cut_max.load(Ordering::SeqCst).max(1)))
                } else {
                    None
                };
                {
                    let mut open = s.open.lock().unwrap();
                    open.push(client.try_clone().unwrap());
                    open.push(server.try_clone().unwrap());
                }
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let shared = s.clone();
                std::thread::spawn(move || pump(client, server, limit, &shared));
                std::thread::spawn(move || pump(s2, c2, None, &Shared::dummy()));
            }
        });
        Proxy { addr, shared }
    }

    /// New connections go to `target` (a restarted daemon).
    pub fn set_target(&self, target: SocketAddr) {
        *self.shared.target.lock().unwrap() = target;
    }

    /// Cuts every open connection now, both sides.
    pub fn cut_all(&self) {
        for s in self.shared.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// The next `n` connections are each cut after a random number of
    /// bytes from the client, between 1 and `max_bytes`: mid-frame, most
    /// of the time.
    pub fn cut_next_randomly(&self, n: usize, max_bytes: usize) {
        self.shared.cut_max.store(max_bytes, Ordering::SeqCst);
        self.shared.cuts_left.store(n, Ordering::SeqCst);
    }

    /// Connections cut at a random point so far.
    pub fn cuts_done(&self) -> usize {
        self.shared.cuts_done.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        self.cut_all();
    }
}

impl Shared {
    fn dummy() -> Shared {
        Shared {
            target: Mutex::new(([127, 0, 0, 1], 0).into()),
            open: Mutex::default(),
            cuts_left: AtomicUsize::new(0),
            cut_max: AtomicUsize::new(0),
            cuts_done: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        }
    }
}

/// Copies `from` to `to` until either ends; with a limit, forwards that
/// many bytes and then cuts both sockets.
fn pump(mut from: TcpStream, mut to: TcpStream, limit: Option<usize>, shared: &Shared) {
    let mut buf = [0u8; 16 * 1024];
    let mut passed = 0usize;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let n_ok = limit.map_or(n, |l| n.min(l - passed));
        if to.write_all(&buf[..n_ok]).is_err() {
            break;
        }
        passed += n_ok;
        if limit.is_some_and(|l| passed >= l) {
            shared.cuts_done.fetch_add(1, Ordering::SeqCst);
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
            return;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
