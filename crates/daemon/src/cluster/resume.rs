//! Where an archive consumer resumes after a crash, without writing a
//! record twice.
//!
//! A consumer keeps two stream sequence numbers in a small file of its own
//! in workdir: `written` (everything up to it is in the files) and `intent`
//! (a batch up to it was being written). Messages JetStream delivers again
//! at or below `written` (their acknowledgement was lost, or the node died
//! before sending it) are skipped; those between `written` and `intent`
//! were being written when the node died, and are skipped only if their
//! file already ends with them. Each update is one 42-byte `pwrite`, which a
//! killed process either did or did not do.
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// How far before the end of a live file a batch written by a killed run is
/// looked for (beyond its own length): other batches may have followed it.
const TAIL_SLACK: u64 = 4 << 20;

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

/// Whether the live file at `path` already holds `data`, written by a run
/// that was killed before it could record so: `data` appears within its
/// last bytes, or (the file rotated part-way) the whole file is the end
/// of `data`, starting at a line. A compressed live file is never searched
/// (its records may then be written twice, see docs/cluster.md).
pub fn already_written(path: &Path, data: &[u8]) -> bool {
    if data.is_empty() || path.extension().is_some_and(|e| e == "gz") {
        return false;
    }
    let Ok(mut file) = File::open(path) else {
        return false;
    };
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return false;
    };
    let want = data.len() as u64;
    let from = len.saturating_sub(want + TAIL_SLACK);
    let mut tail = Vec::with_capacity((len - from) as usize);
    if file.seek(SeekFrom::Start(from)).is_err() || file.read_to_end(&mut tail).is_err() {
        return false;
    }
    if memchr::memmem::find(&tail, data).is_some() {
        return true;
    }
    from == 0
        && !tail.is_empty()
        && tail.len() < data.len()
        && data.ends_with(&tail)
        && data[data.len() - tail.len() - 1] == b'\n'
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
    fn a_batch_is_found_at_the_end_of_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("root.log");
        assert!(!already_written(&live, b"a\n"), "no file: not written");
        std::fs::write(&live, "one\ntwo\nthree\nfour\n").unwrap();
        assert!(
            already_written(&live, b"two\nthree\n"),
            "followed by others"
        );
        assert!(!already_written(&live, b"five\n"));
        // Rotated part-way: the new file holds the batch's last lines.
        std::fs::write(&live, "three\nfour\n").unwrap();
        assert!(already_written(&live, b"two\nthree\nfour\n"));
        assert!(!already_written(&live, b"hree\nfour\nfive\n"));
        let gz = dir.path().join("root.log.gz");
        std::fs::write(&gz, "one\n").unwrap();
        assert!(
            !already_written(&gz, b"one\n"),
            "compressed files are not searched"
        );
    }
}
