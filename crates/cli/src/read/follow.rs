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
use super::merge::{Problems, open_file, read_whole};
use super::record::{Record, Splitter};

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
}

impl LiveTail {
    /// A follower of stream `base` in `dir`, whose live file is `path`
    /// (compress_on_write if `gzip`); rotated files up to `done` count as
    /// read already.
    pub fn new(dir: &Path, base: &str, path: PathBuf, gzip: bool, done: Option<Key>) -> Self {
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
                out.extend(self.splitter.push_line(&line));
            }
            out.extend(self.splitter.finish());
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
            out.extend(read_whole(&f, problems));
            self.done = key(&f);
        }
        out.append(&mut fresh);
        Ok(())
    }

    /// Reads from the current file up to its current end.
    fn read_new(&mut self, out: &mut Vec<Record>) -> io::Result<()> {
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
        let mut bytes = Vec::with_capacity((len - self.offset) as usize);
        cur.file.seek(SeekFrom::Start(self.offset))?;
        (&mut cur.file)
            .take(len - self.offset)
            .read_to_end(&mut bytes)?;
        let text = if self.gzip {
            let (text, used) = gzip_members(&bytes)?;
            self.offset += used as u64;
            text
        } else {
            self.offset += bytes.len() as u64;
            bytes
        };
        if cur.first_line.is_none()
            && let Some(nl) = text.iter().position(|&b| b == b'\n')
        {
            cur.first_line = Some(text[..=nl].to_vec());
        }
        self.feed(&text, out);
        Ok(())
    }

    /// Splits `text` into lines; the last record is complete once the text
    /// ends with a newline, because the daemon writes whole records.
    fn feed(&mut self, text: &[u8], out: &mut Vec<Record>) {
        let mut rest = text;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = rest.split_at(nl + 1);
            if self.partial.is_empty() {
                out.extend(self.splitter.push_line(line));
            } else {
                self.partial.extend_from_slice(line);
                let whole = std::mem::take(&mut self.partial);
                out.extend(self.splitter.push_line(&whole));
            }
            rest = tail;
        }
        self.partial.extend_from_slice(rest);
        if self.partial.is_empty() {
            out.extend(self.splitter.finish());
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
