//! When a live file rotates, and moving it aside under its rotated name.
//!
//! The decision is a pure function of (next schedule fire, now, size), so it is
//! tested without a clock; only the writer reads time, through [`Clock`]. The
//! move never overwrites: `renameat2(RENAME_NOREPLACE)`, or hard link + unlink
//! where the file system lacks it, and a `-N` suffix when the name is taken.
use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use jiff::{Timestamp, Zoned};

/// Compressed extensions a rotated file may carry (see `archive`); a rotated
/// name counts as taken when any of these variants exists.
const ARCHIVE_EXTENSIONS: [&str; 3] = ["xz", "bz2", "gz"];

/// How many `-N` variants `rotate_file` tries before giving up: far more than
/// rotations that can share one microsecond start time.
const MAX_UNIQUE_SUFFIX: u32 = 999;

/// The writer's only source of time, so tests can drive rotation by hand.
pub trait Clock: Send + Sync {
    /// The current time in the zone rotated names are written in.
    fn now(&self) -> Zoned;
}

/// The real clock, in the system time zone (jiff handles DST; see CRATES.md).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Zoned {
        Zoned::now()
    }
}

/// A clock that only moves when told to: for tests of the writer and daemon.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Zoned>,
}

impl ManualClock {
    /// A clock standing at `now`.
    pub fn new(now: Zoned) -> ManualClock {
        ManualClock {
            now: Mutex::new(now),
        }
    }

    /// Move the clock to `now` (backwards too: clocks do that).
    pub fn set(&self, now: Zoned) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = now;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Zoned {
        self.now.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Why a file is due for rotation; `as_str` is the stable log/counter label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The file reached `max_size`, or the next write would pass it.
    Size,
    /// The file's cron schedule fired since the file was started.
    Schedule,
}

impl Reason {
    /// `"size"` or `"schedule"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Size => "size",
            Reason::Schedule => "schedule",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The size half of a facility's rotation rule; the schedule half arrives as
/// the next fire time, computed by the caller from `storage::schedule`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RotationPolicy {
    /// Rotate before the file would grow past this many bytes (`max_size`).
    pub max_size: Option<u64>,
}

impl RotationPolicy {
    /// Whether a live file must rotate before `incoming` more bytes are
    /// written (pass `incoming = 0` for a timer check).
    ///
    /// `next_fire` is the schedule's first fire time *after the file was
    /// started* (`None`: no schedule, or it never fires again). An empty file
    /// is never due: rotating it would push a real backup out of retention.
    /// By size it is due when it has reached `max_size`, or when the write
    /// would take it past `max_size`; so a file only exceeds `max_size` when
    /// one batch alone is larger. A schedule that is due wins over size.
    pub fn due(
        &self,
        next_fire: Option<Timestamp>,
        now: Timestamp,
        size: u64,
        incoming: u64,
    ) -> Option<Reason> {
        if size == 0 {
            return None;
        }
        if next_fire.is_some_and(|fire| now >= fire) {
            return Some(Reason::Schedule);
        }
        let max = self.max_size?;
        if size >= max || size.saturating_add(incoming) > max {
            return Some(Reason::Size);
        }
        None
    }
}

/// `{live}.{%Y-%m-%d-%H-%M-%S-%f}` of `started` as given (pass local time),
/// `%f` being six digits of microseconds, as the Python original named them.
/// A gzip live file (`compress_on_write`) keeps `.gz` last, as the original
/// did: `web.log.gz` becomes `web.log.{stamp}.gz`, so `ls *.gz` and the
/// retention of existing deployments see it.
pub fn rotated_name(live: &Path, started: &Zoned) -> PathBuf {
    rotated_candidate(live, started, 0)
}

/// [`rotated_name`] with the `-N` uniqueness suffix (none for 0), which goes
/// before a gzip live file's `.gz`.
fn rotated_candidate(live: &Path, started: &Zoned, n: u32) -> PathBuf {
    let stamp = format!(
        "{:04}-{:02}-{:02}-{:02}-{:02}-{:02}-{:06}",
        started.year(),
        started.month(),
        started.day(),
        started.hour(),
        started.minute(),
        started.second(),
        started.subsec_nanosecond() / 1_000,
    );
    let gz = live.extension().is_some_and(|e| e == "gz");
    let mut name = if gz {
        live.with_extension("").into_os_string()
    } else {
        live.as_os_str().to_owned()
    };
    name.push(".");
    name.push(stamp);
    if n > 0 {
        name.push(format!("-{n}"));
    }
    if gz {
        name.push(".gz");
    }
    PathBuf::from(name)
}

/// Move `live` to its rotated name and return where it went; never overwrites.
///
/// A name is taken when it, or a compressed variant of it (`.xz`, `.bz2`,
/// `.gz`), exists; then `-1`, `-2`, ... up to `-999` are tried in that order,
/// so the result is deterministic. The final move itself refuses to replace,
/// so a name that appears between the check and the move is not clobbered
/// either. The directory is fsynced so the rotation survives a power loss.
pub fn rotate_file(live: &Path, started: &Zoned) -> io::Result<PathBuf> {
    for n in 0..=MAX_UNIQUE_SUFFIX {
        let candidate = rotated_candidate(live, started, n);
        if name_taken(&candidate)? {
            continue;
        }
        match rename_noreplace(live, &candidate) {
            Ok(()) => {
                sync_parent(&candidate)?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "no free rotated name for {} ({} variants taken)",
            live.display(),
            MAX_UNIQUE_SUFFIX + 1
        ),
    ))
}

/// True when `path` or one of its compressed variants exists (a dangling
/// symlink counts: it is somebody's name).
fn name_taken(path: &Path) -> io::Result<bool> {
    if exists_no_follow(path)? {
        return Ok(true);
    }
    for ext in ARCHIVE_EXTENSIONS {
        let mut name = path.as_os_str().to_owned();
        name.push(".");
        name.push(ext);
        if exists_no_follow(Path::new(&name))? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn exists_no_follow(path: &Path) -> io::Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Rename `from` to `to`, failing with `AlreadyExists` instead of replacing.
///
/// Uses `renameat2(RENAME_NOREPLACE)`; where the file system or libc lacks
/// it, a hard link (which also refuses to replace) then unlinking `from`. A
/// crash between those two steps leaves both names on one inode, never a
/// lost or overwritten file.
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use nix::errno::Errno;
        use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
        match renameat2(AT_FDCWD, from, AT_FDCWD, to, RenameFlags::RENAME_NOREPLACE) {
            Ok(()) => return Ok(()),
            // The file system does not support the flag: use the fallback.
            Err(Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP) => {}
            Err(e) => return Err(io::Error::from(e)),
        }
    }
    std::fs::hard_link(from, to)?;
    std::fs::remove_file(from)
}

/// Complete a rotation that the hard-link fallback of [`rename_noreplace`]
/// left half done: when `live` and `rotated` are the same inode, unlink
/// `live` (else the writer would append to the backup). Returns whether it
/// did; a missing file of either name is not an error.
pub fn finish_interrupted_rotation(live: &Path, rotated: &Path) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let (Ok(a), Ok(b)) = (
        std::fs::symlink_metadata(live),
        std::fs::symlink_metadata(rotated),
    ) else {
        return Ok(false);
    };
    if a.dev() != b.dev() || a.ino() != b.ino() {
        return Ok(false);
    }
    tracing::warn!(
        live = %live.display(),
        rotated = %rotated.display(),
        reason = "interrupted_rotation",
        "completing a rotation cut short by a crash"
    );
    match std::fs::remove_file(live) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(true),
    }
}

/// fsync the directory holding `path`, making a rename or create in it durable.
pub fn sync_parent(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn zoned(h: i8, mi: i8, s: i8, nanos: i32) -> Zoned {
        date(2026, 11, 24)
            .at(h, mi, s, nanos)
            .in_tz("Europe/Athens")
            .unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn rotated_name_is_local_time_with_microseconds() {
        let name = rotated_name(Path::new("/l/app/web.log"), &zoned(4, 11, 45, 771_885_999));
        assert_eq!(name, Path::new("/l/app/web.log.2026-11-24-04-11-45-771885"));
        let name = rotated_name(Path::new("web.log"), &zoned(0, 0, 5, 1_000));
        assert_eq!(name, Path::new("web.log.2026-11-24-00-00-05-000001"));
    }

    #[test]
    fn a_gzip_live_file_keeps_gz_last() {
        let t = zoned(4, 11, 45, 771_885_000);
        assert_eq!(
            rotated_name(Path::new("/l/web.log.gz"), &t),
            Path::new("/l/web.log.2026-11-24-04-11-45-771885.gz")
        );
        assert_eq!(
            rotated_candidate(Path::new("/l/web.log.gz"), &t, 2),
            Path::new("/l/web.log.2026-11-24-04-11-45-771885-2.gz")
        );
    }

    #[test]
    fn rotated_name_uses_the_zone_it_is_given() {
        let t = zoned(4, 0, 0, 0);
        let utc = t.with_time_zone(jiff::tz::TimeZone::UTC);
        assert_eq!(
            rotated_name(Path::new("a.log"), &utc),
            Path::new("a.log.2026-11-24-02-00-00-000000")
        );
    }

    #[test]
    fn due_truth_table() {
        let now = ts("2026-11-24T12:00:00Z");
        let past = Some(ts("2026-11-24T11:00:00Z"));
        let exact = Some(now);
        let future = Some(ts("2026-11-24T13:00:00Z"));
        let sized = RotationPolicy {
            max_size: Some(100),
        };
        let unsized_ = RotationPolicy { max_size: None };
        // (policy, next fire, size, incoming, expected)
        type Case = (RotationPolicy, Option<Timestamp>, u64, u64, Option<Reason>);
        let cases: &[Case] = &[
            // Empty files never rotate, whatever else holds.
            (sized, past, 0, 500, None),
            (unsized_, past, 0, 0, None),
            // Schedule.
            (unsized_, past, 1, 0, Some(Reason::Schedule)),
            (unsized_, exact, 1, 0, Some(Reason::Schedule)),
            (unsized_, future, 1, 0, None),
            (unsized_, None, 1_000_000, 10, None),
            // Size: reached, or would be passed by this write.
            (sized, None, 99, 1, None),
            (sized, None, 99, 2, Some(Reason::Size)),
            (sized, None, 100, 0, Some(Reason::Size)),
            (sized, None, 150, 0, Some(Reason::Size)),
            (sized, future, 50, 50, None),
            (sized, future, 50, 51, Some(Reason::Size)),
            (sized, None, u64::MAX - 1, u64::MAX, Some(Reason::Size)),
            // Both due: the schedule is reported.
            (sized, past, 200, 1, Some(Reason::Schedule)),
        ];
        for (i, (policy, fire, size, incoming, want)) in cases.iter().enumerate() {
            assert_eq!(
                policy.due(*fire, now, *size, *incoming),
                *want,
                "case {i}: fire={fire:?} size={size} incoming={incoming}"
            );
        }
    }

    #[test]
    fn rotate_moves_the_file_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("web.log");
        let started = zoned(1, 2, 3, 4_000);
        let base = rotated_name(&live, &started);

        std::fs::write(&live, "first\n").unwrap();
        let a = rotate_file(&live, &started).unwrap();
        assert_eq!(a, base);
        assert!(!live.exists());

        // Same start time again: the existing backup must survive.
        std::fs::write(&live, "second\n").unwrap();
        let b = rotate_file(&live, &started).unwrap();
        assert_eq!(b, dir.path().join("web.log.2026-11-24-01-02-03-000004-1"));

        // A compressed variant also takes the name.
        std::fs::rename(
            &b,
            dir.path().join("web.log.2026-11-24-01-02-03-000004-1.xz"),
        )
        .unwrap();
        std::fs::write(&live, "third\n").unwrap();
        let c = rotate_file(&live, &started).unwrap();
        assert_eq!(c, dir.path().join("web.log.2026-11-24-01-02-03-000004-2"));

        assert_eq!(std::fs::read_to_string(&a).unwrap(), "first\n");
        assert_eq!(std::fs::read_to_string(&c).unwrap(), "third\n");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("web.log.2026-11-24-01-02-03-000004-1.xz"))
                .unwrap(),
            "second\n"
        );
    }

    #[test]
    fn rotate_of_a_missing_file_fails_without_creating_anything() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("web.log");
        let err = rotate_file(&live, &zoned(1, 0, 0, 0)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn rename_noreplace_refuses_an_existing_target() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("a");
        let to = dir.path().join("b");
        std::fs::write(&from, "a").unwrap();
        std::fs::write(&to, "b").unwrap();
        let err = rename_noreplace(&from, &to).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&to).unwrap(), "b");
        assert_eq!(std::fs::read_to_string(&from).unwrap(), "a");
    }

    #[test]
    fn manual_clock_moves_only_when_set() {
        let clock = ManualClock::new(zoned(1, 0, 0, 0));
        assert_eq!(clock.now(), zoned(1, 0, 0, 0));
        clock.set(zoned(2, 0, 0, 0));
        assert_eq!(clock.now(), zoned(2, 0, 0, 0));
        // SystemClock reads real time in some zone; it must not be the epoch.
        assert!(SystemClock.now().year() >= 2024);
    }
}
