//! Every series loghogd exports, declared in one place: the label sets,
//! the [`Series`] struct and its registration (names, help texts, buckets).
//!
//! To add a series: add a field to [`Series`], register it in
//! [`Series::register`], and count through `Metrics::series()` wherever
//! the event happens. Label values come only from configuration or fixed
//! strings, never straight from a client, so the number of series is bounded.
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// A facility: its app and display name (`root`, `web.requests`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FacilityLabels {
    /// A configured app.
    pub app: String,
    /// The facility's display name.
    pub facility: String,
}

/// An app (configured, or one of the fixed values of [`super::app_label`]).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AppLabels {
    /// The app.
    pub app: String,
}

/// A rejection: the app (or `(unknown)`, `(none)`) and the stable reason of
/// the internal log line (docs/bad-input.md).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectLabels {
    /// The app, bounded (see [`super::app_label`]).
    pub app: String,
    /// The `reason=` of the log line.
    pub reason: String,
}

/// A listener kind: `tcp`, `tls`, `udp`, or `syslog` (syslog TCP connections).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransportLabels {
    /// `tcp`, `tls`, `udp` or `syslog`.
    pub transport: &'static str,
}

/// The outcome of a configuration reload: `ok` or `error`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `ok` or `error`.
    pub result: &'static str,
}

/// A cluster node's role: `ingest`, `archive` or `both`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RoleLabels {
    /// `ingest`, `archive` or `both`.
    pub role: &'static str,
}

/// The build, for `loghogd_build_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabels {
    /// The crate version loghogd was built from.
    pub version: &'static str,
}

/// A counter of seconds (a float kept in an `AtomicU64`).
pub type SecondsCounter = Counter<f64, AtomicU64>;

/// Every series. Fields are public so that any part of the daemon holding a
/// [`super::Metrics`] can count; each is a cheap `Arc` inside.
#[derive(Debug)]
pub struct Series {
    /// Records handed to the OS, per facility.
    pub records_written: Family<FacilityLabels, Counter>,
    /// Bytes of lines handed to the OS (before gzip), per facility.
    pub bytes_written: Family<FacilityLabels, Counter>,
    /// Frames, records and connections rejected, per app and reason.
    pub rejected: Family<RejectLabels, Counter>,
    /// Accepted records lost after routing (write errors, shutdown).
    pub records_lost: Counter,
    /// Stream connections open now (`tcp`, `tls`, `syslog`).
    pub connections_open: Family<TransportLabels, Gauge>,
    /// Stream connections accepted since start (`tcp`, `tls`, `syslog`).
    pub connections_accepted: Family<TransportLabels, Counter>,
    /// Bound sockets, per transport (`tcp`, `tls`, `udp`).
    pub listeners: Family<TransportLabels, Gauge>,
    /// Datagrams received on the UDP sockets.
    pub udp_datagrams_received: Counter,
    /// Datagram records dropped because the writers' queue was full.
    pub udp_datagrams_dropped: Counter,
    /// Batches queued for the writers, over all writers, at scrape time.
    pub writer_queue_depth: Gauge,
    /// Live files rotated, per app.
    pub rotations: Family<AppLabels, Counter>,
    /// Rotated files compressed, per app.
    pub compressions: Family<AppLabels, Counter>,
    /// Time spent compressing rotated files, per app.
    pub compression_seconds: Family<AppLabels, SecondsCounter>,
    /// Expired backups deleted by retention, per app.
    pub retention_deletions: Family<AppLabels, Counter>,
    /// fdatasync calls for `fsync = yes` facilities and their latency.
    pub fsync_seconds: Histogram,
    /// SIGHUP reloads of facilities.conf by result.
    pub config_reloads: Family<ResultLabels, Counter>,
    /// 1 labelled with the version.
    pub build_info: Family<VersionLabels, Gauge>,
    /// When this loghogd started (Unix seconds).
    pub start_time: Gauge,
    /// Cluster mode: 1 while the NATS connection is up, per role.
    pub cluster_connected: Family<RoleLabels, Gauge>,
    /// Cluster ingest: records handed to JetStream and not yet acknowledged.
    pub cluster_publish_lag: Gauge,
    /// Cluster ingest: how long the last acknowledged message waited for
    /// JetStream's acknowledgement, in microseconds.
    pub cluster_ack_wait_micros: Gauge,
    /// Cluster ingest: records JetStream has acknowledged.
    pub cluster_records_acked: Counter,
    /// Cluster archive: messages the consumers have yet to deliver.
    pub cluster_consumer_pending: Gauge,
    /// Cluster archive: records written from the stream.
    pub cluster_records_archived: Counter,
}

impl Series {
    /// Creates every series and registers it under the `loghogd_` prefix.
    pub fn register(r: &mut Registry) -> Series {
        let s = Series {
            records_written: Family::default(),
            bytes_written: Family::default(),
            rejected: Family::default(),
            records_lost: Counter::default(),
            connections_open: Family::default(),
            connections_accepted: Family::default(),
            listeners: Family::default(),
            udp_datagrams_received: Counter::default(),
            udp_datagrams_dropped: Counter::default(),
            writer_queue_depth: Gauge::default(),
            rotations: Family::default(),
            compressions: Family::default(),
            compression_seconds: Family::default(),
            retention_deletions: Family::default(),
            // 100 µs to about 1.6 s: a page-cache sync to a struggling disk.
            fsync_seconds: Histogram::new(exponential_buckets(0.0001, 4.0, 8)),
            config_reloads: Family::default(),
            build_info: Family::default(),
            start_time: Gauge::default(),
            cluster_connected: Family::default(),
            cluster_publish_lag: Gauge::default(),
            cluster_ack_wait_micros: Gauge::default(),
            cluster_records_acked: Counter::default(),
            cluster_consumer_pending: Gauge::default(),
            cluster_records_archived: Counter::default(),
        };
        r.register(
            "records_written",
            "Records written to log files, per app and facility",
            s.records_written.clone(),
        );
        r.register(
            "bytes_written",
            "Bytes of log lines written (uncompressed), per app and facility",
            s.bytes_written.clone(),
        );
        r.register(
            "rejected",
            "Frames, records and connections rejected, per app and reason of the internal log \
             (app=\"(unknown)\" for unknown apps, \"(none)\" before an app is known)",
            s.rejected.clone(),
        );
        r.register(
            "records_lost",
            "Accepted records lost after routing (write errors, unwritten at shutdown)",
            s.records_lost.clone(),
        );
        r.register(
            "connections_open",
            "Stream connections open, per transport",
            s.connections_open.clone(),
        );
        r.register(
            "connections_accepted",
            "Stream connections accepted, per transport",
            s.connections_accepted.clone(),
        );
        r.register(
            "listeners",
            "Sockets listening, per transport",
            s.listeners.clone(),
        );
        r.register(
            "udp_datagrams_received",
            "UDP datagrams received",
            s.udp_datagrams_received.clone(),
        );
        r.register(
            "udp_datagrams_dropped",
            "UDP datagram records dropped because the writers' queue was full",
            s.udp_datagrams_dropped.clone(),
        );
        r.register(
            "writer_queue_depth",
            "Batches waiting in the writers' queues",
            s.writer_queue_depth.clone(),
        );
        r.register(
            "rotations",
            "Log files rotated, per app",
            s.rotations.clone(),
        );
        r.register(
            "compressions",
            "Rotated files compressed, per app",
            s.compressions.clone(),
        );
        r.register(
            "compression_seconds",
            "Time spent compressing rotated files, per app",
            s.compression_seconds.clone(),
        );
        r.register(
            "retention_deletions",
            "Expired backups deleted, per app",
            s.retention_deletions.clone(),
        );
        r.register(
            "fsync_seconds",
            "fdatasync latency of fsync = yes facilities",
            s.fsync_seconds.clone(),
        );
        r.register(
            "config_reloads",
            "Reloads of facilities.conf (SIGHUP), per result",
            s.config_reloads.clone(),
        );
        r.register(
            "build_info",
            "The loghogd version (value 1)",
            s.build_info.clone(),
        );
        r.register(
            "start_time_seconds",
            "When loghogd started, in seconds since the epoch",
            s.start_time.clone(),
        );
        r.register(
            "cluster_connected",
            "Cluster mode: 1 while the NATS connection is up, per role",
            s.cluster_connected.clone(),
        );
        r.register(
            "cluster_publish_lag_records",
            "Cluster ingest: records handed to JetStream and not yet acknowledged",
            s.cluster_publish_lag.clone(),
        );
        r.register(
            "cluster_ack_wait_microseconds",
            "Cluster ingest: how long the last acknowledged message waited for JetStream",
            s.cluster_ack_wait_micros.clone(),
        );
        r.register(
            "cluster_records_acked",
            "Cluster ingest: records JetStream has acknowledged",
            s.cluster_records_acked.clone(),
        );
        r.register(
            "cluster_consumer_pending",
            "Cluster archive: messages the consumers have yet to deliver",
            s.cluster_consumer_pending.clone(),
        );
        r.register(
            "cluster_records_archived",
            "Cluster archive: records written from the stream",
            s.cluster_records_archived.clone(),
        );
        s
    }
}
