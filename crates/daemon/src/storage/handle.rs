//! The storage service as the rest of the daemon sees it: starting the
//! writer threads and the archiver, the cloneable handle connections hand
//! batches to, start-up recovery and shutdown.
//!
//! Each file belongs to exactly one writer (its path hashes to a shard), so
//! no file is ever shared between threads and no lock is taken per record.
use std::collections::HashMap;
use std::fs::DirBuilder;
use std::hash::BuildHasher;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::archive::{Archiver, CompressFormat, sweep_uncompressed};
use super::housekeeping::{Housekeeping, facility_of, retain};
use super::retention::parse_rotated_name;
use super::rotation::Clock;
use super::state::StateStore;
use super::writer::Writer;
use crate::config::{Facilities, Facility};
use crate::metrics::Metrics;

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
    /// Fired once the batch is taken (stream senders wait for it before
    /// reading more). None for datagrams, which are dropped and counted when
    /// the file cannot take them.
    pub ack: Option<oneshot::Sender<()>>,
    /// Fire `ack` only once the lines are written (and synced, for `fsync`
    /// facilities), not when they are queued for the file; `ack` is also
    /// held while the file has too much unwritten (push-back).
    pub wait_for_write: bool,
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
    /// file moved away is recreated. With the reloaded facilities, each
    /// file takes its facility's new settings now (a lowered `max_size`
    /// rotates a file already past it) rather than at its next record.
    Reopen(Option<Arc<Facilities>>),
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
    /// Live files open at once, over all writers (`[server] max_open_files`).
    pub max_open_files: usize,
}

/// Default `[server] max_open_files`.
pub const DEFAULT_MAX_OPEN_FILES: usize = 256;

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
        Storage::start_with(settings, clock, Metrics::default())
    }

    /// Like [`Storage::start`], counting writes, rotations, compressions,
    /// retention and syncs in `metrics`.
    pub fn start_with(
        settings: &StorageSettings,
        clock: Arc<dyn Clock>,
        metrics: Metrics,
    ) -> io::Result<Storage> {
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
            let errors = crate::ratelimit::RateLimiter::default();
            let metrics = metrics.clone();
            move |done| {
                let app = app_of(&done.src);
                if let Some(took) = done.compressed_in {
                    metrics.compressed(app, took);
                }
                metrics.retention_deleted(app, retain(&keep, &done, &errors));
            }
        })?;
        let mut housekeeping = Housekeeping::new(clock, state, archiver, keep, settings.level);
        housekeeping.metrics = metrics;
        let housekeeping = Arc::new(housekeeping);
        let shards = settings.shards.max(1);
        // Each writer gets an equal share of the open-file bound.
        let max_open = settings.max_open_files.div_ceil(shards).max(1);
        let stats = Arc::new(WriterStats::default());
        let mut senders = Vec::new();
        let mut threads = Vec::new();
        for shard in 0..shards {
            let (tx, rx) = mpsc::channel(settings.queue_batches.max(1));
            let writer = Writer::new(stats.clone(), housekeeping.clone(), max_open);
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

    /// Commands waiting in the writers' queues, all writers together.
    pub fn queue_depth(&self) -> usize {
        self.shards
            .iter()
            .map(|tx| tx.max_capacity() - tx.capacity())
            .sum()
    }
}

/// The app a rotated file belongs to: the name of its directory.
fn app_of(rotated: &Path) -> &str {
    rotated
        .parent()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .unwrap_or("")
}

#[cfg(test)]
mod flood_tests {
    use std::sync::atomic::Ordering;

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
                max_open_files: DEFAULT_MAX_OPEN_FILES,
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
            max_hosts: 1000,
            require_sha256: false,
            replay_protection: false,
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
                        wait_for_write: false,
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
