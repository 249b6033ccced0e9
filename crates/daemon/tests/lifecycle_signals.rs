//! Signals: SIGHUP reloads facilities.conf (keeping the running one when the
//! new one is invalid); SIGTERM and SIGINT write what clients have already
//! sent and exit 0.
mod support;

use std::io::Write;

use nix::sys::signal::Signal;
use support::*;

#[test]
fn sighup_loads_new_facilities() {
    let d = Daemon::start("[app]\nrotate = daily\nbackup_count = 1\n");
    let mut conn = d.connect();
    conn.write_all(&frame("newapp", "", "before reload"))
        .unwrap();
    assert!(d.wait_for_output("reason=unknown_app"));
    std::fs::write(
        d.dir.path().join("facilities.conf"),
        "[app]\nrotate = daily\nbackup_count = 1\n[newapp]\nrotate = daily\nbackup_count = 1\n",
    )
    .unwrap();
    d.signal(Signal::SIGHUP);
    assert!(d.wait_for_output("facilities reloaded"), "{}", d.output());
    // The same connection now reaches the new app.
    conn.write_all(&frame("newapp", "", "after reload"))
        .unwrap();
    let lines = wait_lines(&d.log("newapp/root.log"), 1);
    assert_eq!(bodies(&lines), ["after reload"]);
}

#[test]
fn an_invalid_facilities_conf_on_sighup_keeps_the_running_one() {
    let mut d = Daemon::start("[app]\nrotate = daily\nbackup_count = 1\n");
    std::fs::write(
        d.dir.path().join("facilities.conf"),
        "[app]\nrotate = sometimes\n[other:web]\nrotate = daily\nbackup_count = 1\n",
    )
    .unwrap();
    d.signal(Signal::SIGHUP);
    assert!(
        d.wait_for_output("keeping the running configuration"),
        "{}",
        d.output()
    );
    // Every error was logged, with file and line.
    assert!(
        d.count_output(&["facilities.conf:2:", "sometimes"]) >= 1,
        "{}",
        d.output()
    );
    assert!(
        d.count_output(&["facilities.conf:3:", "other"]) >= 1,
        "{}",
        d.output()
    );
    assert!(d.is_running());
    let mut conn = d.connect();
    conn.write_all(&frame("app", "", "still here")).unwrap();
    wait_lines(&d.log("app/root.log"), 1);
}

#[test]
fn a_changed_loghogd_conf_on_sighup_says_a_restart_is_needed() {
    let d = Daemon::start("[app]\nrotate = daily\nbackup_count = 1\n");
    let conf = d.dir.path().join("loghogd.conf");
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str("max_connections = 5\n");
    std::fs::write(&conf, text).unwrap();
    d.signal(Signal::SIGHUP);
    assert!(d.wait_for_output("restart loghogd"), "{}", d.output());
}

#[test]
fn sigterm_writes_everything_already_sent_and_exits_zero() {
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        let mut d = Daemon::start("[app]\nrotate = daily\nbackup_count = 1\n");
        let total = 50_000;
        let mut conns: Vec<_> = (0..4).map(|_| d.connect()).collect();
        for (c, conn) in conns.iter_mut().enumerate() {
            let mut buf = Vec::new();
            for i in 0..total / 4 {
                buf.extend(frame("app", "", &format!("c{c} r{i}")));
            }
            conn.write_all(&buf).unwrap();
        }
        // Everything is in the daemon's socket buffers or beyond; the
        // connections stay open, as real clients' do.
        d.signal(sig);
        let status = d.wait_exit();
        assert_eq!(status.code(), Some(0), "{sig}: {}", d.output());
        let lines = read_lines(&d.log("app/root.log"));
        assert_eq!(lines.len(), total, "{sig}: lost records");
        drop(conns);
    }
}
