//! The `/metrics` endpoint: a minimal HTTP/1.1 responder for scrapes.
//!
//! Scrapers send one small GET, so a full HTTP stack would be all weight:
//! each connection gets one request (headers at most [`MAX_REQUEST`] bytes,
//! read within [`REQUEST_TIMEOUT`]) and one response, then is closed. Other
//! paths get 404, other methods 405. At most [`MAX_CLIENTS`] scrapes run at
//! once; the listener is bound before privileges are dropped.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::Metrics;
use crate::ingest::BindError;
use crate::ratelimit::RateLimiter;

/// Request line and headers larger than this get 431 and are closed.
pub const MAX_REQUEST: usize = 8 * 1024;
/// A client must send its whole request and take the response within this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Scrapes served at once; further clients wait in the accept queue.
pub const MAX_CLIENTS: usize = 16;
/// The content type of the OpenMetrics text format, which Prometheus reads.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Binds the metrics listeners (before the runtime starts).
pub fn bind(addrs: &[SocketAddr]) -> Result<Vec<std::net::TcpListener>, BindError> {
    addrs
        .iter()
        .map(|&addr| {
            let bound = std::net::TcpListener::bind(addr).and_then(|l| {
                l.set_nonblocking(true)?;
                Ok(l)
            });
            bound.map_err(|source| BindError {
                proto: "metrics",
                addr,
                source,
            })
        })
        .collect()
}

/// Serves scrapes on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, metrics: Metrics, shutdown: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
    // Failed accepts and slow clients can repeat without end: a few lines
    // a window, then a count.
    let notices = Arc::new(RateLimiter::default());
    loop {
        let acquired = tokio::select! {
            p = slots.clone().acquire_owned() => p,
            () = shutdown.cancelled() => return,
        };
        let Ok(permit) = acquired else {
            return;
        };
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = shutdown.cancelled() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let metrics = metrics.clone();
                let notices = notices.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    if tokio::time::timeout(REQUEST_TIMEOUT, respond(stream, &metrics))
                        .await
                        .is_err()
                    {
                        let v = notices.check("metrics_client_timeout");
                        if v.log {
                            tracing::info!(peer = %peer, reason = "metrics_client_timeout", suppressed = v.suppressed, "metrics client did not finish within 5 s; closed");
                        }
                    }
                });
            }
            Err(e) => {
                let v = notices.check("metrics_accept_failed");
                if v.log {
                    tracing::warn!(error = %e, reason = "metrics_accept_failed", suppressed = v.suppressed, "cannot accept a metrics client");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Reads one request and writes one response.
async fn respond(mut stream: TcpStream, metrics: &Metrics) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(end) = find_head_end(&buf) {
            break end;
        }
        if buf.len() > MAX_REQUEST {
            let _ = reply(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                b"request too large\n",
                true,
            )
            .await;
            return;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let (status, body): (&str, Vec<u8>) = match route(&head) {
        Route::Metrics => ("200 OK", metrics.encode().into_bytes()),
        Route::NotFound => ("404 Not Found", b"not found: try /metrics\n".to_vec()),
        Route::BadMethod => ("405 Method Not Allowed", b"only GET\n".to_vec()),
        Route::BadRequest => ("400 Bad Request", b"bad request\n".to_vec()),
    };
    let head_only = head.starts_with("HEAD ");
    let ctype = if status.starts_with("200") {
        CONTENT_TYPE
    } else {
        "text/plain; charset=utf-8"
    };
    let _ = reply(&mut stream, status, ctype, &body, !head_only).await;
}

#[derive(Debug, PartialEq, Eq)]
enum Route {
    Metrics,
    NotFound,
    BadMethod,
    BadRequest,
}

/// Where the request line (`GET /metrics HTTP/1.1`) leads.
fn route(head: &str) -> Route {
    let line = head.lines().next().unwrap_or("");
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Route::BadRequest;
    };
    if parts.next().is_some() || !version.starts_with("HTTP/1.") {
        return Route::BadRequest;
    }
    if method != "GET" && method != "HEAD" {
        return Route::BadMethod;
    }
    let path = target.split(['?', '#']).next().unwrap_or("");
    if path == "/metrics" {
        Route::Metrics
    } else {
        Route::NotFound
    }
}

/// The end of the request head (after the blank line), if it has arrived.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2))
}

async fn reply(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
    with_body: bool,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if with_body {
        stream.write_all(body).await?;
    }
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_method_and_path() {
        assert_eq!(
            route("GET /metrics HTTP/1.1\r\nHost: x\r\n"),
            Route::Metrics
        );
        assert_eq!(route("GET /metrics?x=1 HTTP/1.0\r\n"), Route::Metrics);
        assert_eq!(route("HEAD /metrics HTTP/1.1\r\n"), Route::Metrics);
        assert_eq!(route("GET / HTTP/1.1\r\n"), Route::NotFound);
        assert_eq!(route("GET /metricsx HTTP/1.1\r\n"), Route::NotFound);
        assert_eq!(route("POST /metrics HTTP/1.1\r\n"), Route::BadMethod);
        assert_eq!(route("GET /metrics\r\n"), Route::BadRequest);
        assert_eq!(route("GET /metrics SPDY/3\r\n"), Route::BadRequest);
        assert_eq!(route(""), Route::BadRequest);
    }

    #[test]
    fn the_head_ends_at_the_blank_line() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nrest"), Some(18));
        assert_eq!(find_head_end(b"GET / HTTP/1.0\n\n"), Some(16));
    }
}
