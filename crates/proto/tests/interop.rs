//! The frames the published 0.7 Python client produced must decode, field for
//! field, to the JSON recorded beside them; signed ones must verify with the
//! recorded secret and fail with any other.
use loghog_proto::{
    Decode, FrameDecoder, Message, SignatureError, decode_datagram, encode_frame, open_payload,
    signature_hex,
};
use serde_json::Value;

const FRAMES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/loghog-0.7-frames.json"
);

struct Golden {
    name: String,
    frame: Vec<u8>,
    decoded: Value,
    secret: Option<String>,
}

fn golden() -> Vec<Golden> {
    let text = std::fs::read_to_string(FRAMES)
        .expect("the vendored golden frames in crates/proto/tests/data");
    let all: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert!(all.len() >= 7, "expected the seven recorded frames");
    all.into_iter()
        .map(|v| Golden {
            name: v["name"].as_str().unwrap().to_owned(),
            frame: unhex(v["frame_hex"].as_str().unwrap()),
            decoded: v["decoded_json"].clone(),
            secret: v["client_kwargs"]["secret"].as_str().map(str::to_owned),
        })
        .collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn check_fields(g: &Golden, m: &Message<'_>) {
    let d = &g.decoded;
    assert_eq!(m.version, d["version"].as_i64().unwrap(), "{}", g.name);
    assert_eq!(m.app_id, d["app_id"].as_str().unwrap(), "{}", g.name);
    assert_eq!(m.module, d["module"].as_str().unwrap(), "{}", g.name);
    assert_eq!(m.stamp, d["stamp"].as_i64().unwrap(), "{}", g.name);
    assert_eq!(m.nsecs, d["nsecs"].as_i64().unwrap(), "{}", g.name);
    assert_eq!(m.hostname.as_deref(), d["hostname"].as_str(), "{}", g.name);
    assert_eq!(m.body, d["body"].as_str().unwrap(), "{}", g.name);
    assert_eq!(
        m.signature.as_deref(),
        d["signature"].as_str(),
        "{}",
        g.name
    );
}

#[test]
fn every_recorded_frame_decodes_from_a_stream() {
    let goldens = golden();
    // All frames back to back on one "connection", as the TCP client sends.
    let stream: Vec<u8> = goldens.iter().flat_map(|g| g.frame.clone()).collect();
    let mut dec = FrameDecoder::new(loghog_proto::DEFAULT_MAX_PAYLOAD);
    let mut pos = 0;
    for g in &goldens {
        let Decode::Frame { frame, consumed } = dec.decode(&stream[pos..]) else {
            panic!("{}: no frame", g.name);
        };
        pos += consumed;
        let mut scratch = Vec::new();
        let json = open_payload(&frame, loghog_proto::DEFAULT_MAX_PAYLOAD, &mut scratch).unwrap();
        let m = Message::parse(json).unwrap_or_else(|e| panic!("{}: {e}", g.name));
        check_fields(g, &m);
    }
    assert_eq!(pos, stream.len());
}

#[test]
fn every_recorded_frame_decodes_as_a_datagram() {
    for g in golden() {
        let frame = decode_datagram(&g.frame, 1 << 20).unwrap();
        let mut scratch = Vec::new();
        let json = open_payload(&frame, 1 << 20, &mut scratch).unwrap();
        check_fields(&g, &Message::parse(json).unwrap());
    }
}

#[test]
fn the_recorded_set_covers_zlib_signing_unicode_and_newlines() {
    let goldens = golden();
    assert!(goldens.iter().any(|g| g.frame[7] & 1 == 1));
    assert!(goldens.iter().any(|g| g.secret.is_some()));
    assert!(
        goldens
            .iter()
            .any(|g| g.decoded["body"].as_str().unwrap().contains('\n'))
    );
    assert!(
        goldens
            .iter()
            .any(|g| !g.decoded["body"].as_str().unwrap().is_ascii())
    );
}

#[test]
fn signed_frames_verify_with_their_secret_only() {
    let mut signed = 0;
    for g in golden() {
        let Some(secret) = &g.secret else { continue };
        signed += 1;
        let frame = decode_datagram(&g.frame, 1 << 20).unwrap();
        let mut scratch = Vec::new();
        let m = Message::parse(open_payload(&frame, 1 << 20, &mut scratch).unwrap()).unwrap();
        assert_eq!(m.verify(secret.as_bytes()), Ok(()), "{}", g.name);
        assert_eq!(
            m.verify(b"not-the-secret"),
            Err(SignatureError::Mismatch),
            "{}",
            g.name
        );
        // Our signer reproduces the Python client's signature exactly.
        let ours = signature_hex(
            secret.as_bytes(),
            &m.app_id,
            &m.module,
            m.stamp,
            m.nsecs,
            &m.body,
        );
        assert_eq!(Some(ours.as_str()), m.signature.as_deref(), "{}", g.name);
    }
    assert!(signed >= 2);
}

#[test]
fn our_encoder_round_trips_every_recorded_message() {
    for g in golden() {
        let frame = decode_datagram(&g.frame, 1 << 20).unwrap();
        let mut scratch = Vec::new();
        let m = Message::parse(open_payload(&frame, 1 << 20, &mut scratch).unwrap()).unwrap();
        for compress in [false, true] {
            let mut json = Vec::new();
            m.write_json(&mut json);
            let (payload, flags) = if compress {
                (
                    loghog_proto::compress_payload(&json),
                    loghog_proto::FLAG_ZLIB,
                )
            } else {
                (json, 0)
            };
            let mut bytes = Vec::new();
            encode_frame(&payload, flags, &mut bytes);
            let back = decode_datagram(&bytes, 1 << 20).unwrap();
            let mut scratch2 = Vec::new();
            let again =
                Message::parse(open_payload(&back, 1 << 20, &mut scratch2).unwrap()).unwrap();
            assert_eq!(again, m, "{} compress={compress}", g.name);
        }
    }
}
