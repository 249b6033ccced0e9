//! Rotation against the real binary: by size with nothing lost, by a cron
//! schedule with no traffic at all, overdue at start-up from the persisted
//! start time, and SIGHUP re-creating a file moved away.
mod support;

use std::io::Write;
use std::time::Duration;

use nix::sys::signal::Signal;
use support::*;

const GZIP_FAST: &str = "\n[compressor]\nformat = gzip\nlevel = 1";

/// The bodies of every record in `app`'s root files, backups oldest first
/// (by the start time in their names), then the live file.
fn all_bodies(d: &Daemon, app: &str) -> Vec<String> {
    try_all_bodies(d, app).expect("a file could not be read")
}

/// [`all_bodies`], or `None` while a file is caught mid-write.
fn try_all_bodies(d: &Daemon, app: &str) -> Option<Vec<String>> {
    let dir = d.log(app);
    let mut rotated: Vec<String> = file_names(&dir)
        .into_iter()
        .filter(|n| n.starts_with("root.log.") && !n.ends_with(".tmp"))
        .collect();
    rotated.sort(); // The time stamp sorts like the time.
    rotated.push("root.log".into());
    let mut out = Vec::new();
    for name in rotated {
        let path = dir.join(&name);
        if !path.exists() {
            continue;
        }
        let text = try_read_log(&path).ok()?;
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        out.extend(bodies(&lines));
    }
    Some(out)
}

#[test]
fn size_rotation_with_a_large_backup_count_loses_no_record() {
    let d = Daemon::start_with(
        &one_facility("app", "rotate = size\nmax_size = 2000\nbackup_count = 1000"),
        "\n[compressor]\nformat = xz\nlevel = 0",
    );
    let sent: Vec<String> = (0..400)
        .map(|i| format!("record {i:04} {}", "y".repeat(60)))
        .collect();
    let mut conn = d.connect();
    for (i, body) in sent.iter().enumerate() {
        conn.write_all(&frame("app", "", body)).unwrap();
        if i % 10 == 9 {
            // At most ten records in flight: no batch exceeds max_size.
            let want = body.clone();
            assert!(poll(|| read_lines(&d.log("app/root.log"))
                .iter()
                .any(|l| l.ends_with(&want))));
        }
    }
    // Every backup is compressed and every record is somewhere, in order.
    let ok = poll(|| {
        let names = file_names(&d.log("app"));
        names.iter().all(|n| n == "root.log" || n.ends_with(".xz"))
            && all_bodies(&d, "app").len() == sent.len()
    });
    let names = file_names(&d.log("app"));
    assert!(ok, "files: {names:?}\n{}", d.output());
    assert_eq!(all_bodies(&d, "app"), sent);
    // 400 lines of ~110 bytes in files of at most 2000 bytes: no batch is
    // larger, so size is checked before each write.
    assert!(names.len() > 20, "{names:?}");
    for n in names.iter().filter(|n| *n != "root.log") {
        let len = read_log(&d.log(&format!("app/{n}"))).len();
        assert!(len <= 2000, "{n} holds {len} bytes");
    }
}

#[test]
fn a_cron_schedule_rotates_without_traffic() {
    let d = Daemon::start_with(
        &one_facility("app", "rotate = * * * * *\nbackup_count = 5"),
        GZIP_FAST,
    );
    d.connect()
        .write_all(&frame("app", "", "before the minute"))
        .unwrap();
    let live = d.log("app/root.log");
    wait_lines(&live, 1);
    // Nothing more is sent: the timer alone must rotate within a minute.
    let rotated = poll_for(Duration::from_secs(70), || {
        // Settled: the archive alone (its source is removed just after).
        let names = file_names(&d.log("app"));
        names.len() == 1 && names[0].ends_with(".gz")
    });
    let names = file_names(&d.log("app"));
    assert!(rotated, "no rotation: {names:?}\n{}", d.output());
    assert!(!live.exists(), "live file still there: {names:?}");
    assert_eq!(names.len(), 1, "{names:?}");
    let text = read_log(&d.log(&format!("app/{}", names[0])));
    assert!(
        text.ends_with(" - test-host - before the minute\n"),
        "{text}"
    );
    let logged = poll(|| d.count_output(&["reason=schedule", "rotated log file"]) == 1);
    assert!(logged, "{}", d.output());
}

#[test]
fn a_restart_rotates_overdue_files_named_by_the_persisted_start() {
    let d = Daemon::start_with(
        &one_facility("app", "rotate = daily\nbackup_count = 5"),
        GZIP_FAST,
    );
    d.connect()
        .write_all(&frame("app", "", "from yesterday"))
        .unwrap();
    let live = d.log("app/root.log");
    wait_lines(&live, 1);
    let mut d = d;
    assert!(d.stop().success());

    // The state file holds the live file's start; pretend it was long ago.
    let state_path = d.dir.path().join("work/loghogd.state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    let key = live.to_str().unwrap();
    assert!(state["started"][key].is_string(), "{state}");
    state["started"][key] = "2026-01-02T03:04:05.678901Z".into();
    std::fs::write(&state_path, state.to_string()).unwrap();

    let d = d.restart();
    let started: jiff::Timestamp = "2026-01-02T03:04:05.678901Z".parse().unwrap();
    let stamp = started
        .to_zoned(jiff::tz::TimeZone::system())
        .strftime("%Y-%m-%d-%H-%M-%S-%6f")
        .to_string();
    let want = format!("root.log.{stamp}.gz");
    let ok = poll(|| file_names(&d.log("app")) == [want.clone()]);
    assert!(
        ok,
        "{:?} != [{want}]\n{}",
        file_names(&d.log("app")),
        d.output()
    );
    assert!(read_log(&d.log(&format!("app/{want}"))).ends_with(" - from yesterday\n"));
    // New records start a new file with a fresh start time.
    d.connect().write_all(&frame("app", "", "today")).unwrap();
    assert_eq!(bodies(&wait_lines(&live, 1)), ["today"]);
}

#[test]
fn sighup_recreates_a_live_file_moved_away() {
    let d = Daemon::start_with(
        &one_facility("app", "rotate = daily\nbackup_count = 5"),
        GZIP_FAST,
    );
    let mut conn = d.connect();
    conn.write_all(&frame("app", "", "first")).unwrap();
    let live = d.log("app/root.log");
    wait_lines(&live, 1);
    let moved = d.log("app/moved-by-logrotate");
    std::fs::rename(&live, &moved).unwrap();
    d.signal(Signal::SIGHUP);
    assert!(poll(|| live.exists()), "not recreated:\n{}", d.output());
    conn.write_all(&frame("app", "", "second")).unwrap();
    assert_eq!(bodies(&wait_lines(&live, 1)), ["second"]);
    assert_eq!(bodies(&read_lines(&moved)), ["first"]);
}

/// Regression: `max_size` was checked once per write round, so a burst went
/// whole into one file (16.7 KB with `max_size = 4000`). Now the file is
/// rotated between lines: no file is larger than `max_size` unless it holds
/// a single line longer than that.
#[test]
fn max_size_is_a_maximum_even_for_one_burst() {
    let d = Daemon::start_with(
        &one_facility("app", "rotate = size\nmax_size = 4000\nbackup_count = 1000"),
        GZIP_FAST,
    );
    let mut sent: Vec<String> = (0..200)
        .map(|i| format!("record {i:04} {}", "z".repeat(60)))
        .collect();
    // One line longer than max_size goes alone into a file of its own.
    sent.insert(100, format!("huge {}", "h".repeat(5000)));
    let burst: Vec<u8> = sent.iter().flat_map(|b| frame("app", "", b)).collect();
    d.connect().write_all(&burst).unwrap();
    // Settled: every backup archived, every record somewhere.
    let ok = poll(|| {
        let names = file_names(&d.log("app"));
        names.iter().all(|n| n == "root.log" || n.ends_with(".gz"))
            && all_bodies(&d, "app").len() == sent.len()
    });
    assert!(ok, "{:?}\n{}", file_names(&d.log("app")), d.output());
    assert_eq!(all_bodies(&d, "app"), sent);
    let dir = d.log("app");
    let names = file_names(&dir);
    assert!(names.len() >= 5, "{names:?}");
    for name in names.iter().filter(|n| !n.ends_with(".tmp")) {
        let text = read_log(&dir.join(name));
        let lines = text.lines().count();
        assert!(
            text.len() <= 4000 || lines == 1,
            "{name}: {} bytes in {lines} lines",
            text.len()
        );
    }
}

/// Regression: a `max_size` lowered in facilities.conf and reloaded with
/// SIGHUP only applied at the file's next record, so an idle file already
/// past the new limit stayed live. Now the reload rotates it at once.
#[test]
fn sighup_lowering_max_size_rotates_an_idle_file_past_it() {
    let d = Daemon::start_with(
        &one_facility("app", "rotate = size\nmax_size = 1000000\nbackup_count = 5"),
        GZIP_FAST,
    );
    let sent: Vec<String> = (0..50)
        .map(|i| format!("line {i:03} {}", "q".repeat(100)))
        .collect();
    let burst: Vec<u8> = sent.iter().flat_map(|b| frame("app", "", b)).collect();
    d.connect().write_all(&burst).unwrap();
    let live = d.log("app/root.log");
    assert_eq!(bodies(&wait_lines(&live, sent.len())), sent);
    std::fs::write(
        d.dir.path().join("facilities.conf"),
        one_facility("app", "rotate = size\nmax_size = 4000\nbackup_count = 5"),
    )
    .unwrap();
    d.signal(Signal::SIGHUP);
    // No record is sent after the reload: the rotation comes from it alone.
    let ok = poll(|| {
        let names = file_names(&d.log("app"));
        names.iter().any(|n| n.ends_with(".gz")) && !names.iter().any(|n| n == "root.log")
    });
    assert!(ok, "{:?}\n{}", file_names(&d.log("app")), d.output());
    assert_eq!(all_bodies(&d, "app"), sent);
}

/// Regression: with `compress_on_write`, a live `.gz` file took each write
/// round whole as one gzip member, so a burst could pass `max_size` by a
/// whole round. Now each member is cut between lines to fit: no `.gz` file
/// is larger than `max_size` unless it holds a single longer record.
#[test]
fn max_size_holds_for_compress_on_write_files_too() {
    let d = Daemon::start_with(
        &one_facility("app", "rotate = size\nmax_size = 2000\nbackup_count = 1000"),
        "\n[compressor]\ncompress_on_write = yes\nformat = gzip\nlevel = 1",
    );
    // Hex noise compresses poorly, so 400 records need several files.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let sent: Vec<String> = (0..400)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("record {i:04} {x:016x} {:016x}", x.rotate_left(21))
        })
        .collect();
    let burst: Vec<u8> = sent.iter().flat_map(|b| frame("app", "", b)).collect();
    d.connect().write_all(&burst).unwrap();
    let ok = poll(|| try_all_bodies(&d, "app").is_some_and(|b| b.len() == sent.len()));
    assert!(ok, "{:?}\n{}", file_names(&d.log("app")), d.output());
    assert_eq!(all_bodies(&d, "app"), sent);
    let dir = d.log("app");
    let names = file_names(&dir);
    assert!(names.len() >= 4, "{names:?}");
    for name in names.iter().filter(|n| n.ends_with(".gz")) {
        let size = std::fs::metadata(dir.join(name)).unwrap().len();
        let lines = read_log(&dir.join(name)).lines().count();
        assert!(
            size <= 2000 || lines == 1,
            "{name}: {size} bytes in {lines} lines"
        );
    }
}
