//! The client handle: configuration ([`ClientBuilder`]), enqueueing
//! ([`Client::send`]) and bounded delivery ([`Client::flush`],
//! [`Client::close`]).
//!
//! `send` encodes the frame on the caller's thread into a thread-local
//! scratch buffer and copies it into the queue under a short lock; it never
//! touches the network. When the queue is full the oldest record is dropped
//! and counted, so a dead server costs memory bounded by `max_buffer_size`.
use std::cell::RefCell;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use loghog_proto::{HEADER_LEN, MacAlg, encode_frame};
use rustls::ClientConfig;

use crate::acked::AckSettings;
use crate::error::ClientError;
use crate::queue::Shared;
use crate::record::{Encoder, FrameEncoder, ReplayNonce, machine_hostname, now_stamp, random_id};
use crate::sender::Sender;
use crate::tls::tls_config;
use crate::transport::{Endpoint, Transport};

/// The default server port.
pub const DEFAULT_PORT: u16 = 5566;
/// The default bound on queued records.
pub const DEFAULT_MAX_BUFFER_SIZE: usize = 1024;

/// Builds a [`Client`] with the 0.7 client's options.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    app: String,
    host: String,
    port: u16,
    transport: Transport,
    secret: Option<Vec<u8>>,
    compression: bool,
    hostname: Option<String>,
    tls_files: Option<(std::path::PathBuf, std::path::PathBuf)>,
    tls_config: Option<Arc<ClientConfig>>,
    max_buffer_size: usize,
    print_debug: bool,
    connect_timeout: Duration,
    write_timeout: Duration,
    drop_timeout: Duration,
    ack: bool,
    ack_timeout: Duration,
    mac: MacAlg,
    replay_protection: bool,
}

/// The default wait for a server's answer to the acknowledgement hello
/// before falling back to v1.
pub const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(2);

impl ClientBuilder {
    /// A builder for application `app` (a section of the server's
    /// facilities.conf), with every other option at its default.
    pub fn new(app: impl Into<String>) -> Self {
        ClientBuilder {
            app: app.into(),
            host: "localhost".into(),
            port: DEFAULT_PORT,
            transport: Transport::Stream,
            secret: None,
            compression: false,
            hostname: None,
            tls_files: None,
            tls_config: None,
            max_buffer_size: DEFAULT_MAX_BUFFER_SIZE,
            print_debug: false,
            connect_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            drop_timeout: Duration::from_secs(2),
            ack: false,
            ack_timeout: DEFAULT_ACK_TIMEOUT,
            mac: MacAlg::Md5,
            replay_protection: false,
        }
    }

    /// Server host name or address (default `localhost`); every address it
    /// resolves to is tried, in random order.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// Server port (default 5566).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Stream (TCP, the default) or datagram (UDP).
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Shorthand for `transport(Transport::Datagram)` when `yes`.
    pub fn datagram(self, yes: bool) -> Self {
        self.transport(if yes {
            Transport::Datagram
        } else {
            Transport::Stream
        })
    }

    /// Signs every record with HMAC-MD5 under this secret.
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.secret = Some(secret.as_ref().to_vec());
        self
    }

    /// Which HMAC signs, with a secret: MD5 (the default, what v1 servers
    /// check) or SHA-256 (the message then says `"mac": "sha256"`; needs a
    /// server that knows it).
    pub fn signature(mut self, mac: MacAlg) -> Self {
        self.mac = mac;
        self
    }

    /// With a secret: adds to each signed record a nonce (random per
    /// client) and an increasing number under a signature of their own, so
    /// a server with `replay_protection = yes` refuses replays. A v1
    /// server ignores the extra fields.
    pub fn replay_protection(mut self, yes: bool) -> Self {
        self.replay_protection = yes;
        self
    }

    /// Compresses every payload with zlib.
    pub fn compression(mut self, yes: bool) -> Self {
        self.compression = yes;
        self
    }

    /// The `hostname` field (default: the machine's host name).
    pub fn hostname(mut self, hostname: impl Into<String>) -> Self {
        self.hostname = Some(hostname.into());
        self
    }

    /// TLS with a client PEM file (private key and certificate) and the CA
    /// certificate the server's chain must lead to. Read by `build`.
    pub fn tls(mut self, pem: impl AsRef<Path>, ca: impl AsRef<Path>) -> Self {
        self.tls_files = Some((pem.as_ref().to_path_buf(), ca.as_ref().to_path_buf()));
        self
    }

    /// TLS with a ready rustls configuration (overrides [`Self::tls`]).
    pub fn tls_config(mut self, config: Arc<ClientConfig>) -> Self {
        self.tls_config = Some(config);
        self
    }

    /// Most records held while the server is slow or away (default 1024);
    /// past it the oldest is dropped and counted. At least 1.
    pub fn max_buffer_size(mut self, records: usize) -> Self {
        self.max_buffer_size = records.max(1);
        self
    }

    /// Prints connection errors to stdout, as the 0.7 client's option did.
    pub fn print_debug(mut self, yes: bool) -> Self {
        self.print_debug = yes;
        self
    }

    /// Bound on connecting to one address, TLS handshake included (5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Bound on one blocked write before the connection is dropped and
    /// the batch re-sent on a new one (10 s).
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Acknowledged delivery (protocol v2, streams only): records are held
    /// until the server says they are written (or refused, with a reason),
    /// and resent after a reconnect; the server writes each once. `flush`
    /// and `close` then wait for acknowledgements. A server that does not
    /// answer (a v1 server) gets plain v1 after `ack_timeout`.
    pub fn ack(mut self, yes: bool) -> Self {
        self.ack = yes;
        self
    }

    /// How long a new connection waits for the server's answer to the
    /// acknowledgement hello before sending as v1 (2 s).
    pub fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.ack_timeout = timeout;
        self
    }

    /// How long dropping the client waits to deliver what is queued (2 s).
    pub fn drop_timeout(mut self, timeout: Duration) -> Self {
        self.drop_timeout = timeout;
        self
    }

    /// The endpoint this builder describes (loads the TLS files).
    pub fn endpoint(&self) -> Result<Endpoint, ClientError> {
        let wants_tls = self.tls_config.is_some() || self.tls_files.is_some();
        if wants_tls && self.transport == Transport::Datagram {
            return Err(ClientError::Options("TLS needs a stream, not datagrams"));
        }
        let tls = match (&self.tls_config, &self.tls_files) {
            (Some(config), _) => Some(config.clone()),
            (None, Some((pem, ca))) => Some(tls_config(pem, ca)?),
            (None, None) => None,
        };
        Ok(Endpoint {
            host: self.host.clone(),
            port: self.port,
            transport: self.transport,
            tls,
            connect_timeout: self.connect_timeout,
            write_timeout: self.write_timeout,
        })
    }

    /// A frame encoder with this builder's app, hostname, secret and
    /// compression.
    pub fn frame_encoder(&self) -> FrameEncoder {
        FrameEncoder {
            encoder: self.encoder(),
            scratch: Vec::new(),
        }
    }

    fn encoder(&self) -> Encoder {
        Encoder {
            app: self.app.clone(),
            hostname: self.hostname.clone().unwrap_or_else(machine_hostname),
            secret: self.secret.clone(),
            compress: self.compression,
            mac: self.mac,
            replay: self
                .replay_protection
                .then(|| Arc::new(ReplayNonce::random())),
        }
    }

    /// Loads the TLS files and starts the sender thread. Does not connect:
    /// the first record does.
    pub fn build(self) -> Result<Client, ClientError> {
        let endpoint = self.endpoint()?;
        if self.ack && endpoint.transport == Transport::Datagram {
            return Err(ClientError::Options(
                "acknowledgements need a stream, not datagrams",
            ));
        }
        let shared = Arc::new(Shared::default());
        let sender = Sender {
            shared: shared.clone(),
            endpoint: endpoint.clone(),
            max_records: self.max_buffer_size,
            print_debug: self.print_debug,
            ack: self.ack.then(|| AckSettings {
                session: random_id().to_le_bytes(),
                timeout: self.ack_timeout,
            }),
        };
        let thread = std::thread::Builder::new()
            .name("loghog-sender".into())
            .spawn(move || sender.run())
            .map_err(ClientError::Spawn)?;
        Ok(Client {
            shared,
            encoder: self.encoder(),
            endpoint,
            max_records: self.max_buffer_size,
            drop_timeout: self.drop_timeout,
            thread: Mutex::new(Some(thread)),
        })
    }
}

/// A LogHog client: cheap to share (`Arc<Client>`), safe from any thread.
///
/// Delivery is at least once as far as the client can tell: a batch whose
/// write fails is re-sent whole on the next connection, so the server may
/// see a record twice (if the kernel had accepted part of the batch), but
/// the client never forgets a queued record except by overflow (counted in
/// [`Client::dropped`]). Before each write on a stream the sender checks
/// whether the server closed the connection, so a graceful server restart
/// loses nothing.
///
/// Dropping it delivers what is queued within the drop timeout (2 s by
/// default); call [`Client::close`] for a bound of your choice.
#[derive(Debug)]
pub struct Client {
    shared: Arc<Shared>,
    encoder: Encoder,
    endpoint: Endpoint,
    max_records: usize,
    drop_timeout: Duration,
    thread: Mutex<Option<JoinHandle<()>>>,
}

thread_local! {
    /// JSON scratch space, reused by every `send` on this thread.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Client {
    /// Starts building a client for application `app`.
    pub fn builder(app: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(app)
    }

    /// Queues a record stamped now. Never waits on the network.
    pub fn send(&self, module: &str, body: &str) {
        let (stamp, nsecs) = now_stamp();
        self.send_at(module, body, stamp, nsecs);
    }

    /// Queues a record with the given creation time (seconds since the
    /// epoch and nanoseconds within the second). Never waits on the
    /// network; if the queue is full the oldest record is dropped.
    pub fn send_at(&self, module: &str, body: &str, stamp: i64, nsecs: i64) {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => self.enqueue(module, body, stamp, nsecs, &mut scratch),
            // Only reachable if encoding re-entered send on this thread.
            Err(_) => self.enqueue(module, body, stamp, nsecs, &mut Vec::new()),
        });
    }

    fn enqueue(&self, module: &str, body: &str, stamp: i64, nsecs: i64, json: &mut Vec<u8>) {
        let flags = self.encoder.payload(module, body, stamp, nsecs, json);
        if u32::try_from(json.len()).is_err() {
            // No frame can carry it; count it rather than panic in a logger.
            let mut st = self.shared.lock();
            st.enqueued += 1;
            st.removed += 1;
            st.dropped += 1;
            return;
        }
        let mut st = self.shared.lock();
        st.enqueued += 1;
        if st.closing {
            st.removed += 1;
            st.dropped += 1;
            return;
        }
        st.queue.push_with(|out| encode_frame(json, flags, out));
        st.trim_to(self.max_records);
        if st.sender_waiting {
            // Only when the sender sleeps: a notify is a syscall.
            st.sender_waiting = false;
            self.shared.wake_sender.notify_one();
        }
        // Keep the scratch buffer from pinning a huge record's memory.
        if json.capacity() > 1 << 20 {
            *json = Vec::new();
        }
    }

    /// Queues frames encoded elsewhere (by a [`FrameEncoder`] with the same
    /// options, say), each as one record, oldest first, exactly as given.
    /// `frames` must be whole frames back to back: otherwise nothing is
    /// queued and the error says why, because a partial frame on a stream
    /// would corrupt every record after it. Returns how many were queued.
    /// Never waits on the network.
    pub fn send_frames(&self, frames: &[u8]) -> Result<usize, ClientError> {
        let lens = split_frames(frames)?;
        let mut st = self.shared.lock();
        let count = lens.len();
        st.enqueued += count as u64;
        if st.closing {
            st.removed += count as u64;
            st.dropped += count as u64;
            return Ok(count);
        }
        let mut at = 0;
        for len in lens {
            st.queue
                .push_with(|out| out.extend_from_slice(&frames[at..at + len]));
            at += len;
        }
        st.trim_to(self.max_records);
        if count > 0 && st.sender_waiting {
            st.sender_waiting = false;
            self.shared.wake_sender.notify_one();
        }
        Ok(count)
    }

    /// Copies of the frames queued and not yet handed to the socket, oldest
    /// first (the batch being written at this moment is not among them).
    pub fn queued_frames(&self) -> Vec<Vec<u8>> {
        self.shared
            .lock()
            .queue
            .frames()
            .map(<[u8]>::to_vec)
            .collect()
    }

    /// Records dropped so far: oldest ones pushed out of a full buffer, and
    /// ones sent after `close`.
    pub fn dropped(&self) -> u64 {
        self.shared.lock().dropped
    }

    /// Records written to a socket so far; with [`ClientBuilder::ack`],
    /// records the server acknowledged as written.
    pub fn delivered(&self) -> u64 {
        self.shared.lock().delivered
    }

    /// With [`ClientBuilder::ack`]: records the server refused, and the
    /// reason it gave for the last one (`unknown_app`, `bad_signature`...).
    pub fn rejected(&self) -> (u64, Option<String>) {
        let st = self.shared.lock();
        (st.rejected, st.last_rejection.clone())
    }

    /// Records queued or being written.
    pub fn pending(&self) -> u64 {
        self.shared.lock().pending()
    }

    /// The last connection or write error the sender saw.
    pub fn last_error(&self) -> Option<String> {
        self.shared.lock().last_error.clone()
    }

    /// Where this client sends.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Waits until every record queued before this call was written to the
    /// socket (or dropped), at most `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<(), ClientError> {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        let target = st.enqueued;
        while st.removed < target {
            if st.exited {
                return Err(ClientError::Closed);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ClientError::Timeout {
                    pending: target - st.removed,
                    timeout,
                    last_error: st.last_error.clone(),
                });
            }
            st = self
                .shared
                .progress
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Ok(())
    }

    /// Delivers what is queued within `timeout`, then stops the sender.
    /// Records sent after `close` are dropped and counted. If the time runs
    /// out the sender is told to give up and is not waited for.
    pub fn close(&self, timeout: Duration) -> Result<(), ClientError> {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        st.closing = true;
        self.shared.wake_sender.notify_all();
        while !st.exited {
            let now = Instant::now();
            if now >= deadline {
                st.abandon = true;
                self.shared.wake_sender.notify_all();
                let err = ClientError::Timeout {
                    pending: st.pending(),
                    timeout,
                    last_error: st.last_error.clone(),
                };
                // Whatever is left will never be sent (or never be
                // acknowledged): given up, counted as dropped.
                let left = (st.queue.len() + st.unacked.len()) as u64;
                st.queue.clear();
                st.unacked.clear();
                st.dropped += left;
                st.removed += left;
                return Err(err);
            }
            st = self
                .shared
                .progress
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(st);
        if let Some(thread) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            // It has exited (or is about to return): joining is immediate.
            let _ = thread.join();
        }
        Ok(())
    }
}

/// The length of each whole frame in `bytes`, header included.
fn split_frames(bytes: &[u8]) -> Result<Vec<usize>, ClientError> {
    let mut lens = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let Some(header) = rest.get(..HEADER_LEN) else {
            return Err(ClientError::Frames(format!(
                "{} bytes after frame {} are less than a header ({HEADER_LEN} bytes)",
                rest.len(),
                lens.len()
            )));
        };
        let payload = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let len = HEADER_LEN + payload;
        if rest.len() < len {
            return Err(ClientError::Frames(format!(
                "frame {} declares {payload} payload bytes but only {} follow",
                lens.len(),
                rest.len() - HEADER_LEN
            )));
        }
        lens.push(len);
        rest = &rest[len..];
    }
    Ok(lens)
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.close(self.drop_timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn client_is_send_and_sync() {
        assert_send_sync::<Client>();
    }

    #[test]
    fn split_frames_takes_only_whole_frames() {
        let mut bytes = Vec::new();
        encode_frame(b"{}", 0, &mut bytes);
        encode_frame(b"abc", 1, &mut bytes);
        assert_eq!(split_frames(&bytes).unwrap(), vec![10, 11]);
        assert_eq!(split_frames(b"").unwrap(), Vec::<usize>::new());
        let err = split_frames(&bytes[..bytes.len() - 1]).unwrap_err();
        assert!(err.to_string().contains("frame 1 declares 3"), "{err}");
        let err = split_frames(&bytes[..13]).unwrap_err();
        assert!(err.to_string().contains("less than a header"), "{err}");
    }
}
