//! The writers: one OS thread per shard, each the only owner of the files
//! whose paths hash to it, including their rotation.
//!
//! Connections hand over whole batches of formatted lines through a bounded
//! queue per shard (TCP waits when it is full: back-pressure on the socket;
//! UDP drops and counts). A writer drains everything queued, then writes
//! each file's pending lines with one `write` and, for `fsync = yes`
//! facilities, one `fdatasync` for all the batches of the round (group
//! commit) before it acknowledges them. Before each write, and on every
//! tick for idle files, the writer asks `RotationPolicy::due`; rotated files
//! go to the archiver thread, which compresses them and then applies
//! retention, so neither ever runs on the ingest path.
use std::collections::HashMap;
use std::fs::{DirBuilder, File, OpenOptions};
use std::hash::BuildHasher;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jiff::{Timestamp, Zoned};
use tokio::sync::{mpsc, oneshot};

use super::archive::{Archived, Archiver, CompressFormat, sweep_uncompressed};
use super::gzlive::{GzLiveFile, repair_torn_tail};
use super::retention::{parse_rotated_name, prune};
use super::rotation::{Clock, Reason, RotationPolicy, rotate_file};
use super::state::StateStore;
use crate::config::{Facilities, Facility};

/// Lines for one file, read together from one peer.
#[derive(Debug)]
pub struct WriteBatch {
    /// The live file.
    pub path: PathBuf,
    /// The facility the lines belong to (its settings as of this batch).
    pub facility: Arc<Facility>,
    /// Whole lines, each ending in `\n`.
    pub data: Vec<u8>,
    /// How many records `data` holds.
    pub records: u32,
    /// Fired once the batch is written (and synced, for `fsync` facilities).
    pub ack: Option<oneshot::Sender<()>>,
}

/// What a writer thread is asked to do.
#[derive(Debug)]
pub enum Command {
    /// Append a batch.
    Write(WriteBatch),
    /// Periodic: hand pending lines to the OS even below `flush_every`, and
    /// rotate files (idle ones too) whose schedule has fired.
    Tick,
    /// Close every file and open again the ones that were open (SIGHUP): a
    /// file moved away is recreated.
    Reopen,
    /// Start watching an existing live file found at start-up, so its
    /// schedule is checked (and an overdue rotation done) with no traffic.
    Track(PathBuf, Arc<Facility>),
    /// Write everything, sync, close, and stop; fired when done.
    Shutdown(oneshot::Sender<()>),
}

/// Counters shared by all writers.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Records handed to the OS.
    pub records_written: AtomicU64,
    /// Records lost to write errors.
    pub records_lost: AtomicU64,
    /// Files rotated.
    pub rotations: AtomicU64,
}

/// How the writers are set up.
#[derive(Debug, Clone)]
pub struct StorageSettings {
    /// Writer threads; each file belongs to exactly one.
    pub shards: usize,
    /// Batches each writer's queue holds before senders wait.
    pub queue_batches: usize,
    /// Where the start times of live files are persisted.
    pub workdir: PathBuf,
    /// Archive format of rotated files.
    pub format: CompressFormat,
    /// Compression level (0-9) of archives and of `.gz` live files.
    pub level: u32,
}

/// What every writer shares: the clock, the persisted start times and the
/// archiver with the retention it applies.
struct Housekeeping {
    clock: Arc<dyn Clock>,
    state: Mutex<StateStore>,
    archiver: Mutex<Option<Archiver>>,
    /// `backup_count` by live file, read by the archiver's retention pass.
    keep: Arc<Mutex<HashMap<PathBuf, usize>>>,
    level: u32,
}

impl Housekeeping {
    /// Persist `started` for `path`; a failure costs at most one early or
    /// late rotation after a restart, so it is logged, not fatal.
    fn save_start(&self, path: &Path, started: Timestamp) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.set(path, started);
        if let Err(e) = state.save() {
            tracing::error!(path = %state.path().display(), error = %e, reason = "state_not_saved", "cannot save rotation state");
        }
    }

    fn saved_start(&self, path: &Path) -> Option<Timestamp> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
    }

    fn set_keep(&self, live: &Path, facility: &Facility) {
        self.keep
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(live.to_path_buf(), facility.backup_count as usize);
    }

    /// Queue a rotated file: compressed, or (already gzip) only pruned.
    fn archive(&self, rotated: PathBuf, compress: bool) {
        let archiver = self.archiver.lock().unwrap_or_else(|e| e.into_inner());
        match archiver.as_ref() {
            Some(a) if compress => a.submit(rotated),
            Some(a) => a.submit_uncompressed(rotated),
            None => false,
        };
    }
}

/// Retention after an archive job: keep the newest `backup_count` backups
/// of the live file the rotated file belongs to. Files of live files no
/// configured facility names (unknown `keep`) are left alone.
fn retain(keep: &Mutex<HashMap<PathBuf, usize>>, done: &Archived) {
    let (Some(dir), Some(name)) = (
        done.src.parent(),
        done.src.file_name().and_then(|n| n.to_str()),
    ) else {
        return;
    };
    let Some(parsed) = parse_rotated_name(name) else {
        return;
    };
    let live = dir.join(parsed.live);
    let Some(n) = keep
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&live)
        .copied()
    else {
        return;
    };
    if let Err(e) = prune(dir, parsed.live, n) {
        tracing::error!(dir = %dir.display(), live = parsed.live, error = %e, reason = "retention_failed", "cannot delete expired backups");
    }
}

/// The running writers.
pub struct Storage {
    handle: StorageHandle,
    threads: Vec<JoinHandle<()>>,
    housekeeping: Arc<Housekeeping>,
}

/// The cheap, cloneable side that connections use to hand over batches.
#[derive(Clone)]
pub struct StorageHandle {
    shards: Arc<[mpsc::Sender<Command>]>,
    hasher: std::collections::hash_map::RandomState,
    stats: Arc<WriterStats>,
}

/// The writer's queue is closed: the daemon is stopping.
#[derive(Debug, thiserror::Error)]
#[error("storage is shut down")]
pub struct StorageClosed;

/// How long shutdown lets the archiver finish queued work before the rest
/// is left for the next start-up sweep.
const ARCHIVER_DEADLINE: Duration = Duration::from_secs(5);

impl Storage {
    /// Loads the rotation state from `workdir` (created 0750 if missing),
    /// starts the archiver and the writer threads. Only the writers read
    /// `clock`.
    pub fn start(settings: &StorageSettings, clock: Arc<dyn Clock>) -> io::Result<Storage> {
        if !settings.workdir.is_dir() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o750)
                .create(&settings.workdir)?;
        }
        let state = StateStore::load(&settings.workdir)?;
        let keep: Arc<Mutex<HashMap<PathBuf, usize>>> = Arc::default();
        let archiver = Archiver::start(settings.format, settings.level, {
            let keep = keep.clone();
            move |done| retain(&keep, &done)
        })?;
        let housekeeping = Arc::new(Housekeeping {
            clock,
            state: Mutex::new(state),
            archiver: Mutex::new(Some(archiver)),
            keep,
            level: settings.level,
        });
        let stats = Arc::new(WriterStats::default());
        let mut senders = Vec::new();
        let mut threads = Vec::new();
        for shard in 0..settings.shards.max(1) {
            let (tx, rx) = mpsc::channel(settings.queue_batches.max(1));
            let writer = Writer::new(stats.clone(), housekeeping.clone());
            let thread = std::thread::Builder::new()
                .name(format!("loghogd-writer-{shard}"))
                .spawn(move || writer.run(rx))?;
            senders.push(tx);
            threads.push(thread);
        }
        Ok(Storage {
            handle: StorageHandle {
                shards: senders.into(),
                hasher: Default::default(),
                stats,
            },
            threads,
            housekeeping,
        })
    }

    /// The handle connections use.
    pub fn handle(&self) -> StorageHandle {
        self.handle.clone()
    }

    /// Start-up work before any listener serves: in every app directory of
    /// `logdir`, finish what a crash left (rotated files not yet compressed
    /// are queued for the archiver) and hand every live file of a configured
    /// facility to its writer, which rotates it at once if it is overdue.
    /// Returns how many rotated files were queued for compression.
    pub async fn recover(
        &self,
        logdir: &Path,
        facilities: &Facilities,
        gzip: bool,
    ) -> io::Result<usize> {
        let apps = match std::fs::read_dir(logdir) {
            Ok(apps) => apps,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut queued = 0;
        for app in apps {
            let app = app?;
            if !app.file_type()?.is_dir() {
                continue;
            }
            let dir = app.path();
            let app_name = app.file_name().to_string_lossy().into_owned();
            let configured: Vec<&Arc<Facility>> = facilities
                .facilities()
                .filter(|f| f.app == app_name)
                .collect();
            let leftovers = match sweep_uncompressed(&dir) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(dir = %dir.display(), error = %e, "cannot sweep log directory");
                    continue;
                }
            };
            for rotated in leftovers {
                if let Some(live) = rotated
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(parse_rotated_name)
                    .map(|p| p.live.to_owned())
                    && let Some(f) = facility_of(&configured, &live)
                {
                    self.housekeeping.set_keep(&dir.join(&live), f);
                }
                tracing::info!(path = %rotated.display(), "compressing rotated file left uncompressed");
                self.housekeeping.archive(rotated, true);
                queued += 1;
            }
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                let Some(live) = name.strip_suffix(if gzip { ".gz" } else { "" }) else {
                    continue;
                };
                if !entry.file_type()?.is_file() || parse_rotated_name(name).is_some() {
                    continue;
                }
                if let Some(f) = facility_of(&configured, live) {
                    let path = entry.path();
                    self.housekeeping.set_keep(&path, f);
                    self.handle
                        .shard(&path)
                        .send(Command::Track(path, f.clone()))
                        .await
                        .map_err(|_| io::Error::other(StorageClosed))?;
                }
            }
        }
        Ok(queued)
    }

    /// Asks every writer to write, sync and close everything, waits for the
    /// threads to finish, then gives the archiver a few seconds for its
    /// queue (what is left is compressed at the next start-up).
    pub async fn shutdown(self) {
        let mut done = Vec::new();
        for tx in self.handle.shards.iter() {
            let (ack, wait) = oneshot::channel();
            if tx.send(Command::Shutdown(ack)).await.is_ok() {
                done.push(wait);
            }
        }
        for wait in done {
            let _ = wait.await;
        }
        let threads = self.threads;
        let housekeeping = self.housekeeping;
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
            let archiver = housekeeping
                .archiver
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(a) = archiver {
                a.shutdown(Instant::now() + ARCHIVER_DEADLINE);
            }
        })
        .await;
    }
}

/// The facility whose live file name (`{name}.log`, or `{host}-{name}.log`
/// for one file per host) is `live` (without a `.gz`); the longest name
/// wins when several match.
fn facility_of<'a>(configured: &[&'a Arc<Facility>], live: &str) -> Option<&'a Arc<Facility>> {
    let stem = live.strip_suffix(".log")?;
    configured
        .iter()
        .filter(|f| {
            (!f.file_per_host && stem == f.name)
                || (f.file_per_host
                    && stem
                        .strip_suffix(f.name.as_str())
                        .is_some_and(|h| h.len() > 1 && h.ends_with('-')))
        })
        .max_by_key(|f| f.name.len())
        .copied()
}

impl StorageHandle {
    fn shard(&self, path: &Path) -> &mpsc::Sender<Command> {
        let h = self.hasher.hash_one(path);
        &self.shards[(h % self.shards.len() as u64) as usize]
    }

    /// Hands a batch to its file's writer, waiting while the queue is full.
    pub async fn write(&self, batch: WriteBatch) -> Result<(), StorageClosed> {
        self.shard(&batch.path)
            .send(Command::Write(batch))
            .await
            .map_err(|_| StorageClosed)
    }

    /// Hands a batch over only if its writer's queue has room; gives it back
    /// otherwise (UDP drops it).
    pub fn try_write(&self, batch: WriteBatch) -> Result<(), WriteBatch> {
        let shard = self.shard(&batch.path).clone();
        shard.try_send(Command::Write(batch)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(Command::Write(b))
            | mpsc::error::TrySendError::Closed(Command::Write(b)) => b,
            _ => unreachable!("only Write commands are sent here"),
        })
    }

    /// Sends a command to every writer without waiting for room (ticks and
    /// reopen requests are idempotent, so a full queue can skip one).
    pub fn broadcast(&self, make: impl Fn() -> Command) {
        for tx in self.shards.iter() {
            let _ = tx.try_send(make());
        }
    }

    /// The writers' counters.
    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }
}

/// An open live file: plain, or gzip written in members (`compress_on_write`).
enum Sink {
    Plain(File),
    Gz(GzLiveFile),
}

impl Sink {
    fn file(&self) -> &File {
        match self {
            Sink::Plain(f) => f,
            Sink::Gz(g) => g.file(),
        }
    }
}

/// A live file and what is waiting to be written to it.
struct LiveFile {
    sink: Option<Sink>,
    facility: Arc<Facility>,
    pending: Vec<u8>,
    pending_records: u32,
    /// Written since the last sync.
    unsynced: bool,
    waiters: Vec<oneshot::Sender<()>>,
    /// `size` and `started` reflect the file on disk.
    loaded: bool,
    /// Bytes in the file (compressed bytes for `.gz`): what `max_size` limits.
    size: u64,
    /// When the file's first line was written; `None` while it is empty.
    started: Option<Zoned>,
    /// A `.gz` file's torn tail has been cut (once per process).
    repaired: bool,
    /// After a failed rotation, no new attempt before this.
    retry_rotation_at: Option<Instant>,
    /// The schedule's next fire for (start, expression): every tick asks.
    fire_cache: Option<(Timestamp, String, Option<Timestamp>)>,
}

impl LiveFile {
    fn new(facility: Arc<Facility>) -> LiveFile {
        LiveFile {
            sink: None,
            facility,
            pending: Vec::new(),
            pending_records: 0,
            unsynced: false,
            waiters: Vec::new(),
            loaded: false,
            size: 0,
            started: None,
            repaired: false,
            retry_rotation_at: None,
            fire_cache: None,
        }
    }

    /// The first fire of the facility's schedule after `started`.
    fn next_fire(&mut self, started: &Zoned) -> Option<Timestamp> {
        let schedule = self.facility.schedule.as_ref()?;
        let start = started.timestamp();
        if let Some((t, expr, fire)) = &self.fire_cache
            && *t == start
            && expr == schedule.expression()
        {
            return *fire;
        }
        let fire = schedule.next_after(started).map(|z| z.timestamp());
        self.fire_cache = Some((start, schedule.expression().to_owned(), fire));
        fire
    }
}

/// A writer round takes at most about this many bytes from its queue
/// before writing; a file holds no more than this below `flush_every`.
const ROUND_BYTES: usize = 4 << 20;

/// Beyond this much unwritten data for one file (the disk keeps failing),
/// new lines are dropped and counted instead of held.
const MAX_PENDING_BYTES: usize = 64 << 20;

/// After a rotation fails (permissions, a full name space), how long the
/// writer keeps appending to the live file before trying again.
const ROTATION_RETRY: Duration = Duration::from_secs(60);

struct Writer {
    files: HashMap<PathBuf, LiveFile>,
    stats: Arc<WriterStats>,
    hk: Arc<Housekeeping>,
}

fn is_gz(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

impl Writer {
    fn new(stats: Arc<WriterStats>, hk: Arc<Housekeeping>) -> Self {
        Writer {
            files: HashMap::new(),
            stats,
            hk,
        }
    }

    fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        while let Some(first) = rx.blocking_recv() {
            let mut tick = false;
            let mut stop = None;
            let mut next = Some(first);
            let mut round_bytes = 0;
            // Take what is already queued, up to ROUND_BYTES: one write per
            // file per round, and memory bounded however far behind we are.
            while let Some(cmd) = next {
                match cmd {
                    Command::Write(batch) => {
                        round_bytes += batch.data.len();
                        self.accept(batch);
                        if round_bytes >= ROUND_BYTES {
                            break;
                        }
                    }
                    Command::Tick => tick = true,
                    Command::Reopen => self.reopen(),
                    Command::Track(path, facility) => self.track(path, facility),
                    Command::Shutdown(ack) => {
                        stop = Some(ack);
                        break;
                    }
                }
                next = rx.try_recv().ok();
            }
            self.flush_all(tick || stop.is_some());
            if tick {
                self.rotate_idle();
            }
            if let Some(ack) = stop {
                self.sync_all();
                self.files.clear();
                let _ = ack.send(());
                return;
            }
        }
        self.flush_all(true);
        self.sync_all();
    }

    fn accept(&mut self, batch: WriteBatch) {
        let live = self
            .files
            .entry(batch.path)
            .or_insert_with(|| LiveFile::new(batch.facility.clone()));
        live.facility = batch.facility;
        if live.pending.len() + batch.data.len() > MAX_PENDING_BYTES {
            self.stats
                .records_lost
                .fetch_add(u64::from(batch.records), Ordering::Relaxed);
        } else if live.pending.is_empty() {
            live.pending = batch.data;
            live.pending_records = batch.records;
        } else {
            live.pending.extend_from_slice(&batch.data);
            live.pending_records += batch.records;
        }
        if let Some(ack) = batch.ack {
            live.waiters.push(ack);
        }
    }

    fn track(&mut self, path: PathBuf, facility: Arc<Facility>) {
        let hk = self.hk.clone();
        let live = self
            .files
            .entry(path.clone())
            .or_insert_with(|| LiveFile::new(facility.clone()));
        live.facility = facility;
        // A torn tail from a crash is cut before the file can be rotated
        // with it (an overdue file rotates right here).
        if is_gz(&path)
            && let Err(e) = repair_once(&path, live)
        {
            tracing::error!(path = %path.display(), error = %e, "cannot check the gzip file for a torn tail");
        }
        self.rotate_if_due(&path, 0, &hk);
    }

    /// SIGHUP: close every file and reopen those that were open, so a file
    /// moved away is recreated now rather than at the next record.
    fn reopen(&mut self) {
        self.flush_all(true);
        self.sync_all();
        let hk = self.hk.clone();
        for (path, live) in self.files.iter_mut() {
            let was_open = live.sink.take().is_some();
            live.loaded = false;
            if was_open && let Err(e) = open_sink(path, live, &hk) {
                tracing::error!(path = %path.display(), error = %e, "cannot reopen log file");
            }
        }
    }

    fn flush_all(&mut self, force: bool) {
        let hk = self.hk.clone();
        let paths: Vec<PathBuf> = self
            .files
            .iter()
            .filter(|(_, live)| {
                let due = force
                    || !live.waiters.is_empty()
                    || live.pending_records >= live.facility.flush_every.max(1)
                    || live.pending.len() >= ROUND_BYTES;
                due && !live.pending.is_empty()
            })
            .map(|(p, _)| p.clone())
            .collect();
        for path in paths {
            let incoming = match self.files.get(&path) {
                // A member's compressed size is unknown until it is built:
                // `.gz` files rotate once they reach `max_size`.
                Some(_) if is_gz(&path) => 0,
                Some(live) => live.pending.len() as u64,
                None => continue,
            };
            self.rotate_if_due(&path, incoming, &hk);
            let Some(live) = self.files.get_mut(&path) else {
                continue;
            };
            match write_pending(&path, live, &hk) {
                Ok(()) => {
                    self.stats
                        .records_written
                        .fetch_add(u64::from(live.pending_records), Ordering::Relaxed);
                    live.pending.clear();
                    live.pending_records = 0;
                    live.unsynced = true;
                }
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "cannot write log file; will retry");
                    live.sink = None;
                    live.loaded = false;
                }
            }
        }
        for (path, live) in self.files.iter_mut() {
            if !live.waiters.is_empty() && live.pending.is_empty() {
                if live.facility.fsync && live.unsynced {
                    sync(path, live);
                }
                for w in live.waiters.drain(..) {
                    let _ = w.send(());
                }
            }
            // Files that are not in use hold no memory beyond their entry.
            if live.pending.is_empty() && live.pending.capacity() > 0 {
                live.pending = Vec::new();
            }
        }
    }

    /// Timer-driven rotation: every known file whose schedule has fired.
    fn rotate_idle(&mut self) {
        let hk = self.hk.clone();
        let paths: Vec<PathBuf> = self
            .files
            .iter()
            .filter(|(_, live)| live.facility.schedule.is_some())
            .map(|(p, _)| p.clone())
            .collect();
        for path in paths {
            self.rotate_if_due(&path, 0, &hk);
        }
    }

    /// Rotates `path` if `RotationPolicy::due` says so before `incoming`
    /// more bytes are written.
    fn rotate_if_due(&mut self, path: &Path, incoming: u64, hk: &Housekeeping) {
        let Some(live) = self.files.get_mut(path) else {
            return;
        };
        if let Err(e) = load(path, live, hk) {
            tracing::error!(path = %path.display(), error = %e, "cannot inspect log file");
            return;
        }
        let Some(started) = live.started.clone() else {
            return; // Empty: never rotated.
        };
        if live.retry_rotation_at.is_some_and(|t| Instant::now() < t) {
            return;
        }
        let now = hk.clock.now();
        let next_fire = live.next_fire(&started);
        let policy = RotationPolicy {
            max_size: live.facility.max_size,
        };
        let Some(reason) = policy.due(next_fire, now.timestamp(), live.size, incoming) else {
            return;
        };
        rotate(path, live, reason, hk);
        self.stats.rotations.fetch_add(1, Ordering::Relaxed);
    }

    fn sync_all(&mut self) {
        for (path, live) in self.files.iter_mut() {
            if live.unsynced {
                sync(path, live);
            }
        }
    }
}

/// Fill in `size` and `started` from the file on disk, once.
///
/// A non-empty file's start time is the persisted one; a file the state does
/// not know (state lost, or written by an older daemon) gets its birth time
/// where the file system records one, else its modification time, so an
/// overdue file rotates rather than growing for another period; that value
/// is persisted. A missing or empty file has no start yet.
fn load(path: &Path, live: &mut LiveFile, hk: &Housekeeping) -> io::Result<()> {
    if live.loaded {
        return Ok(());
    }
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    live.size = meta.as_ref().map_or(0, |m| m.len());
    live.started = None;
    if let Some(meta) = meta.filter(|m| m.len() > 0) {
        let zone = hk.clock.now().time_zone().clone();
        let started = match hk.saved_start(path) {
            Some(t) => t,
            None => {
                let t = meta
                    .created()
                    .or_else(|_| meta.modified())
                    .ok()
                    .and_then(|t| Timestamp::try_from(t).ok())
                    .unwrap_or_else(|| hk.clock.now().timestamp());
                hk.save_start(path, t);
                t
            }
        };
        live.started = Some(started.to_zoned(zone));
    }
    live.loaded = true;
    Ok(())
}

/// Close `live`, move it to its rotated name and queue it for the archiver.
fn rotate(path: &Path, live: &mut LiveFile, reason: Reason, hk: &Housekeeping) {
    let Some(started) = live.started.clone() else {
        return;
    };
    if live.unsynced {
        sync(path, live);
    }
    live.sink = None;
    match rotate_file(path, &started) {
        Ok(rotated) => {
            tracing::info!(path = %path.display(), rotated = %rotated.display(), reason = reason.as_str(), "rotated log file");
            hk.set_keep(path, &live.facility);
            hk.archive(rotated, !is_gz(path));
            live.size = 0;
            live.started = None;
            live.retry_rotation_at = None;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // Moved away by someone else: the next write starts a new file.
            live.loaded = false;
        }
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, reason = "rotation_failed", "cannot rotate log file; writing on");
            live.retry_rotation_at = Some(Instant::now() + ROTATION_RETRY);
        }
    }
}

fn sync(path: &Path, live: &mut LiveFile) {
    if let Some(sink) = &live.sink
        && let Err(e) = sink.file().sync_data()
    {
        tracing::error!(path = %path.display(), error = %e, "cannot sync log file");
    }
    live.unsynced = false;
}

/// Cut a `.gz` live file's torn tail, once per process (until it succeeds).
fn repair_once(path: &Path, live: &mut LiveFile) -> io::Result<()> {
    if !live.repaired {
        let cut = repair_torn_tail(path)?;
        if cut > 0 {
            tracing::warn!(path = %path.display(), bytes = cut, reason = "torn_gzip_tail", "cut an incomplete gzip member left by a crash");
        }
        live.repaired = true;
    }
    Ok(())
}

/// Open the live file for appending; an empty file starts now (persisted).
fn open_sink(path: &Path, live: &mut LiveFile, hk: &Housekeeping) -> io::Result<()> {
    let sink = if is_gz(path) {
        ensure_dir(path)?;
        repair_once(path, live)?;
        Sink::Gz(GzLiveFile::open(path, hk.level)?)
    } else {
        Sink::Plain(open_live(path)?)
    };
    let size = sink.file().metadata()?.len();
    live.sink = Some(sink);
    live.loaded = false;
    load(path, live, hk)?;
    live.size = size;
    if size == 0 {
        let now = hk.clock.now();
        hk.save_start(path, now.timestamp());
        live.started = Some(now);
    }
    Ok(())
}

fn write_pending(path: &Path, live: &mut LiveFile, hk: &Housekeeping) -> io::Result<()> {
    if live.sink.is_none() {
        open_sink(path, live, hk)?;
    }
    match live.sink.as_mut().expect("opened above") {
        Sink::Plain(file) => {
            file.write_all(&live.pending)?;
            live.size += live.pending.len() as u64;
        }
        Sink::Gz(gz) => {
            gz.append_batch(&live.pending)?;
            live.size = gz.len();
        }
    }
    Ok(())
}

fn ensure_dir(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent()
        && !dir.is_dir()
    {
        DirBuilder::new().recursive(true).mode(0o750).create(dir)?;
    }
    Ok(())
}

/// Opens (creating if needed) a live file for appending: 0640, in a 0750
/// directory, never through a symbolic link.
pub fn open_live(path: &Path) -> io::Result<File> {
    ensure_dir(path)?;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::rotation::ManualClock;
    use crate::storage::schedule::Schedule;
    use jiff::civil::date;

    fn at(h: i8, mi: i8, s: i8) -> Zoned {
        date(2026, 11, 24)
            .at(h, mi, s, 0)
            .in_tz("Europe/Athens")
            .unwrap()
    }

    fn facility(schedule: Option<&str>, max_size: Option<u64>, keep: u32) -> Arc<Facility> {
        Arc::new(Facility {
            app: "app".into(),
            name: "web".into(),
            schedule: schedule.map(|s| Schedule::parse(s).unwrap()),
            backup_count: keep,
            max_size,
            flush_every: 1,
            file_per_host: false,
            secret: None,
            fsync: false,
        })
    }

    struct Fixture {
        dir: tempfile::TempDir,
        clock: Arc<ManualClock>,
        writer: Writer,
    }

    impl Fixture {
        fn new(format: CompressFormat) -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let clock = Arc::new(ManualClock::new(at(10, 30, 0)));
            let keep: Arc<Mutex<HashMap<PathBuf, usize>>> = Arc::default();
            let archiver = Archiver::start(format, 1, {
                let keep = keep.clone();
                move |done| retain(&keep, &done)
            })
            .unwrap();
            let hk = Arc::new(Housekeeping {
                clock: clock.clone(),
                state: Mutex::new(StateStore::load(dir.path()).unwrap()),
                archiver: Mutex::new(Some(archiver)),
                keep,
                level: 6,
            });
            let writer = Writer::new(Arc::default(), hk);
            Fixture { dir, clock, writer }
        }

        /// A new writer on the same directories, as after a restart.
        fn restart(&mut self) {
            let old = &self.writer.hk;
            let archiver = Archiver::start(CompressFormat::Gzip, 1, {
                let keep = old.keep.clone();
                move |done| retain(&keep, &done)
            })
            .unwrap();
            let hk = Arc::new(Housekeeping {
                clock: self.clock.clone(),
                state: Mutex::new(StateStore::load(self.dir.path()).unwrap()),
                archiver: Mutex::new(Some(archiver)),
                keep: old.keep.clone(),
                level: 6,
            });
            self.writer = Writer::new(Arc::default(), hk);
        }

        fn live(&self, name: &str) -> PathBuf {
            self.dir.path().join("logs/app").join(name)
        }

        fn write(&mut self, path: &Path, f: &Arc<Facility>, data: &str) {
            self.writer.accept(WriteBatch {
                path: path.to_path_buf(),
                facility: f.clone(),
                data: data.as_bytes().to_vec(),
                records: data.lines().count() as u32,
                ack: None,
            });
            self.writer.flush_all(false);
        }

        fn tick(&mut self) {
            self.writer.flush_all(true);
            self.writer.rotate_idle();
        }

        /// Names in the app directory, sorted, once the archiver is idle
        /// (no `.tmp` and no uncompressed backup left when `settled`).
        fn names_when(&self, settled: impl Fn(&[String]) -> bool) -> Vec<String> {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let mut names: Vec<String> = std::fs::read_dir(self.dir.path().join("logs/app"))
                    .unwrap()
                    .map(|e| e.unwrap().file_name().into_string().unwrap())
                    .collect();
                names.sort();
                if settled(&names) || Instant::now() > deadline {
                    return names;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    #[test]
    fn size_rotation_keeps_backup_count_archives() {
        let mut fx = Fixture::new(CompressFormat::Gzip);
        let f = facility(None, Some(100), 2);
        let path = fx.live("web.log");
        let line = format!("{}\n", "x".repeat(59));
        for minute in 0..5 {
            // Distinct start times give distinct rotated names.
            fx.clock.set(at(10, 31 + minute, 0));
            fx.write(&path, &f, &line);
        }
        // 60 + 60 > 100: every write after the first rotates the file.
        assert_eq!(fx.writer.stats.rotations.load(Ordering::Relaxed), 4);
        let names = fx.names_when(|n| n.len() == 3 && n.iter().all(|n| !n.ends_with("0")));
        assert_eq!(
            names,
            [
                "web.log",
                "web.log.2026-11-24-10-33-00-000000.gz",
                "web.log.2026-11-24-10-34-00-000000.gz",
            ]
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), line);
    }

    #[test]
    fn schedule_rotates_idle_files_on_tick_and_names_them_by_start() {
        let mut fx = Fixture::new(CompressFormat::Xz);
        let f = facility(Some("hourly"), None, 5);
        let path = fx.live("web.log");
        fx.write(&path, &f, "a\n");
        fx.tick();
        assert!(path.exists(), "not due before the hour");
        fx.clock.set(at(11, 0, 0));
        fx.tick();
        assert!(!path.exists(), "due at the hour with no traffic");
        let names = fx.names_when(|n| n.len() == 1 && n[0].ends_with(".xz"));
        assert_eq!(names, ["web.log.2026-11-24-10-30-00-000000.xz"]);
        // The empty successor is never rotated, however late it gets.
        fx.clock.set(at(23, 0, 0));
        fx.tick();
        fx.write(&path, &f, "b\n");
        fx.clock.set(at(23, 30, 0));
        fx.tick();
        assert!(path.exists(), "started at 23:00, next fire is midnight");
    }

    #[test]
    fn start_times_are_persisted_and_reused_after_a_restart() {
        let mut fx = Fixture::new(CompressFormat::Gzip);
        let f = facility(Some("daily"), None, 5);
        let path = fx.live("web.log");
        fx.write(&path, &f, "a\n");
        let saved = StateStore::load(fx.dir.path()).unwrap().get(&path);
        assert_eq!(saved, Some(at(10, 30, 0).timestamp()));

        // A restart after midnight: a new writer with a fresh state load
        // rotates the file as soon as it learns of it, named by the
        // persisted start.
        fx.restart();
        fx.clock.set(
            date(2026, 11, 25)
                .at(0, 5, 0, 0)
                .in_tz("Europe/Athens")
                .unwrap(),
        );
        fx.writer.track(path.clone(), f.clone());
        assert!(!path.exists());
        let names = fx.names_when(|n| n.len() == 1 && n[0].ends_with(".gz"));
        assert_eq!(names, ["web.log.2026-11-24-10-30-00-000000.gz"]);
    }

    #[test]
    fn unknown_files_start_at_their_birth_or_modification_time() {
        let mut fx = Fixture::new(CompressFormat::Gzip);
        let f = facility(Some("daily"), None, 5);
        let path = fx.live("web.log");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "old\n").unwrap();
        fx.writer.track(path.clone(), f);
        // Its birth time (just now, real clock) is taken and persisted.
        let saved = StateStore::load(fx.dir.path()).unwrap().get(&path).unwrap();
        let age = Timestamp::now().duration_since(saved).as_secs();
        assert!((0..60).contains(&age), "{saved}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\n");
    }

    #[test]
    fn gz_live_files_are_members_and_not_compressed_again() {
        let mut fx = Fixture::new(CompressFormat::Xz);
        let f = facility(Some("hourly"), None, 1);
        let path = fx.live("web.log.gz");
        fx.write(&path, &f, "one\n");
        fx.write(&path, &f, "two\n");
        let mut text = String::new();
        use std::io::Read;
        flate2::read::MultiGzDecoder::new(File::open(&path).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "one\ntwo\n");
        fx.clock.set(at(11, 0, 0));
        fx.tick();
        fx.write(&path, &f, "three\n");
        fx.clock.set(at(12, 0, 0));
        fx.tick();
        // backup_count = 1: only the newest rotated gz remains, not xz'd.
        let names = fx.names_when(|n| n.len() == 1);
        assert_eq!(names, ["web.log.gz.2026-11-24-11-00-00-000000"]);
    }

    #[test]
    fn group_commit_acknowledges_gz_batches_after_one_round() {
        let mut fx = Fixture::new(CompressFormat::Gzip);
        let mut f = (*facility(Some("daily"), None, 5)).clone();
        f.fsync = true;
        f.flush_every = 1000;
        let f = Arc::new(f);
        let path = fx.live("web.log.gz");
        let mut waits = Vec::new();
        for i in 0..3 {
            let (ack, wait) = oneshot::channel();
            fx.writer.accept(WriteBatch {
                path: path.clone(),
                facility: f.clone(),
                data: format!("record {i}\n").into_bytes(),
                records: 1,
                ack: Some(ack),
            });
            waits.push(wait);
        }
        // One round: the three batches become one member, synced once,
        // and every sender is acknowledged although flush_every is not met.
        fx.writer.flush_all(false);
        for mut w in waits {
            assert!(w.try_recv().is_ok());
        }
        let live = &fx.writer.files[&path];
        assert!(!live.unsynced);
        let mut text = String::new();
        use std::io::Read;
        flate2::read::MultiGzDecoder::new(File::open(&path).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "record 0\nrecord 1\nrecord 2\n");
    }

    #[test]
    fn an_overdue_gz_file_is_repaired_before_it_rotates_at_start_up() {
        let mut fx = Fixture::new(CompressFormat::Xz);
        let f = facility(Some("hourly"), None, 5);
        let path = fx.live("web.log.gz");
        fx.write(&path, &f, "whole\n");
        let whole = std::fs::read(&path).unwrap();
        let mut torn = whole.clone();
        torn.extend_from_slice(&whole[..10]);
        std::fs::write(&path, &torn).unwrap();
        // A restart after the hour: the file is tracked and rotates at once.
        fx.restart();
        fx.clock.set(at(11, 0, 0));
        fx.writer.track(path.clone(), f);
        let names = fx.names_when(|n| n.len() == 1);
        assert_eq!(names, ["web.log.gz.2026-11-24-10-30-00-000000"]);
        assert_eq!(std::fs::read(fx.live(&names[0])).unwrap(), whole);
    }

    #[test]
    fn reopen_recreates_a_file_moved_away() {
        let mut fx = Fixture::new(CompressFormat::Gzip);
        let f = facility(Some("daily"), None, 5);
        let path = fx.live("web.log");
        fx.write(&path, &f, "a\n");
        let moved = fx.live("moved.log");
        std::fs::rename(&path, &moved).unwrap();
        fx.writer.reopen();
        assert!(path.exists());
        fx.write(&path, &f, "b\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "b\n");
        assert_eq!(std::fs::read_to_string(&moved).unwrap(), "a\n");
    }

    #[test]
    fn facility_of_matches_exact_names_and_per_host_files() {
        let web = facility(None, Some(1), 1);
        let mut per_host = (*facility(None, Some(1), 1)).clone();
        per_host.name = "root".into();
        per_host.file_per_host = true;
        let per_host = Arc::new(per_host);
        let all = [&web, &per_host];
        assert!(Arc::ptr_eq(facility_of(&all, "web.log").unwrap(), &web));
        assert!(Arc::ptr_eq(
            facility_of(&all, "athens-root.log").unwrap(),
            &per_host
        ));
        assert!(facility_of(&all, "root.log").is_none());
        assert!(facility_of(&all, "-root.log").is_none());
        assert!(facility_of(&all, "web.requests.log").is_none());
        assert!(facility_of(&all, "athens-web.log").is_none());
    }
}

#[cfg(test)]
mod flood_tests {
    use super::*;
    use crate::storage::rotation::SystemClock;

    /// Regression: a writer that fell behind used to take its whole queue
    /// into one file's pending buffer and drop what passed 64 MiB. Now it
    /// writes every few MiB and loses nothing, whatever `flush_every` says.
    #[test]
    fn a_flood_of_batches_is_written_whole_without_loss() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let storage = Storage::start(
            &StorageSettings {
                shards: 1,
                queue_batches: 256,
                workdir: dir.path().join("work"),
                format: CompressFormat::Gzip,
                level: 1,
            },
            Arc::new(SystemClock),
        )
        .unwrap();
        let facility = Arc::new(Facility {
            app: "app".into(),
            name: "root".into(),
            schedule: None,
            backup_count: 1,
            max_size: None,
            flush_every: u32::MAX,
            file_per_host: false,
            secret: None,
            fsync: false,
        });
        let path = dir.path().join("logs/app/root.log");
        let line = [b"x".repeat(1023), b"\n".to_vec()].concat();
        let batches = 100;
        let per_batch = 1024;
        rt.block_on(async {
            let handle = storage.handle();
            for _ in 0..batches {
                handle
                    .write(WriteBatch {
                        path: path.clone(),
                        facility: facility.clone(),
                        data: line.repeat(per_batch),
                        records: per_batch as u32,
                        ack: None,
                    })
                    .await
                    .unwrap();
            }
            assert_eq!(handle.stats().records_lost.load(Ordering::Relaxed), 0);
            storage.shutdown().await;
        });
        let len = std::fs::metadata(&path).unwrap().len();
        assert_eq!(len, (batches * per_batch * line.len()) as u64);
    }
}
