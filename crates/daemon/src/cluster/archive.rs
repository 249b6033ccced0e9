//! Archive role: durable pull consumers that write the stream's records
//! with the standalone storage code and acknowledge them once written.
//!
//! One durable consumer per app listed in `apps` (`archive-{app}`), or one
//! for every app (`archive`): the consumer belongs to the app, not the node,
//! so a replacement node resumes where the old one stopped. Each fetched
//! batch is written through the writers with `wait_for_write` (synced where
//! `fsync = yes`) before any of it is acknowledged; [`super::resume`] keeps
//! redeliveries from being written twice. Order is kept by never writing
//! past a delivery that went missing: on a gap (or any error) the consumer
//! is deleted and made again, which redelivers everything unacknowledged
//! from the oldest, in order.
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::{self, AckKind};
use futures_util::{FutureExt, StreamExt};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::ingest::{H_APP, H_FACILITY, H_HOST};
use super::resume::{Progress, written_prefix};
use super::{Cluster, ClusterStats, MAX_BACKOFF};
use crate::config::Facility;
use crate::ratelimit::RateLimiter;
use crate::router::Router;
use crate::storage::WriteBatch;
use crate::storage::line::live_path;

/// Messages fetched (and written) together: a message holds at most about
/// 2 MiB of lines (`CHUNK_BYTES` plus one record), usually compressed to
/// far less, so this bounds the memory a consumer holds.
const FETCH: usize = 32;
/// The most lines one message may decompress to (a message holds one read
/// for one file: at most a chunk, or one record of `max_message_size`).
const MAX_MESSAGE_LINES: usize = 64 << 20;
/// The server sends a heartbeat this often while it has nothing to
/// deliver, so that a lost pull is noticed (the stream then fails and the
/// consumer is made again).
const HEARTBEAT: Duration = Duration::from_secs(5);
/// JetStream redelivers a message not acknowledged within this.
const ACK_WAIT: Duration = Duration::from_secs(60);

/// Where an archive node writes.
#[derive(Clone)]
pub struct Target {
    /// The router whose facilities (reloaded on SIGHUP) and writers are used.
    pub router: Arc<Router>,
    /// `[main] logdir`.
    pub logdir: PathBuf,
    /// `compress_on_write`: live files are `.log.gz`.
    pub gzip: bool,
    /// `[main] workdir`, where each consumer keeps its progress.
    pub workdir: PathBuf,
}

/// Starts the consumers in `tracker`; they stop (after writing what they
/// fetched) when `stop` is cancelled.
pub fn spawn(
    cluster: &Arc<Cluster>,
    target: Target,
    stop: CancellationToken,
    tracker: &TaskTracker,
) {
    let apps: Vec<Option<String>> = if cluster.settings.apps.is_empty() {
        vec![None]
    } else {
        cluster.settings.apps.iter().cloned().map(Some).collect()
    };
    for app in apps {
        let consumer = Consumer {
            cluster: cluster.clone(),
            target: target.clone(),
            durable: durable_name(app.as_deref()),
            filter: match &app {
                Some(app) => cluster.subject(app),
                None => format!("{}.>", cluster.settings.stream),
            },
            stats: cluster.stats.clone(),
            notices: RateLimiter::default(),
            hosts: HashMap::new(),
        };
        tracker.spawn(consumer.run(stop.clone()));
    }
}

/// The durable consumer's name: `archive`, or `archive-{app}` with the app
/// name made a valid consumer name one-to-one (`_` → `__`, `.` → `_d`).
pub fn durable_name(app: Option<&str>) -> String {
    let Some(app) = app else {
        return "archive".into();
    };
    let mut out = String::from("archive-");
    for c in app.chars() {
        match c {
            '_' => out.push_str("__"),
            '.' => out.push_str("_d"),
            c => out.push(c),
        }
    }
    out
}

/// One file's part of a fetched batch, in delivery order.
struct FileBatch {
    path: PathBuf,
    facility: Arc<Facility>,
    /// Records a killed run was writing when it died (between `written`
    /// and `intent`): only what the file does not end with is written.
    maybe: Vec<u8>,
    maybe_records: u32,
    /// Records never written before: each message's lines as they came
    /// (handed to the writer one message at a time, never concatenated:
    /// copying a whole fetch into one buffer cost more than the write).
    pieces: Vec<(Vec<u8>, u32)>,
}

struct Consumer {
    cluster: Arc<Cluster>,
    target: Target,
    durable: String,
    filter: String,
    stats: Arc<ClusterStats>,
    notices: RateLimiter,
    /// Hosts with a file of their own, per (app, facility), as the router
    /// bounds them with `max_hosts`.
    hosts: HashMap<(String, String), HashSet<String>>,
}

/// Why a consumer starts over.
enum Restart {
    /// The daemon is stopping.
    Stop,
    /// Something failed: log it, wait, make the consumer again.
    Failed(&'static str, String),
}

impl Consumer {
    async fn run(mut self, stop: CancellationToken) {
        let mut progress = loop {
            match Progress::open(
                &self.target.workdir,
                &self.cluster.settings.stream,
                &self.durable,
            ) {
                Ok(p) => break p,
                Err(e) => {
                    self.warn("progress_file", &e.to_string());
                    if sleep_or_stop(MAX_BACKOFF, &stop).await {
                        return;
                    }
                }
            }
        };
        tracing::info!(
            consumer = %self.durable,
            filter = %self.filter,
            written_through = progress.written(),
            intent = progress.intent(),
            progress = %progress.path().display(),
            "archive consumer starting"
        );
        let mut backoff = Duration::from_millis(100);
        loop {
            if !self.cluster.ensure_stream(&stop).await {
                return;
            }
            let mut progressed = false;
            match self.consume(&mut progress, &stop, &mut progressed).await {
                Restart::Stop => return,
                Restart::Failed(reason, why) => self.warn(reason, &why),
            }
            if progressed {
                // A failure after work done starts the back-off afresh.
                backoff = Duration::from_millis(100);
            }
            if sleep_or_stop(backoff, &stop).await {
                return;
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Makes the consumer (again) and writes what it delivers until
    /// something fails or `stop` is cancelled.
    async fn consume(
        &mut self,
        progress: &mut Progress,
        stop: &CancellationToken,
        progressed: &mut bool,
    ) -> Restart {
        let consumer = match self.make_consumer().await {
            Ok(c) => c,
            Err(e) => return Restart::Failed("consumer_setup", e),
        };
        // One pull stream: it keeps a pull request open at the server and
        // renews it half-way, where a fetch per batch cost NATS a request
        // (and often an empty answer) for every message or two.
        let mut stream = match consumer
            .stream()
            .max_messages_per_batch(FETCH)
            .heartbeat(HEARTBEAT)
            .messages()
            .await
        {
            Ok(s) => s,
            Err(e) => return Restart::Failed("fetch_failed", e.to_string()),
        };
        // A new consumer numbers its deliveries from 1 without a gap.
        let mut expected = 1;
        loop {
            // The first message waits; those already here join its batch.
            let first = tokio::select! {
                m = stream.next() => m,
                () = stop.cancelled() => return Restart::Stop,
            };
            let mut messages = Vec::new();
            let mut gap = None;
            // A batch a killed run was writing is written again as one (only
            // then can the file's tail tell how much of it is there): it
            // waits until every message up to that run's intent is here.
            let intent = progress.intent();
            let mut next = Some(first);
            while let Some(m) = next {
                let m = match m {
                    Some(Ok(m)) => m,
                    Some(Err(e)) => {
                        gap = Some(("fetch_failed", e.to_string()));
                        break;
                    }
                    None => {
                        gap = Some(("fetch_failed", "the pull stream ended".to_string()));
                        break;
                    }
                };
                let (seq, stream_seq) = match m.info() {
                    Ok(i) => {
                        self.stats
                            .consumer_pending
                            .store(i.pending, Ordering::Relaxed);
                        (i.consumer_sequence, i.stream_sequence)
                    }
                    Err(e) => {
                        gap = Some(("bad_message", e.to_string()));
                        break;
                    }
                };
                if seq != expected {
                    gap = Some((
                        "delivery_gap",
                        format!(
                            "delivery {seq} came after {}: a delivery was lost; starting over from the oldest unacknowledged",
                            expected - 1
                        ),
                    ));
                    break;
                }
                expected += 1;
                messages.push(m);
                let unfinished = stream_seq < intent;
                if messages.len() >= FETCH && !unfinished {
                    break;
                }
                next = stream.next().now_or_never();
                if next.is_none() && unfinished {
                    next = tokio::select! {
                        m = stream.next() => Some(m),
                        () = stop.cancelled() => return Restart::Stop,
                    };
                }
            }
            if !messages.is_empty() {
                if let Err(failure) = self.write(progress, messages).await {
                    return failure;
                }
                *progressed = true;
            }
            if let Some((reason, why)) = gap {
                return Restart::Failed(reason, why);
            }
        }
    }

    async fn make_consumer(&self) -> Result<PullConsumer, String> {
        let stream = self
            .cluster
            .js
            .get_stream(&self.cluster.settings.stream)
            .await
            .map_err(|e| e.to_string())?;
        // Deleted first so that whatever an earlier run (or connection)
        // was delivered and did not acknowledge comes again now, in order.
        match stream.delete_consumer(&self.durable).await {
            Ok(_) => {}
            Err(e) if e.to_string().contains("not found") => {}
            Err(e) => return Err(format!("cannot reset consumer {}: {e}", self.durable)),
        }
        stream
            .create_consumer(pull::Config {
                durable_name: Some(self.durable.clone()),
                filter_subject: self.filter.clone(),
                deliver_policy: DeliverPolicy::All,
                ack_policy: AckPolicy::Explicit,
                ack_wait: ACK_WAIT,
                max_ack_pending: (FETCH * 4) as i64,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("cannot create consumer {}: {e}", self.durable))
    }

    /// Writes `messages` (in delivery order), then acknowledges them.
    async fn write(
        &mut self,
        progress: &mut Progress,
        messages: Vec<jetstream::Message>,
    ) -> Result<(), Restart> {
        let facilities = self.target.router.facilities();
        let written = progress.written();
        let intent = progress.intent();
        let mut files: Vec<FileBatch> = Vec::new();
        let mut take = messages.len();
        let mut last_seq = written;
        let mut skipped = 0u64;
        for (i, m) in messages.iter().enumerate() {
            let seq = m.info().map(|i| i.stream_sequence).unwrap_or(0);
            if seq <= written {
                skipped += 1;
                continue;
            }
            let header = |name: &str| {
                m.headers
                    .as_ref()
                    .and_then(|h| h.get(name))
                    .map(|v| v.as_str().to_string())
            };
            let (Some(app), Some(name)) = (header(H_APP), header(H_FACILITY)) else {
                self.warn(
                    "bad_message",
                    &format!("message {seq} on {} has no {H_APP}/{H_FACILITY} headers: left in the stream", m.subject),
                );
                take = i;
                break;
            };
            let Some(facility) = facilities.resolve(&app, &name).cloned() else {
                self.warn(
                    "unknown_app",
                    &format!("app {app:?} is not in this node's facilities.conf: its records wait in the stream (add it and send SIGHUP)"),
                );
                take = i;
                break;
            };
            let host = header(H_HOST).unwrap_or_default();
            let own = facility.file_per_host && !host.is_empty() && self.own_file(&facility, &host);
            let path = live_path(
                &self.target.logdir,
                &facility.app,
                &facility.name,
                own.then_some(host.as_str()),
                self.target.gzip,
            );
            let lines = match super::ingest::lines_of(
                &m.payload,
                header(super::ingest::H_ENCODING).as_deref(),
                MAX_MESSAGE_LINES,
            ) {
                Ok(lines) => lines,
                Err(e) => {
                    self.warn(
                        "bad_message",
                        &format!("message {seq} on {}: {e}: left in the stream", m.subject),
                    );
                    take = i;
                    break;
                }
            };
            let records = records_of(m);
            let k = match files.iter().position(|f| f.path == path) {
                Some(k) => k,
                None => {
                    files.push(FileBatch {
                        path,
                        facility,
                        maybe: Vec::new(),
                        maybe_records: 0,
                        pieces: Vec::new(),
                    });
                    files.len() - 1
                }
            };
            let f = &mut files[k];
            if seq <= intent {
                f.maybe.extend_from_slice(&lines);
                f.maybe_records += records;
            } else {
                f.pieces.push((lines.into_owned(), records));
            }
            last_seq = seq;
        }
        if last_seq > written {
            progress
                .begin(last_seq)
                .map_err(|e| Restart::Failed("progress_file", e.to_string()))?;
        }
        let mut acks: Vec<oneshot::Receiver<()>> = Vec::new();
        let mut records_written = 0u64;
        for FileBatch {
            path,
            facility,
            maybe,
            maybe_records,
            mut pieces,
        } in files
        {
            // The part a killed run was writing: written again only if the
            // file does not already end with it.
            if !maybe.is_empty() {
                let done = written_prefix(&path, &maybe);
                // Records are counted by line here: only the counters and
                // flush_every use the count.
                let done_records =
                    (memchr::memchr_iter(b'\n', &maybe[..done]).count() as u32).min(maybe_records);
                self.stats
                    .redelivered_skipped
                    .fetch_add(u64::from(done_records), Ordering::Relaxed);
                tracing::info!(
                    consumer = %self.durable,
                    file = %path.display(),
                    found_records = done_records,
                    found_bytes = done,
                    of_bytes = maybe.len(),
                    "archive: a batch the last run was writing: what the file already ends with is not written again"
                );
                pieces.insert(0, (maybe[done..].to_vec(), maybe_records - done_records));
            }
            for (data, records) in pieces {
                if data.is_empty() {
                    continue;
                }
                records_written += u64::from(records);
                let (tx, rx) = oneshot::channel();
                let batch = WriteBatch {
                    path: path.clone(),
                    facility: facility.clone(),
                    data,
                    records,
                    ack: Some(tx),
                    wait_for_write: true,
                };
                if self.target.router.storage().write(batch).await.is_err() {
                    return Err(Restart::Stop);
                }
                acks.push(rx);
            }
        }
        for ack in acks {
            if ack.await.is_err() {
                return Err(Restart::Stop);
            }
        }
        if last_seq > written {
            progress
                .done()
                .map_err(|e| Restart::Failed("progress_file", e.to_string()))?;
        }
        self.stats
            .records_archived
            .fetch_add(records_written, Ordering::Relaxed);
        self.stats
            .redelivered_skipped
            .fetch_add(skipped, Ordering::Relaxed);
        // A lost acknowledgement only means a redelivery, which is skipped.
        for m in &messages[..take] {
            let _ = m.ack().await;
        }
        if take < messages.len() {
            for m in &messages[take..] {
                let _ = m.ack_with(AckKind::Nak(Some(MAX_BACKOFF))).await;
            }
            return Err(Restart::Failed(
                "held_back",
                format!(
                    "{} messages left in the stream for now",
                    messages.len() - take
                ),
            ));
        }
        Ok(())
    }

    /// Whether `host` gets (or has) a file of its own (the first
    /// `max_hosts` hosts of a facility do, as standalone).
    fn own_file(&mut self, facility: &Facility, host: &str) -> bool {
        let seen = self
            .hosts
            .entry((facility.app.clone(), facility.name.clone()))
            .or_default();
        if seen.contains(host) {
            return true;
        }
        if seen.len() < facility.max_hosts as usize {
            seen.insert(host.to_owned());
            return true;
        }
        false
    }

    fn warn(&self, reason: &'static str, why: &str) {
        let v = self.notices.check(reason);
        if v.log {
            tracing::warn!(
                consumer = %self.durable,
                suppressed = v.suppressed,
                reason,
                "archive: {why}"
            );
        }
    }
}

/// The record count a message says it holds (one if it does not say).
fn records_of(m: &jetstream::Message) -> u32 {
    m.headers
        .as_ref()
        .and_then(|h| h.get(super::ingest::H_RECORDS))
        .and_then(|v| v.as_str().parse().ok())
        .unwrap_or(1)
}

/// Sleeps `d`; true if `stop` was cancelled meanwhile.
async fn sleep_or_stop(d: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => false,
        () = stop.cancelled() => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durable_names_are_one_to_one_and_valid() {
        assert_eq!(durable_name(None), "archive");
        assert_eq!(durable_name(Some("web")), "archive-web");
        assert_eq!(durable_name(Some("a.b")), "archive-a_db");
        assert_eq!(durable_name(Some("a_db")), "archive-a__db");
        assert_ne!(durable_name(Some("a.b")), durable_name(Some("a_db")));
        assert!(!durable_name(Some("x.y.z")).contains('.'));
    }
}
