//! Mutation fuzzing of the syslog decoders as property tests: the message
//! parser takes arbitrary and mutated messages without panicking, recovers
//! generated RFC 5424 fields exactly and never loses the message text; the
//! stream decoder gives back the same messages however the stream is cut
//! into reads, and stays bounded on mutated streams.
use loghog_daemon::syslog::framing::{Decoded, StreamDecoder};
use loghog_daemon::syslog::parse::{Format, parse};
use proptest::prelude::*;

/// Messages real senders produce, to be mutated.
const SEEDS: &[&[u8]] = &[
    b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"App\"] \xEF\xBB\xBFAn application event",
    b"<13>1 2026-11-30T05:04:00.846407+00:00 vm myapp - - [timeQuality tzKnown=\"1\" isSynced=\"0\"] hello udp",
    b"<0>1 - - - - - -",
    b"<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed for lonvick on /dev/pts/8",
    b"<13>Nov 30 05:04:00 myapp: hello unix",
    b"<30>Nov  5 05:01:02 cron[77]: job done\n",
    b"<86>2026-11-30T05:01:02.5+01:00 web1 sshd[9]: Accepted key",
    b"<11>pyapp: Traceback\n  line 1\x00",
    b"Nov 30 05:01:02 host app: no pri",
    b"<14>just words",
];

/// A seed with a few bytes flipped, inserted, removed, or cut off.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(SEEDS),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..4u8), 0..6),
        any::<prop::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(|(seed, edits, cut, do_cut)| {
            let mut m = seed.to_vec();
            for (at, byte, op) in edits {
                if m.is_empty() {
                    m.push(byte);
                    continue;
                }
                let i = at.index(m.len());
                match op {
                    0 => m[i] = byte,
                    1 => m.insert(i, byte),
                    2 => {
                        m.remove(i);
                    }
                    _ => {
                        let set = b" <>[]:\"\\-0123456789\n\0";
                        m[i] = set[usize::from(byte) % set.len()];
                    }
                }
            }
            if do_cut && !m.is_empty() {
                m.truncate(cut.index(m.len()));
            }
            m
        })
}

fn header_token() -> impl Strategy<Value = String> {
    prop_oneof![Just("-".to_owned()), "[!-~&&[^ ]]{1,20}"]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn mutated_messages_never_panic_and_keep_their_text(m in mutated()) {
        if let Ok(r) = parse(&m) {
            prop_assert!(r.pri <= 191);
            let sev = r.severity();
            prop_assert!(["EMERG", "ALERT", "CRIT", "ERR", "WARNING", "NOTICE", "INFO", "DEBUG"].contains(&sev));
            // Nothing the sender wrote as message text is lost: for a
            // UTF-8 message read as 3164 the text is the input's tail.
            if r.format == Format::Rfc3164 && !r.was_lossy() {
                let text = String::from_utf8_lossy(&m);
                let text = text.trim_end_matches(['\n', '\r', '\0']);
                prop_assert!(text.ends_with(&*r.msg), "{:?} lost from {:?}", r.msg, text);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(m in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse(&m);
        let mut with_pri = b"<13>".to_vec();
        with_pri.extend_from_slice(&m);
        // After a valid PRI only an empty message is refused.
        match parse(&with_pri) {
            Ok(_) => {}
            Err(e) => prop_assert_eq!(e.reason(), "empty_message"),
        }
    }

    #[test]
    fn generated_rfc5424_fields_come_back_exactly(
        pri in 0u8..=191,
        host in header_token(),
        app in prop_oneof![Just("-".to_owned()), "[a-z][a-z0-9_.-]{0,20}"],
        procid in header_token(),
        msgid in prop_oneof![Just("-".to_owned()), "[A-Za-z0-9]{1,32}"],
        sd in prop_oneof![Just("-".to_owned()), "\\[[a-z]{1,8}@1( [a-z]{1,5}=\"([^\"\\\\\\]]|\\\\[\"\\\\\\]]){0,10}\")*\\]"],
        msg in "[^\n\r\0]{0,80}",
    ) {
        let line = format!("<{pri}>1 2026-11-30T05:00:00Z {host} {app} {procid} {msgid} {sd} {msg}");
        let r = parse(line.as_bytes()).unwrap();
        prop_assert_eq!(r.format, Format::Rfc5424);
        prop_assert_eq!(r.pri, pri);
        let nil = |s: &str| (s != "-").then(|| s.to_owned());
        prop_assert_eq!(r.hostname.map(str::to_owned), nil(&host));
        prop_assert_eq!(r.app.map(str::to_owned), nil(&app));
        prop_assert_eq!(r.procid.map(str::to_owned), nil(&procid));
        prop_assert_eq!(r.msgid.map(str::to_owned), nil(&msgid));
        prop_assert_eq!(r.sd.map(str::to_owned), nil(&sd));
        prop_assert_eq!(&*r.msg, msg.strip_prefix('\u{feff}').unwrap_or(&msg));
    }

    #[test]
    fn a_stream_decodes_the_same_however_it_is_cut(
        msgs in prop::collection::vec(("<[0-9]{1,2}>[ -~]{0,60}", any::<bool>()), 1..20),
        cuts in prop::collection::vec(1usize..50, 1..40),
    ) {
        let mut stream = Vec::new();
        for (m, counted) in &msgs {
            if *counted {
                stream.extend_from_slice(format!("{} {m}", m.len()).as_bytes());
            } else {
                stream.extend_from_slice(m.as_bytes());
                stream.push(b'\n');
            }
        }
        let got = decode_in_pieces(&stream, &cuts, 1000);
        let want: Vec<Vec<u8>> = msgs.iter().map(|(m, _)| m.as_bytes().to_vec()).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn mutated_streams_stay_bounded(
        parts in prop::collection::vec(mutated(), 1..10),
        cuts in prop::collection::vec(1usize..64, 1..40),
    ) {
        let mut stream = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            if i % 2 == 0 {
                stream.extend_from_slice(format!("{} ", p.len()).as_bytes());
                stream.extend_from_slice(p);
            } else {
                stream.extend_from_slice(p);
                stream.push(b'\n');
            }
        }
        for m in decode_in_pieces(&stream, &cuts, 64) {
            prop_assert!(m.len() <= 64);
            let _ = parse(&m);
        }
    }
}

/// Feeds `stream` to a decoder in reads of the sizes in `cuts` (cycled);
/// checks that what is buffered stays bounded; returns the messages.
fn decode_in_pieces(stream: &[u8], cuts: &[usize], max: usize) -> Vec<Vec<u8>> {
    let mut d = StreamDecoder::new(max);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut at = 0;
    let mut k = 0;
    while at < stream.len() {
        let n = cuts[k % cuts.len()].min(stream.len() - at);
        k += 1;
        buf.extend_from_slice(&stream[at..at + n]);
        at += n;
        loop {
            let (consumed, more) = match d.decode(&buf) {
                Decoded::Message { msg, consumed } => {
                    out.push(msg.to_vec());
                    (consumed, true)
                }
                Decoded::TooLarge { consumed, .. } => (consumed, true),
                Decoded::NeedMore { consumed } => (consumed, false),
            };
            assert!(consumed <= buf.len());
            buf.drain(..consumed);
            if !more {
                break;
            }
        }
        assert!(buf.len() <= max + 64, "{} bytes buffered", buf.len());
    }
    out
}
