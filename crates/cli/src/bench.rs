//! `loghog bench`: a load generator that measures what a daemon can take.
//!
//! Frames are built before the clock starts (a block of at most
//! `BLOCK_RECORDS` distinct records per connection, written again and
//! again), so the measured cost is the transport's, not the encoder's. Each
//! connection has its own thread and writes whole blocks in single writes.
//! With `--ack` each connection opens with a v2 hello and the run ends
//! when every record is acknowledged, so the rate is of records written.
//! On a terminal a progress line (records sent, rate, elapsed) is redrawn
//! in place on stderr; redirected, only the final report is printed.
//! With `--syslog` the records are RFC 3164 lines over plain TCP instead of
//! v1 frames, for a daemon's syslog listener (or any syslog server).
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use loghog_client::Connection;
use loghog_proto::v2::{Hello, ServerControl, take_server_frames};

use crate::ConnectArgs;

/// Distinct records prebuilt per connection.
const BLOCK_RECORDS: usize = 4096;

/// Options of `loghog bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Application name of every record.
    #[arg(long, default_value = "bench")]
    app: String,
    /// Module of every record.
    #[arg(long, default_value = "bench")]
    module: String,
    /// Connections (each with its own thread).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    connections: u64,
    /// Records in TOTAL, split evenly over the connections.
    #[arg(long, default_value_t = 100_000)]
    messages: u64,
    /// Body size in bytes.
    #[arg(long, default_value_t = 200)]
    size: usize,
    /// Records per second in total (default: as fast as possible).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    rate: Option<u64>,
    /// After sending, poll this file (the daemon's output) until it holds
    /// --expect-lines lines, and report the end-to-end time.
    #[arg(long, requires = "expect_lines")]
    wait_file: Option<PathBuf>,
    /// Lines --wait-file must hold (count its newline bytes) to be done.
    #[arg(long, requires = "wait_file")]
    expect_lines: Option<u64>,
    /// Seconds to wait for --wait-file to fill.
    #[arg(long, default_value_t = 120)]
    wait_timeout: u64,
    /// Send RFC 3164 syslog lines (`<14>Mmm dd hh:mm:ss HOST APP: BODY`,
    /// newline-delimited) over TCP to a syslog listener, instead of frames.
    #[arg(long, conflicts_with_all = ["udp", "pem", "compress", "secret"])]
    syslog: bool,
    /// Make the bodies of this file's lines (cycled, cut or joined to
    /// --size) instead of padding with `x`: realistic text for measuring
    /// anything that compresses (`compress_on_write`, cluster messages).
    #[arg(long)]
    sample: Option<PathBuf>,
}

/// Where a connection's blocks go: a LogHog connection, or a plain TCP
/// stream to a syslog listener.
enum Sink {
    Frames(Connection),
    Syslog(std::net::TcpStream),
}

impl Sink {
    fn is_datagram(&self) -> bool {
        matches!(self, Sink::Frames(c) if c.is_datagram())
    }

    fn send_frame(&mut self, frame: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Frames(c) => c.send_frame(frame),
            Sink::Syslog(s) => std::io::Write::write_all(s, frame),
        }
    }

    fn write_stream(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Frames(c) => c.write_stream(bytes),
            Sink::Syslog(s) => std::io::Write::write_all(s, bytes),
        }
    }

    fn shutdown(self) {
        match self {
            Sink::Frames(mut c) => c.shutdown(),
            Sink::Syslog(s) => {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

/// One RFC 3164 line as a BSD sender writes it (a fixed time stamp: the
/// daemon stamps lines with their time of receipt).
fn syslog_line(host: &str, app: &str, body: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(format!("<14>Nov 30 05:00:00 {host} {app}: {body}\n").as_bytes());
}

/// One connection's prebuilt frames.
struct Block {
    bytes: Vec<u8>,
    /// End offset of each frame in `bytes`.
    ends: Vec<usize>,
}

impl Block {
    /// Bytes of the first `n` frames.
    fn prefix(&self, n: usize) -> &[u8] {
        &self.bytes[..self.ends[n - 1]]
    }

    fn frame(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }
}

/// Runs `loghog bench`.
pub(crate) fn run(args: &BenchArgs) -> anyhow::Result<()> {
    if args.syslog && args.connect.ack {
        bail!("--ack and --syslog do not go together: syslog has no acknowledgements");
    }
    let builder = args.connect.builder(&args.app);
    let endpoint = builder.endpoint().context("cannot set up the connection")?;
    let connections = args.connections;
    let per_conn: Vec<u64> = (0..connections)
        .map(|i| args.messages / connections + u64::from(i < args.messages % connections))
        .collect();
    let sample = match &args.sample {
        Some(path) => sample_lines(path)?,
        None => Vec::new(),
    };
    let blocks: Vec<Block> = (0..connections)
        .map(|c| {
            let mut enc = builder.frame_encoder();
            let n = per_conn[c as usize].clamp(1, BLOCK_RECORDS as u64) as usize;
            let mut block = Block {
                bytes: Vec::new(),
                ends: Vec::with_capacity(n),
            };
            let host = args.connect.hostname.as_deref().unwrap_or("benchhost");
            for i in 0..n {
                let body = if sample.is_empty() {
                    body(c, i, args.size)
                } else {
                    sample_body(&sample, c, i, args.size)
                };
                if args.syslog {
                    syslog_line(host, &args.app, &body, &mut block.bytes);
                } else {
                    enc.encode_now(&args.module, &body, &mut block.bytes);
                }
                block.ends.push(block.bytes.len());
            }
            block
        })
        .collect();
    // Connect (and say hello) before the clock starts, too.
    let conns = (0..connections)
        .map(|c| {
            if args.syslog {
                let addr = (args.connect.host.as_str(), args.connect.port);
                return std::net::TcpStream::connect(addr)
                    .map(Sink::Syslog)
                    .with_context(|| format!("connection {c} to {}:{}", addr.0, addr.1));
            }
            let mut conn = Connection::open(&endpoint)
                .with_context(|| format!("connection {c} to {}", endpoint.display_addr()))?;
            if args.connect.ack {
                ack_hello(&mut conn, c).with_context(|| format!("connection {c}"))?;
            }
            Ok(Sink::Frames(conn))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let acked = args.connect.ack;
    let rejected = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let rate_per_conn = args.rate.map(|r| r as f64 / connections as f64);
    // Drawn on stderr, so only when that is a terminal: a log or a pipe
    // gets no carriage returns.
    let progress = std::io::stderr()
        .is_terminal()
        .then(|| spawn_progress(sent.clone(), done.clone(), args.messages));
    let cpu_before = cpu_seconds();
    let start = Instant::now();
    let results: Vec<anyhow::Result<()>> = std::thread::scope(|s| {
        let handles: Vec<_> = conns
            .into_iter()
            .zip(&blocks)
            .zip(&per_conn)
            .enumerate()
            .map(|(c, ((conn, block), &count))| {
                let (sent, bytes, rejected) = (sent.clone(), bytes.clone(), rejected.clone());
                s.spawn(move || {
                    let mut acks = acked.then(AckCount::default);
                    drive(
                        conn,
                        block,
                        count,
                        rate_per_conn,
                        &sent,
                        &bytes,
                        acks.as_mut(),
                    )
                    .with_context(|| format!("connection {c}"))?;
                    if let Some(a) = acks {
                        rejected.fetch_add(a.rejected, Ordering::Relaxed);
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| bail!("a connection thread panicked"))
            })
            .collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    done.store(true, Ordering::SeqCst);
    if let Some(p) = progress {
        let _ = p.join();
        eprintln!();
    }
    for r in results {
        r?;
    }
    let records = sent.load(Ordering::SeqCst);
    let total_bytes = bytes.load(Ordering::SeqCst);
    println!("records: {records}");
    println!("connections: {connections}");
    println!("seconds: {elapsed:.3}");
    println!("records/s: {:.0}", records as f64 / elapsed.max(1e-9));
    println!("MB/s: {:.1}", total_bytes as f64 / 1e6 / elapsed.max(1e-9));
    println!("cpu-seconds: {cpu:.3}");
    if acked {
        // Every record counted above was acknowledged before the clock
        // stopped: written by the daemon, or refused.
        println!("acknowledged: yes");
        let refused = rejected.load(Ordering::SeqCst);
        if refused > 0 {
            bail!("the server refused {refused} record(s)");
        }
    }
    if let (Some(path), Some(lines)) = (&args.wait_file, args.expect_lines) {
        wait_for_lines(path, lines, Duration::from_secs(args.wait_timeout))?;
        let end_to_end = start.elapsed().as_secs_f64();
        println!("end-to-end seconds: {end_to_end:.3}");
        println!(
            "end-to-end records/s: {:.0}",
            lines as f64 / end_to_end.max(1e-9)
        );
    }
    Ok(())
}

/// A body of exactly `size` bytes (ASCII) naming its connection and index.
fn body(conn: u64, i: usize, size: usize) -> String {
    let mut b = format!("bench c{conn} r{i} ");
    b.truncate(size);
    while b.len() < size {
        b.push('x');
    }
    b
}

/// The non-empty lines of a --sample file.
fn sample_lines(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read(path).with_context(|| format!("--sample {}", path.display()))?;
    let lines: Vec<String> = String::from_utf8_lossy(&text)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if lines.is_empty() {
        bail!("--sample {} has no lines", path.display());
    }
    Ok(lines)
}

/// A body of exactly `size` bytes: its connection and index, then sample
/// lines from a place that depends on both, joined and cut to fit (spaces
/// make up a cut inside a character).
fn sample_body(lines: &[String], conn: u64, i: usize, size: usize) -> String {
    let mut b = format!("c{conn} r{i}");
    let mut k = (conn as usize).wrapping_mul(7919).wrapping_add(i) % lines.len();
    while b.len() < size {
        b.push(' ');
        b.push_str(&lines[k]);
        k = (k + 1) % lines.len();
    }
    let mut cut = size;
    while !b.is_char_boundary(cut) {
        cut -= 1;
    }
    b.truncate(cut);
    while b.len() < size {
        b.push(' ');
    }
    b
}

/// Writes `count` records over `conn`: whole blocks in single writes, or
/// paced slices when a rate is set.
fn drive(
    mut conn: Sink,
    block: &Block,
    count: u64,
    rate: Option<f64>,
    sent: &AtomicU64,
    bytes: &AtomicU64,
    mut acks: Option<&mut AckCount>,
) -> anyhow::Result<()> {
    let start = Instant::now();
    // With a rate, write about 10 ms worth at a time.
    let slice = rate.map_or(block.ends.len(), |r| {
        ((r / 100.0) as usize).clamp(1, block.ends.len())
    });
    let mut done = 0u64;
    let mut udp_errors = 0u64;
    while done < count {
        let n = slice.min(usize::try_from(count - done).unwrap_or(usize::MAX));
        if conn.is_datagram() {
            for i in 0..n {
                // UDP may refuse while nobody listens; count and go on.
                if conn.send_frame(block.frame(i)).is_err() {
                    udp_errors += 1;
                }
            }
        } else {
            conn.write_stream(block.prefix(n)).context("write")?;
        }
        done += n as u64;
        if let Some(a) = acks.as_deref_mut() {
            // Keep a bounded window of records unacknowledged.
            while done - a.upto > ACK_WINDOW {
                a.read(&mut conn, Duration::from_millis(50))?;
            }
            a.read(&mut conn, Duration::ZERO)?;
        }
        sent.fetch_add(n as u64, Ordering::Relaxed);
        bytes.fetch_add(block.ends[n - 1] as u64, Ordering::Relaxed);
        if let Some(r) = rate {
            let due = start + Duration::from_secs_f64(done as f64 / r);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
    }
    if let Some(a) = acks {
        let deadline = Instant::now() + ACK_DEADLINE;
        while a.upto < count {
            if Instant::now() >= deadline {
                bail!(
                    "{} of {count} records acknowledged after {ACK_DEADLINE:?}",
                    a.upto
                );
            }
            a.read(&mut conn, Duration::from_millis(50))?;
        }
    }
    conn.shutdown();
    if udp_errors > 0 {
        eprintln!("loghog: {udp_errors} datagram(s) refused");
    }
    Ok(())
}

/// Records written but not yet acknowledged, at most, per connection.
const ACK_WINDOW: u64 = 4 * BLOCK_RECORDS as u64;
/// How long the last acknowledgements may take once everything is sent.
const ACK_DEADLINE: Duration = Duration::from_secs(120);

/// What one `--ack` connection has been told.
#[derive(Default)]
struct AckCount {
    /// Records acknowledged (sequence numbers start at 0).
    upto: u64,
    rejected: u64,
    inbox: Vec<u8>,
}

impl AckCount {
    fn read(&mut self, conn: &mut Sink, wait: Duration) -> anyhow::Result<()> {
        let Sink::Frames(conn) = conn else {
            bail!("acknowledgements need LogHog frames, not syslog lines");
        };
        conn.read_into(&mut self.inbox, wait).context("read acks")?;
        for c in take_server_frames(&mut self.inbox)? {
            if let ServerControl::Ack { upto, rejected } = c {
                self.upto = upto;
                self.rejected += rejected.len() as u64;
            }
        }
        Ok(())
    }
}

/// Opens the v2 exchange on a fresh connection (session from the clock,
/// the process and the connection's index; records numbered from 0) and
/// waits for the welcome.
fn ack_hello(conn: &mut Connection, index: u64) -> anyhow::Result<()> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let id = nanos ^ (u128::from(std::process::id()) << 64) ^ (u128::from(index) << 96);
    let mut out = Vec::new();
    Hello {
        session: id.to_le_bytes(),
        seq: 0,
    }
    .encode(&mut out);
    conn.write_stream(&out).context("write hello")?;
    let mut inbox = Vec::new();
    let deadline = Instant::now() + loghog_client::DEFAULT_ACK_TIMEOUT;
    while Instant::now() < deadline {
        conn.read_into(&mut inbox, Duration::from_millis(50))
            .context("read welcome")?;
        if let Some(ServerControl::Welcome { resume: 0, .. }) =
            take_server_frames(&mut inbox)?.first()
        {
            return Ok(());
        }
    }
    bail!(
        "the server did not answer the acknowledgement hello (a v1 server, or acknowledgements = no)"
    )
}

/// How often the progress line is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Redraws the progress line until `done`, then draws it a last time.
fn spawn_progress(
    sent: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
    total: u64,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let start = Instant::now();
        let (mut last_n, mut last_t) = (0u64, start);
        loop {
            let finished = done.load(Ordering::SeqCst);
            let (n, now) = (sent.load(Ordering::Relaxed), Instant::now());
            // The rate over the last redraw, or the average at the end.
            let rate = if finished {
                n as f64 / now.duration_since(start).as_secs_f64().max(1e-9)
            } else {
                (n - last_n) as f64 / now.duration_since(last_t).as_secs_f64().max(1e-9)
            };
            eprint!(
                "{}",
                progress_line(n, total, rate, now.duration_since(start))
            );
            if finished {
                return;
            }
            (last_n, last_t) = (n, now);
            std::thread::sleep(PROGRESS_EVERY);
        }
    })
}

/// One redraw: back to the line's start, the counts, clear the rest.
fn progress_line(sent: u64, total: u64, rate: f64, elapsed: Duration) -> String {
    format!(
        "\r{sent}/{total} records sent, {rate:.0} records/s, {:.1} s elapsed\x1b[K",
        elapsed.as_secs_f64()
    )
}

/// User plus system CPU time of this process so far.
fn cpu_seconds() -> f64 {
    use nix::sys::resource::{UsageWho, getrusage};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
            t(u.user_time()) + t(u.system_time())
        }
        Err(_) => 0.0,
    }
}

/// Polls `path` until it holds `lines` newline bytes.
fn wait_for_lines(path: &Path, lines: u64, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut counted = 0u64;
    let mut offset = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        if let Ok(mut file) = std::fs::File::open(path) {
            use std::io::Seek;
            file.seek(std::io::SeekFrom::Start(offset))?;
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                offset += n as u64;
                counted += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
            }
        }
        if counted >= lines {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "{} holds {counted} of {lines} lines after {} s",
                path.display(),
                timeout.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_redraws_in_place() {
        let line = progress_line(500, 1000, 2500.4, Duration::from_millis(1300));
        assert_eq!(
            line,
            "\r500/1000 records sent, 2500 records/s, 1.3 s elapsed\x1b[K"
        );
    }

    #[test]
    fn syslog_lines_are_rfc3164() {
        let mut out = Vec::new();
        syslog_line("h", "bench", "hello", &mut out);
        assert_eq!(out, b"<14>Nov 30 05:00:00 h bench: hello\n");
    }

    #[test]
    fn bodies_have_the_exact_size() {
        assert_eq!(body(3, 17, 200).len(), 200);
        let lines = vec!["Setting up libc6 (2.36-9) ...".to_owned(), "é".repeat(40)];
        for size in [1, 10, 45, 200] {
            assert_eq!(sample_body(&lines, 2, 5, size).len(), size);
        }
        assert!(sample_body(&lines, 0, 0, 200).starts_with("c0 r0 Setting up libc6"));
        assert_eq!(body(3, 17, 5), "bench");
        assert!(body(1, 2, 50).starts_with("bench c1 r2 x"));
    }
}
