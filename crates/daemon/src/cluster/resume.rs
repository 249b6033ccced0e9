//! Where an archive consumer resumes after a crash, without writing a
//! record twice.
//!
//! A consumer keeps two stream sequence numbers in a small file of its own
//! in workdir: `written` (everything up to it is in the files) and `intent`
//! (a batch up to it was being written). Messages JetStream delivers again
//! at or below `written` (their acknowledgement was lost, or the node died
//! before sending it) are skipped; those between `written` and `intent`
//! were being written when the node died: what their file already ends
//! with is not written again. Each update is one 42-byte `pwrite`, which a
//! killed process either did or did not do.
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The progress of one durable consumer.
#[derive(Debug)]
pub struct Progress {
    file: File,
    path: PathBuf,
    written: u64,
    intent: u64,
}

impl Progress {
    /// Opens (or creates, 0640) `{workdir}/cluster-{stream}-{durable}.progress`.
    pub fn open(workdir: &Path, stream: &str, durable: &str) -> io::Result<Progress> {
        let path = workdir.join(format!("cluster-{stream}-{durable}.progress"));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o640)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)?;
        let mut text = String::new();
        file.read_to_string(&mut text)?;
        let mut nums = text.split_whitespace().map(str::parse::<u64>);
        let (written, intent) = match (nums.next(), nums.next()) {
            (Some(Ok(w)), Some(Ok(i))) => (w, i.max(w)),
            _ if text.trim().is_empty() => (0, 0),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: not a progress file: {text:?}", path.display()),
                ));
            }
        };
        Ok(Progress {
            file,
            path,
            written,
            intent,
        })
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every message up to this stream sequence is written.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// A batch up to this stream sequence may have been written in part.
    pub fn intent(&self) -> u64 {
        self.intent
    }

    /// About to write messages up to `through`.
    pub fn begin(&mut self, through: u64) -> io::Result<()> {
        self.intent = through.max(self.written);
        self.save()
    }

    /// The batch begun is written.
    pub fn done(&mut self) -> io::Result<()> {
        self.written = self.intent;
        self.save()
    }

    fn save(&mut self) -> io::Result<()> {
        let line = format!("{:020} {:020}\n", self.written, self.intent);
        self.file.write_all_at(line.as_bytes(), 0)
    }
}

/// How much of `data` (a batch a killed run was writing to the live file at
/// `path`) is already there: the longest start of `data`, ending at a line,
/// that the file ends with, since the killed run wrote nothing to this file
/// after the batch. The writer may have been killed between two of its
/// writes, or rotated the file part-way (then the whole file is a middle
/// part of `data`). A compressed (`.gz`) live file is searched in its
/// lines, decompressed member by member.
pub fn written_prefix(path: &Path, data: &[u8]) -> usize {
    if data.is_empty() {
        return 0;
    }
    let Some((tail, whole_file)) = tail_of(path, data.len()) else {
        return 0;
    };
    if tail.last() != Some(&b'\n') {
        return 0;
    }
    // The file's last line, and where it occurs in `data` as a whole line.
    let start = memchr::memrchr(b'\n', &tail[..tail.len() - 1]).map_or(0, |i| i + 1);
    let last = &tail[start..];
    let at_line = |pos: usize| pos == 0 || data[pos - 1] == b'\n';
    let mut ends: Vec<usize> = memchr::memmem::find_iter(data, last)
        .filter(|&pos| at_line(pos))
        .map(|pos| pos + last.len())
        .collect();
    ends.reverse();
    for end in ends {
        let part = &data[..end];
        if tail.ends_with(part) {
            return end;
        }
        // Rotated part-way: the new file holds data[end - len..end].
        if whole_file && part.ends_with(&tail) && at_line(end - tail.len()) {
            return end;
        }
    }
    0
}

/// The last `n` bytes of the file's lines, and whether they are all of
/// them; `None` when it cannot be read.
fn tail_of(path: &Path, n: usize) -> Option<(Vec<u8>, bool)> {
    if path.extension().is_some_and(|e| e == "gz") {
        return gz_tail(path, n);
    }
    let mut file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let from = len.saturating_sub(n as u64);
    let mut tail = Vec::with_capacity((len - from) as usize);
    file.seek(SeekFrom::Start(from)).ok()?;
    file.read_to_end(&mut tail).ok()?;
    Some((tail, from == 0))
}

/// [`tail_of`] for a `.gz` live file: its members decompressed in turn
/// (the whole file is read: this runs only after a killed run). Only whole
/// members count: a torn last member is cut when the writer opens the
/// file, so its lines are not in it.
fn gz_tail(path: &Path, n: usize) -> Option<(Vec<u8>, bool)> {
    let mut reader = io::BufReader::new(File::open(path).ok()?);
    let mut tail = Vec::new();
    let mut member = Vec::new();
    let mut total = 0usize;
    while !reader.fill_buf().ok()?.is_empty() {
        member.clear();
        if flate2::bufread::GzDecoder::new(&mut reader)
            .read_to_end(&mut member)
            .is_err()
        {
            break;
        }
        total += member.len();
        tail.extend_from_slice(&member);
        if tail.len() > n {
            tail.drain(..tail.len() - n);
        }
    }
    Some((tail, total <= n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Progress::open(dir.path(), "LOGHOG", "archive").unwrap();
        assert_eq!((p.written(), p.intent()), (0, 0));
        p.begin(10).unwrap();
        let p2 = Progress::open(dir.path(), "LOGHOG", "archive").unwrap();
        assert_eq!((p2.written(), p2.intent()), (0, 10), "killed while writing");
        p.done().unwrap();
        p.begin(7).unwrap();
        let p3 = Progress::open(dir.path(), "LOGHOG", "archive").unwrap();
        assert_eq!(
            (p3.written(), p3.intent()),
            (10, 10),
            "intent never below written"
        );
        std::fs::write(p3.path(), "garbage").unwrap();
        assert!(Progress::open(dir.path(), "LOGHOG", "archive").is_err());
    }

    #[test]
    fn the_written_part_of_a_batch_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("root.log");
        assert_eq!(written_prefix(&live, b"a\n"), 0, "no file: nothing written");
        std::fs::write(&live, "one\ntwo\nthree\n").unwrap();
        assert_eq!(written_prefix(&live, b"two\nthree\n"), 10, "all of it");
        assert_eq!(
            written_prefix(&live, b"two\nthree\nfour\n"),
            10,
            "cut between writes"
        );
        assert_eq!(written_prefix(&live, b"four\nfive\n"), 0, "none of it");
        assert_eq!(
            written_prefix(&live, b"wothree\n"),
            0,
            "only whole lines count"
        );
        // Rotated part-way: the new file holds the batch's middle lines.
        std::fs::write(&live, "three\n").unwrap();
        assert_eq!(written_prefix(&live, b"two\nthree\nfour\n"), 10);
        // Repeated lines: the longest match wins.
        std::fs::write(&live, "x\nx\n").unwrap();
        assert_eq!(written_prefix(&live, b"x\nx\ny\n"), 4);
    }

    fn member(lines: &str) -> Vec<u8> {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(lines.as_bytes()).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn the_written_part_of_a_batch_is_found_in_a_gz_file() {
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("root.log.gz");
        // Members as a compress_on_write file gets them: one per write.
        let file = [member("one\ntwo\n"), member("three\n")].concat();
        std::fs::write(&gz, &file).unwrap();
        assert_eq!(written_prefix(&gz, b"two\nthree\nfour\n"), 10);
        assert_eq!(written_prefix(&gz, b"three\n"), 6, "all of it");
        assert_eq!(written_prefix(&gz, b"four\n"), 0, "none of it");
        // Rotated part-way: the new file holds the batch's middle lines.
        assert_eq!(written_prefix(&gz, b"zero\none\ntwo\nthree\nfour\n"), 19);
        // A torn last member (killed mid-write) is not in the file: the
        // writer cuts it when it opens the file.
        let torn = member("four\n");
        let cut = [&file[..], &torn[..torn.len() - 3]].concat();
        std::fs::write(&gz, &cut).unwrap();
        assert_eq!(written_prefix(&gz, b"three\nfour\n"), 6);
        std::fs::write(&gz, b"not gzip").unwrap();
        assert_eq!(written_prefix(&gz, b"one\n"), 0);
    }
}
