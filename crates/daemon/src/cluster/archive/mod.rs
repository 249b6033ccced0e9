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
mod batch;

use batch::InFlight;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use futures_util::{FutureExt, StreamExt};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::resume::Progress;
use super::{Cluster, ClusterStats, MAX_BACKOFF};
use crate::ratelimit::RateLimiter;
use crate::router::Router;

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
        // The batch being written while the next one is prepared.
        let mut in_flight: Option<InFlight> = None;
        loop {
            // The first message waits; those already here join its batch.
            // Nothing here: what is being written is finished first, so
            // that its acknowledgements do not wait for new messages.
            let first = match stream.next().now_or_never() {
                Some(m) => m,
                None => {
                    if let Some(f) = in_flight.take()
                        && let Err(failure) = self.finish(progress, f).await
                    {
                        return failure;
                    }
                    tokio::select! {
                        m = stream.next() => m,
                        () = stop.cancelled() => return Restart::Stop,
                    }
                }
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
                // Decompressed while the writers write the batch before.
                let prepared = self.prepare(progress, messages);
                if let Some(f) = in_flight.take()
                    && let Err(failure) = self.finish(progress, f).await
                {
                    return failure;
                }
                match self.commit(progress, prepared).await {
                    Ok(f) => in_flight = Some(f),
                    Err(failure) => return failure,
                }
                *progressed = true;
            }
            if let Some((reason, why)) = gap {
                if let Some(f) = in_flight.take()
                    && let Err(failure) = self.finish(progress, f).await
                {
                    return failure;
                }
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
