//! What every writer shares besides its own files: the clock, the
//! persisted start times, the archiver hand-off and the retention it runs.
//!
//! Retention runs on the archiver thread after each job, keyed by the live
//! file the archive belongs to, so no writer ever lists a directory. Every
//! error line of the storage path goes through one shared rate limiter.
use std::collections::HashMap;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;

use super::archive::{Archived, Archiver};
use super::retention::{parse_rotated_name, prune};
use super::rotation::Clock;
use super::state::StateStore;
use crate::config::Facility;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;

/// What every writer shares: the clock, the persisted start times and the
/// archiver with the retention it applies.
pub(super) struct Housekeeping {
    pub(super) clock: Arc<dyn Clock>,
    pub(super) state: Mutex<StateStore>,
    pub(super) archiver: Mutex<Option<Archiver>>,
    /// `backup_count` by live file, read by the archiver's retention pass.
    pub(super) keep: Arc<Mutex<HashMap<PathBuf, usize>>>,
    pub(super) level: u32,
    /// Error lines of every writer, limited per reason.
    errors: RateLimiter,
    /// Rotated files the archiver's queue had no room for: offered again on
    /// every tick, so they are compressed now rather than at the next start.
    deferred: Mutex<Vec<(PathBuf, bool)>>,
    /// Where rotations, syncs and writes are counted.
    pub(super) metrics: Metrics,
}

impl Housekeeping {
    /// Shared state over an already started archiver.
    pub(super) fn new(
        clock: Arc<dyn Clock>,
        state: StateStore,
        archiver: Archiver,
        keep: Arc<Mutex<HashMap<PathBuf, usize>>>,
        level: u32,
    ) -> Housekeeping {
        Housekeeping {
            clock,
            state: Mutex::new(state),
            archiver: Mutex::new(Some(archiver)),
            keep,
            level,
            errors: RateLimiter::default(),
            deferred: Mutex::default(),
            metrics: Metrics::default(),
        }
    }

    /// Logs a storage error, rate-limited per `reason` (a burst, then one
    /// line a window with the count of those held back).
    pub(super) fn report(
        &self,
        reason: &'static str,
        path: &Path,
        error: &dyn Display,
        what: &str,
    ) {
        let v = self.errors.check(reason);
        if !v.log {
            return;
        }
        if v.suppressed > 0 {
            tracing::error!(path = %path.display(), error = %error, reason, suppressed = v.suppressed, "{what} (and {} similar errors not logged)", v.suppressed);
        } else {
            tracing::error!(path = %path.display(), error = %error, reason, "{what}");
        }
    }

    /// Logs lost records, rate-limited per `reason`; `records` is always
    /// counted by the caller, so a suppressed line loses no count:
    /// `lost_total` on each line is the running total.
    pub(super) fn report_loss(
        &self,
        reason: &'static str,
        path: &Path,
        records: u64,
        lost_total: u64,
        why: &dyn Display,
    ) {
        let v = self.errors.check_amount(reason, records);
        if v.log {
            tracing::error!(path = %path.display(), records, lost_total, reason, suppressed = v.suppressed, suppressed_records = v.held, "records dropped: {why}");
        }
    }

    /// On a timer: counts of error lines held back in windows that ended
    /// quietly, so a storm that stopped is still reported.
    pub(super) fn report_suppressed(&self) {
        for held in self.errors.expired() {
            held.log("storage errors");
        }
    }

    /// At shutdown: everything still held back, window ended or not.
    pub(super) fn report_held_back(&self) {
        for held in self.errors.drain() {
            held.log("storage errors");
        }
    }

    /// Persist `started` for `path`; a failure costs at most one early or
    /// late rotation after a restart, so it is logged, not fatal.
    pub(super) fn save_start(&self, path: &Path, started: Timestamp) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.set(path, started);
        if let Err(e) = state.save() {
            self.report(
                "state_not_saved",
                state.path(),
                &e,
                "cannot save rotation state",
            );
        }
    }

    pub(super) fn saved_start(&self, path: &Path) -> Option<Timestamp> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
    }

    pub(super) fn set_keep(&self, live: &Path, facility: &Facility) {
        self.keep
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(live.to_path_buf(), facility.backup_count as usize);
    }

    /// Queue a rotated file: compressed, or (already gzip) only pruned.
    /// When the queue is full it is kept and offered again on each tick.
    pub(super) fn archive(&self, rotated: PathBuf, compress: bool) {
        let queued = {
            let archiver = self.archiver.lock().unwrap_or_else(|e| e.into_inner());
            match archiver.as_ref() {
                Some(a) if compress => a.submit(rotated.clone()),
                Some(a) => a.submit_uncompressed(rotated.clone()),
                None => return,
            }
        };
        if !queued {
            self.report(
                "archive_queue_full",
                &rotated,
                &"queue full",
                "archive queue full; the file is queued again on the next tick",
            );
            self.deferred
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((rotated, compress));
        }
    }

    /// Offers the deferred rotated files to the archiver again, oldest
    /// first, until its queue is full.
    pub(super) fn retry_deferred(&self) {
        let mut deferred = self.deferred.lock().unwrap_or_else(|e| e.into_inner());
        if deferred.is_empty() {
            return;
        }
        let archiver = self.archiver.lock().unwrap_or_else(|e| e.into_inner());
        let Some(a) = archiver.as_ref() else { return };
        let mut sent = 0;
        for (path, compress) in deferred.iter() {
            let ok = if *compress {
                a.submit(path.clone())
            } else {
                a.submit_uncompressed(path.clone())
            };
            if !ok {
                break;
            }
            sent += 1;
        }
        deferred.drain(..sent);
    }
}

/// Retention after an archive job: keep the newest `backup_count` backups
/// of the live file the rotated file belongs to. Files of live files no
/// configured facility names (unknown `keep`) are left alone. Returns how
/// many backups were deleted.
pub(super) fn retain(
    keep: &Mutex<HashMap<PathBuf, usize>>,
    done: &Archived,
    errors: &RateLimiter,
) -> usize {
    let (Some(dir), Some(name)) = (
        done.src.parent(),
        done.src.file_name().and_then(|n| n.to_str()),
    ) else {
        return 0;
    };
    let Some(parsed) = parse_rotated_name(name) else {
        return 0;
    };
    // A gzip backup may belong to a `compress_on_write` live file, whose
    // name keeps the `.gz` the backup's name moves to the end.
    let gz_live = format!("{}.gz", parsed.live);
    let mut candidates = vec![parsed.live];
    if parsed.compressed == Some("gz") {
        candidates.push(gz_live.as_str());
    }
    let found = {
        let keep = keep.lock().unwrap_or_else(|e| e.into_inner());
        candidates
            .into_iter()
            .find_map(|live| keep.get(&dir.join(live)).map(|n| (live, *n)))
    };
    let Some((live, n)) = found else {
        return 0;
    };
    match prune(dir, live, n) {
        Ok(deleted) => deleted.len(),
        Err(e) => {
            let v = errors.check("retention_failed");
            if v.log {
                tracing::error!(dir = %dir.display(), live, error = %e, reason = "retention_failed", suppressed = v.suppressed, "cannot delete expired backups");
            }
            0
        }
    }
}

/// The facility whose live file name (`{name}.log`, or `{host}-{name}.log`
/// for one file per host) is `live` (without a `.gz`); the longest name
/// wins when several match.
pub(super) fn facility_of<'a>(
    configured: &[&'a Arc<Facility>],
    live: &str,
) -> Option<&'a Arc<Facility>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::archive::CompressFormat;
    use crate::storage::rotation::SystemClock;

    /// Regression: a rotated file the archive queue had no room for stayed
    /// uncompressed until the next start-up. Now it is offered again on
    /// every tick until the archiver takes it.
    #[test]
    fn files_the_archive_queue_refused_are_compressed_later() {
        let dir = tempfile::tempdir().unwrap();
        // The archiver's first job blocks until the gate opens, and its
        // queue holds one: the other files find it full.
        let (open, gate) = std::sync::mpsc::channel::<()>();
        let archiver = Archiver::start_with_capacity(CompressFormat::Gzip, 1, 1, move |_| {
            let _ = gate.recv();
        })
        .unwrap();
        let hk = Housekeeping::new(
            Arc::new(SystemClock),
            StateStore::load(dir.path()).unwrap(),
            archiver,
            Arc::default(),
            1,
        );
        let rotated: Vec<PathBuf> = (0..5)
            .map(|i| {
                dir.path()
                    .join(format!("web.log.2026-11-24-10-0{i}-00-000000"))
            })
            .collect();
        for p in &rotated {
            std::fs::write(p, "line\n").unwrap();
            hk.archive(p.clone(), true);
        }
        assert!(hk.deferred.lock().unwrap().len() >= 3);
        for _ in 0..5 {
            open.send(()).unwrap();
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let all_done = || rotated.iter().all(|p| !p.exists());
        while !all_done() && std::time::Instant::now() < deadline {
            hk.retry_deferred();
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(
            all_done(),
            "left uncompressed: {:?}",
            std::fs::read_dir(dir.path()).unwrap().collect::<Vec<_>>()
        );
        assert!(hk.deferred.lock().unwrap().is_empty());
    }

    fn facility(name: &str, file_per_host: bool) -> Arc<Facility> {
        Arc::new(Facility {
            app: "app".into(),
            name: name.into(),
            schedule: None,
            backup_count: 1,
            max_size: Some(1),
            flush_every: 1,
            file_per_host,
            secret: None,
            fsync: false,
            max_hosts: 1000,
            require_sha256: false,
            replay_protection: false,
        })
    }

    #[test]
    fn facility_of_matches_exact_names_and_per_host_files() {
        let web = facility("web", false);
        let per_host = facility("root", true);
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
