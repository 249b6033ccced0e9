//! Protocol v2 on the wire against the real daemon: the hello and its
//! welcome, one cumulative ack per round with the reasons of refused
//! records, resent records written once, and silence towards every
//! connection that did not opt in (v1, or acknowledgements turned off).
mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};

use loghog_proto::v2::{Hello, ServerControl, take_server_frames};
use support::{DEADLINE, Daemon, bodies, frame, one_facility, read_lines, wait_lines};

fn facilities() -> String {
    one_facility("app", "rotate = daily\nbackup_count = 3")
}

fn hello(session: u8, seq: u64) -> Vec<u8> {
    let mut out = Vec::new();
    Hello {
        session: [session; 16],
        seq,
    }
    .encode(&mut out);
    out
}

/// Reads control frames until `want` of them have arrived.
fn read_controls(sock: &mut TcpStream, want: usize) -> Vec<ServerControl> {
    sock.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut buf = Vec::new();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while got.len() < want {
        let n = sock
            .read(&mut chunk)
            .expect("control frames before the deadline");
        assert!(n > 0, "server closed after {got:?}");
        buf.extend_from_slice(&chunk[..n]);
        got.extend(take_server_frames(&mut buf).expect("well-formed control frames"));
    }
    got
}

/// Everything the server sends until it closes, after we close our side.
fn rest_of_stream(mut sock: TcpStream) -> Vec<u8> {
    sock.shutdown(Shutdown::Write).unwrap();
    sock.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut rest = Vec::new();
    sock.read_to_end(&mut rest).unwrap();
    rest
}

#[test]
fn a_hello_gets_a_welcome_and_each_round_one_cumulative_ack_with_reasons() {
    let d = Daemon::start(&facilities());
    let mut sock = d.connect();
    let mut out = hello(1, 0);
    out.extend(frame("app", "root", "one"));
    out.extend(frame("nosuchapp", "root", "lost"));
    out.extend(frame("app", "root", "three"));
    sock.write_all(&out).unwrap();
    let got = read_controls(&mut sock, 2);
    assert_eq!(
        got[0],
        ServerControl::Welcome {
            session: [1; 16],
            resume: 0
        }
    );
    // The records of the first read may be acknowledged in one or two
    // rounds; the last ack covers all three, and the refusal is named.
    let mut got = got;
    while !matches!(got.last(), Some(ServerControl::Ack { upto: 3, .. })) {
        got.extend(read_controls(&mut sock, 1));
    }
    let rejected: Vec<(u64, String)> = got
        .iter()
        .filter_map(|c| match c {
            ServerControl::Ack { rejected, .. } => Some(rejected.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(rejected, vec![(1, "unknown_app".to_string())]);
    // Acknowledged means written: the lines are in the file already.
    assert_eq!(
        bodies(&read_lines(&d.log("app/root.log"))),
        vec!["one", "three"]
    );
    sock.write_all(&frame("app", "root", "four")).unwrap();
    assert_eq!(
        read_controls(&mut sock, 1),
        vec![ServerControl::Ack {
            upto: 4,
            rejected: vec![]
        }]
    );
    assert!(rest_of_stream(sock).is_empty());
}

#[test]
fn a_new_connection_of_a_session_resumes_after_what_is_written() {
    let d = Daemon::start(&facilities());
    let mut first = d.connect();
    let mut out = hello(7, 10);
    for i in 10..15 {
        out.extend(frame("app", "root", &format!("r{i}")));
    }
    first.write_all(&out).unwrap();
    let mut got = read_controls(&mut first, 2);
    while !matches!(got.last(), Some(ServerControl::Ack { upto: 15, .. })) {
        got.extend(read_controls(&mut first, 1));
    }
    // The client did not see that ack (say): it would resend from 12, but
    // the welcome on a new connection says 12 to 14 are written, so it
    // sends 15 on, numbered from `resume`.
    let mut second = d.connect();
    second.write_all(&hello(7, 12)).unwrap();
    let got = read_controls(&mut second, 1);
    assert_eq!(
        got[0],
        ServerControl::Welcome {
            session: [7; 16],
            resume: 15
        }
    );
    let mut out = Vec::new();
    for i in 15..17 {
        out.extend(frame("app", "root", &format!("r{i}")));
    }
    second.write_all(&out).unwrap();
    let mut got = got;
    while !matches!(got.last(), Some(ServerControl::Ack { upto: 17, .. })) {
        got.extend(read_controls(&mut second, 1));
    }
    let want: Vec<String> = (10..17).map(|i| format!("r{i}")).collect();
    assert_eq!(bodies(&wait_lines(&d.log("app/root.log"), 7)), want);
    drop(first);
    assert!(rest_of_stream(second).is_empty());
}

#[test]
fn the_session_table_survives_a_graceful_restart() {
    let d = Daemon::start(&facilities());
    let mut sock = d.connect();
    let mut out = hello(9, 0);
    out.extend(frame("app", "root", "before"));
    sock.write_all(&out).unwrap();
    let mut got = read_controls(&mut sock, 2);
    while !matches!(got.last(), Some(ServerControl::Ack { upto: 1, .. })) {
        got.extend(read_controls(&mut sock, 1));
    }
    drop(sock);
    let d = d.restart();
    let mut sock = d.connect();
    sock.write_all(&hello(9, 0)).unwrap();
    let got = read_controls(&mut sock, 1);
    assert_eq!(
        got[0],
        ServerControl::Welcome {
            session: [9; 16],
            resume: 1
        }
    );
    sock.write_all(&frame("app", "root", "after")).unwrap();
    assert_eq!(
        bodies(&wait_lines(&d.log("app/root.log"), 2)),
        vec!["before", "after"]
    );
}

#[test]
fn a_v1_connection_never_gets_a_byte() {
    let d = Daemon::start(&facilities());
    let mut sock = d.connect();
    sock.write_all(&frame("app", "root", "plain v1")).unwrap();
    sock.write_all(&frame("nosuchapp", "root", "refused"))
        .unwrap();
    wait_lines(&d.log("app/root.log"), 1);
    assert!(rest_of_stream(sock).is_empty());
}

#[test]
fn with_acknowledgements_off_a_hello_is_ignored_and_nothing_is_written_back() {
    let d = Daemon::start_with(&facilities(), "acknowledgements = no");
    let mut sock = d.connect();
    let mut out = hello(3, 0);
    out.extend(frame("app", "root", "still written"));
    sock.write_all(&out).unwrap();
    assert_eq!(
        bodies(&wait_lines(&d.log("app/root.log"), 1)),
        vec!["still written"]
    );
    assert!(rest_of_stream(sock).is_empty());
    assert!(!d.has_output("reason="), "{}", d.output());
}

#[test]
fn a_hello_after_the_first_frame_is_refused_and_the_connection_stays_v1() {
    let d = Daemon::start(&facilities());
    let mut sock = d.connect();
    let mut out = frame("app", "root", "first");
    out.extend(hello(4, 0));
    out.extend(frame("app", "root", "second"));
    sock.write_all(&out).unwrap();
    assert_eq!(
        bodies(&wait_lines(&d.log("app/root.log"), 2)),
        vec!["first", "second"]
    );
    assert!(d.wait_for_output("reason=misplaced_control"));
    assert!(rest_of_stream(sock).is_empty());
}

#[test]
fn a_malformed_hello_is_refused_and_the_connection_stays_v1() {
    let d = Daemon::start(&facilities());
    for (payload, reason) in [
        (
            &b"{\"loghog\":2,\"session\":\"xyz\",\"seq\":0}"[..],
            "bad_hello",
        ),
        (
            b"{\"loghog\":9,\"session\":\"00000000000000000000000000000000\",\"seq\":0}",
            "unsupported_version",
        ),
    ] {
        let mut sock = d.connect();
        let mut out = support::raw_frame(payload, loghog_proto::v2::FLAG_CONTROL);
        out.extend(frame("app", "root", reason));
        sock.write_all(&out).unwrap();
        assert!(
            d.wait_for_output(&format!("reason={reason}")),
            "{}",
            d.output()
        );
        assert!(rest_of_stream(sock).is_empty());
    }
    assert_eq!(
        bodies(&wait_lines(&d.log("app/root.log"), 2)),
        vec!["bad_hello", "unsupported_version"]
    );
}
