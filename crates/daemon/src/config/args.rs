//! The loghogd command line (SPEC §3).
//!
//! Options here override loghogd.conf; relative paths given here are taken
//! from the current directory, as a user typing them would expect, except
//! `-F`, which is taken from loghogd.conf's directory as the original did
//! (existing init scripts pass `-F facilities.conf` and rely on it).

use std::path::PathBuf;

use clap::Parser;

/// Where loghogd looks for its configuration when `-c` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/loghogd/loghogd.conf";

/// Command-line options of loghogd.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(
    name = "loghogd",
    version,
    about = "LogHog log daemon: receives log records and writes, rotates and compresses log files"
)]
pub struct Args {
    /// The daemon configuration file.
    #[arg(short = 'c', long = "config", value_name = "FILE", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,

    /// The facilities file (overrides [main] facilities_config); a relative
    /// path is taken from the directory of the config file.
    #[arg(short = 'F', long = "facilities-config", value_name = "FILE")]
    pub facilities_config: Option<PathBuf>,

    /// Validate both configuration files, print every problem, and exit
    /// (0 if valid, 78 otherwise).
    #[arg(long = "check-config")]
    pub check_config: bool,

    /// Detach and run in the background (overrides [main] daemon).
    #[arg(short = 'd', long = "daemon")]
    pub daemon: bool,

    /// Stay in the foreground even if [main] daemon = yes (for service
    /// managers such as systemd, which supervise the process they start).
    #[arg(short = 'f', long = "foreground", conflicts_with = "daemon")]
    pub foreground: bool,

    /// The internal log file (overrides [log] filename).
    #[arg(short = 'l', long = "log", value_name = "FILE")]
    pub log: Option<PathBuf>,

    /// The directory for application logs (overrides [main] logdir).
    #[arg(short = 'L', long = "log-dir", value_name = "DIR")]
    pub log_dir: Option<PathBuf>,

    /// The pid file (overrides [main] pidfile).
    #[arg(short = 'p', long = "pid", value_name = "FILE")]
    pub pid: Option<PathBuf>,

    /// The run directory (overrides [main] rundir).
    #[arg(long = "run-dir", value_name = "DIR")]
    pub run_dir: Option<PathBuf>,

    /// The work directory for state (overrides [main] workdir).
    #[arg(long = "work-dir", value_name = "DIR")]
    pub work_dir: Option<PathBuf>,

    /// Drop privileges to this user after binding (overrides [main] user).
    #[arg(long = "user", value_name = "USER")]
    pub user: Option<String>,

    /// Print a complete, commented sample loghogd.conf and exit.
    #[arg(long = "gen-config")]
    pub gen_config: bool,
}

impl Default for Args {
    /// The options of a bare `loghogd` invocation.
    fn default() -> Self {
        Args {
            config: PathBuf::from(DEFAULT_CONFIG),
            facilities_config: None,
            check_config: false,
            daemon: false,
            foreground: false,
            log: None,
            log_dir: None,
            pid: None,
            run_dir: None,
            work_dir: None,
            user: None,
            gen_config: false,
        }
    }
}

impl Args {
    /// Options that read `config` and override nothing (handy for tests and
    /// embedding).
    pub fn with_config(config: impl Into<PathBuf>) -> Self {
        Args {
            config: config.into(),
            ..Args::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn defaults_match_a_bare_invocation() {
        let args = Args::try_parse_from(["loghogd"]).expect("parses");
        assert_eq!(args, Args::default());
        assert_eq!(args.config, PathBuf::from("/etc/loghogd/loghogd.conf"));
    }

    #[test]
    fn every_option_short_and_long() {
        let args = Args::try_parse_from([
            "loghogd",
            "-c",
            "a.conf",
            "-F",
            "f.conf",
            "--check-config",
            "-d",
            "-l",
            "x.log",
            "-L",
            "logs",
            "-p",
            "p.pid",
            "--run-dir",
            "run",
            "--work-dir",
            "work",
            "--user",
            "loghog",
            "--gen-config",
        ])
        .expect("parses");
        assert_eq!(
            args,
            Args {
                config: "a.conf".into(),
                facilities_config: Some("f.conf".into()),
                check_config: true,
                daemon: true,
                foreground: false,
                log: Some("x.log".into()),
                log_dir: Some("logs".into()),
                pid: Some("p.pid".into()),
                run_dir: Some("run".into()),
                work_dir: Some("work".into()),
                user: Some("loghog".into()),
                gen_config: true,
            }
        );
        let long = Args::try_parse_from([
            "loghogd",
            "--config",
            "b.conf",
            "--facilities-config",
            "g.conf",
            "--daemon",
            "--log",
            "y.log",
            "--log-dir",
            "d",
            "--pid",
            "q.pid",
        ])
        .expect("parses");
        assert_eq!(long.config, PathBuf::from("b.conf"));
        assert_eq!(long.facilities_config, Some("g.conf".into()));
        assert!(long.daemon);
        assert_eq!(long.log, Some("y.log".into()));
        assert_eq!(long.log_dir, Some("d".into()));
        assert_eq!(long.pid, Some("q.pid".into()));
    }

    #[test]
    fn foreground_and_daemon_exclude_each_other() {
        let args = Args::try_parse_from(["loghogd", "-f"]).expect("parses");
        assert!(args.foreground && !args.daemon);
        assert!(Args::try_parse_from(["loghogd", "--foreground", "-d"]).is_err());
    }

    #[test]
    fn unknown_option_is_refused() {
        assert!(Args::try_parse_from(["loghogd", "--bogus"]).is_err());
    }
}
