//! Syslog in, end to end: routing (modules, `syslog_default_app`, unknown
//! apps, signed facilities), bad input, the local socket's life cycle,
//! binding before the privilege drop, and `--check-config`.
mod support;

use std::io::Write;
use std::net::{TcpStream, UdpSocket};

use support::syslog::{FACILITIES, split, start, wait_for};
use support::{Daemon, poll, read_lines, wait_lines};

#[test]
fn unknown_apps_go_to_the_default_app_with_their_name_kept() {
    let s = start("syslog_default_app = syslog");
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender
        .send_to(b"<30>Nov 30 05:01:02 web1 nginx[77]: GET /", s.udp)
        .unwrap();
    let line = wait_for(&s, "syslog/root.log", "GET /");
    let (_, host, rest) = split(&line);
    assert_eq!(host, "web1");
    assert_eq!(rest, "INFO - nginx[77]: GET /");
    assert!(!s.d.log("nginx").exists());
}

#[test]
fn a_default_app_missing_from_facilities_is_warned_about_and_drops() {
    let s = start("syslog_default_app = nosuch");
    assert!(
        s.d.has_output("syslog_default_app is not in facilities.conf"),
        "{}",
        s.d.output()
    );
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.send_to(b"<14>stranger: lost", s.udp).unwrap();
    sender.send_to(b"<14>myapp: kept", s.udp).unwrap();
    wait_for(&s, "myapp/root.log", "kept");
    assert!(
        s.d.wait_for_output("reason=unknown_app"),
        "{}",
        s.d.output()
    );
    assert!(!s.d.log("nosuch").exists());
}

#[test]
fn unknown_apps_without_a_default_and_signed_facilities_are_refused() {
    let s = start("");
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.send_to(b"<14>nosuchapp: lost", s.udp).unwrap();
    sender.send_to(b"<14>signed: not signed", s.udp).unwrap();
    sender.send_to(b"<14>myapp: after", s.udp).unwrap();
    wait_for(&s, "myapp/root.log", "after");
    assert!(
        s.d.wait_for_output("reason=unknown_app"),
        "{}",
        s.d.output()
    );
    assert!(s.d.wait_for_output("reason=unsigned"), "{}", s.d.output());
    assert!(!s.d.log("signed/root.log").exists());
    assert!(!s.d.log("nosuchapp").exists());
}

#[test]
fn bad_input_costs_only_itself_with_one_reason_each() {
    let s = start("max_message_size = 4096\nmax_buffered_bytes = 1048576");
    let mut c = TcpStream::connect(s.tcp).unwrap();
    let mut stream: Vec<u8> = Vec::new();
    stream.extend_from_slice(b"<14>myapp: good 1\n");
    stream.extend_from_slice(b"myapp: no pri\n");
    stream.extend_from_slice(b"<999>myapp: pri out of range\n");
    stream.extend_from_slice(b"<14>myapp: caf\xE9 latin-1\n");
    stream.extend_from_slice(b"<14>myapp: ");
    stream.extend_from_slice(&[b'x'; 10_000]);
    stream.extend_from_slice(b"\n<14>myapp: good 2\n");
    // Octet counted, then cut short by the disconnect.
    stream.extend_from_slice(b"40 <14>myapp: truncated");
    c.write_all(&stream).unwrap();
    drop(c);
    let lines = wait_lines(&s.d.log("myapp/root.log"), 4);
    let rests: Vec<&str> = lines.iter().map(|l| split(l).2).collect();
    assert_eq!(
        rests,
        [
            "INFO - good 1",
            "NOTICE - no pri",
            "INFO - caf\u{FFFD} latin-1",
            "INFO - good 2",
        ]
    );
    for reason in [
        "missing_pri",
        "bad_pri",
        "invalid_utf8",
        "message_too_large",
        "partial_frame",
    ] {
        let needle = format!("reason={reason}");
        assert!(
            s.d.wait_for_output(&needle),
            "no {needle}:\n{}",
            s.d.output()
        );
        assert_eq!(s.d.count_output(&[&needle]), 1, "{}", s.d.output());
    }
}

#[test]
fn a_tcp_peer_sending_forever_without_a_newline_costs_one_reason() {
    let s = start("max_message_size = 4096\nmax_buffered_bytes = 1048576");
    let mut endless = TcpStream::connect(s.tcp).unwrap();
    endless.write_all(b"<14>myapp: ").unwrap();
    // 4 MiB without a newline: far over max_message_size and the buffer
    // budget; it must be skipped, not buffered, and the connection kept.
    let chunk = [b'y'; 64 * 1024];
    for _ in 0..64 {
        endless.write_all(&chunk).unwrap();
    }
    // Meanwhile another sender is served.
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.send_to(b"<14>myapp: meanwhile", s.udp).unwrap();
    wait_for(&s, "myapp/root.log", "meanwhile");
    // The newline ends the skipped line; the next message is written.
    endless
        .write_all(b"\n<14>myapp: after the flood\n")
        .unwrap();
    wait_for(&s, "myapp/root.log", "after the flood");
    assert_eq!(
        s.d.count_output(&["reason=message_too_large"]),
        1,
        "{}",
        s.d.output()
    );
    assert!(!s.d.has_output("reason=buffer_budget"), "{}", s.d.output());
}

#[test]
fn the_socket_file_is_removed_on_exit_and_a_stale_one_replaced() {
    let mut s = start("");
    let path = s.socket.clone();
    let status = s.d.stop();
    assert!(status.success());
    assert!(!path.exists(), "socket left behind");
    // A stale socket (its owner gone) is replaced at start.
    let stale = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    drop(stale);
    assert!(path.exists());
    let d = Daemon::start_in(std::mem::replace(
        &mut s.d.dir,
        tempfile::tempdir().unwrap(),
    ));
    assert!(
        d.wait_for_output("replaced a stale syslog socket"),
        "{}",
        d.output()
    );
    let sender = std::os::unix::net::UnixDatagram::unbound().unwrap();
    sender
        .send_to(b"<14>myapp: on the new socket", &path)
        .unwrap();
    let file = d.log("myapp/root.log");
    assert!(
        poll(|| read_lines(&file)
            .iter()
            .any(|l| l.ends_with("on the new socket"))),
        "{}",
        d.output()
    );
}

#[test]
fn check_config_reports_bad_syslog_keys_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("facilities.conf"), FACILITIES).unwrap();
    let conf = dir.path().join("loghogd.conf");
    std::fs::write(
        &conf,
        support::daemon_conf("listen_syslog = 127.0.0.1:notaport\nsyslog_socket_mode = 999"),
    )
    .unwrap();
    let (code, _, err) =
        support::run_loghogd(&["--check-config".as_ref(), "-c".as_ref(), conf.as_os_str()]);
    assert_eq!(code, 78, "{err}");
    // daemon_conf puts the extra [server] lines at lines 14 and 15.
    assert!(
        err.contains("loghogd.conf:14:") && err.contains("127.0.0.1:notaport"),
        "{err}"
    );
    assert!(
        err.contains("loghogd.conf:15:") && err.contains("'999'"),
        "{err}"
    );
}

/// A port below 1024 that is free for TCP and UDP on 127.0.0.1 right now.
fn free_privileged_port() -> Option<u16> {
    (600..1000).find(|&p| {
        std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
            && UdpSocket::bind(("127.0.0.1", p)).is_ok()
    })
}

#[test]
fn a_privileged_port_and_the_socket_are_bound_before_dropping_root() {
    use std::os::unix::fs::PermissionsExt;
    if !nix::unistd::geteuid().is_root() {
        eprintln!("note: not running as root; binding before the privilege drop not tested");
        return;
    }
    let Some(nobody) = nix::unistd::User::from_name("nobody").unwrap() else {
        eprintln!("note: no user 'nobody'; binding before the privilege drop not tested");
        return;
    };
    let Some(port) = free_privileged_port() else {
        eprintln!("note: no free port below 1024; binding before the privilege drop not tested");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // tempdir() is 0700: the dropped daemon must be able to reach its dirs.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.path().join("facilities.conf"), FACILITIES).unwrap();
    let conf = support::daemon_conf(&format!(
        "listen_syslog = 127.0.0.1:{port}\nsyslog_socket = run/syslog.sock"
    ))
    .replace("[main]\n", "[main]\nuser = nobody\n");
    std::fs::write(dir.path().join("loghogd.conf"), conf).unwrap();
    let mut d = Daemon::start_in(dir);
    assert!(d.wait_for_output("dropped privileges"), "{}", d.output());
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.pid())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line
            .split_whitespace()
            .skip(1)
            .all(|u| u == nobody.uid.as_raw().to_string()),
        "{uid_line}"
    );
    let sock = d.dir.path().join("run/syslog.sock");
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666);
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender
        .send_to(b"<14>myapp: on a privileged port", ("127.0.0.1", port))
        .unwrap();
    let local = std::os::unix::net::UnixDatagram::unbound().unwrap();
    local.send_to(b"<14>myapp: on the socket", &sock).unwrap();
    let file = d.log("myapp/root.log");
    assert!(
        poll(|| {
            let l = read_lines(&file);
            l.iter().any(|l| l.ends_with("on a privileged port"))
                && l.iter().any(|l| l.ends_with("on the socket"))
        }),
        "{:?}\n{}",
        read_lines(&file),
        d.output()
    );
    // run/ was handed to the user, so the socket can still be removed.
    assert!(d.stop().success());
    assert!(!sock.exists());
}
