//! SPEC §8: every kind of bad input, sent between good frames on one
//! connection (and on UDP where it applies), costs nothing but itself: the
//! good frames are written, the daemon logs one line with the peer and a
//! stable reason, and carries on.
mod support;

use std::io::Write;

use loghog_proto::{FLAG_ZLIB, compress_payload};
use support::*;

const FACILITIES: &str = "\
[app]
rotate = daily
backup_count = 1

[signed]
rotate = daily
backup_count = 1
secret = s3cret
";

/// Limit small enough to test the oversized case cheaply.
const SERVER: &str = "max_message_size = 4096\n";

fn good(i: usize) -> Vec<u8> {
    frame("app", "", &format!("good {i}"))
}

/// Every bad frame this file knows, with the reason the daemon gives.
fn bad_frames() -> Vec<(&'static str, Vec<u8>)> {
    let valid = br#"{"version": 1, "app_id": "app", "module": "", "stamp": 1, "nsecs": 2, "hostname": "h", "body": "b"}"#;
    let mut wrong_sig = message("signed", "", Some("h"), "forged");
    wrong_sig.sign(b"not the secret");
    vec![
        ("frame_too_large", raw_frame(&vec![b'x'; 10_000], 0)),
        ("unknown_flags", raw_frame(valid, 0x04)),
        ("corrupt_zlib", raw_frame(b"this is not zlib", FLAG_ZLIB)),
        (
            "inflate_too_large",
            raw_frame(&compress_payload(&vec![b' '; 1 << 20]), FLAG_ZLIB),
        ),
        ("invalid_message", raw_frame(b"\xff\xfe\xfd not utf-8", 0)),
        ("invalid_message", raw_frame(b"not json at all", 0)),
        ("invalid_message", raw_frame(b"[1, 2, 3]", 0)),
        (
            "missing_field",
            raw_frame(br#"{"version": 1, "app_id": "app", "module": "", "stamp": 1, "nsecs": 2}"#, 0),
        ),
        (
            "invalid_message",
            raw_frame(
                br#"{"version": 1, "app_id": "app", "module": "", "stamp": "now", "nsecs": 2, "body": "b"}"#,
                0,
            ),
        ),
        ("unknown_app", frame("no-such-app", "", "who am i")),
        (
            "missing_signature",
            frame_of(&message("signed", "", Some("h"), "unsigned"), false),
        ),
        ("bad_signature", frame_of(&wrong_sig, false)),
    ]
}

#[test]
fn each_bad_frame_between_good_ones_on_one_connection_costs_only_itself() {
    let d = Daemon::start_with(FACILITIES, SERVER);
    let mut conn = d.connect();
    let bad = bad_frames();
    let mut n = 0;
    conn.write_all(&good(n)).unwrap();
    for (_, b) in &bad {
        n += 1;
        conn.write_all(b).unwrap();
        conn.write_all(&good(n)).unwrap();
    }
    let lines = wait_lines(&d.log("app/root.log"), n + 1);
    let want: Vec<String> = (0..=n).map(|i| format!("good {i}")).collect();
    assert_eq!(bodies(&lines), want);
    for (reason, _) in &bad {
        let needle = format!("reason={reason}");
        assert!(
            d.wait_for_output(&needle),
            "no {needle} in:\n{}",
            d.output()
        );
        // Each line names the peer.
        assert!(d.count_output(&[&needle, "peer=127.0.0.1:"]) >= 1);
    }
    assert_eq!(
        d.count_output(&["alert=security", "reason=bad_signature"]),
        1
    );
    // Nothing forged or unsigned reached the signed app's file.
    assert!(!d.log("signed").exists());
}

#[test]
fn each_bad_datagram_between_good_ones_costs_only_itself() {
    let d = Daemon::start_with(FACILITIES, SERVER);
    let mut bad = bad_frames();
    // The frame_too_large case is above max_message_size but still a
    // datagram; add what only UDP has: a datagram shorter than its header.
    let mut short = good(99);
    short.truncate(short.len() - 5);
    bad.push(("truncated_datagram", short));
    let mut n = 0;
    d.send_udp(&good(n));
    wait_lines(&d.log("app/root.log"), 1);
    for (_, b) in &bad {
        n += 1;
        d.send_udp(b);
        d.send_udp(&good(n));
        // One at a time: UDP does not promise order across datagrams.
        wait_lines(&d.log("app/root.log"), n + 1);
    }
    let lines = read_lines(&d.log("app/root.log"));
    let want: Vec<String> = (0..=n).map(|i| format!("good {i}")).collect();
    assert_eq!(bodies(&lines), want);
    for (reason, _) in &bad {
        let needle = format!("reason={reason}");
        assert!(
            d.wait_for_output(&needle),
            "no {needle} in:\n{}",
            d.output()
        );
    }
}

#[test]
fn an_oversized_frame_is_skipped_even_when_it_arrives_in_pieces() {
    // The header promises 100 KiB against a 4 KiB limit; the body dribbles
    // in. The daemon must skip it without buffering and keep the connection.
    let d = Daemon::start_with(FACILITIES, SERVER);
    let mut conn = d.connect();
    conn.write_all(&good(0)).unwrap();
    let big = raw_frame(&vec![b'y'; 100 * 1024], 0);
    for chunk in big.chunks(7000) {
        conn.write_all(chunk).unwrap();
        conn.flush().unwrap();
    }
    conn.write_all(&good(1)).unwrap();
    let lines = wait_lines(&d.log("app/root.log"), 2);
    assert_eq!(bodies(&lines), ["good 0", "good 1"]);
    assert!(d.wait_for_output("reason=frame_too_large"));
    // A header claiming 4 GiB is refused the same way, without waiting.
    conn.write_all(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])
        .unwrap();
    assert!(poll(|| d.count_output(&["reason=frame_too_large"]) >= 2));
}

#[test]
fn a_client_that_disconnects_mid_frame_loses_only_that_frame() {
    let d = Daemon::start_with(FACILITIES, SERVER);
    {
        let mut conn = d.connect();
        conn.write_all(&good(0)).unwrap();
        let partial = good(1);
        conn.write_all(&partial[..partial.len() / 2]).unwrap();
    }
    assert!(d.wait_for_output("reason=partial_frame"), "{}", d.output());
    let mut other = d.connect();
    other.write_all(&good(2)).unwrap();
    let lines = wait_lines(&d.log("app/root.log"), 2);
    assert_eq!(bodies(&lines), ["good 0", "good 2"]);
}

#[test]
fn repeated_errors_are_rate_limited_and_counted() {
    let d = Daemon::start_with(FACILITIES, SERVER);
    let mut conn = d.connect();
    let mut burst = Vec::new();
    for _ in 0..500 {
        burst.extend(raw_frame(b"not json", 0));
    }
    burst.extend(good(0));
    conn.write_all(&burst).unwrap();
    wait_lines(&d.log("app/root.log"), 1);
    let logged = d.count_output(&["reason=invalid_message"]);
    assert!(
        (1..=20).contains(&logged),
        "{logged} lines logged for 500 errors"
    );
}

#[test]
fn garbage_bytes_do_not_stop_the_daemon_or_other_connections() {
    let d = Daemon::start_with(FACILITIES, SERVER);
    let mut steady = d.connect();
    steady.write_all(&good(0)).unwrap();
    wait_lines(&d.log("app/root.log"), 1);
    // A client sending random bytes: its length fields are nonsense.
    let mut noise = d.connect();
    let mut x: u32 = 12345;
    let junk: Vec<u8> = (0..200_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    let _ = noise.write_all(&junk);
    drop(noise);
    steady.write_all(&good(1)).unwrap();
    let lines = wait_lines(&d.log("app/root.log"), 2);
    assert_eq!(bodies(&lines), ["good 0", "good 1"]);
}
