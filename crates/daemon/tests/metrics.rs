//! The Prometheus endpoint of a real daemon: `/metrics` scraped over HTTP
//! after sending known good and bad records, with exact counts; the bound
//! on unknown app names; connection gauges; rotations, compressions and
//! retention; fsync; reloads; the HTTP edges (404, 405, oversized request);
//! and the `[metrics]` section in --check-config and --gen-config.
mod support;

use std::io::Write;
use std::net::TcpStream;

use nix::sys::signal::Signal;
use support::scrape::*;
use support::*;

/// loghogd.conf's [server] additions with the metrics endpoint on a free port.
fn with_metrics(server: &str) -> String {
    format!("{server}\n[metrics]\nlisten = 127.0.0.1:0\n")
}

/// Polls the endpoint until `series` reaches `want`; returns the last scrape.
fn wait_value(d: &Daemon, series: &str, want: f64) -> String {
    let mut text = String::new();
    let reached = poll(|| {
        text = scrape(d);
        value(&text, series) == Some(want)
    });
    assert!(reached, "{series} never reached {want}:\n{text}");
    text
}

fn send(d: &Daemon, frames: &[Vec<u8>]) -> TcpStream {
    let mut c = d.connect();
    for f in frames {
        c.write_all(f).unwrap();
    }
    c.flush().unwrap();
    c
}

const FACILITIES: &str = "\
[web]
rotate = daily
backup_count = 3

[web:api]
rotate = daily
backup_count = 3

[signed]
rotate = daily
backup_count = 3
secret = s3cret
";

#[test]
fn counts_good_and_bad_records_exactly() {
    let d = Daemon::start_with(FACILITIES, &with_metrics("max_message_size = 4096"));
    let mut frames = Vec::new();
    for i in 0..5 {
        frames.push(frame("web", "", &format!("root {i}")));
    }
    for i in 0..3 {
        frames.push(frame("web", "api.v2", &format!("api {i}")));
    }
    let mut good = message("signed", "", Some("h"), "signed ok");
    good.sign(b"s3cret");
    frames.push(frame_of(&good, false));
    // Bad: two unknown apps, a wrong and a missing signature, an oversize frame.
    frames.push(frame("nosuch", "", "x"));
    frames.push(frame("other-unknown", "", "x"));
    let mut forged = message("signed", "", Some("h"), "forged");
    forged.signature = Some("0".repeat(32).into());
    frames.push(frame_of(&forged, false));
    frames.push(frame_of(
        &message("signed", "", Some("h"), "unsigned"),
        false,
    ));
    frames.push(frame("web", "", &"y".repeat(5000)));
    // Good again after the bad ones.
    frames.push(frame("web", "", "root last"));
    let conn = send(&d, &frames);

    // While the connection is open it is counted, then the writes land.
    let text = wait_value(
        &d,
        r#"loghogd_records_written_total{app="web",facility="root"}"#,
        6.0,
    );
    assert_eq!(
        value(&text, r#"loghogd_connections_open{transport="tcp"}"#),
        Some(1.0),
        "{text}"
    );
    wait_value(
        &d,
        r#"loghogd_records_written_total{app="web",facility="api"}"#,
        3.0,
    );
    let text = wait_value(
        &d,
        r#"loghogd_records_written_total{app="signed",facility="root"}"#,
        1.0,
    );
    let exact = [
        (
            r#"loghogd_rejected_total{app="(unknown)",reason="unknown_app"}"#,
            2.0,
        ),
        (
            r#"loghogd_rejected_total{app="signed",reason="bad_signature"}"#,
            1.0,
        ),
        (
            r#"loghogd_rejected_total{app="signed",reason="missing_signature"}"#,
            1.0,
        ),
        (
            r#"loghogd_rejected_total{app="(none)",reason="frame_too_large"}"#,
            1.0,
        ),
        (
            r#"loghogd_connections_accepted_total{transport="tcp"}"#,
            1.0,
        ),
        (r#"loghogd_listeners{transport="tcp"}"#, 1.0),
        (r#"loghogd_listeners{transport="udp"}"#, 1.0),
        (r#"loghogd_listeners{transport="tls"}"#, 0.0),
        ("loghogd_records_lost_total", 0.0),
        ("loghogd_udp_datagrams_dropped_total", 0.0),
        (
            &format!(
                r#"loghogd_build_info{{version="{}"}}"#,
                env!("CARGO_PKG_VERSION")
            ),
            1.0,
        ),
    ];
    for (series, want) in exact {
        assert_eq!(value(&text, series), Some(want), "{series} in:\n{text}");
    }
    // Exactly those rejections, nothing else.
    let rejected: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("loghogd_rejected_total{"))
        .collect();
    assert_eq!(rejected.len(), 4, "{rejected:?}");
    // Bytes are the lines as written.
    let on_disk = std::fs::metadata(d.log("web/root.log")).unwrap().len();
    assert_eq!(
        value(
            &text,
            r#"loghogd_bytes_written_total{app="web",facility="root"}"#
        ),
        Some(on_disk as f64)
    );
    assert!(
        value(&text, "loghogd_writer_queue_depth").is_some(),
        "{text}"
    );
    assert!(value(&text, "loghogd_start_time_seconds").unwrap() > 1.7e9);

    drop(conn);
    wait_value(&d, r#"loghogd_connections_open{transport="tcp"}"#, 0.0);

    // UDP: received datagrams are counted, and their records written.
    for i in 0..3 {
        d.send_udp(&frame("web", "api", &format!("udp {i}")));
    }
    let text = wait_value(
        &d,
        r#"loghogd_records_written_total{app="web",facility="api"}"#,
        6.0,
    );
    assert_eq!(
        value(&text, "loghogd_udp_datagrams_received_total"),
        Some(3.0)
    );
}

#[test]
fn random_app_names_make_one_series() {
    let d = Daemon::start_with(FACILITIES, &with_metrics(""));
    let names: Vec<String> = (0..100)
        .map(|i| format!("rnd-{i}-{}", fastrand_name(i)))
        .collect();
    let frames: Vec<Vec<u8>> = names.iter().map(|n| frame(n, "", "x")).collect();
    let _c = send(&d, &frames);
    let text = wait_value(
        &d,
        r#"loghogd_rejected_total{app="(unknown)",reason="unknown_app"}"#,
        100.0,
    );
    for n in &names {
        assert!(!text.contains(n.as_str()), "{n} became a label:\n{text}");
    }
    let series = text
        .lines()
        .filter(|l| l.starts_with("loghogd_rejected_total{"))
        .count();
    assert_eq!(series, 1, "{text}");
}

/// A name that differs per index without a random-number crate.
fn fastrand_name(i: u32) -> String {
    format!("{:08x}", i.wrapping_mul(2_654_435_761))
}

#[test]
fn rotations_compressions_and_retention_are_counted() {
    let d = Daemon::start_with(
        "[rot]\nrotate = size\nmax_size = 300\nbackup_count = 2\n",
        &with_metrics("\n[compressor]\nformat = gzip\nlevel = 1\n"),
    );
    let frames: Vec<Vec<u8>> = (0..12)
        .map(|i| frame("rot", "", &format!("{i:03} {}", "r".repeat(100))))
        .collect();
    let _c = send(&d, &frames);
    let rotations = r#"loghogd_rotations_total{app="rot"}"#;
    let compressions = r#"loghogd_compressions_total{app="rot"}"#;
    let deleted = r#"loghogd_retention_deletions_total{app="rot"}"#;
    let dir = d.log("rot");
    let mut text = String::new();
    // Every rotated file is on disk (compressed) or was deleted by
    // retention; a burst of rotations may see one deleted before its turn
    // to be compressed came, so compressions are at most rotations.
    let settled = poll(|| {
        text = scrape(&d);
        let names = file_names(&dir);
        let rotated = names.iter().filter(|n| n.starts_with("root.log.")).count() as f64;
        let on_disk = names
            .iter()
            .filter(|n| n.starts_with("root.log.") && n.ends_with(".gz"))
            .count() as f64;
        let r = value(&text, rotations).unwrap_or(0.0);
        let c = value(&text, compressions).unwrap_or(0.0);
        r >= 3.0
            && rotated == on_disk
            && on_disk == 2.0
            && on_disk + value(&text, deleted).unwrap_or(0.0) == r
            && c >= on_disk
            && c <= r
    });
    assert!(settled, "{:?}\n{text}", file_names(&dir));
    assert!(
        value(&text, r#"loghogd_compression_seconds_total{app="rot"}"#).is_some(),
        "{text}"
    );
}

#[test]
fn fsync_latency_and_reloads_are_counted() {
    let d = Daemon::start_with(
        "[durable]\nrotate = daily\nbackup_count = 1\nfsync = yes\n",
        &with_metrics(""),
    );
    let _c = send(&d, &[frame("durable", "", "synced")]);
    let mut text = String::new();
    assert!(
        poll(|| {
            text = scrape(&d);
            value(&text, "loghogd_fsync_seconds_count").is_some_and(|n| n >= 1.0)
        }),
        "{text}"
    );
    assert!(text.contains("loghogd_fsync_seconds_bucket{le="), "{text}");

    // A good reload, with a new app that then counts under its own name.
    let conf = d.dir.path().join("facilities.conf");
    std::fs::write(
        &conf,
        "[durable]\nrotate = daily\nbackup_count = 1\n\n[late]\nrotate = daily\nbackup_count = 1\n",
    )
    .unwrap();
    d.signal(Signal::SIGHUP);
    wait_value(&d, r#"loghogd_config_reloads_total{result="ok"}"#, 1.0);
    let _c2 = send(&d, &[frame("late", "", "after reload")]);
    wait_value(
        &d,
        r#"loghogd_records_written_total{app="late",facility="root"}"#,
        1.0,
    );
    // A bad one is counted as an error and changes nothing.
    std::fs::write(&conf, "[broken\n").unwrap();
    d.signal(Signal::SIGHUP);
    let text = wait_value(&d, r#"loghogd_config_reloads_total{result="error"}"#, 1.0);
    assert_eq!(
        value(&text, r#"loghogd_config_reloads_total{result="ok"}"#),
        Some(1.0)
    );
}

#[test]
fn other_paths_methods_and_oversized_requests_are_refused() {
    let d = Daemon::start_with(FACILITIES, &with_metrics(""));
    let addr = d.metrics_addr();
    let (status, _) = http(addr, b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    let (status, _) = http(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    let mut huge = b"GET /metrics HTTP/1.1\r\nX-Filler: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 20_000));
    let (status, _) = http(addr, &huge);
    assert_eq!(status, "HTTP/1.1 431 Request Header Fields Too Large");
    // A client that never finishes its request does not hold up a scrape.
    let _idle = TcpStream::connect(addr).unwrap();
    let (status, body) = http(addr, b"GET /metrics?x=1 HTTP/1.0\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.ends_with("# EOF\n"), "{body}");
}

#[test]
fn off_unless_configured() {
    let d = Daemon::start(FACILITIES);
    assert!(!d.has_output("proto=metrics"), "{}", d.output());
}

#[test]
fn check_config_and_gen_config_know_the_metrics_section() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("facilities.conf"), FACILITIES).unwrap();
    let conf = dir.path().join("loghogd.conf");
    std::fs::write(
        &conf,
        daemon_conf("\n[metrics]\nlisten = 127.0.0.1:9566, [::1]"),
    )
    .unwrap();
    let (code, out, err) = run_loghogd(&["--check-config".as_ref(), "-c".as_ref(), conf.as_ref()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!err.contains("warning"), "{err}");

    std::fs::write(&conf, daemon_conf("\n[metrics]\nlisten = 127.0.0.1:99999")).unwrap();
    let (code, _, err) = run_loghogd(&["--check-config".as_ref(), "-c".as_ref(), conf.as_ref()]);
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("[metrics] listen"), "{err}");

    let (code, sample, _) = run_loghogd(&["--gen-config".as_ref()]);
    assert_eq!(code, 0);
    assert!(sample.contains("\n[metrics]\n"), "{sample}");
}
