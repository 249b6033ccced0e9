//! NATS for the cluster tests: nats-server processes started on loopback
//! ports from configs written into a temp dir (stopped by PID), and
//! loghogd nodes in cluster mode with the helpers that feed and read them.
//! A test calls [`nats_available`] first and skips without nats-server.
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{Daemon, bodies, daemon_conf, frame, poll_for};

/// How long records may take to arrive in the files.
pub const ARRIVAL: Duration = Duration::from_secs(240);
/// Connections [`numbers_by_connection`] tells apart (`c00`..`c15`).
pub const CONNECTIONS: usize = 16;

/// A nats-server started by the test, stopped by its PID.
pub struct NatsNode {
    /// The process, while it runs.
    pub child: Option<Child>,
    /// Its client port on 127.0.0.1.
    pub port: u16,
    /// Its config file (its stderr goes beside it, as `.log`).
    pub config: PathBuf,
}

impl NatsNode {
    /// The URL a loghogd node is given.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts it and waits until it takes connections.
    pub fn start(&mut self) {
        let log = self.config.with_extension("log");
        let child = Command::new("nats-server")
            .arg("-c")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("nats log"))
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        assert!(
            poll_for(super::DEADLINE, || TcpStream::connect(addr).is_ok()),
            "nats-server on {addr} did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// SIGKILL by PID, then reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            )
            .expect("kill nats-server");
            let _ = c.wait();
        }
    }
}

impl Drop for NatsNode {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Ports the OS hands out now (free at the moment they are returned).
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect()
}

/// Writes the configs of a 3-node JetStream cluster in `dir` and starts it.
pub fn nats_cluster(dir: &Path) -> Vec<NatsNode> {
    let ports = free_ports(6);
    let routes: Vec<String> = (0..3)
        .map(|i| format!("nats-route://127.0.0.1:{}", ports[3 + i]))
        .collect();
    let mut nodes = Vec::new();
    for i in 0..3 {
        let store = dir.join(format!("n{i}"));
        let config = dir.join(format!("n{i}.conf"));
        std::fs::write(
            &config,
            format!(
                "server_name: n{i}\nlisten: 127.0.0.1:{}\nmax_payload: 8MB\n\
                 jetstream {{\n  store_dir: \"{}\"\n}}\n\
                 cluster {{\n  name: loghog-test\n  listen: 127.0.0.1:{}\n  routes: [{}]\n}}\n",
                ports[i],
                store.display(),
                ports[3 + i],
                routes.join(", ")
            ),
        )
        .expect("write nats config");
        nodes.push(NatsNode {
            child: None,
            port: ports[i],
            config,
        });
    }
    for n in &mut nodes {
        n.start();
    }
    nodes
}

/// One JetStream server, not started yet (store in `dir`).
pub fn nats_solo(dir: &Path) -> NatsNode {
    let port = free_ports(1)[0];
    let config = dir.join("solo.conf");
    std::fs::write(
        &config,
        format!(
            "server_name: solo\nlisten: 127.0.0.1:{port}\nmax_payload: 8MB\njetstream {{\n  store_dir: \"{}\"\n}}\n",
            dir.join("solo").display()
        ),
    )
    .expect("write nats config");
    NatsNode {
        child: None,
        port,
        config,
    }
}

/// Whether nats-server can be run: a test returns at once when not (and
/// fails under CI, which installs it).
pub fn nats_available() -> bool {
    let found = Command::new("nats-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found || std::env::var_os("CI").is_none(),
        "nats-server is missing (.ci/run installs it)"
    );
    if !found {
        eprintln!("SKIPPED: nats-server is not installed (apt-get install nats-server)");
    }
    found
}

/// facilities.conf of every cluster node: apps alpha, beta and gamma.
pub const FACILITIES: &str = "[alpha]\nrotate = daily\nbackup_count = 3\n\n\
                          [beta]\nrotate = daily\nbackup_count = 3\n\n\
                          [gamma]\nrotate = daily\nbackup_count = 3\n";

/// A loghogd in cluster mode with `role` (and extra `[cluster]` lines).
pub fn node(urls: &str, role: &str, name: &str, extra: &str) -> Daemon {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("facilities.conf"), FACILITIES).expect("write");
    let conf = daemon_conf(&format!(
        "\n[cluster]\nnats = {urls}\nrole = {role}\nname = {name}\nreplicas = 3\n{extra}\n"
    ));
    // INFO: the debug log of 200,000 records would slow the run down.
    let conf = conf.replace("level = DEBUG", "level = INFO");
    std::fs::write(dir.path().join("loghogd.conf"), conf).expect("write");
    Daemon::start_in(dir)
}

/// Sends `count` records `c{conn} {seq}` for `app` on one connection,
/// counting them in `sent` as they are handed to the socket; stops early
/// (returning how many went out) when the connection fails.
pub fn send_numbered(
    addr: SocketAddr,
    app: &str,
    conn: usize,
    count: usize,
    sent: &AtomicU64,
) -> usize {
    let mut s = TcpStream::connect(addr).expect("connect");
    let pad = "x".repeat(150);
    let mut buf = Vec::new();
    let mut seq = 0;
    while seq < count {
        buf.clear();
        let n = (count - seq).min(50);
        for k in seq..seq + n {
            buf.extend(frame(app, "root", &format!("c{conn:02} {k:06} {pad}")));
        }
        if s.write_all(&buf).is_err() {
            return seq;
        }
        seq += n;
        sent.fetch_add(n as u64, Ordering::Relaxed);
    }
    seq
}

/// Per connection, the sequence numbers found in `lines`, in file order.
pub fn numbers_by_connection(lines: &[String]) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); CONNECTIONS];
    for body in bodies(lines) {
        let mut parts = body.split(' ');
        let (Some(c), Some(n)) = (parts.next(), parts.next()) else {
            panic!("unexpected line body {body:?}")
        };
        let c: usize = c[1..].parse().expect("connection number");
        out[c].push(n.parse().expect("sequence number"));
    }
    out
}

/// Polls `cond` for up to `limit`; fails the test naming `what` if it never holds.
pub fn wait_until(what: &str, limit: Duration, cond: impl FnMut() -> bool) {
    assert!(poll_for(limit, cond), "timed out waiting for {what}");
}
