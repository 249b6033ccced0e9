//! The clients' side of acknowledged delivery against the real daemon:
//! `loghog send --ack` says why a record was refused and exits non-zero,
//! `loghog bench --ack` counts only acknowledged records, and the Rust
//! client falls back to v1, losing nothing, when the server does not answer.
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use loghog_client::Client;
use support::{DEADLINE, Daemon, bodies, one_facility, wait_lines};

fn facilities() -> String {
    let mut f = one_facility("app", "rotate = daily\nbackup_count = 3");
    f.push_str("\n[signed]\nrotate = daily\nbackup_count = 3\nsecret = right\n");
    f
}

/// The `loghog` binary of this workspace, built if stale.
fn loghog() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let daemon = PathBuf::from(env!("CARGO_BIN_EXE_loghogd"));
        let profile_dir = daemon.parent().unwrap();
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "loghog-cli", "--bin", "loghog"])
            .arg("--manifest-path")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml"))
            .arg("--target-dir")
            .arg(profile_dir.parent().unwrap())
            .status()
            .expect("run cargo build for loghog");
        assert!(status.success(), "building loghog failed");
        profile_dir.join("loghog")
    })
}

fn send(d: &Daemon, args: &[&str]) -> Output {
    Command::new(loghog())
        .args(["send", "--host", "127.0.0.1", "--port"])
        .arg(d.tcp.port().to_string())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn loghog_send_ack_to_an_unknown_app_exits_non_zero_and_says_why() {
    let d = Daemon::start(&facilities());
    let out = send(&d, &["--ack", "--app", "nosuchapp", "hello"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "exit 0 for a refused record");
    assert!(
        stderr.contains("refused 1 record(s): reason=unknown_app"),
        "{stderr}"
    );
    // Without --ack a v1 client cannot know: exit 0, as before.
    let out = send(&d, &["--app", "nosuchapp", "hello"]);
    assert!(out.status.success());
}

#[test]
fn loghog_send_ack_returns_once_the_records_are_written() {
    let d = Daemon::start(&facilities());
    let out = send(&d, &["--ack", "--app", "app", "one", "two"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Acknowledged means in the file: no waiting needed.
    let lines = support::read_lines(&d.log("app/root.log"));
    assert_eq!(bodies(&lines), ["one", "two"]);
    let out = send(
        &d,
        &["--ack", "--app", "signed", "--secret", "wrong", "forged"],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("reason=bad_signature"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn loghog_bench_ack_counts_acknowledged_records() {
    let d = Daemon::start(&one_facility(
        "bench",
        "rotate = daily\nbackup_count = 3\nflush_every = 100",
    ));
    let out = Command::new(loghog())
        .args(["bench", "--ack", "--host", "127.0.0.1", "--port"])
        .arg(d.tcp.port().to_string())
        .args(["--connections", "3", "--messages", "3000", "--size", "50"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("records: 3000"), "{stdout}");
    assert!(stdout.contains("acknowledged: yes"), "{stdout}");
    // Acknowledged before bench returned, even below flush_every.
    let lines = support::read_lines(&d.log("bench/root.log"));
    assert_eq!(lines.len(), 3000);
}

#[test]
fn a_client_asking_for_acks_falls_back_to_v1_when_the_server_does_not_answer() {
    let d = Daemon::start_with(&facilities(), "acknowledgements = no");
    let client = Client::builder("app")
        .host("127.0.0.1")
        .port(d.tcp.port())
        .ack(true)
        .ack_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    for i in 0..50 {
        client.send("root", &format!("r{i}"));
    }
    client.flush(DEADLINE).unwrap();
    assert_eq!(client.delivered(), 50);
    assert!(
        client
            .last_error()
            .is_some_and(|e| e.contains("did not answer")),
        "{:?}",
        client.last_error()
    );
    // After the fall-back the connection carries on as v1.
    client.send("root", "after");
    client.close(DEADLINE).unwrap();
    let want: Vec<String> = (0..50)
        .map(|i| format!("r{i}"))
        .chain(["after".to_string()])
        .collect();
    assert_eq!(bodies(&wait_lines(&d.log("app/root.log"), 51)), want);
    assert_eq!(client.dropped(), 0);
}

#[test]
fn the_rust_client_counts_refusals_with_the_server_reason() {
    let d = Daemon::start(&facilities());
    let client = Client::builder("signed")
        .host("127.0.0.1")
        .port(d.tcp.port())
        .secret("wrong")
        .ack(true)
        .build()
        .unwrap();
    client.send("root", "forged");
    client.send("root", "forged again");
    client.close(DEADLINE).unwrap();
    assert_eq!(client.rejected(), (2, Some("bad_signature".to_string())));
    assert_eq!(client.delivered(), 0);
}

#[test]
fn acknowledged_delivery_works_over_tls() {
    let tls_data = |rel: &str| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/tls")
            .join(rel)
    };
    let d = Daemon::start_with(
        &facilities(),
        &format!(
            "listen_ipv4_ssl = 127.0.0.1:0\npemfile = {}\ncacert = {}\n",
            tls_data("ecdsa/localhost-server.pem").display(),
            tls_data("ecdsa/localhost-ca.cert").display()
        ),
    );
    let client = Client::builder("app")
        .host("127.0.0.1")
        .port(d.tls.unwrap().port())
        .tls(
            tls_data("ecdsa/client1.pem"),
            tls_data("ecdsa/localhost-ca.cert"),
        )
        .ack(true)
        .max_buffer_size(5000)
        .build()
        .unwrap();
    for i in 0..2000 {
        client.send("root", &format!("tls {i}"));
    }
    client.flush(DEADLINE).unwrap();
    assert_eq!(client.delivered(), 2000);
    // Acknowledged over TLS means written, like over TCP; no fall-back
    // to v1 happened (that would say so in last_error).
    assert!(client.last_error().is_none(), "{:?}", client.last_error());
    let lines = support::read_lines(&d.log("app/root.log"));
    let want: Vec<String> = (0..2000).map(|i| format!("tls {i}")).collect();
    assert_eq!(bodies(&lines), want);
}

/// A v1 server stricter than ours: it drops the connection on a frame
/// with flags it does not know (the hello) and writes the rest.
fn strict_v1_server() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let bodies = got.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let bodies = bodies.clone();
            std::thread::spawn(move || {
                let mut dec = loghog_proto::FrameDecoder::new(1 << 20);
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = match conn.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    while let loghog_proto::Decode::Frame { frame, consumed } = dec.decode(&buf) {
                        if frame.flags != 0 {
                            return; // closes the connection
                        }
                        let m = loghog_proto::Message::parse(frame.payload).unwrap();
                        bodies.lock().unwrap().push(m.body.into_owned());
                        buf.drain(..consumed);
                    }
                }
            });
        }
    });
    (port, got)
}

#[test]
fn a_server_that_drops_connections_on_the_hello_still_gets_the_records() {
    let (port, got) = strict_v1_server();
    let client = Client::builder("app")
        .host("127.0.0.1")
        .port(port)
        .ack(true)
        .build()
        .unwrap();
    for i in 0..5 {
        client.send("root", &format!("r{i}"));
    }
    client.flush(DEADLINE).unwrap();
    let want: Vec<String> = (0..5).map(|i| format!("r{i}")).collect();
    assert!(
        support::poll(|| *got.lock().unwrap() == want),
        "{:?}",
        got.lock().unwrap()
    );
    assert_eq!(client.dropped(), 0);
}

#[test]
fn with_acks_a_logging_call_never_waits_on_a_server_that_does_not_read() {
    // Accepts, then neither reads nor answers: writes block once the
    // socket buffers fill, and no acknowledgement ever comes.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = std::thread::spawn(move || listener.accept().map(|(s, _)| s));
    let client = std::sync::Arc::new(
        Client::builder("app")
            .host("127.0.0.1")
            .port(port)
            .ack(true)
            .max_buffer_size(100)
            .write_timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
    );
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let c = client.clone();
    std::thread::spawn(move || {
        let body = "x".repeat(2000);
        for _ in 0..20_000 {
            c.send("root", &body);
        }
        let _ = done_tx.send(());
    });
    // 20 000 records of 2 KB cannot all fit in any socket buffer: if a
    // call waited on the network, this would not arrive.
    done_rx
        .recv_timeout(DEADLINE)
        .expect("logging calls blocked on the network");
    let _conn = held.join().unwrap();
    // Given up at close: counted, never silently lost.
    let err = client.close(Duration::from_millis(200)).unwrap_err();
    assert!(err.to_string().contains("not delivered"), "{err}");
    assert_eq!(client.delivered(), 0);
    assert_eq!(client.dropped(), 20_000);
    assert_eq!(client.pending(), 0);
}
