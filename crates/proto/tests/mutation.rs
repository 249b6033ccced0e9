//! Mutation fuzzing of the decoders as property tests: the frame decoder,
//! payload inflate and the JSON message parser get arbitrary bytes and
//! mutated valid input. None may panic or allocate past its limit, valid
//! input must round-trip, and cutting a stream anywhere must not change what
//! it decodes to. Case counts stay modest so this runs in the normal suite.
use loghog_proto::{
    Decode, FLAG_ZLIB, FrameDecoder, FrameError, HEADER_LEN, Message, PayloadError, RawFrame,
    compress_payload, decode_datagram, encode_frame, open_payload,
};
use proptest::prelude::*;

/// One edit of a byte string; positions are taken modulo its length.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    Truncate(usize),
    Repeat(usize, usize),
}

/// Bytes that matter to the decoders: JSON syntax, escapes, UTF-8 lead and
/// continuation bytes, and pieces of frame headers.
fn interesting() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 1..8),
        prop::sample::select(vec![
            &b"\""[..],
            b"\\",
            b"{",
            b"}",
            b"[",
            b"]",
            b",",
            b":",
            b"\\u",
            b"\\ud800",
            b"\\udce9",
            b"\\u0000",
            b"null",
            b"1e999",
            b"-",
            b"\"body\": ",
            b"\"stamp\": 1, ",
            b"\xc3",
            b"\xff",
            b"\0",
            b"\x7f\xff\xff\xff",
            b"\0\0\0\x01",
        ])
        .prop_map(<[u8]>::to_vec),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<usize>(), interesting()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 1..16usize).prop_map(|(i, n)| Mutation::Remove(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1..16usize).prop_map(|(i, n)| Mutation::Repeat(i, n)),
    ]
}

fn apply(data: &mut Vec<u8>, mutations: &[Mutation]) {
    for m in mutations {
        let len = data.len();
        let at = |i: usize| if len == 0 { 0 } else { i % len };
        match m {
            Mutation::Flip(i, x) if len > 0 => data[at(*i)] ^= x,
            Mutation::Flip(..) => {}
            Mutation::Insert(i, bytes) => {
                let i = if len == 0 { 0 } else { i % (len + 1) };
                data.splice(i..i, bytes.iter().copied());
            }
            Mutation::Remove(i, n) => {
                let i = at(*i);
                let end = (i + n).min(len);
                data.drain(i..end);
            }
            Mutation::Truncate(i) => data.truncate(at(*i)),
            Mutation::Repeat(i, n) => {
                let i = at(*i);
                let end = (i + n).min(len);
                let copy = data[i..end].to_vec();
                data.splice(end..end, copy);
            }
        }
    }
}

/// What a stream decodes to, independent of how it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Frame { flags: u32, payload: Vec<u8> },
    Rejected(String),
}

/// Feeds `chunks` to a decoder the way a connection does: append, decode
/// until it needs more, drop what it consumed. Checks on the way that the
/// decoder never asks for more than a header plus the limit.
fn decode_stream(max: usize, chunks: &[&[u8]]) -> Vec<Event> {
    let mut dec = FrameDecoder::new(max);
    let mut buf: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            assert!(dec.wanted(&buf) <= HEADER_LEN + max, "wants past the limit");
            match dec.decode(&buf) {
                Decode::Frame { frame, consumed } => {
                    assert!(frame.payload.len() <= max);
                    assert!(consumed <= buf.len());
                    events.push(Event::Frame {
                        flags: frame.flags,
                        payload: frame.payload.to_vec(),
                    });
                    buf.drain(..consumed);
                }
                Decode::NeedMore { consumed } => {
                    assert!(consumed <= buf.len());
                    buf.drain(..consumed);
                    break;
                }
                Decode::Rejected { error, consumed } => {
                    assert!(consumed <= buf.len() && consumed >= HEADER_LEN);
                    events.push(Event::Rejected(error.to_string()));
                    buf.drain(..consumed);
                }
            }
        }
        // What is held between reads is less than one whole frame: an
        // oversized frame is never buffered.
        assert!(
            buf.len() < HEADER_LEN + max,
            "holds {} bytes with a limit of {max}",
            buf.len()
        );
    }
    events
}

/// Splits `data` at the given points (taken modulo its length, sorted).
fn split_at_points<'a>(data: &'a [u8], points: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = points.iter().map(|p| p % (data.len() + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for c in cuts {
        out.push(&data[start..c]);
        start = c;
    }
    out.push(&data[start..]);
    out
}

const MAX: usize = 64;

/// Frames with payloads up to twice the limit (so some are refused) and
/// any flags.
fn frames() -> impl Strategy<Value = Vec<(u32, Vec<u8>)>> {
    prop::collection::vec(
        (
            prop_oneof![Just(0u32), Just(FLAG_ZLIB), any::<u32>()],
            prop::collection::vec(any::<u8>(), 0..MAX * 2),
        ),
        0..8,
    )
}

fn encode_all(frames: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (flags, payload) in frames {
        encode_frame(payload, *flags, &mut out);
    }
    out
}

fn expected(frames: &[(u32, Vec<u8>)]) -> Vec<Event> {
    frames
        .iter()
        .map(|(flags, payload)| {
            if payload.len() <= MAX {
                Event::Frame {
                    flags: *flags,
                    payload: payload.clone(),
                }
            } else {
                Event::Rejected(
                    FrameError::TooLarge {
                        len: payload.len() as u64,
                        max: MAX,
                    }
                    .to_string(),
                )
            }
        })
        .collect()
}

/// A message with any strings (all of Unicode, control characters,
/// quotes, backslashes) and any integers.
fn message() -> impl Strategy<Value = Message<'static>> {
    let text = || any::<String>();
    (
        (text(), text(), any::<i64>(), any::<i64>()),
        (
            prop::option::of(text()),
            text(),
            prop::option::of("[0-9a-f]{32}"),
        ),
    )
        .prop_map(
            |((app, module, stamp, nsecs), (hostname, body, signature))| Message {
                version: 1,
                app_id: app.into(),
                module: module.into(),
                stamp,
                nsecs,
                hostname: hostname.map(Into::into),
                body: body.into(),
                signature: signature.map(Into::into),
                protection: Default::default(),
            },
        )
}

/// The same JSON as Python's json.dumps writes it: ASCII only, everything
/// else as `\uXXXX` (surrogate pairs above the BMP).
fn python_style(json: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(json).expect("serde writes UTF-8");
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out.into_bytes()
}

/// 256 cases per property in the normal run; `PROPTEST_CASES` overrides.
fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 256;
    }
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic_the_frame_decoder(
        data in prop::collection::vec(any::<u8>(), 0..512),
        points in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        decode_stream(MAX, &split_at_points(&data, &points));
        let _ = decode_datagram(&data, MAX);
    }

    #[test]
    fn valid_frames_round_trip_however_the_stream_is_cut(
        frames in frames(),
        points in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let stream = encode_all(&frames);
        let want = expected(&frames);
        prop_assert_eq!(&decode_stream(MAX, &[&stream]), &want);
        prop_assert_eq!(&decode_stream(MAX, &split_at_points(&stream, &points)), &want);
        // One byte at a time is the worst cut of all.
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        prop_assert_eq!(&decode_stream(MAX, &bytes), &want);
    }

    #[test]
    fn mutated_frame_streams_decode_the_same_however_cut(
        frames in frames(),
        mutations in prop::collection::vec(mutation(), 1..6),
        points in prop::collection::vec(any::<usize>(), 1..6),
    ) {
        let mut stream = encode_all(&frames);
        apply(&mut stream, &mutations);
        let whole = decode_stream(MAX, &[&stream]);
        prop_assert_eq!(&decode_stream(MAX, &split_at_points(&stream, &points)), &whole);
    }

    #[test]
    fn datagrams_round_trip_and_mutations_are_errors_or_bounded(
        payload in prop::collection::vec(any::<u8>(), 0..MAX),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut datagram = Vec::new();
        encode_frame(&payload, 0, &mut datagram);
        prop_assert_eq!(decode_datagram(&datagram, MAX).map(|f| f.payload), Ok(&payload[..]));
        apply(&mut datagram, &mutations);
        if let Ok(frame) = decode_datagram(&datagram, MAX) {
            prop_assert!(frame.payload.len() <= MAX);
            prop_assert_eq!(frame.payload.len() + HEADER_LEN, datagram.len());
        }
    }

    #[test]
    fn zlib_payloads_round_trip_and_corruption_is_an_error(
        json in prop::collection::vec(any::<u8>(), 0..2048),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let max = 1024;
        let z = compress_payload(&json);
        let frame = RawFrame { flags: FLAG_ZLIB, payload: &z };
        let mut scratch = Vec::new();
        match open_payload(&frame, max, &mut scratch) {
            Ok(out) => prop_assert_eq!(out, &json[..]),
            Err(e) => {
                prop_assert!(json.len() > max, "{e} for {} bytes", json.len());
                prop_assert_eq!(e, PayloadError::InflateTooLarge { max });
            }
        }
        prop_assert!(scratch.capacity() <= 2 * (max + 1) + 256, "{}", scratch.capacity());

        let mut bad = z.clone();
        apply(&mut bad, &mutations);
        let frame = RawFrame { flags: FLAG_ZLIB, payload: &bad };
        let mut scratch = Vec::new();
        if let Ok(out) = open_payload(&frame, max, &mut scratch) {
            prop_assert!(out.len() <= max);
        }
        prop_assert!(scratch.capacity() <= 2 * (max + 1) + 256, "{}", scratch.capacity());
    }

    #[test]
    fn arbitrary_bytes_as_zlib_are_an_error_not_a_panic(
        data in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let frame = RawFrame { flags: FLAG_ZLIB, payload: &data };
        let mut scratch = Vec::new();
        if let Ok(out) = open_payload(&frame, 256, &mut scratch) {
            prop_assert!(out.len() <= 256);
        }
    }

    #[test]
    fn small_bombs_stop_at_the_limit(byte in any::<u8>(), len in 2049usize..200_000) {
        let z = compress_payload(&vec![byte; len]);
        let frame = RawFrame { flags: FLAG_ZLIB, payload: &z };
        let mut scratch = Vec::new();
        prop_assert_eq!(
            open_payload(&frame, 2048, &mut scratch),
            Err(PayloadError::InflateTooLarge { max: 2048 })
        );
        prop_assert!(scratch.capacity() <= 2 * 2049 + 256, "{}", scratch.capacity());
    }

    #[test]
    fn valid_messages_round_trip_their_fields(m in message()) {
        let mut json = Vec::new();
        m.write_json(&mut json);
        prop_assert_eq!(&Message::parse(&json).expect("own JSON parses"), &m);
        let ascii = python_style(&json);
        prop_assert_eq!(&Message::parse(&ascii).expect("Python-style JSON parses"), &m);
    }

    #[test]
    fn mutated_messages_never_panic(
        m in message(),
        python in any::<bool>(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut json = Vec::new();
        m.write_json(&mut json);
        if python {
            json = python_style(&json);
        }
        apply(&mut json, &mutations);
        if let Ok(parsed) = Message::parse(&json) {
            // Whatever is accepted is a complete, version-1 message.
            prop_assert_eq!(parsed.version, 1);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_message_parser(
        data in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let _ = Message::parse(&data);
    }
}
