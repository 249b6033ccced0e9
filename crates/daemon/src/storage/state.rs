//! Start times of live files, persisted under `workdir` so schedules survive
//! restarts (SPEC §5).
//!
//! The file is small JSON replaced atomically (temp, fsync, rename, fsync the
//! directory). Losing it costs at most one early or late rotation, so a
//! corrupt file is logged and treated as empty, never fatal.
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::rotation::sync_parent;

/// Name of the state file inside `workdir`.
pub const STATE_FILE_NAME: &str = "loghogd.state.json";

/// Format version written to the file; other versions are read as empty.
const VERSION: u64 = 1;

/// Start time of every live file, keyed by the file's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateStore {
    path: PathBuf,
    started: BTreeMap<PathBuf, Timestamp>,
}

impl StateStore {
    /// Read `{workdir}/loghogd.state.json`. A missing file is an empty store;
    /// an unreadable one (permissions, I/O) is an error; a corrupt one is
    /// logged and empty, and bad entries are skipped one by one.
    pub fn load(workdir: &Path) -> io::Result<StateStore> {
        let path = workdir.join(STATE_FILE_NAME);
        let started = match std::fs::read(&path) {
            Ok(bytes) => parse(&path, &bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        Ok(StateStore { path, started })
    }

    /// Where [`save`](Self::save) writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// When the live file `live` was started, if known.
    pub fn get(&self, live: &Path) -> Option<Timestamp> {
        self.started.get(live).copied()
    }

    /// Record that `live` was started at `started` (a new file, or after a
    /// rotation).
    pub fn set(&mut self, live: &Path, started: Timestamp) {
        self.started.insert(live.to_path_buf(), started);
    }

    /// Forget `live`; returns its start time if it was known.
    pub fn remove(&mut self, live: &Path) -> Option<Timestamp> {
        self.started.remove(live)
    }

    /// All known live files and their start times, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&Path, Timestamp)> {
        self.started.iter().map(|(p, t)| (p.as_path(), *t))
    }

    /// Number of live files known.
    pub fn len(&self) -> usize {
        self.started.len()
    }

    /// True when no live file is known.
    pub fn is_empty(&self) -> bool {
        self.started.is_empty()
    }

    /// Write the store atomically: a crash leaves the old file or the new
    /// one, whole. Paths that are not UTF-8 are skipped with a warning (JSON
    /// cannot hold them; daemon-made paths are sanitised ASCII anyway).
    pub fn save(&self) -> io::Result<()> {
        let mut files = Map::new();
        for (path, started) in &self.started {
            match path.to_str() {
                Some(p) => {
                    files.insert(p.to_owned(), Value::String(started.to_string()));
                }
                None => tracing::warn!(
                    path = %path.display(),
                    reason = "non_utf8_path",
                    "start time not persisted"
                ),
            }
        }
        let doc = serde_json::json!({ "version": VERSION, "started": files });
        let mut bytes = serde_json::to_vec_pretty(&doc).map_err(io::Error::other)?;
        bytes.push(b'\n');

        replace_file(&self.path, &bytes, 0o640)
    }
}

/// Replaces `path` with `bytes` so that a crash leaves the old file or the
/// new one, whole: a `.tmp` beside it (created with `mode`, never through a
/// symbolic link), synced, renamed over it, and the directory synced. The
/// one way loghogd writes its small state files (start times, v2 sessions,
/// the replay table).
pub fn replace_file(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    sync_parent(path)
}

/// Decode the file; anything unexpected is logged and dropped.
fn parse(path: &Path, bytes: &[u8]) -> BTreeMap<PathBuf, Timestamp> {
    let mut started = BTreeMap::new();
    let corrupt = |why: &str| {
        tracing::warn!(
            path = %path.display(),
            reason = "corrupt_state",
            detail = why,
            "ignoring rotation state file, start times reset"
        );
    };
    let doc: Value = match serde_json::from_slice(bytes) {
        Ok(doc) => doc,
        Err(e) => {
            corrupt(&e.to_string());
            return started;
        }
    };
    if doc.get("version").and_then(Value::as_u64) != Some(VERSION) {
        corrupt("missing or unknown version");
        return started;
    }
    let Some(files) = doc.get("started").and_then(Value::as_object) else {
        corrupt("no \"started\" object");
        return started;
    };
    for (live, value) in files {
        match value.as_str().map(str::parse::<Timestamp>) {
            Some(Ok(t)) => {
                started.insert(PathBuf::from(live), t);
            }
            _ => tracing::warn!(
                path = %path.display(),
                live = %live,
                reason = "corrupt_state_entry",
                "ignoring start time that is not a timestamp"
            ),
        }
    }
    started
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::load(dir.path()).unwrap();
        assert!(store.is_empty());
        assert_eq!(store.path(), dir.path().join(STATE_FILE_NAME));
    }

    #[test]
    fn round_trip_keeps_microseconds_and_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::load(dir.path()).unwrap();
        let a = Path::new("/var/log/loghog/app/web.log");
        let b = Path::new("/var/log/loghog/app/athens-web.requests.log.gz");
        store.set(a, ts("2026-11-24T04:11:45.771885Z"));
        store.set(b, ts("2026-11-23T00:00:00Z"));
        store.set(Path::new("/gone.log"), ts("2020-01-01T00:00:00Z"));
        assert_eq!(
            store.remove(Path::new("/gone.log")),
            Some(ts("2020-01-01T00:00:00Z"))
        );
        store.save().unwrap();

        let again = StateStore::load(dir.path()).unwrap();
        assert_eq!(again, store);
        assert_eq!(again.get(a), Some(ts("2026-11-24T04:11:45.771885Z")));
        assert_eq!(again.get(Path::new("/gone.log")), None);
        assert_eq!(again.len(), 2);
        assert!(!dir.path().join("loghogd.state.json.tmp").exists());

        // Overwriting replaces, not appends.
        let mut third = again.clone();
        third.set(a, ts("2026-11-25T00:00:00Z"));
        third.save().unwrap();
        assert_eq!(
            StateStore::load(dir.path()).unwrap().get(a),
            Some(ts("2026-11-25T00:00:00Z"))
        );
    }

    #[test]
    fn corrupt_files_are_empty_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STATE_FILE_NAME);
        for body in [
            &b"{\"version\": 1, \"started\": {\"/a.log\": \"2026-11"[..],
            b"\xff\xfe garbage",
            b"[]",
            b"{\"version\": 99, \"started\": {}}",
            b"{\"version\": 1}",
        ] {
            std::fs::write(&path, body).unwrap();
            let store = StateStore::load(dir.path()).unwrap();
            assert!(store.is_empty(), "{:?}", String::from_utf8_lossy(body));
        }
        // A bad entry is dropped, good ones kept; saving heals the file.
        std::fs::write(
            &path,
            r#"{"version": 1, "started": {"/a.log": "yesterday", "/b.log": "2026-11-24T00:00:00Z", "/c.log": 7}}"#,
        )
        .unwrap();
        let store = StateStore::load(dir.path()).unwrap();
        assert_eq!(store.len(), 1);
        assert_eq!(
            store.get(Path::new("/b.log")),
            Some(ts("2026-11-24T00:00:00Z"))
        );
        store.save().unwrap();
        assert_eq!(StateStore::load(dir.path()).unwrap(), store);
    }

    #[test]
    fn unreadable_state_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: reading fails with an error
        // other than NotFound, which must not be mistaken for "empty".
        std::fs::create_dir(dir.path().join(STATE_FILE_NAME)).unwrap();
        assert!(StateStore::load(dir.path()).is_err());
    }
}
