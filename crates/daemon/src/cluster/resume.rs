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
use std::io::{self, Read, Seek, SeekFrom};
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
/// part of `data`). A compressed live file is never searched (0: its
/// records may be written twice, see docs/cluster.md).
pub fn written_prefix(path: &Path, data: &[u8]) -> usize {
    if data.is_empty() || path.extension().is_some_and(|e| e == "gz") {
        return 0;
    }
    let Ok(mut file) = File::open(path) else {
        return 0;
    };
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return 0;
    };
    let from = len.saturating_sub(data.len() as u64);
    let mut tail = Vec::with_capacity((len - from) as usize);
    if file.seek(SeekFrom::Start(from)).is_err() || file.read_to_end(&mut tail).is_err() {
        return 0;
    }
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
        let whole_file = from == 0;
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
        let gz = dir.path().join("root.log.gz");
        std::fs::write(&gz, "one\n").unwrap();
        assert_eq!(
            written_prefix(&gz, b"one\n"),
            0,
            "compressed files are not searched"
        );
    }
}
