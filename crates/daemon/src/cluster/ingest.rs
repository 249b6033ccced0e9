//! Ingest role: publishes what the router accepted to the JetStream stream.
//!
//! A read's lines for one file become one message (split at record
//! boundaries past [`CHUNK_BYTES`]) on subject `{stream}.{app}`, with the
//! headers an archive node routes by and a message id that makes a resend a
//! duplicate JetStream drops. [`Publisher::publish`] is the one hook where
//! "accepted by JetStream" happens: its receiver fires once every message of
//! the read is acknowledged, which is what a connection waits for before it
//! hands over its next read (back-pressure), and what an acked v2 client's
//! acknowledgement should wait for. Failures are retried, in order, with
//! back-off until they succeed; nothing is dropped silently.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;
use tokio::sync::{Semaphore, oneshot};
use tokio_util::sync::CancellationToken;

use super::{Cluster, ClusterStats, MAX_BACKOFF};
use crate::ratelimit::RateLimiter;

/// A message holds a read's lines for one file up to about this many bytes
/// (whole records; one larger record travels alone). NATS servers must
/// allow messages of `max_message_size` plus a little (`max_payload`).
pub const CHUNK_BYTES: usize = 256 * 1024;
/// Bytes of records published and not yet acknowledged, over all
/// connections, before connections wait (TCP, TLS) or drop (UDP).
const BUDGET_BYTES: usize = 64 << 20;

/// Header: the app (also the last part of the subject).
pub const H_APP: &str = "Loghog-App";
/// Header: the facility name the ingest node resolved (`root`, `web`).
pub const H_FACILITY: &str = "Loghog-Facility";
/// Header: the host of a `file_per_host` facility's records.
pub const H_HOST: &str = "Loghog-Host";
/// Header: how many records the message holds.
pub const H_RECORDS: &str = "Loghog-Records";
/// Header: `lz4` when the payload is LZ4-compressed (a block with its
/// length in front); absent for plain lines.
pub const H_ENCODING: &str = "Loghog-Encoding";
/// Pieces at least this large are compressed: NATS stores, copies and
/// delivers every byte, and log lines shrink several times.
const COMPRESS_FROM: usize = 1024;

/// `piece` LZ4-compressed, when it is worth it.
fn compress(piece: &[u8]) -> Option<Bytes> {
    if piece.len() < COMPRESS_FROM {
        return None;
    }
    let packed = lz4_flex::block::compress_prepend_size(piece);
    (packed.len() < piece.len()).then(|| Bytes::from(packed))
}

/// A message's lines: the payload, decompressed if its headers say
/// `lz4`; an error for a payload that does not decompress or would pass
/// `limit` bytes (a message is never larger than a read).
pub fn lines_of<'a>(
    payload: &'a [u8],
    encoding: Option<&str>,
    limit: usize,
) -> Result<std::borrow::Cow<'a, [u8]>, String> {
    match encoding {
        None => Ok(std::borrow::Cow::Borrowed(payload)),
        Some("lz4") => {
            let size = payload
                .get(..4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
                .ok_or("an lz4 payload shorter than its length")?;
            if size > limit {
                return Err(format!("an lz4 payload of {size} bytes, over {limit}"));
            }
            lz4_flex::block::decompress_size_prepended(payload)
                .map(std::borrow::Cow::Owned)
                .map_err(|e| format!("a corrupt lz4 payload: {e}"))
        }
        Some(other) => Err(format!("an unknown {H_ENCODING} {other:?}")),
    }
}

/// A read's lines for one file, as the router hands them over.
#[derive(Debug)]
pub struct Outgoing {
    /// The app.
    pub app: String,
    /// The facility's name.
    pub facility: String,
    /// The host, for `file_per_host` facilities; empty otherwise.
    pub host: String,
    /// Whole lines, exactly as the standalone daemon writes them.
    pub lines: Vec<u8>,
    /// Records in `lines`.
    pub records: u32,
    /// Record boundaries where a message may end: (byte offset, records
    /// before it), ascending.
    pub cuts: Vec<(usize, u32)>,
}

struct Message {
    subject: String,
    id: String,
    headers: HeaderMap,
    payload: Bytes,
    records: u32,
}

/// Publishes reads to the stream; shared by every connection.
pub struct Publisher {
    js: async_nats::jetstream::Context,
    stream: String,
    ids: String,
    next_id: AtomicU64,
    budget: Arc<Semaphore>,
    stats: Arc<ClusterStats>,
    notices: RateLimiter,
    stop: CancellationToken,
}

impl Publisher {
    /// A publisher over `cluster`'s connection; once `stop` is cancelled
    /// (the daemon's shutdown deadline), failed publishes are no longer
    /// retried but counted and logged as lost.
    pub fn new(cluster: &Cluster, stop: CancellationToken) -> Arc<Publisher> {
        Arc::new(Publisher {
            js: cluster.js.clone(),
            stream: cluster.settings.stream.clone(),
            ids: super::boot_id(&cluster.settings.name),
            next_id: AtomicU64::new(0),
            budget: Arc::new(Semaphore::new(BUDGET_BYTES)),
            stats: cluster.stats.clone(),
            notices: RateLimiter::default(),
            stop,
        })
    }

    /// Publishes one read's records; the receiver fires once JetStream has
    /// acknowledged all of them. When some could not be published (after
    /// shutdown's deadline, or larger than `max_payload`: counted as lost)
    /// its sender is dropped instead, so an acked (v2) client is not
    /// acknowledged for them and resends. Waits first while too many bytes
    /// are unacknowledged, which pushes back on the connection.
    pub async fn publish(self: &Arc<Self>, groups: Vec<Outgoing>) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let messages = self.messages(groups);
        let permit = self
            .budget
            .clone()
            .acquire_many_owned(permits(&messages))
            .await
            .expect("the budget is never closed");
        let me = self.clone();
        tokio::spawn(async move {
            let stored = me.deliver(messages).await;
            drop(permit);
            if stored {
                let _ = tx.send(());
            }
        });
        rx
    }

    /// Publishes one datagram batch if the budget has room; otherwise gives
    /// back the number of records, for the caller to count and report as
    /// dropped (UDP is never pushed back).
    pub fn try_publish(self: &Arc<Self>, groups: Vec<Outgoing>) -> Result<(), u64> {
        let messages = self.messages(groups);
        let Ok(permit) = self
            .budget
            .clone()
            .try_acquire_many_owned(permits(&messages))
        else {
            let n: u64 = messages.iter().map(|m| u64::from(m.records)).sum();
            self.stats.records_lost.fetch_add(n, Ordering::Relaxed);
            return Err(n);
        };
        let me = self.clone();
        tokio::spawn(async move {
            me.deliver(messages).await;
            drop(permit);
        });
        Ok(())
    }

    fn messages(&self, groups: Vec<Outgoing>) -> Vec<Message> {
        let mut out = Vec::with_capacity(groups.len());
        for g in groups {
            let subject = format!("{}.{}", self.stream, g.app);
            let payload = Bytes::from(g.lines);
            for (range, records) in pieces(payload.len(), g.records, &g.cuts) {
                let mut headers = HeaderMap::new();
                headers.insert(H_APP, g.app.as_str());
                headers.insert(H_FACILITY, g.facility.as_str());
                if !g.host.is_empty() {
                    headers.insert(H_HOST, g.host.as_str());
                }
                headers.insert(H_RECORDS, records.to_string().as_str());
                let n = self.next_id.fetch_add(1, Ordering::Relaxed);
                let piece = payload.slice(range);
                let body = match compress(&piece) {
                    Some(packed) => {
                        headers.insert(H_ENCODING, "lz4");
                        packed
                    }
                    None => piece,
                };
                out.push(Message {
                    subject: subject.clone(),
                    id: format!("{}-{n}", self.ids),
                    headers,
                    payload: body,
                    records,
                });
            }
        }
        out
    }

    /// Publishes `messages` until all are acknowledged. After a failure
    /// everything from the first unacknowledged message on is sent again,
    /// in order, with the same ids: what JetStream already stored comes
    /// back as a duplicate and is not stored twice. True when JetStream
    /// stored every record; false when some were counted as lost.
    async fn deliver(&self, messages: Vec<Message>) -> bool {
        let total: u64 = messages.iter().map(|m| u64::from(m.records)).sum();
        self.stats
            .records_published
            .fetch_add(total, Ordering::Relaxed);
        let mut from = 0;
        let mut stored = true;
        let mut backoff = Duration::from_millis(50);
        while from < messages.len() {
            let started = Instant::now();
            let mut sent = Vec::with_capacity(messages.len() - from);
            let mut failure = None;
            for (i, m) in messages.iter().enumerate().skip(from) {
                let publish = PublishMessage::build()
                    .payload(m.payload.clone())
                    .headers(m.headers.clone())
                    .message_id(&m.id);
                match self.js.send_publish(m.subject.clone(), publish).await {
                    Ok(ack) => sent.push((i, Pending::from(ack))),
                    Err(e) if e.kind() == PublishErrorKind::MaxPayloadExceeded => {
                        // Retrying cannot help: count it, say so, go on.
                        self.lost(m.records, "max_payload", &e.to_string());
                        stored = false;
                        sent.push((i, Pending::Done));
                    }
                    Err(e) => {
                        failure = Some((i, e.to_string()));
                        break;
                    }
                }
            }
            let mut next = failure.as_ref().map_or(messages.len(), |f| f.0);
            for (i, ack) in sent {
                match ack {
                    Pending::Ack(fut) => match fut.await {
                        Ok(ack) => {
                            if ack.duplicate {
                                self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                            }
                            self.stats
                                .records_acked
                                .fetch_add(u64::from(messages[i].records), Ordering::Relaxed);
                        }
                        Err(e) => {
                            next = i;
                            failure = Some((i, e.to_string()));
                            break;
                        }
                    },
                    Pending::Done => {}
                }
            }
            self.stats
                .last_ack_micros
                .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
            from = next;
            let Some((_, why)) = failure else { break };
            self.stats.publish_retries.fetch_add(1, Ordering::Relaxed);
            if self.stop.is_cancelled() {
                let left: u32 = messages[from..].iter().map(|m| m.records).sum();
                self.lost(left, "shutdown_unpublished", &why);
                return false;
            }
            let v = self.notices.check("publish_failed");
            if v.log {
                tracing::warn!(
                    suppressed = v.suppressed,
                    retry_in_ms = backoff.as_millis() as u64,
                    reason = "publish_failed",
                    "JetStream did not acknowledge a publish; retrying (clients wait meanwhile): {why}"
                );
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = self.stop.cancelled() => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        stored
    }

    fn lost(&self, records: u32, reason: &'static str, why: &str) {
        let n = u64::from(records);
        let total = self.stats.records_lost.fetch_add(n, Ordering::Relaxed) + n;
        let v = self.notices.check_amount(reason, n);
        if v.log {
            tracing::error!(
                records = n,
                lost_total = total,
                suppressed = v.suppressed,
                reason,
                "records not published and dropped: {why}"
            );
        }
    }
}

/// A message handed to NATS: its acknowledgement to await, or nothing
/// (it was counted as lost).
enum Pending {
    Ack(async_nats::jetstream::context::PublishAckFuture),
    Done,
}

impl From<async_nats::jetstream::context::PublishAckFuture> for Pending {
    fn from(f: async_nats::jetstream::context::PublishAckFuture) -> Self {
        Pending::Ack(f)
    }
}

/// Where a group of `len` bytes holding `records` records is cut into
/// messages: at the record boundaries in `cuts` (offset, records before it).
fn pieces(len: usize, records: u32, cuts: &[(usize, u32)]) -> Vec<(std::ops::Range<usize>, u32)> {
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut start = (0, 0);
    for end in cuts
        .iter()
        .copied()
        .filter(|&(at, _)| at > 0 && at < len)
        .chain([(len, records)])
    {
        out.push((start.0..end.0, end.1 - start.1));
        start = end;
    }
    out
}

/// Budget permits for `messages`: their bytes, at most the whole budget (a
/// read larger than the budget waits until nothing else is in flight).
fn permits(messages: &[Message]) -> u32 {
    let bytes: usize = messages.iter().map(|m| m.payload.len()).sum();
    bytes.clamp(1, BUDGET_BYTES) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_go_compressed_and_come_back_whole() {
        let lines: Vec<u8> = (0..500)
            .flat_map(|i| format!("2026-11-30 06:55:27.{i:06} - h - record {i}\n").into_bytes())
            .collect();
        let packed = compress(&lines).expect("log lines shrink");
        assert!(
            packed.len() * 3 < lines.len(),
            "{} of {}",
            packed.len(),
            lines.len()
        );
        assert_eq!(
            &*lines_of(&packed, Some("lz4"), 1 << 20).unwrap(),
            &lines[..]
        );
        // Plain payloads pass as they are; small ones are not compressed.
        assert_eq!(&*lines_of(&lines, None, 0).unwrap(), &lines[..]);
        assert!(compress(b"short line\n").is_none());
        // Bad input is an error, not a panic or a huge allocation.
        assert!(
            lines_of(&packed, Some("lz4"), 100)
                .unwrap_err()
                .contains("over 100")
        );
        assert!(lines_of(&packed[..packed.len() / 2], Some("lz4"), 1 << 20).is_err());
        assert!(lines_of(b"ab", Some("lz4"), 1 << 20).is_err());
        assert!(lines_of(&packed, Some("zstd"), 1 << 20).is_err());
    }

    #[test]
    fn groups_are_cut_at_record_boundaries_only() {
        assert_eq!(pieces(10, 3, &[]), [(0..10, 3)]);
        assert_eq!(
            pieces(30, 7, &[(12, 2), (25, 5)]),
            [(0..12, 2), (12..25, 3), (25..30, 2)]
        );
        // A cut at the very end adds no empty message.
        assert_eq!(pieces(30, 7, &[(30, 7)]), [(0..30, 7)]);
    }

    #[test]
    fn the_budget_is_bounded() {
        let m = |n: usize| Message {
            subject: String::new(),
            id: String::new(),
            headers: HeaderMap::new(),
            payload: Bytes::from(vec![b'x'; n]),
            records: 1,
        };
        assert_eq!(permits(&[]), 1);
        assert_eq!(permits(&[m(10), m(5)]), 15);
        assert_eq!(permits(&[m(BUDGET_BYTES), m(1)]), BUDGET_BYTES as u32);
    }
}
