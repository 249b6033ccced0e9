//! Which rotated files belong to a live file, and deleting all but the newest.
//!
//! Only names the daemon itself produces are recognised: `{live}.{timestamp}`
//! with the exact `%Y-%m-%d-%H-%M-%S-%f` shape, an optional `-N` uniqueness
//! suffix and an optional `.xz`/`.bz2`/`.gz`. Anything else in the directory
//! (`web.log.bak`, `web.log.2020`, another facility's files) is never touched.
use std::cmp::Reverse;
use std::io;
use std::path::{Path, PathBuf};

use jiff::civil::DateTime;

/// One backup of a live file, as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotatedFile {
    /// Full path of the file.
    pub path: PathBuf,
    /// The live file's start time, from the name (local wall-clock time).
    pub started: DateTime,
    /// The `-N` uniqueness suffix, 0 when absent.
    pub seq: u32,
    /// `Some("xz" | "bz2" | "gz")` when compressed by the archiver.
    pub compressed: Option<&'static str>,
}

/// A file name split into the parts the daemon gives rotated files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedName<'a> {
    /// The live file's name (everything before `.{timestamp}`).
    pub live: &'a str,
    /// Start time from the name.
    pub started: DateTime,
    /// `-N` suffix, 0 when absent.
    pub seq: u32,
    /// Compression extension, if any.
    pub compressed: Option<&'static str>,
}

/// Length of `YYYY-MM-DD-HH-MM-SS-ffffff`.
const STAMP_LEN: usize = 26;

/// Split a rotated file name, or `None` when the daemon cannot have made it.
///
/// The timestamp is found by its fixed length and shape, so a live name that
/// itself contains dots (`web.requests.log`) is unambiguous.
pub fn parse_rotated_name(name: &str) -> Option<ParsedName<'_>> {
    let (rest, compressed) = strip_archive_ext(name);
    // A trailing "-N" is a uniqueness suffix only if what precedes it ends in
    // a whole stamp; the stamp's own last field has six digits, never 1-3.
    let (rest, seq) = match rest.rsplit_once('-') {
        Some((head, n)) if is_seq(n) && parse_stamp_suffix(head).is_some() => {
            (head, n.parse::<u32>().ok()?)
        }
        _ => (rest, 0),
    };
    let (live, started) = parse_stamp_suffix(rest)?;
    Some(ParsedName {
        live,
        started,
        seq,
        compressed,
    })
}

/// `{live}.{stamp}` -> (live, stamp) when the last 27 bytes are `.` + stamp.
fn parse_stamp_suffix(s: &str) -> Option<(&str, DateTime)> {
    let split = s.len().checked_sub(STAMP_LEN + 1)?;
    if split == 0 || !s.is_char_boundary(split) {
        return None;
    }
    let (live, dot_stamp) = s.split_at(split);
    let stamp = dot_stamp.strip_prefix('.')?;
    Some((live, parse_stamp(stamp)?))
}

fn parse_stamp(stamp: &str) -> Option<DateTime> {
    let b = stamp.as_bytes();
    if b.len() != STAMP_LEN {
        return None;
    }
    for (i, c) in b.iter().enumerate() {
        let want_dash = matches!(i, 4 | 7 | 10 | 13 | 16 | 19);
        if want_dash != (*c == b'-') || (!want_dash && !c.is_ascii_digit()) {
            return None;
        }
    }
    let num = |r: std::ops::Range<usize>| stamp[r].parse::<i32>().ok();
    DateTime::new(
        i16::try_from(num(0..4)?).ok()?,
        i8::try_from(num(5..7)?).ok()?,
        i8::try_from(num(8..10)?).ok()?,
        i8::try_from(num(11..13)?).ok()?,
        i8::try_from(num(14..16)?).ok()?,
        i8::try_from(num(17..19)?).ok()?,
        num(20..26)? * 1_000,
    )
    .ok()
}

/// A uniqueness suffix: 1-3 digits, no leading zero (what `rotate_file` makes).
fn is_seq(s: &str) -> bool {
    (1..=3).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_digit()) && !s.starts_with('0')
}

fn strip_archive_ext(name: &str) -> (&str, Option<&'static str>) {
    for ext in ["xz", "bz2", "gz"] {
        if let Some(rest) = name.strip_suffix(ext).and_then(|r| r.strip_suffix('.')) {
            return (rest, Some(ext));
        }
    }
    (name, None)
}

/// The rotated files of the live file `live_file_name` in `dir`, unsorted.
///
/// Only exact name matches count, so `web.log` never claims
/// `web.requests.log.*`, and the live `web.log.gz` of compress_on_write is
/// not a backup of `web.log`. The backups of a live `web.log.gz` are named
/// `web.log.{stamp}.gz`, as the original named them; `web.log.gz.{stamp}`,
/// which earlier versions of loghogd made, still counts. Non-UTF-8 names
/// and non-files are skipped.
pub fn rotated_files(dir: &Path, live_file_name: &str) -> io::Result<Vec<RotatedFile>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(parsed) = parse_rotated_name(name) else {
            continue;
        };
        if !belongs_to(&parsed, live_file_name) || !entry.file_type()?.is_file() {
            continue;
        }
        found.push(RotatedFile {
            path: entry.path(),
            started: parsed.started,
            seq: parsed.seq,
            compressed: parsed.compressed,
        });
    }
    Ok(found)
}

/// Whether the rotated file `parsed` is a backup of `live_file_name`.
pub fn belongs_to(parsed: &ParsedName<'_>, live_file_name: &str) -> bool {
    parsed.live == live_file_name
        || (parsed.compressed == Some("gz")
            && live_file_name.strip_suffix(".gz") == Some(parsed.live))
}

/// The files to delete so that the newest `keep` backups remain.
///
/// Newest means latest start time in the name, then highest `-N`. A backup
/// present both plain and compressed (a crash mid-archive) counts once, and
/// both copies share its fate. Times are wall-clock, so around a DST
/// fall-back an hour's order can be off by one file; that only matters when
/// exactly that file is at the cut.
pub fn select_expired(files: &[RotatedFile], keep: usize) -> Vec<&RotatedFile> {
    let mut expired: Vec<&RotatedFile> = if keep == 0 {
        files.iter().collect()
    } else {
        let mut keys: Vec<(DateTime, u32)> = files.iter().map(|f| (f.started, f.seq)).collect();
        keys.sort_unstable_by_key(|k| Reverse(*k));
        keys.dedup();
        let Some(&oldest_kept) = keys.get(keep - 1) else {
            return Vec::new();
        };
        files
            .iter()
            .filter(|f| (f.started, f.seq) < oldest_kept)
            .collect()
    };
    expired.sort_by(|a, b| (a.started, a.seq, &a.path).cmp(&(b.started, b.seq, &b.path)));
    expired
}

/// Delete all but the newest `keep` backups of `live_file_name` in `dir`,
/// returning the paths deleted (oldest first). A file already gone is fine.
pub fn prune(dir: &Path, live_file_name: &str, keep: usize) -> io::Result<Vec<PathBuf>> {
    let files = rotated_files(dir, live_file_name)?;
    let mut deleted = Vec::new();
    for f in select_expired(&files, keep) {
        match std::fs::remove_file(&f.path) {
            Ok(()) => {
                tracing::info!(path = %f.path.display(), keep, "deleted expired backup");
                deleted.push(f.path.clone());
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_live_files_own_both_backup_namings() {
        let owns = |name: &str, live: &str| belongs_to(&parse_rotated_name(name).unwrap(), live);
        assert!(owns("web.log.2026-01-02-03-04-05-000006.gz", "web.log.gz"));
        assert!(owns(
            "web.log.2026-01-02-03-04-05-000006-2.gz",
            "web.log.gz"
        ));
        assert!(owns("web.log.gz.2026-01-02-03-04-05-000006", "web.log.gz"));
        assert!(owns("web.log.2026-01-02-03-04-05-000006.gz", "web.log"));
        assert!(!owns("web.log.2026-01-02-03-04-05-000006.xz", "web.log.gz"));
        assert!(!owns("web.log.2026-01-02-03-04-05-000006", "web.log.gz"));
        assert!(!owns("api.log.2026-01-02-03-04-05-000006.gz", "web.log.gz"));
    }

    fn touch(dir: &Path, name: &str) {
        std::fs::write(dir.join(name), name).unwrap();
    }

    fn names(paths: &[PathBuf]) -> Vec<String> {
        let mut v: Vec<String> = paths
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    }

    fn remaining(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn parses_only_daemon_made_names() {
        let p = parse_rotated_name("web.requests.log.2026-11-24-04-11-45-771885-2.xz").unwrap();
        assert_eq!(p.live, "web.requests.log");
        assert_eq!(p.seq, 2);
        assert_eq!(p.compressed, Some("xz"));
        assert_eq!(
            p.started,
            jiff::civil::date(2026, 11, 24).at(4, 11, 45, 771_885_000)
        );

        let p = parse_rotated_name("web.log.gz.2026-01-02-03-04-05-000006").unwrap();
        assert_eq!((p.live, p.seq, p.compressed), ("web.log.gz", 0, None));

        for bad in [
            "web.log",
            "web.log.gz",
            "web.log.bak",
            "web.log.2020",
            "web.log.1",
            ".2026-11-24-04-11-45-771885",
            "web.log.2026-11-24-04-11-45-77188",
            "web.log.2026-11-24-04-11-45-771885.zst",
            "web.log.2026-11-24-04-11-45-771885.xz.tmp",
            "web.log.2026-11-24-04-11-45-771885-01",
            "web.log.2026-11-24-04-11-45-771885-",
            "web.log.2026-13-24-04-11-45-771885",
            "web.log.2026-11-24-04-11-45+771885",
            "web.log-2026-11-24-04-11-45-771885",
        ] {
            assert_eq!(parse_rotated_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn lists_only_this_live_files_backups() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for n in [
            "web.log",
            "web.log.gz",
            "web.log.bak",
            "web.log.2020",
            "web.log.2026-11-24-04-00-00-000000",
            "web.log.2026-11-24-05-00-00-000000.xz",
            "web.requests.log.2026-11-24-04-00-00-000000",
            "web.requests.log",
            "app.web.log.2026-11-24-04-00-00-000000",
        ] {
            touch(d, n);
        }
        std::fs::create_dir(d.join("web.log.2026-11-24-06-00-00-000000")).unwrap();
        let found: Vec<PathBuf> = rotated_files(d, "web.log")
            .unwrap()
            .into_iter()
            .map(|f| f.path)
            .collect();
        assert_eq!(
            names(&found),
            [
                "web.log.2026-11-24-04-00-00-000000",
                "web.log.2026-11-24-05-00-00-000000.xz"
            ]
        );
        let found: Vec<PathBuf> = rotated_files(d, "web.requests.log")
            .unwrap()
            .into_iter()
            .map(|f| f.path)
            .collect();
        assert_eq!(
            names(&found),
            ["web.requests.log.2026-11-24-04-00-00-000000"]
        );
    }

    #[test]
    fn prune_keeps_exactly_the_newest_n() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let foreign = [
            "web.log",
            "web.log.bak",
            "web.log.2020",
            "web.requests.log.2020-01-01-00-00-00-000000.gz",
        ];
        for n in foreign {
            touch(d, n);
        }
        // Eight backups over two days; name order and age order differ for
        // the -N variants and the compressed ones.
        let backups = [
            "web.log.2026-11-22-00-00-00-000000.xz",
            "web.log.2026-11-22-12-00-00-000000.bz2",
            "web.log.2026-11-23-00-00-00-000000.gz",
            "web.log.2026-11-23-00-00-00-000000-1.xz",
            "web.log.2026-11-23-00-00-00-000000-2",
            "web.log.2026-11-23-00-00-00-000000-10",
            "web.log.2026-11-23-09-59-59-999999",
            "web.log.2026-11-23-10-00-00-000000",
        ];
        for n in backups {
            touch(d, n);
        }
        let deleted = prune(d, "web.log", 5).unwrap();
        assert_eq!(
            names(&deleted),
            names(&backups[..3].iter().map(PathBuf::from).collect::<Vec<_>>())
        );
        let mut want: Vec<String> = foreign
            .iter()
            .chain(&backups[3..])
            .map(|s| s.to_string())
            .collect();
        want.sort();
        assert_eq!(remaining(d), want);

        // Pruning again is a no-op; keeping more than exist deletes nothing.
        assert!(prune(d, "web.log", 5).unwrap().is_empty());
        assert!(prune(d, "web.log", 50).unwrap().is_empty());
        // The other facility's backup is untouched by web.log's retention.
        assert!(
            d.join("web.requests.log.2020-01-01-00-00-00-000000.gz")
                .exists()
        );
    }

    #[test]
    fn a_backup_present_twice_counts_once() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for n in [
            "web.log.2026-11-20-00-00-00-000000",
            "web.log.2026-11-21-00-00-00-000000",
            "web.log.2026-11-21-00-00-00-000000.xz",
            "web.log.2026-11-22-00-00-00-000000.xz",
        ] {
            touch(d, n);
        }
        let files = rotated_files(d, "web.log").unwrap();
        let expired: Vec<PathBuf> = select_expired(&files, 2)
            .into_iter()
            .map(|f| f.path.clone())
            .collect();
        assert_eq!(names(&expired), ["web.log.2026-11-20-00-00-00-000000"]);
        let expired: Vec<PathBuf> = select_expired(&files, 1)
            .into_iter()
            .map(|f| f.path.clone())
            .collect();
        assert_eq!(
            names(&expired),
            [
                "web.log.2026-11-20-00-00-00-000000",
                "web.log.2026-11-21-00-00-00-000000",
                "web.log.2026-11-21-00-00-00-000000.xz"
            ]
        );
        assert_eq!(select_expired(&files, 0).len(), 4);
        assert!(select_expired(&[], 0).is_empty());
    }
}
