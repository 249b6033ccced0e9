//! The real `loghog` binary against an in-test frame receiver: `send` turns
//! arguments and stdin lines into records with exact bodies and fails
//! clearly when nothing listens; `bench` delivers every record it counts.
#[path = "../../client/tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{TcpReceiver, UdpReceiver, free_port};

const WAIT: Duration = Duration::from_secs(10);

fn loghog(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_loghog"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run loghog");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(text.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn arguments_become_records_with_exact_bodies() {
    let rx = TcpReceiver::start();
    let port = rx.port.to_string();
    let out = loghog(
        &[
            "send",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--app",
            "cli-app",
            "--module",
            "web.x",
            "--hostname",
            "box",
            "one",
            "two  words ",
            "",
            "é\nmulti",
        ],
        None,
    );
    assert_ok(&out);
    let got = rx.records.wait_for(4, WAIT);
    assert_eq!(rx.records.bodies(), ["one", "two  words ", "", "é\nmulti"]);
    for r in &got {
        assert_eq!(r.message.app_id, "cli-app");
        assert_eq!(r.message.module, "web.x");
        assert_eq!(r.message.hostname.as_deref(), Some("box"));
    }
}

#[test]
fn stdin_lines_become_records_signed_and_compressed() {
    let rx = TcpReceiver::start();
    let port = rx.port.to_string();
    let out = loghog(
        &[
            "send",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--app",
            "cli-app",
            "--secret",
            "my-big-secret",
            "--compress",
        ],
        Some("line 1\nline two  \n\nwindows\r\nlast without newline"),
    );
    assert_ok(&out);
    let got = rx.records.wait_for(5, WAIT);
    assert_eq!(
        rx.records.bodies(),
        [
            "line 1",
            "line two  ",
            "",
            "windows",
            "last without newline"
        ]
    );
    for r in &got {
        assert_eq!(r.message.module, "root");
        assert_eq!(r.flags, loghog_proto::FLAG_ZLIB);
        assert_eq!(r.message.verify(b"my-big-secret"), Ok(()));
    }
}

#[test]
fn many_stdin_lines_all_arrive() {
    let rx = TcpReceiver::start();
    let port = rx.port.to_string();
    let input: String = (0..50_000).map(|i| format!("line {i}\n")).collect();
    let out = loghog(
        &["send", "--host", "127.0.0.1", "--port", &port, "--app", "a"],
        Some(&input),
    );
    assert_ok(&out);
    rx.records.wait_for(50_000, WAIT);
    let want: Vec<String> = (0..50_000).map(|i| format!("line {i}")).collect();
    assert_eq!(rx.records.bodies(), want);
}

#[test]
fn nothing_listening_fails_within_the_timeout_with_a_clear_message() {
    let port = free_port().to_string();
    let started = Instant::now();
    let out = loghog(
        &[
            "send",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--app",
            "a",
            "--timeout",
            "1",
            "lost",
        ],
        None,
    );
    let took = started.elapsed();
    assert!(!out.status.success());
    assert!(took < Duration::from_secs(4), "took {took:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "could not deliver 1 record(s) to 127.0.0.1:{port} within 1 s"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("refused"), "{stderr}");
}

#[test]
fn bench_delivers_every_record_over_several_connections() {
    let rx = TcpReceiver::start();
    let port = rx.port.to_string();
    let out = loghog(
        &[
            "bench",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--connections",
            "3",
            "--messages",
            "10000",
            "--size",
            "120",
        ],
        None,
    );
    assert_ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("records: 10000\n"), "{stdout}");
    for key in ["seconds: ", "records/s: ", "MB/s: ", "cpu-seconds: "] {
        assert!(stdout.contains(key), "{key} missing in {stdout}");
    }
    let got = rx.records.wait_for(10_000, WAIT);
    assert_eq!(got.len(), 10_000);
    assert!(
        got.iter()
            .all(|r| r.message.body.len() == 120 && r.message.app_id == "bench")
    );
}

#[test]
fn bench_waits_for_the_output_file_and_reports_end_to_end() {
    let rx = TcpReceiver::start();
    let port = rx.port.to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bench.log");
    // Stands in for the daemon: writes a line per record it received.
    let writer = {
        let (records, file) = (rx.records.clone(), file.clone());
        std::thread::spawn(move || {
            records.wait_for(500, WAIT);
            std::fs::write(&file, "x\n".repeat(500)).unwrap();
        })
    };
    let out = loghog(
        &[
            "bench",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--messages",
            "500",
            "--rate",
            "5000",
            "--wait-file",
            file.to_str().unwrap(),
            "--expect-lines",
            "500",
        ],
        None,
    );
    writer.join().unwrap();
    assert_ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("end-to-end seconds: "), "{stdout}");
}

#[test]
fn bench_over_udp() {
    let rx = UdpReceiver::start();
    let port = rx.port.to_string();
    let out = loghog(
        &[
            "bench",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--udp",
            "--messages",
            "200",
            "--rate",
            "2000",
        ],
        None,
    );
    assert_ok(&out);
    // Paced loopback UDP: nothing should be lost, but be tolerant of a
    // busy machine's socket buffer.
    rx.records.wait_for(190, WAIT);
}

#[test]
fn send_over_mutual_tls() {
    let pki = support::tls::Pki::new("cli ca");
    let records = support::Records::default();
    let port = support::tls::tls_server(&pki, &pki, records.clone()).to_string();
    let dir = tempfile::tempdir().unwrap();
    let (pem, ca) = (dir.path().join("client.pem"), dir.path().join("ca.cert"));
    pki.write_client_pem(&pem);
    pki.write_ca(&ca);
    let out = loghog(
        &[
            "send",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--app",
            "a",
            "--pem",
            pem.to_str().unwrap(),
            "--ca",
            ca.to_str().unwrap(),
            "over tls",
        ],
        None,
    );
    assert_ok(&out);
    records.wait_for(1, WAIT);
    assert_eq!(records.bodies(), ["over tls"]);
}

/// Runs `loghog bench` with `args` under `script`, which gives it a
/// terminal; returns everything it drew there. None without `script`.
fn bench_on_a_terminal(args: &[&str]) -> Option<String> {
    let probe = Command::new("script").arg("--version").output();
    if !probe.is_ok_and(|o| o.status.success()) {
        return None;
    }
    let line = std::iter::once(env!("CARGO_BIN_EXE_loghog"))
        .chain(std::iter::once("bench"))
        .chain(args.iter().copied())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new("script")
        .args(["-qefc", &line, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("run script");
    assert_ok(&out);
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn bench_draws_progress_only_on_a_terminal() {
    let rx = TcpReceiver::start();
    let port = rx.port.to_string();
    let args = ["--host", "127.0.0.1", "--port", &port, "--messages", "2000"];
    // Redirected (as here): the report only, no redrawn line.
    let out = loghog(&[&["bench"][..], &args].concat(), None);
    assert_ok(&out);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(stdout.contains("records: 2000\n"), "{stdout}");
    for s in [&stdout, &stderr] {
        assert!(!s.contains('\r'), "{s:?}");
        assert!(!s.contains("records sent"), "{s:?}");
    }
    assert!(stderr.is_empty(), "{stderr:?}");
    rx.records.wait_for(2000, WAIT);

    // On a terminal: the line is drawn in place and ends with the total.
    let Some(screen) = bench_on_a_terminal(&args) else {
        eprintln!("script(1) is not installed: terminal half skipped");
        return;
    };
    assert!(screen.contains("\r2000/2000 records sent, "), "{screen:?}");
    assert!(screen.contains(" records/s, "), "{screen:?}");
    assert!(screen.contains(" s elapsed\x1b[K"), "{screen:?}");
    assert!(screen.contains("records: 2000"), "{screen:?}");
    rx.records.wait_for(4000, WAIT);
}
