//! Ingest role: publishes what the router accepted to the JetStream stream.
//!
//! Reads handed over while the previous ones were being compressed are
//! merged: their lines for one file become one message (split at record
//! boundaries past [`CHUNK_BYTES`]) on subject `{stream}.{app}`, with the
//! headers an archive node routes by and a message id that makes a resend a
//! duplicate JetStream drops (each message costs NATS about as much as
//! 30 KB of payload). [`Publisher::publish`] is the one hook where
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
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{Cluster, ClusterStats, MAX_BACKOFF};
use crate::ratelimit::RateLimiter;

/// A message holds lines for one file up to about this many bytes (whole
/// records; one larger record travels alone): even uncompressed it stays
/// under NATS's default `max_payload` of 1 MiB. NATS servers must allow
/// messages of `max_message_size` plus a little.
pub const CHUNK_BYTES: usize = 960 * 1024;
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
    shared: Arc<Shared>,
    budget: Arc<Semaphore>,
    jobs: mpsc::UnboundedSender<Job>,
}

/// What the merging task and the deliveries need (not the queue's sender,
/// so that the task ends when the last [`Publisher`] is dropped).
struct Shared {
    js: async_nats::jetstream::Context,
    stream: String,
    ids: String,
    next_id: AtomicU64,
    stats: Arc<ClusterStats>,
    notices: RateLimiter,
    stop: CancellationToken,
}

/// One read waiting to be merged and published.
struct Job {
    groups: Vec<Outgoing>,
    /// Its bytes of the budget, held until JetStream has acknowledged it.
    permit: OwnedSemaphorePermit,
    /// Fired once it is acknowledged.
    done: oneshot::Sender<()>,
}

impl Publisher {
    /// A publisher over `cluster`'s connection; once `stop` is cancelled
    /// (the daemon's shutdown deadline), failed publishes are no longer
    /// retried but counted and logged as lost. Starts the merging task on
    /// the current runtime.
    pub fn new(cluster: &Cluster, stop: CancellationToken) -> Arc<Publisher> {
        let shared = Arc::new(Shared {
            js: cluster.js.clone(),
            stream: cluster.settings.stream.clone(),
            ids: super::boot_id(&cluster.settings.name),
            next_id: AtomicU64::new(0),
            stats: cluster.stats.clone(),
            notices: RateLimiter::default(),
            stop,
        });
        let (jobs, queue) = mpsc::unbounded_channel();
        tokio::spawn(shared.clone().merge_and_publish(queue));
        Arc::new(Publisher {
            shared,
            budget: Arc::new(Semaphore::new(BUDGET_BYTES)),
            jobs,
        })
    }

    /// Publishes one read's records; the receiver fires once JetStream has
    /// acknowledged all of them. When some could not be published (after
    /// shutdown's deadline, or larger than `max_payload`: counted as lost)
    /// its sender is dropped instead, so an acked (v2) client is not
    /// acknowledged for them and resends. Waits first while too many bytes
    /// are unacknowledged, which pushes back on the connection.
    pub async fn publish(&self, groups: Vec<Outgoing>) -> oneshot::Receiver<()> {
        let (done, rx) = oneshot::channel();
        let permit = self
            .budget
            .clone()
            .acquire_many_owned(permits(&groups))
            .await
            .expect("the budget is never closed");
        // The queue's receiver lives as long as any publisher: never closed.
        let _ = self.jobs.send(Job {
            groups,
            permit,
            done,
        });
        rx
    }

    /// Publishes one datagram batch if the budget has room; otherwise gives
    /// back the number of records, for the caller to count and report as
    /// dropped (UDP is never pushed back).
    pub fn try_publish(&self, groups: Vec<Outgoing>) -> Result<(), u64> {
        let Ok(permit) = self.budget.clone().try_acquire_many_owned(permits(&groups)) else {
            let n: u64 = groups.iter().map(|g| u64::from(g.records)).sum();
            self.shared
                .stats
                .records_lost
                .fetch_add(n, Ordering::Relaxed);
            return Err(n);
        };
        let (done, _) = oneshot::channel();
        let _ = self.jobs.send(Job {
            groups,
            permit,
            done,
        });
        Ok(())
    }
}

impl Shared {
    /// Takes the reads queued meanwhile (up to about a message's worth),
    /// merges their lines per file, and publishes them in a task of their
    /// own; a connection has one read in flight, so merging reads of
    /// different connections keeps each connection's order.
    async fn merge_and_publish(self: Arc<Self>, mut queue: mpsc::UnboundedReceiver<Job>) {
        // A read that would take a batch past a message's worth starts the
        // next one, so that a batch is one message per file.
        let mut held: Option<Job> = None;
        loop {
            let first = match held.take() {
                Some(job) => job,
                None => match queue.recv().await {
                    Some(job) => job,
                    None => return,
                },
            };
            let mut bytes = first.bytes();
            let mut jobs = vec![first];
            while let Ok(job) = queue.try_recv() {
                if bytes + job.bytes() > CHUNK_BYTES {
                    held = Some(job);
                    break;
                }
                bytes += job.bytes();
                jobs.push(job);
            }
            let counts: Vec<usize> = jobs.iter().map(|j| j.groups.len()).collect();
            let (groups, into) = merge(jobs.iter_mut().flat_map(|j| std::mem::take(&mut j.groups)));
            let me = self.clone();
            tokio::spawn(async move {
                let files = me.messages(groups);
                let stored: Vec<bool> =
                    futures_util::future::join_all(files.into_iter().map(|f| me.deliver(f))).await;
                let mut into = into.into_iter();
                for (job, count) in jobs.into_iter().zip(counts) {
                    drop(job.permit);
                    // A read with lines for a file that lost some is not
                    // confirmed: an acked client resends it.
                    if into.by_ref().take(count).all(|i| stored[i]) {
                        let _ = job.done.send(());
                    }
                }
            });
        }
    }

    /// Each file's messages, in order.
    fn messages(&self, groups: Vec<Outgoing>) -> Vec<Vec<Message>> {
        let mut files = Vec::with_capacity(groups.len());
        for g in groups {
            let mut out = Vec::with_capacity(g.cuts.len() + 1);
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
            files.push(out);
        }
        files
    }

    /// Publishes one file's `messages` until all are acknowledged, each
    /// only once the one before it is: a message resent after a failure can
    /// then never land after a later one. A resend has the same id, so what
    /// JetStream already stored comes back as a duplicate, not stored twice.
    /// True when JetStream stored every record; false when some were
    /// counted as lost.
    async fn deliver(&self, messages: Vec<Message>) -> bool {
        let total: u64 = messages.iter().map(|m| u64::from(m.records)).sum();
        self.stats
            .records_published
            .fetch_add(total, Ordering::Relaxed);
        let mut backoff = Duration::from_millis(50);
        let mut stored = true;
        let mut i = 0;
        while let Some(m) = messages.get(i) {
            let started = Instant::now();
            let why = match self.publish_one(m).await {
                Ok(duplicate) => {
                    if duplicate {
                        self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                    self.stats
                        .records_acked
                        .fetch_add(u64::from(m.records), Ordering::Relaxed);
                    self.stats
                        .last_ack_micros
                        .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                    i += 1;
                    continue;
                }
                Err(Failure::TooLarge(why)) => {
                    // Retrying cannot help: count it, say so, go on.
                    self.lost(m.records, "max_payload", &why);
                    stored = false;
                    i += 1;
                    continue;
                }
                Err(Failure::Retry(why)) => why,
            };
            self.stats.publish_retries.fetch_add(1, Ordering::Relaxed);
            if self.stop.is_cancelled() {
                let left: u32 = messages[i..].iter().map(|m| m.records).sum();
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

    /// Sends one message and waits for JetStream's acknowledgement: whether
    /// it was a duplicate.
    async fn publish_one(&self, m: &Message) -> Result<bool, Failure> {
        let publish = PublishMessage::build()
            .payload(m.payload.clone())
            .headers(m.headers.clone())
            .message_id(&m.id);
        let ack = match self.js.send_publish(m.subject.clone(), publish).await {
            Ok(ack) => ack,
            Err(e) if e.kind() == PublishErrorKind::MaxPayloadExceeded => {
                return Err(Failure::TooLarge(e.to_string()));
            }
            Err(e) => return Err(Failure::Retry(e.to_string())),
        };
        match ack.await {
            Ok(ack) => Ok(ack.duplicate),
            Err(e) => Err(Failure::Retry(e.to_string())),
        }
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

/// Why a publish did not go through.
enum Failure {
    /// Larger than the server's `max_payload`: it never will.
    TooLarge(String),
    /// Anything else: NATS down, no acknowledgement in time, a leader
    /// change; worth retrying.
    Retry(String),
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

/// Budget permits for a read: its bytes of lines, at most the whole budget
/// (a read larger than the budget waits until nothing else is in flight).
fn permits(groups: &[Outgoing]) -> u32 {
    lines_bytes(groups).clamp(1, BUDGET_BYTES) as u32
}

/// Bytes of lines in `groups`.
fn lines_bytes(groups: &[Outgoing]) -> usize {
    groups.iter().map(|g| g.lines.len()).sum()
}

/// A file a message is for: app, facility, host (empty unless
/// `file_per_host`).
type FileKey = (String, String, String);

impl Job {
    fn bytes(&self) -> usize {
        lines_bytes(&self.groups)
    }
}

/// Groups for the same file made one, in the order given, and for each
/// group given the index of the one it went into; a cut is added where two
/// joined groups together would pass [`CHUNK_BYTES`].
fn merge(groups: impl Iterator<Item = Outgoing>) -> (Vec<Outgoing>, Vec<usize>) {
    let mut out: Vec<Outgoing> = Vec::new();
    let mut into = Vec::new();
    let mut index: std::collections::HashMap<FileKey, usize> = std::collections::HashMap::new();
    for g in groups {
        let key = (g.app.clone(), g.facility.clone(), g.host.clone());
        let Some(&i) = index.get(&key) else {
            index.insert(key, out.len());
            into.push(out.len());
            out.push(g);
            continue;
        };
        into.push(i);
        let o = &mut out[i];
        let base = o.lines.len();
        let tail = base - o.cuts.last().map_or(0, |c| c.0);
        let head = g.cuts.first().map_or(g.lines.len(), |c| c.0);
        if tail + head > CHUNK_BYTES {
            o.cuts.push((base, o.records));
        }
        o.cuts
            .extend(g.cuts.iter().map(|&(at, n)| (base + at, o.records + n)));
        o.lines.extend_from_slice(&g.lines);
        o.records += g.records;
    }
    (out, into)
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

    fn group(app: &str, lines: &str, cuts: Vec<(usize, u32)>) -> Outgoing {
        Outgoing {
            app: app.into(),
            facility: "root".into(),
            host: String::new(),
            lines: lines.as_bytes().to_vec(),
            records: lines.matches('\n').count() as u32,
            cuts,
        }
    }

    #[test]
    fn the_budget_is_bounded() {
        let g = |n: usize| group("a", &"x".repeat(n), Vec::new());
        assert_eq!(permits(&[]), 1);
        assert_eq!(permits(&[g(10), g(5)]), 15);
        assert_eq!(permits(&[g(BUDGET_BYTES), g(1)]), BUDGET_BYTES as u32);
    }

    #[test]
    fn reads_for_one_file_merge_in_order_and_others_stay_apart() {
        let (merged, _) = merge(
            [
                group("a", "1\n2\n", Vec::new()),
                group("b", "x\n", Vec::new()),
                group("a", "3\n", Vec::new()),
            ]
            .into_iter(),
        );
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].lines, b"1\n2\n3\n");
        assert_eq!(merged[0].records, 3);
        assert!(merged[0].cuts.is_empty(), "small reads make one message");
        assert_eq!(merged[1].lines, b"x\n");
        // Joined past CHUNK_BYTES, the join is a cut; a read's own cuts
        // move with it.
        let big = "y".repeat(CHUNK_BYTES - 1) + "\n";
        let (merged, _) = merge(
            [
                group("a", &big, Vec::new()),
                group("a", &format!("z\n{big}"), vec![(2, 1)]),
            ]
            .into_iter(),
        );
        assert_eq!(merged[0].records, 3);
        assert_eq!(merged[0].cuts, [(CHUNK_BYTES, 1), (CHUNK_BYTES + 2, 2)]);
        let pieces = pieces(merged[0].lines.len(), 3, &merged[0].cuts);
        assert_eq!(pieces.iter().map(|p| p.1).collect::<Vec<_>>(), [1, 1, 1]);
    }
}
