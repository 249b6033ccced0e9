//! Reading a live file incrementally, across rotations: what `tail -f` is
//! made of, and how `tail` reads the live file in the first place.
//!
//! A rotation renames the live file away and the next record creates a new
//! one. The follower keeps its open handle, notices the new inode under the
//! live name, drains the old file to its end (the daemon no longer writes to
//! it once renamed), and only then starts on the new file from byte 0: no
//! record is lost or repeated.
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::decode::{gzip_members, open};
use super::record::{Record, Splitter};

/// The live file of one stream, read from where the last poll stopped.
pub struct LiveTail {
    path: PathBuf,
    gzip: bool,
    file: Option<(File, u64)>,
    /// Bytes read (compressed bytes for gzip) from the open file.
    offset: u64,
    /// A line whose `\n` has not been written yet.
    partial: Vec<u8>,
    splitter: Splitter,
}

impl LiveTail {
    /// A follower of `path` (compress_on_write if `gzip`), at its start.
    pub fn new(path: PathBuf, gzip: bool) -> Self {
        LiveTail {
            path,
            gzip,
            file: None,
            offset: 0,
            partial: Vec::new(),
            splitter: Splitter::default(),
        }
    }

    /// The live file followed.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Appends to `out` every whole record written since the last poll,
    /// moving on to the new live file after a rotation. A missing live file
    /// (nothing written since the last rotation) is not an error.
    pub fn poll(&mut self, out: &mut Vec<Record>) -> io::Result<()> {
        loop {
            if self.file.is_none() {
                let f = match open(&self.path) {
                    Ok(f) => f,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                    Err(e) => return Err(e),
                };
                let ino = f.metadata()?.ino();
                self.file = Some((f, ino));
                self.offset = 0;
            }
            self.read_new(out)?;
            let ino = self.file.as_ref().map(|(_, ino)| *ino);
            match std::fs::metadata(&self.path) {
                Ok(m) if Some(m.ino()) != ino => {
                    // Rotated: whatever reached the old file before the
                    // rename is read now, then the new file from its start.
                    self.read_new(out)?;
                    if !self.partial.is_empty() {
                        let mut line = std::mem::take(&mut self.partial);
                        line.push(b'\n');
                        out.extend(self.splitter.push_line(&line));
                    }
                    out.extend(self.splitter.finish());
                    self.file = None;
                }
                _ => return Ok(()),
            }
        }
    }

    /// Reads from the open file up to its current end.
    fn read_new(&mut self, out: &mut Vec<Record>) -> io::Result<()> {
        let Some((file, _)) = self.file.as_mut() else {
            return Ok(());
        };
        let len = file.metadata()?.len();
        if len < self.offset {
            // Cut shorter (a torn gzip tail removed at start-up).
            self.offset = len;
        }
        if len == self.offset {
            return Ok(());
        }
        let mut bytes = Vec::with_capacity((len - self.offset) as usize);
        file.seek(SeekFrom::Start(self.offset))?;
        file.take(len - self.offset).read_to_end(&mut bytes)?;
        let text = if self.gzip {
            let (text, used) = gzip_members(&bytes)?;
            self.offset += used as u64;
            text
        } else {
            self.offset += bytes.len() as u64;
            bytes
        };
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
