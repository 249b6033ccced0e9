//! Connection limits against the real daemon: `max_connections` closes the
//! longest-idle connection to admit a new one, `max_connections_per_peer`
//! refuses one address's extra connections, and `max_buffered_bytes` closes
//! the connections holding the most bytes of partial frames.
mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};

use socket2::{Domain, Socket, Type};
use support::*;

const APP: &str = "[app]\nrotate = daily\nbackup_count = 1\n";

/// Waits (with the deadline) until the daemon closes `conn`: a read sees
/// EOF or a reset. False if it is still open at the deadline.
fn closed_by_daemon(conn: &mut TcpStream) -> bool {
    conn.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut byte = [0u8; 1];
    match conn.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => panic!("the daemon wrote to a v1 connection"),
        Err(e) => e.kind() == ErrorKind::ConnectionReset,
    }
}

/// A connection to `to` from the local address `from` (any 127.0.0.0/8
/// address works on Linux without configuration).
fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.bind(&from.parse::<SocketAddr>().unwrap().into()).unwrap();
    s.connect(&to.into()).unwrap();
    s.into()
}

/// Regression: with `max_connections` idle connections open, a new client
/// used to wait in the kernel backlog forever.
#[test]
fn at_max_connections_the_longest_idle_connection_is_closed_for_a_new_one() {
    let d = Daemon::start_with(APP, "max_connections = 2\n");
    let log = d.log("app/root.log");
    let mut a = d.connect();
    let mut b = d.connect();
    a.write_all(&frame("app", "", "a")).unwrap();
    wait_lines(&log, 1);
    b.write_all(&frame("app", "", "b")).unwrap();
    wait_lines(&log, 2);

    // `a` has been quiet the longest: it makes room for `c`.
    let mut c = d.connect();
    c.write_all(&frame("app", "", "c")).unwrap();
    let lines = wait_lines(&log, 3);
    assert_eq!(bodies(&lines)[2], "c");
    assert!(closed_by_daemon(&mut a), "the idle connection stayed open");
    assert!(d.wait_for_output("reason=evicted_idle"), "{}", d.output());
    assert!(d.output().contains("1 closed so far"), "{}", d.output());

    // The others are untouched.
    b.write_all(&frame("app", "", "b2")).unwrap();
    c.write_all(&frame("app", "", "c2")).unwrap();
    let lines = wait_lines(&log, 5);
    let mut rest = bodies(&lines[3..]);
    rest.sort();
    assert_eq!(rest, ["b2", "c2"]);
}

/// A single address cannot take every connection: beyond its share, its
/// new connections are closed at once and counted, while other addresses
/// are still served.
#[test]
fn connections_over_the_per_peer_limit_are_refused_and_counted() {
    let d = Daemon::start_with(APP, "max_connections_per_peer = 2\n");
    let log = d.log("app/root.log");
    let mut first = connect_from("127.0.0.1:0", d.tcp);
    let mut second = connect_from("127.0.0.1:0", d.tcp);
    first.write_all(&frame("app", "", "first")).unwrap();
    second.write_all(&frame("app", "", "second")).unwrap();
    wait_lines(&log, 2);

    let mut third = connect_from("127.0.0.1:0", d.tcp);
    // The frame may or may not reach the socket before the daemon closes
    // it; either way it must not be written.
    let _ = third.write_all(&frame("app", "", "third"));
    assert!(closed_by_daemon(&mut third), "a third connection was kept");
    assert!(
        d.wait_for_output("reason=peer_connection_limit"),
        "{}",
        d.output()
    );
    assert!(d.output().contains("1 refused so far"), "{}", d.output());

    // Another address is served, and so is the first one's next frame.
    let mut other = connect_from("127.0.0.2:0", d.tcp);
    other.write_all(&frame("app", "", "other")).unwrap();
    first.write_all(&frame("app", "", "first again")).unwrap();
    let lines = wait_lines(&log, 4);
    let mut all = bodies(&lines);
    all.sort();
    assert_eq!(all, ["first", "first again", "other", "second"]);
}

/// Regression: partial frames had no overall cap (1,000 connections each
/// holding 1 MB took about 1 GB). Past `max_buffered_bytes` the
/// connections holding the most are closed; the others go on and finish
/// their frames.
#[test]
fn over_the_buffer_budget_the_connections_holding_most_are_closed() {
    // Each partial frame holds about 1,000,000 bytes: two fit in the
    // budget, a third does not.
    let mut d = Daemon::start_with(APP, "max_buffered_bytes = 2500000\n");
    let frames: Vec<Vec<u8>> = (0..5)
        .map(|i| frame("app", "", &format!("big{i} {}", "x".repeat(999_000))))
        .collect();
    let mut conns: Vec<TcpStream> = (0..5).map(|_| d.connect()).collect();
    for (c, f) in conns.iter_mut().zip(&frames) {
        // All but the last 10 bytes: the frame stays partial.
        let _ = c.write_all(&f[..f.len() - 10]);
    }
    assert!(
        poll(|| d.count_output(&["reason=buffer_budget"]) >= 3),
        "{}",
        d.output()
    );
    let small = {
        let mut s = d.connect();
        s.write_all(&frame("app", "", "small")).unwrap();
        s
    };
    for (c, f) in conns.iter_mut().zip(&frames) {
        let _ = c.write_all(&f[f.len() - 10..]);
    }
    // The ones that kept their frames finish them; the small record passes.
    // At least three were closed; a fourth may be, when its read came while
    // a closed connection had not yet freed its buffer (still counted).
    wait_lines(&d.log("app/root.log"), 2);
    assert!(d.stop().success());
    let out = d.output();
    let closed = d.count_output(&["reason=buffer_budget"]);
    assert!((3..=4).contains(&closed), "{closed} closed\n{out}");
    let lines = read_lines(&d.log("app/root.log"));
    assert_eq!(
        lines.len(),
        5 - closed + 1,
        "closed connections' frames were written"
    );
    assert!(
        out.contains("max_buffered_bytes = 2500000 exceeded"),
        "{out}"
    );
    assert!(
        out.contains(&format!("closed_over_budget={closed}")),
        "{out}"
    );
    drop(small);
}

/// Regression: out of file descriptors, every accept failed (and was
/// logged) while idle connections held them all; new clients were never
/// served. Now the longest-idle connection is closed to make room.
#[test]
fn out_of_file_descriptors_idle_connections_make_room_for_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("facilities.conf"), APP).unwrap();
    std::fs::write(dir.path().join("loghogd.conf"), daemon_conf("")).unwrap();
    let d = Daemon::start_in_shell(dir, "ulimit -n 40");
    assert!(
        d.wait_for_output("open-files limit is below max_connections + max_open_files"),
        "{}",
        d.output()
    );
    // The log file is open before descriptors run out.
    let mut first = d.connect();
    first.write_all(&frame("app", "", "first")).unwrap();
    wait_lines(&d.log("app/root.log"), 1);

    let mut idle: Vec<TcpStream> = (0..40).map(|_| d.connect()).collect();
    let mut last = d.connect();
    last.write_all(&frame("app", "", "last")).unwrap();
    let lines = wait_lines(&d.log("app/root.log"), 2);
    assert_eq!(bodies(&lines), ["first", "last"]);
    assert!(d.output().contains("accept failed"), "{}", d.output());
    assert!(
        d.output().contains("out of file descriptors"),
        "{}",
        d.output()
    );
    // The oldest connection was the one closed first.
    assert!(closed_by_daemon(&mut first));
    idle.clear();
}
