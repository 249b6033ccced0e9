//! Replay protection and HMAC-SHA256 against the real daemon: a protected
//! record is written once however it is replayed (same bytes over TCP, over
//! UDP, on a new connection, after a restart); stale and unprotected records
//! are refused under `replay_protection = yes`; `signature = sha256`
//! refuses HMAC-MD5; and a v1 verifier still accepts protected records.
mod support;

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use loghog_client::{Client, ClientBuilder, MacAlg};
use loghog_proto::{Decode, FrameDecoder, Message, signature_hex};
use support::{DEADLINE, Daemon, bodies, poll, read_lines, wait_lines};

const FACILITIES: &str = "\
[guarded]
rotate = daily
backup_count = 3
secret = s3cret
replay_protection = yes

[strong]
rotate = daily
backup_count = 3
secret = s3cret
signature = sha256

[plain-signed]
rotate = daily
backup_count = 3
secret = s3cret
";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// One protected frame for `app`, as our client would send it.
fn protected_frame(app: &str, body: &str, stamp: i64) -> Vec<u8> {
    let mut enc = ClientBuilder::new(app)
        .hostname("h")
        .secret("s3cret")
        .replay_protection(true)
        .frame_encoder();
    let mut out = Vec::new();
    enc.encode("root", body, stamp, 0, &mut out);
    out
}

fn send_tcp(d: &Daemon, bytes: &[u8]) {
    let mut s = d.connect();
    s.write_all(bytes).unwrap();
}

#[test]
fn a_protected_record_is_written_once_however_it_is_replayed() {
    let d = Daemon::start(FACILITIES);
    let frame = protected_frame("guarded", "pay 100", now());
    send_tcp(&d, &frame);
    wait_lines(&d.log("guarded/root.log"), 1);
    // The same bytes again: on a new connection, twice on one, by UDP.
    send_tcp(&d, &[frame.clone(), frame.clone()].concat());
    d.send_udp(&frame);
    assert!(poll(|| d.count_output(&["reason=replayed"]) >= 3));
    assert!(d.has_output("alert=security"));
    let d = d.restart();
    send_tcp(&d, &frame);
    assert!(d.wait_for_output("reason=replayed"));
    // A new record of the same client still goes through.
    send_tcp(&d, &protected_frame("guarded", "pay 5", now()));
    let lines = wait_lines(&d.log("guarded/root.log"), 2);
    assert_eq!(bodies(&lines), ["pay 100", "pay 5"]);
}

#[test]
fn stale_and_unprotected_records_are_refused_with_their_reason() {
    let d = Daemon::start_with(FACILITIES, "max_clock_skew = 60");
    let client = |protect: bool| {
        Client::builder("guarded")
            .host("127.0.0.1")
            .port(d.tcp.port())
            .secret("s3cret")
            .replay_protection(protect)
            .ack(true)
            .build()
            .unwrap()
    };
    let c = client(true);
    c.send_at("root", "from the past", now() - 120, 0);
    c.close(DEADLINE).unwrap();
    assert_eq!(c.rejected(), (1, Some("stale".into())));
    let c = client(false);
    c.send("root", "no nonce");
    c.close(DEADLINE).unwrap();
    assert_eq!(c.rejected(), (1, Some("unprotected".into())));
    let c = client(true);
    c.send_at("root", "within the skew", now() - 30, 0);
    c.close(DEADLINE).unwrap();
    assert_eq!(c.rejected().0, 0);
    assert_eq!(
        bodies(&read_lines(&d.log("guarded/root.log"))),
        ["within the skew"]
    );
}

#[test]
fn protected_records_still_pass_a_v1_verifier() {
    let d = Daemon::start(FACILITIES);
    // A facility with a secret but no replay protection checks the v1
    // signature and ignores the extra fields, as the original did.
    let frame = protected_frame("plain-signed", "v1 reads me", now());
    send_tcp(&d, &frame);
    assert_eq!(
        bodies(&wait_lines(&d.log("plain-signed/root.log"), 1)),
        ["v1 reads me"]
    );
    // And by hand: HMAC-MD5 over the v1 fields only.
    let Decode::Frame { frame: raw, .. } = FrameDecoder::new(1 << 20).decode(&frame) else {
        panic!("not a frame");
    };
    let msg = Message::parse(raw.payload).unwrap();
    assert!(msg.protection.nonce.is_some());
    let v1 = signature_hex(
        b"s3cret",
        &msg.app_id,
        &msg.module,
        msg.stamp,
        msg.nsecs,
        &msg.body,
    );
    assert_eq!(msg.signature.as_deref(), Some(v1.as_str()));
}

#[test]
fn signature_sha256_refuses_md5_and_the_default_accepts_both() {
    let d = Daemon::start(FACILITIES);
    let send = |app: &str, mac: MacAlg, body: &str| {
        let c = Client::builder(app)
            .host("127.0.0.1")
            .port(d.tcp.port())
            .secret("s3cret")
            .signature(mac)
            .ack(true)
            .build()
            .unwrap();
        c.send("root", body);
        c.close(DEADLINE).unwrap();
        c.rejected()
    };
    assert_eq!(send("strong", MacAlg::Sha256, "strong ok"), (0, None));
    assert_eq!(
        send("strong", MacAlg::Md5, "weak"),
        (1, Some("weak_signature".into()))
    );
    assert!(d.wait_for_output("reason=weak_signature"));
    assert_eq!(send("plain-signed", MacAlg::Sha256, "sha ok"), (0, None));
    assert_eq!(send("plain-signed", MacAlg::Md5, "md5 ok"), (0, None));
    assert_eq!(
        bodies(&read_lines(&d.log("strong/root.log"))),
        ["strong ok"]
    );
    assert_eq!(
        bodies(&read_lines(&d.log("plain-signed/root.log"))),
        ["sha ok", "md5 ok"]
    );
    // A SHA-256 signature made with the wrong secret is a bad signature.
    let c = Client::builder("strong")
        .host("127.0.0.1")
        .port(d.tcp.port())
        .secret("wrong")
        .signature(MacAlg::Sha256)
        .ack(true)
        .build()
        .unwrap();
    c.send("root", "forged");
    c.close(Duration::from_secs(20)).unwrap();
    assert_eq!(c.rejected(), (1, Some("bad_signature".into())));
}

#[test]
fn replay_protection_without_a_secret_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("facilities.conf"),
        "[app]\nrotate = daily\nbackup_count = 1\nreplay_protection = yes\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("loghogd.conf"), support::daemon_conf("")).unwrap();
    let conf = dir.path().join("loghogd.conf");
    let (code, _, err) =
        support::run_loghogd(&["-c".as_ref(), conf.as_os_str(), "--check-config".as_ref()]);
    assert_eq!(code, 78, "{err}");
    assert!(
        err.contains("replay_protection = yes needs a secret"),
        "{err}"
    );
}
