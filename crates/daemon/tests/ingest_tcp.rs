//! Records over plain TCP land, whole and in order, in the right files with
//! the original's line format.
mod support;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use support::*;

#[test]
fn golden_frames_from_the_python_client_are_written_to_their_facilities() {
    let d = Daemon::start(GOLDEN_FACILITIES);
    let mut conn = d.connect();
    let goldens = golden_frames();
    for (_, bytes, _) in &goldens {
        conn.write_all(bytes).unwrap();
    }
    // Every recorded frame is accepted: each goes to its app's file.
    for (name, _, decoded) in &goldens {
        let app = decoded["app_id"].as_str().unwrap();
        let module = decoded["module"].as_str().unwrap();
        let file = match (app, module) {
            ("my-first-app", "web.requests") => "my-first-app/web.requests.log",
            (app, _) => &format!("{app}/root.log"),
        };
        let body = decoded["body"].as_str().unwrap();
        let host = decoded["hostname"].as_str().unwrap();
        let first_body_line = body.lines().next().unwrap();
        let ok = poll(|| {
            read_lines(&d.log(file))
                .iter()
                .any(|l| l.ends_with(&format!(" - {host} - {first_body_line}")))
        });
        assert!(ok, "{name}: not found in {file}:\n{}", d.output());
    }
}

#[test]
fn line_format_is_time_host_body() {
    let d = Daemon::start(GOLDEN_FACILITIES);
    let mut conn = d.connect();
    conn.write_all(&frame("test-app", "", "INFO - Hello world!"))
        .unwrap();
    let lines = wait_lines(&d.log("test-app/root.log"), 1);
    let line = &lines[0];
    // 2026-11-24 04:11:45.771885 - test-host - INFO - Hello world!
    let (time, rest) = line.split_at(26);
    assert_eq!(rest, " - test-host - INFO - Hello world!");
    let b = time.as_bytes();
    for (i, c) in b.iter().enumerate() {
        match i {
            4 | 7 => assert_eq!(*c, b'-', "{line}"),
            10 => assert_eq!(*c, b' ', "{line}"),
            13 | 16 => assert_eq!(*c, b':', "{line}"),
            19 => assert_eq!(*c, b'.', "{line}"),
            _ => assert!(c.is_ascii_digit(), "{line}"),
        }
    }
    // The time is the local time of receipt: within a minute of now.
    let parsed = jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S%.f", time).unwrap();
    let now = jiff::Zoned::now().datetime();
    let diff = now.duration_since(parsed).as_secs().abs();
    assert!(diff < 60, "{time} vs {now}");
}

#[test]
fn modules_resolve_to_the_most_specific_facility() {
    let facilities = "\
[app]
rotate = daily
backup_count = 2
[app:web]
rotate = daily
backup_count = 2
[app:web.requests]
rotate = daily
backup_count = 2
";
    let d = Daemon::start(facilities);
    let mut conn = d.connect();
    for (module, body) in [
        ("", "empty"),
        ("root", "root"),
        ("web", "web"),
        ("root.web", "root.web"),
        ("web.does-not-exist", "web child"),
        ("web.requests", "requests"),
        ("web.requests.deep.er", "requests child"),
        ("other", "other"),
        ("web..requests.", "empty parts"),
    ] {
        conn.write_all(&frame("app", module, body)).unwrap();
    }
    let root = bodies(&wait_lines(&d.log("app/root.log"), 3));
    let web = bodies(&wait_lines(&d.log("app/web.log"), 3));
    let req = bodies(&wait_lines(&d.log("app/web.requests.log"), 3));
    assert_eq!(root, ["empty", "root", "other"]);
    assert_eq!(web, ["web", "root.web", "web child"]);
    assert_eq!(req, ["requests", "requests child", "empty parts"]);
}

#[test]
fn many_connections_interleave_whole_records_and_keep_per_connection_order() {
    let d = Daemon::start("[app]\nrotate = daily\nbackup_count = 1\n");
    let conns = 16;
    let per_conn = 2000;
    let threads: Vec<_> = (0..conns)
        .map(|c| {
            let addr = d.tcp;
            std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                let mut buf = Vec::new();
                for i in 0..per_conn {
                    // Multi-line bodies: a torn write would split them.
                    let body = format!(
                        "conn={c} seq={i} {}\ncontinued {c}/{i}",
                        "x".repeat(i % 300)
                    );
                    buf.extend(frame("app", "root", &body));
                    if buf.len() > 10_000 {
                        s.write_all(&buf).unwrap();
                        buf.clear();
                    }
                }
                s.write_all(&buf).unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let lines = wait_lines(&d.log("app/root.log"), conns * per_conn * 2);
    assert_eq!(lines.len(), conns * per_conn * 2);
    let mut next = vec![0usize; conns];
    let mut it = lines.iter();
    while let Some(first) = it.next() {
        let second = it.next().unwrap();
        let body = first.splitn(3, " - ").nth(2).unwrap();
        let mut words = body.split(' ');
        let c: usize = words.next().unwrap()["conn=".len()..].parse().unwrap();
        let i: usize = words.next().unwrap()["seq=".len()..].parse().unwrap();
        assert_eq!(i, next[c], "connection {c} out of order");
        assert_eq!(
            body.len(),
            format!("conn={c} seq={i} ").len() + i % 300,
            "{body}"
        );
        assert_eq!(second, &format!("continued {c}/{i}"));
        next[c] += 1;
    }
    assert!(next.iter().all(|&n| n == per_conn));
}

#[test]
fn files_are_private_and_hostile_host_names_stay_inside_the_app_directory() {
    let d = Daemon::start("[app]\nrotate = daily\nbackup_count = 1\nfile_per_host = yes\n");
    let mut conn = d.connect();
    for host in ["athens", "../../escaped", "/etc/evil", ".hidden", ""] {
        let m = message("app", "root", Some(host), "hi");
        conn.write_all(&frame_of(&m, false)).unwrap();
    }
    for (file, host) in [
        ("athens-root.log", "athens"),
        ("_._.._escaped-root.log", "../../escaped"),
        ("_etc_evil-root.log", "/etc/evil"),
        ("_hidden-root.log", ".hidden"),
        ("_-root.log", ""),
    ] {
        let lines = wait_lines(&d.log(&format!("app/{file}")), 1);
        // The line keeps the host name as sent.
        assert!(lines[0].ends_with(&format!(" - {host} - hi")), "{lines:?}");
    }
    // Nothing was created outside the app directory.
    let mut entries: Vec<_> = std::fs::read_dir(d.logdir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    entries.sort();
    assert_eq!(entries, ["app"]);
    assert!(!d.dir.path().join("escaped-root.log").exists());
    assert_eq!(std::fs::read_dir(d.log("app")).unwrap().count(), 5);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&d.log("app")), 0o750);
    assert_eq!(mode(&d.log("app/athens-root.log")), 0o640);
}

#[test]
fn a_missing_hostname_is_replaced_by_the_peer_address() {
    let d = Daemon::start("[app]\nrotate = daily\nbackup_count = 1\n");
    let mut conn = d.connect();
    conn.write_all(&frame_of(&message("app", "", None, "no host"), false))
        .unwrap();
    let lines = wait_lines(&d.log("app/root.log"), 1);
    assert!(lines[0].ends_with(" - 127.0.0.1 - no host"), "{lines:?}");
}

#[test]
fn zlib_frames_are_inflated() {
    let d = Daemon::start("[app]\nrotate = daily\nbackup_count = 1\n");
    let mut conn = d.connect();
    let body = "compressed ".repeat(50);
    conn.write_all(&frame_of(&message("app", "", Some("h"), &body), true))
        .unwrap();
    let lines = wait_lines(&d.log("app/root.log"), 1);
    assert_eq!(bodies(&lines), [body]);
}

#[test]
fn flush_every_holds_records_only_briefly() {
    // flush_every = 1000 lets the daemon batch, but a quiet file is still
    // handed to the OS within about a second.
    let d = Daemon::start("[app]\nrotate = daily\nbackup_count = 1\nflush_every = 1000\n");
    let mut conn = d.connect();
    for i in 0..3 {
        conn.write_all(&frame("app", "", &format!("r{i}"))).unwrap();
    }
    let lines = wait_lines(&d.log("app/root.log"), 3);
    assert_eq!(bodies(&lines), ["r0", "r1", "r2"]);
}

#[test]
fn idle_connections_stay_open_and_thousands_can_connect() {
    let d = Daemon::start("[app]\nrotate = daily\nbackup_count = 1\n");
    let mut conns: Vec<_> = (0..1000).map(|_| d.connect()).collect();
    for (i, c) in conns.iter_mut().enumerate().step_by(100) {
        c.write_all(&frame("app", "", &format!("from {i}")))
            .unwrap();
    }
    let lines = wait_lines(&d.log("app/root.log"), 10);
    assert_eq!(lines.len(), 10);
}

#[test]
fn where_a_secret_is_set_only_correctly_signed_golden_frames_are_written() {
    let facilities = GOLDEN_FACILITIES.replace(
        "[kitchen-sink-app]\nrotate = daily\nbackup_count = 3\n",
        "[kitchen-sink-app]\nrotate = daily\nbackup_count = 3\nsecret = my-big-secret\n",
    );
    let d = Daemon::start(&facilities);
    let mut conn = d.connect();
    let goldens = golden_frames();
    for (_, bytes, _) in &goldens {
        conn.write_all(bytes).unwrap();
    }
    // The signed frames of kitchen-sink-app get through; its unsigned zlib
    // frame is dropped as a security alert.
    let signed: Vec<_> = goldens
        .iter()
        .filter(|(_, _, j)| j["app_id"] == "kitchen-sink-app" && j.get("signature").is_some())
        .map(|(_, _, j)| j["body"].as_str().unwrap().to_owned())
        .collect();
    assert!(!signed.is_empty());
    let lines = wait_lines(&d.log("kitchen-sink-app/root.log"), signed.len());
    assert!(
        d.wait_for_output("reason=missing_signature"),
        "{}",
        d.output()
    );
    assert_eq!(
        d.count_output(&["alert=security", "reason=missing_signature"]),
        1
    );
    // Nothing else arrived late.
    let app_with_secret = wait_lines(&d.log("app-with-secret/root.log"), 1);
    assert_eq!(app_with_secret.len(), 1);
    assert_eq!(
        read_lines(&d.log("kitchen-sink-app/root.log")).len(),
        signed.len()
    );
    assert_eq!(bodies(&lines), signed);
}

#[test]
fn ipv6_listeners_take_tcp_and_udp_beside_ipv4() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("note: no IPv6 loopback here; test skipped");
        return;
    }
    let d = Daemon::start_with(
        "[app]\nrotate = daily\nbackup_count = 1\n",
        "listen_ipv6 = [::1]:0\n",
    );
    let out = d.output();
    let v6 = out
        .lines()
        .find(|l| l.contains("proto=tcp addr=[::1]:"))
        .unwrap_or_else(|| panic!("no IPv6 listener:\n{out}"));
    let addr: std::net::SocketAddr = v6
        .split("addr=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        out.contains(&format!("proto=udp addr=[::1]:{}", addr.port())),
        "{out}"
    );
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.write_all(&frame_of(&message("app", "", None, "over v6"), false))
        .unwrap();
    let lines = wait_lines(&d.log("app/root.log"), 1);
    assert!(lines[0].ends_with(" - ::1 - over v6"), "{lines:?}");
}

#[test]
fn the_internal_log_goes_to_the_configured_file_too() {
    let d = Daemon::start("[app]\nrotate = daily\nbackup_count = 1\n");
    let path = d.dir.path().join("loghogd.log");
    let ok = poll(|| std::fs::read_to_string(&path).is_ok_and(|s| s.contains("loghogd started")));
    assert!(ok, "{} lacks the start line", path.display());
}
