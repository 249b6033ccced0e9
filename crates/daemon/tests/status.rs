//! `loghog status` against a real daemon: the summary from its metrics
//! endpoint (found through `-c loghogd.conf` or given with `--metrics`), and
//! clear errors when metrics are not configured or nothing answers.
mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use support::*;

fn status(args: &[&str]) -> Output {
    Command::new(loghog_bin())
        .arg("status")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A port nothing listens on right now (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const FACILITIES: &str = "\
[web]
rotate = daily
backup_count = 3

[quiet]
rotate = daily
backup_count = 3
";

#[test]
fn summarises_a_running_daemon() {
    let d = Daemon::start_with(FACILITIES, "\n[metrics]\nlisten = 127.0.0.1:0\n");
    let mut c = d.connect();
    for i in 0..5 {
        c.write_all(&frame("web", "", &format!("r{i}"))).unwrap();
    }
    c.write_all(&frame("nosuch", "", "x")).unwrap();
    c.write_all(&frame("nosuch-either", "", "x")).unwrap();
    c.flush().unwrap();
    wait_lines(&d.log("web/root.log"), 5);
    let url = format!("http://{}/metrics", d.metrics_addr());
    // The rejections are counted before the later record is written, but
    // poll anyway: the summary is read from a live daemon.
    let mut out = status(&["--metrics", &url, "--interval", "0.2"]);
    assert!(
        poll(|| {
            out = status(&["--metrics", &url, "--interval", "0.2"]);
            String::from_utf8_lossy(&out.stdout).contains("unknown_app")
        }),
        "{}",
        text(&out)
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!("loghogd {} at {url}", env!("CARGO_PKG_VERSION")),
        "{stdout}"
    );
    assert!(stdout.contains("\nup since:     "), "{stdout}");
    assert!(stdout.contains("\nrecords/s:    "), "{stdout}");
    assert!(stdout.contains("; 5 since start\n"), "{stdout}");
    assert!(stdout.contains("\nqueue depth:  0 batches"), "{stdout}");
    assert!(stdout.contains("tcp 1 open (1 accepted)"), "{stdout}");
    let app_row = |app: &str| {
        lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(app))
            .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_owned())
    };
    assert_eq!(app_row("web").as_deref(), Some("5"), "{stdout}");
    let reject = lines
        .iter()
        .find(|l| l.starts_with("unknown_app "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(
        reject.split_whitespace().collect::<Vec<_>>(),
        ["unknown_app", "2", "(unknown)", "2"],
        "{stdout}"
    );
    drop(c);
}

#[test]
fn finds_the_endpoint_in_loghogd_conf() {
    let port = free_port();
    let d = Daemon::start_with(
        FACILITIES,
        &format!("\n[metrics]\nlisten = 127.0.0.1:{port}\n"),
    );
    let conf = d.dir.path().join("loghogd.conf");
    let out = status(&["-c", conf.to_str().unwrap(), "--interval", "0.1"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with(&format!(
            "loghogd {} at http://127.0.0.1:{port}/metrics\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{stdout}"
    );
    assert!(stdout.contains("no records written yet"), "{stdout}");
    assert!(stdout.contains("no rejections"), "{stdout}");
}

#[test]
fn says_when_metrics_are_off_or_unreachable() {
    let d = Daemon::start(FACILITIES);
    let conf = d.dir.path().join("loghogd.conf");
    let out = status(&["-c", conf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("metrics are not configured in"), "{err}");
    assert!(err.contains("listen = 127.0.0.1:9566"), "{err}");

    let port = free_port();
    let out = status(&["--metrics", &format!("127.0.0.1:{port}")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "cannot reach loghogd's metrics at http://127.0.0.1:{port}/metrics"
        )),
        "{err}"
    );
}
