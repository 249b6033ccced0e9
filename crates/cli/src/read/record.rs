//! Records in a log file: a line starting `YYYY-MM-DD HH:MM:SS.ffffff - host - `
//! opens a record, and every following line that does not is a continuation
//! of it (a traceback), so a record is kept whole across lines.
//!
//! Works on bytes, not `str`: bodies are written exactly as sent, and one
//! odd byte must not stop the reading of a whole archive.
use std::io::{self, BufRead};

use jiff::civil::DateTime;

/// One record: its header's time (None only for continuation lines found at
/// the very start of a file) and its bytes, every line with its `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The time of receipt in the header, local civil time.
    pub time: Option<DateTime>,
    /// The whole record, header line and continuation lines.
    pub bytes: Vec<u8>,
}

impl Record {
    /// The host field of the header line (`{time} - {host} - {body}`).
    pub fn host(&self) -> Option<&[u8]> {
        self.time?;
        let rest = &self.bytes[STAMP_LEN + 3..];
        let end = rest.windows(3).position(|w| w == b" - ")?;
        Some(&rest[..end])
    }
}

/// `2026-11-24 04:11:45.771885`
const STAMP_LEN: usize = 26;

/// The time in a header line, or None if `line` is a continuation line.
pub fn header_time(line: &[u8]) -> Option<DateTime> {
    if line.len() < STAMP_LEN + 3 || &line[STAMP_LEN..STAMP_LEN + 3] != b" - " {
        return None;
    }
    // The host must be followed by its own separator for this to be a header.
    line[STAMP_LEN + 3..].windows(3).position(|w| w == b" - ")?;
    parse_stamp(&line[..STAMP_LEN], b' ', b':', b'.')
}

/// Parses `YYYY?MM?DD<sep_dt>HH<sep_t>MM<sep_t>SS<sep_frac>ffffff` (the line
/// stamp uses `' ' ':' '.'`, rotated names `'-' '-' '-'`).
pub fn parse_stamp(s: &[u8], sep_dt: u8, sep_t: u8, sep_frac: u8) -> Option<DateTime> {
    if s.len() != STAMP_LEN {
        return None;
    }
    let num = |from: usize, len: usize| -> Option<i64> {
        let mut n = 0i64;
        for &b in &s[from..from + len] {
            if !b.is_ascii_digit() {
                return None;
            }
            n = n * 10 + i64::from(b - b'0');
        }
        Some(n)
    };
    let date_sep = if sep_dt == b' ' { b'-' } else { sep_dt };
    let seps = [
        (4, date_sep),
        (7, date_sep),
        (10, sep_dt),
        (13, sep_t),
        (16, sep_t),
        (19, sep_frac),
    ];
    if seps.iter().any(|&(i, c)| s[i] != c) {
        return None;
    }
    DateTime::new(
        i16::try_from(num(0, 4)?).ok()?,
        i8::try_from(num(5, 2)?).ok()?,
        i8::try_from(num(8, 2)?).ok()?,
        i8::try_from(num(11, 2)?).ok()?,
        i8::try_from(num(14, 2)?).ok()?,
        i8::try_from(num(17, 2)?).ok()?,
        i32::try_from(num(20, 6)? * 1000).ok()?,
    )
    .ok()
}

/// Splits a stream of lines into records. Incremental, so the follower can
/// feed it what each poll brings.
#[derive(Debug, Default)]
pub struct Splitter {
    current: Option<Record>,
    /// The time continuation lines at the start of a file are given.
    pub carry_time: Option<DateTime>,
}

impl Splitter {
    /// Takes one whole line (with its `\n`); returns the record it closed.
    pub fn push_line(&mut self, line: &[u8]) -> Option<Record> {
        match header_time(line) {
            Some(t) => {
                self.carry_time = Some(t);
                let done = self.current.take();
                self.current = Some(Record {
                    time: Some(t),
                    bytes: line.to_vec(),
                });
                done
            }
            None => {
                match &mut self.current {
                    Some(r) => r.bytes.extend_from_slice(line),
                    None => {
                        self.current = Some(Record {
                            time: None,
                            bytes: line.to_vec(),
                        })
                    }
                }
                None
            }
        }
    }

    /// The record still open (at the end of a file, or of a batch of whole
    /// records the daemon wrote with one write).
    pub fn finish(&mut self) -> Option<Record> {
        let mut r = self.current.take()?;
        if r.time.is_none() {
            // Orphan continuation lines sort with what came before them.
            r.time = self.carry_time;
        }
        Some(r)
    }
}

/// The records of one decoded file, in file order.
pub struct Records<R> {
    input: R,
    splitter: Splitter,
    line: Vec<u8>,
    done: bool,
}

impl<R: BufRead> Records<R> {
    /// Records of `input`; orphan continuation lines at its start get `start`.
    pub fn new(input: R, start: Option<DateTime>) -> Self {
        Records {
            input,
            splitter: Splitter {
                current: None,
                carry_time: start,
            },
            line: Vec::with_capacity(256),
            done: false,
        }
    }
}

impl<R: BufRead> Iterator for Records<R> {
    type Item = io::Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            self.line.clear();
            match self.input.read_until(b'\n', &mut self.line) {
                Ok(0) => {
                    self.done = true;
                    return self.splitter.finish().map(Ok);
                }
                Ok(_) => {
                    if !self.line.ends_with(b"\n") {
                        // A file cut without its last newline: keep the text.
                        self.line.push(b'\n');
                    }
                    if let Some(mut r) = self.splitter.push_line(&self.line) {
                        if r.time.is_none() {
                            r.time = self.splitter.carry_time;
                        }
                        return Some(Ok(r));
                    }
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<Record> {
        Records::new(text.as_bytes(), None)
            .collect::<io::Result<_>>()
            .unwrap()
    }

    #[test]
    fn a_traceback_stays_in_its_record() {
        let text = "2026-11-24 04:11:45.771885 - athens - ERROR - boom\n\
                    Traceback (most recent call last):\n  File \"x.py\"\n\
                    2026-11-24 04:11:46.000001 - sparta - INFO - next\n";
        let rs = all(text);
        assert_eq!(rs.len(), 2);
        assert!(rs[0].bytes.ends_with(b"  File \"x.py\"\n"));
        assert_eq!(rs[0].host(), Some(&b"athens"[..]));
        assert_eq!(rs[1].host(), Some(&b"sparta"[..]));
        assert_eq!(
            rs[1].time.unwrap().to_string(),
            "2026-11-24T04:11:46.000001"
        );
    }

    #[test]
    fn lines_that_only_look_like_a_stamp_are_continuations() {
        for line in [
            "2026-11-24 04:11:45.771885 no separator",
            "2026-11-24 04:11:45.771885 - host without body",
            "2026-13-24 04:11:45.771885 - h - bad month",
            "2026-11-24T04:11:45.771885 - h - iso",
        ] {
            assert_eq!(header_time(line.as_bytes()), None, "{line}");
        }
    }

    #[test]
    fn orphan_lines_at_the_start_take_the_file_start_time() {
        let start = parse_stamp(b"2026-11-24-00-00-00-000123", b'-', b'-', b'-');
        assert!(start.is_some());
        let rs: Vec<Record> = Records::new(&b"tail of something\n"[..], start)
            .collect::<io::Result<_>>()
            .unwrap();
        assert_eq!(rs[0].time, start);
    }
}
