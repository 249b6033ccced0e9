//! Syslog in, end to end, from real senders: `logger(1)` from util-linux
//! and Python's `logging.handlers.SysLogHandler` over UDP, TCP and the
//! local socket, and `loghog bench --syslog`, into a real daemon; the
//! lines they leave.
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use support::syslog::{hostname, split, start, wait_for};
use support::{poll, read_lines};

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
