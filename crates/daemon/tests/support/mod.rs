//! Test harness: a real `loghogd` started from its binary in a temp dir,
//! listening on 127.0.0.1 with ports the OS picks, plus helpers to build
//! frames and poll files with a deadline.
#![allow(dead_code)]

pub mod nats;
pub mod proxy;
pub mod scrape;
pub mod syslog;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use loghog_proto::{FLAG_ZLIB, Message, compress_payload, encode_frame};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long any wait in a test may take before it fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A running daemon in its own temp dir.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    pub tcp: SocketAddr,
    pub udp: SocketAddr,
    pub tls: Option<SocketAddr>,
    output: Arc<Mutex<Vec<String>>>,
}

/// The loghogd.conf the harness writes, with `extra` appended to [server]
/// (and further sections after it).
pub fn daemon_conf(extra_server: &str) -> String {
    format!(
        "[main]\nworkdir = work\nlogdir = logs\nrundir = run\nfacilities_config = facilities.conf\n\n\
         [log]\nfilename = loghogd.log\nlevel = DEBUG\n\n\
         [server]\nlisten_ipv4 = 127.0.0.1:0\nlisten_ipv6 =\n{extra_server}\n"
    )
}

impl Daemon {
    /// Starts a daemon with these facilities and the default server section.
    pub fn start(facilities: &str) -> Daemon {
        Daemon::start_with(facilities, "")
    }

    /// Starts a daemon with extra lines for loghogd.conf's [server] section.
    pub fn start_with(facilities: &str, extra_server: &str) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("facilities.conf"), facilities).unwrap();
        std::fs::write(dir.path().join("loghogd.conf"), daemon_conf(extra_server)).unwrap();
        Daemon::start_in(dir)
    }

    /// Starts a daemon on the loghogd.conf already in `dir`.
    pub fn start_in(dir: tempfile::TempDir) -> Daemon {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_loghogd"));
        cmd.arg("-c").arg(dir.path().join("loghogd.conf"));
        Daemon::spawn(dir, cmd)
    }

    /// Starts a daemon on the loghogd.conf in `dir` through `sh -c`, with
    /// `shell` run first in that shell (for example `ulimit -n 40`).
    pub fn start_in_shell(dir: tempfile::TempDir, shell: &str) -> Daemon {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("{shell} && exec \"$0\" -c \"$1\""))
            .arg(env!("CARGO_BIN_EXE_loghogd"))
            .arg(dir.path().join("loghogd.conf"));
        Daemon::spawn(dir, cmd)
    }

    /// Runs `cmd` (a loghogd) and waits until it is listening.
    fn spawn(dir: tempfile::TempDir, mut cmd: Command) -> Daemon {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start loghogd");
        let output = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        let mut d = Daemon {
            dir,
            child: Some(child),
            tcp: "0.0.0.0:0".parse().unwrap(),
            udp: "0.0.0.0:0".parse().unwrap(),
            tls: None,
            output,
        };
        let started = d.wait_for_output("loghogd started");
        assert!(started, "daemon did not start:\n{}", d.output());
        // A cluster archive node serves no clients.
        if !d.output().contains("client listeners are not served") {
            d.tcp = d.listening("tcp");
            d.udp = d.listening("udp");
        }
        if d.output().contains("proto=tls addr=") {
            d.tls = Some(d.listening("tls"));
        }
        d
    }

    fn listening(&self, proto: &str) -> SocketAddr {
        let out = self.output.lock().unwrap();
        let needle = format!("proto={proto} addr=");
        let line = out
            .iter()
            .find(|l| l.contains(&needle) && l.ends_with("listening"))
            .unwrap_or_else(|| panic!("no {proto} listener in:\n{}", out.join("\n")));
        let rest = &line[line.find(&needle).unwrap() + needle.len()..];
        rest.split_whitespace().next().unwrap().parse().unwrap()
    }

    /// The address of the Prometheus endpoint (`[metrics] listen`).
    pub fn metrics_addr(&self) -> SocketAddr {
        self.listening("metrics")
    }

    /// Everything the daemon has written to stderr so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    /// Polls stderr until a line contains `needle`.
    pub fn wait_for_output(&self, needle: &str) -> bool {
        poll(|| {
            self.output
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains(needle))
        })
    }

    /// Whether a stderr line already contains `needle` (no waiting).
    pub fn has_output(&self, needle: &str) -> bool {
        self.output
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(needle))
    }

    /// How many stderr lines contain every one of `needles`.
    pub fn count_output(&self, needles: &[&str]) -> usize {
        self.output
            .lock()
            .unwrap()
            .iter()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .count()
    }

    /// The log directory.
    pub fn logdir(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    /// A file under the log directory.
    pub fn log(&self, rel: &str) -> PathBuf {
        self.logdir().join(rel)
    }

    /// A TCP connection to the daemon.
    pub fn connect(&self) -> TcpStream {
        TcpStream::connect(self.tcp).unwrap()
    }

    /// Sends bytes in one UDP datagram.
    pub fn send_udp(&self, datagram: &[u8]) {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.send_to(datagram, self.udp).unwrap();
    }

    /// Sends a signal to the daemon.
    pub fn signal(&self, sig: Signal) {
        let pid = self.child.as_ref().unwrap().id();
        kill(Pid::from_raw(pid as i32), sig).unwrap();
    }

    /// SIGTERM, then waits for the exit.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal(Signal::SIGTERM);
        self.wait_exit()
    }

    /// Waits (with the deadline) for the process to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let child = self.child.as_mut().unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(start.elapsed() < DEADLINE, "daemon did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs `loghogd` with `args` to completion (for --check-config and the
/// like): (exit code, stdout, stderr).
pub fn run_loghogd(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_loghogd"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Polls `cond` until it holds or the deadline passes.
pub fn poll(mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > DEADLINE {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The lines of a file (empty if it does not exist yet).
pub fn read_lines(path: &Path) -> Vec<String> {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        f.read_to_string(&mut s).unwrap();
    }
    s.lines().map(str::to_owned).collect()
}

/// Waits until `path` holds at least `n` lines; returns them.
pub fn wait_lines(path: &Path, n: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let ok = poll(|| {
        lines = read_lines(path);
        lines.len() >= n
    });
    assert!(
        ok,
        "{} has {} lines, wanted {n}: {:?}",
        path.display(),
        lines.len(),
        lines.iter().rev().take(3).collect::<Vec<_>>()
    );
    lines
}

/// The body of each line (`{time} - {host} - {body}`).
pub fn bodies(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l.splitn(3, " - ").nth(2).unwrap_or("").to_owned())
        .collect()
}

/// A message with the given fields and a fixed stamp.
pub fn message<'a>(
    app: &'a str,
    module: &'a str,
    host: Option<&'a str>,
    body: &'a str,
) -> Message<'a> {
    Message {
        version: 1,
        app_id: app.into(),
        module: module.into(),
        stamp: 1_700_000_000,
        nsecs: 123,
        hostname: host.map(Into::into),
        body: body.into(),
        signature: None,
        protection: Default::default(),
    }
}

/// A frame carrying `msg`, zlib-compressed if asked.
pub fn frame_of(msg: &Message<'_>, zlib: bool) -> Vec<u8> {
    let mut json = Vec::new();
    msg.write_json(&mut json);
    let mut out = Vec::new();
    if zlib {
        encode_frame(&compress_payload(&json), FLAG_ZLIB, &mut out);
    } else {
        encode_frame(&json, 0, &mut out);
    }
    out
}

/// A plain frame for `app`/`module` from host `test-host`.
pub fn frame(app: &str, module: &str, body: &str) -> Vec<u8> {
    frame_of(&message(app, module, Some("test-host"), body), false)
}

/// A frame with a raw JSON payload and flags, for bad-input tests.
pub fn raw_frame(payload: &[u8], flags: u32) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(payload, flags, &mut out);
    out
}

/// The golden frames recorded from the published 0.7 Python client:
/// (name, frame bytes, decoded JSON).
pub fn golden_frames() -> Vec<(String, Vec<u8>, serde_json::Value)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../proto/tests/data/loghog-0.7-frames.json"
    );
    let all: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    all.into_iter()
        .map(|v| {
            let hex = v["frame_hex"].as_str().unwrap();
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            (
                v["name"].as_str().unwrap().to_owned(),
                bytes,
                v["decoded_json"].clone(),
            )
        })
        .collect()
}

/// Facilities for every app the golden frames use.
pub const GOLDEN_FACILITIES: &str = "\
[my-first-app]
rotate = daily
backup_count = 14

[my-first-app:web.requests]
rotate = daily ; At midnight
backup_count = 14

[test-app]
rotate = daily
backup_count = 3

[kitchen-sink-app]
rotate = daily
backup_count = 3

[app-with-secret]
rotate = daily
backup_count = 3
secret = my-big-secret
";

// ---- Helpers for the rotation, compression and life-cycle tests ----

impl Daemon {
    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGKILL: the daemon gets no chance to flush, sync or clean up.
    pub fn kill9(&mut self) {
        self.signal(Signal::SIGKILL);
        self.wait_exit();
    }

    /// Stops the daemon (SIGTERM) and starts a new one in the same directory
    /// on the same configuration (new ports).
    pub fn restart(mut self) -> Daemon {
        if self.child.is_some() {
            let status = self.stop();
            assert!(status.success(), "daemon exited with {status}");
        }
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        Daemon::start_in(dir)
    }
}

/// Polls `cond` until it holds or `limit` passes.
pub fn poll_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The names in `dir`, sorted (empty if it does not exist).
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The contents of a log file, decompressed by its extension (`.gz` as a
/// multi-member stream, `.xz`, `.bz2`).
pub fn read_log(path: &Path) -> String {
    try_read_log(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// [`read_log`] that returns the error, for a file that may be caught
/// mid-write (a `.gz` member half appended).
pub fn try_read_log(path: &Path) -> std::io::Result<String> {
    let file = std::fs::File::open(path)?;
    let mut out = String::new();
    match path.extension().and_then(|e| e.to_str()) {
        Some("gz") => flate2::read::MultiGzDecoder::new(file).read_to_string(&mut out),
        Some("xz") => liblzma::read::XzDecoder::new(file).read_to_string(&mut out),
        Some("bz2") => bzip2::read::BzDecoder::new(file).read_to_string(&mut out),
        _ => BufReader::new(file).read_to_string(&mut out),
    }?;
    Ok(out)
}

/// The `loghog` binary of this workspace, built (or found up to date) once
/// beside `loghogd`, so the tests never run old code.
pub fn loghog_bin() -> &'static Path {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let daemon = PathBuf::from(env!("CARGO_BIN_EXE_loghogd"));
        let profile_dir = daemon.parent().unwrap();
        let target_dir = profile_dir.parent().unwrap();
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "-q", "-p", "loghog-cli", "--bin", "loghog"])
            .arg("--manifest-path")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml"))
            .arg("--target-dir")
            .arg(target_dir);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build for loghog");
        assert!(status.success(), "building loghog failed");
        profile_dir.join("loghog")
    })
}

/// Whether `tool` can be run (for checks with the standard tools).
pub fn have_tool(tool: &str) -> bool {
    Command::new(tool)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A facilities.conf with one root facility for `app`.
pub fn one_facility(app: &str, settings: &str) -> String {
    format!("[{app}]\n{settings}\n")
}

/// Sends every golden frame over TLS the way the 0.7 client connects:
/// verify the server against the CA, not its host name; present the pem.
pub const PYTHON_TLS_SENDER: &str = r#"
import socket, ssl, sys
host, port, ca, pem, hexframes = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_REQUIRED
ctx.load_verify_locations(ca)
if pem != "-":
    ctx.load_cert_chain(pem)
with socket.create_connection((host, port)) as raw:
    with ctx.wrap_socket(raw) as s:
        for h in hexframes.split(","):
            s.sendall(bytes.fromhex(h))
        try:
            s.unwrap()
        except OSError:
            pass
"#;

/// Sends `frames` over TLS to `addr` with Python's ssl module, the way the
/// 0.7 client connects: verify the server against `ca` (not its name) and
/// present `pem` if given.
pub fn send_tls_with_python(
    addr: SocketAddr,
    ca: &Path,
    pem: Option<&Path>,
    frames: &[Vec<u8>],
) -> std::process::Output {
    let hex: Vec<String> = frames
        .iter()
        .map(|f| f.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    let pem = pem.map_or("-".to_owned(), |p| p.display().to_string());
    Command::new("python3")
        .args(["-c", PYTHON_TLS_SENDER])
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .arg(ca)
        .arg(pem)
        .arg(hex.join(","))
        .output()
        .unwrap()
}
