//! `grep` of one stream on several threads: each worker takes the next
//! archive and does all of its work (decode, split, window, match, count);
//! this thread writes the outputs strictly in file order. The archive being
//! written streams as it comes; later ones are held up to a bound beyond
//! which their workers wait, so memory stays bounded and the output is byte
//! for byte what one thread would print.
use std::collections::VecDeque;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use super::files::{LogFile, may_overlap};
use super::merge::{Problems, in_window, open_file};
use super::query::Query;
use super::record::Records;
use super::{Pattern, RECEIPT_SLACK};

/// Output held for the archives behind the first unfinished one, in all.
pub const BUFFERED: usize = 64 << 20;

/// At most this many workers, whatever the core count: each holds an xz
/// decoder's dictionary (8 MiB at -6, 64 MiB at -9) and a few decoded
/// chunks.
const MAX_WORKERS: usize = 16;

/// How much selected text a worker gathers before handing it over: large
/// enough that the lock is rarely taken.
const CHUNK: usize = 256 * 1024;

/// How many threads search, and how much output may wait to be written.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Worker threads (at most one per archive).
    pub workers: usize,
    /// Bytes held for archives that are not yet being written.
    pub buffered: usize,
}

/// One `grep` over the files of one stream.
pub struct Search<'a> {
    /// The window and --host.
    pub q: &'a Query,
    /// What is selected.
    pub pattern: &'a Pattern,
    /// -c: count, print nothing.
    pub count_only: bool,
}

/// A problem a worker met, reported when the writer reaches its archive so
/// that messages keep file order, as when one thread reads.
enum Problem {
    Open(PathBuf, io::Error),
    Corrupt(PathBuf, io::Error),
}

/// One archive's results as they are handed over.
#[derive(Default)]
struct Slot {
    chunks: VecDeque<Vec<u8>>,
    done: bool,
    selected: u64,
    problems: Vec<Problem>,
}

struct State {
    /// The next archive a worker takes.
    next: usize,
    /// The archive being written: its worker never waits.
    front: usize,
    /// Bytes in `slots` not yet taken by the writer.
    held: usize,
    slots: Vec<Slot>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    /// The writer failed (a closed pipe) or a worker panicked: stop.
    stop: AtomicBool,
    buffered: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, g: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed.wait(g).unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops everyone; taken under the lock so no waiter misses it.
    fn halt(&self) {
        let _g = self.lock();
        self.stop.store(true, Ordering::Relaxed);
        self.changed.notify_all();
    }

    /// Hands `chunk` of archive `i` to the writer, waiting while the bound
    /// is reached and `i` is not being written; false when told to stop.
    fn hand_over(&self, i: usize, chunk: Vec<u8>) -> bool {
        let mut st = self.lock();
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return false;
            }
            if i == st.front || st.held + chunk.len() <= self.buffered {
                break;
            }
            st = self.wait(st);
        }
        if !chunk.is_empty() {
            st.held += chunk.len();
            st.slots[i].chunks.push_back(chunk);
            self.changed.notify_all();
        }
        true
    }

    /// Archive `i` is searched: its last chunk, count and problems.
    fn finish(&self, i: usize, last: Vec<u8>, selected: u64, problems: Vec<Problem>) {
        if !self.hand_over(i, last) {
            return;
        }
        let mut st = self.lock();
        let slot = &mut st.slots[i];
        slot.done = true;
        slot.selected = selected;
        slot.problems = problems;
        self.changed.notify_all();
    }
}

/// Stops the search if its worker panics, so the writer does not wait for
/// an archive that will never be finished.
struct HaltOnPanic<'a>(&'a Shared);

impl Drop for HaltOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.halt();
        }
    }
}

impl Search<'_> {
    /// Searches `files` (a stream's, oldest first), writes the selected
    /// records to `out` in file order (nothing with `count_only`), reports
    /// problems to `problems`; returns how many records were selected.
    pub fn run(
        &self,
        files: &[LogFile],
        limits: Limits,
        out: &mut impl Write,
        problems: &Problems,
    ) -> io::Result<u64> {
        let q = self.q;
        let wanted: Vec<&LogFile> = (0..files.len())
            .filter(|&i| may_overlap(files, i, q.since, q.until, RECEIPT_SLACK))
            .map(|i| &files[i])
            .collect();
        let shared = Shared {
            state: Mutex::new(State {
                next: 0,
                front: 0,
                held: 0,
                slots: wanted.iter().map(|_| Slot::default()).collect(),
            }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            buffered: limits.buffered,
        };
        let workers = limits
            .workers
            .min(MAX_WORKERS)
            .clamp(1, wanted.len().max(1));
        std::thread::scope(|s| {
            for _ in 0..workers {
                // A regex of its own: no contention on the shared one's cache.
                let pattern = self.pattern.clone();
                let (shared, wanted) = (&shared, &wanted);
                s.spawn(move || self.work(wanted, &pattern, shared));
            }
            let result = write_in_order(&shared, wanted.len(), out, problems);
            if result.is_err() {
                shared.halt();
            }
            result
        })
    }

    /// A worker: archives in order, one at a time, until none is left.
    fn work(&self, files: &[&LogFile], pattern: &Pattern, shared: &Shared) {
        let _halt = HaltOnPanic(shared);
        loop {
            let i = {
                let mut st = shared.lock();
                if st.next == files.len() || shared.stop.load(Ordering::Relaxed) {
                    return;
                }
                st.next += 1;
                st.next - 1
            };
            self.search_one(i, files[i], pattern, shared);
        }
    }

    /// Everything for one archive, as `StreamRecords` and `grep` do it on
    /// one thread: a file that cannot be opened or is corrupt is a problem,
    /// and what was read before the damage counts.
    fn search_one(&self, i: usize, f: &LogFile, pattern: &Pattern, shared: &Shared) {
        let q = self.q;
        let mut text = Vec::new();
        let mut selected = 0;
        let mut problems = Vec::new();
        match open_file(f) {
            Err(e) => problems.push(Problem::Open(f.path.clone(), e)),
            Ok(r) => {
                for rec in Records::new(r, f.start) {
                    if shared.stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let r = match rec {
                        Ok(r) => r,
                        Err(e) => {
                            problems.push(Problem::Corrupt(f.path.clone(), e));
                            break;
                        }
                    };
                    if !in_window(r.time, q.since, q.until)
                        || !q.host_ok(&r)
                        || !pattern.selects(&r)
                    {
                        continue;
                    }
                    selected += 1;
                    if !self.count_only {
                        text.extend_from_slice(&r.bytes);
                        if text.len() >= CHUNK && !shared.hand_over(i, std::mem::take(&mut text)) {
                            return;
                        }
                    }
                }
            }
        }
        shared.finish(i, text, selected, problems);
    }
}

/// The writer: archive after archive, each one's chunks as they come, then
/// its problems; returns the total selected.
fn write_in_order(
    shared: &Shared,
    archives: usize,
    out: &mut impl Write,
    problems: &Problems,
) -> io::Result<u64> {
    let mut total = 0;
    for i in 0..archives {
        loop {
            let (chunks, finished) = {
                let mut st = shared.lock();
                while st.slots[i].chunks.is_empty() && !st.slots[i].done {
                    if shared.stop.load(Ordering::Relaxed) {
                        return Err(io::Error::other("a search thread failed"));
                    }
                    st = shared.wait(st);
                }
                let chunks = std::mem::take(&mut st.slots[i].chunks);
                st.held -= chunks.iter().map(Vec::len).sum::<usize>();
                // `finish` hands the last chunk over before marking done,
                // so a done archive's chunks are all in `chunks` now.
                let finished = st.slots[i].done.then(|| {
                    st.front = i + 1;
                    let slot = &mut st.slots[i];
                    (slot.selected, std::mem::take(&mut slot.problems))
                });
                shared.changed.notify_all();
                (chunks, finished)
            };
            for c in &chunks {
                out.write_all(c)?;
            }
            if let Some((selected, met)) = finished {
                total += selected;
                for p in met {
                    match p {
                        Problem::Open(path, e) => problems.report(&path, &e),
                        Problem::Corrupt(path, e) => problems.corrupt(&path, &e),
                    }
                }
                break;
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::super::files::{Select, list_streams};
    use super::super::{Pattern, grep_merged};
    use super::*;
    use std::path::Path;

    /// Lines in the daemon's format: every 7th record a three-line
    /// traceback, every 5th a LATENCY 500.
    fn lines(hour: u32, n: u32) -> String {
        let mut s = String::new();
        for k in 0..n {
            let (m, sec) = (k / 60 % 60, k % 60);
            let stamp = format!("2026-11-30 {hour:02}:{m:02}:{sec:02}.{k:06}");
            if k % 7 == 0 {
                s += &format!(
                    "{stamp} - web{} - ERROR - r{hour}.{k} failed\n\
                     Traceback (most recent call last):\n  ValueError: {k}\n",
                    k % 3
                );
            } else {
                let what = if k % 5 == 0 { "latency 500" } else { "fine" };
                s += &format!("{stamp} - web{} - INFO - r{hour}.{k} {what} ms\n", k % 3);
            }
        }
        s
    }

    fn xz(text: &str) -> Vec<u8> {
        let mut e = liblzma::write::XzEncoder::new(Vec::new(), 0);
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    fn archive(dir: &Path, hour: u32, bytes: &[u8]) {
        let name = format!("root.log.2026-11-30-{hour:02}-00-00-000000.xz");
        std::fs::write(dir.join(name), bytes).unwrap();
    }

    /// Six archives of about 400 KB of text (more than one chunk each), the
    /// third cut short (its first part is still read), the fifth garbage,
    /// then the live file.
    fn logs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for hour in 1..=6 {
            let data = xz(&lines(hour, 5000));
            match hour {
                3 => archive(dir.path(), hour, &data[..data.len() / 2]),
                5 => archive(dir.path(), hour, b"not xz at all"),
                _ => archive(dir.path(), hour, &data),
            }
        }
        std::fs::write(dir.path().join("root.log"), lines(7, 100)).unwrap();
        dir
    }

    fn query(dir: &Path, window: Option<(u32, u32)>) -> Query {
        let at = |h: u32| jiff::civil::date(2026, 11, 30).at(h as i8, 30, 0, 0);
        Query {
            dir: dir.to_owned(),
            select: Select::Facility {
                name: "root".into(),
                host_base: None,
            },
            host: None,
            since: window.map(|w| at(w.0)),
            until: window.map(|w| at(w.1)),
        }
    }

    /// (output, selected, problems) of the one-thread path and of the
    /// parallel one.
    fn both(
        q: &Query,
        pattern: &Pattern,
        count_only: bool,
        limits: Limits,
    ) -> [(Vec<u8>, u64, usize); 2] {
        let streams = list_streams(&q.dir, &q.select).unwrap();
        assert_eq!(streams.len(), 1);
        let files = streams[0].files.clone();
        let problems = Problems::default();
        let mut one = Vec::new();
        let n = grep_merged(q, streams, pattern, count_only, &mut one, &problems).unwrap();
        let seq = (one, n, problems.count());
        let problems = Problems::default();
        let mut many = Vec::new();
        let search = Search {
            q,
            pattern,
            count_only,
        };
        let n = search.run(&files, limits, &mut many, &problems).unwrap();
        [seq, (many, n, problems.count())]
    }

    fn pattern(re: &str, ignore_case: bool, invert: bool) -> Pattern {
        Pattern {
            re: regex::bytes::RegexBuilder::new(re)
                .case_insensitive(ignore_case)
                .multi_line(true)
                .build()
                .unwrap(),
            invert,
        }
    }

    #[test]
    fn parallel_grep_prints_and_counts_exactly_what_one_thread_does() {
        let dir = logs();
        let q = query(dir.path(), None);
        // A tiny bound makes later archives wait for the writer; a large
        // one lets them all run ahead.
        for buffered in [1, BUFFERED] {
            for workers in [2, 4] {
                let limits = Limits { workers, buffered };
                for (re, i, v) in [
                    ("ValueError", false, false),
                    ("LATENCY.*500", true, false),
                    ("fine", false, true),
                    (".", false, false),
                ] {
                    let p = pattern(re, i, v);
                    let [seq, par] = both(&q, &p, false, limits);
                    assert!(seq.0 == par.0, "{re} {workers} {buffered}: output differs");
                    assert_eq!((seq.1, seq.2), (par.1, par.2), "{re}");
                    let [seq_c, par_c] = both(&q, &p, true, limits);
                    assert_eq!(seq_c, par_c, "-c {re}");
                    assert_eq!(par_c.1, par.1);
                    assert!(par_c.0.is_empty());
                }
            }
        }
        // Not vacuous: whole tracebacks from before and after the damaged
        // archives, records from the cut one, both damaged ones reported.
        let [_, (text, n, problems)] = both(&q, &pattern("ValueError", false, false), false, {
            Limits {
                workers: 4,
                buffered: 1,
            }
        });
        let text = String::from_utf8(text).unwrap();
        assert_eq!(problems, 2);
        assert!(n > 2000, "{n}");
        assert_eq!(text.matches("Traceback").count() as u64, n);
        for needle in [
            " - ERROR - r1.0 failed\nTraceback (most recent call last):\n  ValueError: 0\n",
            " - ERROR - r3.7 failed\n",
            " - ERROR - r6.4998 failed\nTraceback (most recent call last):\n  ValueError: 4998\n",
            " - ERROR - r7.98 failed\n",
        ] {
            assert!(text.contains(needle), "{needle}");
        }
        assert!(!text.contains(" - r5."));
        let hours: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split(" - ERROR - r").nth(1))
            .map(|r| &r[..1])
            .collect();
        assert!(hours.is_sorted(), "archives out of order");
    }

    #[test]
    fn parallel_grep_keeps_the_time_window_and_skips_archives_outside() {
        let dir = logs();
        // 02:30 to 04:30: archives 2 to 4; the garbage 5 is not opened.
        let q = query(dir.path(), Some((2, 4)));
        let p = pattern("latency", false, false);
        let limits = Limits {
            workers: 3,
            buffered: 1,
        };
        let [seq, par] = both(&q, &p, false, limits);
        assert!(seq.0 == par.0, "output differs");
        assert_eq!((seq.1, seq.2), (par.1, par.2));
        // Only the cut archive 3 is a problem.
        assert_eq!(par.2, 1);
        let text = String::from_utf8(par.0).unwrap();
        let first = text.lines().next().unwrap();
        assert!(first.starts_with("2026-11-30 02:30:"), "{first}");
        assert!(!text.contains(" - r5.") && !text.contains(" - r1."));
    }
}
