//! Reaching a daemon's `/metrics`: the URL from `[metrics] listen` of
//! loghogd.conf (or given), one HTTP/1.0 GET over a plain socket, and the
//! samples of the text exposition.
//!
//! The endpoint only ever sends a small text body on loopback, so a socket
//! with timeouts is enough; no HTTP client crate is pulled in.
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// The port of a `[metrics] listen` address without one (the daemon's).
const DEFAULT_PORT: u16 = loghog_daemon::config::daemon::DEFAULT_METRICS_PORT;
/// Connecting, and then the whole response, must not take longer.
const TIMEOUT: Duration = Duration::from_secs(5);
/// A response larger than this is not a loghogd scrape.
const MAX_RESPONSE: u64 = 64 << 20;

/// Where a daemon's metrics are: `host:port` and the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `host:port`, ready for `ToSocketAddrs` (IPv6 in brackets).
    pub authority: String,
    /// The request path, `/metrics` unless the URL says otherwise.
    pub path: String,
}

impl Endpoint {
    /// The URL, for messages.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.authority, self.path)
    }

    /// From `--metrics`: `http://host:port/path`, `host:port` or `host`.
    pub fn parse_url(url: &str) -> Result<Endpoint> {
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some((scheme, _)) => bail!("{url}: only http:// is supported, not {scheme}://"),
            None => url,
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/metrics"),
        };
        if authority.is_empty() {
            bail!("{url}: no host");
        }
        Ok(Endpoint {
            authority: with_port(authority),
            path: path.to_owned(),
        })
    }

    /// From `[metrics] listen` of loghogd.conf at `config` (its first
    /// address; a wildcard address is reached on loopback).
    pub fn from_config(config: &Path) -> Result<Endpoint> {
        use loghog_daemon::config::ini;
        let text = std::fs::read_to_string(config).with_context(|| {
            format!(
                "cannot read {} (give the daemon's metrics address with --metrics URL)",
                config.display()
            )
        })?;
        let (parsed, _, _) = ini::parse(config, &text);
        let listen = parsed
            .section("metrics")
            .and_then(|s| s.get("listen"))
            .map(|e| e.value.clone())
            .unwrap_or_default();
        let Some(first) = listen.split(',').map(str::trim).find(|a| !a.is_empty()) else {
            bail!(
                "metrics are not configured in {}: add\n\n    [metrics]\n    listen = 127.0.0.1:9566\n\n\
                 restart loghogd, and try again (or give --metrics URL)",
                config.display()
            );
        };
        Ok(Endpoint {
            authority: loopback_for_wildcard(&with_port(first)),
            path: "/metrics".to_owned(),
        })
    }
}

/// `host` with the default port added when it has none.
fn with_port(host: &str) -> String {
    if host.starts_with('[') {
        if host.contains("]:") {
            host.to_owned()
        } else {
            format!("{host}:{DEFAULT_PORT}")
        }
    } else if host.matches(':').count() > 1 {
        format!("[{host}]:{DEFAULT_PORT}")
    } else if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:{DEFAULT_PORT}")
    }
}

/// A daemon listening on every address is asked on loopback.
fn loopback_for_wildcard(authority: &str) -> String {
    if let Some(port) = authority.strip_prefix("0.0.0.0:") {
        format!("127.0.0.1:{port}")
    } else if let Some(port) = authority
        .strip_prefix("[::]:")
        .or_else(|| authority.strip_prefix("[::0]:"))
    {
        format!("[::1]:{port}")
    } else {
        authority.to_owned()
    }
}

/// GETs the endpoint; the body of a 200 response.
pub(crate) fn fetch(ep: &Endpoint) -> Result<String> {
    let unreachable = |e: &dyn std::fmt::Display| {
        anyhow::anyhow!(
            "cannot reach loghogd's metrics at {}: {e} (is loghogd running, and was it \
             started with this [metrics] listen?)",
            ep.url()
        )
    };
    let addrs: Vec<_> = ep
        .authority
        .to_socket_addrs()
        .map_err(|e| unreachable(&e))?
        .collect();
    let mut last = None;
    let mut stream = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, TIMEOUT) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some(mut s) = stream else {
        return Err(match last {
            Some(e) => unreachable(&e),
            None => unreachable(&"no address"),
        });
    };
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    let request = format!(
        "GET {} HTTP/1.0\r\nHost: {}\r\nAccept: application/openmetrics-text, text/plain\r\n\r\n",
        ep.path, ep.authority
    );
    s.write_all(request.as_bytes())
        .map_err(|e| unreachable(&e))?;
    let mut raw = Vec::new();
    s.take(MAX_RESPONSE)
        .read_to_end(&mut raw)
        .map_err(|e| unreachable(&e))?;
    let raw = String::from_utf8_lossy(&raw);
    let Some((head, body)) = raw.split_once("\r\n\r\n") else {
        bail!("{}: not an HTTP response", ep.url());
    };
    let status = head.lines().next().unwrap_or("");
    if status.split(' ').nth(1) != Some("200") {
        bail!("{}: the server answered {status:?}", ep.url());
    }
    if !body.contains("loghogd_build_info") {
        bail!("{}: this is not loghogd's metrics endpoint", ep.url());
    }
    Ok(body.to_owned())
}

/// One sample: name (with `_total` and the like), labels, value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    /// The value of label `key`, or "".
    pub fn label(&self, key: &str) -> &str {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// Every sample of a text exposition; lines it cannot read are skipped.
pub(crate) fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_owned();
    let mut labels = Vec::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices();
        let mut key = String::new();
        loop {
            let (i, c) = chars.next()?;
            match c {
                '}' => {
                    rest = &inner[i + 1..];
                    break;
                }
                ',' | ' ' => {}
                '=' => {
                    let (_, quote) = chars.next()?;
                    if quote != '"' {
                        return None;
                    }
                    let mut value = String::new();
                    loop {
                        let (_, c) = chars.next()?;
                        match c {
                            '"' => break,
                            '\\' => match chars.next()?.1 {
                                'n' => value.push('\n'),
                                other => value.push(other),
                            },
                            c => value.push(c),
                        }
                    }
                    labels.push((std::mem::take(&mut key), value));
                }
                c => key.push(c),
            }
        }
    }
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        name,
        labels,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_listen_values_get_the_default_port_and_path() {
        let ep = Endpoint::parse_url("http://127.0.0.1:9000/m").unwrap();
        assert_eq!(ep.authority, "127.0.0.1:9000");
        assert_eq!(ep.path, "/m");
        let ep = Endpoint::parse_url("localhost").unwrap();
        assert_eq!(ep.url(), "http://localhost:9566/metrics");
        assert!(Endpoint::parse_url("https://x").is_err());
        assert_eq!(with_port("[::1]"), "[::1]:9566");
        assert_eq!(with_port("::1"), "[::1]:9566");
        assert_eq!(with_port("[::1]:7"), "[::1]:7");
        assert_eq!(loopback_for_wildcard("0.0.0.0:9566"), "127.0.0.1:9566");
        assert_eq!(loopback_for_wildcard(&with_port("[::]")), "[::1]:9566");
    }

    #[test]
    fn samples_with_quoted_labels_are_read() {
        let text = "# HELP x y\nloghogd_rejected_total{app=\"(unknown)\",reason=\"unknown_app\"} 12\n\
                    loghogd_writer_queue_depth 3\nbad line\nx{a=\"q\\\"}\"} 1.5\n# EOF\n";
        let s = parse(text);
        assert_eq!(s.len(), 3, "{s:?}");
        assert_eq!(s[0].name, "loghogd_rejected_total");
        assert_eq!(s[0].label("app"), "(unknown)");
        assert_eq!(s[0].label("reason"), "unknown_app");
        assert_eq!(s[0].value, 12.0);
        assert_eq!(s[1].value, 3.0);
        assert_eq!(s[2].label("a"), "q\"}");
    }
}
