//! Finding a facility's files in `{logdir}/{app}`: the live file and every
//! rotated one, compressed or not, grouped by live name and ordered oldest
//! first.
//!
//! Everything is decided from the names the daemon gives (docs/files.md):
//! the stamp in a rotated name is the file's start time, so the next file's
//! stamp bounds its end and archives outside a time window can be skipped
//! without opening them.
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use jiff::civil::DateTime;

use super::record::parse_stamp;

/// How a file's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Plain text.
    Plain,
    /// gzip, possibly many members (compress_on_write, `format = gzip`).
    Gzip,
    /// xz.
    Xz,
    /// bzip2.
    Bzip2,
}

/// One file of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its codec, from the name.
    pub codec: Codec,
    /// The start time in a rotated name; None for the live file.
    pub start: Option<DateTime>,
    /// The `-N` of a rotated name that was taken (0 when none).
    pub seq: u32,
}

/// A name the daemon makes, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedName {
    /// The live file's name without `.log`/`.log.gz` (`root`, `athens-web`).
    pub base: String,
    /// The codec.
    pub codec: Codec,
    /// The rotated stamp, None for a live file.
    pub start: Option<DateTime>,
    /// The `-N` suffix.
    pub seq: u32,
}

/// The live file and the rotated files of one live name, oldest first (the
/// live file, if present, last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// The base name (`root`, `athens-root`).
    pub base: String,
    /// Rotated files, oldest first, then the live file.
    pub files: Vec<LogFile>,
    /// Where the live file is or will be.
    pub live: PathBuf,
    /// Whether the live file is gzip (compress_on_write).
    pub live_gzip: bool,
}

/// Takes a file name apart; None for anything the daemon does not make
/// (`.tmp` files, `web.log.bak`).
pub fn parse_name(name: &str) -> Option<ParsedName> {
    // A facility name may itself contain `.log` (`web.logger`): try each
    // occurrence and keep the first whose remainder is a daemon suffix.
    let mut from = 0;
    while let Some(i) = name[from..].find(".log") {
        let at = from + i;
        if at > 0
            && let Some((codec, start, seq)) = parse_suffix(&name[at + 4..])
        {
            return Some(ParsedName {
                base: name[..at].to_owned(),
                codec,
                start,
                seq,
            });
        }
        from = at + 1;
    }
    None
}

/// `""`, `.gz`, `.{stamp}[-N][.xz|.bz2|.gz]` or `.gz.{stamp}[-N]`.
fn parse_suffix(s: &str) -> Option<(Codec, Option<DateTime>, u32)> {
    match s {
        "" => return Some((Codec::Plain, None, 0)),
        ".gz" => return Some((Codec::Gzip, None, 0)),
        _ => {}
    }
    if let Some(rest) = s.strip_prefix(".gz.") {
        // The older compress_on_write form: `{live}.log.gz.{stamp}`.
        let (start, seq) = parse_stamp_seq(rest)?;
        return Some((Codec::Gzip, Some(start), seq));
    }
    let rest = s.strip_prefix('.')?;
    let (rest, codec) = if let Some(r) = rest.strip_suffix(".xz") {
        (r, Codec::Xz)
    } else if let Some(r) = rest.strip_suffix(".bz2") {
        (r, Codec::Bzip2)
    } else if let Some(r) = rest.strip_suffix(".gz") {
        (r, Codec::Gzip)
    } else {
        (rest, Codec::Plain)
    };
    let (start, seq) = parse_stamp_seq(rest)?;
    Some((codec, Some(start), seq))
}

/// `{%Y-%m-%d-%H-%M-%S-%f}` optionally followed by `-N` (1..=999).
fn parse_stamp_seq(s: &str) -> Option<(DateTime, u32)> {
    let stamp = s.get(..26)?;
    let start = parse_stamp(stamp.as_bytes(), b'-', b'-', b'-')?;
    let seq = match &s[26..] {
        "" => 0,
        n => {
            let n = n.strip_prefix('-')?;
            if n.is_empty() || n.len() > 3 || !n.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            n.parse().ok()?
        }
    };
    Some((start, seq))
}

/// Which streams of an app directory to read.
#[derive(Debug, Clone)]
pub enum Select {
    /// One facility: its own file and, with file_per_host, every host's
    /// (`{host}-{facility}`), or only `host`'s.
    Facility {
        /// The facility's display name (`root`, `web.requests`).
        name: String,
        /// The sanitised host prefix of a chosen host's file.
        host_base: Option<String>,
    },
    /// Every facility of the app (`APP:*`).
    All,
    /// Exactly one stream, by base name (the follower's own listing).
    Base(String),
}

impl Select {
    /// Whether a stream with this base name is wanted.
    pub fn wants(&self, base: &str) -> bool {
        match self {
            Select::All => true,
            Select::Base(b) => base == b,
            Select::Facility { name, host_base } => {
                if base == name {
                    return true;
                }
                match host_base {
                    Some(h) => base == h,
                    None => base
                        .strip_suffix(name.as_str())
                        .and_then(|p| p.strip_suffix('-'))
                        .is_some_and(|p| !p.is_empty()),
                }
            }
        }
    }
}

/// The hint printed whenever a log file or directory cannot be read.
pub const GROUP_HINT: &str = "reading logs needs membership of the log files' group \
     (e.g. `sudo usermod -aG loghog $USER`, then log in again)";

/// The app's directory, checked: a clear error when the app is unknown or
/// the directory unreadable.
pub fn app_dir(logdir: &Path, app: &str) -> Result<PathBuf> {
    if app.is_empty() || app.contains('/') || app == "." || app == ".." {
        bail!("invalid app name {app:?}");
    }
    let dir = logdir.join(app);
    match std::fs::read_dir(&dir) {
        Ok(_) => Ok(dir),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Err(e) = std::fs::read_dir(logdir) {
                if e.kind() == io::ErrorKind::PermissionDenied {
                    bail!("cannot read {}: {e}; {GROUP_HINT}", logdir.display());
                }
                bail!("cannot read the log directory {}: {e}", logdir.display());
            }
            bail!(
                "unknown app {app:?}: no directory {} (no record of it has been written)",
                dir.display()
            )
        }
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            bail!("cannot read {}: {e}; {GROUP_HINT}", dir.display())
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", dir.display())),
    }
}

/// Lists the streams of `dir` that `select` wants, each ordered oldest
/// first; a rotated file present both plain and compressed (a crash during
/// compression) counts once, as its compressed copy.
pub fn list_streams(dir: &Path, select: &Select) -> Result<Vec<Stream>> {
    let rd = std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let mut by_base: BTreeMap<String, Vec<LogFile>> = BTreeMap::new();
    for entry in rd {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Some(p) = parse_name(&name) else { continue };
        if !select.wants(&p.base) {
            continue;
        }
        by_base.entry(p.base).or_default().push(LogFile {
            path: entry.path(),
            codec: p.codec,
            start: p.start,
            seq: p.seq,
        });
    }
    Ok(by_base
        .into_iter()
        .map(|(base, files)| make_stream(dir, base, files))
        .collect())
}

fn make_stream(dir: &Path, base: String, mut files: Vec<LogFile>) -> Stream {
    // Live last; rotated by start, then -N; compressed before plain so the
    // duplicate left by a crash during compression is the one dropped.
    files.sort_by_key(|f| (f.start.is_none(), f.start, f.seq, f.codec == Codec::Plain));
    files.dedup_by(|later, earlier| {
        later.start.is_some() && later.start == earlier.start && later.seq == earlier.seq
    });
    let live = files.iter().find(|f| f.start.is_none());
    let live_gzip = live.is_some_and(|f| f.codec == Codec::Gzip)
        || (live.is_none() && files.last().is_some_and(|f| is_cow_rotated(&f.path)));
    let live_path = match live {
        Some(f) => f.path.clone(),
        None => dir.join(format!("{base}.log{}", if live_gzip { ".gz" } else { "" })),
    };
    Stream {
        base,
        files,
        live: live_path,
        live_gzip,
    }
}

/// Whether a rotated file came from a compress_on_write live file (the
/// older `.log.gz.{stamp}` form says so; `.log.{stamp}.gz` cannot be told
/// apart from a gzip archive, and is then assumed not to).
fn is_cow_rotated(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.contains(".log.gz."))
}

/// Whether a rotated file (index `i` of `files`) may hold records inside
/// [since, until]. Its records were received no later than the next file's
/// start; they were received at most `slack` before its own start (the
/// time between receipt and write).
pub fn may_overlap(
    files: &[LogFile],
    i: usize,
    since: Option<DateTime>,
    until: Option<DateTime>,
    slack: jiff::SignedDuration,
) -> bool {
    let Some(start) = files[i].start else {
        return true;
    };
    if let Some(until) = until
        && let Ok(earliest) = start.checked_sub(slack)
        && earliest > until
    {
        return false;
    }
    if let Some(since) = since
        && let Some(end) = files.get(i + 1).and_then(|f| f.start)
        && end < since
    {
        return false;
    }
    true
}

/// Whether every record of file `i` is surely inside [since, until], so
/// it can be copied without looking at each record.
pub fn wholly_inside(
    files: &[LogFile],
    i: usize,
    since: Option<DateTime>,
    until: Option<DateTime>,
    slack: jiff::SignedDuration,
) -> bool {
    let start_ok = since.is_none_or(|since| {
        files[i]
            .start
            .and_then(|s| s.checked_sub(slack).ok())
            .is_some_and(|earliest| earliest >= since)
    });
    let end_ok = until.is_none_or(|until| {
        files
            .get(i + 1)
            .and_then(|f| f.start)
            .is_some_and(|end| end <= until)
    });
    start_ok && end_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_the_daemon_makes_is_recognised() {
        let cases = [
            ("root.log", "root", Codec::Plain, false, 0),
            ("root.log.gz", "root", Codec::Gzip, false, 0),
            (
                "web.requests.log.2026-11-24-00-00-00-000123",
                "web.requests",
                Codec::Plain,
                true,
                0,
            ),
            (
                "web.log.2026-11-24-00-00-00-000123.xz",
                "web",
                Codec::Xz,
                true,
                0,
            ),
            (
                "web.log.2026-11-24-00-00-00-000123-2.bz2",
                "web",
                Codec::Bzip2,
                true,
                2,
            ),
            (
                "athens-web.log.2026-11-24-00-00-00-000123.gz",
                "athens-web",
                Codec::Gzip,
                true,
                0,
            ),
            (
                "web.log.gz.2026-11-24-00-00-00-000123-17",
                "web",
                Codec::Gzip,
                true,
                17,
            ),
            ("web.logger.log", "web.logger", Codec::Plain, false, 0),
        ];
        for (name, base, codec, rotated, seq) in cases {
            let p = parse_name(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(
                (p.base.as_str(), p.codec, p.start.is_some(), p.seq),
                (base, codec, rotated, seq),
                "{name}"
            );
        }
        for name in [
            "web.log.bak",
            "web.log.2020",
            "web.log.2026-11-24-00-00-00-000123.xz.tmp",
            "web.log.2026-11-24-00-00-00-000123-1000",
            ".log",
            "loghogd.state.json",
        ] {
            assert_eq!(parse_name(name), None, "{name}");
        }
    }

    #[test]
    fn a_facility_takes_its_host_files_but_not_a_longer_name() {
        let f = Select::Facility {
            name: "web".into(),
            host_base: None,
        };
        assert!(f.wants("web"));
        assert!(f.wants("athens-web"));
        assert!(!f.wants("-web"));
        assert!(!f.wants("web.requests"));
        assert!(!f.wants("athensweb"));
        let h = Select::Facility {
            name: "web".into(),
            host_base: Some("athens-web".into()),
        };
        assert!(h.wants("athens-web") && h.wants("web") && !h.wants("sparta-web"));
    }

    #[test]
    fn archives_outside_the_window_are_skipped_by_name() {
        let at = |h: i8| jiff::civil::date(2026, 11, 30).at(h, 0, 0, 0);
        let file = |h: Option<i8>| LogFile {
            path: PathBuf::new(),
            codec: Codec::Xz,
            start: h.map(at),
            seq: 0,
        };
        let files = [file(Some(10)), file(Some(12)), file(Some(14)), file(None)];
        let slack = jiff::SignedDuration::from_secs(60);
        let keep = |since, until| {
            (0..files.len())
                .filter(|&i| may_overlap(&files, i, since, until, slack))
                .collect::<Vec<_>>()
        };
        assert_eq!(keep(Some(at(13)), None), [1, 2, 3]);
        assert_eq!(keep(None, Some(at(11))), [0, 3]);
        assert_eq!(keep(Some(at(12)), Some(at(13))), [0, 1, 3]);
        let whole = |since, until| {
            (0..files.len())
                .filter(|&i| wholly_inside(&files, i, since, until, slack))
                .collect::<Vec<_>>()
        };
        assert_eq!(whole(None, None), [0, 1, 2, 3]);
        assert_eq!(whole(Some(at(11)), None), [1, 2]);
        assert_eq!(whole(None, Some(at(14))), [0, 1]);
    }
}
