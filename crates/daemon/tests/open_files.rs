//! File limits against the real binary: open log files are bounded
//! (`[server] max_open_files`), hosts with a file of their own are bounded
//! per facility (`max_hosts`), an over-long host name still gets a file of
//! its own, and a file that can never be written drops its records with a
//! count instead of being retried forever.
mod support;

use std::io::Write;

use support::*;

/// Log files under `logdir` that the daemon holds open.
fn open_log_files(d: &Daemon) -> Vec<String> {
    let logdir = d.logdir().canonicalize().unwrap();
    std::fs::read_dir(format!("/proc/{}/fd", d.pid()))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with(&logdir))
        .map(|t| t.display().to_string())
        .collect()
}

fn host_frame(host: &str, body: &str) -> Vec<u8> {
    frame_of(&message("app", "", Some(host), body), false)
}

/// Regression: each new host name opened a file that was never closed, so
/// one client with many host names used up every descriptor.
#[test]
fn open_log_files_stay_within_max_open_files() {
    let d = Daemon::start_with(
        &one_facility(
            "app",
            "rotate = daily\nbackup_count = 1\nfile_per_host = yes\nmax_hosts = 100",
        ),
        "max_open_files = 4",
    );
    let mut conn = d.connect();
    for i in 0..40 {
        conn.write_all(&host_frame(&format!("host{i:02}"), &format!("from {i}")))
            .unwrap();
    }
    for i in 0..40 {
        let lines = wait_lines(&d.log(&format!("app/host{i:02}-root.log")), 1);
        assert_eq!(bodies(&lines), [format!("from {i}")]);
    }
    let open = open_log_files(&d);
    assert!(open.len() <= 4, "{} files open: {open:?}", open.len());
    // A file closed to make room is opened again by its next record.
    conn.write_all(&host_frame("host00", "again")).unwrap();
    let lines = wait_lines(&d.log("app/host00-root.log"), 2);
    assert_eq!(bodies(&lines), ["from 0", "again"]);
}

/// Regression: every distinct host name got a file of its own, without
/// bound. Now the first `max_hosts` do; the others share the facility's
/// file (their lines keep their host name), with a rate-limited warning.
#[test]
fn hosts_beyond_max_hosts_share_the_facility_file() {
    let d = Daemon::start(&one_facility(
        "app",
        "rotate = daily\nbackup_count = 1\nfile_per_host = yes\nmax_hosts = 3",
    ));
    let mut conn = d.connect();
    for i in 0..30 {
        conn.write_all(&host_frame(&format!("h{i:02}"), &format!("r{i}")))
            .unwrap();
    }
    let shared = wait_lines(&d.log("app/root.log"), 27);
    for i in 0..3 {
        let own = wait_lines(&d.log(&format!("app/h{i:02}-root.log")), 1);
        assert_eq!(bodies(&own), [format!("r{i}")]);
    }
    let want: Vec<String> = (3..30).map(|i| format!("r{i}")).collect();
    assert_eq!(bodies(&shared), want);
    assert!(shared[0].contains(" - h03 - "), "{}", shared[0]);
    let names = file_names(&d.log("app"));
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(d.wait_for_output("reason=max_hosts"), "{}", d.output());
    // 27 hosts over the limit, one warning line each at most ten times.
    let warnings = d.count_output(&["reason=max_hosts"]);
    assert!((1..=10).contains(&warnings), "{warnings} warning lines");
}

/// Regression: a host name too long for a file name was retried every
/// second forever, logging the whole path each time (189 MB of internal log
/// from 20 frames). Now it is shortened (prefix + hash) and written.
#[test]
fn an_over_long_host_name_gets_a_shortened_file_of_its_own() {
    let d = Daemon::start(&one_facility(
        "app",
        "rotate = daily\nbackup_count = 1\nfile_per_host = yes",
    ));
    let long_a = "a".repeat(100_000);
    let long_b = format!("{}b", "a".repeat(99_999));
    let mut conn = d.connect();
    for i in 0..10 {
        conn.write_all(&host_frame(&long_a, &format!("a{i}")))
            .unwrap();
        conn.write_all(&host_frame(&long_b, &format!("b{i}")))
            .unwrap();
    }
    let dir = d.log("app");
    let ok = poll(|| {
        let names = file_names(&dir);
        names.len() == 2 && names.iter().all(|n| read_lines(&dir.join(n)).len() == 10)
    });
    let names = file_names(&dir);
    assert!(ok, "{names:?}\n{}", tail(&d.output()));
    for n in &names {
        assert!(
            n.len() <= 215 && n.contains('~') && n.ends_with("-root.log"),
            "{n}"
        );
        let lines = read_lines(&dir.join(n));
        let first = bodies(&lines)[0].clone();
        let want: Vec<String> = (0..10).map(|i| format!("{}{i}", &first[..1])).collect();
        assert_eq!(bodies(&lines), want);
    }
    assert!(
        !d.output().contains("cannot write"),
        "{}",
        tail(&d.output())
    );
}

/// Regression: a write that cannot succeed however often it is tried (here
/// a directory where the log file should be) was retried every second
/// forever, and its records were never reported lost. Now they are dropped
/// with a count, and other files are not held up.
#[test]
fn a_file_that_can_never_be_written_drops_its_records_with_a_count() {
    let d = Daemon::start(
        "[app]\nrotate = daily\nbackup_count = 1\n[other]\nrotate = daily\nbackup_count = 1\n",
    );
    std::fs::create_dir_all(d.log("app/root.log")).unwrap();
    let mut conn = d.connect();
    let mut burst = Vec::new();
    for i in 0..5 {
        burst.extend(frame("app", "", &format!("lost {i}")));
    }
    conn.write_all(&burst).unwrap();
    // However the five arrive (one read or several), all are counted.
    assert!(d.wait_for_output("lost_total=5"), "{}", tail(&d.output()));
    let out = d.output();
    let line = out
        .lines()
        .find(|l| l.contains("reason=write_impossible"))
        .unwrap();
    assert!(line.contains("Is a directory"), "{line}");
    // The same connection goes on to other files.
    conn.write_all(&frame("other", "", "still served")).unwrap();
    let lines = wait_lines(&d.log("other/root.log"), 1);
    assert_eq!(bodies(&lines), ["still served"]);
    assert_eq!(d.count_output(&["will retry"]), 0, "{}", tail(&out));
}

/// The last lines of the daemon's output, for failure messages.
fn tail(out: &str) -> String {
    let lines: Vec<&str> = out.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
