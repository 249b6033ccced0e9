//! The protocol documentation is checked against the code: the worked
//! example in docs/protocol.md must decode and verify exactly as the page
//! says, and every `reason()` of this crate's errors must be listed in
//! docs/bad-input.md, so neither page can drift from what the code does.
use loghog_proto::{
    FrameError, Message, MessageError, PayloadError, SignatureError, decode_datagram, open_payload,
    signature_hex,
};

fn doc(name: &str) -> String {
    let path = format!("{}/../../docs/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The bytes of the first hex dump (`00000000: 0000 00cd ...  text`) after
/// `heading` in `page`.
fn hex_dump_after(page: &str, heading: &str) -> Vec<u8> {
    let start = page.find(heading).expect("heading in the page");
    let mut bytes = Vec::new();
    let mut in_dump = false;
    for line in page[start..].lines() {
        let Some((offset, rest)) = line.split_once(": ") else {
            if in_dump {
                break;
            }
            continue;
        };
        if offset.len() != 8 || !offset.bytes().all(|c| c.is_ascii_hexdigit()) {
            if in_dump {
                break;
            }
            continue;
        }
        assert_eq!(
            usize::from_str_radix(offset, 16).unwrap(),
            bytes.len(),
            "offsets of the dump are consecutive"
        );
        in_dump = true;
        // Hex groups end at the two spaces before the text column.
        let hex = rest.split("  ").next().unwrap();
        for group in hex.split_whitespace() {
            for pair in group.as_bytes().chunks(2) {
                let pair = std::str::from_utf8(pair).unwrap();
                bytes.push(u8::from_str_radix(pair, 16).unwrap());
            }
        }
    }
    assert!(in_dump, "no hex dump after {heading}");
    bytes
}

#[test]
fn the_worked_example_decodes_and_verifies_as_documented() {
    let page = doc("protocol.md");
    let frame = hex_dump_after(&page, "## Worked example");
    assert_eq!(frame.len(), 213);
    assert_eq!(&frame[..8], &[0, 0, 0, 0xcd, 0, 0, 0, 0]);

    let raw = decode_datagram(&frame, 1 << 20).expect("one whole frame");
    let mut scratch = Vec::new();
    let json = open_payload(&raw, 1 << 20, &mut scratch).expect("plain payload");
    let m = Message::parse(json).expect("a valid message");
    assert_eq!(
        (
            &*m.app_id,
            &*m.module,
            m.stamp,
            m.nsecs,
            m.hostname.as_deref(),
            &*m.body
        ),
        (
            "app-with-secret",
            "cron",
            1358363502,
            12042999,
            Some("athens"),
            "INFO - signed message"
        )
    );
    assert_eq!(m.verify(b"my-big-secret"), Ok(()));
    assert_eq!(m.verify(b"another-secret"), Err(SignatureError::Mismatch));

    // The MAC input and the digest the page spells out.
    let input = "app-with-secretcron135836350212042999INFO - signed message";
    assert!(page.contains(input));
    assert!(page.contains(&format!("these {} bytes", input.len())));
    let sig = signature_hex(
        b"my-big-secret",
        "app-with-secret",
        "cron",
        1358363502,
        12042999,
        "INFO - signed message",
    );
    assert_eq!(sig, "8e41cf54fff8d8d7cccdca279dfa144e");
    assert_eq!(m.signature.as_deref(), Some(sig.as_str()));
    assert!(page.contains(&format!("`{sig}`, the value sent")));
}

#[test]
fn every_protocol_reject_reason_is_documented() {
    let page = doc("bad-input.md");
    let reasons = [
        FrameError::TooLarge { len: 2, max: 1 }.reason(),
        FrameError::Truncated {
            declared: 2,
            actual: 1,
        }
        .reason(),
        FrameError::TrailingBytes { extra: 1 }.reason(),
        PayloadError::UnknownFlags { flags: 2 }.reason(),
        PayloadError::CorruptZlib {
            detail: String::new(),
        }
        .reason(),
        PayloadError::InflateTooLarge { max: 1 }.reason(),
        MessageError::Invalid {
            detail: String::new(),
        }
        .reason(),
        MessageError::MissingField { field: "body" }.reason(),
        MessageError::UnsupportedVersion { version: 2 }.reason(),
        SignatureError::Missing.reason(),
        SignatureError::Malformed.reason(),
        SignatureError::Mismatch.reason(),
        loghog_proto::v2::ControlError::Invalid {
            detail: String::new(),
        }
        .reason(),
        loghog_proto::v2::ControlError::Unsupported { version: 3 }.reason(),
    ];
    for reason in reasons {
        assert!(
            page.contains(&format!("| `{reason}` |")),
            "docs/bad-input.md has no table row for reason `{reason}`"
        );
    }
}

/// The hex of `bytes` as the dumps in the docs show it: 16 bytes a line,
/// in groups of two, without offsets or the text column.
fn dump_hex_lines(bytes: &[u8]) -> Vec<String> {
    bytes
        .chunks(16)
        .map(|line| {
            line.chunks(2)
                .map(|g| g.iter().map(|b| format!("{b:02x}")).collect::<String>())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[test]
fn the_v2_byte_by_byte_example_is_what_the_code_sends() {
    use loghog_proto::v2::{Hello, ServerControl};
    let page = doc("protocol.md");
    let mut session = [0u8; 16];
    session[15] = 1;
    let mut hello = Vec::new();
    Hello { session, seq: 0 }.encode(&mut hello);
    assert_eq!(hello.len(), 73);
    let mut ack = Vec::new();
    ServerControl::Ack {
        upto: 2,
        rejected: vec![(1, "unknown_app".into())],
    }
    .encode(&mut ack);
    for (i, line) in dump_hex_lines(&hello)
        .iter()
        .chain(&dump_hex_lines(&ack))
        .enumerate()
    {
        assert!(
            page.contains(&format!(": {line}")),
            "dump line {i} `{line}` is not in docs/protocol.md"
        );
    }
    let mut welcome = Vec::new();
    ServerControl::Welcome { session, resume: 0 }.encode(&mut welcome);
    let text = String::from_utf8_lossy(&welcome[8..]).into_owned();
    assert!(page.contains(&text), "{text}");
}
