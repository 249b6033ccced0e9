//! What every writer shares besides its own files: the clock, the
//! persisted start times, the archiver hand-off and the retention it runs.
//!
//! Retention runs on the archiver thread after each job, keyed by the live
//! file the archive belongs to, so no writer ever lists a directory.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;

use super::archive::{Archived, Archiver};
use super::retention::{parse_rotated_name, prune};
use super::rotation::Clock;
use super::state::StateStore;
use crate::config::Facility;

/// What every writer shares: the clock, the persisted start times and the
/// archiver with the retention it applies.
pub(super) struct Housekeeping {
    pub(super) clock: Arc<dyn Clock>,
    pub(super) state: Mutex<StateStore>,
    pub(super) archiver: Mutex<Option<Archiver>>,
    /// `backup_count` by live file, read by the archiver's retention pass.
    pub(super) keep: Arc<Mutex<HashMap<PathBuf, usize>>>,
    pub(super) level: u32,
}

impl Housekeeping {
    /// Persist `started` for `path`; a failure costs at most one early or
    /// late rotation after a restart, so it is logged, not fatal.
    pub(super) fn save_start(&self, path: &Path, started: Timestamp) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.set(path, started);
        if let Err(e) = state.save() {
            tracing::error!(path = %state.path().display(), error = %e, reason = "state_not_saved", "cannot save rotation state");
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
    pub(super) fn archive(&self, rotated: PathBuf, compress: bool) {
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
pub(super) fn retain(keep: &Mutex<HashMap<PathBuf, usize>>, done: &Archived) {
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
