//! The writer loop: one OS thread per shard, the only owner of the files
//! whose paths hash to it, including their rotation.
//!
//! A writer drains everything queued (up to a round's worth of bytes), then
//! writes each file's pending lines with one `write` and, for `fsync = yes`
//! facilities, one `fdatasync` for all the batches of the round (group
//! commit) before it acknowledges them. Rotation is decided between lines
//! inside a round, so `max_size` holds except for a single longer line.
//! A sender waiting for its batch is acknowledged only once it is written,
//! which is what pushes a connection back while a file cannot be written.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::handle::{Command, WriteBatch, WriterStats};
use super::housekeeping::Housekeeping;
use super::live::{LiveFile, is_gz, load, repair_once, retry_can_help, rotate, sync, write_prefix};
use super::rotation::{Reason, RotationPolicy};
use crate::config::{Facilities, Facility};

/// A writer round takes at most about this many bytes from its queue
/// before writing; a file holds no more than this below `flush_every`.
/// Small enough that the lines are still in the CPU's cache when they are
/// copied into the page cache: at 4 MiB a cluster archive node, which
/// queues many large batches at once, spent twice the CPU on that copy.
const ROUND_BYTES: usize = 512 << 10;

/// Beyond this much unwritten data for one file (the disk keeps failing),
/// stream senders are no longer acknowledged until it is written (they stop
/// reading their sockets) and datagram lines are dropped and counted.
const MAX_PENDING_BYTES: usize = 64 << 20;

/// After a write fails with an error that may pass (disk full), how long
/// before the next attempt.
const WRITE_RETRY: Duration = Duration::from_secs(1);

/// A file not written for this long is closed on the next tick (and opened
/// again by its next line).
pub const IDLE_CLOSE: Duration = Duration::from_secs(60);

pub(super) struct Writer {
    files: HashMap<PathBuf, LiveFile>,
    stats: Arc<WriterStats>,
    hk: Arc<Housekeeping>,
    /// Open files this writer may hold; the least recently used is closed
    /// to open another.
    max_open: usize,
    /// Files idle this long are closed on a tick.
    idle_close: Duration,
}

impl Writer {
    pub(super) fn new(stats: Arc<WriterStats>, hk: Arc<Housekeeping>, max_open: usize) -> Self {
        Writer {
            files: HashMap::new(),
            stats,
            hk,
            max_open: max_open.max(1),
            idle_close: IDLE_CLOSE,
        }
    }

    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Command>) {
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
                    Command::Reopen(facilities) => self.reopen(facilities.as_deref()),
                    Command::Track(path, facility) => self.track(path, facility),
                    Command::Shutdown(ack) => {
                        stop = Some(ack);
                        break;
                    }
                }
                next = rx.try_recv().ok();
            }
            if stop.is_some() {
                self.stop();
                if let Some(ack) = stop {
                    let _ = ack.send(());
                }
                return;
            }
            self.flush_all(tick, false);
            if tick {
                self.on_tick();
            }
        }
        self.stop();
    }

    /// Write what can be written, sync, and count (and log) what cannot.
    fn stop(&mut self) {
        self.flush_all(true, true);
        self.sync_all();
        for (path, live) in &self.files {
            if live.pending_records > 0 {
                let n = u64::from(live.pending_records);
                let total = self.stats.records_lost.fetch_add(n, Ordering::Relaxed) + n;
                self.hk.report_loss(
                    "unwritten_at_shutdown",
                    path,
                    n,
                    total,
                    &"the file could not be written before shutdown",
                );
            }
        }
        self.files.clear();
        self.hk.report_held_back();
    }

    fn on_tick(&mut self) {
        self.rotate_idle();
        self.close_idle(Instant::now());
        self.hk.retry_deferred();
        self.hk.report_suppressed();
    }

    fn accept(&mut self, batch: WriteBatch) {
        let pending = self.files.get(&batch.path).map_or(0, |l| l.pending.len());
        let over = pending + batch.data.len() > MAX_PENDING_BYTES;
        if over && batch.ack.is_none() {
            // A datagram sender cannot be pushed back: drop and count.
            let n = u64::from(batch.records);
            let total = self.stats.records_lost.fetch_add(n, Ordering::Relaxed) + n;
            self.hk.report_loss(
                "pending_full",
                &batch.path,
                n,
                total,
                &"the file cannot be written and 64 MiB of lines wait for it (datagrams are not held)",
            );
            return;
        }
        let live = self
            .files
            .entry(batch.path)
            .or_insert_with(|| LiveFile::new(batch.facility.clone()));
        live.facility = batch.facility;
        append(live, batch.data, batch.records);
        // A stream sender waits for the write itself when its facility asks
        // for it (flush_every = 1, fsync), or while the file holds too much
        // unwritten: that wait is what stops it reading its socket.
        if let Some(ack) = batch.ack {
            if batch.wait_for_write || over {
                live.waiters.push(ack);
            } else {
                let _ = ack.send(());
            }
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
            hk.report(
                "gzip_check_failed",
                &path,
                &e,
                "cannot check the gzip file for a torn tail",
            );
        }
        self.rotate_if_due(&path, &hk);
    }

    /// SIGHUP: close every file and reopen those that were open, so a file
    /// moved away is recreated now rather than at the next record; files
    /// take their facility's reloaded settings, and any now past its
    /// `max_size` rotates.
    fn reopen(&mut self, facilities: Option<&Facilities>) {
        if let Some(facilities) = facilities {
            for live in self.files.values_mut() {
                let (app, name) = (&live.facility.app, &live.facility.name);
                // A facility gone from the file keeps its old settings.
                if let Some(f) = facilities.get(app, name) {
                    live.facility = f.clone();
                }
            }
        }
        self.flush_all(true, false);
        self.sync_all();
        let hk = self.hk.clone();
        for (path, live) in self.files.iter_mut() {
            let was_open = live.sink.take().is_some();
            live.loaded = false;
            if was_open && let Err(e) = super::live::open_sink(path, live, &hk) {
                hk.report("reopen_failed", path, &e, "cannot reopen log file");
            }
        }
        self.rotate_idle();
    }

    /// Writes the files that are due. `force`: everything pending (a tick);
    /// `stopping`: also files waiting to retry a failed write.
    fn flush_all(&mut self, force: bool, stopping: bool) {
        let now = Instant::now();
        let paths: Vec<PathBuf> = self
            .files
            .iter()
            .filter(|(_, live)| {
                let due = force
                    || !live.waiters.is_empty()
                    || live.pending_records >= live.facility.flush_every.max(1)
                    || live.pending.len() >= ROUND_BYTES;
                let retry_ok = stopping || live.retry_write_at.is_none_or(|t| now >= t);
                due && retry_ok && !live.pending.is_empty()
            })
            .map(|(p, _)| p.clone())
            .collect();
        for path in paths {
            self.flush_file(&path, now);
        }
        let hk = self.hk.clone();
        for (path, live) in self.files.iter_mut() {
            if !live.waiters.is_empty() && live.pending.is_empty() {
                let synced = !(live.facility.fsync && live.unsynced) || sync(path, live, &hk);
                for w in live.waiters.drain(..) {
                    // A failed group sync leaves its waiters unconfirmed
                    // (dropped): a v2 client is not told "on disk".
                    if synced {
                        let _ = w.send(());
                    }
                }
            }
            // Files that are not in use hold no memory beyond their entry.
            if live.pending.is_empty() && live.pending.capacity() > 0 {
                live.pending = Vec::new();
            }
        }
    }

    /// Writes one file's pending lines, rotating between lines whenever the
    /// next one would take the file past `max_size`.
    fn flush_file(&mut self, path: &Path, now: Instant) {
        let hk = self.hk.clone();
        // Set when a rotation cannot be done now: write on regardless.
        let mut unlimited = false;
        loop {
            self.rotate_if_due(path, &hk);
            if self.files.get(path).is_some_and(|l| l.sink.is_none()) {
                self.make_room(path);
            }
            let Some(live) = self.files.get_mut(path) else {
                return;
            };
            if live.pending.is_empty() {
                return;
            }
            let len = if unlimited || is_gz(path) {
                live.pending.len()
            } else {
                fitting_len(live)
            };
            if len == 0 {
                // The next line does not fit: the file is full.
                if !self.rotate_full(path, &hk) {
                    unlimited = true;
                }
                continue;
            }
            let limit = live.facility.max_size.filter(|_| !unlimited);
            let result = write_prefix(path, live, &hk, len, limit);
            live.last_used = now;
            let (written, error) = match result {
                Ok(n) => (n, None),
                Err((kept, e)) => (kept, Some(e)),
            };
            if written > 0 {
                let records = consume(live, written);
                live.unsynced = true;
                live.retry_write_at = None;
                self.stats
                    .records_written
                    .fetch_add(records, Ordering::Relaxed);
                let facility = &live.facility;
                live.counters
                    .get_or_insert_with(|| hk.metrics.facility(&facility.app, &facility.name))
                    .written(records, written as u64);
            }
            let more = !live.pending.is_empty();
            match error {
                // Stopped at max_size: rotate, then write the rest.
                None if more => {
                    if !self.rotate_full(path, &hk) {
                        unlimited = true;
                    }
                }
                None => return,
                Some(e) => {
                    self.write_failed(path, &e, now);
                    return;
                }
            }
        }
    }

    /// A write failed: an error that may pass keeps the lines for a retry
    /// (stream senders wait meanwhile); any other drops them, counted.
    fn write_failed(&mut self, path: &Path, e: &std::io::Error, now: Instant) {
        let Some(live) = self.files.get_mut(path) else {
            return;
        };
        live.sink = None;
        live.loaded = false;
        if retry_can_help(e) {
            live.retry_write_at = Some(now + WRITE_RETRY);
            self.hk
                .report("write_failed", path, e, "cannot write log file; will retry");
            return;
        }
        let n = u64::from(live.pending_records);
        let total = self.stats.records_lost.fetch_add(n, Ordering::Relaxed) + n;
        self.hk.report_loss("write_impossible", path, n, total, e);
        // Forget the file: nothing is retried on the timer, and the next
        // line for it tries afresh (a permission may have been fixed).
        // Its waiters are released unconfirmed (dropped, not fired): the
        // lines are lost, and a v2 client must not be told they were written.
        self.files.remove(path);
    }

    /// Size rotation of a file whose next line does not fit; false when the
    /// file cannot be rotated now (the caller then writes on).
    fn rotate_full(&mut self, path: &Path, hk: &Housekeeping) -> bool {
        let Some(live) = self.files.get_mut(path) else {
            return false;
        };
        if live.size == 0 || live.retry_rotation_at.is_some_and(|t| Instant::now() < t) {
            return false;
        }
        rotate(path, live, Reason::Size, hk);
        self.stats.rotations.fetch_add(1, Ordering::Relaxed);
        live.size == 0
    }

    /// Before opening `path`: if this writer holds `max_open` open files,
    /// close the least recently used other one (synced first if needed).
    fn make_room(&mut self, path: &Path) {
        let mut open = 0;
        let mut lru: Option<(&PathBuf, Instant)> = None;
        for (p, live) in &self.files {
            if live.sink.is_some() {
                open += 1;
                if p != path && lru.is_none_or(|(_, t)| live.last_used < t) {
                    lru = Some((p, live.last_used));
                }
            }
        }
        if open < self.max_open {
            return;
        }
        if let Some((victim, _)) = lru {
            let victim = victim.clone();
            self.close(&victim);
        }
    }

    /// Closes files not written for `idle_close`.
    fn close_idle(&mut self, now: Instant) {
        let idle: Vec<PathBuf> = self
            .files
            .iter()
            .filter(|(_, l)| l.sink.is_some() && now.duration_since(l.last_used) >= self.idle_close)
            .map(|(p, _)| p.clone())
            .collect();
        for p in idle {
            self.close(&p);
        }
    }

    fn close(&mut self, path: &Path) {
        let hk = self.hk.clone();
        if let Some(live) = self.files.get_mut(path) {
            if live.unsynced {
                let _ = sync(path, live, &hk);
            }
            live.sink = None;
        }
    }

    /// Timer-driven rotation: every known file whose schedule has fired or
    /// which has reached `max_size` (a `.gz` file, or one that grew by a
    /// single line longer than `max_size`).
    fn rotate_idle(&mut self) {
        let hk = self.hk.clone();
        let paths: Vec<PathBuf> = self
            .files
            .iter()
            .filter(|(_, live)| {
                live.facility.schedule.is_some()
                    || live
                        .facility
                        .max_size
                        .is_some_and(|max| live.loaded && live.size >= max)
            })
            .map(|(p, _)| p.clone())
            .collect();
        for path in paths {
            self.rotate_if_due(&path, &hk);
        }
    }

    /// Rotates `path` if `RotationPolicy::due` says so (by schedule, or by
    /// size once it has reached `max_size`).
    fn rotate_if_due(&mut self, path: &Path, hk: &Housekeeping) {
        let Some(live) = self.files.get_mut(path) else {
            return;
        };
        if let Err(e) = load(path, live, hk) {
            hk.report("inspect_failed", path, &e, "cannot inspect log file");
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
        let Some(reason) = policy.due(next_fire, now.timestamp(), live.size, 0) else {
            return;
        };
        rotate(path, live, reason, hk);
        self.stats.rotations.fetch_add(1, Ordering::Relaxed);
    }

    fn sync_all(&mut self) {
        let hk = self.hk.clone();
        for (path, live) in self.files.iter_mut() {
            if live.unsynced {
                let _ = sync(path, live, &hk);
            }
        }
    }
}

/// Adds a batch's lines to a file's pending lines.
fn append(live: &mut LiveFile, data: Vec<u8>, records: u32) {
    if live.pending.is_empty() {
        live.pending = data;
        live.pending_records = records;
    } else {
        live.pending.extend_from_slice(&data);
        live.pending_records += records;
    }
}

/// The longest prefix of the pending lines, in whole lines, that keeps a
/// plain file within `max_size`; 0 when not even the next line fits a file
/// that already holds something (it must rotate first). A single line
/// longer than `max_size` goes alone into an empty file.
fn fitting_len(live: &LiveFile) -> usize {
    let all = live.pending.len();
    let Some(max) = live.facility.max_size else {
        return all;
    };
    if live.size.saturating_add(all as u64) <= max {
        return all;
    }
    let room = usize::try_from(max.saturating_sub(live.size)).map_or(all, |r| r.min(all));
    match live.pending[..room].iter().rposition(|&b| b == b'\n') {
        Some(i) => i + 1,
        None if live.size == 0 => live
            .pending
            .iter()
            .position(|&b| b == b'\n')
            .map_or(all, |i| i + 1),
        None => 0,
    }
}

/// Drops the first `n` bytes (whole lines) of the pending lines, now in the
/// file; returns how many records they held. Counting lines is only needed
/// when a round stops part-way (a rotation, a full disk), never per record.
fn consume(live: &mut LiveFile, n: usize) -> u64 {
    if n >= live.pending.len() {
        let records = live.pending_records;
        live.pending.clear();
        live.pending_records = 0;
        return u64::from(records);
    }
    let lines = live.pending[..n].iter().filter(|&&b| b == b'\n').count();
    // A body may hold a newline of its own: never count more than there are.
    let records = u32::try_from(lines)
        .unwrap_or(u32::MAX)
        .min(live.pending_records);
    live.pending.drain(..n);
    live.pending_records -= records;
    u64::from(records)
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::sync::Mutex;
    use std::time::Duration;

    use jiff::{Timestamp, Zoned};
    use tokio::sync::oneshot;

    use super::*;
    use crate::storage::archive::{Archiver, CompressFormat};
    use crate::storage::housekeeping::retain;
    use crate::storage::rotation::ManualClock;
    use crate::storage::schedule::Schedule;
    use crate::storage::state::StateStore;
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
            max_hosts: 1000,
            require_sha256: false,
            replay_protection: false,
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
                let errors = crate::ratelimit::RateLimiter::default();
                move |done| {
                    retain(&keep, &done, &errors);
                }
            })
            .unwrap();
            let hk = Arc::new(Housekeeping::new(
                clock.clone(),
                StateStore::load(dir.path()).unwrap(),
                archiver,
                keep,
                6,
            ));
            let writer = Writer::new(Arc::default(), hk, 16);
            Fixture { dir, clock, writer }
        }

        /// A new writer on the same directories, as after a restart.
        fn restart(&mut self) {
            let old = &self.writer.hk;
            let archiver = Archiver::start(CompressFormat::Gzip, 1, {
                let keep = old.keep.clone();
                let errors = crate::ratelimit::RateLimiter::default();
                move |done| {
                    retain(&keep, &done, &errors);
                }
            })
            .unwrap();
            let hk = Arc::new(Housekeeping::new(
                self.clock.clone(),
                StateStore::load(self.dir.path()).unwrap(),
                archiver,
                old.keep.clone(),
                6,
            ));
            self.writer = Writer::new(Arc::default(), hk, 16);
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
                wait_for_write: false,
            });
            self.writer.flush_all(false, false);
        }

        fn tick(&mut self) {
            self.writer.flush_all(true, false);
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
        assert_eq!(names, ["web.log.2026-11-24-11-00-00-000000.gz"]);
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
                wait_for_write: true,
            });
            waits.push(wait);
        }
        // One round: the three batches become one member, synced once,
        // and every sender is acknowledged although flush_every is not met.
        fx.writer.flush_all(false, false);
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
        assert_eq!(names, ["web.log.2026-11-24-10-30-00-000000.gz"]);
        assert_eq!(std::fs::read(fx.live(&names[0])).unwrap(), whole);
    }

    fn open_count(w: &Writer) -> usize {
        w.files.values().filter(|l| l.sink.is_some()).count()
    }

    #[test]
    fn the_least_recently_used_file_is_closed_and_idle_files_too() {
        let mut fx = Fixture::new(CompressFormat::Gzip);
        fx.writer.max_open = 2;
        let f = facility(Some("daily"), None, 5);
        let (a, b, c) = (fx.live("a.log"), fx.live("b.log"), fx.live("c.log"));
        fx.write(&a, &f, "a1\n");
        fx.write(&b, &f, "b1\n");
        fx.write(&a, &f, "a2\n");
        // Opening c closes b, used less recently than a.
        fx.write(&c, &f, "c1\n");
        assert_eq!(open_count(&fx.writer), 2);
        assert!(fx.writer.files[&b].sink.is_none());
        assert!(fx.writer.files[&a].sink.is_some());
        // b opens again for its next line, transparently.
        fx.write(&b, &f, "b2\n");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "b1\nb2\n");
        assert_eq!(open_count(&fx.writer), 2);
        // Idle files are closed on a tick.
        fx.writer.idle_close = Duration::ZERO;
        fx.writer.on_tick();
        assert_eq!(open_count(&fx.writer), 0);
        fx.write(&a, &f, "a3\n");
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "a1\na2\na3\n");
    }

    #[test]
    fn fitting_len_cuts_between_lines() {
        let mut live = LiveFile::new(facility(None, Some(10), 1));
        live.pending = b"aaaa\nbbbb\ncccc\n".to_vec();
        live.pending_records = 3;
        assert_eq!(fitting_len(&live), 10);
        live.size = 3;
        assert_eq!(fitting_len(&live), 5);
        live.size = 8;
        assert_eq!(fitting_len(&live), 0, "the next line needs a new file");
        live.size = 0;
        live.pending = b"a very long line\nx\n".to_vec();
        assert_eq!(fitting_len(&live), 17, "alone in an empty file");
        assert_eq!(consume(&mut live, 17), 1);
        assert_eq!(
            (live.pending.as_slice(), live.pending_records),
            (&b"x\n"[..], 2)
        );
    }

    #[test]
    fn reopen_recreates_a_file_moved_away() {
        let mut fx = Fixture::new(CompressFormat::Gzip);
        let f = facility(Some("daily"), None, 5);
        let path = fx.live("web.log");
        fx.write(&path, &f, "a\n");
        let moved = fx.live("moved.log");
        std::fs::rename(&path, &moved).unwrap();
        fx.writer.reopen(None);
        assert!(path.exists());
        fx.write(&path, &f, "b\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "b\n");
        assert_eq!(std::fs::read_to_string(&moved).unwrap(), "a\n");
    }
}
