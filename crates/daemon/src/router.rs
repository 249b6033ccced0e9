//! The router: from frames to lines in per-file batches.
//!
//! A connection feeds every frame it has read to one [`Batch`]; the router
//! opens the payload, parses and verifies the message, resolves the facility
//! and appends the formatted line to the group for its file. When the read
//! is done the groups go to the writers whole, so records from one read are
//! written together and records from different peers never mix inside a line.
//! With `file_per_host`, the hosts a facility has seen are bounded
//! (`max_hosts`); further hosts share the facility's own file.
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use loghog_proto::{Message, RawFrame, open_payload};
use tokio::sync::oneshot;

use crate::cluster::ingest::{CHUNK_BYTES, Outgoing, Publisher};
use crate::config::{Facilities, Facility};
use crate::ingest::rejects::Rejects;
use crate::metrics::{Metrics, NO_APP, UNKNOWN_APP};
use crate::ratelimit::RateLimiter;
use crate::replay::{DEFAULT_MAX_CLOCK_SKEW, MAX_NONCES, ReplayGuard};
use crate::storage::line::{LineClock, live_path};
use crate::storage::{StorageClosed, StorageHandle, WriteBatch};

/// Shared, reloadable routing state.
pub struct Router {
    facilities: ArcSwap<Facilities>,
    logdir: PathBuf,
    gzip: bool,
    max_payload: usize,
    storage: StorageHandle,
    rejects: Arc<Rejects>,
    /// Hosts with a file of their own, by app and facility name.
    hosts: Mutex<HashMap<String, HashMap<String, HashSet<String>>>>,
    /// Warnings about hosts over `max_hosts`, rate-limited.
    notices: RateLimiter,
    /// Signed records already accepted, for `replay_protection` facilities.
    replay: Arc<ReplayGuard>,
    metrics: Metrics,
    /// Cluster ingest: records go to JetStream instead of the writers.
    publisher: Option<Arc<Publisher>>,
}

impl Router {
    /// A router over `facilities` writing under `logdir` (`gzip`: live files
    /// are `.log.gz`).
    pub fn new(
        facilities: Facilities,
        logdir: PathBuf,
        gzip: bool,
        max_payload: usize,
        storage: StorageHandle,
        rejects: Arc<Rejects>,
    ) -> Router {
        Router {
            facilities: ArcSwap::from_pointee(facilities),
            logdir,
            gzip,
            max_payload,
            storage,
            rejects,
            hosts: Mutex::default(),
            notices: RateLimiter::default(),
            replay: Arc::new(ReplayGuard::new(DEFAULT_MAX_CLOCK_SKEW, None, MAX_NONCES)),
            metrics: Metrics::default(),
            publisher: None,
        }
    }

    /// Cluster ingest: commits publish to JetStream through `publisher`
    /// instead of writing (docs/cluster.md).
    pub fn with_publisher(mut self, publisher: Arc<Publisher>) -> Router {
        self.publisher = Some(publisher);
        self
    }

    /// Uses `replay` (loaded from workdir, with the configured clock skew)
    /// instead of an empty in-memory guard.
    pub fn with_replay(mut self, replay: Arc<ReplayGuard>) -> Router {
        self.replay = replay;
        self
    }

    /// Counts in `metrics` (UDP drops, and what connections count).
    pub fn with_metrics(mut self, metrics: Metrics) -> Router {
        self.metrics = metrics;
        self
    }

    /// The metrics every listener counts in.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Replaces the facilities (SIGHUP); batches in progress finish with the
    /// old ones.
    pub fn reload(&self, facilities: Facilities) {
        self.facilities.store(Arc::new(facilities));
    }

    /// The facilities in force now.
    pub fn facilities(&self) -> Arc<Facilities> {
        self.facilities.load_full()
    }

    /// The largest payload (and inflated payload) accepted.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// The bad-input log.
    pub fn rejects(&self) -> &Rejects {
        &self.rejects
    }

    /// The writers.
    pub fn storage(&self) -> &StorageHandle {
        &self.storage
    }

    /// Starts a batch of records read together.
    pub fn batch(&self) -> Batch {
        Batch {
            facilities: self.facilities.load_full(),
            groups: Vec::new(),
            clock: LineClock::new(),
            scratch: Vec::new(),
            size_hint: 0,
        }
    }

    /// Starts a read of about `bytes` bytes of frames: takes the time of
    /// receipt and the current facilities for the records that follow.
    pub fn begin(&self, batch: &mut Batch, bytes: usize) {
        batch.clock.tick();
        // Lines take no more room than the frames they come from (the JSON
        // around a body is longer than the time and separators), so one
        // allocation of this size holds a read's lines for one file.
        batch.size_hint = bytes.clamp(4096, 4 << 20);
        if !Arc::ptr_eq(&batch.facilities, &self.facilities.load()) {
            batch.facilities = self.facilities.load_full();
        }
    }

    /// Routes one frame into `batch`; a frame that cannot be written is
    /// reported and dropped, nothing else is affected.
    pub fn route(&self, batch: &mut Batch, peer: SocketAddr, frame: &RawFrame<'_>) {
        let _ = self.route_checked(batch, peer, frame);
    }

    /// Like [`Router::route`], and says why a frame was dropped (the
    /// reason a v2 acknowledgement carries).
    pub fn route_checked(
        &self,
        batch: &mut Batch,
        peer: SocketAddr,
        frame: &RawFrame<'_>,
    ) -> Result<(), &'static str> {
        let mut scratch = std::mem::take(&mut batch.scratch);
        let result = self.route_inner(batch, peer, frame, &mut scratch);
        batch.scratch = scratch;
        result.map_err(|(app, reason, detail)| {
            self.rejects.report_for(&app, peer, reason, &detail);
            reason
        })
    }

    /// Routes one frame; on rejection gives the app label it counts under
    /// (`(none)` before the message is parsed), the reason and the detail.
    fn route_inner(
        &self,
        batch: &mut Batch,
        peer: SocketAddr,
        frame: &RawFrame<'_>,
        scratch: &mut Vec<u8>,
    ) -> Result<(), (Cow<'static, str>, &'static str, String)> {
        let json = open_payload(frame, self.max_payload, scratch)
            .map_err(|e| (Cow::Borrowed(NO_APP), e.reason(), e.to_string()))?;
        let msg =
            Message::parse(json).map_err(|e| (Cow::Borrowed(NO_APP), e.reason(), e.to_string()))?;
        let Some(facility) = batch.facilities.resolve(&msg.app_id, &msg.module) else {
            return Err((
                Cow::Borrowed(UNKNOWN_APP),
                "unknown_app",
                format!("unknown app_id {:?}", msg.app_id),
            ));
        };
        if let Some(secret) = &facility.secret {
            msg.verify(secret.as_bytes()).map_err(|e| {
                (
                    Cow::Owned(facility.app.clone()),
                    e.reason(),
                    format!(
                        "{e} for app {:?} module {:?}: record dropped",
                        msg.app_id, msg.module
                    ),
                )
            })?;
            crate::replay::admit(&self.replay, facility, secret.as_bytes(), &msg)
                .map_err(|(reason, detail)| (Cow::Owned(facility.app.clone()), reason, detail))?;
        }
        let peer_ip;
        let hostname: &str = match &msg.hostname {
            Some(h) => h,
            None => {
                peer_ip = peer.ip().to_string();
                &peer_ip
            }
        };
        let facility = facility.clone();
        let group = batch.group(&facility, hostname);
        batch.clock_line(group, hostname, &msg.body);
        Ok(())
    }

    /// Hands the batch's groups to the writers, waiting for room (TCP, TLS).
    /// Each file's lines come with an acknowledgement the writer fires once
    /// it has taken them: written (and synced), for facilities with
    /// `flush_every = 1` or `fsync`; queued, for the others, unless the file
    /// cannot be written (then not until it is). See [`Committed`].
    pub async fn commit(&self, batch: &mut Batch) -> Result<Committed, StorageClosed> {
        self.commit_with(batch, false).await
    }

    /// Like [`Router::commit`], but every file's acknowledgement waits for
    /// the write itself (and the sync, for `fsync`), whatever `flush_every`
    /// says: what a v2 acknowledgement promises.
    pub async fn commit_written(&self, batch: &mut Batch) -> Result<Committed, StorageClosed> {
        self.commit_with(batch, true).await
    }

    async fn commit_with(
        &self,
        batch: &mut Batch,
        always_wait: bool,
    ) -> Result<Committed, StorageClosed> {
        let mut committed = Committed {
            acks: Vec::new(),
            wait_now: false,
        };
        if let Some(publisher) = &self.publisher {
            // The ack fires once JetStream has the whole read: "written"
            // becomes "accepted by JetStream", same handshake.
            let groups = take_outgoing(batch);
            if !groups.is_empty() {
                committed.acks.push(publisher.publish(groups).await);
            }
            return Ok(committed);
        }
        for mut wb in self.take_batches(batch) {
            let (tx, rx) = oneshot::channel();
            wb.ack = Some(tx);
            wb.wait_for_write = always_wait || wb.facility.fsync || wb.facility.flush_every <= 1;
            committed.wait_now |= wb.wait_for_write;
            committed.acks.push(rx);
            self.storage.write(wb).await?;
        }
        Ok(committed)
    }

    /// Hands the batch's groups to the writers if they have room; counts and
    /// drops what does not fit (UDP).
    pub fn try_commit(&self, batch: &mut Batch, peer: impl std::fmt::Display + Copy) {
        if let Some(publisher) = &self.publisher {
            if let Err(n) = publisher.try_publish(take_outgoing(batch)) {
                self.metrics.series().udp_datagrams_dropped.inc_by(n);
                self.rejects.report_loss(
                    crate::metrics::NO_APP,
                    peer,
                    "queue_full",
                    n,
                    &format!("too much unacknowledged by JetStream: {n} datagram records dropped"),
                );
            }
            return;
        }
        for wb in self.take_batches(batch) {
            if let Err(wb) = self.storage.try_write(wb) {
                let n = u64::from(wb.records);
                let total = self
                    .storage
                    .stats()
                    .records_lost
                    .fetch_add(n, std::sync::atomic::Ordering::Relaxed)
                    + n;
                self.metrics.series().udp_datagrams_dropped.inc_by(n);
                self.rejects.report_loss(
                    &wb.facility.app,
                    peer,
                    "queue_full",
                    n,
                    &format!(
                        "writer queue full: {n} datagram records dropped (lost_total={total})"
                    ),
                );
            }
        }
    }

    fn take_batches(&self, batch: &mut Batch) -> Vec<WriteBatch> {
        let mut out = Vec::with_capacity(batch.groups.len());
        for g in batch.groups.drain(..) {
            if g.records == 0 {
                continue;
            }
            let host = (g.facility.file_per_host && self.own_file(&g.facility, &g.host))
                .then_some(g.host.as_str());
            out.push(WriteBatch {
                path: live_path(
                    &self.logdir,
                    &g.facility.app,
                    &g.facility.name,
                    host,
                    self.gzip,
                ),
                facility: g.facility,
                data: g.lines,
                records: g.records,
                ack: None,
                wait_for_write: false,
            });
        }
        out
    }

    /// Whether `host` gets (or has) a file of its own: the first
    /// `max_hosts` distinct hosts a facility sees since start-up do; the
    /// lines of any further host go to the facility's shared file, with a
    /// rate-limited warning, so one client cannot open a file per name.
    fn own_file(&self, facility: &Facility, host: &str) -> bool {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        let per_app = match hosts.get_mut(&facility.app) {
            Some(m) => m,
            None => hosts.entry(facility.app.clone()).or_default(),
        };
        let seen = match per_app.get_mut(&facility.name) {
            Some(s) => s,
            None => per_app.entry(facility.name.clone()).or_default(),
        };
        if seen.contains(host) {
            return true;
        }
        if seen.len() < facility.max_hosts as usize {
            seen.insert(host.to_owned());
            return true;
        }
        drop(hosts);
        let v = self.notices.check("max_hosts");
        if v.log {
            tracing::warn!(
                app = %facility.app,
                facility = %facility.name,
                host = %shown(host),
                max_hosts = facility.max_hosts,
                suppressed = v.suppressed,
                reason = "max_hosts",
                "too many hosts for one file each; this host's lines go to the facility's shared file"
            );
        }
        false
    }
}

/// The writers' acknowledgements for one read handed over by [`Router::commit`].
pub struct Committed {
    /// One per file the read went to.
    pub acks: Vec<oneshot::Receiver<()>>,
    /// Some of the lines wait for their write (`flush_every = 1`, `fsync`):
    /// await `acks` before reading more, so a `kill -9` loses at most one
    /// read. Otherwise they may be awaited before the next commit instead,
    /// so reading overlaps writing yet a connection is never more than one
    /// read ahead of the writers (which is what pushes it back when a file
    /// cannot be written).
    pub wait_now: bool,
}

/// The batch's groups as the cluster publisher takes them.
fn take_outgoing(batch: &mut Batch) -> Vec<Outgoing> {
    batch
        .groups
        .drain(..)
        .filter(|g| g.records > 0)
        .map(|g| Outgoing {
            app: g.facility.app.clone(),
            facility: g.facility.name.clone(),
            host: g.host,
            lines: g.lines,
            records: g.records,
            cuts: g.cuts,
        })
        .collect()
}

/// At most the first 64 characters of a name sent by a client, for a log
/// line (a host name can be 100 KB).
fn shown(name: &str) -> &str {
    name.char_indices()
        .nth(64)
        .map_or(name, |(i, _)| &name[..i])
}

/// Records read together, grouped by destination file.
pub struct Batch {
    facilities: Arc<Facilities>,
    groups: Vec<Group>,
    clock: LineClock,
    scratch: Vec<u8>,
    /// Capacity for a new group's lines (see [`Router::begin`]).
    size_hint: usize,
}

struct Group {
    facility: Arc<Facility>,
    /// The host name as sent; only part of the key with `file_per_host`.
    host: String,
    lines: Vec<u8>,
    records: u32,
    /// Record boundaries about every [`CHUNK_BYTES`] (offset, records
    /// before it), where the cluster publisher may split a message.
    cuts: Vec<(usize, u32)>,
}

impl Batch {
    /// Whether nothing has been routed since the last commit.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The facilities this batch routes with (taken at [`Router::begin`]).
    pub fn facilities(&self) -> &Arc<Facilities> {
        &self.facilities
    }

    /// Appends one record already resolved to `facility` (records that do
    /// not come as v1 frames: syslog).
    pub fn push(&mut self, facility: &Arc<Facility>, hostname: &str, body: &str) {
        let group = self.group(facility, hostname);
        self.clock_line(group, hostname, body);
    }

    fn group(&mut self, facility: &Arc<Facility>, host: &str) -> usize {
        // A read usually feeds one or two files: a linear scan beats hashing.
        let found = self.groups.iter().position(|g| {
            Arc::ptr_eq(&g.facility, facility) && (!facility.file_per_host || g.host == host)
        });
        match found {
            Some(i) => i,
            None => {
                self.groups.push(Group {
                    facility: facility.clone(),
                    host: if facility.file_per_host {
                        host.to_owned()
                    } else {
                        String::new()
                    },
                    lines: Vec::with_capacity(self.size_hint),
                    records: 0,
                    cuts: Vec::new(),
                });
                self.groups.len() - 1
            }
        }
    }

    fn clock_line(&mut self, group: usize, hostname: &str, body: &str) {
        let g = &mut self.groups[group];
        let at = g.cuts.last().map_or(0, |c| c.0);
        if g.lines.len() - at >= CHUNK_BYTES {
            g.cuts.push((g.lines.len(), g.records));
        }
        self.clock.format_line(&mut g.lines, hostname, body);
        g.records += 1;
    }
}
