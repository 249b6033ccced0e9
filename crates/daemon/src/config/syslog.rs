//! `[server]` keys of the syslog listeners: `listen_syslog`,
//! `default_port_syslog`, `syslog_socket`, `syslog_socket_mode` and
//! `syslog_default_app`. All off unless set.
//!
//! `listen_syslog` takes IPv4 and IPv6 addresses in one list (syslog
//! senders are configured by address, not by family), each getting a UDP
//! socket and a TCP listener, as plain addresses do.
use std::net::SocketAddr;
use std::path::PathBuf;

use super::values::{Family, Reader, parse_port};

/// Default `[server] default_port_syslog`: an unprivileged stand-in for 514.
pub const DEFAULT_PORT_SYSLOG: u16 = 5514;
/// Default `[server] syslog_socket_mode`: every local user may log, as with
/// `/dev/log`.
pub const DEFAULT_SOCKET_MODE: u32 = 0o666;

/// The syslog listeners' settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyslogSettings {
    /// Addresses that get a syslog UDP socket and TCP listener each.
    pub listen: Vec<SocketAddr>,
    /// The unix datagram socket (like `/dev/log`), if any.
    pub socket: Option<PathBuf>,
    /// The socket file's permission bits.
    pub socket_mode: u32,
    /// Where records of apps not in facilities.conf go; dropped if `None`.
    pub default_app: Option<String>,
}

impl SyslogSettings {
    /// Whether any syslog listener is configured.
    pub fn enabled(&self) -> bool {
        !self.listen.is_empty() || self.socket.is_some()
    }
}

/// Reads the syslog keys of `[server]`, recording problems in `r`.
pub(super) fn read(r: &mut Reader<'_>) -> SyslogSettings {
    let port = r.value(
        "server",
        "default_port_syslog",
        DEFAULT_PORT_SYSLOG,
        parse_port,
    );
    let listen = r.addresses("server", "listen_syslog", "", port, Family::Any);
    let socket = r.optional_path("server", "syslog_socket");
    let socket_mode = r.value(
        "server",
        "syslog_socket_mode",
        DEFAULT_SOCKET_MODE,
        parse_mode,
    );
    let default_app = r.value("server", "syslog_default_app", None, |v| {
        if v.is_empty() {
            Ok(None)
        } else if v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            Ok(Some(v.to_string()))
        } else {
            Err(format!(
                "'{v}' is not an app name (letters, digits, '.', '_', '-')"
            ))
        }
    });
    SyslogSettings {
        listen,
        socket,
        socket_mode,
        default_app,
    }
}

/// An octal permission mode such as `0666` or `660`.
fn parse_mode(v: &str) -> Result<u32, String> {
    match u32::from_str_radix(v.strip_prefix("0o").unwrap_or(v), 8) {
        Ok(m) if m <= 0o777 && !v.is_empty() => Ok(m),
        _ => Err(format!("'{v}' is not an octal mode from 000 to 777")),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Args, DaemonConfig};

    const CONF: &str = "/etc/loghogd/loghogd.conf";

    fn load(server: &str) -> Result<DaemonConfig, Vec<String>> {
        let text = format!("[main]\nfacilities_config = f.conf\n[server]\n{server}\n");
        match DaemonConfig::parse(Path::new(CONF), &text, &Args::with_config(CONF)) {
            Ok((c, warnings)) => {
                assert!(warnings.is_empty(), "{warnings:?}");
                Ok(c)
            }
            Err(e) => Err(e.iter().map(ToString::to_string).collect()),
        }
    }

    #[test]
    fn off_by_default() {
        let c = load("").unwrap();
        assert!(!c.server.syslog.enabled());
        assert_eq!(c.server.syslog.socket_mode, 0o666);
    }

    #[test]
    fn both_families_in_one_list_with_the_default_port() {
        let c = load(
            "listen_syslog = 127.0.0.1, [::1]:1514\ndefault_port_syslog = 2514\n\
             syslog_socket = run/log\nsyslog_socket_mode = 0620\nsyslog_default_app = syslog",
        )
        .unwrap();
        let s = &c.server.syslog;
        assert_eq!(
            s.listen,
            vec![
                "127.0.0.1:2514".parse().unwrap(),
                "[::1]:1514".parse().unwrap()
            ]
        );
        assert!(s.socket.as_ref().unwrap().ends_with("run/log"));
        assert!(s.socket.as_ref().unwrap().is_absolute());
        assert_eq!(s.socket_mode, 0o620);
        assert_eq!(s.default_app.as_deref(), Some("syslog"));
    }

    #[test]
    fn errors_name_the_line_and_the_value() {
        let e = load(
            "listen_syslog = 1.2.3.4:x\ndefault_port_syslog = 99999\n\
             syslog_socket_mode = 0999\nsyslog_default_app = a/b",
        )
        .unwrap_err();
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(e[0].contains(":4: ") && e[0].contains("1.2.3.4:x"), "{e:?}");
        assert!(e[1].contains(":5: ") && e[1].contains("99999"), "{e:?}");
        assert!(e[2].contains(":6: ") && e[2].contains("0999"), "{e:?}");
        assert!(e[3].contains(":7: ") && e[3].contains("a/b"), "{e:?}");
    }
}
