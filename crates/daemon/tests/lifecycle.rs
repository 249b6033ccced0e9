//! The daemon's life cycle against the real binary: `--daemon` returns only
//! once the daemon listens (or fails with its error), pid files are
//! exclusive, stale ones replaced and removed on exit, and `--user` drops
//! root for good (only tested when the tests run as root).
mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use support::*;

/// A temp dir with facilities.conf and the harness' loghogd.conf.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("facilities.conf"),
        one_facility("app", "rotate = daily\nbackup_count = 3"),
    )
    .unwrap();
    std::fs::write(dir.path().join("loghogd.conf"), daemon_conf("")).unwrap();
    dir
}

/// Runs `loghogd -c {dir}/loghogd.conf -d {extra}` to the parent's exit.
fn run_detached(dir: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loghogd"))
        .arg("-c")
        .arg(dir.join("loghogd.conf"))
        .arg("-d")
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn pid_in(dir: &Path) -> Option<i32> {
    std::fs::read_to_string(dir.join("run/loghogd.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn alive(pid: i32) -> bool {
    // A zombie counts as gone: it has exited.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// The TCP address the daemon logged in its internal log.
fn tcp_addr(dir: &Path) -> SocketAddr {
    let log = std::fs::read_to_string(dir.join("loghogd.log")).unwrap();
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("proto=tcp addr=") && l.ends_with("listening"))
        .unwrap_or_else(|| panic!("no listener in log:\n{log}"));
    let rest = &line[line.find("addr=").unwrap() + 5..];
    rest.split_whitespace().next().unwrap().parse().unwrap()
}

/// SIGTERM, then wait until the process and its pid file are gone.
fn terminate(dir: &Path, pid: i32) {
    kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
    let gone = poll(|| !alive(pid) && !dir.join("run/loghogd.pid").exists());
    assert!(gone, "pid {pid} or its pid file still there");
}

/// Kills a detached daemon left behind by a failing test.
struct Reaper(i32);
impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0), Signal::SIGKILL);
    }
}

#[test]
fn daemon_mode_returns_once_listening_and_cleans_up_on_sigterm() {
    let dir = setup();
    let out = run_detached(dir.path(), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The parent returned: the daemon is already listening and has its pid file.
    let pid = pid_in(dir.path()).expect("pid file");
    let _reaper = Reaper(pid);
    assert!(alive(pid));
    assert_ne!(pid as u32, std::process::id());
    // Detached: stdin is /dev/null, and it leads no session (second fork).
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/fd/0")).unwrap(),
        Path::new("/dev/null")
    );
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let sid: i32 = fields[3].parse().unwrap();
    assert_ne!(sid, pid, "the daemon must not be a session leader");
    assert_ne!(sid, nix::unistd::getsid(None).unwrap().as_raw());

    let mut conn = TcpStream::connect(tcp_addr(dir.path())).unwrap();
    conn.write_all(&frame("app", "", "hello from a client"))
        .unwrap();
    let lines = wait_lines(&dir.path().join("logs/app/root.log"), 1);
    assert_eq!(bodies(&lines), ["hello from a client"]);

    terminate(dir.path(), pid);
    let log = std::fs::read_to_string(dir.path().join("loghogd.log")).unwrap();
    assert!(log.contains("loghogd stopped"), "{log}");
}

#[test]
fn a_second_daemon_is_refused_with_the_running_pid() {
    let dir = setup();
    let out = run_detached(dir.path(), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = pid_in(dir.path()).unwrap();
    let _reaper = Reaper(pid);

    // Found from the pid file before binding or forking.
    let second = run_detached(dir.path(), &[]);
    assert_eq!(second.status.code(), Some(70));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains(&format!("already running (pid {pid})")),
        "{err}"
    );
    assert_eq!(pid_in(dir.path()), Some(pid), "the pid file was taken over");
    assert!(alive(pid));
    terminate(dir.path(), pid);
}

#[test]
fn a_stale_pid_file_is_replaced() {
    let dir = setup();
    std::fs::create_dir_all(dir.path().join("run")).unwrap();
    let mut gone = Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    std::fs::write(dir.path().join("run/loghogd.pid"), format!("{dead}\n")).unwrap();

    let mut d = Daemon::start_in(dir);
    assert_eq!(pid_in(d.dir.path()), Some(d.pid() as i32));
    assert!(
        d.output().contains("reason=stale_pid_file"),
        "{}",
        d.output()
    );
    assert!(d.stop().success());
    assert!(!d.dir.path().join("run/loghogd.pid").exists());
}

#[test]
fn user_drops_root_for_good() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("note: not running as root; privilege drop not tested");
        return;
    }
    let Some(nobody) = nix::unistd::User::from_name("nobody").unwrap() else {
        eprintln!("note: no user 'nobody'; privilege drop not tested");
        return;
    };
    let dir = setup();
    // tempdir() is 0700: the dropped daemon must be able to reach its dirs.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run_detached(dir.path(), &["--user", "nobody"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = pid_in(dir.path()).unwrap();
    let _reaper = Reaper(pid);

    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let ids = |key: &str| -> Vec<u32> {
        let line = status.lines().find(|l| l.starts_with(key)).unwrap();
        line[key.len()..]
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect()
    };
    // Real, effective, saved and file-system ids all switched.
    assert_eq!(ids("Uid:"), vec![nobody.uid.as_raw(); 4], "{status}");
    assert_eq!(ids("Gid:"), vec![nobody.gid.as_raw(); 4], "{status}");
    assert!(!ids("Groups:").contains(&0), "{status}");

    let mut conn = TcpStream::connect(tcp_addr(dir.path())).unwrap();
    conn.write_all(&frame("app", "", "written by nobody"))
        .unwrap();
    let live = dir.path().join("logs/app/root.log");
    wait_lines(&live, 1);
    for path in [
        live.as_path(),
        &dir.path().join("logs/app"),
        &dir.path().join("logs"),
        &dir.path().join("work"),
        &dir.path().join("loghogd.log"),
    ] {
        let meta = std::fs::metadata(path).unwrap();
        assert_eq!(meta.uid(), nobody.uid.as_raw(), "{}", path.display());
    }
    // The directory holding loghogd.conf is not handed over.
    assert_eq!(std::fs::metadata(dir.path()).unwrap().uid(), 0);
    terminate(dir.path(), pid);
}

#[test]
fn the_internal_log_rotates_by_when_and_keeps_backup_count() {
    let dir = setup();
    let conf = daemon_conf("").replace(
        "[log]\nfilename = loghogd.log\n",
        "[log]\nfilename = loghogd.log\nwhen = S\nbackup_count = 2\n",
    );
    assert!(conf.contains("when = S"), "{conf}");
    std::fs::write(dir.path().join("loghogd.conf"), conf).unwrap();
    let d = Daemon::start_in(dir);
    let rotated = |d: &Daemon| -> Vec<String> {
        file_names(d.dir.path())
            .into_iter()
            .filter(|n| n.starts_with("loghogd.log."))
            .collect()
    };
    // Each connection logs a line; lines in later seconds roll the file over.
    let ok = poll(|| {
        drop(d.connect());
        std::thread::sleep(std::time::Duration::from_millis(200));
        rotated(&d).len() >= 2
    });
    assert!(ok, "{:?}", file_names(d.dir.path()));
    // Keep going: never more than backup_count old files.
    for _ in 0..10 {
        drop(d.connect());
        std::thread::sleep(std::time::Duration::from_millis(250));
        let names = rotated(&d);
        assert!(names.len() <= 2, "{names:?}");
    }
    for name in rotated(&d) {
        let stamp = name.strip_prefix("loghogd.log.").unwrap();
        assert!(
            jiff::civil::DateTime::strptime("%Y-%m-%d_%H-%M-%S", stamp).is_ok(),
            "{name}"
        );
    }
}

#[test]
fn systemd_is_told_ready_once_listening() {
    use std::os::unix::net::UnixDatagram;
    let dir = setup();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_loghogd"))
        .arg("-c")
        .arg(dir.path().join("loghogd.conf"))
        .env("NOTIFY_SOCKET", &socket_path)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let _reaper = Reaper(pid);
    let mut buf = [0u8; 256];
    let n = socket.recv(&mut buf).expect("no READY=1 from loghogd");
    let msg = String::from_utf8_lossy(&buf[..n]);
    assert!(msg.lines().any(|l| l == "READY=1"), "{msg:?}");
    // READY is sent only when the listeners serve: a client gets through.
    let mut conn = TcpStream::connect(tcp_addr(dir.path())).unwrap();
    conn.write_all(&frame("app", "", "after READY")).unwrap();
    wait_lines(&dir.path().join("logs/app/root.log"), 1);
    kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
    assert!(child.wait().unwrap().success());
}
