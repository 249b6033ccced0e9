//! Cluster mode end to end: a 3-node nats-server JetStream cluster (config
//! written here, loopback ports, store dirs in a temp dir), two ingest
//! loghogd and one archive loghogd, all real processes.
//!
//! The main test kills a NATS node and the archive node (SIGKILL, the
//! archive restarted) while 16 connections send 200,000 numbered records,
//! then checks every record is in its file exactly once and in order per
//! connection. Every wait has a deadline; processes are stopped by PID.
mod support;

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use support::nats::{
    ARRIVAL, CONNECTIONS, FACILITIES, NatsNode, free_ports, nats_available, nats_cluster,
    nats_solo, node, numbers_by_connection, send_numbered, wait_until,
};
use support::proxy::Proxy;
use support::scrape::{scrape, value};
use support::{Daemon, bodies, daemon_conf, frame, poll_for, read_lines};

const RECORDS: usize = 200_000;

/// No record line is shorter: time (26) + separators (6) + the body (161).
const MIN_LINE: usize = 190;

/// The total size of `files` (0 for those not there yet).
fn bytes(files: &[PathBuf]) -> u64 {
    files
        .iter()
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .sum()
}

#[test]
fn records_survive_a_nats_node_and_the_archive_being_killed() {
    if !nats_available() {
        return;
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut nats = nats_cluster(tmp.path());
    let urls: Vec<String> = nats.iter().map(NatsNode::url).collect();
    let urls = urls.join(", ");
    let in_a = node(&urls, "ingest", "in-a", "");
    let in_b = node(&urls, "ingest", "in-b", "");
    let mut archive = node(&urls, "archive", "arch", "apps = alpha, beta");
    assert!(
        archive.wait_for_output("archive consumer starting"),
        "{}",
        archive.output()
    );
    let logdir = archive.logdir();
    let files = [logdir.join("alpha/root.log"), logdir.join("beta/root.log")];

    // 16 connections over both ingest nodes and two apps.
    let per_conn = RECORDS / CONNECTIONS;
    let sent = Arc::new(AtomicU64::new(0));
    let senders: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            let addr = if c % 2 == 0 { in_a.tcp } else { in_b.tcp };
            let app = if c % 4 < 2 { "alpha" } else { "beta" };
            let sent = sent.clone();
            std::thread::spawn(move || send_numbered(addr, app, c, per_conn, &sent))
        })
        .collect();

    // A third of the way: one NATS node dies.
    wait_until("a third of the records sent", ARRIVAL, || {
        sent.load(Ordering::Relaxed) >= (RECORDS / 3) as u64
    });
    nats[1].kill9();
    let killed_nats_at = sent.load(Ordering::Relaxed);
    // Once the archive has written a good part: it dies and comes back.
    wait_until("the archive writing", ARRIVAL, || {
        bytes(&files) >= (RECORDS / 2 * MIN_LINE) as u64
    });
    archive.kill9();
    let archive = archive.restart();
    for s in senders {
        assert_eq!(s.join().expect("sender"), per_conn, "a sender was cut off");
    }

    // Every record arrives exactly once, in order per connection.
    let mut found = Vec::new();
    let arrived = poll_for(ARRIVAL, || {
        if bytes(&files) < (RECORDS * MIN_LINE) as u64 {
            return false;
        }
        found = files.iter().flat_map(|f| read_lines(f)).collect();
        found.len() >= RECORDS || {
            std::thread::sleep(Duration::from_millis(300));
            false
        }
    });
    let by_conn = numbers_by_connection(&found);
    for (c, seqs) in by_conn.iter().enumerate() {
        let want: Vec<usize> = (0..per_conn).collect();
        if seqs != &want {
            let dups = seqs.len() - seqs.iter().collect::<std::collections::HashSet<_>>().len();
            let out_of_order = seqs.windows(2).filter(|w| w[0] >= w[1]).count();
            panic!(
                "connection {c}: {} records of {per_conn} ({dups} doubled, {out_of_order} out of order; arrived={arrived})\n\
                 archive:\n{}\ningest a:\n{}",
                seqs.len(),
                archive.output(),
                in_a.output()
            );
        }
    }
    assert_eq!(found.len(), RECORDS, "no line other than the records");
    let (mut archive, mut in_a, mut in_b) = (archive, in_a, in_b);
    for d in [&mut archive, &mut in_a, &mut in_b] {
        assert!(d.stop().success(), "a clean stop");
    }
    for out in [archive.output(), in_a.output(), in_b.output()] {
        for l in out.lines().filter(|l| {
            l.contains("cluster status") || l.contains("consumer starting") || l.contains("WARN")
        }) {
            eprintln!("{l}");
        }
    }
    eprintln!(
        "cluster: {RECORDS} records over {CONNECTIONS} connections, NATS node killed after {killed_nats_at} sent, \
         archive killed and restarted; all in place once, in order ({:?})",
        started.elapsed()
    );
}

#[test]
fn a_killed_ingest_node_loses_only_what_was_in_flight() {
    if !nats_available() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let nats = nats_cluster(tmp.path());
    let urls: Vec<String> = nats.iter().map(NatsNode::url).collect();
    let urls = urls.join(", ");
    let mut doomed = node(&urls, "ingest", "in-doomed", "");
    let survivor = node(&urls, "ingest", "in-survivor", "");
    let archive = node(&urls, "archive", "arch", "");
    let file = archive.logdir().join("gamma/root.log");

    // Four connections keep sending until the ingest node under them dies.
    let sent = Arc::new(AtomicU64::new(0));
    let senders: Vec<_> = (0..4)
        .map(|c| {
            let (addr, sent) = (doomed.tcp, sent.clone());
            std::thread::spawn(move || send_numbered(addr, "gamma", c, 1_000_000, &sent))
        })
        .collect();
    wait_until("records through the doomed node", ARRIVAL, || {
        bytes(std::slice::from_ref(&file)) >= (20_000 * MIN_LINE) as u64
    });
    doomed.kill9();
    let sent_per_conn: Vec<usize> = senders
        .into_iter()
        .map(|s| s.join().expect("sender"))
        .collect();

    // A fence through the other node: JetStream stores it after whatever
    // the dead node got stored, so once it is written, all of that is.
    let mut s = TcpStream::connect(survivor.tcp).expect("connect");
    s.write_all(&frame("gamma", "root", "c15 000000 fence"))
        .expect("send");
    drop(s);
    let mut lines = Vec::new();
    wait_until("the fence", ARRIVAL, || {
        lines = read_lines(&file);
        lines.last().is_some_and(|l| l.ends_with("fence"))
    });
    let by_conn = numbers_by_connection(&lines[..lines.len() - 1]);
    let mut lost = 0;
    for (c, &sent) in sent_per_conn.iter().enumerate() {
        let seqs = &by_conn[c];
        let prefix: Vec<usize> = (0..seqs.len()).collect();
        assert_eq!(
            seqs, &prefix,
            "connection {c}: what arrived is a gapless, undoubled prefix"
        );
        assert!(
            seqs.len() <= sent,
            "connection {c}: more arrived than was sent"
        );
        lost += sent - seqs.len();
    }
    eprintln!(
        "ingest SIGKILL: {} records sent to the killed node by 4 v1 connections, {lost} were in flight \
         (socket buffers and unacknowledged reads) and lost; what arrived is a gapless prefix per connection",
        sent_per_conn.iter().sum::<usize>()
    );
}

#[test]
fn nodes_started_before_nats_wait_and_lose_nothing() {
    if !nats_available() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut nats = nats_solo(tmp.path());
    let url = nats.url();
    // Both nodes start although NATS is not there: they log it and wait.
    let metrics = "replicas = 1\n\n[metrics]\nlisten = 127.0.0.1:0";
    let ingest = node(&url, "ingest", "in-early", metrics);
    let archive = node(&url, "both", "arch-early", metrics);
    // The metrics endpoint (what `loghog status` reads) says so.
    let connected = "loghogd_cluster_connected{role=\"ingest\"}";
    assert_eq!(value(&scrape(&ingest), connected), Some(0.0));
    let sent = AtomicU64::new(0);
    let sender = {
        let addr = ingest.tcp;
        std::thread::spawn(move || send_numbered(addr, "gamma", 3, 2_000, &sent))
    };
    assert!(
        ingest.wait_for_output("retrying"),
        "the ingest node says it cannot publish:\n{}",
        ingest.output()
    );
    let file = archive.logdir().join("gamma/root.log");
    assert!(
        read_lines(&file).is_empty(),
        "nothing can be written without NATS"
    );
    nats.start();
    assert_eq!(sender.join().expect("sender"), 2_000);
    let mut lines = Vec::new();
    wait_until("the records once NATS is up", ARRIVAL, || {
        lines = read_lines(&file);
        lines.len() >= 2_000
    });
    assert_eq!(
        numbers_by_connection(&lines)[3],
        (0..2_000).collect::<Vec<_>>(),
        "all of them, once, in order"
    );
    let mut text = String::new();
    wait_until("the counters of a connected cluster", ARRIVAL, || {
        text = scrape(&ingest);
        value(&text, connected) == Some(1.0)
            && value(&text, "loghogd_cluster_records_acked_total") == Some(2_000.0)
            && value(&text, "loghogd_cluster_publish_lag_records") == Some(0.0)
    });
    let both = scrape(&archive);
    assert_eq!(
        value(&both, "loghogd_cluster_connected{role=\"both\"}"),
        Some(1.0),
        "{both}"
    );
    assert_eq!(
        value(&both, "loghogd_cluster_records_archived_total"),
        Some(2_000.0),
        "{both}"
    );
    assert!(
        value(&both, "loghogd_cluster_consumer_pending").is_some(),
        "{both}"
    );
}

#[test]
fn check_config_names_file_line_and_value_of_cluster_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("facilities.conf"), FACILITIES).expect("write");
    let conf = dir.path().join("loghogd.conf");
    let text = daemon_conf(
        "\n[cluster]\nnats = nats://127.0.0.1:4222\nrole = leader\nreplicas = 9\nnonsense = 1\n",
    );
    std::fs::write(&conf, &text).expect("write");
    let line_of = |needle: &str| {
        text.lines()
            .position(|l| l.starts_with(needle))
            .expect("line")
            + 1
    };
    let (code, out, err) = support::run_loghogd(&[
        std::ffi::OsStr::new("-c"),
        conf.as_os_str(),
        std::ffi::OsStr::new("--check-config"),
    ]);
    assert_eq!(code, 78, "{out}{err}");
    let at = |needle: &str| format!("{}:{}: ", conf.display(), line_of(needle));
    assert!(
        err.contains(&format!(
            "{}[cluster] role: 'leader' is not one of ingest, archive, both",
            at("role")
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{}[cluster] replicas: '9' is not a replica count from 1 to 5",
            at("replicas")
        )),
        "{err}"
    );
    assert!(
        err.contains("unknown key 'nonsense' in [cluster] is ignored"),
        "unknown keys are warned about: {err}"
    );

    // Fixed, the same file checks out (no NATS needed for that).
    let fixed = text
        .replace("role = leader", "role = ingest")
        .replace("replicas = 9", "replicas = 1");
    std::fs::write(&conf, fixed).expect("write");
    let (code, out, err) = support::run_loghogd(&[
        std::ffi::OsStr::new("-c"),
        conf.as_os_str(),
        std::ffi::OsStr::new("--check-config"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn nodes_reach_nats_over_tls_with_nats_ca() {
    if !nats_available() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let tls = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tls/ecdsa");
    let pem = tls.join("localhost-server.pem");
    let port = free_ports(1)[0];
    let config = tmp.path().join("tls.conf");
    std::fs::write(
        &config,
        format!(
            "server_name: tls\nlisten: 127.0.0.1:{port}\nmax_payload: 8MB\n\
             jetstream {{\n  store_dir: \"{}\"\n}}\n\
             tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n}}\n",
            tmp.path().join("store").display(),
            pem.display(),
            pem.display()
        ),
    )
    .expect("write nats config");
    let mut nats = NatsNode {
        child: None,
        port,
        config,
    };
    nats.start();
    let ca = tls.join("localhost-ca.cert");
    let extra = format!("replicas = 1\nnats_ca = {}", ca.display());
    let both = node(
        &format!("tls://localhost:{port}"),
        "both",
        "tls-node",
        &extra,
    );
    let sent = AtomicU64::new(0);
    assert_eq!(send_numbered(both.tcp, "gamma", 5, 300, &sent), 300);
    // Datagrams are published too.
    for k in 0..20 {
        both.send_udp(&frame("gamma", "root", &format!("c06 {k:06} datagram")));
    }
    let file = both.logdir().join("gamma/root.log");
    let mut lines = Vec::new();
    wait_until("the records over TLS", ARRIVAL, || {
        lines = read_lines(&file);
        lines.len() >= 320
    });
    let by_conn = numbers_by_connection(&lines);
    assert_eq!(by_conn[5], (0..300).collect::<Vec<_>>());
    let mut datagrams = by_conn[6].clone();
    datagrams.sort_unstable();
    assert_eq!(datagrams, (0..20).collect::<Vec<_>>(), "each datagram once");
    assert!(!both.has_output("reason=nats_event"), "{}", both.output());
}

/// Acknowledged (v2) clients through an ingest node: an acknowledgement
/// means JetStream has the record, so a `kill -9` of the ingest node loses
/// nothing; the client resends what was not acknowledged to the restarted
/// node, and only records JetStream had but the client had not heard of can
/// be doubled (counted and printed).
#[test]
fn acked_clients_lose_nothing_when_the_ingest_node_is_killed() {
    if !nats_available() {
        return;
    }
    const RECORDS: usize = 3000;
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut nats = nats_solo(tmp.path());
    nats.start();
    let url = nats.url();
    let mut ingest = Some(node(&url, "ingest", "in-acked", "replicas = 1"));
    let archive = node(&url, "archive", "arch-acked", "replicas = 1");
    let proxy = Proxy::start(ingest.as_ref().expect("ingest").tcp);
    let client = loghog_client::Client::builder("gamma")
        .host("127.0.0.1")
        .port(proxy.addr.port())
        .hostname("h")
        .ack(true)
        .max_buffer_size(RECORDS)
        .build()
        .expect("client");
    let mut pending_at_kill = 0;
    for i in 0..RECORDS {
        client.send("root", &format!("c9 {i}"));
        if i % 100 == 99 {
            std::thread::sleep(Duration::from_millis(2));
        }
        if i == RECORDS / 2 {
            pending_at_kill = client.pending();
            let mut old = ingest.take().expect("ingest");
            old.kill9();
            proxy.cut_all();
            let dir = std::mem::replace(&mut old.dir, tempfile::tempdir().expect("tempdir"));
            let restarted = Daemon::start_in(dir);
            proxy.set_target(restarted.tcp);
            ingest = Some(restarted);
        }
    }
    client
        .close(ARRIVAL)
        .unwrap_or_else(|e| panic!("not all records acknowledged: {e}"));
    assert_eq!(client.delivered(), RECORDS as u64);
    let file = archive.logdir().join("gamma/root.log");
    let mut lines = Vec::new();
    wait_until("every acknowledged record in the archive", ARRIVAL, || {
        lines = read_lines(&file);
        let seen: std::collections::HashSet<&str> = lines
            .iter()
            .filter_map(|l| l.rsplit(" - ").next())
            .collect();
        seen.len() >= RECORDS
    });
    let mut counts = std::collections::HashMap::new();
    for body in bodies(&lines) {
        *counts.entry(body).or_insert(0usize) += 1;
    }
    for i in 0..RECORDS {
        assert!(counts.contains_key(&format!("c9 {i}")), "record {i} lost");
    }
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    eprintln!(
        "acked clients, ingest node killed: 0 lost, {duplicates} duplicated \
         ({pending_at_kill} records unacknowledged at the kill)"
    );
    assert!(
        duplicates as u64 <= pending_at_kill,
        "{duplicates} duplicates, but only {pending_at_kill} records could be resent"
    );
}

#[test]
fn a_killed_archive_writing_gz_files_writes_no_record_twice() {
    if !nats_available() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut nats = nats_solo(tmp.path());
    nats.start();
    let url = nats.url();
    let ingest = node(&url, "ingest", "in-gz", "replicas = 1");
    let mut archive = node(
        &url,
        "archive",
        "arch-gz",
        "replicas = 1\n\n[compressor]\ncompress_on_write = yes",
    );
    assert!(
        archive.wait_for_output("archive consumer starting"),
        "{}",
        archive.output()
    );
    let file = archive.logdir().join("gamma/root.log.gz");
    const CONNS: usize = 4;
    const PER_CONN: usize = 40_000;
    let sent = Arc::new(AtomicU64::new(0));
    let senders: Vec<_> = (0..CONNS)
        .map(|c| {
            let (addr, sent) = (ingest.tcp, sent.clone());
            std::thread::spawn(move || send_numbered(addr, "gamma", c, PER_CONN, &sent))
        })
        .collect();
    // Killed twice while it writes (the compressed file growing), each
    // time restarted: what a killed run was writing is searched for in the
    // .gz file's members, not written again.
    for k in 1..=2u64 {
        wait_until("the archive writing", ARRIVAL, || {
            bytes(std::slice::from_ref(&file)) >= k * 150_000
        });
        archive.kill9();
        archive = archive.restart();
    }
    for s in senders {
        assert_eq!(s.join().expect("sender"), PER_CONN, "a sender was cut off");
    }
    let mut found = Vec::new();
    poll_for(ARRIVAL, || {
        found = support::try_read_log(&file)
            .map(|text| text.lines().map(str::to_owned).collect())
            .unwrap_or_default();
        found.len() >= CONNS * PER_CONN || {
            std::thread::sleep(Duration::from_millis(300));
            false
        }
    });
    let want: Vec<usize> = (0..PER_CONN).collect();
    for (c, seqs) in numbers_by_connection(&found).iter().enumerate().take(CONNS) {
        let dups = seqs.len() - seqs.iter().collect::<std::collections::HashSet<_>>().len();
        assert!(
            seqs == &want,
            "connection {c}: {} records of {PER_CONN}, {dups} doubled\narchive runs:\n{}",
            seqs.len(),
            std::fs::read_to_string(archive.logdir().with_file_name("loghogd.log"))
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("archive") || l.contains("torn") || l.contains("started"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    assert_eq!(
        found.len(),
        CONNS * PER_CONN,
        "no line other than the records"
    );
    assert!(archive.stop().success(), "a clean stop");
}
