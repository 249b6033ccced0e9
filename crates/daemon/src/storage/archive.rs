//! Compressing rotated files in-process (xz, bzip2, gzip) on a background thread.
//!
//! Crash safety is the design: the archive is streamed to `{src}.{ext}.tmp`,
//! fsynced, renamed (never over an existing file) and the directory fsynced;
//! only then is `src` removed. Whatever a crash leaves behind,
//! [`sweep_uncompressed`] resolves at start-up. xz runs single-threaded at a
//! modest memory cost, leaving the other core to ingest.
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use super::retention::parse_rotated_name;
use super::rotation::{finish_interrupted_rotation, rename_noreplace, sync_parent};

/// How many rotated files may wait for the archiver; past that, `submit`
/// drops the request (the file stays, and the next start-up sweep takes it).
pub const QUEUE_CAPACITY: usize = 1024;

/// Read/compress granularity; also how often a shutdown is noticed.
const CHUNK: usize = 64 * 1024;

/// After the shutdown deadline, how long to wait for the worker to notice
/// the cancellation and clean up its temp file.
const CANCEL_GRACE: Duration = Duration::from_millis(500);

/// The archive format is the configuration's own enum (`[compressor] format`).
pub use crate::config::CompressFormat;

/// `{src}.{ext}`.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Compress `src` to `{src}.{ext}` at `level` (0-9; clamped, bzip2 starts at
/// 1) and remove `src`; returns the archive's path.
///
/// The archive gets mode 0640 and `src`'s modification time. On any error
/// the temp file is removed and `src` is left as it was; an existing
/// `{src}.{ext}` is never replaced (`AlreadyExists`).
pub fn compress_file(src: &Path, format: CompressFormat, level: u32) -> io::Result<PathBuf> {
    compress_file_cancellable(src, format, level, &AtomicBool::new(false))
}

/// [`compress_file`] that gives up (error kind `Interrupted`) once `cancel`
/// is set, checked between 64 KiB chunks.
pub fn compress_file_cancellable(
    src: &Path,
    format: CompressFormat,
    level: u32,
    cancel: &AtomicBool,
) -> io::Result<PathBuf> {
    let dst = with_suffix(src, &format!(".{}", format.extension()));
    let tmp = with_suffix(&dst, ".tmp");
    let mut input = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(src)?;
    let mtime = input.metadata()?.modified()?;
    let out = match create_exclusive(&tmp) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // One archiver per daemon: an existing temp file is a crash leftover.
            std::fs::remove_file(&tmp)?;
            create_exclusive(&tmp)?
        }
        other => other?,
    };
    let written = (|| {
        let out = encode(&mut input, out, format, level, cancel)?;
        out.set_modified(mtime)?;
        out.sync_all()?;
        rename_noreplace(&tmp, &dst)?;
        sync_parent(&dst)
    })();
    if let Err(e) = written {
        if let Err(rm) = remove_if_present(&tmp) {
            tracing::warn!(path = %tmp.display(), error = %rm, "could not remove temp archive");
        }
        return Err(e);
    }
    match std::fs::remove_file(src) {
        // Retention may have deleted an expired source meanwhile; the archive
        // is then the backup and retention's next pass decides its fate.
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(dst),
    }
}

fn create_exclusive(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// Stream `input` through the encoder for `format` into `out`; returns `out`
/// flushed but not synced.
fn encode(
    input: &mut File,
    out: File,
    format: CompressFormat,
    level: u32,
    cancel: &AtomicBool,
) -> io::Result<File> {
    let level = level.min(9);
    let sink = BufWriter::with_capacity(CHUNK, out);
    let sink = match format {
        CompressFormat::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(sink, flate2::Compression::new(level));
            copy_cancellable(input, &mut enc, cancel)?;
            enc.finish()?
        }
        CompressFormat::Bzip2 => {
            let mut enc = bzip2::write::BzEncoder::new(sink, bzip2::Compression::new(level.max(1)));
            copy_cancellable(input, &mut enc, cancel)?;
            enc.finish()?
        }
        CompressFormat::Xz => {
            let stream = xz_stream(level, input.metadata()?.len())?;
            let mut enc = liblzma::write::XzEncoder::new_stream(sink, stream);
            copy_cancellable(input, &mut enc, cancel)?;
            enc.finish()?
        }
    };
    sink.into_inner().map_err(|e| e.into_error())
}

/// Dictionary size of xz presets 0-9 (xz(1), "Presets").
const XZ_PRESET_DICT: [u32; 10] = [
    256 << 10,
    1 << 20,
    2 << 20,
    4 << 20,
    4 << 20,
    8 << 20,
    8 << 20,
    16 << 20,
    32 << 20,
    64 << 20,
];

/// An xz encoder for `level` whose dictionary is no larger than the input
/// needs (as the xz tool does): the preset's dictionary is allocated whole
/// (64 MiB, ~670 MiB of encoder state at -9), a waste for a small log.
fn xz_stream(level: u32, input_len: u64) -> io::Result<liblzma::stream::Stream> {
    use liblzma::stream::{Check, Filters, LzmaOptions, Stream};
    let mut opts = LzmaOptions::new_preset(level).map_err(io::Error::other)?;
    // liblzma's minimum dictionary is 4 KiB.
    let needed = input_len
        .clamp(4096, u64::from(u32::MAX))
        .next_power_of_two();
    let preset_dict = XZ_PRESET_DICT[level.min(9) as usize];
    if needed < u64::from(preset_dict) {
        opts.dict_size(u32::try_from(needed).unwrap_or(preset_dict));
    }
    let mut filters = Filters::new();
    filters.lzma2(&opts);
    Stream::new_stream_encoder(&filters, Check::Crc64).map_err(io::Error::other)
}

fn copy_cancellable(input: &mut File, out: &mut impl Write, cancel: &AtomicBool) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "compression cancelled by shutdown",
            ));
        }
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.write_all(&buf[..n])?;
    }
}

/// One queued request: a rotated file, and whether to compress it.
#[derive(Debug)]
struct Job {
    path: PathBuf,
    compress: bool,
}

/// The outcome of one archive job, handed to the `on_done` callback.
#[derive(Debug)]
pub struct Archived {
    /// The rotated file that was submitted.
    pub src: PathBuf,
    /// The archive's path, or why it failed (`src` is then still in place).
    pub result: io::Result<PathBuf>,
    /// How long compressing took, when the file was compressed.
    pub compressed_in: Option<Duration>,
}

/// A background thread compressing rotated files one at a time.
///
/// The queue is bounded ([`QUEUE_CAPACITY`]) and [`submit`](Self::submit)
/// never blocks: when full, the request is dropped and logged, and the file
/// stays uncompressed until the next start-up sweep. The thread runs at
/// nice 10 (its I/O priority follows), so ingest keeps the CPU it needs.
#[derive(Debug)]
pub struct Archiver {
    tx: Option<SyncSender<Job>>,
    cancel: Arc<AtomicBool>,
    /// Disconnected when the worker thread has exited.
    exited: Receiver<()>,
}

impl Archiver {
    /// Start the worker. `on_done` runs on the worker thread after every job
    /// (success or not), e.g. to run retention or count failures; it must not
    /// block for long, as it delays the next archive.
    pub fn start<F>(format: CompressFormat, level: u32, on_done: F) -> io::Result<Archiver>
    where
        F: FnMut(Archived) + Send + 'static,
    {
        Archiver::start_with_capacity(format, level, QUEUE_CAPACITY, on_done)
    }

    /// [`start`](Self::start) with a queue of `capacity` jobs (tests use a
    /// small one to see what happens when it is full).
    pub fn start_with_capacity<F>(
        format: CompressFormat,
        level: u32,
        capacity: usize,
        mut on_done: F,
    ) -> io::Result<Archiver>
    where
        F: FnMut(Archived) + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel::<Job>(capacity);
        let (exit_tx, exited) = mpsc::channel::<()>();
        let cancel = Arc::new(AtomicBool::new(false));
        let worker_cancel = Arc::clone(&cancel);
        std::thread::Builder::new()
            .name("loghog-archive".into())
            .spawn(move || {
                // Dropped when the thread ends, even by panic: that is the signal.
                let _exit_tx = exit_tx;
                // Compression must never stall ingest: run it at nice 10.
                crate::daemonize::lower_thread_priority();
                // A full disk fails every archive: a few lines, then counts.
                let errors = crate::ratelimit::RateLimiter::default();
                while let Ok(Job {
                    path: src,
                    compress,
                }) = rx.recv()
                {
                    if worker_cancel.load(Ordering::Relaxed) {
                        break;
                    }
                    if !compress {
                        let result = Ok(src.clone());
                        on_done(Archived {
                            src,
                            result,
                            compressed_in: None,
                        });
                        continue;
                    }
                    let started = Instant::now();
                    let result = compress_file_cancellable(&src, format, level, &worker_cancel);
                    match &result {
                        Ok(dst) => tracing::info!(
                            src = %src.display(),
                            dst = %dst.display(),
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            "archived rotated file"
                        ),
                        Err(e) => {
                            let v = errors.check("archive_failed");
                            if v.log {
                                tracing::warn!(
                                    src = %src.display(),
                                    error = %e,
                                    reason = "archive_failed",
                                    suppressed = v.suppressed,
                                    "could not archive rotated file, left uncompressed"
                                );
                            }
                        }
                    }
                    let compressed_in = result.is_ok().then(|| started.elapsed());
                    on_done(Archived {
                        src,
                        result,
                        compressed_in,
                    });
                }
            })?;
        Ok(Archiver {
            tx: Some(tx),
            cancel,
            exited,
        })
    }

    /// Queue `path` for compression without blocking; false when it was not
    /// queued (queue full, or the worker is gone) and stays uncompressed.
    pub fn submit(&self, path: PathBuf) -> bool {
        self.send(Job {
            path,
            compress: true,
        })
    }

    /// Queue `path` for `on_done` only, without compressing it (a rotated
    /// `compress_on_write` file is gzip already), so follow-up work such as
    /// retention runs on the archive thread too; false when not queued.
    pub fn submit_uncompressed(&self, path: PathBuf) -> bool {
        self.send(Job {
            path,
            compress: false,
        })
    }

    fn send(&self, job: Job) -> bool {
        let Some(tx) = &self.tx else { return false };
        match tx.try_send(job) {
            Ok(()) => true,
            // The caller keeps the file and offers it again later, and
            // rate-limits its own line: a rotation storm is not a log storm.
            Err(TrySendError::Full(_)) => false,
            Err(TrySendError::Disconnected(Job { path, .. })) => {
                tracing::warn!(
                    path = %path.display(),
                    reason = "archiver_stopped",
                    "archiver not running, file left for the start-up sweep"
                );
                false
            }
        }
    }

    /// Finish the queued jobs until `deadline`, then cancel: the file in
    /// progress keeps its source (its temp file is removed) and the rest wait
    /// for the next start-up. Returns true if the worker ended in time;
    /// returns by `deadline` plus a 500 ms grace at the latest.
    pub fn shutdown(mut self, deadline: Instant) -> bool {
        self.tx = None;
        let wait = deadline.saturating_duration_since(Instant::now());
        if matches!(
            self.exited.recv_timeout(wait),
            Err(RecvTimeoutError::Disconnected)
        ) {
            return true;
        }
        self.cancel.store(true, Ordering::Relaxed);
        let finished = matches!(
            self.exited.recv_timeout(CANCEL_GRACE),
            Err(RecvTimeoutError::Disconnected)
        );
        if !finished {
            tracing::warn!("archiver did not stop in time, leaving it behind");
        }
        false
    }
}

impl Drop for Archiver {
    fn drop(&mut self) {
        // Dropped without shutdown: stop promptly rather than compress on.
        if self.tx.take().is_some() {
            self.cancel.store(true, Ordering::Relaxed);
        }
    }
}

/// Start-up pass over one log directory, before an [`Archiver`] runs there.
///
/// Deletes stale `{rotated}.{ext}.tmp` files; deletes an uncompressed rotated
/// file whose archive already exists (the crash fell between rename and
/// unlink; archives are only renamed into place after fsync, so they are
/// whole); and returns the rotated files still uncompressed, oldest first,
/// to submit. Files of a live `*.gz` (compress_on_write) are already
/// compressed and never returned. Works on any live name in `dir`, so files
/// of facilities no longer configured are finished too. Also completes a
/// rotation cut short between hard link and unlink (see
/// [`finish_interrupted_rotation`]), so run it before opening live files.
pub fn sweep_uncompressed(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut todo = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !entry.file_type()?.is_file() {
            continue;
        }
        let path = entry.path();
        if let Some(target) = name.strip_suffix(".tmp") {
            if parse_rotated_name(target).is_some_and(|p| p.compressed.is_some()) {
                tracing::info!(path = %path.display(), "removing stale temp archive");
                remove_if_present(&path)?;
            }
            continue;
        }
        let Some(parsed) = parse_rotated_name(name) else {
            continue;
        };
        if parsed.compressed.is_none() {
            finish_interrupted_rotation(&dir.join(parsed.live), &path)?;
        }
        if parsed.compressed.is_some() || parsed.live.ends_with(".gz") {
            continue;
        }
        let archived = ["xz", "bz2", "gz"]
            .iter()
            .any(|ext| with_suffix(&path, &format!(".{ext}")).is_file());
        if archived {
            tracing::info!(path = %path.display(), "removing rotated file already archived");
            remove_if_present(&path)?;
        } else {
            todo.push((parsed.started, parsed.seq, path));
        }
    }
    todo.sort();
    Ok(todo.into_iter().map(|(_, _, p)| p).collect())
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    const ALL: [CompressFormat; 3] = [
        CompressFormat::Xz,
        CompressFormat::Bzip2,
        CompressFormat::Gzip,
    ];

    /// Log-like text, large enough to span many chunks.
    fn sample() -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..40_000 {
            writeln!(
                v,
                "2026-11-24 04:11:45.{i:06} - athens - INFO - request {i} served in {} ms",
                i % 97
            )
            .unwrap();
        }
        v
    }

    fn decompress(path: &Path, format: CompressFormat) -> Vec<u8> {
        let f = File::open(path).unwrap();
        let mut out = Vec::new();
        match format {
            CompressFormat::Xz => liblzma::read::XzDecoder::new(f).read_to_end(&mut out),
            CompressFormat::Bzip2 => bzip2::read::BzDecoder::new(f).read_to_end(&mut out),
            CompressFormat::Gzip => flate2::read::MultiGzDecoder::new(f).read_to_end(&mut out),
        }
        .unwrap();
        out
    }

    /// `tool -t path` when the tool is installed; None (with a note) if not.
    fn tool_test(tool: &str, path: &Path) -> Option<bool> {
        match Command::new(tool).arg("-t").arg(path).status() {
            Ok(status) => Some(status.success()),
            Err(e) => {
                println!("note: {tool} not runnable ({e}), skipping its check");
                None
            }
        }
    }

    #[test]
    fn every_format_round_trips_and_the_standard_tool_agrees() {
        let data = sample();
        for format in ALL {
            for level in [0, 6, 9] {
                let dir = tempfile::tempdir().unwrap();
                let src = dir.path().join("web.log.2026-11-24-04-11-45-771885");
                std::fs::write(&src, &data).unwrap();
                let mtime = std::fs::metadata(&src).unwrap().modified().unwrap();

                let dst = compress_file(&src, format, level).unwrap();
                assert_eq!(dst, with_suffix(&src, &format!(".{}", format.extension())));
                assert!(!src.exists(), "{format:?}: source must be gone");
                assert_eq!(decompress(&dst, format), data, "{format:?} level {level}");
                let meta = std::fs::metadata(&dst).unwrap();
                assert_eq!(meta.permissions().mode() & 0o777, 0o640);
                assert_eq!(meta.modified().unwrap(), mtime);
                if level > 0 {
                    assert!(
                        meta.len() < data.len() as u64 / 3,
                        "{format:?} barely compressed"
                    );
                }
                let tool = match format {
                    CompressFormat::Xz => "xz",
                    CompressFormat::Bzip2 => "bzip2",
                    CompressFormat::Gzip => "gzip",
                };
                if let Some(ok) = tool_test(tool, &dst) {
                    assert!(ok, "{tool} -t rejected {}", dst.display());
                }
                assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
            }
        }
    }

    #[test]
    fn empty_file_compresses_to_a_valid_archive() {
        for format in ALL {
            let dir = tempfile::tempdir().unwrap();
            let src = dir.path().join("a.log.2026-11-24-04-11-45-771885");
            std::fs::write(&src, b"").unwrap();
            let dst = compress_file(&src, format, 6).unwrap();
            assert!(decompress(&dst, format).is_empty());
        }
    }

    #[test]
    fn existing_archive_is_never_replaced_and_source_kept() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a.log.2026-11-24-04-11-45-771885");
        std::fs::write(&src, b"new data\n").unwrap();
        let dst = with_suffix(&src, ".gz");
        std::fs::write(&dst, b"older archive").unwrap();
        let err = compress_file(&src, CompressFormat::Gzip, 6).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&dst).unwrap(), b"older archive");
        assert_eq!(std::fs::read(&src).unwrap(), b"new data\n");
        assert!(!with_suffix(&dst, ".tmp").exists());
    }

    #[test]
    fn cancelled_compression_keeps_source_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a.log.2026-11-24-04-11-45-771885");
        std::fs::write(&src, sample()).unwrap();
        let err = compress_file_cancellable(&src, CompressFormat::Xz, 6, &AtomicBool::new(true))
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
        assert_eq!(std::fs::read(&src).unwrap(), sample());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_leftover_temp_does_not_block_compression() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a.log.2026-11-24-04-11-45-771885");
        std::fs::write(&src, b"x\n").unwrap();
        std::fs::write(with_suffix(&src, ".bz2.tmp"), b"half an archive").unwrap();
        let dst = compress_file(&src, CompressFormat::Bzip2, 9).unwrap();
        assert_eq!(decompress(&dst, CompressFormat::Bzip2), b"x\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn sweep_resolves_every_crash_leftover() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let files: &[(&str, &[u8])] = &[
            // Crash mid-compression: plain file kept, partial temp.
            ("web.log.2026-11-24-02-00-00-000000", b"two\n"),
            ("web.log.2026-11-24-02-00-00-000000.xz.tmp", b"partial"),
            // Crash after rename, before unlink: the archive is whole.
            ("web.log.2026-11-24-01-00-00-000000", b"one\n"),
            ("web.log.2026-11-24-01-00-00-000000.gz", b"whole"),
            // Never started, other facility, older: returned first.
            ("api.log.2026-11-23-00-00-00-000000-1", b"api\n"),
            // compress_on_write backups are already gzip.
            ("web.log.gz.2026-11-24-00-00-00-000000", b"gz"),
            // Not ours: untouched.
            ("web.log", b"live"),
            ("web.log.bak", b"bak"),
            ("notes.tmp", b"mine"),
            ("web.log.2026-11-24-03-00-00-000000.xz", b"done"),
        ];
        for (name, body) in files {
            std::fs::write(d.join(name), body).unwrap();
        }
        let todo = sweep_uncompressed(d).unwrap();
        assert_eq!(
            todo,
            [
                d.join("api.log.2026-11-23-00-00-00-000000-1"),
                d.join("web.log.2026-11-24-02-00-00-000000"),
            ]
        );
        assert!(!d.join("web.log.2026-11-24-02-00-00-000000.xz.tmp").exists());
        assert!(!d.join("web.log.2026-11-24-01-00-00-000000").exists());
        assert_eq!(
            std::fs::read(d.join("web.log.2026-11-24-01-00-00-000000.gz")).unwrap(),
            b"whole"
        );
        for keep in [
            "web.log.gz.2026-11-24-00-00-00-000000",
            "web.log",
            "web.log.bak",
            "notes.tmp",
            "web.log.2026-11-24-03-00-00-000000.xz",
            "web.log.2026-11-24-02-00-00-000000",
        ] {
            assert!(d.join(keep).exists(), "{keep} must survive the sweep");
        }
        // A rotation by hard link interrupted before the unlink: both names
        // on one inode. The live name goes, the backup is queued.
        std::fs::write(d.join("db.log"), b"db\n").unwrap();
        std::fs::hard_link(
            d.join("db.log"),
            d.join("db.log.2026-11-24-00-00-00-000000"),
        )
        .unwrap();
        // A live file that merely has a backup is not touched.
        std::fs::write(d.join("api.log"), b"new api\n").unwrap();
        let todo2 = sweep_uncompressed(d).unwrap();
        assert!(!d.join("db.log").exists());
        assert_eq!(std::fs::read(d.join("api.log")).unwrap(), b"new api\n");
        assert_eq!(
            todo2,
            [
                d.join("api.log.2026-11-23-00-00-00-000000-1"),
                d.join("db.log.2026-11-24-00-00-00-000000"),
                d.join("web.log.2026-11-24-02-00-00-000000"),
            ]
        );

        // The swept file then compresses normally.
        let dst = compress_file(&todo[1], CompressFormat::Xz, 1).unwrap();
        assert_eq!(decompress(&dst, CompressFormat::Xz), b"two\n");
    }

    #[test]
    fn archiver_compresses_in_background_and_reports() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = mpsc::channel();
        let archiver = Archiver::start(CompressFormat::Gzip, 6, move |done| {
            tx.send(done).unwrap();
        })
        .unwrap();
        let mut srcs = Vec::new();
        for h in 0..3 {
            let src = dir
                .path()
                .join(format!("web.log.2026-11-24-0{h}-00-00-000000"));
            std::fs::write(&src, format!("hour {h}\n")).unwrap();
            assert!(archiver.submit(src.clone()));
            srcs.push(src);
        }
        let missing = dir.path().join("web.log.2026-11-24-09-00-00-000000");
        assert!(archiver.submit(missing.clone()));
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut results = Vec::new();
        while results.len() < 4 {
            let wait = deadline.saturating_duration_since(Instant::now());
            results.push(rx.recv_timeout(wait).expect("archiver reported in time"));
        }
        for (src, done) in srcs.iter().zip(&results) {
            assert_eq!(&done.src, src);
            let dst = done.result.as_ref().unwrap();
            assert!(!src.exists());
            assert!(decompress(dst, CompressFormat::Gzip).starts_with(b"hour "));
        }
        assert_eq!(results[3].src, missing);
        assert_eq!(
            results[3].result.as_ref().unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert!(archiver.shutdown(Instant::now() + Duration::from_secs(10)));
    }

    #[test]
    fn shutdown_past_deadline_cancels_and_keeps_sources() {
        let dir = tempfile::tempdir().unwrap();
        let data = sample().repeat(2);
        let archiver = Archiver::start(CompressFormat::Xz, 6, |_| {}).unwrap();
        let mut srcs = Vec::new();
        for h in 0..4 {
            let src = dir
                .path()
                .join(format!("web.log.2026-11-24-0{h}-00-00-000000"));
            std::fs::write(&src, &data).unwrap();
            assert!(archiver.submit(src.clone()));
            srcs.push(src);
        }
        // xz -6 of 6 MB takes seconds; the deadline has already passed.
        let stopped_in_time = archiver.shutdown(Instant::now());
        assert!(!stopped_in_time);
        // Poll: the worker cleans up its temp file right after cancelling.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let tmps = std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_str()
                        .unwrap()
                        .ends_with(".tmp")
                })
                .count();
            if tmps == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "temp archive left behind");
            std::thread::sleep(Duration::from_millis(20));
        }
        for src in &srcs {
            assert_eq!(std::fs::read(src).unwrap().len(), data.len());
        }
    }

    #[test]
    fn submit_never_blocks_when_the_queue_is_full() {
        let dir = tempfile::tempdir().unwrap();
        // A worker stuck in its callback: nothing is drained after job one.
        let (block_tx, block_rx) = mpsc::channel::<()>();
        let archiver = Archiver::start(CompressFormat::Gzip, 1, move |_| {
            let _ = block_rx.recv();
        })
        .unwrap();
        let first = dir.path().join("a.log.2026-11-24-00-00-00-000000");
        std::fs::write(&first, b"a").unwrap();
        assert!(archiver.submit(first));
        let start = Instant::now();
        let mut refused = 0;
        for i in 0..QUEUE_CAPACITY + 10 {
            if !archiver.submit(dir.path().join(format!("nothing-{i}"))) {
                refused += 1;
            }
        }
        assert!(
            refused >= 9,
            "queue must refuse once full, refused {refused}"
        );
        assert!(start.elapsed() < Duration::from_secs(5));
        drop(block_tx);
        archiver.shutdown(Instant::now() + Duration::from_secs(10));
    }

    #[test]
    fn extension_mapping() {
        let exts: Vec<&str> = ALL.iter().map(|f| f.extension()).collect();
        assert_eq!(exts, ["xz", "bz2", "gz"]);
    }

    #[test]
    fn the_worker_runs_at_low_priority() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("web.log.2026-11-24-00-00-00-000000");
        std::fs::write(&src, b"x").unwrap();
        let (tx, rx) = mpsc::channel();
        let archiver = Archiver::start(CompressFormat::Gzip, 1, move |_| {
            // Field 19 of /proc/thread-self/stat is the thread's nice value.
            let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
            let after = stat.rsplit(')').next().unwrap();
            let nice: i32 = after.split_whitespace().nth(16).unwrap().parse().unwrap();
            tx.send(nice).unwrap();
        })
        .unwrap();
        assert!(archiver.submit(src));
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 10);
        assert!(archiver.shutdown(Instant::now() + Duration::from_secs(5)));
    }

    #[test]
    fn uncompressed_jobs_only_reach_the_callback() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("web.log.gz.2026-11-24-00-00-00-000000");
        std::fs::write(&src, b"already gzip").unwrap();
        let (tx, rx) = mpsc::channel();
        let archiver = Archiver::start(CompressFormat::Xz, 6, move |done| {
            tx.send(done).unwrap();
        })
        .unwrap();
        assert!(archiver.submit_uncompressed(src.clone()));
        let done = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(done.src, src);
        assert_eq!(done.result.unwrap(), src);
        assert_eq!(std::fs::read(&src).unwrap(), b"already gzip");
        assert!(archiver.shutdown(Instant::now() + Duration::from_secs(5)));
    }
}
