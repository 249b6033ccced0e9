//! Cluster mode: loghogd nodes around a NATS JetStream stream (docs/cluster.md).
//!
//! Ingest nodes publish what they accept ([`ingest`]); archive nodes consume
//! the stream and write the files with the standalone storage code
//! ([`archive`]). This file owns the NATS connection (which never fails at
//! start-up: it connects in the background and reconnects forever), the
//! stream's creation, and the counters an operator or the metrics endpoint
//! reads ([`ClusterStats`]).
pub mod archive;
pub mod config;
pub mod creds;
pub mod ingest;
mod resume;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::{ClusterSettings, Role};

use crate::ratelimit::RateLimiter;
use crate::router::Router;

/// How long JetStream may take to answer a request or acknowledge a publish
/// before it is retried.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Retries back off up to this.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often the counters are written to the internal log.
const REPORT_EVERY: Duration = Duration::from_secs(60);
/// JetStream drops a message whose id it has seen within this window: a
/// publish retried after a lost acknowledgement is stored once.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// Counters of the cluster side of a node, shared with whatever reports
/// them (the periodic log line here; the metrics endpoint can read the
/// same atomics).
#[derive(Debug, Default)]
pub struct ClusterStats {
    /// Whether the NATS connection is up.
    pub connected: AtomicBool,
    /// Times the connection was lost.
    pub disconnects: AtomicU64,
    /// Whether the stream was found or created.
    pub stream_ready: AtomicBool,
    /// Ingest: records handed to the publisher.
    pub records_published: AtomicU64,
    /// Ingest: records JetStream has acknowledged.
    pub records_acked: AtomicU64,
    /// Ingest: messages JetStream reported as duplicates of one it had
    /// (a resend after a lost acknowledgement).
    pub duplicates: AtomicU64,
    /// Ingest: publish attempts that failed and were retried.
    pub publish_retries: AtomicU64,
    /// Records dropped by the cluster path (logged with their reason).
    pub records_lost: AtomicU64,
    /// Ingest: microseconds the last acknowledged message waited for its
    /// acknowledgement (publish/ack lag).
    pub last_ack_micros: AtomicU64,
    /// Archive: records written to files.
    pub records_archived: AtomicU64,
    /// Archive: redelivered messages found already written, and skipped.
    pub redelivered_skipped: AtomicU64,
    /// Archive: messages the consumers had yet to deliver, as of the last
    /// message received.
    pub consumer_pending: AtomicU64,
}

impl ClusterStats {
    /// Records handed to JetStream and not yet acknowledged.
    pub fn publish_lag(&self) -> u64 {
        let published = self.records_published.load(Ordering::Relaxed);
        let done =
            self.records_acked.load(Ordering::Relaxed) + self.records_lost.load(Ordering::Relaxed);
        published.saturating_sub(done)
    }

    /// Copies the counters into the metrics series (at each scrape).
    pub fn export(&self, role: Role, s: &crate::metrics::Series) {
        let up = i64::from(self.connected.load(Ordering::Relaxed));
        s.cluster_connected
            .get_or_create(&crate::metrics::RoleLabels { role: role.name() })
            .set(up);
        s.cluster_publish_lag.set(clamp(self.publish_lag()));
        s.cluster_ack_wait_micros
            .set(clamp(self.last_ack_micros.load(Ordering::Relaxed)));
        s.cluster_records_acked.inner().store(
            self.records_acked.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        s.cluster_consumer_pending
            .set(clamp(self.consumer_pending.load(Ordering::Relaxed)));
        s.cluster_records_archived.inner().store(
            self.records_archived.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
    }

    /// Logs the counters (every [`REPORT_EVERY`] while running).
    pub fn log(&self, role: Role) {
        let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
        tracing::info!(
            role = role.name(),
            nats_connected = self.connected.load(Ordering::Relaxed),
            stream_ready = self.stream_ready.load(Ordering::Relaxed),
            disconnects = c(&self.disconnects),
            records_published = c(&self.records_published),
            records_acked = c(&self.records_acked),
            publish_lag = self.publish_lag(),
            last_ack_micros = c(&self.last_ack_micros),
            publish_retries = c(&self.publish_retries),
            duplicates = c(&self.duplicates),
            records_archived = c(&self.records_archived),
            redelivered_skipped = c(&self.redelivered_skipped),
            consumer_pending = c(&self.consumer_pending),
            records_lost = c(&self.records_lost),
            "cluster status"
        );
    }
}

/// The running cluster side of a node.
pub struct Cluster {
    /// The settings it runs with.
    pub settings: ClusterSettings,
    /// Its counters.
    pub stats: Arc<ClusterStats>,
    /// The JetStream context every publish and consumer goes through.
    pub js: jetstream::Context,
}

impl Cluster {
    /// Starts connecting to NATS in the background and returns at once: a
    /// node that cannot reach NATS still starts, logs it (rate-limited) and
    /// keeps trying (a server that refuses its credentials included).
    pub async fn connect(settings: ClusterSettings) -> std::io::Result<Cluster> {
        let stats = Arc::new(ClusterStats::default());
        if let Some(creds) = &settings.nats_creds
            && let Some(mode) = creds.readable_by_others()
        {
            tracing::warn!(
                nats_creds = %creds.path().display(),
                mode = format!("{mode:04o}"),
                reason = "nats_creds_readable",
                "the NATS credentials file holds a secret seed, and users other than its owner may read it: chmod 600 it"
            );
        }
        // The credentials were read and checked with the configuration.
        let mut options = match &settings.nats_creds {
            Some(creds) => creds.connect_options()?,
            None => async_nats::ConnectOptions::new(),
        };
        if let Some(ca) = &settings.nats_ca {
            options = options.add_root_certificates(ca.clone());
        }
        // The NATS client builds its TLS configuration with rustls' process
        // default, which is ambiguous when a build links two providers (the
        // client library brings ring); the daemon's own is aws-lc-rs. An
        // error only means one is installed already.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let notices = Arc::new(RateLimiter::default());
        let events = stats.clone();
        let signed_in_with: Arc<str> = match &settings.nats_creds {
            Some(c) => c.path().display().to_string().into(),
            None => "none".into(),
        };
        options = options
            .name(format!(
                "loghogd-{}-{}",
                settings.role.name(),
                settings.name
            ))
            .retry_on_initial_connect()
            .max_reconnects(None)
            .connection_timeout(REQUEST_TIMEOUT)
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis(100u64.saturating_mul(1 << attempts.min(6))).min(MAX_BACKOFF)
            })
            .event_callback(move |event| {
                let stats = events.clone();
                let notices = notices.clone();
                let creds = signed_in_with.clone();
                async move { on_event(&stats, &notices, &creds, event) }
            });
        let servers = settings
            .nats
            .iter()
            .map(|u| u.parse::<async_nats::ServerAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(std::io::Error::other)?;
        let client = options
            .connect(servers)
            .await
            .map_err(std::io::Error::other)?;
        let mut js = jetstream::new(client);
        js.set_timeout(REQUEST_TIMEOUT);
        Ok(Cluster {
            settings,
            stats,
            js,
        })
    }

    /// The subject of an app's records.
    pub fn subject(&self, app: &str) -> String {
        format!("{}.{app}", self.settings.stream)
    }

    /// Finds or creates the stream, retrying with back-off until it works
    /// or `stop` is cancelled. An existing stream is used as it is (see
    /// [`check_existing`]).
    pub async fn ensure_stream(&self, stop: &CancellationToken) -> bool {
        let errors = RateLimiter::default();
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.try_ensure_stream().await {
                Ok(()) => {
                    self.stats.stream_ready.store(true, Ordering::Relaxed);
                    return true;
                }
                Err(e) => {
                    let v = errors.check("stream_setup");
                    if v.log {
                        tracing::warn!(
                            stream = %self.settings.stream,
                            suppressed = v.suppressed,
                            reason = "stream_setup",
                            "cannot find or create the JetStream stream; retrying: {e}"
                        );
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = stop.cancelled() => return false,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn try_ensure_stream(&self) -> Result<(), String> {
        let name = &self.settings.stream;
        match self.js.get_stream(name).await {
            Ok(mut existing) => {
                let info = existing.info().await.map_err(|e| e.to_string())?;
                check_existing(&info.config, name, self.settings.replicas)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    jetstream::context::GetStreamErrorKind::JetStream(j)
                        if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
                ) =>
            {
                let config = stream::Config {
                    name: name.clone(),
                    subjects: vec![format!("{name}.>")],
                    retention: stream::RetentionPolicy::WorkQueue,
                    storage: stream::StorageType::File,
                    num_replicas: self.settings.replicas,
                    duplicate_window: DUPLICATE_WINDOW,
                    ..Default::default()
                };
                self.js
                    .create_stream(config)
                    .await
                    .map_err(|e| e.to_string())?;
                tracing::info!(
                    stream = %name,
                    replicas = self.settings.replicas,
                    subjects = %format!("{name}.>"),
                    "created the JetStream stream"
                );
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Logs the counters every [`REPORT_EVERY`] until `stop` is cancelled.
    pub fn spawn_reporter(&self, stop: CancellationToken) {
        let stats = self.stats.clone();
        let role = self.settings.role;
        tokio::spawn(async move {
            let mut every = tokio::time::interval(REPORT_EVERY);
            every.tick().await;
            loop {
                tokio::select! {
                    _ = every.tick() => stats.log(role),
                    // Node::stop logs the final counters.
                    () = stop.cancelled() => return,
                }
            }
        });
    }
}

/// What the server holds for a node in cluster mode: the connection, the
/// publisher's stop signal and the archive consumers.
pub struct Node {
    /// The connection, settings and counters.
    pub cluster: Arc<Cluster>,
    publish_stop: CancellationToken,
    consumers: TaskTracker,
}

impl Node {
    /// Connects (in the background) and starts the counters' log line; an
    /// ingest node also starts finding or creating the stream.
    pub async fn start(
        settings: ClusterSettings,
        shutdown: &CancellationToken,
    ) -> std::io::Result<Node> {
        tracing::info!(
            role = settings.role.name(),
            name = %settings.name,
            nats = %settings.nats.join(","),
            stream = %settings.stream,
            "cluster mode"
        );
        let cluster = Arc::new(Cluster::connect(settings).await?);
        cluster.spawn_reporter(shutdown.clone());
        if cluster.settings.role == Role::Ingest {
            let (c, stop) = (cluster.clone(), shutdown.clone());
            tokio::spawn(async move { c.ensure_stream(&stop).await });
        }
        Ok(Node {
            cluster,
            publish_stop: CancellationToken::new(),
            consumers: TaskTracker::new(),
        })
    }

    /// Whether this node serves clients.
    pub fn ingests(&self) -> bool {
        self.cluster.settings.role.ingests()
    }

    /// The router of an ingest node publishes instead of writing.
    pub fn attach(&self, router: Router) -> Router {
        if self.ingests() {
            router.with_publisher(ingest::Publisher::new(
                &self.cluster,
                self.publish_stop.clone(),
            ))
        } else {
            router
        }
    }

    /// Starts the archive consumers, if this node archives.
    pub fn start_archive(&self, target: archive::Target, shutdown: &CancellationToken) {
        if self.cluster.settings.role.archives() {
            archive::spawn(&self.cluster, target, shutdown.clone(), &self.consumers);
        }
    }

    /// After the connections are done: stops retrying publishes (what is
    /// still unacknowledged is counted and logged as lost) and lets the
    /// consumers finish the batch they are writing, within `deadline`.
    pub async fn stop(&self, deadline: Duration) {
        self.publish_stop.cancel();
        self.consumers.close();
        let end = tokio::time::Instant::now() + deadline;
        if tokio::time::timeout_at(end, self.consumers.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "archive consumers did not finish in time; JetStream redelivers what they had not acknowledged"
            );
        }
        // Publishes in flight either finish or see the stop at their next
        // retry (within REQUEST_TIMEOUT).
        let until = (tokio::time::Instant::now() + REQUEST_TIMEOUT + Duration::from_secs(1))
            .min(end + REQUEST_TIMEOUT);
        while self.cluster.stats.publish_lag() > 0 && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let lag = self.cluster.stats.publish_lag();
        if lag > 0 {
            tracing::error!(
                records = lag,
                reason = "shutdown_unacknowledged",
                "records published but not acknowledged by JetStream at shutdown: they may be lost"
            );
        }
        self.cluster.stats.log(self.cluster.settings.role);
    }
}

/// An existing stream is used as it is, whoever made it: loghogd never
/// edits a stream. Its subjects must take `{stream}.>` (else nothing could
/// be published: an error, retried); other differences from what loghogd
/// would create are logged as warnings.
fn check_existing(config: &stream::Config, name: &str, replicas: usize) -> Result<(), String> {
    let ours = format!("{name}.>");
    if !config.subjects.iter().any(|s| s == &ours || s == ">") {
        return Err(format!(
            "stream {name} exists with subjects {:?}, which do not take {ours}; \
             add {ours} to its subjects (nats stream edit)",
            config.subjects
        ));
    }
    if config.retention != stream::RetentionPolicy::WorkQueue {
        tracing::warn!(
            stream = %name,
            retention = ?config.retention,
            "the stream exists with another retention than work queue: messages stay after they are written, until the stream's own limits remove them"
        );
    }
    if config.num_replicas != replicas {
        tracing::warn!(
            stream = %name,
            replicas = config.num_replicas,
            configured = replicas,
            "the stream exists with another replica count; it is used as it is"
        );
    }
    if config.duplicate_window.is_zero() {
        tracing::warn!(
            stream = %name,
            "the stream has no duplicate window: a publish retried after a lost acknowledgement is stored twice"
        );
    }
    Ok(())
}

/// Whether `event` is the server refusing this node's credentials (the
/// client library reports a refused connect as a client error carrying the
/// server's words).
fn is_refusal(event: &async_nats::Event) -> bool {
    match event {
        async_nats::Event::ServerError(async_nats::ServerError::AuthorizationViolation) => true,
        async_nats::Event::ClientError(async_nats::ClientError::Other(why)) => {
            let why = why.to_ascii_lowercase();
            why.contains("authorization violation") || why.contains("authentication")
        }
        _ => false,
    }
}

fn on_event(stats: &ClusterStats, notices: &RateLimiter, creds: &str, event: async_nats::Event) {
    if is_refusal(&event) {
        let v = notices.check("nats_auth");
        if v.log {
            tracing::error!(
                suppressed = v.suppressed,
                reason = "nats_auth",
                nats_creds = creds,
                "NATS refused this node ({event}): check that nats_creds is set and that \
                 the server knows its account (operator mode: resolver or resolver_preload); \
                 retrying, clients are pushed back meanwhile"
            );
        }
        return;
    }
    match event {
        async_nats::Event::Connected => {
            stats.connected.store(true, Ordering::Relaxed);
            tracing::info!("connected to NATS");
        }
        async_nats::Event::Disconnected => {
            stats.connected.store(false, Ordering::Relaxed);
            stats.disconnects.fetch_add(1, Ordering::Relaxed);
            let v = notices.check("nats_disconnected");
            if v.log {
                tracing::warn!(
                    suppressed = v.suppressed,
                    reason = "nats_disconnected",
                    "lost the NATS connection; reconnecting (clients are pushed back meanwhile)"
                );
            }
        }
        async_nats::Event::Closed => tracing::info!("NATS connection closed"),
        other => {
            let v = notices.check("nats_event");
            if v.log {
                tracing::warn!(
                    suppressed = v.suppressed,
                    reason = "nats_event",
                    "NATS: {other}"
                );
            }
        }
    }
}

/// A message id unique to this node and start: a resend of the same
/// message reuses it (and JetStream drops the copy), while a restarted node
/// never collides with its earlier self.
pub(crate) fn boot_id(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{name}-{}-{nanos:x}", std::process::id())
}

/// A count as a gauge value.
fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_stream_must_take_our_subjects() {
        let mut c = stream::Config {
            name: "LOGHOG".into(),
            subjects: vec!["other.>".into()],
            retention: stream::RetentionPolicy::WorkQueue,
            num_replicas: 3,
            duplicate_window: DUPLICATE_WINDOW,
            ..Default::default()
        };
        let e = check_existing(&c, "LOGHOG", 3).unwrap_err();
        assert!(e.contains("do not take LOGHOG.>"), "{e}");
        c.subjects.push("LOGHOG.>".into());
        assert_eq!(check_existing(&c, "LOGHOG", 3), Ok(()));
        c.num_replicas = 1;
        c.retention = stream::RetentionPolicy::Limits;
        assert_eq!(
            check_existing(&c, "LOGHOG", 3),
            Ok(()),
            "other settings only warn"
        );
    }

    #[test]
    fn publish_lag_counts_what_is_neither_acked_nor_lost() {
        let s = ClusterStats::default();
        s.records_published.store(10, Ordering::Relaxed);
        s.records_acked.store(6, Ordering::Relaxed);
        s.records_lost.store(1, Ordering::Relaxed);
        assert_eq!(s.publish_lag(), 3);
        assert_ne!(boot_id("a"), "", "ids are made");
    }
}
