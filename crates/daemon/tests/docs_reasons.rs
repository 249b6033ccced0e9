//! docs/bad-input.md must list every `reason=` the daemon logs for a peer:
//! the TLS handshake reasons (from `HandshakeError::reason`) and the ones
//! the router and the stream reader spell out themselves. A reason added
//! to the code without a row in the page fails here.
use std::io;
use std::time::Duration;

use loghog_daemon::ingest::tls::HandshakeError;
use rustls::CertificateError as C;

fn bad_input_page() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/bad-input.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn documented(page: &str, reason: &str) -> bool {
    page.contains(&format!("| `{reason}` |"))
}

#[test]
fn every_tls_handshake_reason_is_documented() {
    let tls = |e: rustls::Error| HandshakeError::Tls(e).reason();
    let reasons = [
        HandshakeError::Timeout {
            after: Duration::from_secs(1),
        }
        .reason(),
        HandshakeError::Closed.reason(),
        HandshakeError::Io(io::Error::other("x")).reason(),
        tls(rustls::Error::NoCertificatesPresented),
        tls(rustls::Error::InvalidCertificate(C::UnknownIssuer)),
        tls(rustls::Error::InvalidCertificate(C::Expired)),
        tls(rustls::Error::InvalidCertificate(C::NotValidYet)),
        tls(rustls::Error::InvalidCertificate(C::Revoked)),
        tls(rustls::Error::InvalidCertificate(C::InvalidPurpose)),
        tls(rustls::Error::InvalidCertificate(C::BadEncoding)),
        tls(rustls::Error::AlertReceived(
            rustls::AlertDescription::BadCertificate,
        )),
        tls(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::NoCipherSuitesInCommon,
        )),
        tls(rustls::Error::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType,
        )),
        tls(rustls::Error::HandshakeNotComplete),
    ];
    let page = bad_input_page();
    let missing: Vec<_> = reasons.iter().filter(|r| !documented(&page, r)).collect();
    assert!(missing.is_empty(), "not in docs/bad-input.md: {missing:?}");
    // Each variant above maps to a reason of its own.
    let mut distinct = reasons.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), reasons.len(), "{reasons:?}");
}

#[test]
fn the_reasons_spelled_out_in_the_daemon_are_documented() {
    // Literal reasons in src/: each must be a row of the page.
    let sources = [
        ("src/router.rs", "\"unknown_app\""),
        ("src/router.rs", "\"queue_full\""),
        ("src/replay.rs", "\"weak_signature\""),
        ("src/replay.rs", "\"unprotected\""),
        ("src/replay.rs", "\"stale\""),
        ("src/replay.rs", "\"replayed\""),
        ("src/ingest/stream.rs", "\"partial_frame\""),
        ("src/ingest/stream.rs", "\"misplaced_control\""),
        ("src/ingest/limits.rs", "\"evicted_idle\""),
        ("src/ingest/limits.rs", "\"peer_connection_limit\""),
        ("src/ingest/limits.rs", "\"buffer_budget\""),
        ("src/ingest/limits.rs", "\"shutdown_cut\""),
        ("src/ingest/limits.rs", "\"eviction_cut\""),
        ("src/syslog/parse.rs", "\"bad_pri\""),
        ("src/syslog/parse.rs", "\"empty_message\""),
        ("src/syslog/route.rs", "\"missing_pri\""),
        ("src/syslog/route.rs", "\"invalid_utf8\""),
        ("src/syslog/route.rs", "\"unknown_app\""),
        ("src/syslog/route.rs", "\"unsigned\""),
        ("src/syslog/tcp.rs", "\"message_too_large\""),
        ("src/syslog/tcp.rs", "\"partial_frame\""),
        ("src/syslog/datagram.rs", "\"message_too_large\""),
    ];
    let page = bad_input_page();
    for (file, literal) in sources {
        let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(literal), "{file} no longer says {literal}");
        let reason = literal.trim_matches('"');
        assert!(
            documented(&page, reason),
            "not in docs/bad-input.md: {reason}"
        );
    }
}
