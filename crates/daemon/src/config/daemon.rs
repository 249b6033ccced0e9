//! loghogd.conf: the daemon's own settings (SPEC §3), merged with the
//! command line.
//!
//! Paths in the file are relative to the file's directory; paths on the
//! command line are relative to the current directory, except `-F`, which
//! the original also took from the file's directory. A relative `pidfile`
//! is placed in `rundir` (that is what rundir is for), and the internal log
//! defaults to `{logdir}/loghogd.log` so that moving logdir moves it too.
//! Validation reads every key and reports every problem before giving up.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::level_filters::LevelFilter;

use super::ini::{self, Ini};
use super::values::{
    Family, Reader, bool_value, parse_level, parse_port, parse_seconds, parse_when, positive,
};
use super::{Args, ConfigError, ConfigWarning};

/// Default `[main] workdir`.
pub const DEFAULT_WORKDIR: &str = "/var/lib/loghogd";
/// Default `[main] logdir`.
pub const DEFAULT_LOGDIR: &str = "/var/log/loghogd";
/// Default `[main] rundir`.
pub const DEFAULT_RUNDIR: &str = "/var/run/loghogd";
/// Default `[main] pidfile` (inside rundir).
pub const DEFAULT_PIDFILE: &str = "loghogd.pid";
/// Default `[server] default_port`.
pub const DEFAULT_PORT: u16 = 5566;
/// Default `[server] default_port_ssl`.
pub const DEFAULT_PORT_SSL: u16 = 5577;
/// Default `[server] max_message_size`: 1 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1 << 20;
/// Default `[server] max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Default `[server] max_open_files`.
pub const DEFAULT_MAX_OPEN_FILES: usize = crate::storage::handle::DEFAULT_MAX_OPEN_FILES;
/// Default `[server] handshake_timeout`.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `[server] max_connections_per_peer`: generous, because every
/// client process on one host (or behind one NAT) shares its address.
pub const DEFAULT_MAX_CONNECTIONS_PER_PEER: usize = 1_000;
/// Default `[server] max_buffered_bytes`: 256 MiB held in partial frames
/// across all connections.
pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 256 << 20;
/// Default `[server] shutdown_timeout`.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(3);
/// The port of a `[metrics] listen` address given without one.
pub const DEFAULT_METRICS_PORT: u16 = 9566;

/// The sections and keys loghogd.conf may contain; anything else is warned
/// about (a typo should not pass silently).
const KNOWN: &[(&str, &[&str])] = &[
    (
        "main",
        &[
            "daemon",
            "user",
            "workdir",
            "logdir",
            "rundir",
            "facilities_config",
            "pidfile",
        ],
    ),
    ("log", &["filename", "backup_count", "when", "level"]),
    ("compressor", &["format", "level", "compress_on_write"]),
    (
        "server",
        &[
            "listen_ipv4",
            "listen_ipv6",
            "default_port",
            "listen_ipv4_ssl",
            "listen_ipv6_ssl",
            "default_port_ssl",
            "pemfile",
            "cacert",
            "max_message_size",
            "max_connections",
            "handshake_timeout",
            "max_connections_per_peer",
            "max_buffered_bytes",
            "shutdown_timeout",
            "max_open_files",
            "listen_syslog",
            "default_port_syslog",
            "syslog_socket",
            "syslog_socket_mode",
            "syslog_default_app",
            "acknowledgements",
            "max_clock_skew",
        ],
    ),
    ("metrics", &["listen"]),
    ("cluster", crate::cluster::config::KEYS),
];

/// The validated daemon configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonConfig {
    /// The loghogd.conf that was read, absolute.
    pub path: PathBuf,
    /// Detach into the background.
    pub daemon: bool,
    /// Drop privileges to this user after binding; `None` keeps the current one.
    pub user: Option<String>,
    /// Where state (file start times) is kept.
    pub workdir: PathBuf,
    /// Where application logs are written.
    pub logdir: PathBuf,
    /// Where the pid file lives.
    pub rundir: PathBuf,
    /// The facilities.conf to read.
    pub facilities_config: PathBuf,
    /// The pid file, absolute.
    pub pidfile: PathBuf,
    /// The internal log.
    pub log: LogSettings,
    /// Compression of rotated files.
    pub compressor: CompressorSettings,
    /// Listeners and limits.
    pub server: ServerSettings,
    /// The Prometheus endpoint.
    pub metrics: MetricsSettings,
    /// Where some settings were read, for messages about their values.
    pub lines: SettingLines,
    /// `[cluster]`: None (the default) runs standalone.
    pub cluster: Option<crate::cluster::config::ClusterSettings>,
}

/// The loghogd.conf line of settings whose values are checked after
/// loading (the user exists, the TLS files work); 0 when the value came
/// from the command line or the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SettingLines {
    /// `[main] user`.
    pub user: usize,
    /// `[server] pemfile`.
    pub pemfile: usize,
    /// `[server] cacert`.
    pub cacert: usize,
}

/// `[log]`: the daemon's internal log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogSettings {
    /// The internal log file, absolute.
    pub filename: PathBuf,
    /// How many rotated internal logs to keep (0: keep all, as Python's
    /// TimedRotatingFileHandler).
    pub backup_count: u32,
    /// When to rotate, as Python's TimedRotatingFileHandler, uppercased:
    /// `S`, `M`, `H`, `D`, `MIDNIGHT` or `W0`-`W6` (W0 is Monday).
    pub when: String,
    /// The least severe level written (CRITICAL maps to ERROR).
    pub level: LevelFilter,
}

/// `[compressor] format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressFormat {
    /// xz (LZMA2), `.xz`.
    Xz,
    /// bzip2, `.bz2`.
    Bzip2,
    /// gzip, `.gz`.
    Gzip,
}

impl CompressFormat {
    /// The file extension of this format, without the dot.
    pub fn extension(&self) -> &'static str {
        match self {
            CompressFormat::Xz => "xz",
            CompressFormat::Bzip2 => "bz2",
            CompressFormat::Gzip => "gz",
        }
    }

    /// Parses a `format` value (`xz`, `bzip2`, `gzip`, case-insensitive).
    pub fn parse(value: &str) -> Option<CompressFormat> {
        match value.to_ascii_lowercase().as_str() {
            "xz" => Some(CompressFormat::Xz),
            "bzip2" => Some(CompressFormat::Bzip2),
            "gzip" => Some(CompressFormat::Gzip),
            _ => None,
        }
    }
}

/// `[compressor]`: how rotated files are compressed.
#[derive(Debug, Clone, PartialEq)]
pub struct CompressorSettings {
    /// The format of rotated files.
    pub format: CompressFormat,
    /// Compression level, 0 (fastest) to 9 (smallest).
    pub level: u32,
    /// Write live files as gzip streams (then rotated files are not
    /// compressed again).
    pub compress_on_write: bool,
}

/// `[server]`: listeners and limits.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    /// Plain addresses (TCP and UDP each): listen_ipv4 + listen_ipv6,
    /// resolved, ports defaulted to default_port.
    pub listen: Vec<SocketAddr>,
    /// TLS addresses: listen_ipv4_ssl + listen_ipv6_ssl, ports defaulted to
    /// default_port_ssl.
    pub listen_ssl: Vec<SocketAddr>,
    /// The server's certificate chain and key in one PEM file.
    pub pemfile: Option<PathBuf>,
    /// The CA that client certificates must chain to.
    pub cacert: Option<PathBuf>,
    /// Frames with a longer payload are skipped.
    pub max_message_size: usize,
    /// At most this many client connections at once.
    pub max_connections: usize,
    /// A TLS handshake must finish within this time.
    pub handshake_timeout: Duration,
    /// At most this many connections from one IP address at once.
    pub max_connections_per_peer: usize,
    /// Bytes held in partial frames across all connections before the
    /// connections holding the most are closed.
    pub max_buffered_bytes: usize,
    /// After SIGTERM, connections read for at most this long; what is still
    /// arriving then is cut (and counted).
    pub shutdown_timeout: Duration,
    /// At most this many log files open at once (the least recently used
    /// is closed to open another).
    pub max_open_files: usize,
    /// The syslog listeners (off unless configured).
    pub syslog: super::syslog::SyslogSettings,
    /// Answer v2 hellos with acknowledgements (`acknowledgements`, yes by
    /// default); with no, the daemon behaves as a v1 server.
    pub acknowledgements: bool,
    /// Replay protection refuses records stamped further than this from
    /// the daemon's clock (`max_clock_skew`, 300 s).
    pub max_clock_skew: Duration,
}

/// `[metrics]`: the Prometheus endpoint, off unless `listen` is set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSettings {
    /// Addresses serving `/metrics` (port 9566 when not given); empty: off.
    pub listen: Vec<SocketAddr>,
}

impl DaemonConfig {
    /// Reads `args.config`, applies the command-line overrides and validates
    /// everything, collecting all errors (and warnings such as unknown keys).
    pub fn load(args: &Args) -> Result<(DaemonConfig, Vec<ConfigWarning>), Vec<ConfigError>> {
        let (config, warnings) = Self::load_with_warnings(args);
        config.map(|c| (c, warnings))
    }

    /// Like [`DaemonConfig::load`], but the warnings come back also when
    /// there are errors, so that `--check-config` can show them together.
    pub fn load_with_warnings(
        args: &Args,
    ) -> (Result<DaemonConfig, Vec<ConfigError>>, Vec<ConfigWarning>) {
        let path = match cli_path(&args.config) {
            Ok(path) => path,
            Err(e) => return (Err(vec![e]), Vec::new()),
        };
        let (ini, errors, warnings) = ini::read(&path);
        Self::from_ini_with_warnings(&path, &ini, args, errors, warnings)
    }

    /// Like [`DaemonConfig::load`] for text already read from `path`.
    pub fn parse(
        path: &Path,
        text: &str,
        args: &Args,
    ) -> Result<(DaemonConfig, Vec<ConfigWarning>), Vec<ConfigError>> {
        let path = cli_path(path).map_err(|e| vec![e])?;
        let (ini, errors, warnings) = ini::parse(&path, text);
        Self::from_ini(&path, &ini, args, errors, warnings)
    }

    fn from_ini(
        path: &Path,
        ini: &Ini,
        args: &Args,
        errors: Vec<ConfigError>,
        warnings: Vec<ConfigWarning>,
    ) -> Result<(DaemonConfig, Vec<ConfigWarning>), Vec<ConfigError>> {
        let (config, warnings) = Self::from_ini_with_warnings(path, ini, args, errors, warnings);
        config.map(|c| (c, warnings))
    }

    fn from_ini_with_warnings(
        path: &Path,
        ini: &Ini,
        args: &Args,
        errors: Vec<ConfigError>,
        mut warnings: Vec<ConfigWarning>,
    ) -> (Result<DaemonConfig, Vec<ConfigError>>, Vec<ConfigWarning>) {
        warn_unknown(ini, path, &mut warnings);
        warnings.sort_by_key(|w| w.line);
        let base = path.parent().unwrap_or(Path::new("/"));
        let mut r = Reader {
            ini,
            path,
            base,
            errors,
        };

        // [main]
        let daemon = r.value("main", "daemon", false, bool_value);
        let user = r.value("main", "user", None, |v| {
            Ok((!v.is_empty()).then(|| v.to_string()))
        });
        let workdir = r.path_value("main", "workdir", DEFAULT_WORKDIR);
        let logdir = r.path_value("main", "logdir", DEFAULT_LOGDIR);
        let rundir = r.path_value("main", "rundir", DEFAULT_RUNDIR);
        let facilities_config = r.optional_path("main", "facilities_config");
        // A relative pidfile lives in rundir, so it is resolved after the
        // rundir override below; keep the raw value for now.
        let pidfile_raw = r.value("main", "pidfile", PathBuf::from(DEFAULT_PIDFILE), |v| {
            if v.is_empty() {
                Err("empty path".to_string())
            } else {
                Ok(PathBuf::from(v))
            }
        });

        // [log]
        let log_filename = r.optional_path("log", "filename");
        let log_backup_count = r.value("log", "backup_count", 14, |v| {
            v.parse::<u32>()
                .map_err(|_| format!("'{v}' is not a whole number of files (0 or more)"))
        });
        let when = r.value("log", "when", "MIDNIGHT".to_string(), parse_when);
        let level = r.value("log", "level", LevelFilter::INFO, parse_level);

        // [compressor]
        let format = r.value("compressor", "format", CompressFormat::Xz, |v| {
            CompressFormat::parse(v).ok_or_else(|| format!("'{v}' is not one of xz, bzip2, gzip"))
        });
        let comp_level = r.value("compressor", "level", 6, |v| match v.parse::<u32>() {
            Ok(n) if n <= 9 => Ok(n),
            _ => Err(format!("'{v}' is not a level from 0 to 9")),
        });
        let compress_on_write = r.value("compressor", "compress_on_write", false, bool_value);

        // [server]
        let port = r.value("server", "default_port", DEFAULT_PORT, parse_port);
        let port_ssl = r.value("server", "default_port_ssl", DEFAULT_PORT_SSL, parse_port);
        let mut listen = r.addresses("server", "listen_ipv4", "127.0.0.1", port, Family::V4);
        listen.extend(r.addresses("server", "listen_ipv6", "[::1]", port, Family::V6));
        let mut listen_ssl = r.addresses("server", "listen_ipv4_ssl", "", port_ssl, Family::V4);
        listen_ssl.extend(r.addresses("server", "listen_ipv6_ssl", "", port_ssl, Family::V6));
        let pemfile = r.optional_path("server", "pemfile");
        let cacert = r.optional_path("server", "cacert");
        let max_message_size = r.value(
            "server",
            "max_message_size",
            DEFAULT_MAX_MESSAGE_SIZE,
            |v| positive::<usize>(v, "a size in bytes"),
        );
        let max_connections = r.value("server", "max_connections", DEFAULT_MAX_CONNECTIONS, |v| {
            positive::<usize>(v, "a number of connections")
        });
        let handshake_timeout = r.value(
            "server",
            "handshake_timeout",
            DEFAULT_HANDSHAKE_TIMEOUT,
            parse_seconds,
        );
        let max_connections_per_peer = r.value(
            "server",
            "max_connections_per_peer",
            DEFAULT_MAX_CONNECTIONS_PER_PEER,
            |v| positive::<usize>(v, "a number of connections"),
        );
        let max_buffered_bytes = r.value(
            "server",
            "max_buffered_bytes",
            DEFAULT_MAX_BUFFERED_BYTES,
            |v| positive::<usize>(v, "a size in bytes"),
        );
        // A budget smaller than one frame would close every connection that
        // sends a large (but allowed) frame.
        let budget_line = r.entry("server", "max_buffered_bytes").map(|e| e.line);
        if let Some(line) = budget_line.filter(|_| max_buffered_bytes < max_message_size) {
            r.error(
                line,
                format!(
                    "[server] max_buffered_bytes: {max_buffered_bytes} is less than max_message_size ({max_message_size})"
                ),
            );
        }
        let shutdown_timeout = r.value(
            "server",
            "shutdown_timeout",
            DEFAULT_SHUTDOWN_TIMEOUT,
            parse_seconds,
        );
        let max_open_files = r.value("server", "max_open_files", DEFAULT_MAX_OPEN_FILES, |v| {
            positive::<usize>(v, "a number of files")
        });
        let syslog = super::syslog::read(&mut r);
        let acknowledgements = r.value("server", "acknowledgements", true, bool_value);
        let max_clock_skew = r.value(
            "server",
            "max_clock_skew",
            crate::replay::DEFAULT_MAX_CLOCK_SKEW,
            parse_seconds,
        );

        // [metrics]
        let metrics_listen =
            r.addresses("metrics", "listen", "", DEFAULT_METRICS_PORT, Family::Any);

        let cluster = crate::cluster::config::read(ini, path, base).unwrap_or_else(|e| {
            r.errors.extend(e);
            None
        });

        if !listen_ssl.is_empty() {
            let line = ["listen_ipv4_ssl", "listen_ipv6_ssl"]
                .iter()
                .filter_map(|k| r.entry("server", k))
                .map(|e| e.line)
                .next()
                .unwrap_or(0);
            for (key, value) in [("pemfile", &pemfile), ("cacert", &cacert)] {
                if value.is_none() {
                    r.error(
                        line,
                        format!("[server] ssl addresses are set but {key} is not (TLS needs pemfile and cacert)"),
                    );
                }
            }
        }

        // -F is taken from loghogd.conf's directory, as the original did
        // (it joined every facilities_config, wherever it came from, to that
        // directory); an absolute -F is used as it is.
        let facilities_override = args.facilities_config.as_ref().map(|p| base.join(p));
        // The other command-line overrides: relative to the current directory.
        let mut cli = |p: &Option<PathBuf>| -> Option<PathBuf> {
            p.as_ref().and_then(|p| match cli_path(p) {
                Ok(abs) => Some(abs),
                Err(e) => {
                    r.errors.push(e);
                    None
                }
            })
        };
        let workdir = cli(&args.work_dir).unwrap_or(workdir);
        let logdir = cli(&args.log_dir).unwrap_or(logdir);
        let rundir = cli(&args.run_dir).unwrap_or(rundir);
        let pid_override = cli(&args.pid);
        let log_override = cli(&args.log);
        let facilities_config = match facilities_override.or(facilities_config) {
            Some(p) => p,
            None => {
                let line = r.section_line("main");
                r.error(
                    line,
                    "[main] facilities_config is required (the file listing the applications)"
                        .to_string(),
                );
                PathBuf::new()
            }
        };
        let pidfile = pid_override.unwrap_or_else(|| rundir.join(pidfile_raw));
        let log_filename = log_override
            .or(log_filename)
            .unwrap_or_else(|| logdir.join("loghogd.log"));
        let line_of = |section, key| r.entry(section, key).map_or(0, |e| e.line);
        let lines = SettingLines {
            user: if args.user.as_deref().is_some_and(|u| !u.is_empty()) {
                0
            } else {
                line_of("main", "user")
            },
            pemfile: line_of("server", "pemfile"),
            cacert: line_of("server", "cacert"),
        };
        let user = args.user.clone().filter(|u| !u.is_empty()).or(user);

        if !r.errors.is_empty() {
            r.errors.sort_by_key(|e| e.line);
            return (Err(r.errors), warnings);
        }
        let config = DaemonConfig {
            path: path.to_path_buf(),
            daemon: (daemon || args.daemon) && !args.foreground,
            user,
            workdir,
            logdir,
            rundir,
            facilities_config,
            pidfile,
            log: LogSettings {
                filename: log_filename,
                backup_count: log_backup_count,
                when,
                level,
            },
            compressor: CompressorSettings {
                format,
                level: comp_level,
                compress_on_write,
            },
            server: ServerSettings {
                listen,
                listen_ssl,
                pemfile,
                cacert,
                max_message_size,
                max_connections,
                handshake_timeout,
                max_connections_per_peer,
                max_buffered_bytes,
                shutdown_timeout,
                max_open_files,
                syslog,
                acknowledgements,
                max_clock_skew,
            },
            metrics: MetricsSettings {
                listen: metrics_listen,
            },
            lines,
            cluster,
        };
        (Ok(config), warnings)
    }
}

/// Makes a command-line path absolute against the current directory.
fn cli_path(p: &Path) -> Result<PathBuf, ConfigError> {
    std::path::absolute(p).map_err(|e| {
        ConfigError::new(
            "command line",
            0,
            format!("cannot make '{}' absolute: {e}", p.display()),
        )
    })
}

fn warn_unknown(ini: &Ini, path: &Path, warnings: &mut Vec<ConfigWarning>) {
    // A [DEFAULT] key lands in every section; it is a typo only if no
    // section knows it.
    if let Some(defaults) = &ini.defaults {
        for entry in &defaults.entries {
            if !KNOWN
                .iter()
                .any(|(_, keys)| keys.contains(&entry.key.as_str()))
            {
                warnings.push(ConfigWarning::new(
                    path,
                    entry.line,
                    format!("unknown key '{}' in [DEFAULT] is ignored", entry.key),
                ));
            }
        }
    }
    for section in &ini.sections {
        match KNOWN.iter().find(|(name, _)| *name == section.name) {
            None => warnings.push(ConfigWarning::new(
                path,
                section.line,
                format!("unknown section [{}] is ignored", section.name),
            )),
            Some((_, keys)) => {
                for entry in section
                    .entries
                    .iter()
                    .filter(|e| !e.inherited && !keys.contains(&e.key.as_str()))
                {
                    warnings.push(ConfigWarning::new(
                        path,
                        entry.line,
                        format!(
                            "unknown key '{}' in [{}] is ignored",
                            entry.key, section.name
                        ),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "/etc/loghogd/loghogd.conf";

    fn load(text: &str) -> Result<(DaemonConfig, Vec<ConfigWarning>), Vec<ConfigError>> {
        DaemonConfig::parse(Path::new(CONF), text, &Args::with_config(CONF))
    }

    fn ok(text: &str) -> DaemonConfig {
        let (config, warnings) = load(text).unwrap_or_else(|e| panic!("{e:#?}"));
        assert!(warnings.is_empty(), "{warnings:#?}");
        config
    }

    fn errors(text: &str) -> Vec<String> {
        match load(text) {
            Ok(c) => panic!("expected errors, got {c:#?}"),
            Err(e) => e.iter().map(ToString::to_string).collect(),
        }
    }

    const MIN: &str = "[main]\nfacilities_config = facilities.conf\n";

    fn v4(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn defaults() {
        let c = ok(MIN);
        assert_eq!(c.path, PathBuf::from(CONF));
        assert!(!c.daemon);
        assert_eq!(c.user, None);
        assert_eq!(c.workdir, PathBuf::from("/var/lib/loghogd"));
        assert_eq!(c.logdir, PathBuf::from("/var/log/loghogd"));
        assert_eq!(c.rundir, PathBuf::from("/var/run/loghogd"));
        assert_eq!(
            c.facilities_config,
            PathBuf::from("/etc/loghogd/facilities.conf")
        );
        assert_eq!(c.pidfile, PathBuf::from("/var/run/loghogd/loghogd.pid"));
        assert_eq!(
            c.log.filename,
            PathBuf::from("/var/log/loghogd/loghogd.log")
        );
        assert_eq!(c.log.backup_count, 14);
        assert_eq!(c.log.when, "MIDNIGHT");
        assert_eq!(c.log.level, LevelFilter::INFO);
        assert_eq!(c.compressor.format, CompressFormat::Xz);
        assert_eq!(c.compressor.level, 6);
        assert!(!c.compressor.compress_on_write);
        assert_eq!(
            c.server.listen,
            vec![v4("127.0.0.1:5566"), v4("[::1]:5566")]
        );
        assert!(c.server.listen_ssl.is_empty());
        assert_eq!(c.server.pemfile, None);
        assert_eq!(c.server.cacert, None);
        assert_eq!(c.server.max_message_size, 1_048_576);
        assert_eq!(c.server.max_connections, 10_000);
        assert_eq!(c.server.max_open_files, 256);
        assert_eq!(c.server.handshake_timeout, Duration::from_secs(10));
        assert_eq!(c.server.max_connections_per_peer, 1_000);
        assert_eq!(c.server.max_buffered_bytes, 256 << 20);
        assert_eq!(c.server.shutdown_timeout, Duration::from_secs(3));
    }

    #[test]
    fn every_key_read() {
        let c = ok(
            "[main]\ndaemon = Yes\nuser = loghog\nworkdir = /w\nlogdir: /l\nrundir = /r\n\
             facilities_config = /f/fac.conf\npidfile = /p/x.pid\n\
             [log]\nfilename = /l/own.log\nbackup_count = 0\nwhen = w6\nlevel = warning\n\
             [compressor]\nformat = GZIP\nlevel = 9\ncompress_on_write = on\n\
             [server]\nlisten_ipv4 = 10.0.0.5:16655, 127.0.0.1\nlisten_ipv6 = [::0]:5588,[::1]\n\
             default_port = 7000\nlisten_ipv4_ssl = 127.0.0.1\nlisten_ipv6_ssl =\ndefault_port_ssl = 7001\n\
             pemfile = server.pem\ncacert = /ca/ca.cert\nmax_message_size = 8192\n\
             max_connections = 5\nhandshake_timeout = 2.5\nmax_connections_per_peer = 3\n\
             max_buffered_bytes = 65536\nshutdown_timeout = 0.5\n",
        );
        assert!(c.daemon);
        assert_eq!(c.user.as_deref(), Some("loghog"));
        assert_eq!(c.workdir, PathBuf::from("/w"));
        assert_eq!(c.logdir, PathBuf::from("/l"));
        assert_eq!(c.rundir, PathBuf::from("/r"));
        assert_eq!(c.facilities_config, PathBuf::from("/f/fac.conf"));
        assert_eq!(c.pidfile, PathBuf::from("/p/x.pid"));
        assert_eq!(c.log.filename, PathBuf::from("/l/own.log"));
        assert_eq!(c.log.backup_count, 0);
        assert_eq!(c.log.when, "W6");
        assert_eq!(c.log.level, LevelFilter::WARN);
        assert_eq!(c.compressor.format, CompressFormat::Gzip);
        assert_eq!(c.compressor.format.extension(), "gz");
        assert_eq!(c.compressor.level, 9);
        assert!(c.compressor.compress_on_write);
        assert_eq!(
            c.server.listen,
            vec![
                v4("10.0.0.5:16655"),
                v4("127.0.0.1:7000"),
                v4("[::]:5588"),
                v4("[::1]:7000")
            ]
        );
        assert_eq!(c.server.listen_ssl, vec![v4("127.0.0.1:7001")]);
        assert_eq!(
            c.server.pemfile,
            Some(PathBuf::from("/etc/loghogd/server.pem"))
        );
        assert_eq!(c.server.cacert, Some(PathBuf::from("/ca/ca.cert")));
        assert_eq!(c.server.max_message_size, 8192);
        assert_eq!(c.server.max_connections, 5);
        assert_eq!(c.server.handshake_timeout, Duration::from_millis(2500));
        assert_eq!(c.server.max_connections_per_peer, 3);
        assert_eq!(c.server.max_buffered_bytes, 65536);
        assert_eq!(c.server.shutdown_timeout, Duration::from_millis(500));
    }

    #[test]
    fn connection_limits_are_checked() {
        let e = errors(&format!(
            "{MIN}[server]\nmax_connections_per_peer = 0\nmax_buffered_bytes = 1000\n\
             shutdown_timeout = soon\n"
        ));
        assert_eq!(e.len(), 3, "{e:#?}");
        assert!(e[0].contains(":4: ") && e[0].contains("'0'"), "{}", e[0]);
        assert!(
            e[1].contains(":5: ") && e[1].contains("less than max_message_size"),
            "{}",
            e[1]
        );
        assert!(e[2].contains(":6: ") && e[2].contains("'soon'"), "{}", e[2]);
    }

    #[test]
    fn relative_paths_are_from_the_config_directory() {
        let c = ok(
            "[main]\nfacilities_config = fac/facilities.conf\nworkdir = state\nlogdir = ../logs\n\
                    rundir = run\npidfile = d.pid\n[log]\nfilename = own.log\n",
        );
        assert_eq!(
            c.facilities_config,
            PathBuf::from("/etc/loghogd/fac/facilities.conf")
        );
        assert_eq!(c.workdir, PathBuf::from("/etc/loghogd/state"));
        assert_eq!(c.logdir, PathBuf::from("/etc/loghogd/../logs"));
        assert_eq!(c.rundir, PathBuf::from("/etc/loghogd/run"));
        // A relative pidfile lives in rundir.
        assert_eq!(c.pidfile, PathBuf::from("/etc/loghogd/run/d.pid"));
        assert_eq!(c.log.filename, PathBuf::from("/etc/loghogd/own.log"));
    }

    #[test]
    fn internal_log_follows_logdir_by_default() {
        let c = ok("[main]\nfacilities_config = f.conf\nlogdir = /srv/logs\n");
        assert_eq!(c.log.filename, PathBuf::from("/srv/logs/loghogd.log"));
    }

    #[test]
    fn command_line_overrides_relative_to_the_current_directory() {
        let cwd = std::env::current_dir().expect("cwd");
        let args = Args {
            config: CONF.into(),
            facilities_config: Some("my/fac.conf".into()),
            daemon: true,
            log: Some("own.log".into()),
            log_dir: Some("/abs/logs".into()),
            pid: Some("x.pid".into()),
            run_dir: Some("run".into()),
            work_dir: Some("work".into()),
            user: Some("nobody".into()),
            ..Args::default()
        };
        let text = "[main]\ndaemon = no\nuser = loghog\nfacilities_config = f.conf\nworkdir = /w\n\
                    logdir = /l\nrundir = /r\npidfile = /p.pid\n[log]\nfilename = /own.log\n";
        let (c, _) = DaemonConfig::parse(Path::new(CONF), text, &args).expect("valid");
        assert!(c.daemon);
        assert_eq!(c.user.as_deref(), Some("nobody"));
        // -F alone is taken from loghogd.conf's directory, as the original did.
        assert_eq!(
            c.facilities_config,
            PathBuf::from("/etc/loghogd/my/fac.conf")
        );
        assert_eq!(c.log.filename, cwd.join("own.log"));
        assert_eq!(c.logdir, PathBuf::from("/abs/logs"));
        assert_eq!(c.pidfile, cwd.join("x.pid"));
        assert_eq!(c.rundir, cwd.join("run"));
        assert_eq!(c.workdir, cwd.join("work"));

        // --run-dir moves a relative pidfile from the file with it.
        let args = Args {
            run_dir: Some("/tmp/rd".into()),
            ..Args::with_config(CONF)
        };
        let (c, _) = DaemonConfig::parse(Path::new(CONF), MIN, &args).expect("valid");
        assert_eq!(c.pidfile, PathBuf::from("/tmp/rd/loghogd.pid"));

        // -F supplies a missing facilities_config.
        let args = Args {
            facilities_config: Some("/x/f.conf".into()),
            ..Args::with_config(CONF)
        };
        let (c, _) = DaemonConfig::parse(Path::new(CONF), "", &args).expect("valid");
        assert_eq!(c.facilities_config, PathBuf::from("/x/f.conf"));
    }

    #[test]
    fn default_section_applies_to_the_sections_present() {
        let c = ok(
            "[DEFAULT]\nlevel = 9\nlogdir = /from/default\nformat = gzip\n\
                    [main]\nfacilities_config = f.conf\n[compressor]\nlevel = 1\n",
        );
        assert_eq!(c.logdir, PathBuf::from("/from/default"));
        assert_eq!(c.compressor.level, 1, "a section's own value wins");
        assert_eq!(c.compressor.format, CompressFormat::Gzip);
        // [log] is absent, so the default level does not reach it (as in
        // Python, where a missing section has no options).
        assert_eq!(c.log.level, LevelFilter::INFO);
        // A bad default is blamed on its [DEFAULT] line, naming the section
        // that read it.
        let e = errors("[DEFAULT]\nlevel = 7\n[main]\nfacilities_config = f.conf\n[log]\n");
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(
            e[0].contains(":2: ") && e[0].contains("[log] level (from [DEFAULT])"),
            "{}",
            e[0]
        );
        // Only a key no section knows is warned about, once.
        let (_, w) = load(
            "[DEFAULT]\nlevel = 5\nbogus = 1\n[main]\nfacilities_config = f.conf\n[compressor]\n",
        )
        .expect("valid");
        assert_eq!(w.len(), 1, "{w:#?}");
        assert!(w[0].to_string().contains(":3: ") && w[0].message.contains("'bogus'"));
    }

    #[test]
    fn missing_facilities_config_is_an_error() {
        let e = errors("[main]\ndaemon = no\n");
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("/etc/loghogd/loghogd.conf:1: "),
            "{}",
            e[0]
        );
        assert!(e[0].contains("facilities_config"), "{}", e[0]);
        let e = errors("");
        assert!(e[0].starts_with("/etc/loghogd/loghogd.conf: "), "{}", e[0]);
    }

    #[test]
    fn all_errors_are_collected_with_line_and_value() {
        let text = "[main]\nfacilities_config = f.conf\ndaemon = maybe\nstray line\n\
                    [log]\nbackup_count = -1\nwhen = W7\nlevel = LOUD\n\
                    [compressor]\nformat = zip\nlevel = 10\ncompress_on_write = 2\n\
                    [server]\ndefault_port = 70000\nlisten_ipv4 = 1.2.3.4:x, ::1, 300.1.1.1\n\
                    listen_ipv6 = 127.0.0.1, [::1]:99999, [fe80::1\nmax_message_size = 0\n\
                    max_connections = lots\nhandshake_timeout = -3\n";
        let e = errors(text);
        let expect = [
            (3, "'maybe'"),
            (4, "'stray line'"),
            (6, "'-1'"),
            (7, "'W7'"),
            (8, "'LOUD'"),
            (10, "'zip'"),
            (11, "'10'"),
            (12, "'2'"),
            (14, "'70000'"),
            (15, "'1.2.3.4:x'"),
            (15, "'::1'"),
            (15, "'300.1.1.1'"),
            (16, "'127.0.0.1'"),
            (16, "'[::1]:99999'"),
            (16, "'[fe80::1'"),
            (17, "'0'"),
            (18, "'lots'"),
            (19, "'-3'"),
        ];
        for (line, value) in expect {
            let prefix = format!("/etc/loghogd/loghogd.conf:{line}: ");
            assert!(
                e.iter()
                    .any(|m| m.starts_with(&prefix) && m.contains(value)),
                "no error at line {line} quoting {value} in {e:#?}"
            );
        }
        assert_eq!(e.len(), expect.len(), "{e:#?}");
    }

    #[test]
    fn unknown_sections_and_keys_are_warnings() {
        let (c, w) =
            load("[main]\nfacilities_config = f.conf\nlogdirr = /x\n[extra]\na = 1\n[Server]\n")
                .expect("warnings only");
        assert_eq!(c.logdir, PathBuf::from("/var/log/loghogd"));
        let w: Vec<String> = w.iter().map(ToString::to_string).collect();
        assert_eq!(w.len(), 3, "{w:#?}");
        assert!(
            w[0].starts_with("/etc/loghogd/loghogd.conf:3: ")
                && w[0].contains("'logdirr'")
                && w[0].contains("[main]")
        );
        assert!(w[1].contains(":4: ") && w[1].contains("[extra]"));
        assert!(w[2].contains(":6: ") && w[2].contains("[Server]"));
    }

    #[test]
    fn ssl_addresses_need_pemfile_and_cacert() {
        let e = errors("[main]\nfacilities_config = f.conf\n[server]\nlisten_ipv6_ssl = [::1]\n");
        assert_eq!(e.len(), 2, "{e:#?}");
        assert!(e[0].contains(":4: ") && e[0].contains("pemfile"));
        assert!(e[1].contains(":4: ") && e[1].contains("cacert"));
        // Without ssl addresses they are not needed.
        ok("[main]\nfacilities_config = f.conf\n[server]\nlisten_ipv4_ssl =\n");
    }

    #[test]
    fn addresses() {
        let c = ok(
            "[main]\nfacilities_config = f.conf\n[server]\nlisten_ipv4 = 127.0.0.1:0, , 127.0.0.1:0\n\
                    listen_ipv6 =\nlisten_ipv4_ssl = 127.0.0.2\nlisten_ipv6_ssl = ::1, [::2]:1\n\
                    pemfile = p.pem\ncacert = ca.cert\n",
        );
        // Port 0 is accepted, duplicates dropped, empty items ignored.
        assert_eq!(c.server.listen, vec![v4("127.0.0.1:0")]);
        assert_eq!(
            c.server.listen_ssl,
            vec![v4("127.0.0.2:5577"), v4("[::1]:5577"), v4("[::2]:1")]
        );
        // Both lists empty: listen nowhere.
        let c =
            ok("[main]\nfacilities_config = f.conf\n[server]\nlisten_ipv4 =\nlisten_ipv6 = \"\"\n");
        assert!(c.server.listen.is_empty());
    }

    #[test]
    fn host_names_resolve_by_family() {
        let c = ok(
            "[main]\nfacilities_config = f.conf\n[server]\nlisten_ipv4 = localhost:15566\nlisten_ipv6 =\n",
        );
        assert!(!c.server.listen.is_empty());
        assert!(
            c.server
                .listen
                .iter()
                .all(|a| a.is_ipv4() && a.port() == 15566),
            "{:?}",
            c.server.listen
        );
        let e = errors(
            "[main]\nfacilities_config = f.conf\n[server]\nlisten_ipv4 = no-such-host.invalid\n",
        );
        assert!(
            e[0].contains(":4: ") && e[0].contains("'no-such-host.invalid'"),
            "{e:#?}"
        );
    }

    #[test]
    fn level_and_when_spellings() {
        for (v, want) in [
            ("debug", LevelFilter::DEBUG),
            ("INFO", LevelFilter::INFO),
            ("Warn", LevelFilter::WARN),
            ("ERROR", LevelFilter::ERROR),
            ("critical", LevelFilter::ERROR),
        ] {
            assert_eq!(parse_level(v), Ok(want), "{v}");
        }
        for (v, want) in [
            ("s", "S"),
            ("M", "M"),
            ("h", "H"),
            ("D", "D"),
            ("Midnight", "MIDNIGHT"),
            ("w0", "W0"),
        ] {
            assert_eq!(parse_when(v).as_deref(), Ok(want), "{v}");
        }
        for bad in ["W", "W7", "X", "daily", ""] {
            assert!(parse_when(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn compress_formats() {
        assert_eq!(
            CompressFormat::parse("xz").map(|f| f.extension()),
            Some("xz")
        );
        assert_eq!(
            CompressFormat::parse("bzip2").map(|f| f.extension()),
            Some("bz2")
        );
        assert_eq!(
            CompressFormat::parse("gzip").map(|f| f.extension()),
            Some("gz")
        );
        assert_eq!(CompressFormat::parse("zstd"), None);
    }

    #[test]
    fn load_reads_the_file_and_reports_a_missing_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("loghogd.conf");
        std::fs::write(
            &conf,
            "[main]\nfacilities_config = facilities.conf\nrundir = run\n",
        )
        .expect("write");
        let (c, _) = DaemonConfig::load(&Args::with_config(&conf)).expect("valid");
        assert_eq!(c.path, conf);
        assert_eq!(c.facilities_config, dir.path().join("facilities.conf"));
        assert_eq!(c.pidfile, dir.path().join("run").join("loghogd.pid"));

        let missing = dir.path().join("nope.conf");
        let e = DaemonConfig::load(&Args::with_config(&missing)).expect_err("missing file");
        assert!(
            e.iter()
                .any(|e| e.line == 0 && e.path == missing && e.message.contains("cannot read")),
            "{e:#?}"
        );
    }
}
