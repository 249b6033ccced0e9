//! The writer loop: one OS thread per shard, the only owner of the files
//! whose paths hash to it, including their rotation.
//!
//! A writer drains everything queued (up to a round's worth of bytes), then
//! writes each file's pending lines with one `write` and, for `fsync = yes`
//! facilities, one `fdatasync` for all the batches of the round (group
//! commit) before it acknowledges them. Before each write, and on every
//! tick for idle files, it asks `RotationPolicy::due`; rotated files go to
//! the archiver thread, so neither ever runs on the ingest path.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::mpsc;

use super::handle::{Command, WriteBatch, WriterStats};
use super::housekeeping::Housekeeping;
use super::live::{LiveFile, is_gz, load, open_sink, repair_once, rotate, sync, write_pending};
use super::rotation::RotationPolicy;
use crate::config::Facility;

/// A writer round takes at most about this many bytes from its queue
/// before writing; a file holds no more than this below `flush_every`.
const ROUND_BYTES: usize = 4 << 20;

/// Beyond this much unwritten data for one file (the disk keeps failing),
/// new lines are dropped and counted instead of held.
const MAX_PENDING_BYTES: usize = 64 << 20;

pub(super) struct Writer {
    files: HashMap<PathBuf, LiveFile>,
    stats: Arc<WriterStats>,
    hk: Arc<Housekeeping>,
}

impl Writer {
    pub(super) fn new(stats: Arc<WriterStats>, hk: Arc<Housekeeping>) -> Self {
        Writer {
            files: HashMap::new(),
            stats,
            hk,
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
}
