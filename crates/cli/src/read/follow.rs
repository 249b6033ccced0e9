//! Reading a live file incrementally, across rotations: what `tail -f` is
//! made of, and how `tail` reads the live file in the first place.
//!
//! A rotation renames the live file away and the next record creates a new
//! one, and several rotations can happen between two polls. The follower
//! keeps its open handle; when a new inode appears under the live name it
//! drains the old file (the daemon no longer writes to it once renamed),
//! finds it among the rotated files (same inode, or, once compressed, same
//! first line), reads every rotated file after it, and only then the new
//! live file from byte 0: no record is lost or repeated.
use std::fs::File;
use std::io::{self, BufRead, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use jiff::civil::DateTime;

use super::decode::{gzip_members, open};
use super::files::{self, LogFile, Select};
use super::merge::{Problems, open_file, read_last};
use super::record::{Record, Splitter};

/// The most a poll reads of a plain file at once.
const CHUNK: u64 = 8 * 1024 * 1024;

/// Where a rotated file sits in its stream: its start, then its `-N`.
pub type Key = (DateTime, u32);

/// The key of a rotated file (None for a live one).
pub fn key(f: &LogFile) -> Option<Key> {
    f.start.map(|s| (s, f.seq))
}

/// The live file being read.
struct Current {
    file: File,
    ino: u64,
    /// The first line read from it: its identity once it is compressed.
    first_line: Option<Vec<u8>>,
}

/// The live file of one stream, read from where the last poll stopped.
pub struct LiveTail {
    dir: PathBuf,
    base: String,
    path: PathBuf,
    gzip: bool,
    current: Option<Current>,
    /// Bytes read (compressed bytes for gzip) from the current file.
    offset: u64,
    /// A line whose `\n` has not been written yet.
    partial: Vec<u8>,
    splitter: Splitter,
    /// The newest rotated file already read (or read before following).
    done: Option<Key>,
    /// Which records are wanted (the --host filter).
    want: Box<dyn Fn(&Record) -> bool>,
    /// How many of the records one poll brings are kept (the last ones):
    /// `tail -n` bounds the memory its first read of a large file takes.
    keep: usize,
}

impl LiveTail {
    /// A follower of stream `base` in `dir`, whose live file is `path`
    /// (compress_on_write if `gzip`); rotated files up to `done` count as
    /// read already. Only records `want` selects are returned.
    pub fn new(
        dir: &Path,
        base: &str,
        path: PathBuf,
        gzip: bool,
        done: Option<Key>,
        want: Box<dyn Fn(&Record) -> bool>,
    ) -> Self {
        LiveTail {
            dir: dir.to_owned(),
            base: base.to_owned(),
            path,
            gzip,
            current: None,
            offset: 0,
            partial: Vec::new(),
            splitter: Splitter::default(),
            done,
            want,
            keep: usize::MAX,
        }
    }

    /// Keeps only the last `keep` records of each poll (usize::MAX: all).
    pub fn set_keep(&mut self, keep: usize) {
        self.keep = keep;
    }

    /// Adds `r` to `out` if wanted, dropping the oldest beyond `keep`
    /// (in halves, so the shifting stays cheap).
    fn emit(&self, out: &mut Vec<Record>, r: Option<Record>) {
        let Some(r) = r.filter(|r| (self.want)(r)) else {
            return;
        };
        out.push(r);
        if self.keep != usize::MAX && out.len() > self.keep.max(1) * 2 {
            let cut = out.len() - self.keep;
            out.drain(..cut);
        }
    }

    /// Appends to `out` every whole record written since the last poll,
    /// through any rotations since. A missing live file (nothing written
    /// since the last rotation) is not an error.
    pub fn poll(&mut self, out: &mut Vec<Record>, problems: &Problems) -> io::Result<()> {
        if self.current.is_none() {
            self.open_live(out, problems)?;
        }
        self.read_new(out)?;
        loop {
            let Some(cur) = &self.current else {
                return Ok(());
            };
            match std::fs::metadata(&self.path) {
                Ok(m) if m.ino() != cur.ino => {}
                _ => return Ok(()),
            }
            // Rotated: what reached the old file before the rename is read
            // now; then the files rotated after it; then the new live file.
            self.read_new(out)?;
            if !self.partial.is_empty() {
                let mut line = std::mem::take(&mut self.partial);
                line.push(b'\n');
                let r = self.splitter.push_line(&line);
                self.emit(out, r);
            }
            let r = self.splitter.finish();
            self.emit(out, r);
            let cur = self.current.take().expect("checked above");
            let rotated = self.rotated()?;
            match rotated
                .iter()
                .find(|f| self.after_done(f) && same_file(f, cur.ino, cur.first_line.as_deref()))
            {
                Some(f) => self.done = key(f),
                None => eprintln!(
                    "loghog: {}: the rotated file was not found (removed by retention?); \
                     records rotated meanwhile may be missing",
                    self.path.display()
                ),
            }
            self.open_live(out, problems)?;
        }
    }

    /// The live file followed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This stream's rotated files, oldest first.
    fn rotated(&self) -> io::Result<Vec<LogFile>> {
        let select = Select::Base(self.base.clone());
        let streams = files::list_streams(&self.dir, &select).map_err(io::Error::other)?;
        Ok(streams
            .into_iter()
            .flat_map(|s| s.files)
            .filter(|f| f.start.is_some())
            .collect())
    }

    fn after_done(&self, f: &LogFile) -> bool {
        match (self.done, key(f)) {
            (Some(d), Some(k)) => k > d,
            (None, k) => k.is_some(),
            (Some(_), None) => false,
        }
    }

    /// Opens the live file (if there is one) and reads it, after first
    /// reading every rotated file newer than `done` that is not the file
    /// just opened.
    fn open_live(&mut self, out: &mut Vec<Record>, problems: &Problems) -> io::Result<()> {
        let mut fresh = Vec::new();
        self.offset = 0;
        self.partial.clear();
        self.splitter = Splitter::default();
        match open(&self.path) {
            Ok(file) => {
                let ino = file.metadata()?.ino();
                self.current = Some(Current {
                    file,
                    ino,
                    first_line: None,
                });
                self.read_new(&mut fresh)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let (ino, first) = match &self.current {
            Some(c) => (Some(c.ino), c.first_line.clone()),
            None => (None, None),
        };
        for f in self.rotated()? {
            if !self.after_done(&f) {
                continue;
            }
            if let Some(ino) = ino
                && same_file(&f, ino, first.as_deref())
            {
                // The file just opened was itself rotated meanwhile: the
                // next poll sees the new inode and goes on from there.
                break;
            }
            out.extend(read_last(&f, self.keep, &*self.want, problems));
            self.done = key(&f);
        }
        out.append(&mut fresh);
        Ok(())
    }

    /// Reads from the current file up to its current end, a chunk at a
    /// time for plain files (a gzip file whole: a member cannot be split).
    fn read_new(&mut self, out: &mut Vec<Record>) -> io::Result<()> {
        loop {
            let Some(cur) = self.current.as_mut() else {
                return Ok(());
            };
            let len = cur.file.metadata()?.len();
            if len < self.offset {
                // Cut shorter (a torn gzip tail removed at start-up).
                self.offset = len;
            }
            if len == self.offset {
                return Ok(());
            }
            let want = if self.gzip {
                len - self.offset
            } else {
                (len - self.offset).min(CHUNK)
            };
            let before = self.offset;
            let at_end = self.offset + want == len;
            self.read_chunk(want, at_end, out)?;
            if self.offset == before {
                // Only an incomplete gzip member: the rest comes later.
                return Ok(());
            }
        }
    }

    /// Reads `want` bytes from the current offset and feeds them on;
    /// `at_end` when they reach the end of what is written.
    fn read_chunk(&mut self, want: u64, at_end: bool, out: &mut Vec<Record>) -> io::Result<()> {
        let Some(cur) = self.current.as_mut() else {
            return Ok(());
        };
        let mut bytes = Vec::with_capacity(want as usize);
        cur.file.seek(SeekFrom::Start(self.offset))?;
        (&mut cur.file).take(want).read_to_end(&mut bytes)?;
        let from_start = self.offset == 0;
        let text = if self.gzip {
            let (text, used) = gzip_members(&bytes)?;
            self.offset += used as u64;
            text
        } else {
            self.offset += bytes.len() as u64;
            bytes
        };
        if from_start
            && cur.first_line.is_none()
            && let Some(nl) = text.iter().position(|&b| b == b'\n')
        {
            cur.first_line = Some(text[..=nl].to_vec());
        }
        self.feed(&text, at_end, out);
        Ok(())
    }

    /// Splits `text` into lines. At the end of what is written, the last
    /// record is complete once the text ends with a newline, because the
    /// daemon writes whole records; in the middle of a file it may go on.
    fn feed(&mut self, text: &[u8], at_end: bool, out: &mut Vec<Record>) {
        let mut rest = text;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = rest.split_at(nl + 1);
            let r = if self.partial.is_empty() {
                self.splitter.push_line(line)
            } else {
                self.partial.extend_from_slice(line);
                let whole = std::mem::take(&mut self.partial);
                self.splitter.push_line(&whole)
            };
            self.emit(out, r);
            rest = tail;
        }
        self.partial.extend_from_slice(rest);
        if at_end && self.partial.is_empty() {
            let r = self.splitter.finish();
            self.emit(out, r);
        }
    }
}

/// Whether rotated file `f` is the file that was live with inode `ino` and
/// first line `first`: renaming keeps the inode; compressing does not, but
/// keeps the first line (whose stamp and body make it unique in practice).
fn same_file(f: &LogFile, ino: u64, first: Option<&[u8]>) -> bool {
    if std::fs::metadata(&f.path).is_ok_and(|m| m.ino() == ino) {
        return true;
    }
    let Some(first) = first else { return false };
    let Ok(mut r) = open_file(f) else {
        return false;
    };
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line).is_ok() && line == first
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn line(sec: u32, body: &str) -> String {
        format!("2026-11-30 12:00:{sec:02}.000000 - h - {body}\n")
    }

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    fn bodies(recs: &[Record]) -> Vec<String> {
        recs.iter()
            .map(|r| {
                let s = String::from_utf8(r.bytes.clone()).unwrap();
                s.lines()
                    .next()
                    .unwrap()
                    .rsplit(" - ")
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    /// Renames the live file the way the daemon does.
    fn rotate(dir: &Path, sec: u32) -> PathBuf {
        let to = dir.join(format!("root.log.2026-11-30-12-00-{sec:02}-000000"));
        std::fs::rename(dir.join("root.log"), &to).unwrap();
        to
    }

    #[test]
    fn several_rotations_between_polls_lose_and_repeat_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let live = dir.join("root.log");
        append(&live, &line(1, "a"));
        let mut t = LiveTail::new(dir, "root", live.clone(), false, None, Box::new(|_| true));
        let problems = Problems::default();
        let mut out = Vec::new();
        t.poll(&mut out, &problems).unwrap();
        assert_eq!(bodies(&out), ["a"]);

        // The followed file gets one more record, is rotated, and then
        // compressed (a new inode: found by its first line); the next
        // file is rotated too before the follower looks again.
        append(&live, &line(2, "b"));
        let first = rotate(dir, 1);
        let text = std::fs::read(&first).unwrap();
        let mut xz = liblzma::write::XzEncoder::new(
            std::fs::File::create(format!("{}.xz", first.display())).unwrap(),
            1,
        );
        xz.write_all(&text).unwrap();
        xz.finish().unwrap();
        std::fs::remove_file(&first).unwrap();
        append(&live, &line(3, "c"));
        rotate(dir, 3);
        append(&live, &line(4, "d"));
        append(&live, &line(5, "e"));
        rotate(dir, 4);
        append(&live, &line(6, "f"));

        let mut out = Vec::new();
        t.poll(&mut out, &problems).unwrap();
        assert_eq!(bodies(&out), ["b", "c", "d", "e", "f"]);
        append(&live, &line(7, "g"));
        let mut out = Vec::new();
        t.poll(&mut out, &problems).unwrap();
        assert_eq!(bodies(&out), ["g"]);
        assert_eq!(problems.count(), 0);
    }

    #[test]
    fn a_record_cut_by_a_read_chunk_stays_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let mut t = LiveTail::new(
            tmp.path(),
            "root",
            tmp.path().join("root.log"),
            false,
            None,
            Box::new(|_| true),
        );
        let mut out = Vec::new();
        t.feed(line(1, "boom").as_bytes(), false, &mut out);
        t.feed(b"Traceback\n", false, &mut out);
        assert!(out.is_empty());
        t.feed(b"  more\n", true, &mut out);
        assert_eq!(out.len(), 1);
        assert!(out[0].bytes.ends_with(b"Traceback\n  more\n"));
    }
}
