//! Acknowledged delivery (protocol v2) on one stream connection: the hello,
//! the numbering of data frames, and one cumulative ack per write round.
//!
//! A connection is v1 (the server never writes to it) until its first frame
//! is a valid hello; only then does the server write, and only control
//! frames. [`may_acknowledge`] is the single point that decides when a
//! round's records are safe to acknowledge.
use std::sync::Arc;
use std::time::Duration;

use loghog_proto::v2::{ControlError, Hello, ServerControl};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::sessions::{Claim, Sessions};
use crate::router::Committed;

/// A control frame that cannot be written within this time (the client
/// does not read) ends the connection; its records are resent by the
/// client and skipped as duplicates.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The v2 state of a connection that opted in.
pub struct Acks {
    claim: Claim,
    /// Sequence number of the next data frame.
    next: u64,
    /// `next` when the current round began.
    round_start: u64,
    rejected: Vec<(u64, String)>,
}

/// Why a hello did not open a v2 exchange.
pub enum Refused {
    /// The hello itself is malformed (reported with this reason).
    Bad(ControlError),
    /// The daemon stopped while waiting for the session.
    Stopping,
}

impl Acks {
    /// Reads a hello and takes its session, waiting (until `cancelled`) for
    /// an older connection of the same session to finish its round.
    pub async fn open(
        payload: &[u8],
        sessions: &Arc<Sessions>,
        cancelled: impl Future<Output = ()>,
    ) -> Result<(Acks, ServerControl), Refused> {
        let hello = Hello::parse(payload).map_err(Refused::Bad)?;
        let claim = sessions
            .claim(hello.session, cancelled)
            .await
            .ok_or(Refused::Stopping)?;
        let resume = claim.written().max(hello.seq);
        claim.set_written(resume);
        let welcome = ServerControl::Welcome {
            session: hello.session,
            resume,
        };
        Ok((
            Acks {
                claim,
                // The client sends the records from `resume` on: it waits
                // for the welcome when it has records to resend, and with
                // none, `resume` is its own next number. So a record
                // written before is never sent again: that is how a resend
                // is written once.
                next: resume,
                round_start: resume,
                rejected: Vec::new(),
            },
            welcome,
        ))
    }

    /// Numbers the next data frame.
    pub fn number(&mut self) -> u64 {
        let seq = self.next;
        self.next += 1;
        seq
    }

    /// Records that frame `seq` was refused, for the round's ack.
    pub fn reject(&mut self, seq: u64, reason: &str) {
        self.rejected.push((seq, reason.to_owned()));
    }

    /// Whether frames arrived since the last ack.
    pub fn round_pending(&self) -> bool {
        self.next > self.round_start
    }

    /// Ends the round whose records [`may_acknowledge`] confirmed: the
    /// session remembers them as written, and this is the ack to send.
    pub fn finish_round(&mut self) -> ServerControl {
        self.claim.set_written(self.next);
        self.round_start = self.next;
        ServerControl::Ack {
            upto: self.next,
            rejected: std::mem::take(&mut self.rejected),
        }
    }

    /// Resolves when a newer connection has claimed this session.
    pub async fn superseded(&self) {
        self.claim.superseded().cancelled().await;
    }

    /// True once a newer connection has claimed this session.
    pub fn is_superseded(&self) -> bool {
        self.claim.superseded().is_cancelled()
    }
}

/// The one place that decides when the records of a round may be
/// acknowledged: every writer that took some of them has confirmed they are
/// handed to the OS (and synced, for `fsync = yes`). A writer that dropped
/// its confirmation (the file cannot be written, the daemon is stopping)
/// means no: the connection closes unacknowledged and the client resends.
/// In cluster mode the confirmations are JetStream's (cluster/ingest.rs),
/// dropped likewise for records that could not be published.
pub async fn may_acknowledge(committed: Committed) -> bool {
    let mut ok = true;
    for confirmation in committed.acks {
        ok &= confirmation.await.is_ok();
    }
    ok
}

/// Writes one control frame, bounded by [`WRITE_TIMEOUT`].
pub async fn send<S: AsyncWrite + Unpin>(
    stream: &mut S,
    control: &ServerControl,
) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(64);
    control.encode(&mut bytes);
    tokio::time::timeout(WRITE_TIMEOUT, async {
        stream.write_all(&bytes).await?;
        stream.flush().await
    })
    .await
    .unwrap_or_else(|_| {
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "client does not read its acknowledgements",
        ))
    })
}
