//! Typed values from loghogd.conf's entries: the [`Reader`] that turns an
//! entry into a value or a `file:line` error (collecting them all, with the
//! default where the key is absent), and the parsers of booleans, sizes,
//! ports, durations, log levels and address lists.
//!
//! Address lists resolve host names once, at load time, and keep only the
//! family the key is for (`listen_ipv4` takes IPv4 addresses only).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::level_filters::LevelFilter;

use super::ini::{Entry, Ini};
use super::{ConfigError, parse_bool};

/// Which address family an address list accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    V4,
    V6,
    /// Either family (`[metrics] listen`).
    Any,
}

impl Family {
    fn accepts(self, ip: &IpAddr) -> bool {
        matches!(
            (self, ip),
            (Family::V4, IpAddr::V4(_)) | (Family::V6, IpAddr::V6(_)) | (Family::Any, _)
        )
    }

    fn name(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
            Family::Any => "IP",
        }
    }
}

/// Collects problems while reading one file.
pub(super) struct Reader<'a> {
    pub(super) ini: &'a Ini,
    pub(super) path: &'a Path,
    /// Relative paths are taken from here (the file's directory).
    pub(super) base: &'a Path,
    pub(super) errors: Vec<ConfigError>,
}

impl<'a> Reader<'a> {
    pub(super) fn entry(&self, section: &str, key: &str) -> Option<&'a Entry> {
        self.ini.section(section).and_then(|s| s.get(key))
    }

    /// The line to blame for a missing key: its section header, or the file.
    pub(super) fn section_line(&self, section: &str) -> usize {
        self.ini.section(section).map_or(0, |s| s.line)
    }

    pub(super) fn error(&mut self, line: usize, message: String) {
        self.errors.push(ConfigError::new(self.path, line, message));
    }

    /// Reads `[section] key` with `parse`, or `default` when absent; a bad
    /// value is recorded and `default` returned so checking goes on.
    pub(super) fn value<T>(
        &mut self,
        section: &str,
        key: &str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> T {
        match self.entry(section, key) {
            None => default,
            Some(entry) => match parse(&entry.value) {
                Ok(v) => v,
                Err(why) => {
                    let from = if entry.inherited {
                        " (from [DEFAULT])"
                    } else {
                        ""
                    };
                    self.error(entry.line, format!("[{section}] {key}{from}: {why}"));
                    default
                }
            },
        }
    }

    /// A path relative to the config file's directory.
    pub(super) fn path_value(&mut self, section: &str, key: &str, default: &str) -> PathBuf {
        let base = self.base;
        self.value(section, key, base.join(default), |v| {
            if v.is_empty() {
                Err("empty path".to_string())
            } else {
                Ok(base.join(v))
            }
        })
    }

    pub(super) fn optional_path(&mut self, section: &str, key: &str) -> Option<PathBuf> {
        let base = self.base;
        self.value(section, key, None, |v| {
            Ok((!v.is_empty()).then(|| base.join(v)))
        })
    }

    pub(super) fn addresses(
        &mut self,
        section: &str,
        key: &str,
        default: &str,
        port: u16,
        family: Family,
    ) -> Vec<SocketAddr> {
        let (text, line) = match self.entry(section, key) {
            Some(e) => (e.value.as_str(), e.line),
            None => (default, self.section_line(section)),
        };
        match parse_addresses(text, port, family) {
            Ok(addrs) => addrs,
            Err(problems) => {
                for why in problems {
                    self.error(line, format!("[{section}] {key}: {why}"));
                }
                Vec::new()
            }
        }
    }
}

pub(super) fn bool_value(v: &str) -> Result<bool, String> {
    parse_bool(v).ok_or_else(|| format!("'{v}' is not a boolean (yes/no, true/false, on/off, 1/0)"))
}

pub(super) fn positive<T: std::str::FromStr + PartialOrd + Default>(
    v: &str,
    what: &str,
) -> Result<T, String> {
    match v.parse::<T>() {
        Ok(n) if n > T::default() => Ok(n),
        _ => Err(format!("'{v}' is not {what} (a positive whole number)")),
    }
}

pub(super) fn parse_port(v: &str) -> Result<u16, String> {
    v.parse::<u16>()
        .map_err(|_| format!("'{v}' is not a port number (0-65535)"))
}

pub(super) fn parse_seconds(v: &str) -> Result<Duration, String> {
    match v.parse::<f64>() {
        Ok(s) if s > 0.0 => {
            Duration::try_from_secs_f64(s).map_err(|_| format!("'{v}' is too many seconds"))
        }
        _ => Err(format!("'{v}' is not a positive number of seconds")),
    }
}

/// Python TimedRotatingFileHandler's `when`: S, M, H, D, MIDNIGHT, W0-W6.
pub(super) fn parse_when(v: &str) -> Result<String, String> {
    let upper = v.to_ascii_uppercase();
    let ok = matches!(upper.as_str(), "S" | "M" | "H" | "D" | "MIDNIGHT")
        || (upper.len() == 2
            && upper.starts_with('W')
            && upper.as_bytes()[1].is_ascii_digit()
            && upper.as_bytes()[1] <= b'6');
    if ok {
        Ok(upper)
    } else {
        Err(format!("'{v}' is not one of S, M, H, D, midnight, W0-W6"))
    }
}

/// Python logging level names; CRITICAL (and FATAL) map to ERROR.
pub(super) fn parse_level(v: &str) -> Result<LevelFilter, String> {
    match v.to_ascii_uppercase().as_str() {
        "TRACE" => Ok(LevelFilter::TRACE),
        "DEBUG" => Ok(LevelFilter::DEBUG),
        "INFO" => Ok(LevelFilter::INFO),
        "WARNING" | "WARN" => Ok(LevelFilter::WARN),
        "ERROR" | "CRITICAL" | "FATAL" => Ok(LevelFilter::ERROR),
        _ => Err(format!(
            "'{v}' is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
        )),
    }
}

/// Parses a comma-separated address list: `host`, `host:port`, `[v6]`,
/// `[v6]:port`, or a bare IPv6 literal; host names are resolved and only
/// addresses of `family` kept. Returns every problem found.
fn parse_addresses(
    list: &str,
    default_port: u16,
    family: Family,
) -> Result<Vec<SocketAddr>, Vec<String>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut problems = Vec::new();
    for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        match parse_address(item, default_port, family) {
            Ok(addrs) => {
                for a in addrs {
                    if seen.insert(a) {
                        out.push(a);
                    }
                }
            }
            Err(why) => problems.push(why),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn parse_address(item: &str, default_port: u16, family: Family) -> Result<Vec<SocketAddr>, String> {
    let (host, port) = if let Some(rest) = item.strip_prefix('[') {
        let (inside, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("'{item}' has no closing ']'"))?;
        let ip: Ipv6Addr = inside
            .parse()
            .map_err(|_| format!("'{item}': '{inside}' is not an IPv6 address"))?;
        let port =
            match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or_else(|| {
                    format!("'{item}': expected ':port' after ']', found '{after}'")
                })?),
            };
        (HostPart::Ip(IpAddr::V6(ip)), port)
    } else if item.matches(':').count() > 1 {
        // A bare IPv6 literal: it cannot carry a port without brackets.
        let ip: Ipv6Addr = item.parse().map_err(|_| {
            format!("'{item}' is not an address (write IPv6 with a port as [addr]:port)")
        })?;
        (HostPart::Ip(IpAddr::V6(ip)), None)
    } else {
        let (host, port) = match item.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (item, None),
        };
        if host.is_empty() {
            return Err(format!("'{item}' has no host"));
        }
        match host.parse::<IpAddr>() {
            Ok(ip) => (HostPart::Ip(ip), port),
            Err(_) => (HostPart::Name(host), port),
        }
    };
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("'{item}': port '{p}' is not a number from 0 to 65535"))?,
    };
    match host {
        HostPart::Ip(ip) if family.accepts(&ip) => Ok(vec![SocketAddr::new(ip, port)]),
        HostPart::Ip(_) => Err(format!(
            "'{item}' is not an {} address (this list takes {} addresses only)",
            family.name(),
            family.name()
        )),
        HostPart::Name(name) => {
            let resolved: Vec<SocketAddr> = (name, port)
                .to_socket_addrs()
                .map_err(|e| format!("cannot resolve '{name}' in '{item}': {e}"))?
                .filter(|a| family.accepts(&a.ip()))
                .collect();
            if resolved.is_empty() {
                Err(format!(
                    "'{name}' in '{item}' has no {} address",
                    family.name()
                ))
            } else {
                Ok(resolved)
            }
        }
    }
}

enum HostPart<'a> {
    Ip(IpAddr),
    Name(&'a str),
}
