//! The records of a stream across its files, and of several streams merged
//! into one sequence by time.
//!
//! Each stream is already in time order, so merging only compares the
//! heads; ties keep stream order, so records of one second stay grouped.
//! Errors in one file are reported here and reading goes on with the next.
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::io;
use std::path::Path;

use jiff::SignedDuration;
use jiff::civil::DateTime;

use super::decode;
use super::files::{LogFile, Stream, may_overlap};
use super::record::{Record, Records};

/// Problems met while reading: each printed once on stderr, all counted
/// for the exit status.
#[derive(Debug, Default)]
pub struct Problems {
    count: Cell<usize>,
    seen: RefCell<HashSet<String>>,
}

impl Problems {
    /// Reports a file that could not be opened.
    pub fn report(&self, path: &Path, e: &io::Error) {
        self.note(format!("loghog: {}: cannot read: {e}", path.display()));
    }

    /// Reports a file whose content could not be decoded: what came before
    /// the damage has been used, the rest of that file is skipped.
    pub fn corrupt(&self, path: &Path, e: &io::Error) {
        self.note(format!(
            "loghog: {}: corrupt or truncated, the rest of this file is skipped: {e}",
            path.display()
        ));
    }

    /// Prints `msg` the first time it is seen (a follower polling a broken
    /// file does not repeat itself) and counts it every time.
    fn note(&self, msg: String) {
        if self.seen.borrow_mut().insert(msg.clone()) {
            eprintln!("{msg}");
        }
        self.count.set(self.count.get() + 1);
    }

    /// How many problems were reported.
    pub fn count(&self) -> usize {
        self.count.get()
    }
}

/// The records of one stream inside a window, file after file. Archives
/// wholly outside the window are never opened.
pub struct StreamRecords<'a> {
    files: Vec<LogFile>,
    next_file: usize,
    current: Option<Records<Box<dyn io::BufRead + Send>>>,
    current_path: Option<std::path::PathBuf>,
    since: Option<DateTime>,
    until: Option<DateTime>,
    slack: SignedDuration,
    problems: &'a Problems,
}

impl<'a> StreamRecords<'a> {
    /// Records of `stream` received in [since, until].
    pub fn new(
        stream: Stream,
        since: Option<DateTime>,
        until: Option<DateTime>,
        slack: SignedDuration,
        problems: &'a Problems,
    ) -> Self {
        StreamRecords {
            files: stream.files,
            next_file: 0,
            current: None,
            current_path: None,
            since,
            until,
            slack,
            problems,
        }
    }

    /// Opens the next file worth reading; false when there is none.
    fn open_next(&mut self) -> bool {
        while self.next_file < self.files.len() {
            let i = self.next_file;
            self.next_file += 1;
            if !may_overlap(&self.files, i, self.since, self.until, self.slack) {
                continue;
            }
            let f = &self.files[i];
            match open_file(f) {
                Ok(r) => {
                    self.current = Some(Records::new(r, f.start));
                    self.current_path = Some(f.path.clone());
                    return true;
                }
                Err(e) => self.problems.report(&f.path, &e),
            }
        }
        false
    }
}

/// Opens `f`; a rotated file compressed (renamed) since the directory was
/// listed is found under its compressed name.
pub fn open_file(f: &LogFile) -> io::Result<Box<dyn io::BufRead + Send>> {
    match decode::reader(f) {
        Err(e) if e.kind() == io::ErrorKind::NotFound && f.start.is_some() => {
            for (ext, codec) in [
                ("xz", super::files::Codec::Xz),
                ("bz2", super::files::Codec::Bzip2),
                ("gz", super::files::Codec::Gzip),
            ] {
                let mut name = f.path.clone().into_os_string();
                name.push(format!(".{ext}"));
                let moved = LogFile {
                    path: name.into(),
                    codec,
                    ..f.clone()
                };
                if let Ok(r) = decode::reader(&moved) {
                    return Ok(r);
                }
            }
            Err(e)
        }
        other => other,
    }
}

impl Iterator for StreamRecords<'_> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        loop {
            if self.current.is_none() && !self.open_next() {
                return None;
            }
            match self.current.as_mut().and_then(Iterator::next) {
                Some(Ok(r)) => {
                    if in_window(r.time, self.since, self.until) {
                        return Some(r);
                    }
                }
                Some(Err(e)) => {
                    if let Some(p) = &self.current_path {
                        self.problems.corrupt(p, &e);
                    }
                    self.current = None;
                }
                None => self.current = None,
            }
        }
    }
}

/// Whether a record received at `t` is inside [since, until]; a record
/// without a time (nothing before it to date it) is always kept.
pub fn in_window(t: Option<DateTime>, since: Option<DateTime>, until: Option<DateTime>) -> bool {
    let Some(t) = t else { return true };
    since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u)
}

/// The last `keep` records of one file that `want` selects (for `tail`,
/// which reads backwards file by file, and the follower's catch-up); a
/// problem is reported and what was read before it kept. Only `keep`
/// records are held at a time, however large the archive.
pub fn read_last(
    f: &LogFile,
    keep: usize,
    want: &dyn Fn(&Record) -> bool,
    problems: &Problems,
) -> Vec<Record> {
    let mut out = std::collections::VecDeque::new();
    match open_file(f) {
        Ok(r) => {
            for rec in Records::new(r, f.start) {
                match rec {
                    Ok(r) if want(&r) => {
                        if out.len() == keep {
                            out.pop_front();
                        }
                        if keep > 0 {
                            out.push_back(r);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        problems.corrupt(&f.path, &e);
                        break;
                    }
                }
            }
        }
        Err(e) => problems.report(&f.path, &e),
    }
    out.into()
}

/// Merges time-ordered iterators into one, oldest first; on equal times
/// the earlier iterator goes first.
pub fn merge<I: Iterator<Item = Record>>(iters: Vec<I>) -> Merge<I> {
    let mut iters = iters;
    let heads = iters.iter_mut().map(Iterator::next).collect();
    Merge { iters, heads }
}

/// See [`merge`].
pub struct Merge<I> {
    iters: Vec<I>,
    heads: Vec<Option<Record>>,
}

impl<I: Iterator<Item = Record>> Iterator for Merge<I> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        let mut best: Option<usize> = None;
        for (i, h) in self.heads.iter().enumerate() {
            let Some(h) = h else { continue };
            match best {
                Some(b) if self.heads[b].as_ref().is_some_and(|b| b.time <= h.time) => {}
                _ => best = Some(i),
            }
        }
        let i = best?;
        let next = self.iters[i].next();
        std::mem::replace(&mut self.heads[i], next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(sec: i8, tag: &str) -> Record {
        Record {
            time: Some(jiff::civil::date(2026, 11, 30).at(12, 0, sec, 0)),
            bytes: tag.as_bytes().to_vec(),
        }
    }

    #[test]
    fn merging_orders_by_time_and_keeps_ties_in_stream_order() {
        let a = vec![rec(1, "a1"), rec(3, "a3"), rec(3, "a3b")];
        let b = vec![rec(0, "b0"), rec(3, "b3"), rec(9, "b9")];
        let got: Vec<String> = merge(vec![a.into_iter(), b.into_iter()])
            .map(|r| String::from_utf8(r.bytes).unwrap())
            .collect();
        assert_eq!(got, ["b0", "a1", "a3", "a3b", "b3", "b9"]);
    }
}
