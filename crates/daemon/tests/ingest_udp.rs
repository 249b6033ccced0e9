//! Records over UDP: one frame per datagram, on the same port as TCP.
mod support;

use support::*;

#[test]
fn golden_frames_arrive_over_udp_on_the_tcp_port() {
    let d = Daemon::start(GOLDEN_FACILITIES);
    assert_eq!(d.udp.port(), d.tcp.port());
    for (_, bytes, _) in golden_frames() {
        d.send_udp(&bytes);
    }
    let lines = wait_lines(&d.log("my-first-app/web.requests.log"), 1);
    assert!(
        lines[0].ends_with(" - athens - INFO - Hello world!"),
        "{lines:?}"
    );
    let lines = wait_lines(&d.log("my-first-app/root.log"), 1);
    assert!(
        lines[0].ends_with(" - athens - INFO - root logger line"),
        "{lines:?}"
    );
    let ok = poll(|| {
        read_lines(&d.log("test-app/root.log"))
            .iter()
            .any(|l| l.ends_with("INFO - That is one hot jalapño! – Erdős"))
    });
    assert!(ok, "{}", d.output());
    // Signed + zlib frames verify over UDP too.
    wait_lines(&d.log("app-with-secret/root.log"), 1);
}

#[test]
fn a_burst_of_datagrams_is_written_whole() {
    let d = Daemon::start("[app]\nrotate = daily\nbackup_count = 1\n");
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let n = 2000;
    for i in 0..n {
        sock.send_to(&frame("app", "", &format!("dgram {i}")), d.udp)
            .unwrap();
        if i % 200 == 199 {
            // Loopback drops nothing while the receiver keeps up; give it
            // a moment between bursts so the test is not about kernel
            // buffer sizes.
            wait_lines(&d.log("app/root.log"), i + 1);
        }
    }
    let lines = wait_lines(&d.log("app/root.log"), n);
    let mut seen: Vec<usize> = bodies(&lines)
        .iter()
        .map(|b| b["dgram ".len()..].parse().unwrap())
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..n).collect::<Vec<_>>());
}
