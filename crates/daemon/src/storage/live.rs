//! One live file: its open sink (plain or gzip members), what is pending
//! for it, what is known of it on disk (size, start time) and the file
//! operations on it (open, write, sync, rotate).
//!
//! Size and start time are read from disk once and then tracked, so the
//! write path costs no `stat` per round.
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{Timestamp, Zoned};
use tokio::sync::oneshot;

use super::gzlive::{GzLiveFile, repair_torn_tail};
use super::housekeeping::Housekeeping;
use super::rotation::{Reason, rotate_file};
use crate::config::Facility;
use crate::metrics::FacilityCounters;

/// An open live file: plain, or gzip written in members (`compress_on_write`).
pub(super) enum Sink {
    Plain(File),
    Gz(GzLiveFile),
}

impl Sink {
    pub(super) fn file(&self) -> &File {
        match self {
            Sink::Plain(f) => f,
            Sink::Gz(g) => g.file(),
        }
    }
}

/// A live file and what is waiting to be written to it.
pub(super) struct LiveFile {
    pub(super) sink: Option<Sink>,
    pub(super) facility: Arc<Facility>,
    pub(super) pending: Vec<u8>,
    pub(super) pending_records: u32,
    /// Written since the last sync.
    pub(super) unsynced: bool,
    pub(super) waiters: Vec<oneshot::Sender<()>>,
    /// `size` and `started` reflect the file on disk.
    pub(super) loaded: bool,
    /// Bytes in the file (compressed bytes for `.gz`): what `max_size` limits.
    pub(super) size: u64,
    /// When the file's first line was written; `None` while it is empty.
    pub(super) started: Option<Zoned>,
    /// A torn tail left by a crash (a `.gz` file's incomplete member, a
    /// plain file's incomplete last line) has been cut (once per process).
    pub(super) repaired: bool,
    /// After a failed rotation, no new attempt before this.
    pub(super) retry_rotation_at: Option<Instant>,
    /// The schedule's next fire for (start, expression): every tick asks.
    pub(super) fire_cache: Option<(Timestamp, String, Option<Timestamp>)>,
    /// After a write failed with an error that may pass (disk full), no
    /// new attempt before this.
    pub(super) retry_write_at: Option<Instant>,
    /// When the file was last written: the least recently used open file
    /// is closed first, and an idle one is closed on a tick.
    pub(super) last_used: Instant,
    /// The facility's written counters, looked up on the first write.
    pub(super) counters: Option<FacilityCounters>,
}

impl LiveFile {
    pub(super) fn new(facility: Arc<Facility>) -> LiveFile {
        LiveFile {
            sink: None,
            facility,
            pending: Vec::new(),
            pending_records: 0,
            unsynced: false,
            waiters: Vec::new(),
            loaded: false,
            size: 0,
            started: None,
            repaired: false,
            retry_rotation_at: None,
            fire_cache: None,
            retry_write_at: None,
            last_used: Instant::now(),
            counters: None,
        }
    }

    /// The first fire of the facility's schedule after `started`.
    pub(super) fn next_fire(&mut self, started: &Zoned) -> Option<Timestamp> {
        let schedule = self.facility.schedule.as_ref()?;
        let start = started.timestamp();
        if let Some((t, expr, fire)) = &self.fire_cache
            && *t == start
            && expr == schedule.expression()
        {
            return *fire;
        }
        let fire = schedule.next_after(started).map(|z| z.timestamp());
        self.fire_cache = Some((start, schedule.expression().to_owned(), fire));
        fire
    }
}

/// After a rotation fails (permissions, a full name space), how long the
/// writer keeps appending to the live file before trying again.
const ROTATION_RETRY: Duration = Duration::from_secs(60);

pub(super) fn is_gz(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

/// Fill in `size` and `started` from the file on disk, once.
///
/// A non-empty file's start time is the persisted one; a file the state does
/// not know (state lost, or written by an older daemon) gets its birth time
/// where the file system records one, else its modification time, so an
/// overdue file rotates rather than growing for another period; that value
/// is persisted. A missing or empty file has no start yet.
pub(super) fn load(path: &Path, live: &mut LiveFile, hk: &Housekeeping) -> io::Result<()> {
    if live.loaded {
        return Ok(());
    }
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    live.size = meta.as_ref().map_or(0, |m| m.len());
    live.started = None;
    if let Some(meta) = meta.filter(|m| m.len() > 0) {
        let zone = hk.clock.now().time_zone().clone();
        let started = match hk.saved_start(path) {
            Some(t) => t,
            None => {
                let t = meta
                    .created()
                    .or_else(|_| meta.modified())
                    .ok()
                    .and_then(|t| Timestamp::try_from(t).ok())
                    .unwrap_or_else(|| hk.clock.now().timestamp());
                hk.save_start(path, t);
                t
            }
        };
        live.started = Some(started.to_zoned(zone));
    }
    live.loaded = true;
    Ok(())
}

/// Close `live`, move it to its rotated name and queue it for the archiver.
pub(super) fn rotate(path: &Path, live: &mut LiveFile, reason: Reason, hk: &Housekeeping) {
    let Some(started) = live.started.clone() else {
        return;
    };
    if live.unsynced {
        let _ = sync(path, live, hk);
    }
    live.sink = None;
    match rotate_file(path, &started) {
        Ok(rotated) => {
            tracing::info!(path = %path.display(), rotated = %rotated.display(), reason = reason.as_str(), "rotated log file");
            hk.metrics.rotated(&live.facility.app);
            hk.set_keep(path, &live.facility);
            hk.archive(rotated, !is_gz(path));
            live.size = 0;
            live.started = None;
            live.retry_rotation_at = None;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // Moved away by someone else: the next write starts a new file.
            live.loaded = false;
        }
        Err(e) => {
            hk.report(
                "rotation_failed",
                path,
                &e,
                "cannot rotate log file; writing on",
            );
            live.retry_rotation_at = Some(Instant::now() + ROTATION_RETRY);
        }
    }
}

/// False when `fdatasync` failed (reported): the lines are handed to the
/// OS but may not be on disk.
pub(super) fn sync(path: &Path, live: &mut LiveFile, hk: &Housekeeping) -> bool {
    let mut ok = true;
    if let Some(sink) = &live.sink {
        let started = Instant::now();
        let synced = sink.file().sync_data();
        if live.facility.fsync {
            hk.metrics.fsynced(started.elapsed());
        }
        if let Err(e) = synced {
            hk.report("sync_failed", path, &e, "cannot sync log file");
            ok = false;
        }
    }
    live.unsynced = false;
    ok
}

/// Cut a `.gz` live file's torn tail, once per process (until it succeeds).
pub(super) fn repair_once(path: &Path, live: &mut LiveFile) -> io::Result<()> {
    if !live.repaired {
        let cut = repair_torn_tail(path)?;
        if cut > 0 {
            tracing::warn!(path = %path.display(), bytes = cut, reason = "torn_gzip_tail", "cut an incomplete gzip member left by a crash");
        }
        live.repaired = true;
    }
    Ok(())
}

/// Open the live file for appending; an empty file starts now (persisted).
pub(super) fn open_sink(path: &Path, live: &mut LiveFile, hk: &Housekeeping) -> io::Result<()> {
    let sink = if is_gz(path) {
        ensure_dir(path)?;
        repair_once(path, live)?;
        Sink::Gz(GzLiveFile::open(path, hk.level)?)
    } else {
        let file = open_live(path)?;
        if !live.repaired {
            let cut = cut_torn_line(path, &file)?;
            if cut > 0 {
                tracing::warn!(path = %path.display(), bytes = cut, reason = "torn_line", "cut an incomplete last line left by a crash");
            }
            live.repaired = true;
        }
        Sink::Plain(file)
    };
    let size = sink.file().metadata()?.len();
    live.sink = Some(sink);
    live.loaded = false;
    load(path, live, hk)?;
    live.size = size;
    if size == 0 {
        let now = hk.clock.now();
        hk.save_start(path, now.timestamp());
        live.started = Some(now);
    }
    Ok(())
}

/// Writes the first `len` bytes of `live.pending` (whole lines), opening
/// the file first if needed, and returns how many are now in the file.
///
/// A plain file takes all `len` (the caller has cut them to `max_size`); a
/// `.gz` file takes, as one member, the longest prefix whose member keeps it
/// within `limit` (0 when it must rotate first; see
/// [`GzLiveFile::append_within`]).
///
/// On failure returns how many of those bytes are now in the file: always
/// whole lines, so the caller drops exactly those from `pending` and keeps
/// the rest. A `.gz` file takes a member whole or not at all (a partial
/// member is cut again), so it reports 0.
pub(super) fn write_prefix(
    path: &Path,
    live: &mut LiveFile,
    hk: &Housekeeping,
    len: usize,
    limit: Option<u64>,
) -> Result<usize, (usize, io::Error)> {
    if live.sink.is_none() {
        open_sink(path, live, hk).map_err(|e| (0, e))?;
    }
    let data = &live.pending[..len];
    match live.sink.as_mut().expect("opened above") {
        Sink::Plain(file) => {
            let mut off = 0;
            while off < data.len() {
                match file.write(&data[off..]) {
                    Ok(0) => {
                        let kept = cut_to_whole_lines(file, data, off, path, hk);
                        live.size -= (off - kept) as u64;
                        return Err((kept, io::ErrorKind::WriteZero.into()));
                    }
                    Ok(n) => {
                        off += n;
                        live.size += n as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let kept = cut_to_whole_lines(file, data, off, path, hk);
                        live.size -= (off - kept) as u64;
                        return Err((kept, e));
                    }
                }
            }
        }
        Sink::Gz(gz) => {
            let taken = gz.append_within(data, limit).map_err(|e| (0, e))?;
            live.size = gz.len();
            return Ok(taken);
        }
    }
    Ok(len)
}

/// After a write stopped `off` bytes into `data` (disk full), cut the file
/// back to the end of the last whole line written; returns how many bytes
/// of `data` stay in the file.
///
/// Why cut rather than complete the torn line later: between write rounds
/// the file then only ever holds whole lines, whatever happens next: a
/// reader, a rotation, a SIGHUP reopen, or a `kill -9` while the disk stays
/// full never see half a record, and the bytes kept pending are exactly the
/// ones not in the file, so nothing is written twice. Shrinking a file needs
/// no free space; should it fail anyway, the torn bytes are counted as
/// written, and the rest of that line is written first when space returns
/// (still no duplicate).
fn cut_to_whole_lines(
    file: &File,
    data: &[u8],
    off: usize,
    path: &Path,
    hk: &Housekeeping,
) -> usize {
    let whole = data[..off]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    if whole == off {
        return off;
    }
    let torn = (off - whole) as u64;
    match file
        .metadata()
        .and_then(|m| file.set_len(m.len().saturating_sub(torn)))
    {
        Ok(()) => whole,
        Err(e) => {
            hk.report(
                "torn_line_not_cut",
                path,
                &e,
                "cannot cut a partly written line; it is completed when space returns",
            );
            off
        }
    }
}

/// Whether retrying the same write later can succeed: not for a name that
/// is too long or invalid, a directory in the way, a symbolic link refused,
/// or a permission the daemon does not have (records are then dropped and
/// counted instead of being retried forever).
pub(super) fn retry_can_help(e: &io::Error) -> bool {
    !matches!(
        e.raw_os_error(),
        Some(
            libc::ENAMETOOLONG
                | libc::EINVAL
                | libc::EISDIR
                | libc::ENOTDIR
                | libc::ELOOP
                | libc::EACCES
                | libc::EPERM
                | libc::EROFS
                | libc::EFBIG
        )
    )
}

pub(super) fn ensure_dir(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent()
        && !dir.is_dir()
    {
        DirBuilder::new().recursive(true).mode(0o750).create(dir)?;
    }
    Ok(())
}

/// Cuts a plain live file back to the end of its last complete line: a
/// `kill -9` in the middle of a write leaves the start of a record, and the
/// next record appended to it would be glued onto that fragment (one torn,
/// mixed line). The fragment's record was never wholly written, so it is
/// lost either way; cutting it keeps every line in the file whole. Returns
/// the bytes cut.
fn cut_torn_line(path: &Path, file: &File) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(0);
    }
    // The live file is open for appending only; read through a second handle.
    let reader = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        reader.read_exact_at(chunk, start)?;
        if end == len && chunk.last() == Some(&b'\n') {
            return Ok(0);
        }
        if let Some(i) = chunk.iter().rposition(|b| *b == b'\n') {
            let keep = start + i as u64 + 1;
            file.set_len(keep)?;
            return Ok(len - keep);
        }
        end = start;
    }
    file.set_len(0)?;
    Ok(len)
}

/// Opens (creating if needed) a live file for appending: 0640, in a 0750
/// directory, never through a symbolic link.
pub fn open_live(path: &Path) -> io::Result<File> {
    ensure_dir(path)?;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}
