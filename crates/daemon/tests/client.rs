//! The Rust client library against the real daemon: every transport,
//! signing, a daemon restart in the middle of a stream, buffer overflow,
//! and a client with no server that never blocks its caller.
mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use loghog_client::Client;
use support::*;

const FACILITIES: &str = "\
[app]
rotate = daily
backup_count = 1

[signed]
rotate = daily
backup_count = 1
secret = s3cret
";

fn tls_data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tls")
        .join(rel)
}

#[test]
fn tcp_udp_compressed_and_tls_records_arrive() {
    let d = Daemon::start_with(
        FACILITIES,
        &format!(
            "listen_ipv4_ssl = 127.0.0.1:0\npemfile = {}\ncacert = {}\n",
            tls_data("ecdsa/localhost-server.pem").display(),
            tls_data("ecdsa/localhost-ca.cert").display()
        ),
    );
    let tls = d.tls.unwrap();
    let clients = [
        (
            "tcp",
            Client::builder("app").host("127.0.0.1").port(d.tcp.port()),
        ),
        (
            "udp",
            Client::builder("app")
                .host("127.0.0.1")
                .port(d.udp.port())
                .datagram(true),
        ),
        (
            "zlib",
            Client::builder("app")
                .host("127.0.0.1")
                .port(d.tcp.port())
                .compression(true),
        ),
        (
            "tls",
            Client::builder("app")
                .host("127.0.0.1")
                .port(tls.port())
                .tls(
                    tls_data("ecdsa/client1.pem"),
                    tls_data("ecdsa/localhost-ca.cert"),
                ),
        ),
    ];
    for (i, (name, builder)) in clients.into_iter().enumerate() {
        let client = builder.hostname("rust-client").build().unwrap();
        client.send("web.requests", &format!("via {name}"));
        client
            .flush(DEADLINE)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let lines = wait_lines(&d.log("app/root.log"), i + 1);
        assert!(
            lines[i].ends_with(&format!(" - rust-client - via {name}")),
            "{name}: {lines:?}"
        );
    }
}

#[test]
fn signed_records_are_accepted_and_a_wrong_secret_is_rejected() {
    let d = Daemon::start(FACILITIES);
    let port = d.tcp.port();
    let good = Client::builder("signed")
        .host("127.0.0.1")
        .port(port)
        .secret("s3cret")
        .build()
        .unwrap();
    let bad = Client::builder("signed")
        .host("127.0.0.1")
        .port(port)
        .secret("guess")
        .build()
        .unwrap();
    bad.send("", "forged");
    bad.flush(DEADLINE).unwrap();
    good.send("", "genuine");
    good.flush(DEADLINE).unwrap();
    let lines = wait_lines(&d.log("signed/root.log"), 1);
    assert!(d.wait_for_output("reason=bad_signature"));
    assert_eq!(bodies(&lines), ["genuine"]);
}

#[test]
fn a_daemon_restart_in_the_middle_of_a_stream_loses_nothing() {
    let mut d = Daemon::start(FACILITIES);
    let port = d.tcp.port();
    let client = Client::builder("app")
        .host("127.0.0.1")
        .port(port)
        .max_buffer_size(100_000)
        .build()
        .unwrap();
    let total = 20_000;
    for i in 0..total / 2 {
        client.send("", &format!("r{i}"));
    }
    client.flush(DEADLINE).unwrap();
    // A graceful restart: stop, then start again on the same port and dir.
    assert_eq!(d.stop().code(), Some(0));
    let dir = std::mem::replace(&mut d.dir, tempfile::tempdir().unwrap());
    let conf = dir.path().join("loghogd.conf");
    let text = std::fs::read_to_string(&conf)
        .unwrap()
        .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    std::fs::write(&conf, text).unwrap();
    for i in total / 2..total {
        client.send("", &format!("r{i}"));
    }
    let d2 = Daemon::start_in(dir);
    client.flush(Duration::from_secs(60)).unwrap();
    let lines = wait_lines(&d2.log("app/root.log"), total);
    // Nothing lost, order of first appearance kept (a batch cut by the
    // restart may be sent twice).
    let mut seen = std::collections::HashSet::new();
    let firsts: Vec<usize> = bodies(&lines)
        .iter()
        .filter(|b| seen.insert((*b).clone()))
        .map(|b| b[1..].parse().unwrap())
        .collect();
    assert_eq!(firsts, (0..total).collect::<Vec<_>>());
}

#[test]
fn with_no_server_sends_return_at_once_overflow_drops_the_oldest_and_close_is_bounded() {
    // Find a port where nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::builder("app")
        .host("127.0.0.1")
        .port(port)
        .max_buffer_size(10)
        .build()
        .unwrap();
    let start = Instant::now();
    for i in 0..1000 {
        client.send("", &format!("r{i}"));
    }
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(client.dropped(), 990);
    let start = Instant::now();
    assert!(client.close(Duration::from_millis(500)).is_err());
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn the_newest_records_arrive_when_the_server_comes_up() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let client = Client::builder("app")
        .host("127.0.0.1")
        .port(port)
        .max_buffer_size(5)
        .build()
        .unwrap();
    for i in 0..20 {
        client.send("", &format!("r{i}"));
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("facilities.conf"), FACILITIES).unwrap();
    std::fs::write(
        dir.path().join("loghogd.conf"),
        daemon_conf("").replace("127.0.0.1:0", &format!("127.0.0.1:{port}")),
    )
    .unwrap();
    let d = Daemon::start_in(dir);
    client.flush(Duration::from_secs(60)).unwrap();
    let lines = wait_lines(&d.log("app/root.log"), 5);
    assert_eq!(bodies(&lines), ["r15", "r16", "r17", "r18", "r19"]);
    assert_eq!(client.dropped(), 15);
}

/// `loghog` is built beside `loghogd` by `cargo test --workspace`.
fn loghog_bin() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_BIN_EXE_loghogd")).with_file_name("loghog");
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "note: {} not built (run cargo test --workspace); test skipped",
            p.display()
        );
        None
    }
}

#[test]
fn loghog_send_delivers_arguments_and_stdin_lines_to_the_daemon() {
    let Some(loghog) = loghog_bin() else { return };
    let d = Daemon::start(FACILITIES);
    let port = d.tcp.port().to_string();
    let status = std::process::Command::new(&loghog)
        .args([
            "send",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--app",
            "app",
        ])
        .args(["--hostname", "cli", "first message", "second - message"])
        .status()
        .unwrap();
    assert!(status.success());
    let mut child = std::process::Command::new(&loghog)
        .args([
            "send",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--app",
            "signed",
        ])
        .args(["--secret", "s3cret", "--compress", "--module", "cron"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"line one\nline two\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    let lines = wait_lines(&d.log("app/root.log"), 2);
    assert_eq!(bodies(&lines), ["first message", "second - message"]);
    assert!(lines[0].contains(" - cli - "));
    let lines = wait_lines(&d.log("signed/root.log"), 2);
    assert_eq!(bodies(&lines), ["line one", "line two"]);
}
