//! What a crash or a long storm of losses leaves behind: a live file whose
//! last line was cut by `kill -9` is repaired before anything is appended
//! (never one line mixing two records), and losses held back by the log's
//! rate limit are still reported with their record counts, with a total at
//! shutdown.
mod support;

use std::io::Write;

use nix::sys::signal::Signal;
use support::*;

#[test]
fn a_torn_last_line_left_by_a_crash_is_cut_before_appending() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("facilities.conf"), GOLDEN_FACILITIES).unwrap();
    std::fs::write(dir.path().join("loghogd.conf"), daemon_conf("")).unwrap();
    // What a kill -9 in the middle of a write leaves: one whole line, then
    // the start of the next record with no newline.
    let live = dir.path().join("logs/test-app/root.log");
    std::fs::create_dir_all(live.parent().unwrap()).unwrap();
    std::fs::write(
        &live,
        "2026-11-30 01:00:00.000001 - h - whole before the crash\n\
         2026-11-30 01:00:00.000002 - h - cut by the cra",
    )
    .unwrap();

    let d = Daemon::start_in(dir);
    d.connect()
        .write_all(&frame("test-app", "", "after the restart"))
        .unwrap();
    assert!(
        poll(|| read_lines(&live)
            .iter()
            .any(|l| l.ends_with("after the restart"))),
        "{}",
        d.output()
    );
    let lines = read_lines(&live);
    assert_eq!(
        bodies(&lines),
        ["whole before the crash", "after the restart"],
        "{lines:?}"
    );
    assert!(d.wait_for_output("reason=torn_line"), "{}", d.output());
}

#[test]
fn losses_held_back_by_the_rate_limit_are_reported_with_their_records() {
    let mut d = Daemon::start(
        "[app]\nrotate = daily\nbackup_count = 1\n[other]\nrotate = daily\nbackup_count = 1\n",
    );
    // A directory where the live file should be: every record for it is
    // lost, one loss line per write round.
    std::fs::create_dir_all(d.log("app/root.log")).unwrap();
    let mut conn = d.connect();
    let rounds = 25;
    for i in 0..rounds {
        conn.write_all(&frame("app", "", &format!("lost {i}")))
            .unwrap();
        // Each record is its own round: wait until it is counted.
        let needle = format!("lost_total={}", i + 1);
        assert!(i >= 9 || d.wait_for_output(&needle), "{}", d.output());
        conn.write_all(&frame("other", "", &format!("marker {i}")))
            .unwrap();
        assert_eq!(wait_lines(&d.log("other/root.log"), i + 1).len(), i + 1);
    }
    d.signal(Signal::SIGTERM);
    assert!(d.wait_exit().success());
    let out = d.output();
    // Ten loss lines a minute; the fifteen held back are reported at
    // shutdown with their record count, and the total with them.
    assert!(
        out.contains("more records dropped in"),
        "no held-back report:\n{out}"
    );
    let held: u64 = out
        .lines()
        .filter(|l| l.contains("more records dropped in"))
        .filter_map(|l| {
            let rest = &l[l.find(" records=")? + " records=".len()..];
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum();
    let logged = out
        .lines()
        .filter(|l| l.contains("reason=write_impossible") && l.contains("records dropped:"))
        .count() as u64;
    assert_eq!(logged + held, rounds as u64, "{out}");
    assert!(
        out.contains(&format!("records_lost={rounds}")),
        "no total at shutdown:\n{out}"
    );
}
