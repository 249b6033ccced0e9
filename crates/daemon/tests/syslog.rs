//! Syslog in, end to end: real senders (`logger(1)` from util-linux and
//! Python's `logging.handlers.SysLogHandler`) over UDP, TCP and the local
//! socket into a real daemon, the lines they leave, routing (modules,
//! `syslog_default_app`, unknown apps, signed facilities) and bad input.
mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use support::{Daemon, poll, read_lines, wait_lines};

const FACILITIES: &str = "\
[myapp]
rotate = daily
backup_count = 3

[myapp:audit]
rotate = daily
backup_count = 3

[pyapp]
rotate = daily
backup_count = 3

[syslog]
rotate = daily
backup_count = 3

[signed]
rotate = daily
backup_count = 3
secret = s3cret
";

/// A daemon with syslog on UDP, TCP and a local socket.
struct Syslog {
    d: Daemon,
    tcp: SocketAddr,
    udp: SocketAddr,
    socket: PathBuf,
}

fn start(extra: &str) -> Syslog {
    let d = Daemon::start_with(
        FACILITIES,
        &format!("listen_syslog = 127.0.0.1:0\nsyslog_socket = run/syslog.sock\n{extra}"),
    );
    let addr = |proto: &str| -> SocketAddr {
        let needle = format!("proto={proto} addr=");
        let out = d.output();
        let line = out
            .lines()
            .find(|l| l.contains(&needle))
            .unwrap_or_else(|| panic!("no {proto} listener in:\n{out}"));
        let rest = &line[line.find(&needle).unwrap() + needle.len()..];
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    let tcp = addr("syslog-tcp");
    let udp = addr("syslog-udp");
    let socket = d.dir.path().join("run/syslog.sock");
    assert!(socket.exists(), "no socket at {}", socket.display());
    Syslog {
        d,
        tcp,
        udp,
        socket,
    }
}

fn hostname() -> String {
    nix::unistd::gethostname().unwrap().into_string().unwrap()
}

/// Runs `logger` with `args`; panics with its stderr if it fails.
fn logger(args: &[&str]) {
    let out = Command::new("logger")
        .args(args)
        .output()
        .expect("run logger");
    assert!(
        out.status.success(),
        "logger {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether `logger` exists; the tests that need it say so when it does not.
fn have_logger() -> bool {
    if support::have_tool("logger") {
        return true;
    }
    eprintln!("SKIPPED: logger(1) is not installed (util-linux / bsdutils)");
    false
}

/// `(time, host, rest)` of a line `{time} - {host} - {rest}`.
fn split(line: &str) -> (&str, &str, &str) {
    let mut it = line.splitn(3, " - ");
    let t = it.next().unwrap();
    let h = it.next().unwrap_or_else(|| panic!("no host in {line:?}"));
    let r = it.next().unwrap_or_else(|| panic!("no body in {line:?}"));
    // The v1 time format: `%Y-%m-%d %H:%M:%S.%f`.
    assert_eq!(t.len(), 26, "{line:?}");
    assert_eq!(&t[4..5], "-");
    assert_eq!(&t[19..20], ".");
    (t, h, r)
}

/// Waits for a line ending in `tail` in `file`; returns it.
fn wait_for(s: &Syslog, file: &str, tail: &str) -> String {
    let path = s.d.log(file);
    let mut found = None;
    let ok = poll(|| {
        found = read_lines(&path).into_iter().find(|l| l.ends_with(tail));
        found.is_some()
    });
    assert!(
        ok,
        "no line ending {tail:?} in {file}: {:?}\n{}",
        read_lines(&path),
        s.d.output()
    );
    found.unwrap()
}

#[test]
fn logger_over_udp_rfc5424_by_default() {
    if !have_logger() {
        return;
    }
    let s = start("");
    let port = s.udp.port().to_string();
    logger(&[
        "-n",
        "127.0.0.1",
        "-P",
        &port,
        "-d",
        "-t",
        "myapp",
        "-p",
        "user.warning",
        "hello udp",
    ]);
    let line = wait_for(&s, "myapp/root.log", "hello udp");
    let (_, host, rest) = split(&line);
    assert_eq!(host, hostname());
    // logger adds a timeQuality SD element: it is kept.
    assert_eq!(
        rest,
        "WARNING - [timeQuality tzKnown=\"1\" isSynced=\"0\"] hello udp"
    );
}

#[test]
fn logger_over_tcp_with_and_without_octet_counting() {
    if !have_logger() {
        return;
    }
    let s = start("");
    let port = s.tcp.port().to_string();
    logger(&[
        "-n",
        "127.0.0.1",
        "-P",
        &port,
        "-T",
        "-t",
        "myapp",
        "-p",
        "daemon.err",
        "lf framed",
    ]);
    logger(&[
        "-n",
        "127.0.0.1",
        "-P",
        &port,
        "-T",
        "--octet-count",
        "-t",
        "myapp",
        "-p",
        "local0.debug",
        "octet counted",
    ]);
    let a = wait_for(&s, "myapp/root.log", "lf framed");
    let b = wait_for(&s, "myapp/root.log", "octet counted");
    assert!(split(&a).2.starts_with("ERR - "), "{a}");
    assert!(split(&b).2.starts_with("DEBUG - "), "{b}");
}

#[test]
fn logger_rfc3164_keeps_the_pid_and_rfc5424_msgid_picks_the_module() {
    if !have_logger() {
        return;
    }
    let s = start("");
    let port = s.udp.port().to_string();
    logger(&[
        "-n",
        "127.0.0.1",
        "-P",
        &port,
        "-d",
        "--rfc3164",
        "-i",
        "-t",
        "myapp",
        "bsd form",
    ]);
    logger(&[
        "-n",
        "127.0.0.1",
        "-P",
        &port,
        "-d",
        "--rfc5424",
        "--msgid",
        "audit",
        "--sd-id",
        "who@32473",
        "--sd-param",
        "user=\"ann\"",
        "-t",
        "myapp",
        "-p",
        "auth.crit",
        "5424 form",
    ]);
    let a = wait_for(&s, "myapp/root.log", "bsd form");
    let (_, host, rest) = split(&a);
    assert_eq!(host, hostname());
    // `-i` sends logger's pid as `myapp[pid]:`; it stays in the message.
    let pid = rest
        .strip_prefix("NOTICE - [")
        .and_then(|r| r.strip_suffix("] bsd form"))
        .unwrap_or_else(|| panic!("{rest:?}"));
    assert!(pid.parse::<u32>().is_ok(), "{rest:?}");
    let b = wait_for(&s, "myapp/audit.log", "5424 form");
    let rest = split(&b).2;
    assert!(rest.starts_with("CRIT - audit "), "{rest:?}");
    assert!(rest.contains("[who@32473 user=\"ann\"]"), "{rest:?}");
}

#[test]
fn logger_on_the_local_socket_gets_the_machine_name() {
    if !have_logger() {
        return;
    }
    let s = start("");
    let sock = s.socket.to_str().unwrap().to_owned();
    logger(&["-u", &sock, "-t", "myapp", "-p", "user.info", "local hello"]);
    logger(&["--socket", &sock, "--rfc5424", "-t", "myapp", "local 5424"]);
    let a = wait_for(&s, "myapp/root.log", "local hello");
    let (_, host, rest) = split(&a);
    assert_eq!(host, hostname());
    assert_eq!(rest, "INFO - local hello");
    wait_for(&s, "myapp/root.log", "local 5424");
}

const PYTHON_SENDER: &str = r#"
import logging, logging.handlers, socket, sys
kind, where = sys.argv[1], sys.argv[2]
if kind == "unix":
    h = logging.handlers.SysLogHandler(address=where)
else:
    t = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
    h = logging.handlers.SysLogHandler(address=("127.0.0.1", int(where)), socktype=t)
h.ident = "pyapp: "
log = logging.getLogger("t")
log.propagate = False
log.addHandler(h)
log.setLevel(logging.DEBUG)
log.warning("python %s", kind)
try:
    1 / 0
except ZeroDivisionError:
    log.exception("failed over %s", kind)
h.close()
"#;

fn python(kind: &str, where_: &str) {
    let out = Command::new("python3")
        .args(["-c", PYTHON_SENDER, kind, where_])
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python {kind}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn python_sysloghandler_over_udp_tcp_and_the_local_socket() {
    let s = start("");
    python("udp", &s.udp.port().to_string());
    python("tcp", &s.tcp.port().to_string());
    python("unix", s.socket.to_str().unwrap());
    for kind in ["udp", "tcp", "unix"] {
        let line = wait_for(&s, "pyapp/root.log", &format!("python {kind}"));
        let (_, host, rest) = split(&line);
        let want_host = if kind == "unix" {
            hostname()
        } else {
            "127.0.0.1".to_owned()
        };
        assert_eq!(host, want_host, "{line}");
        assert_eq!(rest, format!("WARNING - python {kind}"));
    }
    // The traceback is one record: its lines follow the first line in the
    // file, with no time prefix of their own.
    let path = s.d.log("pyapp/root.log");
    let text = || std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        poll(|| text().matches("ZeroDivisionError").count() == 3),
        "{}",
        text()
    );
    for kind in ["udp", "tcp", "unix"] {
        let text = text();
        let start = text
            .find(&format!("ERR - failed over {kind}\nTraceback"))
            .unwrap_or_else(|| panic!("no whole traceback for {kind}:\n{text}"));
        let end = start + text[start..].find("ZeroDivisionError").unwrap();
        // No line of the record starts a record of its own.
        assert!(!text[start..end].contains(" - 127.0.0.1 - "), "{text}");
        assert!(!text[start..end].contains("\n20"), "{text}");
    }
}

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
    let s = start("max_message_size = 4096\nmax_buffered_bytes = 65536");
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
    let s = start("max_message_size = 4096\nmax_buffered_bytes = 65536");
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

/// The `loghog` binary of this workspace, built if stale (as in read.rs).
fn loghog() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let daemon = PathBuf::from(env!("CARGO_BIN_EXE_loghogd"));
        let profile_dir = daemon.parent().unwrap();
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "-q", "-p", "loghog-cli", "--bin", "loghog"])
            .arg("--manifest-path")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml"))
            .arg("--target-dir")
            .arg(profile_dir.parent().unwrap());
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        assert!(
            cmd.status().expect("cargo build").success(),
            "building loghog failed"
        );
        profile_dir.join("loghog")
    })
}

#[test]
fn loghog_bench_syslog_delivers_every_line() {
    let s = start("");
    let file = s.d.log("myapp/root.log");
    let out = Command::new(loghog())
        .args(["bench", "--syslog", "--host", "127.0.0.1", "--port"])
        .arg(s.tcp.port().to_string())
        .args([
            "--app",
            "myapp",
            "--connections",
            "4",
            "--messages",
            "20000",
            "--size",
            "200",
        ])
        .arg("--wait-file")
        .arg(&file)
        .args(["--expect-lines", "20000", "--wait-timeout", "60"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("end-to-end records/s: "), "{stdout}");
    let lines = read_lines(&file);
    assert_eq!(lines.len(), 20_000);
    for l in &lines {
        let (_, host, rest) = split(l);
        assert_eq!(host, "benchhost");
        let body = rest.strip_prefix("INFO - ").unwrap();
        assert!(body.starts_with("bench c") && body.len() == 200, "{l}");
    }
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
