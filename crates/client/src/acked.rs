//! The sender's acknowledged mode (protocol v2): records stay in the client
//! until the server says they are written or refused, and are resent, with
//! their sequence numbers, on the next connection.
//!
//! Each connection opens with a hello naming the client's session and the
//! number of the oldest unacknowledged record. With nothing to resend,
//! records follow at once (no round trip); with records to resend, the
//! client first waits for the welcome, which says which of them the server
//! already wrote, and resends only the others. A server that does not
//! welcome the hello within `ack_timeout` is a v1 server: what was written
//! to it counts as delivered, and the connection goes on as v1.
use std::time::{Duration, Instant};

use loghog_proto::v2::{Hello, ServerControl, SessionId, take_server_frames};

use crate::queue::{FrameQueue, State};
use crate::sender::{INITIAL_BACKOFF, MAX_BACKOFF, Sender};
use crate::transport::Connection;

/// How long the sender waits for an acknowledgement in one go before it
/// looks at its queue again (new records, close).
const ACK_POLL: Duration = Duration::from_millis(10);
/// Records resent per write, so acknowledgements are read in between.
const RESEND_CHUNK: usize = 256;
/// After this many connections in a row closed by the server before it
/// answered the hello (a v1 server that drops connections on a frame it
/// does not know, say), the next one is plain v1 without a hello, so
/// records still get through; the one after tries the hello again.
const UNANSWERED_BEFORE_V1: u32 = 2;

/// What acknowledged delivery needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AckSettings {
    /// The client's session, random per client.
    pub(crate) session: SessionId,
    /// How long to wait for the server's welcome before falling back to v1.
    pub(crate) timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Hello sent; records written since are unacknowledged.
    AwaitWelcome { deadline: Instant },
    /// Welcomed: the server acknowledges.
    Acked,
    /// The server never answered: plain v1 on this connection.
    V1,
}

struct Live {
    conn: Connection,
    mode: Mode,
    inbox: Vec<u8>,
    /// How many of the unacknowledged records (from the oldest) have been
    /// written on this connection.
    resent: usize,
    /// Whether the server answered anything (a connection that dies before
    /// is worth a back-off).
    answered: bool,
}

impl Sender {
    /// The thread's body in acknowledged mode; returns when the client
    /// closes (everything acknowledged) or close gives up.
    pub(crate) fn run_acked(&self, ack: AckSettings) {
        let mut live: Option<Live> = None;
        let mut batch = FrameQueue::default();
        let mut backoff = INITIAL_BACKOFF;
        let mut unanswered = 0;
        while self.wait_for_work() {
            let Some(current) = live.as_mut() else {
                let hello = unanswered < UNANSWERED_BEFORE_V1;
                if !hello {
                    unanswered = 0;
                }
                match self.connect(&ack, hello) {
                    Ok(l) => live = Some(l),
                    Err((e, opened)) => {
                        if opened {
                            unanswered += 1;
                        }
                        self.report(&format!("connect to {}: {e}", self.endpoint.display_addr()));
                        if !self.sleep(backoff) {
                            break;
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
                continue;
            };
            let result = match current.mode {
                Mode::V1 => self.send_v1(current, &mut batch),
                _ => self.send_acked(current),
            };
            if let Err(e) = result {
                // Acknowledgements the server sent before the connection
                // broke are still in the socket: records they cover need
                // no resend (after a crash, they would be written twice).
                if current.mode != Mode::V1 {
                    let _ = self.receive(current, Duration::ZERO);
                }
                self.report(&format!("{}: {e}", self.endpoint.display_addr()));
                let fresh = !current.answered;
                if fresh && current.mode != Mode::V1 {
                    unanswered += 1;
                }
                if let Some(mut l) = live.take() {
                    l.conn.shutdown();
                }
                if fresh {
                    if !self.sleep(backoff) {
                        break;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                continue;
            }
            if current.answered {
                backoff = INITIAL_BACKOFF;
                if current.mode != Mode::V1 {
                    unanswered = 0;
                }
            }
        }
        if let Some(mut l) = live {
            l.conn.shutdown();
        }
    }

    /// Waits until there is something to send or acknowledgements to wait
    /// for; false when the sender should exit.
    fn wait_for_work(&self) -> bool {
        let mut st = self.shared.lock();
        loop {
            if st.abandon {
                return false;
            }
            if !st.queue.is_empty() || !st.unacked.is_empty() {
                return true;
            }
            if st.closing {
                return false;
            }
            st.sender_waiting = true;
            st = self
                .shared
                .wake_sender
                .wait(st)
                .unwrap_or_else(|e| e.into_inner());
            st.sender_waiting = false;
        }
    }

    /// Connects and says hello; with records to resend, waits for the
    /// welcome (or the fall-back) first. Without `hello`, the connection is
    /// plain v1 from the start. The error says whether the connection was
    /// opened (then the server closed it without answering).
    fn connect(&self, ack: &AckSettings, hello: bool) -> Result<Live, (std::io::Error, bool)> {
        let conn = Connection::open(&self.endpoint).map_err(|e| (e, false))?;
        if !hello {
            self.to_v1(&mut self.shared.lock());
            return Ok(Live {
                conn,
                mode: Mode::V1,
                inbox: Vec::new(),
                resent: 0,
                answered: false,
            });
        }
        self.hello(conn, ack).map_err(|e| (e, true))
    }

    fn hello(&self, mut conn: Connection, ack: &AckSettings) -> std::io::Result<Live> {
        let mut out = Vec::new();
        let resending = {
            let st = self.shared.lock();
            Hello {
                session: ack.session,
                seq: st.unacked_seq,
            }
            .encode(&mut out);
            !st.unacked.is_empty()
        };
        conn.write_stream(&out)?;
        let deadline = Instant::now() + ack.timeout;
        let mut live = Live {
            conn,
            mode: Mode::AwaitWelcome { deadline },
            inbox: Vec::new(),
            resent: 0,
            answered: false,
        };
        while resending && live.mode != Mode::Acked {
            let now = Instant::now();
            if now >= deadline {
                // A v1 server: the records are sent again as v1.
                live.mode = Mode::V1;
                self.to_v1(&mut self.shared.lock());
                break;
            }
            self.receive(&mut live, deadline - now)?;
        }
        Ok(live)
    }

    /// Unacknowledged records go back to the queue, to be sent as v1;
    /// their numbers are used up.
    fn to_v1(&self, st: &mut State) {
        st.unacked_seq += st.unacked.len() as u64;
        st.queue.put_back_front(&mut st.unacked);
    }

    /// Reads what the server sent (waiting at most `wait`) and applies it.
    /// Acknowledgements that arrived before the end of the stream (or an
    /// error) are applied all the same.
    fn receive(&self, live: &mut Live, wait: Duration) -> std::io::Result<()> {
        let read = live.conn.read_into(&mut live.inbox, wait);
        let frames = take_server_frames(&mut live.inbox)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        for frame in frames {
            live.answered = true;
            self.apply(live, frame)?;
        }
        read.map(drop)
    }

    /// One step on a v2 connection (or one awaiting its welcome): send what
    /// is queued while fewer than `max_records` wait for their ack, then
    /// read acknowledgements (waiting briefly when there is nothing to send).
    fn send_acked(&self, live: &mut Live) -> std::io::Result<()> {
        // Records become unacknowledged before they are written, so that a
        // write that blocks or fails never hides them from the counts (and
        // from `close`): what is not written here is resent next time.
        let (bytes, n) = {
            let mut st = self.shared.lock();
            let st = &mut *st;
            let resending = live.resent < st.unacked.len();
            if !resending {
                let room = self.max_records.saturating_sub(st.unacked.len());
                st.queue.move_front_into(room, &mut st.unacked);
            }
            let limit = if resending { RESEND_CHUNK } else { usize::MAX };
            let (bytes, n) = st.unacked.slice(live.resent, limit);
            (bytes.to_vec(), n)
        };
        if n > 0 {
            live.conn.write_stream(&bytes)?;
            live.resent += n;
        }
        let more_to_send = {
            let st = self.shared.lock();
            live.resent < st.unacked.len()
                || (!st.queue.is_empty() && st.unacked.len() < self.max_records)
        };
        let mut wait = if more_to_send {
            Duration::ZERO
        } else {
            ACK_POLL
        };
        if let Mode::AwaitWelcome { deadline } = live.mode {
            let now = Instant::now();
            if now >= deadline {
                self.fall_back(live);
                return Ok(());
            }
            wait = wait.min(deadline - now);
        }
        self.receive(live, wait)
    }

    /// What the server said.
    fn apply(&self, live: &mut Live, frame: ServerControl) -> std::io::Result<()> {
        let mut st = self.shared.lock();
        match frame {
            ServerControl::Welcome { resume, .. } => {
                if live.mode == Mode::Acked {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "a second welcome",
                    ));
                }
                live.mode = Mode::Acked;
                // The server numbers the data frames after the hello from
                // `resume`. Before anything is sent on this connection,
                // records below it were written on an earlier one: done.
                // Records already sent (pipelined, nothing to resend) are
                // numbered by the server from `resume`: renumber them.
                if live.resent == 0 {
                    let done = resume.saturating_sub(st.unacked_seq);
                    settle(&mut st, done, &[]);
                }
                st.unacked_seq = resume;
            }
            ServerControl::Ack { upto, rejected } => {
                if live.mode != Mode::Acked {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "an acknowledgement before the welcome",
                    ));
                }
                let done = upto.saturating_sub(st.unacked_seq);
                live.resent = live.resent.saturating_sub(settle(&mut st, done, &rejected));
            }
        }
        drop(st);
        self.shared.progress.notify_all();
        Ok(())
    }

    /// The server did not answer the hello in time: a v1 server, which
    /// writes what it reads. What went out counts as delivered.
    fn fall_back(&self, live: &mut Live) {
        live.mode = Mode::V1;
        let mut st = self.shared.lock();
        let n = st.unacked.len() as u64;
        settle(&mut st, n, &[]);
        live.resent = 0;
        st.last_error = Some(format!(
            "{} did not answer the acknowledgement hello: sending as v1",
            self.endpoint.display_addr()
        ));
        drop(st);
        self.shared.progress.notify_all();
    }

    /// Plain v1 after a fall-back: write, count as delivered; on error the
    /// batch goes back to the front of the queue.
    fn send_v1(&self, live: &mut Live, batch: &mut FrameQueue) -> std::io::Result<()> {
        live.answered = true;
        live.conn.check_open()?;
        batch.clear();
        self.shared.lock().queue.take_into(batch);
        let written = live.conn.write_stream(batch.bytes());
        let mut st = self.shared.lock();
        match written {
            Ok(()) => {
                let n = batch.len() as u64;
                batch.clear();
                st.removed += n;
                st.delivered += n;
                drop(st);
                self.shared.progress.notify_all();
                Ok(())
            }
            Err(e) => {
                st.queue.put_back_front(batch);
                st.trim_to(self.max_records);
                Err(e)
            }
        }
    }
}

/// The first `n` unacknowledged records are done; `rejected` lists the
/// refused ones among them with the server's reason. Returns how many went.
fn settle(st: &mut State, n: u64, rejected: &[(u64, String)]) -> usize {
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    let first = st.unacked_seq;
    let gone = st.unacked.remove_front(n) as u64;
    st.unacked_seq += gone;
    let refused = rejected
        .iter()
        .filter(|(seq, _)| *seq >= first && *seq < first + gone)
        .count() as u64;
    if let Some((_, reason)) = rejected.last() {
        st.last_rejection = Some(reason.clone());
    }
    st.removed += gone;
    st.delivered += gone - refused;
    st.rejected += refused;
    gone as usize
}
