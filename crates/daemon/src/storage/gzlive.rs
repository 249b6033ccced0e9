//! The live file of `compress_on_write` (SPEC §5): gzip written in members.
//!
//! Each batch becomes one complete gzip member, built in memory and appended
//! with one write, so after every batch the file is a valid multi-member gzip
//! that zcat and `MultiGzDecoder` read whole. A crash mid-write can only tear
//! the last member; [`repair_torn_tail`] cuts it at start-up.
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use flate2::{Compression, Crc, Decompress, FlushDecompress, Status};

/// gzip member header flags (RFC 1952 §2.3.1).
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const FRESERVED: u8 = 0xe0;

/// A live log file written as a stream of gzip members.
#[derive(Debug)]
pub struct GzLiveFile {
    file: File,
    path: PathBuf,
    len: u64,
    level: Compression,
    member: Vec<u8>,
    /// Compressed bytes per input byte of the last member built: the first
    /// guess at how many lines fit under `max_size`.
    ratio: f64,
    /// Input bytes of the member in `member`.
    member_input: usize,
}

impl GzLiveFile {
    /// Open (or create, mode 0640) `path` for appending members at `level`
    /// (0-9, clamped). Never follows a symlink. Run [`repair_torn_tail`]
    /// first when opening a file that may have survived a crash.
    pub fn open(path: &Path, level: u32) -> io::Result<GzLiveFile> {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)?;
        let len = file.metadata()?.len();
        Ok(GzLiveFile {
            file,
            path: path.to_path_buf(),
            len,
            level: Compression::new(level.min(9)),
            member: Vec::new(),
            ratio: 1.0,
            member_input: 0,
        })
    }

    /// Append `bytes` (whole lines) as one gzip member; an empty batch writes
    /// nothing. If the write fails part-way (disk full), the partial member
    /// is cut off again so later members stay readable.
    pub fn append_batch(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.append_within(bytes, None).map(|_| ())
    }

    /// Append as one member the longest prefix of `bytes` (whole lines) that
    /// keeps the file within `max` compressed bytes, and return its length:
    /// 0 when not even one line fits a file that holds something (rotate
    /// first); an empty file takes at least one line, however long. `None`
    /// takes everything.
    ///
    /// Why search by compressing: a member's size is only known once built.
    /// The first guess comes from the last member's ratio, so a batch that
    /// fits is compressed once; only a batch that crosses the limit is
    /// compressed again, a few times, bracketing the cut between lines.
    pub fn append_within(&mut self, bytes: &[u8], max: Option<u64>) -> io::Result<usize> {
        if bytes.is_empty() {
            return Ok(0);
        }
        let take = match max {
            None => {
                self.build(bytes)?;
                bytes.len()
            }
            Some(max) => self.build_fitting(bytes, max.saturating_sub(self.len))?,
        };
        if take == 0 {
            return Ok(0);
        }
        if let Err(e) = self.file.write_all(&self.member) {
            // The caller logs the error (rate-limited): say in it if the
            // partial member could not be cut.
            if let Err(cut) = self.file.set_len(self.len) {
                return Err(io::Error::new(
                    e.kind(),
                    format!("{e}; the partial gzip member could not be cut: {cut}"),
                ));
            }
            return Err(e);
        }
        self.len += self.member.len() as u64;
        // Large batches should not pin a large buffer for the file's life.
        if self.member.capacity() > 1 << 20 {
            self.member = Vec::new();
        }
        Ok(take)
    }

    /// Builds in `self.member` the member of the longest whole-line prefix
    /// of `bytes` no larger than `room` compressed bytes; returns its
    /// length (see [`GzLiveFile::append_within`] for the empty file).
    fn build_fitting(&mut self, bytes: &[u8], room: u64) -> io::Result<usize> {
        // Cut positions (ends of lines) known to fit and known not to.
        let (mut fits, mut too_big) = (0usize, bytes.len() + 1);
        let mut guess = guess_cut(bytes, room, self.ratio, fits, too_big);
        for _ in 0..MAX_FIT_TRIES {
            let Some(cut) = guess else { break };
            let size = self.build(&bytes[..cut])? as u64;
            if size <= room {
                fits = cut;
            } else {
                too_big = cut;
            }
            guess = guess_cut(bytes, room, self.ratio, fits, too_big);
        }
        if fits == 0 && self.len == 0 {
            // An empty file takes one line even if it alone is too big.
            fits = line_end(bytes, 0);
        }
        if fits > 0 && self.member_input != fits {
            self.build(&bytes[..fits])?;
        }
        Ok(fits)
    }

    /// Compresses `bytes` as one member into `self.member`; returns its size.
    fn build(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.member.clear();
        let mut enc = flate2::write::GzEncoder::new(std::mem::take(&mut self.member), self.level);
        enc.write_all(bytes)?;
        self.member = enc.finish()?;
        self.member_input = bytes.len();
        self.ratio = self.member.len() as f64 / bytes.len().max(1) as f64;
        Ok(self.member.len())
    }

    /// Compressed bytes in the file: what `max_size` is compared against.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing has been written to the file.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file, e.g. for `sync_data` when the facility has `fsync = yes`.
    pub fn file(&self) -> &File {
        &self.file
    }
}

/// Members built at most while looking for the cut under `max_size`.
const MAX_FIT_TRIES: usize = 8;

/// The next cut (end of a line) to try, strictly between `fits` and
/// `too_big`: where `ratio` says `room` ends, moved inside the bracket;
/// `None` when no line ends inside it.
fn guess_cut(bytes: &[u8], room: u64, ratio: f64, fits: usize, too_big: usize) -> Option<usize> {
    // Compressed size is not linear in input: aim a little short.
    let aim = ((room as f64 / ratio.max(1e-3)) * 0.97).min(bytes.len() as f64) as usize;
    let cut = if aim >= bytes.len() {
        bytes.len()
    } else {
        bytes[..aim]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1)
    };
    let cut = if cut <= fits {
        line_end(bytes, fits)
    } else if cut >= too_big {
        bytes[..too_big.min(bytes.len() + 1) - 1]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1)
    } else {
        cut
    };
    (cut > fits && cut < too_big).then_some(cut)
}

/// The end of the line that starts at `from` (or the end of `bytes`).
fn line_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |i| from + i + 1)
}

/// Cut everything from the first incomplete gzip member to the end of the
/// file at `path`; returns the bytes cut (0 also for a missing file).
///
/// A member is complete iff its header parses, its deflate data ends, and
/// its CRC32 and ISIZE trailer match. Our writer only appends whole members,
/// so a bad member can only be the torn tail of a crash (or zeroes from a
/// power loss); data after it, if any, is not ours to trust and is cut too
/// (logged with the offset). The whole file is decompressed to find the
/// boundaries, once per start-up.
pub fn repair_torn_tail(path: &Path) -> io::Result<u64> {
    let file = match OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let total = file.metadata()?.len();
    let good = complete_prefix_len(&mut BufReader::with_capacity(64 * 1024, &file))?;
    if good >= total {
        return Ok(0);
    }
    let cut = total - good;
    file.set_len(good)?;
    file.sync_all()?;
    tracing::warn!(
        path = %path.display(),
        offset = good,
        bytes_cut = cut,
        reason = "torn_gzip_tail",
        "cut incomplete gzip member from live file"
    );
    Ok(cut)
}

/// Length of the longest prefix of `r` made of complete gzip members.
fn complete_prefix_len(r: &mut impl BufRead) -> io::Result<u64> {
    let mut pos = 0u64;
    let mut good = 0u64;
    while !r.fill_buf()?.is_empty() {
        if !read_member(r, &mut pos)? {
            break;
        }
        good = pos;
    }
    Ok(good)
}

/// Consume one member; Ok(false) when it is torn or invalid, Err only for
/// I/O errors. `pos` advances by the bytes consumed.
fn read_member(r: &mut impl BufRead, pos: &mut u64) -> io::Result<bool> {
    let mut header = [0u8; 10];
    if !read_exact_or_eof(r, &mut header, pos)? {
        return Ok(false);
    }
    let flags = header[3];
    if header[..3] != [0x1f, 0x8b, 8] || flags & FRESERVED != 0 {
        return Ok(false);
    }
    if flags & FEXTRA != 0 {
        let mut xlen = [0u8; 2];
        if !read_exact_or_eof(r, &mut xlen, pos)? || !skip(r, u16::from_le_bytes(xlen).into(), pos)?
        {
            return Ok(false);
        }
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 && !skip_zero_terminated(r, pos)? {
            return Ok(false);
        }
    }
    if flags & FHCRC != 0 && !skip(r, 2, pos)? {
        return Ok(false);
    }

    let mut inflate = Decompress::new(false);
    let mut crc = Crc::new();
    let mut out = vec![0u8; 64 * 1024];
    loop {
        let input = r.fill_buf()?;
        if input.is_empty() {
            return Ok(false);
        }
        let (in_before, out_before) = (inflate.total_in(), inflate.total_out());
        let status = match inflate.decompress(input, &mut out, FlushDecompress::None) {
            Ok(s) => s,
            Err(_) => return Ok(false),
        };
        let consumed = (inflate.total_in() - in_before) as usize;
        let produced = (inflate.total_out() - out_before) as usize;
        crc.update(&out[..produced]);
        r.consume(consumed);
        *pos += consumed as u64;
        match status {
            Status::StreamEnd => break,
            // With input available and an empty output buffer, no progress
            // means the stream is broken; never spin on it.
            _ if consumed == 0 && produced == 0 => return Ok(false),
            _ => {}
        }
    }

    let mut trailer = [0u8; 8];
    if !read_exact_or_eof(r, &mut trailer, pos)? {
        return Ok(false);
    }
    let want_crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let want_len = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    Ok(crc.sum() == want_crc && crc.amount() == want_len)
}

/// Fill `buf`; Ok(false) at end of file.
fn read_exact_or_eof(r: &mut impl BufRead, buf: &mut [u8], pos: &mut u64) -> io::Result<bool> {
    match r.read_exact(buf) {
        Ok(()) => {
            *pos += buf.len() as u64;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

fn skip(r: &mut impl BufRead, n: u64, pos: &mut u64) -> io::Result<bool> {
    let skipped = io::copy(&mut r.by_ref().take(n), &mut io::sink())?;
    *pos += skipped;
    Ok(skipped == n)
}

fn skip_zero_terminated(r: &mut impl BufRead, pos: &mut u64) -> io::Result<bool> {
    let mut field = Vec::new();
    let n = r.read_until(0, &mut field)?;
    *pos += n as u64;
    Ok(field.last() == Some(&0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn batch(i: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for j in 0..=i * 7 {
            writeln!(
                v,
                "2026-11-24 04:11:45.{j:06} - athens - batch {i} line {j}"
            )
            .unwrap();
        }
        v
    }

    fn multi_decode(path: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(File::open(path).unwrap())
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// `zcat path` if zcat is installed, else None (with a note).
    fn zcat(path: &Path) -> Option<Vec<u8>> {
        match Command::new("zcat").arg(path).output() {
            Ok(out) => {
                assert!(
                    out.status.success(),
                    "zcat failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                Some(out.stdout)
            }
            Err(e) => {
                println!("note: zcat not runnable ({e}), skipping its check");
                None
            }
        }
    }

    #[test]
    fn every_prefix_of_batches_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.log.gz");
        let mut live = GzLiveFile::open(&path, 6).unwrap();
        assert!(live.is_empty());
        let mut expected = Vec::new();
        for i in 0..6 {
            live.append_batch(&batch(i)).unwrap();
            live.append_batch(b"").unwrap();
            expected.extend_from_slice(&batch(i));
            assert_eq!(live.len(), std::fs::metadata(&path).unwrap().len());
            assert_eq!(multi_decode(&path), expected, "after batch {i}");
            if let Some(text) = zcat(&path) {
                assert_eq!(text, expected, "zcat after batch {i}");
            }
        }
        // Reopening appends after what is there.
        drop(live);
        let mut live = GzLiveFile::open(&path, 1).unwrap();
        assert_eq!(live.len(), std::fs::metadata(&path).unwrap().len());
        live.append_batch(b"after reopen\n").unwrap();
        expected.extend_from_slice(b"after reopen\n");
        assert_eq!(multi_decode(&path), expected);
        assert_eq!(
            repair_torn_tail(&path).unwrap(),
            0,
            "a whole file is not cut"
        );
    }

    #[test]
    fn repair_cuts_exactly_the_torn_member_at_every_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.log.gz");
        let mut live = GzLiveFile::open(&path, 6).unwrap();
        let mut boundaries = vec![0u64];
        for i in 0..3 {
            live.append_batch(&batch(i + 3)).unwrap();
            boundaries.push(live.len());
        }
        drop(live);
        let whole = std::fs::read(&path).unwrap();
        let last_start = boundaries[2];
        let mut expected = Vec::new();
        expected.extend_from_slice(&batch(3));
        expected.extend_from_slice(&batch(4));

        // Tear the last member at every possible byte: header, deflate data,
        // trailer. The first two members must always survive untouched.
        for cut_at in last_start..whole.len() as u64 {
            std::fs::write(&path, &whole[..cut_at as usize]).unwrap();
            let cut = repair_torn_tail(&path).unwrap();
            assert_eq!(cut, cut_at - last_start, "torn at {cut_at}");
            assert_eq!(std::fs::metadata(&path).unwrap().len(), last_start);
        }
        assert_eq!(multi_decode(&path), expected);
        if let Some(text) = zcat(&path) {
            assert_eq!(text, expected);
        }
    }

    #[test]
    fn repair_cuts_corrupt_tails_and_leaves_others_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.log.gz");
        let mut live = GzLiveFile::open(&path, 6).unwrap();
        live.append_batch(&batch(2)).unwrap();
        let good = live.len();
        drop(live);
        let whole = std::fs::read(&path).unwrap();

        // Zeroes after a power loss.
        let mut zeroed = whole.clone();
        zeroed.extend_from_slice(&[0u8; 4096]);
        std::fs::write(&path, &zeroed).unwrap();
        assert_eq!(repair_torn_tail(&path).unwrap(), 4096);
        assert_eq!(std::fs::read(&path).unwrap(), whole);

        // A whole member with a wrong CRC is not complete.
        let mut bad_crc = whole.clone();
        bad_crc.extend_from_slice(&whole);
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 0xff;
        std::fs::write(&path, &bad_crc).unwrap();
        assert_eq!(repair_torn_tail(&path).unwrap(), good);
        assert_eq!(multi_decode(&path), batch(2));

        // Missing and empty files need nothing.
        assert_eq!(
            repair_torn_tail(&dir.path().join("none.log.gz")).unwrap(),
            0
        );
        std::fs::write(&path, b"").unwrap();
        assert_eq!(repair_torn_tail(&path).unwrap(), 0);
    }

    #[test]
    fn members_from_other_writers_with_header_fields_are_accepted() {
        // A member with FNAME, FCOMMENT and FEXTRA, as gzip(1) or Python
        // might have written, is complete too.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log.gz");
        let mut enc = flate2::GzBuilder::new()
            .filename("x.log")
            .comment("from elsewhere")
            .extra(vec![1, 2, 3, 4])
            .write(Vec::new(), Compression::default());
        enc.write_all(b"foreign line\n").unwrap();
        let member = enc.finish().unwrap();
        let mut content = member.clone();
        content.extend_from_slice(&member[..member.len() / 2]);
        std::fs::write(&path, &content).unwrap();
        assert_eq!(repair_torn_tail(&path).unwrap(), (member.len() / 2) as u64);
        assert_eq!(multi_decode(&path), b"foreign line\n");
    }

    /// Lines of varied, poorly compressible text, so sizes move with input.
    fn noisy_lines(n: usize) -> Vec<u8> {
        let mut v = Vec::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            writeln!(v, "line {i:05} {x:016x} {:x}", x.rotate_left(29)).unwrap();
        }
        v
    }

    #[test]
    fn append_within_keeps_the_file_under_the_limit_cutting_between_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.log.gz");
        let mut live = GzLiveFile::open(&path, 6).unwrap();
        let data = noisy_lines(2000);
        let max = 4000;
        let mut taken_total = 0;
        let mut files = 0;
        while taken_total < data.len() {
            let taken = live.append_within(&data[taken_total..], Some(max)).unwrap();
            if taken == 0 {
                // Full: what a rotation does, a new empty file.
                assert!(
                    live.len() <= max && live.len() > max - 200,
                    "{}",
                    live.len()
                );
                std::fs::rename(&path, dir.path().join(format!("old{files}.gz"))).unwrap();
                files += 1;
                live = GzLiveFile::open(&path, 6).unwrap();
                continue;
            }
            assert_eq!(data[taken_total + taken - 1], b'\n', "cut inside a line");
            taken_total += taken;
            assert!(live.len() <= max, "{} > {max}", live.len());
        }
        assert!(files >= 3, "{files} rotations for {} bytes", data.len());
        let mut back = Vec::new();
        for i in 0..files {
            back.extend(multi_decode(&dir.path().join(format!("old{i}.gz"))));
        }
        back.extend(multi_decode(&path));
        assert_eq!(back, data);
    }

    #[test]
    fn append_within_puts_one_line_too_long_alone_in_an_empty_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.log.gz");
        let mut live = GzLiveFile::open(&path, 6).unwrap();
        let mut data = noisy_lines(300);
        data.extend(noisy_lines(3));
        let first = data.iter().position(|&b| b == b'\n').unwrap() + 1;
        let long: Vec<u8> = data.iter().filter(|&&b| b != b'\n').copied().collect();
        let mut batch = long.clone();
        batch.push(b'\n');
        batch.extend_from_slice(&data[..first]);
        assert_eq!(
            live.append_within(&batch, Some(100)).unwrap(),
            long.len() + 1
        );
        assert!(live.len() > 100);
        // The file is now full: the next line waits for a rotation.
        assert_eq!(live.append_within(&data[..first], Some(100)).unwrap(), 0);
        assert_eq!(live.append_within(&data[..first], None).unwrap(), first);
    }
}
