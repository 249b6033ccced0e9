//! The shutdown deadline against the real daemon: after SIGTERM connections
//! read for up to `[server] shutdown_timeout`; a client still sending then
//! is cut, and what is cut is counted in the log.
mod support;

use std::io::Write;
use std::net::Shutdown;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::*;

const APP: &str = "[app]\nrotate = daily\nbackup_count = 1\n";

/// A client thread sending `s{i}` records, 20 per write (with a 1 ms pause
/// after each if `paced`, else as fast as the daemon takes them), until
/// `stop` is set (then it closes its side: EOF), a write fails (the
/// daemon is gone), or the deadline passes. Returns how many records it
/// wrote in full.
fn sender(d: &Daemon, stop: Arc<AtomicBool>, paced: bool) -> JoinHandle<usize> {
    let mut conn = d.connect();
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut sent = 0;
        while !stop.load(Ordering::Relaxed) && start.elapsed() < DEADLINE {
            let mut batch = Vec::new();
            for i in sent..sent + 20 {
                batch.extend(frame("app", "", &format!("s{i}")));
            }
            if conn.write_all(&batch).is_err() {
                return sent;
            }
            sent += 20;
            if paced {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let _ = conn.shutdown(Shutdown::Write);
        sent
    })
}

/// The bodies are `s0, s1, ...` in order, each once.
fn assert_in_order(bodies: &[String]) {
    for (i, b) in bodies.iter().enumerate() {
        assert_eq!(b, &format!("s{i}"), "record {i} missing, doubled or torn");
    }
}

/// Regression: the connection cut at the deadline used to lose its unread
/// data without a word in the log.
#[test]
fn a_client_still_sending_at_the_deadline_is_cut_and_the_cut_is_counted() {
    let mut d = Daemon::start_with(APP, "shutdown_timeout = 0.5\n");
    let stop = Arc::new(AtomicBool::new(false));
    // Unpaced: the socket always has more waiting when the cut comes.
    let client = sender(&d, stop.clone(), false);
    wait_lines(&d.log("app/root.log"), 100);
    d.signal(Signal::SIGTERM);
    let status = d.wait_exit();
    stop.store(true, Ordering::Relaxed);
    let sent = client.join().unwrap();
    assert_eq!(status.code(), Some(0), "{}", d.output());

    let out = d.output();
    assert_eq!(d.count_output(&["reason=shutdown_cut"]), 1, "{out}");
    let summary = out
        .lines()
        .find(|l| l.contains("shutdown cut connections"))
        .unwrap_or_else(|| panic!("no summary of the cut in:\n{out}"));
    assert!(summary.contains("connections=1"), "{summary}");
    let count = |key: &str| -> u64 {
        let at = summary
            .find(key)
            .unwrap_or_else(|| panic!("{key}: {summary}"));
        let rest = &summary[at + key.len()..];
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    assert!(
        count("buffered_bytes=") + count("unread_bytes=") > 0,
        "{summary}"
    );
    // What was read before the cut is written, whole and in order.
    let bodies = bodies(&read_lines(&d.log("app/root.log")));
    assert!(bodies.len() < sent, "nothing was cut");
    assert_in_order(&bodies);
}

/// The deadline is the setting, not a fixed 3 s: with a longer
/// `shutdown_timeout`, a client that keeps sending for 4 s after SIGTERM
/// and then stops has every record written, and nothing is cut.
#[test]
fn shutdown_timeout_is_a_setting() {
    let mut d = Daemon::start_with(APP, "shutdown_timeout = 60\n");
    let stop = Arc::new(AtomicBool::new(false));
    // Paced, so the run stays small; still never quiet long enough for
    // the daemon to take it as done.
    let client = sender(&d, stop.clone(), true);
    wait_lines(&d.log("app/root.log"), 100);
    d.signal(Signal::SIGTERM);
    std::thread::sleep(Duration::from_secs(4));
    stop.store(true, Ordering::Relaxed);
    let sent = client.join().unwrap();
    let status = d.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", d.output());
    let bodies = bodies(&read_lines(&d.log("app/root.log")));
    assert_eq!(bodies.len(), sent, "{}", d.output());
    assert_in_order(&bodies);
    assert_eq!(d.count_output(&["shutdown_cut"]), 0, "{}", d.output());
}
