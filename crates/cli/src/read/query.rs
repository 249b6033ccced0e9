//! What a read command asks for: the facility (`APP`, `APP:MODULE`,
//! `APP:*`, `--host`), the time window, and where the logs are (`--logdir`
//! or `[main] logdir` of loghogd.conf, read with the daemon's own INI
//! reader so both agree on the dialect).
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use jiff::civil::DateTime;

use super::files::{self, Select, Stream};
use super::record::Record;
use super::when;

/// The configuration read for `[main] logdir` when neither -c nor --logdir
/// is given.
const DEFAULT_CONFIG: &str = "/etc/loghogd/loghogd.conf";

/// What to read: the facility and where the logs are.
#[derive(Debug, Args)]
pub(crate) struct Target {
    /// APP (its root facility), APP:MODULE (that facility, e.g.
    /// `my-app:web.requests`) or APP:* (every facility, merged by time).
    #[arg(value_name = "APP[:MODULE]")]
    target: String,
    /// Only this host's records (and, with file_per_host, only its file).
    #[arg(long, value_name = "H")]
    host: Option<String>,
    /// The log directory (instead of `[main] logdir` of the configuration).
    #[arg(long, value_name = "DIR")]
    logdir: Option<PathBuf>,
}

/// The time range of the records wanted.
#[derive(Debug, Args)]
pub(crate) struct Window {
    /// Only records received at or after TIME: `2026-11-30 14:00`, `14:00`
    /// (today), ISO 8601, or an age (`30m`, `1h`, `2d`).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only records received at or before TIME (same forms as --since).
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
}

/// The resolved question: which streams, which records.
pub(crate) struct Query {
    /// The app's directory.
    pub dir: PathBuf,
    /// Which of its streams.
    pub select: Select,
    /// --host.
    pub host: Option<String>,
    /// --since, local time.
    pub since: Option<DateTime>,
    /// --until, local time.
    pub until: Option<DateTime>,
}

impl Query {
    /// Resolves the arguments; errors name what is wrong.
    pub fn new(target: &Target, config: Option<&Path>, window: Option<&Window>) -> Result<Query> {
        let logdir = match &target.logdir {
            Some(d) => d.clone(),
            None => logdir_from_config(config)?,
        };
        let (app, module) = match target.target.split_once(':') {
            Some((app, module)) => (app, module),
            None => (target.target.as_str(), ""),
        };
        let dir = files::app_dir(&logdir, app)?;
        let select = match module {
            "*" => Select::All,
            "" | "root" => facility(&logdir, app, "root", target.host.as_deref()),
            m => facility(&logdir, app, m, target.host.as_deref()),
        };
        let now = when::now();
        let parse = |s: &Option<String>, what: &str| -> Result<Option<DateTime>> {
            s.as_deref()
                .map(|s| when::parse_time(s, &now).with_context(|| format!("--{what}")))
                .transpose()
        };
        let (since, until) = match window {
            Some(w) => (parse(&w.since, "since")?, parse(&w.until, "until")?),
            None => (None, None),
        };
        if let (Some(s), Some(u)) = (since, until)
            && s > u
        {
            bail!("--since {s} is after --until {u}");
        }
        Ok(Query {
            dir,
            select,
            host: target.host.clone(),
            since,
            until,
        })
    }

    /// The wanted streams; an error when there are none at all.
    pub fn streams(&self) -> Result<Vec<Stream>> {
        let streams = files::list_streams(&self.dir, &self.select)?;
        if streams.is_empty() {
            let what = match &self.select {
                Select::All | Select::Base(_) => "no log files".to_owned(),
                Select::Facility { name, .. } => format!("no log files of facility {name:?}"),
            };
            bail!("{what} in {}", self.dir.display());
        }
        Ok(streams)
    }

    /// Whether `r` passes the --host filter.
    pub fn host_ok(&self, r: &Record) -> bool {
        self.host
            .as_deref()
            .is_none_or(|h| r.host() == Some(h.as_bytes()))
    }
}

/// The --host filter as an owned closure (for the followers).
pub(crate) fn host_filter(host: &Option<String>) -> Box<dyn Fn(&Record) -> bool> {
    match host.clone() {
        None => Box::new(|_| true),
        Some(h) => Box::new(move |r| r.host() == Some(h.as_bytes())),
    }
}

/// The select for one facility; with a host, its per-host file name is the
/// daemon's own (sanitised, shortened if too long).
fn facility(logdir: &Path, app: &str, name: &str, host: Option<&str>) -> Select {
    let host_base = host.map(|h| {
        let live = loghog_daemon::storage::line::live_path(logdir, app, name, Some(h), false);
        let file = live.file_name().unwrap_or_default().to_string_lossy();
        file.strip_suffix(".log").unwrap_or(&file).to_owned()
    });
    Select::Facility {
        name: name.to_owned(),
        host_base,
    }
}

/// `[main] logdir` from loghogd.conf (relative to the file's directory, as
/// the daemon reads it). Without -c, a missing default file means the
/// default log directory.
fn logdir_from_config(config: Option<&Path>) -> Result<PathBuf> {
    use loghog_daemon::config::{daemon::DEFAULT_LOGDIR, ini};
    let path = config.unwrap_or(Path::new(DEFAULT_CONFIG));
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if config.is_none() && e.kind() == io::ErrorKind::NotFound => {
            return Ok(PathBuf::from(DEFAULT_LOGDIR));
        }
        Err(e) => bail!(
            "cannot read {}: {e} (give the log directory with --logdir)",
            path.display()
        ),
    };
    let (parsed, _, _) = ini::parse(path, &text);
    let base = path.parent().unwrap_or(Path::new("."));
    Ok(parsed
        .section("main")
        .and_then(|s| s.get("logdir"))
        .map_or_else(|| PathBuf::from(DEFAULT_LOGDIR), |e| base.join(&e.value)))
}
