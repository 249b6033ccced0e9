//! Compatibility with the original's configuration files and clients: files
//! and payloads that the Python loghogd accepted load here with the same
//! meaning ([DEFAULT], zero values, an empty module secret, a relative -F,
//! a dual-stack `[::]`, and JSON as Python writes it).
mod support;

use std::ffi::OsStr;
use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Command, Stdio};

use support::*;

/// A loghogd.conf for a daemon in its own temp dir, with `server` as the
/// whole [server] section body and `extra` before [main] (which sets no
/// logdir: `extra` must, or `main_extra` does).
fn conf_with(extra: &str, main_extra: &str, server: &str) -> String {
    format!(
        "{extra}\n[main]\nworkdir = work\nrundir = run\nfacilities_config = facilities.conf\n\
         {main_extra}\n[log]\nfilename = loghogd.log\nlevel = DEBUG\n\n[server]\n{server}\n"
    )
}

fn conf(server: &str) -> String {
    conf_with("", "logdir = logs", server)
}

fn start(loghogd_conf: &str, facilities: &str) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("facilities.conf"), facilities).unwrap();
    std::fs::write(dir.path().join("loghogd.conf"), loghogd_conf).unwrap();
    Daemon::start_in(dir)
}

fn send(d: &Daemon, frames: &[Vec<u8>]) {
    let mut conn = d.connect();
    for f in frames {
        conn.write_all(f).unwrap();
    }
}

#[test]
fn default_sections_apply_in_both_files() {
    // [DEFAULT] in loghogd.conf gives [main] its logdir; in facilities.conf
    // it gives every app its required keys and file_per_host.
    let d = start(
        &conf_with(
            "[DEFAULT]\nlogdir = from-default\n",
            "",
            "listen_ipv4 = 127.0.0.1:0\nlisten_ipv6 =",
        ),
        "[DEFAULT]\nrotate = daily\nbackup_count = 3\nfile_per_host = yes\n\n\
         [app]\n[app:web]\nfile_per_host = no\n",
    );
    send(
        &d,
        &[
            frame("app", "", "root record"),
            frame("app", "web", "web record"),
        ],
    );
    let base = d.dir.path().join("from-default/app");
    assert_eq!(
        bodies(&wait_lines(&base.join("test-host-root.log"), 1)),
        ["root record"]
    );
    assert_eq!(
        bodies(&wait_lines(&base.join("web.log"), 1)),
        ["web record"]
    );
    assert!(!d.dir.path().join("from-default/DEFAULT").exists());
}

#[test]
fn zero_flush_every_and_max_size_load_and_write_every_record() {
    let mut d = start(
        &conf("listen_ipv4 = 127.0.0.1:0\nlisten_ipv6 ="),
        "[app]\nrotate = daily\nbackup_count = 2\nmax_size = 0\nflush_every = 0\n",
    );
    let frames: Vec<Vec<u8>> = (0..50)
        .map(|i| frame("app", "", &format!("record {i} {}", "x".repeat(200))))
        .collect();
    send(&d, &frames);
    let lines = wait_lines(&d.dir.path().join("logs/app/root.log"), 50);
    assert_eq!(lines.len(), 50);
    // No size limit: nothing rotated although the file is over 10 KB.
    let names: Vec<String> = std::fs::read_dir(d.dir.path().join("logs/app"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["root.log"]);
    assert!(d.stop().success());
}

#[test]
fn an_empty_module_secret_turns_signing_off_for_that_module_only() {
    let d = start(
        &conf("listen_ipv4 = 127.0.0.1:0\nlisten_ipv6 ="),
        "[app]\nrotate = daily\nbackup_count = 1\nsecret = top\n\
         [app:public]\nrotate = daily\nbackup_count = 1\nsecret =\n",
    );
    send(
        &d,
        &[
            frame("app", "", "unsigned root"),
            frame("app", "public", "unsigned public"),
        ],
    );
    let lines = wait_lines(&d.dir.path().join("logs/app/public.log"), 1);
    assert_eq!(bodies(&lines), ["unsigned public"]);
    assert!(
        d.wait_for_output("reason=missing_signature"),
        "{}",
        d.output()
    );
    assert!(!d.dir.path().join("logs/app/root.log").exists());
}

#[test]
fn a_relative_dash_f_is_taken_from_the_config_directory() {
    let conf_dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(
        conf_dir.path().join("loghogd.conf"),
        "[main]\nfacilities_config = missing.conf\n",
    )
    .unwrap();
    std::fs::write(
        conf_dir.path().join("other.conf"),
        "[app]\nrotate = daily\nbackup_count = 1\n",
    )
    .unwrap();
    // Run from another directory, where no other.conf exists.
    let out = Command::new(env!("CARGO_BIN_EXE_loghogd"))
        .current_dir(elsewhere.path())
        .args([
            OsStr::new("-c"),
            conf_dir.path().join("loghogd.conf").as_os_str(),
            OsStr::new("-F"),
            OsStr::new("other.conf"),
            OsStr::new("--check-config"),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let want = conf_dir.path().join("other.conf");
    assert!(
        stdout.contains(&want.display().to_string()),
        "{stdout}{stderr}"
    );
}

#[test]
fn an_ipv6_wildcard_alone_on_its_port_takes_ipv4_clients_too() {
    let d = start(
        &conf("listen_ipv4 =\nlisten_ipv6 = [::0]:0"),
        "[app]\nrotate = daily\nbackup_count = 1\n",
    );
    assert!(d.tcp.is_ipv6(), "{}", d.tcp);
    let v4 = SocketAddr::from(([127, 0, 0, 1], d.tcp.port()));
    let mut conn = TcpStream::connect(v4).expect("IPv4 client on [::]");
    conn.write_all(&frame("app", "", "over tcp")).unwrap();
    let log = d.dir.path().join("logs/app/root.log");
    wait_lines(&log, 1);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let v4_udp = SocketAddr::from(([127, 0, 0, 1], d.udp.port()));
    udp.send_to(&frame("app", "", "over udp"), v4_udp).unwrap();
    let lines = wait_lines(&log, 2);
    assert_eq!(bodies(&lines), ["over tcp", "over udp"]);
}

#[test]
fn json_as_python_writes_it_is_written_not_dropped() {
    let d = start(
        &conf("listen_ipv4 = 127.0.0.1:0\nlisten_ipv6 ="),
        "[app]\nrotate = daily\nbackup_count = 1\n",
    );
    // What Python 3's json.dumps makes of a record with undecodable bytes
    // (surrogateescape), and a payload that repeats a key.
    let lone = br#"{"version": 1, "app_id": "app", "module": "", "stamp": 1, "nsecs": 2, "hostname": "h", "body": "caf\udce9 au lait"}"#;
    let dup = br#"{"version": 1, "app_id": "app", "module": "", "stamp": 1, "nsecs": 2, "hostname": "h", "body": "old", "body": "new"}"#;
    send(&d, &[raw_frame(lone, 0), raw_frame(dup, 0)]);
    let lines = wait_lines(&d.dir.path().join("logs/app/root.log"), 2);
    assert_eq!(bodies(&lines), ["caf\u{fffd} au lait", "new"]);
    assert_eq!(d.count_output(&["reason=invalid_message"]), 0);
}
