//! The daemon's counters and gauges, exported in the Prometheus (OpenMetrics)
//! text format on `[metrics] listen` (see [`http`]).
//!
//! [`Metrics`] is a cheap cloneable handle every part of the daemon holds;
//! the series themselves are declared in [`series`]. On the hot path the
//! label lookup is done once (a writer resolves its file's
//! [`FacilityCounters`] when it first writes it), then counting is one
//! atomic add per batch. App labels are bounded: a name that is not a
//! configured app is counted as `(unknown)`.
pub mod http;
pub mod series;

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use series::{AppLabels, FacilityLabels, RejectLabels, ResultLabels, TransportLabels};
pub use series::{RoleLabels, Series};

/// The app label of a record whose `app_id` is not configured: one value
/// for every unknown name, so random names cannot create series.
pub const UNKNOWN_APP: &str = "(unknown)";
/// The app label of a rejection that happened before any app was known
/// (a bad frame, a connection limit, a TLS handshake).
pub const NO_APP: &str = "(none)";

/// Called before each scrape, to set the gauges that are read rather than
/// counted (queue depth, totals kept elsewhere).
type ScrapeHook = Box<dyn Fn(&Series) + Send + Sync>;

/// The shared metrics: the registry, its series and the configured apps.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    series: Series,
    /// Apps that may be label values: every app configured since start.
    apps: RwLock<HashSet<String>>,
    hooks: RwLock<Vec<ScrapeHook>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every series at zero; the start time and build version set.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("loghogd");
        let series = Series::register(&mut registry);
        series
            .build_info
            .get_or_create(&series::VersionLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        series.start_time.set(now.as_secs() as i64);
        Metrics {
            inner: Arc::new(Inner {
                registry,
                series,
                apps: RwLock::default(),
                hooks: RwLock::default(),
            }),
        }
    }

    /// Every series, to count on.
    pub fn series(&self) -> &Series {
        &self.inner.series
    }

    /// Adds `apps` to the apps that are label values of their own (at start
    /// and on every reload; apps removed keep their series).
    pub fn add_apps<'a>(&self, apps: impl IntoIterator<Item = &'a str>) {
        let mut known = self.inner.apps.write().unwrap_or_else(|p| p.into_inner());
        for app in apps {
            if !known.contains(app) {
                known.insert(app.to_owned());
            }
        }
    }

    /// `app` if it is a configured app, else [`UNKNOWN_APP`].
    pub fn app_label(&self, app: &str) -> String {
        let known = self.inner.apps.read().unwrap_or_else(|p| p.into_inner());
        if known.contains(app) {
            app.to_owned()
        } else {
            UNKNOWN_APP.to_owned()
        }
    }

    /// Runs `hook` before every scrape (for values read, not counted).
    pub fn on_scrape(&self, hook: impl Fn(&Series) + Send + Sync + 'static) {
        self.inner
            .hooks
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(Box::new(hook));
    }

    /// The counters of one facility's files, looked up once by the writer
    /// that owns them. `app` comes from the configuration.
    pub fn facility(&self, app: &str, facility: &str) -> FacilityCounters {
        let labels = FacilityLabels {
            app: self.app_label(app),
            facility: facility.to_owned(),
        };
        let s = self.series();
        FacilityCounters {
            records: s.records_written.get_or_create_owned(&labels),
            bytes: s.bytes_written.get_or_create_owned(&labels),
        }
    }

    /// Counts one rejection (or `amount` rejected records) with the reason
    /// of its log line. `app` is a configured app, [`UNKNOWN_APP`] or
    /// [`NO_APP`]; anything else is counted as unknown.
    pub fn rejected(&self, app: &str, reason: &str, amount: u64) {
        let app = if app == NO_APP || app == UNKNOWN_APP {
            app.to_owned()
        } else {
            self.app_label(app)
        };
        self.series()
            .rejected
            .get_or_create(&RejectLabels {
                app,
                reason: reason.to_owned(),
            })
            .inc_by(amount);
    }

    /// A stream connection accepted on `transport` (`tcp`, `tls`): counted,
    /// and open until the guard is dropped.
    pub fn connection(&self, transport: &'static str) -> ConnectionGuard {
        let labels = TransportLabels { transport };
        let s = self.series();
        s.connections_accepted.get_or_create(&labels).inc();
        let open = s.connections_open.get_or_create_owned(&labels);
        open.inc();
        ConnectionGuard { open }
    }

    /// `count` sockets bound for `transport`; a stream transport's
    /// connection series show from the start, at zero.
    pub fn listening(&self, transport: &'static str, count: usize) {
        let labels = TransportLabels { transport };
        let s = self.series();
        s.listeners.get_or_create(&labels).set(count as i64);
        if count > 0 && transport != "udp" {
            let _ = s.connections_open.get_or_create(&labels);
            let _ = s.connections_accepted.get_or_create(&labels);
        }
    }

    /// A live file of `app` was rotated.
    pub fn rotated(&self, app: &str) {
        self.per_app(&self.series().rotations, app).inc();
    }

    /// A rotated file of `app` was compressed in `took`.
    pub fn compressed(&self, app: &str, took: Duration) {
        let s = self.series();
        self.per_app(&s.compressions, app).inc();
        self.per_app(&s.compression_seconds, app)
            .inc_by(took.as_secs_f64());
    }

    /// Retention deleted `n` backups of `app`.
    pub fn retention_deleted(&self, app: &str, n: usize) {
        if n > 0 {
            self.per_app(&self.series().retention_deletions, app)
                .inc_by(n as u64);
        }
    }

    /// One fdatasync of an `fsync = yes` file took `took`.
    pub fn fsynced(&self, took: Duration) {
        self.series().fsync_seconds.observe(took.as_secs_f64());
    }

    /// A reload of facilities.conf, successful or not.
    pub fn reloaded(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.series()
            .config_reloads
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    fn per_app<M: Clone + Default>(
        &self,
        family: &prometheus_client::metrics::family::Family<AppLabels, M>,
        app: &str,
    ) -> M {
        family.get_or_create_owned(&AppLabels {
            app: self.app_label(app),
        })
    }

    /// The text exposition of every series (OpenMetrics 1.0, which
    /// Prometheus reads), after running the scrape hooks.
    pub fn encode(&self) -> String {
        for hook in self
            .inner
            .hooks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            hook(self.series());
        }
        let mut out = String::with_capacity(8192);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry);
        out
    }
}

/// Records and bytes written to one facility's files: two atomic counters,
/// resolved once per live file.
#[derive(Clone, Debug)]
pub struct FacilityCounters {
    records: Counter,
    bytes: Counter,
}

impl FacilityCounters {
    /// Counts a write of `records` records in `bytes` bytes.
    pub fn written(&self, records: u64, bytes: u64) {
        self.records.inc_by(records);
        self.bytes.inc_by(bytes);
    }
}

/// An open stream connection, counted in `loghogd_connections_open` until
/// dropped.
#[derive(Debug)]
pub struct ConnectionGuard {
    open: Gauge,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.open.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(text: &str, prefix: &str) -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn unknown_apps_share_one_label_value() {
        let m = Metrics::new();
        m.add_apps(["billing"]);
        for i in 0..50 {
            m.rejected(&format!("random-{i}"), "unknown_app", 1);
        }
        m.rejected(UNKNOWN_APP, "unknown_app", 1);
        m.rejected("billing", "bad_signature", 2);
        m.rejected(NO_APP, "invalid_message", 1);
        let text = m.encode();
        let rejected = sample(&text, "loghogd_rejected_total");
        assert_eq!(
            rejected.len(),
            3,
            "one series per (app, reason): {rejected:?}"
        );
        assert!(
            text.contains(r#"loghogd_rejected_total{app="(unknown)",reason="unknown_app"} 51"#)
        );
        assert!(text.contains(r#"loghogd_rejected_total{app="billing",reason="bad_signature"} 2"#));
        assert!(
            text.contains(r#"loghogd_rejected_total{app="(none)",reason="invalid_message"} 1"#)
        );
    }

    #[test]
    fn facility_counters_and_connection_guards_count() {
        let m = Metrics::new();
        m.add_apps(["web"]);
        let c = m.facility("web", "root");
        c.written(3, 120);
        m.facility("web", "root").written(1, 40);
        let g = m.connection("tcp");
        let _h = m.connection("tls");
        drop(g);
        let text = m.encode();
        assert!(text.contains(r#"loghogd_records_written_total{app="web",facility="root"} 4"#));
        assert!(text.contains(r#"loghogd_bytes_written_total{app="web",facility="root"} 160"#));
        assert!(text.contains(r#"loghogd_connections_open{transport="tcp"} 0"#));
        assert!(text.contains(r#"loghogd_connections_open{transport="tls"} 1"#));
        assert!(text.contains(r#"loghogd_connections_accepted_total{transport="tcp"} 1"#));
        assert!(text.contains(r#"loghogd_build_info{version=""#));
    }

    #[test]
    fn listen_takes_both_families_and_defaults_the_port() {
        use crate::config::{Args, DaemonConfig};
        let path = std::path::Path::new("/etc/loghogd/loghogd.conf");
        let load = |metrics: &str| {
            let text = format!("[main]\nfacilities_config = f.conf\n{metrics}");
            DaemonConfig::parse(path, &text, &Args::with_config(path))
        };
        let (c, warnings) = load("").expect("no [metrics]");
        assert!(c.metrics.listen.is_empty(), "off by default");
        assert!(warnings.is_empty());
        let (c, warnings) =
            load("[metrics]\nlisten = 127.0.0.1, [::1]:9100").expect("two addresses");
        assert!(warnings.is_empty(), "{warnings:?}");
        let want: Vec<std::net::SocketAddr> = vec![
            "127.0.0.1:9566".parse().unwrap(),
            "[::1]:9100".parse().unwrap(),
        ];
        assert_eq!(c.metrics.listen, want);
        let errors = load("[metrics]\nlisten = nowhere:x").expect_err("bad port");
        assert!(errors[0].message.contains("[metrics] listen"), "{errors:?}");
    }

    #[test]
    fn scrape_hooks_set_read_values() {
        let m = Metrics::new();
        m.on_scrape(|s| {
            s.writer_queue_depth.set(7);
        });
        assert!(m.encode().contains("loghogd_writer_queue_depth 7\n"));
    }
}
