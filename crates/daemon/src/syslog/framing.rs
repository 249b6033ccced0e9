//! Syslog over a stream (RFC 6587): octet-counted (`LEN SP MSG`) and
//! newline-delimited messages, told apart per message by the first byte
//! (a non-zero digit followed by digits and a space is a count). A NUL
//! ends a line too: Python's SysLogHandler ends each message with one and
//! sends no newline.
//!
//! Like the frame decoder, nothing over `max` is ever buffered: an
//! announced length over the limit is skipped as its bytes arrive, and a
//! line that grows past the limit without a newline is cut there and the
//! rest of it skipped up to the next newline, so a peer sending forever
//! without a newline costs a bounded buffer.

/// The longest octet count accepted: 10 digits are more than any limit.
const MAX_COUNT_DIGITS: usize = 10;

/// The outcome of one [`StreamDecoder::decode`] call.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'b> {
    /// A whole message (without its count or newline).
    Message {
        /// The message bytes.
        msg: &'b [u8],
        /// Bytes to drop from the front of the buffer.
        consumed: usize,
    },
    /// No whole message yet; `consumed` bytes (separators, or a refused
    /// message being skipped) may be dropped.
    NeedMore {
        /// Bytes to drop from the front of the buffer.
        consumed: usize,
    },
    /// The message at the front is over the limit: it is dropped (what
    /// arrives of it later is skipped).
    TooLarge {
        /// Its announced length, or how far the line had grown.
        len: u64,
        /// Bytes to drop from the front of the buffer.
        consumed: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    No,
    /// This many bytes of an oversized octet-counted message.
    Bytes(u64),
    /// The rest of an oversized line, up to and including its newline.
    Line,
}

/// Incremental decoder for one stream connection.
#[derive(Debug, Clone)]
pub struct StreamDecoder {
    max: usize,
    skip: Skip,
    /// Bytes the message at the front needs in all (0: unknown).
    want: usize,
    delim: Delim,
}

/// What ends a line on this connection, decided at its first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delim {
    Unknown,
    Newline,
    /// Python's SysLogHandler: NUL after each message, newlines inside.
    Nul,
}

impl Delim {
    fn byte(self) -> u8 {
        if self == Delim::Nul { 0 } else { b'\n' }
    }
}

impl StreamDecoder {
    /// A decoder refusing messages longer than `max` bytes.
    pub fn new(max: usize) -> StreamDecoder {
        StreamDecoder {
            max,
            skip: Skip::No,
            want: 0,
            delim: Delim::Unknown,
        }
    }

    /// Whether a message was started and not finished (for a disconnect).
    pub fn is_skipping(&self) -> bool {
        self.skip != Skip::No
    }

    /// How many bytes the buffer should be able to hold for the message at
    /// its front: the whole octet-counted message, else 0.
    pub fn wanted(&self) -> usize {
        self.want
    }

    /// Decodes the message at the front of `buf`.
    pub fn decode<'b>(&mut self, buf: &'b [u8]) -> Decoded<'b> {
        let mut pos = 0;
        match self.skip {
            Skip::No => {}
            Skip::Bytes(n) => {
                let take = n.min(buf.len() as u64);
                self.skip = if take == n {
                    Skip::No
                } else {
                    Skip::Bytes(n - take)
                };
                if self.skip != Skip::No {
                    return Decoded::NeedMore {
                        consumed: buf.len(),
                    };
                }
                pos = take as usize;
            }
            Skip::Line => match memchr::memchr(self.delim.byte(), buf) {
                Some(i) => {
                    self.skip = Skip::No;
                    pos = i + 1;
                }
                None => {
                    return Decoded::NeedMore {
                        consumed: buf.len(),
                    };
                }
            },
        }
        // Separators between messages: empty lines, and the NUL some
        // senders put after each message.
        while pos < buf.len() && matches!(buf[pos], b'\n' | b'\r' | 0) {
            pos += 1;
        }
        let rest = &buf[pos..];
        self.want = 0;
        if rest.is_empty() {
            return Decoded::NeedMore { consumed: pos };
        }
        match octet_count(rest) {
            Count::Yes { len, header } => {
                if len > self.max as u64 {
                    let have = (rest.len() - header) as u64;
                    let take = have.min(len);
                    if take < len {
                        self.skip = Skip::Bytes(len - take);
                    }
                    return Decoded::TooLarge {
                        len,
                        consumed: pos + header + take as usize,
                    };
                }
                let end = header + len as usize;
                if rest.len() >= end {
                    return Decoded::Message {
                        msg: &rest[header..end],
                        consumed: pos + end,
                    };
                }
                self.want = end;
                Decoded::NeedMore { consumed: pos }
            }
            Count::Unknown => Decoded::NeedMore { consumed: pos },
            Count::No => match self.line_end(rest) {
                Some(i) if i > self.max => Decoded::TooLarge {
                    len: i as u64,
                    consumed: pos + i + 1,
                },
                Some(i) => {
                    let line = &rest[..i];
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    Decoded::Message {
                        msg: line,
                        consumed: pos + i + 1,
                    }
                }
                None if rest.len() > self.max => {
                    self.skip = Skip::Line;
                    Decoded::TooLarge {
                        len: rest.len() as u64,
                        consumed: buf.len(),
                    }
                }
                None => Decoded::NeedMore { consumed: pos },
            },
        }
    }
}

impl StreamDecoder {
    /// Where the line at the front of `rest` ends (its delimiter), or
    /// `None` to wait for more. The first line decides the delimiter: a NUL
    /// before the first newline, or a NUL ending the line after it when
    /// that line does not start a new message (`<` or an octet count),
    /// means NUL-ended messages (newlines are then part of them: multi-line
    /// records); else newlines.
    fn line_end(&mut self, rest: &[u8]) -> Option<usize> {
        match self.delim {
            Delim::Newline => memchr::memchr(b'\n', rest),
            Delim::Nul => memchr::memchr(0, rest),
            Delim::Unknown => {
                let i = memchr::memchr2(b'\n', 0, rest)?;
                if rest[i] == 0 {
                    self.delim = Delim::Nul;
                    return Some(i);
                }
                let after = &rest[i + 1..];
                // A new message right after the newline: newline framing.
                if after.is_empty() || matches!(after[0], b'<' | b'1'..=b'9') {
                    self.delim = Delim::Newline;
                    return Some(i);
                }
                match memchr::memchr2(b'\n', 0, after) {
                    Some(j) if after[j] == 0 => {
                        self.delim = Delim::Nul;
                        Some(i + 1 + j)
                    }
                    None if !after.is_empty() => None,
                    _ => {
                        self.delim = Delim::Newline;
                        Some(i)
                    }
                }
            }
        }
    }
}

/// What is left in the buffer when the peer closes the connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Finish<'b> {
    /// Nothing but separators (or the rest of a refused message).
    Nothing,
    /// A last line without its newline: a whole message.
    Message(&'b [u8]),
    /// An octet-counted message cut short: this many bytes of it lost.
    Partial(usize),
}

impl StreamDecoder {
    /// At end of stream: what the undecoded `buf` holds (after `decode`
    /// returned `NeedMore`).
    pub fn finish<'b>(&self, buf: &'b [u8]) -> Finish<'b> {
        if self.skip != Skip::No {
            return Finish::Nothing;
        }
        let start = buf
            .iter()
            .position(|&c| !matches!(c, b'\n' | b'\r' | 0))
            .unwrap_or(buf.len());
        let rest = &buf[start..];
        if rest.is_empty() {
            Finish::Nothing
        } else if self.want > 0 || matches!(octet_count(rest), Count::Unknown) {
            Finish::Partial(rest.len())
        } else {
            Finish::Message(rest)
        }
    }
}

enum Count {
    /// `LEN SP`: the message length and the header's length.
    Yes { len: u64, header: usize },
    /// Digits so far, and the buffer ends: wait.
    Unknown,
    /// Not a count: a newline-delimited message.
    No,
}

fn octet_count(b: &[u8]) -> Count {
    if !matches!(b[0], b'1'..=b'9') {
        return Count::No;
    }
    let mut len: u64 = 0;
    for (i, &c) in b.iter().enumerate().take(MAX_COUNT_DIGITS + 1) {
        match c {
            b'0'..=b'9' if i < MAX_COUNT_DIGITS => len = len * 10 + u64::from(c - b'0'),
            b' ' => return Count::Yes { len, header: i + 1 },
            _ => return Count::No,
        }
    }
    if b.len() <= MAX_COUNT_DIGITS {
        Count::Unknown
    } else {
        Count::No
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes, like a socket would;
    /// returns the messages and the number of TooLarge.
    fn run(max: usize, input: &[u8], step: usize) -> (Vec<String>, usize) {
        let mut d = StreamDecoder::new(max);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        let mut large = 0;
        for chunk in input.chunks(step.max(1)) {
            buf.extend_from_slice(chunk);
            loop {
                match d.decode(&buf) {
                    Decoded::Message { msg, consumed } => {
                        out.push(String::from_utf8_lossy(msg).into_owned());
                        buf.drain(..consumed);
                    }
                    Decoded::TooLarge { consumed, .. } => {
                        large += 1;
                        buf.drain(..consumed);
                    }
                    Decoded::NeedMore { consumed } => {
                        buf.drain(..consumed);
                        break;
                    }
                }
            }
            assert!(
                buf.len() <= max + MAX_COUNT_DIGITS + 2 + step,
                "{}",
                buf.len()
            );
        }
        (out, large)
    }

    #[test]
    fn both_framings_mixed_on_one_stream() {
        let input = b"<13>a line\n11 <13>counted<13>b line\r\n\n\x0015 <13>multi\nline\0";
        for step in [1, 2, 3, 7, 100] {
            let (msgs, large) = run(1000, input, step);
            assert_eq!(large, 0);
            assert_eq!(
                msgs,
                [
                    "<13>a line",
                    "<13>counted",
                    "<13>b line",
                    "<13>multi\nline\0"
                ],
                "step {step}"
            );
        }
    }

    #[test]
    fn digits_without_a_space_start_a_line() {
        let (msgs, _) = run(100, b"2026-11-30 no pri\n12345678901 x\n", 4);
        assert_eq!(msgs, ["2026-11-30 no pri", "12345678901 x"]);
    }

    #[test]
    fn an_oversized_count_is_skipped_and_the_stream_goes_on() {
        let mut input = b"20 ".to_vec();
        input.extend_from_slice(&[b'x'; 20]);
        input.extend_from_slice(b"4 <1>a<2>b\n");
        for step in [1, 5, 100] {
            let (msgs, large) = run(10, &input, step);
            assert_eq!(large, 1);
            assert_eq!(msgs, ["<1>a", "<2>b"], "step {step}");
        }
    }

    #[test]
    fn a_line_without_newline_is_cut_and_skipped_to_the_next_newline() {
        let mut input = vec![b'y'; 5000];
        input.extend_from_slice(b"\n<3>after\n");
        for step in [1, 64, 10_000] {
            let (msgs, large) = run(100, &input, step);
            assert_eq!(large, 1, "step {step}");
            assert_eq!(msgs, ["<3>after"]);
        }
    }

    #[test]
    fn nul_ends_a_line_as_python_sends_it() {
        let (msgs, _) = run(100, b"<14>a: one\x00<14>a: two\x00", 3);
        assert_eq!(msgs, ["<14>a: one", "<14>a: two"]);
        // Multi-line records stay whole once NUL-ended messages are seen.
        let input = b"<11>a: Traceback\n  line 1\x00<11>a: two\nlines\x00";
        for step in [3, 100] {
            let (msgs, _) = run(100, input, step);
            assert_eq!(
                msgs,
                ["<11>a: Traceback\n  line 1", "<11>a: two\nlines"],
                "step {step}"
            );
        }
    }

    #[test]
    fn at_end_of_stream_a_last_line_is_whole_and_a_short_count_is_partial() {
        let mut d = StreamDecoder::new(100);
        assert_eq!(d.decode(b"\n<1>last"), Decoded::NeedMore { consumed: 1 });
        assert_eq!(d.finish(b"<1>last"), Finish::Message(b"<1>last"));
        assert_eq!(d.decode(b"10 <1>ab"), Decoded::NeedMore { consumed: 0 });
        assert_eq!(d.finish(b"10 <1>ab"), Finish::Partial(8));
        assert_eq!(d.finish(b"\n\0"), Finish::Nothing);
    }

    #[test]
    fn an_incomplete_count_waits() {
        let mut d = StreamDecoder::new(100);
        assert_eq!(d.decode(b"12"), Decoded::NeedMore { consumed: 0 });
        assert_eq!(d.decode(b"12 <1>"), Decoded::NeedMore { consumed: 0 });
        assert_eq!(d.wanted(), 15);
    }
}
