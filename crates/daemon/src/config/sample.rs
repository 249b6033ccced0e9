//! Sample configuration files: what `loghogd --gen-config` prints, and an
//! example facilities.conf.
//!
//! Both are tested to pass validation, so the sample can never drift from
//! what the parser accepts.

/// A complete, commented loghogd.conf with every key at its default.
///
/// Its `facilities_config` is relative (`facilities.conf`), so it is looked
/// up next to the loghogd.conf it is saved as.
pub fn sample_config() -> &'static str {
    r#"# loghogd.conf: settings of the LogHog daemon.
#
# Syntax: [section] headers, "key = value" or "key: value" lines. Comments
# start a line with ';' or '#', or follow a value after " ;" (whitespace
# then a semicolon). Relative paths are taken from the directory of this
# file. Command-line options override the values here. Keys of a [DEFAULT]
# section apply to every section present that does not set them.

[main]
; Detach and run in the background (yes/no).
daemon = no
; Drop privileges to this user after binding the sockets (default: keep
; the user loghogd was started as).
;user = loghog
; State kept across restarts (start times of live log files).
workdir = /var/lib/loghogd
; Application logs go to {logdir}/{app}/{facility}.log.
logdir = /var/log/loghogd
; Run-time files; a relative pidfile is placed in this directory.
rundir = /var/run/loghogd
; The applications that may log, and how their files rotate (required).
facilities_config = facilities.conf
pidfile = loghogd.pid

[log]
; The daemon's own log (default: loghogd.log in logdir).
filename = /var/log/loghogd/loghogd.log
; How many rotated internal logs to keep.
backup_count = 14
; When to rotate it: S, M, H, D, midnight or W0-W6 (W0 = Monday).
when = midnight
; DEBUG, INFO, WARNING, ERROR or CRITICAL.
level = INFO

[compressor]
; Format of rotated files: xz, bzip2 or gzip (all done in-process).
format = xz
; 0 (fastest) to 9 (smallest).
level = 6
; Write live files as gzip, readable with zcat at any moment; rotated
; files are then not compressed again.
compress_on_write = no

[server]
; Plain listeners: every address gets a TCP listener and a UDP socket.
; Comma-separated; "host", "host:port", "[ipv6]" or "[ipv6]:port".
; An address without a port uses default_port; an empty list listens nowhere.
; [::] also takes IPv4 clients unless an IPv4 address uses the same port.
listen_ipv4 = 127.0.0.1
listen_ipv6 = [::1]
default_port = 5566

; TLS listeners (TCP only, client certificates required). Setting any
; address here requires pemfile and cacert.
listen_ipv4_ssl =
listen_ipv6_ssl =
default_port_ssl = 5577
; The server certificate chain and private key in one PEM file.
;pemfile = certs/loghog-server.pem
; The CA that signs client certificates.
;cacert = certs/loghog-ca.cert

; Frames with a larger payload (bytes) are skipped.
max_message_size = 1048576
; Client connections (TCP and TLS) open at once. When the limit is
; reached, the connection idle the longest is closed to admit a new one.
max_connections = 10000
; Connections from one IP address at once; more are refused. Clients on
; one host (or behind one NAT) share an address.
max_connections_per_peer = 1000
; Memory held by all connections together (256 MiB): each counts its
; read buffer (partial frames) plus 8 KiB for its state. Beyond it, the
; connections holding the most are closed. At least max_message_size.
max_buffered_bytes = 268435456
; Seconds a TLS client has to finish its handshake.
handshake_timeout = 10
; Seconds after SIGTERM during which connections still read what clients
; send; what is still arriving then is cut, and counted in the log.
shutdown_timeout = 3
; Log files open at once; the least recently written is closed to open
; another (a file idle for 60 seconds is closed too). Both reopen on their
; next record.
max_open_files = 256
; With replay_protection (facilities.conf): seconds a record's client time
; may differ from loghogd's before it is refused as stale.
max_clock_skew = 300
; Answer clients that ask for acknowledged delivery (protocol v2: records
; confirmed once written, resent after a reconnect without duplicates).
; With no, loghogd never writes to a connection and such clients fall
; back to v1.
acknowledgements = yes

; Syslog in (RFC 3164 and RFC 5424), off unless set. Every address gets
; a UDP socket and a TCP listener (octet-counted or newline-delimited
; messages); IPv4 and IPv6 in one list; without a port, default_port_syslog.
; Use 514 (bound before privileges are dropped) to replace rsyslog.
listen_syslog =
default_port_syslog = 5514
; A local datagram socket, like /dev/log (stop the daemon that owns it
; first); a stale socket file is replaced, and it is removed on exit.
;syslog_socket = /dev/log
; Octal permission bits of the socket file (0666: every user may log).
syslog_socket_mode = 0666
; Records whose app (APP-NAME or TAG) is not in facilities.conf go to this
; app's facility, with the app name kept in the line; unset: dropped.
;syslog_default_app = syslog

[metrics]
; Serve Prometheus metrics on http://ADDRESS/metrics (OpenMetrics text).
; Off while empty. An address without a port uses 9566, e.g.
; "listen = 127.0.0.1:9566". Anyone who can reach it sees app names and
; counts: keep it on loopback or a private network.
listen =

; Cluster mode (docs/cluster.md): absent by default, and then loghogd runs
; standalone. Remove the leading ';' of the lines below to join a NATS
; JetStream cluster.
;[cluster]
; NATS servers, comma-separated (nats://host:port or tls://host:port).
;nats = nats://nats1:4222, nats://nats2:4222, nats://nats3:4222
; ingest: accept clients and publish to the stream; archive: consume the
; stream and write the files; both: the two in one process.
;role = ingest
; The JetStream stream (created when missing, subjects {stream}.{app}).
;stream = LOGHOG
; Replicas of the stream when loghogd creates it (1-5).
;replicas = 3
; NATS credentials file (user JWT + seed, e.g. from `nsc generate creds`;
; read before privileges are dropped, so it may be root-only) and the CA of
; the NATS servers' certificates.
;nats_creds = /etc/loghogd/loghogd.creds
;nats_ca = /etc/loghogd/nats-ca.pem
; This node's name (default: the host name); unique per ingest node.
;name = log-in-1
; Archive nodes: the apps this node writes, comma-separated (default: all).
; Each app must be written by exactly one archive node.
;apps = my-app, my-first-app
"#
}

/// A commented example facilities.conf.
pub fn sample_facilities() -> &'static str {
    r#"# facilities.conf: the applications that may send logs to loghogd.
#
# [app] is the application's root facility; [app:web.requests] is a module
# facility for the logger "web.requests" (and its children). Messages go to
# the most specific facility configured for their logger name.
#
# rotate       (required) hourly, daily, midnight, weekly, monthly, yearly,
#              annually, size, or a 5-field cron expression
# backup_count (required) how many rotated files to keep
# max_size     bytes; required with rotate = size, else rotate at whichever
#              comes first; 0 means no size limit
# flush_every  hand data to the OS after at most this many messages (1;
#              0 means the same as 1)
# file_per_host one file per sending host (no)
# max_hosts    with file_per_host: hosts with a file of their own (1000);
#              further hosts share the facility's file
# secret       messages must be signed with this shared secret; an empty
#              "secret =" turns signing off (also in a module of a signed app)
# fsync        make each batch durable before accepting more (no)
# signature    with a secret: sha256 refuses HMAC-MD5 signatures; any
#              accepts both (any)
# replay_protection with a secret: refuse records accepted before, stale
#              ones and ones without a nonce (no)
#
# max_size, flush_every, file_per_host, max_hosts, secret, fsync, signature
# and replay_protection are
# inherited by module facilities from their app's root facility. Keys of a
# [DEFAULT] section apply to every section that does not set them (and come
# before what a module inherits from its root).

[my-first-app]
rotate = daily ; At midnight
backup_count = 14

[my-app]
rotate = 0 0 * * 1-5 ; At midnight, Monday to Friday
backup_count = 30
max_size = 104857600
secret = change-me

[my-app:web.requests]
rotate = hourly
backup_count = 48
file_per_host = yes
max_hosts = 500

[my-app:cron]
rotate = size
backup_count = 5
"#
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Args, DaemonConfig, Facilities};
    use std::path::Path;

    #[test]
    fn sample_config_loads_with_every_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("loghogd.conf");
        std::fs::write(&conf, sample_config()).expect("write");
        std::fs::write(dir.path().join("facilities.conf"), sample_facilities()).expect("write");

        let (config, warnings) = DaemonConfig::load(&Args::with_config(&conf))
            .unwrap_or_else(|e| panic!("sample does not validate: {e:#?}"));
        assert!(warnings.is_empty(), "{warnings:#?}");
        assert_eq!(config.facilities_config, dir.path().join("facilities.conf"));

        // Every value in the sample is the default: the same file without
        // them (only the required facilities_config) must give the same.
        let minimal = dir.path().join("minimal.conf");
        std::fs::write(&minimal, "[main]\nfacilities_config = facilities.conf\n").expect("write");
        let (defaults, _) =
            DaemonConfig::load(&Args::with_config(&minimal)).expect("minimal loads");
        assert_eq!(
            DaemonConfig {
                path: conf.clone(),
                lines: config.lines,
                ..defaults
            },
            config
        );

        let (facilities, _) = Facilities::load(&config.facilities_config).expect("facilities load");
        assert_eq!(facilities.apps().count(), 2);
    }

    #[test]
    fn sample_cluster_section_loads_when_uncommented() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("loghogd.conf");
        // Uncomment the [cluster] section only (the lines after its header).
        let (head, tail) = sample_config()
            .split_once(";[cluster]\n")
            .expect("a commented [cluster] section");
        let tail = tail
            .lines()
            .map(|l| match l.strip_prefix(';') {
                Some(rest) if rest.contains(" = ") => rest,
                _ => l,
            })
            .filter(|l| !l.starts_with("nats_"))
            .collect::<Vec<_>>()
            .join("\n")
            // apps is for archive nodes.
            .replace("role = ingest", "role = both");
        let text = format!("{head}[cluster]\n{tail}\n");
        assert!(text.contains("\n[cluster]\n"), "{text}");
        std::fs::write(&conf, text).expect("write");
        std::fs::write(dir.path().join("facilities.conf"), sample_facilities()).expect("write");
        let (config, warnings) = DaemonConfig::load(&Args::with_config(&conf))
            .unwrap_or_else(|e| panic!("cluster sample does not validate: {e:#?}"));
        assert!(warnings.is_empty(), "{warnings:#?}");
        let cluster = config.cluster.expect("a cluster section");
        assert_eq!(cluster.nats.len(), 3);
        assert_eq!(cluster.name, "log-in-1");
        assert_eq!(cluster.apps, ["my-app", "my-first-app"]);
    }

    #[test]
    fn sample_facilities_parse_with_inheritance() {
        let (f, warnings) = Facilities::parse(
            Path::new("/etc/loghogd/facilities.conf"),
            sample_facilities(),
        )
        .unwrap_or_else(|e| panic!("{e:#?}"));
        assert!(warnings.is_empty(), "{warnings:#?}");
        let cron = f.resolve("my-app", "cron.nightly").expect("known app");
        assert_eq!(cron.name, "cron");
        assert_eq!(cron.schedule, None);
        assert_eq!(cron.max_size, Some(104857600));
        assert_eq!(cron.secret.as_deref(), Some("change-me"));
        let web = f.resolve("my-app", "web.requests").expect("known app");
        assert_eq!(
            web.schedule.as_ref().map(|s| s.expression()),
            Some("0 * * * *")
        );
        assert!(web.file_per_host);
        assert_eq!(web.max_hosts, 500);
    }
}
