//! One syslog message, parsed in place: RFC 5424 (`<PRI>1 TIMESTAMP HOST
//! APP PROCID MSGID SD MSG`) and RFC 3164 / BSD with the forms real senders
//! use (no hostname from `/dev/log`, ISO timestamps, no PRI at all).
//!
//! Every field borrows from the input; only a message that is not UTF-8
//! allocates (it is kept with replacement characters). A message after a
//! valid PRI never fails to parse: what is not valid RFC 5424 is read as
//! RFC 3164, and what has no recognisable header is all message.
use std::borrow::Cow;

/// The severity keywords, by severity number (RFC 5424 table 2).
pub const SEVERITIES: [&str; 8] = [
    "EMERG", "ALERT", "CRIT", "ERR", "WARNING", "NOTICE", "INFO", "DEBUG",
];

/// The priority RFC 3164 §4.3.3 assumes when a message has none: user.notice.
pub const DEFAULT_PRI: u8 = 13;

/// Which header the message had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// RFC 5424.
    Rfc5424,
    /// RFC 3164 or anything without a valid RFC 5424 header.
    Rfc3164,
}

/// A parsed message; `None` fields were absent or the nil value `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// The header form.
    pub format: Format,
    /// The priority (facility * 8 + severity); [`DEFAULT_PRI`] if none was sent.
    pub pri: u8,
    /// Whether the message began with a PRI.
    pub had_pri: bool,
    /// HOSTNAME.
    pub hostname: Option<&'a str>,
    /// APP-NAME (5424) or TAG (3164).
    pub app: Option<&'a str>,
    /// PROCID (5424) or the `[pid]` after the TAG (3164).
    pub procid: Option<&'a str>,
    /// MSGID (5424 only).
    pub msgid: Option<&'a str>,
    /// STRUCTURED-DATA as sent, brackets included (5424 only).
    pub sd: Option<&'a str>,
    /// MSG without a BOM and without trailing newlines or NULs.
    pub msg: Cow<'a, str>,
}

impl Record<'_> {
    /// The severity keyword: `EMERG` to `DEBUG`.
    pub fn severity(&self) -> &'static str {
        SEVERITIES[usize::from(self.pri & 7)]
    }

    /// Whether the message was not UTF-8 (it holds replacement characters).
    pub fn was_lossy(&self) -> bool {
        matches!(self.msg, Cow::Owned(_))
    }
}

/// A message refused outright.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// `<` opened a PRI that is not 1-3 digits and `>` or is above 191.
    #[error("invalid priority {shown:?} (want <0> to <191>)")]
    BadPri {
        /// The start of the message, for the log line (at most 8 bytes).
        shown: String,
    },
    /// Nothing but newlines and NULs.
    #[error("empty message")]
    Empty,
}

impl ParseError {
    /// The stable `reason=` of the bad-input log.
    pub fn reason(&self) -> &'static str {
        match self {
            ParseError::BadPri { .. } => "bad_pri",
            ParseError::Empty => "empty_message",
        }
    }
}

/// Parses one message (one datagram, or one message cut from a stream).
pub fn parse(input: &[u8]) -> Result<Record<'_>, ParseError> {
    let input = trim_end(input);
    if input.is_empty() {
        return Err(ParseError::Empty);
    }
    let (pri, had_pri, rest) = match input.first() {
        Some(b'<') => match pri(input) {
            Some((pri, n)) => (pri, true, &input[n..]),
            None => {
                let shown = String::from_utf8_lossy(&input[..input.len().min(8)]).into_owned();
                return Err(ParseError::BadPri { shown });
            }
        },
        _ => (DEFAULT_PRI, false, input),
    };
    if had_pri && let Some(r) = rfc5424(pri, rest) {
        return Ok(r);
    }
    Ok(rfc3164(pri, had_pri, rest))
}

/// Drops what senders put after the message: newlines, NULs (Python's
/// SysLogHandler appends one), carriage returns.
fn trim_end(mut b: &[u8]) -> &[u8] {
    while let Some((&last, head)) = b.split_last() {
        if matches!(last, b'\n' | b'\r' | 0) {
            b = head;
        } else {
            break;
        }
    }
    b
}

/// `<N>` with N of 1-3 digits, at most 191: (pri, bytes taken).
fn pri(b: &[u8]) -> Option<(u8, usize)> {
    let mut value: u32 = 0;
    let mut i = 1;
    while i < b.len() && i <= 4 {
        match b[i] {
            d @ b'0'..=b'9' if i <= 3 => value = value * 10 + u32::from(d - b'0'),
            b'>' if i > 1 => {
                return u8::try_from(value)
                    .ok()
                    .filter(|&v| v <= 191)
                    .map(|v| (v, i + 1));
            }
            _ => return None,
        }
        i += 1;
    }
    None
}

/// Splits at the first space: (token, rest after the space). The token
/// must be 1..=max printable ASCII bytes.
fn field(b: &[u8], max: usize) -> Option<(&str, &[u8])> {
    let end = b.iter().position(|&c| c == b' ').unwrap_or(b.len());
    let tok = &b[..end];
    if tok.is_empty() || tok.len() > max || !tok.iter().all(|c| (33..=126).contains(c)) {
        return None;
    }
    let tok = std::str::from_utf8(tok).ok()?;
    let rest = b.get(end + 1..).unwrap_or(&[]);
    Some((tok, rest))
}

/// The message as text: borrowed when it is UTF-8 (the fast validation
/// first; the lossy conversion only for a message that is not).
fn text(msg: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(msg) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(msg),
    }
}

fn nil(s: &str) -> Option<&str> {
    (s != "-").then_some(s)
}

/// RFC 5424 after the PRI; `None` if the header is not valid 5424.
fn rfc5424(pri: u8, b: &[u8]) -> Option<Record<'_>> {
    let b = b.strip_prefix(b"1 ")?;
    let (ts, b) = field(b, 64)?;
    if ts != "-" && !iso_date(ts.as_bytes()) {
        return None;
    }
    let (hostname, b) = field(b, 255)?;
    let (app, b) = field(b, 48)?;
    let (procid, b) = field(b, 128)?;
    let (msgid, b) = field(b, 32)?;
    let (sd, b) = if let Some(rest) = b.strip_prefix(b"-") {
        (None, rest)
    } else {
        let n = structured_data(b)?;
        (Some(std::str::from_utf8(&b[..n]).ok()?), &b[n..])
    };
    let msg = match b {
        [] => &[][..],
        [b' ', rest @ ..] => rest,
        _ => return None,
    };
    let msg = msg.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(msg);
    Some(Record {
        format: Format::Rfc5424,
        pri,
        had_pri: true,
        hostname: nil(hostname),
        app: nil(app),
        procid: nil(procid),
        msgid: nil(msgid),
        sd,
        msg: text(msg),
    })
}

/// The length of one or more SD-ELEMENTs (`[id k="v" ...]`) at the start
/// of `b`; `None` if there is none or one is not closed. Inside a quoted
/// value `\"`, `\\` and `\]` are escapes.
fn structured_data(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while b.get(i) == Some(&b'[') {
        i += 1;
        let mut quoted = false;
        loop {
            match *b.get(i)? {
                b'\\' if quoted => i += 1,
                b'"' => quoted = !quoted,
                b']' if !quoted => break,
                _ => {}
            }
            i += 1;
        }
        i += 1;
    }
    (i > 0).then_some(i)
}

/// `YYYY-MM-DDT...`: the start of an RFC 3339 timestamp.
fn iso_date(b: &[u8]) -> bool {
    b.len() >= 11
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
        && b[10] == b'T'
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// `Mmm dd hh:mm:ss` (day space-padded or not), optionally with a
/// fraction of a second: the bytes it takes.
fn bsd_timestamp(b: &[u8]) -> Option<usize> {
    if b.len() < 15 || !MONTHS.iter().any(|m| &b[..3] == *m) || b[3] != b' ' {
        return None;
    }
    let day_ok = (b[4] == b' ' || b[4].is_ascii_digit()) && b[5].is_ascii_digit();
    let t = &b[7..15];
    let time_ok = b[6] == b' '
        && t[2] == b':'
        && t[5] == b':'
        && [0, 1, 3, 4, 6, 7].iter().all(|&i| t[i].is_ascii_digit());
    if !(day_ok && time_ok) {
        return None;
    }
    let mut n = 15;
    if b.get(n) == Some(&b'.') {
        n += 1;
        while b.get(n).is_some_and(u8::is_ascii_digit) {
            n += 1;
        }
    }
    Some(n)
}

/// A 3164 TAG at the start of `b`: `name:`, `name[pid]:` or `name[pid]`,
/// followed by a space or the end. Returns (tag, pid, rest of the message).
fn tag(b: &[u8]) -> Option<(&str, Option<&str>, &[u8])> {
    let end = b
        .iter()
        .take(49)
        .position(|&c| matches!(c, b':' | b'[' | b' ') || !(33..=126).contains(&c))?;
    if end == 0 || end > 48 {
        return None;
    }
    let name = std::str::from_utf8(&b[..end]).ok()?;
    let mut i = end;
    let mut pid = None;
    if b[i] == b'[' {
        let close = b[i + 1..].iter().take(129).position(|&c| c == b']')?;
        let p = &b[i + 1..i + 1 + close];
        if p.is_empty() || !p.iter().all(|c| (33..=126).contains(c)) {
            return None;
        }
        pid = Some(std::str::from_utf8(p).ok()?);
        i += close + 2;
        if b.get(i) == Some(&b':') {
            i += 1;
        }
    } else if b[i] == b':' {
        i += 1;
    } else {
        return None;
    }
    match b.get(i) {
        None => Some((name, pid, &[])),
        Some(b' ') => Some((name, pid, &b[i + 1..])),
        _ => None,
    }
}

/// Whether a token after the timestamp is a TAG rather than a HOSTNAME
/// (glibc's syslog() and logger on `/dev/log` send no hostname).
fn looks_like_tag(tok: &str) -> bool {
    tok.ends_with(':') || tok.contains('[')
}

/// RFC 3164 after the (optional) PRI: every part optional, never fails.
fn rfc3164(pri: u8, had_pri: bool, b: &[u8]) -> Record<'_> {
    let mut rest = b;
    let mut hostname = None;
    let stamp = bsd_timestamp(rest).or_else(|| {
        let end = rest.iter().position(|&c| c == b' ')?;
        iso_date(&rest[..end]).then_some(end)
    });
    if let Some(n) = stamp
        && rest.get(n) == Some(&b' ')
    {
        rest = &rest[n + 1..];
        if let Some((tok, after)) = field(rest, 255)
            && !looks_like_tag(tok)
            && !after.is_empty()
        {
            hostname = Some(tok);
            rest = after;
        }
    }
    let (app, procid, msg) = match tag(rest) {
        Some((t, pid, after)) => (Some(t), pid, after),
        None => (None, None, rest),
    };
    Record {
        format: Format::Rfc3164,
        pri,
        had_pri,
        hostname,
        app,
        procid,
        msgid: None,
        sd: None,
        msg: text(msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &[u8]) -> Record<'_> {
        parse(s).unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(s)))
    }

    #[test]
    fn rfc5424_with_structured_data_and_bom() {
        let r = p(b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 \
            [exampleSDID@32473 iut=\"3\" eventSource=\"App\\\"l]\"][x@1 a=\"b\"] \xEF\xBB\xBFAn application event\n");
        assert_eq!(r.format, Format::Rfc5424);
        assert_eq!(r.severity(), "NOTICE");
        assert_eq!(r.hostname, Some("mymachine.example.com"));
        assert_eq!(r.app, Some("evntslog"));
        assert_eq!(r.procid, None);
        assert_eq!(r.msgid, Some("ID47"));
        assert_eq!(
            r.sd,
            Some("[exampleSDID@32473 iut=\"3\" eventSource=\"App\\\"l]\"][x@1 a=\"b\"]")
        );
        assert_eq!(r.msg, "An application event");
        assert!(matches!(r.msg, Cow::Borrowed(_)));
    }

    #[test]
    fn rfc5424_all_nil_and_no_message() {
        let r = p(b"<0>1 - - - - - -");
        assert_eq!(r.format, Format::Rfc5424);
        assert_eq!(r.severity(), "EMERG");
        assert_eq!(
            (r.hostname, r.app, r.procid, r.msgid, r.sd),
            (None, None, None, None, None)
        );
        assert_eq!(r.msg, "");
    }

    #[test]
    fn rfc5424_as_logger_sends_it() {
        let r = p(b"<13>1 2026-11-30T05:01:02.123456+00:00 athens myapp 4242 - [timeQuality tzKnown=\"1\" isSynced=\"0\"] hello");
        assert_eq!(r.hostname, Some("athens"));
        assert_eq!(r.app, Some("myapp"));
        assert_eq!(r.procid, Some("4242"));
        assert_eq!(r.msg, "hello");
    }

    #[test]
    fn bad_5424_header_falls_back_to_3164_and_keeps_everything() {
        let r = p(b"<14>1 not a timestamp");
        assert_eq!(r.format, Format::Rfc3164);
        assert_eq!(r.msg, "1 not a timestamp");
        // An unclosed SD element.
        let r = p(b"<14>1 - h a - - [x a=\"]");
        assert_eq!(r.format, Format::Rfc3164);
        assert_eq!(r.msg, "1 - h a - - [x a=\"]");
    }

    #[test]
    fn rfc3164_with_hostname_and_pid() {
        let r = p(
            b"<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed for lonvick on /dev/pts/8",
        );
        assert_eq!(r.format, Format::Rfc3164);
        assert_eq!(r.severity(), "CRIT");
        assert_eq!(r.hostname, Some("mymachine"));
        assert_eq!(r.app, Some("su"));
        assert_eq!(r.procid, Some("123"));
        assert_eq!(r.msg, "'su root' failed for lonvick on /dev/pts/8");
    }

    #[test]
    fn rfc3164_from_dev_log_has_no_hostname() {
        let r = p(b"<30>Nov  5 05:01:02 cron[77]: job done\n");
        assert_eq!(r.hostname, None);
        assert_eq!(r.app, Some("cron"));
        assert_eq!(r.procid, Some("77"));
        assert_eq!(r.msg, "job done");
        let r = p(b"<13>Nov 30 05:01:02 root: plain tag");
        assert_eq!((r.hostname, r.app, r.procid), (None, Some("root"), None));
        assert_eq!(r.msg, "plain tag");
    }

    #[test]
    fn rfc3164_with_iso_timestamp() {
        let r = p(b"<86>2026-11-30T05:01:02.5+01:00 web1 sshd[9]: Accepted key");
        assert_eq!(r.hostname, Some("web1"));
        assert_eq!(r.app, Some("sshd"));
        assert_eq!(r.msg, "Accepted key");
    }

    #[test]
    fn python_sysloghandler_form() {
        let r = p(b"<11>pyapp: something broke\x00");
        assert_eq!(r.severity(), "ERR");
        assert_eq!((r.hostname, r.app), (None, Some("pyapp")));
        assert_eq!(r.msg, "something broke");
        // No tag at all: all message, no app.
        let r = p(b"<14>just a message");
        assert_eq!(r.app, None);
        assert_eq!(r.msg, "just a message");
    }

    #[test]
    fn missing_pri_is_user_notice() {
        let r = p(b"Nov 30 05:01:02 host app: hi");
        assert!(!r.had_pri);
        assert_eq!(r.pri, DEFAULT_PRI);
        assert_eq!(r.severity(), "NOTICE");
        assert_eq!((r.hostname, r.app), (Some("host"), Some("app")));
        // A leading `1 ` without PRI is not 5424.
        assert_eq!(p(b"1 - - - - - - x").format, Format::Rfc3164);
    }

    #[test]
    fn bad_pri_is_refused() {
        for bad in [
            &b"<192>x"[..],
            b"<>x",
            b"<1234>x",
            b"<a>x",
            b"<13",
            b"<-1>x",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.reason(), "bad_pri", "{bad:?}");
        }
        assert_eq!(p(b"<191>x").pri, 191);
        assert_eq!(p(b"<007>x").pri, 7);
        assert_eq!(parse(b"\n\0\r\n").unwrap_err(), ParseError::Empty);
    }

    #[test]
    fn invalid_utf8_is_kept_with_replacement_characters() {
        let r = p(b"<14>app: caf\xE9 ok");
        assert!(r.was_lossy());
        assert_eq!(r.msg, "caf\u{FFFD} ok");
    }

    #[test]
    fn multi_line_messages_stay_whole() {
        let r = p(b"<14>app: Traceback:\n  line 1\n  line 2\n");
        assert_eq!(r.msg, "Traceback:\n  line 1\n  line 2");
    }

    #[test]
    fn a_word_then_a_colon_later_is_not_a_tag() {
        let r = p(b"<14>hello world: not a tag");
        assert_eq!(r.app, None);
        assert_eq!(r.msg, "hello world: not a tag");
    }
}
