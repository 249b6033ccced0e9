//! Helpers of the syslog tests: a daemon with syslog on UDP, TCP and a
//! local socket, and the parts of the lines it writes.
use std::net::SocketAddr;
use std::path::PathBuf;

use super::{Daemon, poll, read_lines};

/// Facilities every syslog test uses.
pub const FACILITIES: &str = "\
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
pub struct Syslog {
    /// The daemon.
    pub d: Daemon,
    /// Its syslog TCP listener.
    pub tcp: SocketAddr,
    /// Its syslog UDP socket.
    pub udp: SocketAddr,
    /// Its local socket.
    pub socket: PathBuf,
}

pub fn start(extra: &str) -> Syslog {
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

pub fn hostname() -> String {
    nix::unistd::gethostname().unwrap().into_string().unwrap()
}

/// `(time, host, rest)` of a line `{time} - {host} - {rest}`.
pub fn split(line: &str) -> (&str, &str, &str) {
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
pub fn wait_for(s: &Syslog, file: &str, tail: &str) -> String {
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
