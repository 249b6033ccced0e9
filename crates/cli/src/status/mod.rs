//! `loghog status`: a short human summary of a running daemon, read from
//! its Prometheus endpoint.
//!
//! Two scrapes a short interval apart give the current rate (records
//! written per second between them); everything else comes from the second
//! one. The summary is rendered by a pure function of the two scrapes.
mod scrape;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Args;

use scrape::{Endpoint, Sample};

/// The configuration read when neither -c nor --metrics is given.
const DEFAULT_CONFIG: &str = "/etc/loghogd/loghogd.conf";

/// Options of `loghog status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// loghogd.conf, read for `[metrics] listen` [default: /etc/loghogd/loghogd.conf].
    #[arg(short = 'c', long, value_name = "FILE", conflicts_with = "metrics")]
    config: Option<PathBuf>,
    /// The metrics URL (`http://127.0.0.1:9566/metrics`, or `host:port`).
    #[arg(long, value_name = "URL")]
    metrics: Option<String>,
    /// Seconds between the two scrapes that measure the current rate.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    interval: f64,
}

/// Runs `loghog status`.
pub(crate) fn run(args: &StatusArgs) -> Result<()> {
    let endpoint = match (&args.metrics, &args.config) {
        (Some(url), _) => Endpoint::parse_url(url)?,
        (None, Some(config)) => Endpoint::from_config(config)?,
        (None, None) => Endpoint::from_config(std::path::Path::new(DEFAULT_CONFIG))?,
    };
    if !(args.interval > 0.0 && args.interval <= 60.0) {
        bail!("--interval must be more than 0 and at most 60 seconds");
    }
    let first = scrape::parse(&scrape::fetch(&endpoint)?);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(args.interval));
    let second = scrape::parse(&scrape::fetch(&endpoint)?);
    let elapsed = t0.elapsed().as_secs_f64();
    let now = jiff::Timestamp::now();
    print!(
        "{}",
        summary(&endpoint.url(), &first, &second, elapsed, now)
    );
    Ok(())
}

/// The sum of the samples named `name` whose labels pass `keep`.
fn sum(samples: &[Sample], name: &str, keep: impl Fn(&Sample) -> bool) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name && keep(s))
        .map(|s| s.value)
        .sum()
}

fn one(samples: &[Sample], name: &str) -> Option<f64> {
    samples.iter().find(|s| s.name == name).map(|s| s.value)
}

/// The summary of two scrapes taken `elapsed` seconds apart, at `now`.
fn summary(
    url: &str,
    first: &[Sample],
    second: &[Sample],
    elapsed: f64,
    now: jiff::Timestamp,
) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let version = second
        .iter()
        .find(|s| s.name == "loghogd_build_info")
        .map_or("?", |s| s.label("version"));
    let _ = writeln!(out, "loghogd {version} at {url}");
    if let Some(start) = one(second, "loghogd_start_time_seconds") {
        let since = jiff::Timestamp::from_second(start as i64).unwrap_or(now);
        let local = since.to_zoned(jiff::tz::TimeZone::system());
        let up = now.as_second().saturating_sub(since.as_second()).max(0) as u64;
        let _ = writeln!(
            out,
            "up since:     {} ({})",
            local.strftime("%Y-%m-%d %H:%M:%S %Z"),
            duration(up)
        );
    }
    let written = |s: &[Sample]| sum(s, "loghogd_records_written_total", |_| true);
    let rate = (written(second) - written(first)).max(0.0) / elapsed.max(1e-3);
    let _ = writeln!(
        out,
        "records/s:    {rate:.0} written now (over {elapsed:.1} s); {:.0} since start",
        written(second)
    );
    let _ = writeln!(
        out,
        "queue depth:  {:.0} batches waiting for the writers",
        one(second, "loghogd_writer_queue_depth").unwrap_or(0.0)
    );
    let mut conns = Vec::new();
    for t in ["tcp", "tls"] {
        let of = |name| sum(second, name, |s| s.label("transport") == t);
        if sum(second, "loghogd_listeners", |s| s.label("transport") == t) > 0.0 {
            conns.push(format!(
                "{t} {:.0} open ({:.0} accepted)",
                of("loghogd_connections_open"),
                of("loghogd_connections_accepted_total")
            ));
        }
    }
    if sum(second, "loghogd_listeners", |s| {
        s.label("transport") == "udp"
    }) > 0.0
    {
        conns.push(format!(
            "udp {:.0} datagrams ({:.0} dropped, queue full)",
            one(second, "loghogd_udp_datagrams_received_total").unwrap_or(0.0),
            one(second, "loghogd_udp_datagrams_dropped_total").unwrap_or(0.0)
        ));
    }
    if !conns.is_empty() {
        let _ = writeln!(out, "connections:  {}", conns.join(", "));
    }
    if let Some(up) = second
        .iter()
        .find(|s| s.name == "loghogd_cluster_connected")
    {
        let role = up.label("role");
        let mut parts = vec![format!(
            "{role} node, NATS {}",
            if up.value > 0.0 {
                "connected"
            } else {
                "NOT connected"
            }
        )];
        if role != "archive" {
            parts.push(format!(
                "{:.0} records awaiting JetStream's ack (last ack after {:.1} ms)",
                one(second, "loghogd_cluster_publish_lag_records").unwrap_or(0.0),
                one(second, "loghogd_cluster_ack_wait_microseconds").unwrap_or(0.0) / 1000.0
            ));
        }
        if role != "ingest" {
            parts.push(format!(
                "{:.0} messages pending in the consumers",
                one(second, "loghogd_cluster_consumer_pending").unwrap_or(0.0)
            ));
        }
        let _ = writeln!(out, "cluster:      {}", parts.join("; "));
    }
    let lost = one(second, "loghogd_records_lost_total").unwrap_or(0.0);
    if lost > 0.0 {
        let _ = writeln!(out, "records lost: {lost:.0} (see the internal log)");
    }

    let mut apps: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for s in second {
        let slot = match s.name.as_str() {
            "loghogd_records_written_total" => 0,
            "loghogd_bytes_written_total" => 1,
            _ => continue,
        };
        let e = apps.entry(s.label("app")).or_default();
        if slot == 0 {
            e.0 += s.value;
        } else {
            e.1 += s.value;
        }
    }
    let _ = writeln!(out);
    if apps.is_empty() {
        let _ = writeln!(out, "no records written yet");
    } else {
        let width = apps.keys().map(|a| a.len()).max().unwrap_or(3).max(3);
        let _ = writeln!(out, "{:<width$}  {:>12}  {:>10}", "app", "records", "bytes");
        for (app, (records, bytes)) in &apps {
            let _ = writeln!(out, "{app:<width$}  {records:>12.0}  {:>10}", size(*bytes));
        }
    }

    let mut reasons: BTreeMap<&str, (f64, Vec<String>)> = BTreeMap::new();
    for s in second
        .iter()
        .filter(|s| s.name == "loghogd_rejected_total" && s.value > 0.0)
    {
        let e = reasons.entry(s.label("reason")).or_default();
        e.0 += s.value;
        e.1.push(format!("{} {:.0}", s.label("app"), s.value));
    }
    for (_, by_app) in reasons.values_mut() {
        by_app.sort();
    }
    let _ = writeln!(out);
    if reasons.is_empty() {
        let _ = writeln!(out, "no rejections");
    } else {
        let width = reasons.keys().map(|r| r.len()).max().unwrap_or(6).max(6);
        let _ = writeln!(out, "{:<width$}  {:>10}  by app", "reason", "rejected");
        for (reason, (n, by_app)) in &reasons {
            let _ = writeln!(out, "{reason:<width$}  {n:>10.0}  {}", by_app.join(", "));
        }
    }
    out
}

/// `3d 4h`, `2h 5m`, `5m 3s`, `12s`.
fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// Bytes in B, KiB, MiB, GiB.
fn size(bytes: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: &str = "loghogd_records_written_total{app=\"web\",facility=\"root\"} 100\n";
    const SECOND: &str = "\
loghogd_build_info{version=\"1.2.3\"} 1
loghogd_start_time_seconds 1000
loghogd_records_written_total{app=\"web\",facility=\"root\"} 250
loghogd_records_written_total{app=\"web\",facility=\"api\"} 50
loghogd_bytes_written_total{app=\"web\",facility=\"root\"} 2048
loghogd_records_written_total{app=\"db\",facility=\"root\"} 0
loghogd_rejected_total{app=\"(unknown)\",reason=\"unknown_app\"} 7
loghogd_rejected_total{app=\"web\",reason=\"bad_signature\"} 2
loghogd_rejected_total{app=\"db\",reason=\"bad_signature\"} 1
loghogd_writer_queue_depth 4
loghogd_listeners{transport=\"tcp\"} 1
loghogd_listeners{transport=\"tls\"} 0
loghogd_connections_open{transport=\"tcp\"} 2
loghogd_connections_accepted_total{transport=\"tcp\"} 9
";

    #[test]
    fn shows_a_cluster_node_connection_lag_and_pending() {
        let now = jiff::Timestamp::from_second(2000).unwrap();
        let ingest = "loghogd_cluster_connected{role=\"ingest\"} 1\n\
                      loghogd_cluster_publish_lag_records 42\n\
                      loghogd_cluster_ack_wait_microseconds 1500\n";
        let text = summary("u", &[], &scrape::parse(ingest), 1.0, now);
        assert!(
            text.contains(
                "cluster:      ingest node, NATS connected; 42 records awaiting JetStream's ack (last ack after 1.5 ms)\n"
            ),
            "{text}"
        );
        let archive = "loghogd_cluster_connected{role=\"archive\"} 0\n\
                       loghogd_cluster_consumer_pending 7\n";
        let text = summary("u", &[], &scrape::parse(archive), 1.0, now);
        assert!(
            text.contains("cluster:      archive node, NATS NOT connected; 7 messages pending in the consumers\n"),
            "{text}"
        );
        let standalone = summary("u", &[], &scrape::parse(SECOND), 1.0, now);
        assert!(!standalone.contains("cluster:"), "{standalone}");
    }

    #[test]
    fn summarises_rate_apps_rejections_and_queue() {
        let now = jiff::Timestamp::from_second(1000 + 3 * 3600 + 120).unwrap();
        let text = summary(
            "http://x/metrics",
            &scrape::parse(FIRST),
            &scrape::parse(SECOND),
            2.0,
            now,
        );
        assert!(
            text.starts_with("loghogd 1.2.3 at http://x/metrics\n"),
            "{text}"
        );
        assert!(text.contains("(3h 2m)"), "{text}");
        // (250 + 50 - 100) / 2 s
        assert!(text.contains("records/s:    100 written now"), "{text}");
        assert!(text.contains("queue depth:  4 batches"), "{text}");
        assert!(text.contains("tcp 2 open (9 accepted)"), "{text}");
        assert!(!text.contains("tls"), "no TLS listener: {text}");
        assert!(text.contains("\nweb           300     2.0 KiB\n"), "{text}");
        assert!(text.contains("\ndb              0         0 B\n"), "{text}");
        assert!(
            text.contains("\nbad_signature           3  db 1, web 2\n"),
            "{text}"
        );
        assert!(
            text.contains("\nunknown_app             7  (unknown) 7\n"),
            "{text}"
        );
    }

    #[test]
    fn durations_and_sizes_read_well() {
        assert_eq!(duration(12), "12s");
        assert_eq!(duration(3 * 86400 + 5 * 3600), "3d 5h");
        assert_eq!(size(512.0), "512 B");
        assert_eq!(size(1536.0 * 1024.0), "1.5 MiB");
    }
}
