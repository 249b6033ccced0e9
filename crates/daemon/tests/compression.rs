//! Compression against the real binary: each archive format passes its
//! standard tool's test, compress_on_write files stay readable by zcat after
//! SIGKILL (a torn tail is cut at the next start), and rotated files a crash
//! left uncompressed are compressed at start-up.
mod support;

use std::io::Write;
use std::process::Command;

use support::*;

/// Runs `tool -t path`; None when the tool is not installed.
fn tool_test(tool: &str, path: &std::path::Path) -> Option<bool> {
    if !have_tool(tool) {
        eprintln!(
            "note: {tool} not installed, skipping its check of {}",
            path.display()
        );
        return None;
    }
    Some(
        Command::new(tool)
            .arg("-t")
            .arg(path)
            .status()
            .unwrap()
            .success(),
    )
}

#[test]
fn every_archive_format_passes_its_standard_tool() {
    for (format, ext, tool) in [
        ("xz", "xz", "xz"),
        ("bzip2", "bz2", "bzip2"),
        ("gzip", "gz", "gzip"),
    ] {
        let d = Daemon::start_with(
            &one_facility("app", "rotate = size\nmax_size = 100\nbackup_count = 5"),
            &format!("\n[compressor]\nformat = {format}\nlevel = 9"),
        );
        let mut conn = d.connect();
        let first = format!("{format} {}", "q".repeat(80));
        // The first record is over max_size on its own: the timer may rotate
        // it away before a poll sees it in the live file, and rotation
        // between records puts it alone in the archive either way.
        conn.write_all(&frame("app", "", &first)).unwrap();
        conn.write_all(&frame("app", "", "second")).unwrap();
        let dir = d.log("app");
        let ok = poll(|| {
            file_names(&dir)
                .iter()
                .any(|n| n.ends_with(&format!(".{ext}")))
        });
        let names = file_names(&dir);
        assert!(ok, "{format}: {names:?}\n{}", d.output());
        let archive = dir.join(
            names
                .iter()
                .find(|n| n.ends_with(&format!(".{ext}")))
                .unwrap(),
        );
        let text = read_log(&archive);
        assert!(
            text.ends_with(&format!(" - test-host - {first}\n")),
            "{text}"
        );
        if let Some(ok) = tool_test(tool, &archive) {
            assert!(ok, "{tool} -t {} failed", archive.display());
        }
        // The archive is private like the live files.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "{format}");
    }
}

#[test]
fn compress_on_write_survives_kill_9_and_a_torn_tail() {
    let conf = "\n[compressor]\ncompress_on_write = yes\nformat = xz";
    let mut d = Daemon::start_with(
        &one_facility("app", "rotate = daily\nbackup_count = 5"),
        conf,
    );
    let live = d.log("app/root.log.gz");
    let mut conn = d.connect();
    let sent: Vec<String> = (0..30).map(|i| format!("gz record {i}")).collect();
    for (i, body) in sent.iter().enumerate() {
        conn.write_all(&frame("app", "", body)).unwrap();
        if i % 10 == 9 {
            // Several members: one per written batch.
            let want = body.clone();
            assert!(poll(
                || live.exists() && read_log_lenient(&live).contains(&want)
            ));
        }
    }
    d.kill9();
    let zcat = |path: &std::path::Path| -> Option<String> {
        if !have_tool("zcat") {
            eprintln!("note: zcat not installed, reading in-process only");
            return None;
        }
        let out = Command::new("zcat").arg(path).output().unwrap();
        assert!(
            out.status.success(),
            "zcat failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(String::from_utf8(out.stdout).unwrap())
    };
    let text = zcat(&live).unwrap_or_else(|| read_log(&live));
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    assert_eq!(bodies(&lines), sent);

    // A crash mid-member leaves a torn tail: the next start cuts it, and
    // new members follow the old ones.
    let whole = std::fs::read(&live).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&live)
        .unwrap();
    f.write_all(&whole[..whole.len().min(25)]).unwrap();
    drop(f);
    let d = d.restart();
    d.connect()
        .write_all(&frame("app", "", "after the crash"))
        .unwrap();
    let ok = poll(|| read_log_lenient(&live).contains("after the crash"));
    assert!(ok, "{}", d.output());
    let text = zcat(&live).unwrap_or_else(|| read_log(&live));
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut want = sent.clone();
    want.push("after the crash".into());
    assert_eq!(bodies(&lines), want);
    assert!(d.wait_for_output("reason=torn_gzip_tail"), "{}", d.output());
}

/// Like `read_log` for `.gz`, but a torn tail is not an error.
fn read_log_lenient(path: &std::path::Path) -> String {
    use std::io::Read;
    let mut out = Vec::new();
    let _ =
        flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap()).read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Regression: with `compress_on_write`, rotated files were named
/// `root.log.gz.{stamp}` (the original and `ls *.gz` expect
/// `root.log.{stamp}.gz`), and a `.gz` file past `max_size` waited for its
/// next write to rotate. Now it is rotated by the timer, under the
/// original's name, kept as it is (not archived again), and retention
/// counts backups of both namings.
#[test]
fn compress_on_write_backups_are_named_like_the_original_and_rotated_by_the_timer() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("facilities.conf"),
        one_facility("app", "rotate = size\nmax_size = 100\nbackup_count = 1"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("loghogd.conf"),
        daemon_conf("\n[compressor]\ncompress_on_write = yes\nformat = xz"),
    )
    .unwrap();
    // Backups from earlier versions (old naming) and from the original.
    let app = dir.path().join("logs/app");
    std::fs::create_dir_all(&app).unwrap();
    let old = [
        "root.log.gz.2020-01-01-00-00-00-000000",
        "root.log.2020-01-02-00-00-00-000000.gz",
    ];
    for name in old {
        std::fs::write(app.join(name), "old").unwrap();
    }
    let d = Daemon::start_in(dir);
    let live = d.log("app/root.log.gz");
    // Hex digits of a counter's hash: far more than 100 bytes compressed.
    let body: String = (0..2000u64)
        .map(|i| format!("{:x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 60))
        .collect();
    d.connect().write_all(&frame("app", "", &body)).unwrap();
    // No further write: the timer rotates the file, and retention keeps
    // only the newest backup.
    let dir = d.log("app");
    let ok = poll(|| {
        let names = file_names(&dir);
        names.len() == 1 && names[0].starts_with("root.log.20") && !names[0].contains("2020")
    });
    let names = file_names(&dir);
    assert!(ok, "{names:?}\n{}", d.output());
    assert!(!live.exists());
    let name = &names[0];
    assert!(
        name.ends_with(".gz") && name.len() == "root.log.".len() + 26 + 3,
        "{name}"
    );
    let text = read_log(&dir.join(name));
    assert!(text.ends_with(&format!(" - {body}\n")), "{text}");
}

#[test]
fn rotated_files_left_uncompressed_are_compressed_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("facilities.conf"),
        one_facility("app", "rotate = daily\nbackup_count = 5"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("loghogd.conf"),
        daemon_conf("\n[compressor]\nformat = bzip2\nlevel = 1"),
    )
    .unwrap();
    let app = dir.path().join("logs/app");
    std::fs::create_dir_all(&app).unwrap();
    let left = "root.log.2026-01-01-00-00-00-000000";
    std::fs::write(app.join(left), "left behind by a crash\n").unwrap();
    // A crash between writing an archive and renaming it leaves a temp file.
    std::fs::write(
        app.join("root.log.2026-01-02-00-00-00-000000.bz2.tmp"),
        "partial",
    )
    .unwrap();
    let d = Daemon::start_in(dir);
    let want = format!("{left}.bz2");
    let ok = poll(|| file_names(&app) == [want.clone()]);
    assert!(ok, "{:?}\n{}", file_names(&app), d.output());
    assert_eq!(read_log(&app.join(&want)), "left behind by a crash\n");
    if let Some(ok) = tool_test("bzip2", &app.join(&want)) {
        assert!(ok);
    }
}

#[test]
fn compression_needs_no_external_tools() {
    // No PATH at all: xz, gzip and bzip2 cannot be run, so the archive can
    // only come from the daemon itself.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("facilities.conf"),
        one_facility("app", "rotate = size\nmax_size = 100\nbackup_count = 5"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("loghogd.conf"),
        daemon_conf("\n[compressor]\nformat = xz"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_loghogd"))
        .arg("-c")
        .arg(dir.path().join("loghogd.conf"))
        .arg("--daemon")
        .env_clear()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid: i32 = std::fs::read_to_string(dir.path().join("run/loghogd.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    struct Kill(i32);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.0),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
    let _kill = Kill(pid);
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(!environ.windows(5).any(|w| w == b"PATH="), "PATH is set");
    let log = std::fs::read_to_string(dir.path().join("loghogd.log")).unwrap();
    let addr: std::net::SocketAddr = log
        .lines()
        .find_map(|l| l.split("proto=tcp addr=").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    // 92 bytes: within max_size, so only the next record rotates it.
    conn.write_all(&frame("app", "", &"p".repeat(50))).unwrap();
    let logs = dir.path().join("logs/app");
    wait_lines(&logs.join("root.log"), 1);
    conn.write_all(&frame("app", "", "next")).unwrap();
    let ok = poll(|| file_names(&logs).iter().any(|n| n.ends_with(".xz")));
    assert!(ok, "{:?}", file_names(&logs));
}
