//! `loghog cat`, `tail` and `grep` against the files a real daemon wrote:
//! rotated and compressed with each format, compress_on_write, file_per_host,
//! and a rotation while `tail -f` follows. The `loghog` binary is built (or
//! found up to date) once, beside `loghogd`, and run as a user would.
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;

use support::*;

/// The `loghog` binary of this workspace (see [`loghog_bin`]).
fn loghog() -> &'static Path {
    loghog_bin()
}

/// Runs `loghog args...` to completion.
fn run(args: &[&str]) -> Output {
    Command::new(loghog())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The decoded text of every log file in `dir`; a file that vanishes or
/// is still being written (compression in progress) reads as empty.
fn text_on_disk(dir: &Path) -> String {
    let mut all = String::new();
    for name in file_names(dir).iter().filter(|n| !n.ends_with(".tmp")) {
        let Ok(f) = std::fs::File::open(dir.join(name)) else {
            continue;
        };
        let mut text = String::new();
        let _ = match Path::new(name).extension().and_then(|e| e.to_str()) {
            Some("gz") => flate2::read::MultiGzDecoder::new(f).read_to_string(&mut text),
            Some("xz") => liblzma::read::XzDecoder::new(f).read_to_string(&mut text),
            Some("bz2") => bzip2::read::BzDecoder::new(f).read_to_string(&mut text),
            _ => BufReader::new(f).read_to_string(&mut text),
        };
        all.push_str(&text);
    }
    all
}

/// Sends `body` from `host` for `app`/`module` and waits until the daemon
/// has written it, so each record gets its own, later, time of receipt.
fn send_and_wait(
    d: &Daemon,
    conn: &mut TcpStream,
    app: &str,
    module: &str,
    host: &str,
    body: &str,
) {
    conn.write_all(&frame_of(&message(app, module, Some(host), body), false))
        .unwrap();
    let dir = d.log(app);
    let needle = format!(" - {host} - {}\n", body.lines().next().unwrap());
    assert!(
        poll(|| text_on_disk(&dir).contains(&needle)),
        "record {body:?} not written: {:?}\n{}",
        file_names(&dir),
        d.output()
    );
}

/// The body of each record printed (its first line's body, continuation
/// lines left out).
fn printed_bodies(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.len() > 26 && &l[26..29] == " - ")
        .map(|l| l.splitn(3, " - ").nth(2).unwrap().to_owned())
        .collect()
}

/// A traceback body: three lines, only the first gets the header.
fn traceback(i: usize) -> String {
    format!("ERROR - r{i:02} failed\nTraceback (most recent call last):\n  ValueError: {i}")
}

/// Waits until no rotated file in `dir` is left uncompressed.
fn wait_compressed(d: &Daemon, dir: &Path, ext: &str, at_least: usize) {
    let ok = poll(|| {
        let names = file_names(dir);
        let archives = names.iter().filter(|n| n.ends_with(ext)).count();
        let plain = names
            .iter()
            .filter(|n| {
                n.contains(".log.")
                    && !n.ends_with(".xz")
                    && !n.ends_with(".bz2")
                    && !n.ends_with(".gz")
            })
            .count();
        archives >= at_least && plain == 0
    });
    assert!(ok, "{:?}\n{}", file_names(dir), d.output());
}

#[test]
fn cat_reads_every_archive_format_oldest_first_with_tracebacks_whole() {
    for (format, ext) in [("xz", ".xz"), ("bzip2", ".bz2"), ("gzip", ".gz")] {
        let d = Daemon::start_with(
            &one_facility("app", "rotate = size\nmax_size = 150\nbackup_count = 50"),
            &format!("\n[compressor]\nformat = {format}\nlevel = 1"),
        );
        let mut conn = d.connect();
        let mut want = Vec::new();
        for i in 0..12 {
            let body = if i % 4 == 1 {
                traceback(i)
            } else {
                format!("INFO - r{i:02} {}", "x".repeat(60))
            };
            send_and_wait(&d, &mut conn, "app", "", "h1", &body);
            want.push(body);
        }
        wait_compressed(&d, &d.log("app"), ext, 3);

        // Through loghogd.conf, as an operator would call it.
        let conf = d.dir.path().join("loghogd.conf");
        let out = run(&["cat", "app", "-c", conf.to_str().unwrap()]);
        assert!(out.status.success(), "{format}: {}", stderr(&out));
        let text = stdout(&out);
        let expected: String = want.iter().map(|b| format!(" - h1 - {b}\n")).collect();
        let stripped: String = text
            .lines()
            .map(|l| {
                if l.len() > 26 && &l[26..29] == " - " {
                    format!("{}\n", &l[26..])
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        assert_eq!(
            stripped,
            expected,
            "{format}: {:?}",
            file_names(&d.log("app"))
        );
        assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    }
}

#[test]
fn compress_on_write_live_and_rotated_files_are_read_in_order() {
    let d = Daemon::start_with(
        &one_facility("app", "rotate = size\nmax_size = 120\nbackup_count = 50"),
        "\n[compressor]\ncompress_on_write = yes\nlevel = 1",
    );
    let mut conn = d.connect();
    let want: Vec<String> = (0..10)
        .map(|i| format!("INFO - c{i:02} {}", "y".repeat(50)))
        .collect();
    for b in &want {
        send_and_wait(&d, &mut conn, "app", "", "h1", b);
    }
    let names = file_names(&d.log("app"));
    assert!(names.contains(&"root.log.gz".to_owned()), "{names:?}");
    assert!(names.len() >= 3, "expected rotations: {names:?}");
    let logdir = d.logdir();
    let out = run(&["cat", "app", "--logdir", logdir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(printed_bodies(&stdout(&out)), want, "{names:?}");
}

#[test]
fn file_per_host_files_merge_by_time_and_host_picks_one() {
    let d = Daemon::start(
        "[app]\nrotate = size\nmax_size = 200\nbackup_count = 20\nfile_per_host = yes\n\n\
         [app:web]\nrotate = daily\nbackup_count = 2\nfile_per_host = no\n",
    );
    let mut conn = d.connect();
    let mut all = Vec::new();
    let mut sparta = Vec::new();
    let mut everything = Vec::new();
    for i in 0..10 {
        let host = if i % 3 == 0 { "sparta" } else { "athens" };
        let body = format!("INFO - {host} {i:02} {}", "z".repeat(40));
        send_and_wait(&d, &mut conn, "app", "", host, &body);
        if host == "sparta" {
            sparta.push(body.clone());
        }
        all.push(body.clone());
        everything.push(body);
        if i % 4 == 0 {
            let web = format!("INFO - web {i:02}");
            send_and_wait(&d, &mut conn, "app", "web", "athens", &web);
            everything.push(web);
        }
    }
    let names = file_names(&d.log("app"));
    assert!(names.contains(&"sparta-root.log".to_owned()), "{names:?}");
    assert!(names.contains(&"athens-root.log".to_owned()), "{names:?}");
    let logdir = d.logdir();
    let logdir = logdir.to_str().unwrap();

    let out = run(&["cat", "app", "--logdir", logdir]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(printed_bodies(&stdout(&out)), all);

    let out = run(&["cat", "app:root", "--host", "sparta", "--logdir", logdir]);
    assert_eq!(printed_bodies(&stdout(&out)), sparta);

    let out = run(&["cat", "app:*", "--logdir", logdir]);
    assert_eq!(printed_bodies(&stdout(&out)), everything);

    let out = run(&["tail", "-n", "3", "app", "--logdir", logdir]);
    assert_eq!(printed_bodies(&stdout(&out)), all[all.len() - 3..]);
}

#[test]
fn grep_searches_whole_records_with_i_v_and_c() {
    let d = Daemon::start_with(
        &one_facility("app", "rotate = size\nmax_size = 150\nbackup_count = 50"),
        "\n[compressor]\nformat = xz\nlevel = 1",
    );
    let mut conn = d.connect();
    let mut bodies = Vec::new();
    for i in 0..8 {
        let body = if i % 3 == 0 {
            traceback(i)
        } else {
            format!("INFO - r{i:02} fine {}", "x".repeat(60))
        };
        send_and_wait(&d, &mut conn, "app", "", "h1", &body);
        bodies.push(body);
    }
    wait_compressed(&d, &d.log("app"), ".xz", 2);
    let logdir = d.logdir();
    let logdir = logdir.to_str().unwrap();
    let failed: Vec<String> = bodies
        .iter()
        .filter(|b| b.contains("Traceback"))
        .cloned()
        .collect();
    let fine: Vec<String> = bodies
        .iter()
        .filter(|b| !b.contains("Traceback"))
        .cloned()
        .collect();

    // A pattern on a continuation line selects the whole record.
    let out = run(&["grep", "ValueError", "app", "--logdir", logdir]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(
        printed_bodies(&text),
        failed
            .iter()
            .map(|b| b.lines().next().unwrap().to_owned())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        text.matches("Traceback (most recent call last):").count(),
        failed.len()
    );

    let out = run(&["grep", "-i", "valueerror", "app", "--logdir", logdir]);
    assert_eq!(printed_bodies(&stdout(&out)).len(), failed.len());

    let out = run(&["grep", "-v", "Traceback", "app", "--logdir", logdir]);
    assert_eq!(printed_bodies(&stdout(&out)), fine);

    let out = run(&["grep", "-c", "fine", "app", "--logdir", logdir]);
    assert_eq!(stdout(&out), format!("{}\n", fine.len()));

    let out = run(&["grep", "nothing-like-this", "app", "--logdir", logdir]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());

    let out = run(&["grep", "(", "app", "--logdir", logdir]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad pattern"), "{}", stderr(&out));
}

#[test]
fn tail_prints_the_last_records_reaching_back_into_archives() {
    let d = Daemon::start_with(
        &one_facility("app", "rotate = size\nmax_size = 150\nbackup_count = 50"),
        "\n[compressor]\nformat = bzip2\nlevel = 1",
    );
    let mut conn = d.connect();
    let mut bodies = Vec::new();
    for i in 0..9 {
        let body = format!("INFO - t{i:02} {}", "x".repeat(60));
        send_and_wait(&d, &mut conn, "app", "", "h1", &body);
        bodies.push(body);
    }
    wait_compressed(&d, &d.log("app"), ".bz2", 3);
    let logdir = d.logdir();
    let logdir = logdir.to_str().unwrap();
    let out = run(&["tail", "-n", "5", "app", "--logdir", logdir]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(printed_bodies(&stdout(&out)), bodies[4..]);
    let out = run(&["tail", "app", "--logdir", logdir]);
    assert_eq!(printed_bodies(&stdout(&out)), bodies);
}

/// Reads a child's stdout lines on a thread, so the test can wait for
/// them with a deadline.
fn line_reader(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Collects printed bodies until `n` arrived or the deadline passed.
fn collect_bodies(rx: &mpsc::Receiver<String>, n: usize) -> Vec<String> {
    let start = std::time::Instant::now();
    let mut got = Vec::new();
    while got.len() < n && start.elapsed() < DEADLINE {
        if let Ok(line) = rx.recv_timeout(std::time::Duration::from_millis(100)) {
            got.extend(printed_bodies(&format!("{line}\n")));
        }
    }
    got
}

#[test]
fn tail_f_follows_across_rotations_without_losing_or_repeating() {
    for compress_on_write in [false, true] {
        let d = Daemon::start_with(
            &one_facility("app", "rotate = size\nmax_size = 200\nbackup_count = 50"),
            &format!(
                "\n[compressor]\nformat = gzip\nlevel = 1\ncompress_on_write = {}",
                if compress_on_write { "yes" } else { "no" }
            ),
        );
        let mut conn = d.connect();
        let first = "INFO - f00 before".to_owned();
        send_and_wait(&d, &mut conn, "app", "", "h1", &first);
        let logdir = d.logdir();
        let mut child = Command::new(loghog())
            .args([
                "tail",
                "-n",
                "1",
                "-f",
                "app",
                "--logdir",
                logdir.to_str().unwrap(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let rx = line_reader(&mut child);
        // Once the first record is printed, the follower is following.
        assert_eq!(collect_bodies(&rx, 1), std::slice::from_ref(&first));

        let mut want = vec![first];
        for i in 1..15 {
            let body = format!("INFO - f{i:02} {}", "w".repeat(60));
            send_and_wait(&d, &mut conn, "app", "", "h1", &body);
            want.push(body);
        }
        let rotated = file_names(&d.log("app"))
            .iter()
            .filter(|n| n.contains(".log.") && !n.ends_with("log.gz"))
            .count();
        assert!(
            rotated >= 3,
            "too few rotations: {:?}",
            file_names(&d.log("app"))
        );
        let mut got = vec![want[0].clone()];
        got.extend(collect_bodies(&rx, want.len() - 1));
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(got, want, "compress_on_write = {compress_on_write}");
    }
}

/// Archives hand-written in the daemon's on-disk format: times can be
/// chosen, and a broken archive shows whether it was opened.
fn write_archive(dir: &Path, name: &str, text: &str) {
    let f = std::fs::File::create(dir.join(name)).unwrap();
    let mut e = liblzma::write::XzEncoder::new(f, 1);
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap();
}

fn line(time: &str, body: &str) -> String {
    format!("2026-11-30 {time}.000000 - h1 - {body}\n")
}

/// The records of one hand-written archive of hour `hour`: every 9th a
/// three-line traceback, enough text for several of grep's chunks.
fn hour_records(hour: u32) -> Vec<String> {
    (0..4000)
        .map(|k| {
            let time = format!("{hour:02}:{:02}:{:02}", k / 60 % 60, k % 60);
            if k % 9 == 0 {
                line(&time, &traceback(k as usize))
            } else {
                line(
                    &time,
                    &format!("INFO - h{hour} {k} fine {}", "x".repeat(40)),
                )
            }
        })
        .collect()
}

#[test]
fn grep_over_many_archives_prints_whole_records_in_file_order() {
    let logdir = tempfile::tempdir().unwrap();
    let dir = logdir.path().join("app");
    std::fs::create_dir(&dir).unwrap();
    let mut expected = String::new();
    let mut fine = 0;
    for hour in 1..=8 {
        let name = format!("root.log.2026-11-30-{hour:02}-00-00-000000.xz");
        if hour == 5 {
            // A broken archive in the middle: reported, the rest is read.
            std::fs::write(dir.join(name), b"not xz at all").unwrap();
            continue;
        }
        let records = hour_records(hour);
        write_archive(&dir, &name, &records.concat());
        for r in &records {
            if r.contains("ValueError") {
                expected.push_str(r);
            } else {
                fine += 1;
            }
        }
    }
    std::fs::write(dir.join("root.log"), line("23:00:00", &traceback(99))).unwrap();
    expected.push_str(&line("23:00:00", &traceback(99)));
    let ld = logdir.path().to_str().unwrap();

    // -i on a continuation line: every traceback whole, archives in order.
    let out = run(&["grep", "-i", "VALUEERROR", "app", "--logdir", ld]);
    assert_eq!(out.status.code(), Some(2), "the broken archive is an error");
    assert!(
        stdout(&out) == expected,
        "output differs from the archives' records"
    );
    let err = stderr(&out);
    assert!(
        err.contains("root.log.2026-11-30-05-00-00-000000.xz") && err.contains("corrupt"),
        "{err}"
    );

    let out = run(&["grep", "-c", "-v", "Traceback", "app", "--logdir", ld]);
    assert_eq!(stdout(&out), format!("{fine}\n"));
    let out = run(&["grep", "-c", "ValueError", "app", "--logdir", ld]);
    assert_eq!(
        stdout(&out),
        format!("{}\n", expected.matches("Traceback").count())
    );
}

#[test]
fn since_and_until_select_records_and_skip_archives_outside_unopened() {
    let logdir = tempfile::tempdir().unwrap();
    let dir = logdir.path().join("app");
    std::fs::create_dir(&dir).unwrap();
    // 08:00-10:00 is garbage: reading it would be reported and fail.
    std::fs::write(
        dir.join("root.log.2026-11-30-08-00-00-000000.xz"),
        b"not xz at all",
    )
    .unwrap();
    write_archive(
        &dir,
        "root.log.2026-11-30-10-00-00-000000.xz",
        &(line("10:00:00", "a") + &line("11:59:00", "b")),
    );
    write_archive(
        &dir,
        "root.log.2026-11-30-12-00-00-000000.xz",
        &(line("12:00:00", "c") + &line("13:30:00", "d")),
    );
    // 14:00 onwards: garbage too, after --until.
    std::fs::write(
        dir.join("root.log.2026-11-30-14-00-00-000000.xz"),
        b"not xz either",
    )
    .unwrap();
    std::fs::write(dir.join("root.log"), line("16:00:00", "live")).unwrap();
    let ld = logdir.path().to_str().unwrap();

    let out = run(&[
        "cat",
        "app",
        "--logdir",
        ld,
        "--since",
        "2026-11-30 11:00",
        "--until",
        "2026-11-30T13:00:00",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    assert_eq!(printed_bodies(&stdout(&out)), ["b", "c"]);

    // Without a window every archive is read: both broken ones are
    // reported by name, everything else is still printed, exit 1.
    let out = run(&["cat", "app", "--logdir", ld]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(printed_bodies(&stdout(&out)), ["a", "b", "c", "d", "live"]);
    let err = stderr(&out);
    assert!(
        err.contains("root.log.2026-11-30-08-00-00-000000.xz"),
        "{err}"
    );
    assert!(
        err.contains("root.log.2026-11-30-14-00-00-000000.xz"),
        "{err}"
    );
    assert!(err.contains("corrupt"), "{err}");

    let out = run(&[
        "grep",
        "-c",
        ".",
        "app",
        "--logdir",
        ld,
        "--since",
        "2026-11-30 12:30",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "the broken 14:00 archive is in range"
    );
    assert_eq!(stdout(&out), "2\n");
}

#[test]
fn unknown_apps_facilities_and_bad_times_are_clear_errors() {
    let d = Daemon::start(&one_facility("app", "rotate = daily\nbackup_count = 2"));
    let mut conn = d.connect();
    send_and_wait(&d, &mut conn, "app", "", "h1", "INFO - hello");
    let logdir = d.logdir();
    let ld = logdir.to_str().unwrap();

    let out = run(&["cat", "nosuchapp", "--logdir", ld]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unknown app \"nosuchapp\""),
        "{}",
        stderr(&out)
    );

    let out = run(&["cat", "app:nosuch", "--logdir", ld]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no log files of facility \"nosuch\""),
        "{}",
        stderr(&out)
    );

    let out = run(&["cat", "app", "--logdir", ld, "--since", "last tuesday"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--since"), "{}", stderr(&out));

    let out = run(&["cat", "app", "-c", "/nonexistent/loghogd.conf"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--logdir"), "{}", stderr(&out));
}

#[test]
fn an_unreadable_log_directory_names_the_group_to_join() {
    let d = Daemon::start(&one_facility("app", "rotate = daily\nbackup_count = 2"));
    let mut conn = d.connect();
    send_and_wait(&d, &mut conn, "app", "", "h1", "INFO - private");
    use std::os::unix::fs::PermissionsExt;
    // The temp dir is private; open it so only the logdir's own 0750 mode
    // stands between another user and the logs.
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let logdir = d.logdir();
    let mut cmd = if nix::unistd::geteuid().is_root() {
        // Root reads everything: run as nobody, outside the files' group.
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(loghog());
        c
    } else {
        std::fs::set_permissions(&logdir, std::fs::Permissions::from_mode(0o000)).unwrap();
        Command::new(loghog())
    };
    let out = cmd
        .args(["cat", "app", "--logdir", logdir.to_str().unwrap()])
        .output()
        .unwrap();
    std::fs::set_permissions(&logdir, std::fs::Permissions::from_mode(0o750)).unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("Permission denied"), "{err}");
    assert!(err.contains("usermod -aG loghog"), "{err}");
    assert!(stdout(&out).is_empty());
}

#[test]
fn tail_f_merges_host_files_and_picks_up_a_host_that_appears_later() {
    let d = Daemon::start(&one_facility(
        "app",
        "rotate = size\nmax_size = 200\nbackup_count = 50\nfile_per_host = yes",
    ));
    let mut conn = d.connect();
    let first = "INFO - athens 00".to_owned();
    send_and_wait(&d, &mut conn, "app", "", "athens", &first);
    let logdir = d.logdir();
    let follow = |extra: &[&str]| {
        let mut child = Command::new(loghog())
            .args([
                "tail",
                "-n",
                "1",
                "-f",
                "app",
                "--logdir",
                logdir.to_str().unwrap(),
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let rx = line_reader(&mut child);
        (child, rx)
    };
    let (mut all, all_rx) = follow(&[]);
    assert_eq!(collect_bodies(&all_rx, 1), std::slice::from_ref(&first));
    // sparta has no file yet: its follower waits for one.
    let (mut one, one_rx) = follow(&["--host", "sparta"]);

    let mut want_all = vec![first];
    let mut want_sparta = Vec::new();
    for i in 1..12 {
        let host = if i % 2 == 0 { "athens" } else { "sparta" };
        let body = format!("INFO - {host} {i:02} {}", "v".repeat(60));
        send_and_wait(&d, &mut conn, "app", "", host, &body);
        if host == "sparta" {
            want_sparta.push(body.clone());
        }
        want_all.push(body);
    }
    let names = file_names(&d.log("app"));
    assert!(
        names.iter().any(|n| n.starts_with("sparta-root.log.")),
        "sparta's file should have rotated: {names:?}"
    );
    let mut got_all = vec![want_all[0].clone()];
    got_all.extend(collect_bodies(&all_rx, want_all.len() - 1));
    let got_sparta = collect_bodies(&one_rx, want_sparta.len());
    for c in [&mut all, &mut one] {
        let _ = c.kill();
        let _ = c.wait();
    }
    assert_eq!(got_all, want_all);
    assert_eq!(got_sparta, want_sparta);
}

#[test]
fn older_compress_on_write_names_and_a_crash_duplicate_are_read_once() {
    let logdir = tempfile::tempdir().unwrap();
    let dir = logdir.path().join("app");
    std::fs::create_dir(&dir).unwrap();
    let gzip = |name: &str, text: &str| {
        let f = std::fs::File::create(dir.join(name)).unwrap();
        let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap();
    };
    // The name earlier loghogd versions gave a rotated compress_on_write file.
    gzip(
        "root.log.gz.2026-11-30-10-00-00-000000",
        &line("10:00:00", "old-form"),
    );
    // A crash during compression leaves both copies; one is read.
    let twice = line("11:00:00", "both-copies");
    std::fs::write(dir.join("root.log.2026-11-30-11-00-00-000000"), &twice).unwrap();
    write_archive(&dir, "root.log.2026-11-30-11-00-00-000000.xz", &twice);
    gzip(
        "root.log.2026-11-30-12-00-00-000000.gz",
        &line("12:00:00", "new-form"),
    );
    gzip("root.log.gz", &line("13:00:00", "live"));
    std::fs::write(dir.join("root.log.bak"), line("09:00:00", "not-ours")).unwrap();
    let ld = logdir.path().to_str().unwrap();
    let out = run(&["cat", "app", "--logdir", ld]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        printed_bodies(&stdout(&out)),
        ["old-form", "both-copies", "new-form", "live"]
    );
    let out = run(&["tail", "-n", "3", "app", "--logdir", ld]);
    assert_eq!(
        printed_bodies(&stdout(&out)),
        ["both-copies", "new-form", "live"]
    );
}
