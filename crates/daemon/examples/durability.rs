//! Load generator for `fsync = yes` (group commit) against the default and
//! against fsync per record; the numbers are in docs/benchmarks-durability.md.
//!
//! Two views. `tcp`: the real loghogd binary in a scratch directory, C
//! connections sending N frames as fast as they can; done when the file
//! holds N lines. `writer`: the library's writers in-process, C tasks each
//! handing over one-record batches and waiting for the acknowledgement; with
//! C = 1 and fsync that is exactly one fdatasync per record.
//!
//! ```text
//! cargo run -p loghog-daemon --example durability -- tcp target/debug/loghogd [N] [C] [fsync]
//! cargo run -p loghog-daemon --example durability -- writer [N] [C] [fsync]
//! ```
//! Scratch files go to $LOGHOG_BENCH_DIR (default /var/tmp: a real disk,
//! since fsync on tmpfs costs nothing).
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use loghog_daemon::config::{CompressFormat, Facility};
use loghog_daemon::storage::rotation::SystemClock;
use loghog_daemon::storage::{Storage, StorageSettings, WriteBatch};
use loghog_proto::{Message, encode_frame};

/// A 200-byte body, about the size of a typical log record.
fn body(i: usize) -> String {
    let mut b = format!("INFO - request {i:08} served in 12 ms; ");
    while b.len() < 200 {
        b.push('x');
    }
    b
}

fn scratch() -> tempfile::TempDir {
    let base = std::env::var_os("LOGHOG_BENCH_DIR").unwrap_or_else(|| "/var/tmp".into());
    tempfile::tempdir_in(base).expect("scratch dir")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.into());
    match args.first().map(String::as_str) {
        Some("tcp") => {
            let bin = PathBuf::from(arg(1, "target/debug/loghogd"));
            let n: usize = arg(2, "200000").parse().expect("N");
            let c: usize = arg(3, "16").parse().expect("C");
            let fsync = arg(4, "no") == "fsync";
            let (elapsed, n) = tcp(&bin, n, c, fsync);
            report("tcp", n, c, fsync, elapsed);
        }
        Some("writer") => {
            let n: usize = arg(1, "20000").parse().expect("N");
            let c: usize = arg(2, "1").parse().expect("C");
            let fsync = arg(3, "no") == "fsync";
            let elapsed = writer(n, c, fsync);
            report("writer", n, c, fsync, elapsed);
        }
        _ => {
            eprintln!(
                "usage: durability tcp LOGHOGD [N] [C] [fsync] | durability writer [N] [C] [fsync]"
            );
            std::process::exit(2);
        }
    }
}

fn report(view: &str, n: usize, c: usize, fsync: bool, elapsed: Duration) {
    println!(
        "{view:6} fsync={:3} conns/tasks={c:3} records={n:7} time={:8.3}s rate={:9.0} records/s",
        if fsync { "yes" } else { "no" },
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64()
    );
}

/// Starts loghogd, sends `n` records over `c` connections, and returns the
/// time until all of them are in the file.
fn tcp(bin: &Path, n: usize, c: usize, fsync: bool) -> (Duration, usize) {
    let dir = scratch();
    std::fs::write(
        dir.path().join("facilities.conf"),
        format!(
            "[bench]\nrotate = size\nmax_size = 100000000000\nbackup_count = 1\nfsync = {}\n",
            if fsync { "yes" } else { "no" }
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("loghogd.conf"),
        "[main]\nworkdir = work\nlogdir = logs\nrundir = run\nfacilities_config = facilities.conf\n\
         [log]\nfilename = loghogd.log\n[server]\nlisten_ipv4 = 127.0.0.1:0\nlisten_ipv6 =\n",
    )
    .unwrap();
    let mut child = Command::new(bin)
        .arg("-c")
        .arg(dir.path().join("loghogd.conf"))
        .stderr(Stdio::piped())
        .spawn()
        .expect("start loghogd");
    let mut addr: Option<SocketAddr> = None;
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.split("proto=tcp addr=").nth(1) {
            addr = rest.split_whitespace().next().and_then(|a| a.parse().ok());
        }
        if line.contains("loghogd started") {
            break;
        }
    }
    let addr = addr.expect("listening address");
    let per = n / c;
    let n = per * c;
    // Frames are built before the clock starts: the client is not measured.
    let streams: Vec<Vec<u8>> = (0..c)
        .map(|t| {
            let mut out = Vec::new();
            for i in 0..per {
                let b = body(t * per + i);
                let msg = Message {
                    version: 1,
                    app_id: "bench".into(),
                    module: "".into(),
                    stamp: 1_700_000_000,
                    nsecs: 0,
                    hostname: Some("bench-host".into()),
                    body: b.as_str().into(),
                    signature: None,
                    protection: Default::default(),
                };
                let mut json = Vec::new();
                msg.write_json(&mut json);
                encode_frame(&json, 0, &mut out);
            }
            out
        })
        .collect();
    let start = Instant::now();
    let senders: Vec<_> = streams
        .into_iter()
        .map(|bytes| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(&bytes).unwrap();
                s
            })
        })
        .collect();
    let file = dir.path().join("logs/bench/root.log");
    wait_for_lines(&file, n);
    let elapsed = start.elapsed();
    drop(
        senders
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect::<Vec<_>>(),
    );
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = child.wait();
    (elapsed, n)
}

/// Polls `path` (reading only what was appended) until it has `n` lines.
fn wait_for_lines(path: &Path, n: usize) {
    let mut seen = 0;
    let mut file = None;
    let mut buf = vec![0u8; 1 << 20];
    let deadline = Instant::now() + Duration::from_secs(600);
    while seen < n {
        assert!(Instant::now() < deadline, "only {seen} of {n} lines");
        if file.is_none() {
            file = std::fs::File::open(path).ok();
        }
        let got = file.as_mut().map_or(0, |f| f.read(&mut buf).unwrap_or(0));
        if got == 0 {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        }
        seen += buf[..got].iter().filter(|&&b| b == b'\n').count();
    }
}

/// `c` tasks hand over one-record batches and wait for each acknowledgement.
fn writer(n: usize, c: usize, fsync: bool) -> Duration {
    let dir = scratch();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let storage = Storage::start(
            &StorageSettings {
                shards: 1,
                queue_batches: 256,
                workdir: dir.path().join("work"),
                format: CompressFormat::Gzip,
                level: 1,
                max_open_files: loghog_daemon::storage::handle::DEFAULT_MAX_OPEN_FILES,
            },
            Arc::new(SystemClock),
        )
        .unwrap();
        let facility = Arc::new(Facility {
            app: "bench".into(),
            name: "root".into(),
            schedule: None,
            backup_count: 1,
            max_size: None,
            flush_every: 1,
            file_per_host: false,
            secret: None,
            fsync,
            max_hosts: 1000,
            require_sha256: false,
            replay_protection: false,
        });
        let path = dir.path().join("logs/bench/root.log");
        let per = n / c;
        let start = Instant::now();
        let mut tasks = Vec::new();
        for t in 0..c {
            let handle = storage.handle();
            let facility = facility.clone();
            let path = path.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..per {
                    let mut data = format!(
                        "2026-11-24 00:00:00.000000 - bench-host - {}",
                        body(t * per + i)
                    )
                    .into_bytes();
                    data.push(b'\n');
                    let (ack, done) = tokio::sync::oneshot::channel();
                    handle
                        .write(WriteBatch {
                            path: path.clone(),
                            facility: facility.clone(),
                            data,
                            records: 1,
                            ack: Some(ack),
                            wait_for_write: true,
                        })
                        .await
                        .unwrap();
                    done.await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let elapsed = start.elapsed();
        storage.shutdown().await;
        elapsed
    })
}
