//! Scraping a daemon's `/metrics` endpoint over real HTTP, for the tests
//! of the metrics and of the cluster counters.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use super::{DEADLINE, Daemon};

/// One HTTP/1.1 request; returns (status line, body).
pub fn http(addr: SocketAddr, request: &[u8]) -> (String, String) {
    let mut s = TcpStream::connect(addr).expect("connect to /metrics");
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(request).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the response");
    let raw = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a header block");
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

/// The body of `GET /metrics`.
pub fn scrape(d: &Daemon) -> String {
    let (status, body) = http(
        d.metrics_addr(),
        b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n",
    );
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    body
}

/// The value of the sample named exactly `series` (with its labels).
pub fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?;
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}
