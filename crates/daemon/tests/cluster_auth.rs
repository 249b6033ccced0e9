//! Cluster mode against a nats-server in operator mode: `nats_creds`.
//!
//! The test is its own NATS operator: it mints the operator, a system
//! account, a JetStream account and its users (NKeys, JWT v2 claims signed
//! with ed25519) and preloads the accounts into the server's memory
//! resolver, so no `nsc` is needed. Nodes with a valid creds file carry
//! records end to end; nodes without one are refused, say why, keep
//! serving, and lose nothing they acknowledged.
mod support;

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nkeys::KeyPair;
use serde_json::{Value, json};
use support::nats::{
    ARRIVAL, FACILITIES, NatsNode, free_ports, nats_available, node, numbers_by_connection,
    send_numbered, wait_until,
};
use support::proxy::Proxy;
use support::scrape::{scrape, value};
use support::{Daemon, bodies, daemon_conf, read_lines};

/// A signed NATS JWT (v2): `nats` holds the type-specific claims.
fn jwt(issuer: &KeyPair, subject: &str, name: &str, nats: Value) -> String {
    let header = json!({"typ": "JWT", "alg": "ed25519-nkey"});
    let iat = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = json!({
        // Unique per token; the server does not interpret it.
        "jti": format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)),
        "iat": iat,
        "iss": issuer.public_key(),
        "sub": subject,
        "name": name,
        "nats": nats,
    });
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = issuer.sign(signed.as_bytes()).expect("sign");
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// An account: its key and its JWT signed by the operator.
struct Account {
    key: KeyPair,
    jwt: String,
}

impl Account {
    /// A new account signed by `operator`; `jetstream` grants it unlimited
    /// JetStream (an account without JetStream limits has none).
    fn new(operator: &KeyPair, name: &str, jetstream: bool) -> Account {
        let key = KeyPair::new_account();
        let mut limits = json!({
            "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
            "wildcards": true, "conn": -1, "leaf": -1,
        });
        if jetstream {
            for k in ["mem_storage", "disk_storage", "streams", "consumer"] {
                limits[k] = json!(-1);
            }
        }
        let claims = json!({"type": "account", "version": 2, "limits": limits});
        let jwt = jwt(operator, &key.public_key(), name, claims);
        Account { key, jwt }
    }

    /// A creds file (the standard format, mode 0600) for a new user of this
    /// account, written to `path`.
    fn user_creds(&self, name: &str, path: &Path) -> PathBuf {
        let user = KeyPair::new_user();
        // No pub/sub permissions: the user may do anything its account may.
        let claims = json!({
            "type": "user", "version": 2,
            "subs": -1, "data": -1, "payload": -1,
        });
        let token = jwt(&self.key, &user.public_key(), name, claims);
        let text = format!(
            "-----BEGIN NATS USER JWT-----\n{token}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             The seed below signs this user's connections: keep it secret.\n\n\
             -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
            user.seed().expect("seed")
        );
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .expect("create creds file");
        f.write_all(text.as_bytes()).expect("write creds");
        path.to_path_buf()
    }
}

/// A nats-server in operator mode with a memory resolver, its accounts
/// preloaded; `logs` is the JetStream account, `stranger` an account of the
/// same operator the server was never told about.
struct Operated {
    server: NatsNode,
    logs: Account,
    stranger: Account,
}

fn operated_nats(dir: &Path) -> Operated {
    let operator = KeyPair::new_operator();
    let system = Account::new(&operator, "SYS", false);
    let logs = Account::new(&operator, "LOGS", true);
    let stranger = Account::new(&operator, "STRANGER", true);
    let operator_jwt = jwt(
        &operator,
        &operator.public_key(),
        "loghog-test",
        json!({"type": "operator", "version": 2, "system_account": system.key.public_key()}),
    );
    let port = free_ports(1)[0];
    let config = dir.join("operated.conf");
    std::fs::write(
        &config,
        format!(
            "server_name: operated\nlisten: 127.0.0.1:{port}\nmax_payload: 8MB\n\
             jetstream {{\n  store_dir: \"{}\"\n}}\n\
             operator: {operator_jwt}\nsystem_account: {}\n\
             resolver: MEMORY\nresolver_preload: {{\n  {}: {}\n  {}: {}\n}}\n",
            dir.join("store").display(),
            system.key.public_key(),
            system.key.public_key(),
            system.jwt,
            logs.key.public_key(),
            logs.jwt,
        ),
    )
    .expect("write nats config");
    let mut server = NatsNode {
        child: None,
        port,
        config,
    };
    server.start();
    Operated {
        server,
        logs,
        stranger,
    }
}

/// `[cluster]` lines for one replica, metrics on, and `creds` if given.
fn extra(creds: Option<&Path>) -> String {
    let creds = creds.map_or(String::new(), |p| format!("nats_creds = {}\n", p.display()));
    format!("replicas = 1\n{creds}\n[metrics]\nlisten = 127.0.0.1:0")
}

#[test]
fn nodes_with_nats_creds_carry_records_through_an_operator_mode_server() {
    if !nats_available() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let nats = operated_nats(tmp.path());
    let url = nats.server.url();
    let creds = nats
        .logs
        .user_creds("loghogd", &tmp.path().join("loghogd.creds"));
    let ingest = node(&url, "ingest", "in-creds", &extra(Some(&creds)));
    let archive = node(&url, "archive", "arch-creds", &extra(Some(&creds)));
    let sent = AtomicU64::new(0);
    assert_eq!(send_numbered(ingest.tcp, "gamma", 2, 2_000, &sent), 2_000);
    let file = archive.logdir().join("gamma/root.log");
    let mut lines = Vec::new();
    wait_until(
        "the records through the operator-mode server",
        ARRIVAL,
        || {
            lines = read_lines(&file);
            lines.len() >= 2_000
        },
    );
    assert_eq!(
        numbers_by_connection(&lines)[2],
        (0..2_000).collect::<Vec<_>>(),
        "every record once, in order"
    );
    assert_eq!(lines.len(), 2_000, "nothing else in the file");
    let metrics = scrape(&ingest);
    assert_eq!(
        value(&metrics, "loghogd_cluster_connected{role=\"ingest\"}"),
        Some(1.0),
        "{metrics}"
    );
    for d in [&ingest, &archive] {
        assert!(!d.has_output("authorization"), "{}", d.output());
    }
}

#[test]
fn nodes_without_accepted_creds_are_refused_keep_serving_and_lose_nothing() {
    if !nats_available() {
        return;
    }
    const RECORDS: usize = 500;
    let tmp = tempfile::tempdir().expect("tempdir");
    let nats = operated_nats(tmp.path());
    let url = nats.server.url();
    let good = nats
        .logs
        .user_creds("loghogd", &tmp.path().join("good.creds"));
    let archive = node(&url, "archive", "arch-auth", &extra(Some(&good)));
    let file = archive.logdir().join("gamma/root.log");

    // No creds at all: refused, and a v1 client is pushed back.
    let mut bare = node(&url, "ingest", "in-bare", &extra(None));
    let sender = {
        let (addr, sent) = (bare.tcp, std::sync::Arc::new(AtomicU64::new(0)));
        std::thread::spawn(move || send_numbered(addr, "gamma", 1, 1_000_000, &sent))
    };
    assert!(
        bare.wait_for_output("reason=nats_auth"),
        "the refusal is logged as such:\n{}",
        bare.output()
    );
    assert!(
        bare.has_output("authorization violation") && bare.has_output("nats_creds=none"),
        "{}",
        bare.output()
    );
    let metrics = scrape(&bare);
    assert_eq!(
        value(&metrics, "loghogd_cluster_connected{role=\"ingest\"}"),
        Some(0.0),
        "{metrics}"
    );

    // A user of an account the server does not know, behind an acked (v2)
    // client: nothing is acknowledged while refused.
    let stranger = nats
        .stranger
        .user_creds("loghogd", &tmp.path().join("stranger.creds"));
    // Readable by others, too: a secret seed in a 0644 file is warned of.
    std::fs::set_permissions(&stranger, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let refused = node(&url, "ingest", "in-stranger", &extra(Some(&stranger)));
    assert!(
        refused.wait_for_output("reason=nats_creds_readable") && refused.has_output("mode=0644"),
        "{}",
        refused.output()
    );
    let proxy = Proxy::start(refused.tcp);
    let client = loghog_client::Client::builder("gamma")
        .host("127.0.0.1")
        .port(proxy.addr.port())
        .hostname("h")
        .ack(true)
        .max_buffer_size(RECORDS)
        .build()
        .expect("client");
    for i in 0..RECORDS {
        client.send("root", &format!("c3 {i:06} acked"));
    }
    assert!(
        refused.wait_for_output("reason=nats_auth"),
        "{}",
        refused.output()
    );
    assert!(
        refused.has_output(&stranger.display().to_string()),
        "the log names the creds file:\n{}",
        refused.output()
    );
    // Wait until the node holds some of them, unpublished.
    let lag = "loghogd_cluster_publish_lag_records";
    wait_until("records read by the refused node", ARRIVAL, || {
        value(&scrape(&refused), lag).is_some_and(|n| n > 0.0)
    });
    assert_eq!(client.delivered(), 0, "nothing acknowledged while refused");
    assert!(read_lines(&file).is_empty(), "nothing got through");

    // Both kept running (and answered /metrics above); stopped now, a node
    // counts what it read and could not publish.
    assert!(bare.is_running());
    assert!(bare.stop().success());
    let sent = sender.join().expect("sender");
    assert!(
        sent < 1_000_000,
        "the bare node pushed back: {sent} records sent"
    );
    assert!(
        bare.has_output("reason=shutdown_unpublished"),
        "what it read and could not publish is counted:\n{}",
        bare.output()
    );

    // Regression: a node stopping with records it could not publish
    // acknowledged them to v2 clients all the same (and they were lost).
    let mut refused = refused;
    assert!(refused.stop().success());
    assert!(
        refused.has_output("reason=shutdown_unpublished"),
        "{}",
        refused.output()
    );
    assert_eq!(
        client.delivered(),
        0,
        "records not published are not acknowledged, even at shutdown"
    );

    // Given a creds file the server accepts, the restarted node delivers
    // every record the acked client still held, once.
    std::fs::copy(&good, &stranger).expect("replace the creds");
    let dir = std::mem::replace(&mut refused.dir, tempfile::tempdir().expect("tempdir"));
    let fixed = Daemon::start_in(dir);
    proxy.set_target(fixed.tcp);
    client
        .close(ARRIVAL)
        .unwrap_or_else(|e| panic!("not all records acknowledged: {e}\n{}", fixed.output()));
    assert_eq!(client.delivered(), RECORDS as u64);
    let mut lines = Vec::new();
    let arrived = support::poll_for(ARRIVAL, || {
        lines = read_lines(&file);
        lines.len() >= RECORDS
    });
    assert!(
        arrived,
        "{} of {RECORDS} lines\narchive:\n{}\ningest:\n{}",
        lines.len(),
        archive.output(),
        fixed.output()
    );
    let mut want: Vec<String> = (0..RECORDS).map(|i| format!("c3 {i:06} acked")).collect();
    let mut got = bodies(&lines);
    got.sort();
    want.sort();
    assert_eq!(got, want, "each record exactly once");
    for d in [&bare, &refused] {
        let out = d.output();
        let refusal = out.lines().find(|l| l.contains("reason=nats_auth"));
        eprintln!("refused node's log: {}", refusal.unwrap_or_default());
        assert!(
            !out.contains("event: "),
            "the client library's own unlimited lines stay out of the log:\n{out}"
        );
    }
}

/// Regression: the creds file was read when connecting, after the privilege
/// drop, so a creds file only root may read (as a secret should be) made a
/// node with `user = ...` fail at start. It is read with the configuration.
#[test]
fn a_creds_file_only_root_can_read_serves_a_node_that_drops_privileges() {
    if !nats_available() {
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("note: not running as root; reading creds before the privilege drop not tested");
        return;
    }
    if nix::unistd::User::from_name("nobody")
        .ok()
        .flatten()
        .is_none()
    {
        eprintln!("note: no user 'nobody'; reading creds before the privilege drop not tested");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let nats = operated_nats(tmp.path());
    let dir = tempfile::tempdir().expect("tempdir");
    // tempdir() is 0700: the dropped daemon must be able to reach its dirs.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let creds = nats
        .logs
        .user_creds("loghogd", &dir.path().join("root-only.creds"));
    std::fs::write(dir.path().join("facilities.conf"), FACILITIES).expect("write");
    let conf = daemon_conf(&format!(
        "\n[cluster]\nnats = {}\nrole = both\nname = dropped\n{}\n",
        nats.server.url(),
        extra(Some(&creds))
    ))
    .replace("[main]\n", "[main]\nuser = nobody\n");
    std::fs::write(dir.path().join("loghogd.conf"), conf).expect("write");
    let d = Daemon::start_in(dir);
    assert!(d.wait_for_output("dropped privileges"), "{}", d.output());
    let sent = AtomicU64::new(0);
    assert_eq!(send_numbered(d.tcp, "gamma", 4, 100, &sent), 100);
    let file = d.logdir().join("gamma/root.log");
    let mut lines = Vec::new();
    wait_until("the records of the unprivileged node", ARRIVAL, || {
        lines = read_lines(&file);
        lines.len() >= 100
    });
    assert_eq!(
        numbers_by_connection(&lines)[4],
        (0..100).collect::<Vec<_>>()
    );
}

/// `--check-config` names the file, line and value of a `nats_creds` that
/// is missing or is not a credentials file (regression: only "is it a
/// file" was checked, and a wrong file failed at start with no file name).
#[test]
fn check_config_names_an_unusable_nats_creds_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("facilities.conf"), FACILITIES).expect("write");
    let seed_only = dir.path().join("seed-only.nk");
    std::fs::write(
        &seed_only,
        format!("{}\n", KeyPair::new_user().seed().expect("seed")),
    )
    .expect("write");
    let conf = dir.path().join("loghogd.conf");
    let check = |creds: &str| {
        let text = daemon_conf(&format!(
            "\n[cluster]\nnats = nats://127.0.0.1:4222\nrole = ingest\nnats_creds = {creds}\n"
        ));
        std::fs::write(&conf, &text).expect("write");
        let line = text
            .lines()
            .position(|l| l.starts_with("nats_creds"))
            .expect("line")
            + 1;
        let (code, out, err) = support::run_loghogd(&[
            std::ffi::OsStr::new("-c"),
            conf.as_os_str(),
            std::ffi::OsStr::new("--check-config"),
        ]);
        (
            code,
            format!("{out}{err}"),
            format!("{}:{line}: ", conf.display()),
        )
    };
    let (code, err, at) = check("missing.creds");
    assert_eq!(code, 78, "{err}");
    let missing = dir.path().join("missing.creds");
    assert!(
        err.contains(&format!(
            "{at}[cluster] nats_creds: '{}' cannot be read",
            missing.display()
        )),
        "{err}"
    );
    let (code, err, at) = check("seed-only.nk");
    assert_eq!(code, 78, "{err}");
    assert!(
        err.contains(&format!(
            "{at}[cluster] nats_creds: '{}' is not a NATS credentials file",
            seed_only.display()
        )),
        "{err}"
    );
    let good = Account::new(&KeyPair::new_operator(), "A", true)
        .user_creds("u", &dir.path().join("good.creds"));
    let (code, err, _) = check(&good.display().to_string());
    assert_eq!(code, 0, "{err}");
}
