//! The writers: one OS thread per shard, each the only owner of the files
//! whose paths hash to it.
//!
//! Connections hand over whole batches of formatted lines through a bounded
//! queue per shard (TCP waits when it is full: back-pressure on the socket;
//! UDP drops and counts). A writer drains everything queued, then writes
//! each file's pending lines with one `write` and, for `fsync = yes`
//! facilities, one `fdatasync` for all the batches of the round (group
//! commit) before it acknowledges them.
use std::collections::HashMap;
use std::fs::{DirBuilder, File, OpenOptions};
use std::hash::{BuildHasher, Hash, Hasher};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use crate::config::Facility;

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
    /// Periodic: hand pending lines to the OS even below `flush_every`.
    Tick,
    /// Close every file so the next write opens it again (SIGHUP).
    Reopen,
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
}

/// How the writers are set up.
#[derive(Debug, Clone)]
pub struct StorageSettings {
    /// Writer threads; each file belongs to exactly one.
    pub shards: usize,
    /// Batches each writer's queue holds before senders wait.
    pub queue_batches: usize,
}

/// The running writers.
pub struct Storage {
    handle: StorageHandle,
    threads: Vec<JoinHandle<()>>,
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

impl Storage {
    /// Starts the writer threads.
    pub fn start(settings: &StorageSettings) -> io::Result<Storage> {
        let stats = Arc::new(WriterStats::default());
        let mut senders = Vec::new();
        let mut threads = Vec::new();
        for shard in 0..settings.shards.max(1) {
            let (tx, rx) = mpsc::channel(settings.queue_batches.max(1));
            let stats = stats.clone();
            let thread = std::thread::Builder::new()
                .name(format!("loghogd-writer-{shard}"))
                .spawn(move || Writer::new(stats).run(rx))?;
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
        })
    }

    /// The handle connections use.
    pub fn handle(&self) -> StorageHandle {
        self.handle.clone()
    }

    /// Asks every writer to write, sync and close everything, and waits for
    /// the threads to finish.
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
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

impl StorageHandle {
    fn shard(&self, path: &Path) -> &mpsc::Sender<Command> {
        let mut h = self.hasher.build_hasher();
        path.hash(&mut h);
        &self.shards[(h.finish() % self.shards.len() as u64) as usize]
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

/// A live file and what is waiting to be written to it.
struct LiveFile {
    file: Option<File>,
    facility: Arc<Facility>,
    pending: Vec<u8>,
    pending_records: u32,
    /// Written since the last sync.
    unsynced: bool,
    waiters: Vec<oneshot::Sender<()>>,
}

/// Beyond this much unwritten data for one file (the disk keeps failing),
/// new lines are dropped and counted instead of held.
const MAX_PENDING_BYTES: usize = 64 << 20;

struct Writer {
    files: HashMap<PathBuf, LiveFile>,
    stats: Arc<WriterStats>,
}

impl Writer {
    fn new(stats: Arc<WriterStats>) -> Self {
        Writer {
            files: HashMap::new(),
            stats,
        }
    }

    fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        while let Some(first) = rx.blocking_recv() {
            let mut force = false;
            let mut stop = None;
            let mut next = Some(first);
            // Take everything already queued: one write per file per round.
            while let Some(cmd) = next {
                match cmd {
                    Command::Write(batch) => self.accept(batch),
                    Command::Tick => force = true,
                    Command::Reopen => {
                        self.flush_all(true);
                        for live in self.files.values_mut() {
                            live.file = None;
                        }
                    }
                    Command::Shutdown(ack) => {
                        stop = Some(ack);
                        break;
                    }
                }
                next = rx.try_recv().ok();
            }
            self.flush_all(force || stop.is_some());
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
        let live = self.files.entry(batch.path).or_insert_with(|| LiveFile {
            file: None,
            facility: batch.facility.clone(),
            pending: Vec::new(),
            pending_records: 0,
            unsynced: false,
            waiters: Vec::new(),
        });
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

    fn flush_all(&mut self, force: bool) {
        for (path, live) in self.files.iter_mut() {
            let due = force
                || !live.waiters.is_empty()
                || live.pending_records >= live.facility.flush_every.max(1);
            if due && !live.pending.is_empty() {
                match write_pending(path, live) {
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
                        live.file = None;
                    }
                }
            }
            if !live.waiters.is_empty() && live.pending.is_empty() {
                if live.facility.fsync && live.unsynced {
                    sync(path, live);
                }
                for w in live.waiters.drain(..) {
                    let _ = w.send(());
                }
            }
        }
        // Files that are not in use hold no memory beyond their entry.
        for live in self.files.values_mut() {
            if live.pending.is_empty() && live.pending.capacity() > 0 {
                live.pending = Vec::new();
            }
        }
    }

    fn sync_all(&mut self) {
        for (path, live) in self.files.iter_mut() {
            if live.unsynced {
                sync(path, live);
            }
        }
    }
}

fn sync(path: &Path, live: &mut LiveFile) {
    if let Some(file) = &live.file {
        if let Err(e) = file.sync_data() {
            tracing::error!(path = %path.display(), error = %e, "cannot sync log file");
        }
    }
    live.unsynced = false;
}

fn write_pending(path: &Path, live: &mut LiveFile) -> io::Result<()> {
    if live.file.is_none() {
        live.file = Some(open_live(path)?);
    }
    let file = live.file.as_mut().expect("opened above");
    file.write_all(&live.pending)
}

/// Opens (creating if needed) a live file for appending: 0640, in a 0750
/// directory, never through a symbolic link.
pub fn open_live(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        if !dir.is_dir() {
            DirBuilder::new().recursive(true).mode(0o750).create(dir)?;
        }
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}
