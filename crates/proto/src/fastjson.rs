//! The JSON parser for the one shape clients send: a flat object of strings
//! and integers (other values may appear under keys we do not read).
//!
//! It borrows every string without escapes and walks the payload once. It
//! reads JSON as Python's `json` module does where serde_json would refuse:
//! a duplicate key takes the last value, a lone surrogate escape (`\udce9`,
//! what Python 3 makes of undecodable bytes) becomes U+FFFD, and `NaN` or
//! `Infinity` under an unused key is skipped. Where it is unsure (a used key
//! with a value of another type, `null`, bad syntax) it returns `None` and
//! the caller asks serde_json, which also words the error message.
use std::borrow::Cow;

use crate::message::Wire;

/// Parses `json` if it is a flat object this parser fully understands.
pub(crate) fn parse(json: &[u8]) -> Option<Wire<'_>> {
    let text = std::str::from_utf8(json).ok()?;
    let mut p = Parser {
        text,
        b: text.as_bytes(),
        i: 0,
    };
    let mut w = Wire::default();
    p.ws();
    p.eat(b'{')?;
    p.ws();
    if p.peek()? == b'}' {
        p.i += 1;
    } else {
        loop {
            p.ws();
            let key = p.string()?;
            p.ws();
            p.eat(b':')?;
            p.ws();
            match &*key {
                "version" => set(&mut w.version, p.int()?)?,
                "stamp" => set(&mut w.stamp, p.int()?)?,
                "nsecs" => set(&mut w.nsecs, p.int()?)?,
                "app_id" => set(&mut w.app_id, p.string()?)?,
                "module" => set(&mut w.module, p.string()?)?,
                "hostname" => set(&mut w.hostname, p.string()?)?,
                "body" => set(&mut w.body, p.string()?)?,
                "signature" => set(&mut w.signature, p.string()?)?,
                "mac" => set(&mut w.mac, p.string()?)?,
                "nonce" => set(&mut w.nonce, p.string()?)?,
                "nonce_seq" => set(&mut w.nonce_seq, p.int()?)?,
                "nonce_sig" => set(&mut w.nonce_sig, p.string()?)?,
                _ => p.skip_value(0)?,
            }
            p.ws();
            match p.bump()? {
                b',' => {}
                b'}' => break,
                _ => return None,
            }
        }
    }
    p.ws();
    (p.i == p.b.len()).then_some(w)
}

/// Stores a field; a second value for the same key replaces the first, as
/// in a Python dict (serde would call it a "duplicate field" error).
fn set<T>(slot: &mut Option<T>, v: T) -> Option<()> {
    *slot = Some(v);
    Some(())
}

/// How deeply values under unused keys may nest (serde_json's own limit).
const MAX_DEPTH: usize = 128;

/// The index of the first byte at or after `i` that ends a plain run of
/// string bytes: `"`, `\\` or a control character. memchr finds the quote
/// or backslash with SIMD; the control-character check over the run is a
/// plain loop the compiler vectorises.
fn skip_plain(b: &[u8], i: usize) -> usize {
    let rest = &b[i..];
    let end = memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
    let run = &rest[..end];
    // No early exit, so it vectorises; control characters are rare.
    if run.iter().fold(false, |seen, &c| seen | (c < 0x20)) {
        i + run.iter().position(|&c| c < 0x20).unwrap_or(end)
    } else {
        i + end
    }
}

struct Parser<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.bump()? == c).then_some(())
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.i;
        self.i = skip_plain(self.b, self.i);
        loop {
            match self.bump()? {
                b'"' => return Some(Cow::Borrowed(&self.text[start..self.i - 1])),
                b'\\' => {
                    self.i -= 1;
                    return self.escaped(start).map(Cow::Owned);
                }
                0..=0x1f => return None,
                _ => {}
            }
        }
    }

    /// The rest of a string that has escapes, from `start` (after the quote).
    fn escaped(&mut self, start: usize) -> Option<String> {
        let mut out = String::with_capacity(self.i - start + 16);
        let mut seg = start;
        loop {
            match self.bump()? {
                b'"' => {
                    out.push_str(&self.text[seg..self.i - 1]);
                    return Some(out);
                }
                b'\\' => {
                    out.push_str(&self.text[seg..self.i - 1]);
                    let c = match self.bump()? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return None,
                    };
                    out.push(c);
                    seg = self.i;
                }
                0..=0x1f => return None,
                _ => {}
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.get(self.i..self.i + 4)?;
        if !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        self.i += 4;
        u32::from_str_radix(digits, 16).ok()
    }

    /// After `\u`: one code point, joining a surrogate pair. A surrogate
    /// that is not half of a pair is U+FFFD: Python writes lone surrogates
    /// (`surrogateescape` text) and reads them back, so such a record is
    /// kept with the replacement character rather than dropped.
    fn unicode_escape(&mut self) -> Option<char> {
        let hi = self.hex4()?;
        match hi {
            0xD800..=0xDBFF => {
                if self.b[self.i..].starts_with(b"\\u") {
                    let pair_start = self.i;
                    self.i += 2;
                    if let Some(lo @ 0xDC00..=0xDFFF) = self.hex4() {
                        return char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00));
                    }
                    // Not a low half: the escape after it is read on its own.
                    self.i = pair_start;
                }
                Some(char::REPLACEMENT_CHARACTER)
            }
            0xDC00..=0xDFFF => Some(char::REPLACEMENT_CHARACTER),
            _ => char::from_u32(hi),
        }
    }

    /// An integer in JSON's grammar that fits an i64 and is not followed by
    /// a fraction or exponent.
    fn int(&mut self) -> Option<i64> {
        let neg = self.peek()? == b'-';
        if neg {
            self.i += 1;
        }
        let first = self.i;
        let mut v: i64 = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            let d = i64::from(c - b'0');
            v = v.checked_mul(10)?;
            v = if neg {
                v.checked_sub(d)?
            } else {
                v.checked_add(d)?
            };
            self.i += 1;
        }
        let digits = self.i - first;
        if digits == 0 || (digits > 1 && self.b[first] == b'0') {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = self.peek() {
            return None;
        }
        Some(v)
    }

    /// Skips a number in JSON's full grammar (fraction, exponent, any size).
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let digits = |p: &mut Self| {
            let start = p.i;
            while let Some(b'0'..=b'9') = p.peek() {
                p.i += 1;
            }
            p.i - start
        };
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                digits(self);
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            (digits(self) > 0).then_some(())?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            (digits(self) > 0).then_some(())?;
        }
        Some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.b[self.i..].starts_with(word).then_some(())?;
        self.i += word.len();
        Some(())
    }

    /// Skips the value of a key we do not use: any JSON value, plus the
    /// `NaN`, `Infinity` and `-Infinity` that Python writes for floats.
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'-' if self.b[self.i + 1..].starts_with(b"Infinity") => self.literal(b"-Infinity"),
            b'-' | b'0'..=b'9' => self.number(),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'N' => self.literal(b"NaN"),
            b'I' => self.literal(b"Infinity"),
            b'[' if depth < MAX_DEPTH => {
                self.i += 1;
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.ws();
                    self.skip_value(depth + 1)?;
                    self.ws();
                    match self.bump()? {
                        b',' => {}
                        b']' => return Some(()),
                        _ => return None,
                    }
                }
            }
            b'{' if depth < MAX_DEPTH => {
                self.i += 1;
                self.ws();
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.ws();
                    self.string()?;
                    self.ws();
                    self.eat(b':')?;
                    self.ws();
                    self.skip_value(depth + 1)?;
                    self.ws();
                    match self.bump()? {
                        b',' => {}
                        b'}' => return Some(()),
                        _ => return None,
                    }
                }
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    fn serde_only(json: &[u8]) -> Option<Wire<'_>> {
        serde_json::from_slice(json).ok()
    }

    /// Where serde_json accepts, the parser agrees with it or steps aside;
    /// it may accept more only in the Python ways listed in the module doc.
    fn agrees(json: &[u8]) -> bool {
        match parse(json) {
            Some(fast) => {
                let slow = serde_only(json).unwrap_or_else(|| {
                    panic!(
                        "fast path accepted what serde refuses: {}",
                        String::from_utf8_lossy(json)
                    )
                });
                assert_eq!(fast, slow, "{}", String::from_utf8_lossy(json));
                true
            }
            None => false,
        }
    }

    #[test]
    fn typical_python_payloads_take_the_fast_path() {
        let py = br#"{"version": 1, "app_id": "test-app", "module": "web.requests", "stamp": 1358363502, "nsecs": 12042999, "hostname": "sparta", "body": "INFO - That is one hot jalap\u00f1o! \u2013 Erd\u0151s \ud83d\ude00\nTraceback:\n\t\"x\" \\ \/"}"#;
        assert!(agrees(py));
        let w = parse(py).unwrap();
        assert_eq!(
            w.body.as_deref(),
            Some("INFO - That is one hot jalapño! – Erdős 😀\nTraceback:\n\t\"x\" \\ /")
        );
        assert!(matches!(w.app_id, Some(Cow::Borrowed(_))));
        assert!(agrees(br#"{}"#));
        assert!(agrees(
            br#" {"extra": "x", "flag": true, "n": -5, "off": false, "body": ""} "#
        ));
    }

    #[test]
    fn anything_unusual_steps_aside() {
        for json in [
            &br#"{"stamp": 1.5}"#[..],
            br#"{"stamp": 1e3}"#,
            br#"{"stamp": 01}"#,
            br#"{"stamp": 99999999999999999999}"#,
            br#"{"hostname": null}"#,
            br#"{"body": ["a"]}"#,
            br#"{"body": "\x"}"#,
            br#"{"body": "\ud800\u12"}"#,
            b"{\"body\": \"tab\there\"}",
            br#"{"body": "a",}"#,
            br#"{"body": "a"} x"#,
            br#"{"extra": [1,]}"#,
            br#"{"extra": {"a" 1}}"#,
            br#"{"extra": 1.}"#,
            br#"{"extra": -}"#,
            br#"{"extra": nul}"#,
            br#"[1]"#,
            b"{\"body\": \"\xff\"}",
            br#"{"body": "unterminated"#,
        ] {
            assert!(!agrees(json), "{}", String::from_utf8_lossy(json));
        }
        let deep = format!(r#"{{"extra": {}{}}}"#, "[".repeat(200), "]".repeat(200));
        assert!(parse(deep.as_bytes()).is_none(), "nesting is bounded");
    }

    #[test]
    fn any_value_under_an_unused_key_is_skipped() {
        for json in [
            &br#"{"extra": [1, {"a": [null, 2.5e-3]}, "x"], "body": "b"}"#[..],
            br#"{"extra": {}, "more": [], "n": -0.5E+2, "z": null, "body": "b"}"#,
        ] {
            assert!(agrees(json), "{}", String::from_utf8_lossy(json));
            assert_eq!(parse(json).and_then(|w| w.body).as_deref(), Some("b"));
        }
    }

    #[test]
    fn json_as_python_writes_it() {
        // Duplicate keys: the last value wins, as in a Python dict.
        let w = parse(br#"{"body": "a", "stamp": 1, "body": "b", "stamp": 2}"#).unwrap();
        assert_eq!((w.body.as_deref(), w.stamp), (Some("b"), Some(2)));
        // Lone surrogates (Python 3's surrogateescape for undecodable bytes)
        // become U+FFFD; a real pair still joins.
        for (json, want) in [
            (&br#"{"body": "caf\udce9!"}"#[..], "caf\u{fffd}!"),
            (br#"{"body": "\ud800"}"#, "\u{fffd}"),
            (br#"{"body": "\ud800x"}"#, "\u{fffd}x"),
            (br#"{"body": "\ud800\u0041"}"#, "\u{fffd}A"),
            (br#"{"body": "\ud800\ud800\udc00"}"#, "\u{fffd}\u{10000}"),
            (br#"{"body": "\udc00\ud83d\ude00"}"#, "\u{fffd}\u{1f600}"),
        ] {
            let w = parse(json).unwrap_or_else(|| panic!("{}", String::from_utf8_lossy(json)));
            assert_eq!(
                w.body.as_deref(),
                Some(want),
                "{}",
                String::from_utf8_lossy(json)
            );
        }
        // Python's json.dumps writes NaN and Infinity for such floats.
        let w = parse(br#"{"a": NaN, "b": Infinity, "c": -Infinity, "body": ""}"#).unwrap();
        assert_eq!(w.body.as_deref(), Some(""));
    }

    #[test]
    fn random_messages_agree_with_serde() {
        // A small xorshift so the test is deterministic without a crate.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rnd = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let alphabet = [
            'a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\t', '\u{1}', 'é', '–', '😀', '\u{7f}',
        ];
        let mut fast = 0;
        for _ in 0..5000 {
            let mut s = || -> String {
                (0..rnd(12))
                    .map(|_| alphabet[rnd(alphabet.len() as u64) as usize])
                    .collect()
            };
            let (app, module, host, body, sig) = (s(), s(), s(), s(), s());
            let m = Message {
                version: 1,
                app_id: app.into(),
                module: module.into(),
                stamp: rnd(u64::MAX) as i64,
                nsecs: -(rnd(1_000_000_000) as i64),
                hostname: Some(host.into()),
                body: body.into(),
                signature: Some(sig.into()),
                protection: Default::default(),
            };
            let mut json = Vec::new();
            m.write_json(&mut json);
            // serde_json escapes only what it must; also try Python's
            // ASCII-only style with \u escapes everywhere.
            if agrees(&json) {
                fast += 1;
            }
            let ascii: String = String::from_utf8(json.clone())
                .unwrap()
                .chars()
                .flat_map(|c| {
                    if c.is_ascii() {
                        vec![c.to_string()]
                    } else {
                        let mut buf = [0u16; 2];
                        c.encode_utf16(&mut buf)
                            .iter()
                            .map(|u| format!("\\u{u:04x}"))
                            .collect()
                    }
                })
                .collect();
            assert!(agrees(ascii.as_bytes()));
        }
        assert_eq!(fast, 5000, "every well-formed message takes the fast path");
    }
}
