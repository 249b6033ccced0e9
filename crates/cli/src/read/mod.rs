//! `loghog cat`, `tail` and `grep`: reading an app's logs straight from the
//! files, across rotated and compressed archives, with no daemon involved.
//!
//! Every command is the same pipeline: locate the streams (`files`), decode
//! each file (`decode`), split it into records (`record`), merge the
//! streams by time (`merge`). Problems with one file (a corrupt archive, a
//! file removed by retention meanwhile) are reported and the rest is read;
//! the exit status says something went wrong.
mod decode;
mod files;
mod follow;
mod merge;
mod record;
mod when;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use jiff::civil::DateTime;

use files::{Select, Stream};
use follow::LiveTail;
use merge::{Problems, StreamRecords, merge};
use record::Record;

/// The configuration read for `[main] logdir` when neither -c nor --logdir
/// is given.
const DEFAULT_CONFIG: &str = "/etc/loghogd/loghogd.conf";

/// How often `tail -f` looks for new lines and rotations.
const POLL: Duration = Duration::from_millis(200);

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

/// Options of `loghog cat`.
#[derive(Debug, Args)]
pub(crate) struct CatArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    window: Window,
    /// loghogd.conf, read for `[main] logdir` [default: /etc/loghogd/loghogd.conf].
    #[arg(short = 'c', long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Options of `loghog tail`.
#[derive(Debug, Args)]
pub(crate) struct TailArgs {
    #[command(flatten)]
    target: Target,
    /// How many records to print.
    #[arg(short = 'n', long, default_value_t = 10, value_name = "N")]
    lines: usize,
    /// Keep printing records as they are written, across rotations, until
    /// interrupted.
    #[arg(short = 'f', long)]
    follow: bool,
    /// loghogd.conf, read for `[main] logdir` [default: /etc/loghogd/loghogd.conf].
    #[arg(short = 'c', long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Options of `loghog grep`.
#[derive(Debug, Args)]
pub(crate) struct GrepArgs {
    /// A regular expression (Rust `regex` syntax), matched against each
    /// whole record: its time and host line and every continuation line.
    pattern: String,
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    window: Window,
    /// Ignore case.
    #[arg(short = 'i', long)]
    ignore_case: bool,
    /// Select the records that do not match.
    #[arg(short = 'v', long)]
    invert_match: bool,
    /// Print only the number of selected records.
    #[arg(short = 'c', long)]
    count: bool,
    /// loghogd.conf, read for `[main] logdir` [default: /etc/loghogd/loghogd.conf].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// The resolved question: which streams, which records.
struct Query {
    dir: PathBuf,
    select: Select,
    host: Option<String>,
    since: Option<DateTime>,
    until: Option<DateTime>,
}

impl Query {
    fn new(target: &Target, config: Option<&Path>, window: Option<&Window>) -> Result<Query> {
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
    fn streams(&self) -> Result<Vec<Stream>> {
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
    fn host_ok(&self, r: &Record) -> bool {
        self.host
            .as_deref()
            .is_none_or(|h| r.host() == Some(h.as_bytes()))
    }
}

/// The --host filter as an owned closure (for the followers).
fn host_filter(host: &Option<String>) -> Box<dyn Fn(&Record) -> bool> {
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

/// How long before its rotated name's start a record in an archive can
/// have been received (batching, `flush_every`): archives are skipped for
/// --until only beyond this.
const RECEIPT_SLACK: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);

/// Writes records to stdout; a closed pipe (`| head`) ends the command
/// quietly.
struct Out {
    w: io::BufWriter<io::StdoutLock<'static>>,
}

impl Out {
    fn new() -> Out {
        Out {
            w: io::BufWriter::with_capacity(256 * 1024, io::stdout().lock()),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.w.write_all(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

/// The exit for a finished command: a closed pipe is success, other
/// output errors are errors.
fn finish(result: io::Result<()>, problems: &Problems, ok: ExitCode, failed: ExitCode) -> ExitCode {
    match result {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loghog: writing the output: {e}");
            return failed;
        }
    }
    if problems.count() > 0 { failed } else { ok }
}

/// Every selected record of the query's streams, merged by time.
fn records<'a>(
    q: &'a Query,
    streams: Vec<Stream>,
    problems: &'a Problems,
) -> impl Iterator<Item = Record> + 'a {
    let iters: Vec<_> = streams
        .into_iter()
        .map(|s| StreamRecords::new(s, q.since, q.until, RECEIPT_SLACK, problems))
        .collect();
    merge(iters).filter(move |r| q.host_ok(r))
}

/// `loghog cat`.
pub(crate) fn cat(args: &CatArgs) -> Result<ExitCode> {
    let q = Query::new(&args.target, args.config.as_deref(), Some(&args.window))?;
    let streams = q.streams()?;
    let problems = Problems::default();
    let mut out = Out::new();
    let result = (|| {
        if streams.len() == 1 && q.host.is_none() {
            let stream = streams.into_iter().next().expect("one stream");
            cat_one(&q, stream, &mut out, &problems)?;
        } else {
            for r in records(&q, streams, &problems) {
                out.write(&r.bytes)?;
            }
        }
        out.flush()
    })();
    Ok(finish(
        result,
        &problems,
        ExitCode::SUCCESS,
        ExitCode::FAILURE,
    ))
}

/// `cat` of a single stream: a file wholly inside the window is copied as
/// decoded, without splitting it into records (the common `loghog cat APP`
/// is then as cheap as `xzcat`); the others are filtered record by record.
fn cat_one(q: &Query, stream: Stream, out: &mut Out, problems: &Problems) -> io::Result<()> {
    use std::io::BufRead;
    let files = &stream.files;
    for (i, f) in files.iter().enumerate() {
        if !files::may_overlap(files, i, q.since, q.until, RECEIPT_SLACK) {
            continue;
        }
        if !files::wholly_inside(files, i, q.since, q.until, RECEIPT_SLACK) {
            let one = Stream {
                files: vec![f.clone()],
                ..stream.clone()
            };
            for r in StreamRecords::new(one, q.since, q.until, RECEIPT_SLACK, problems) {
                out.write(&r.bytes)?;
            }
            continue;
        }
        let mut r = match merge::open_file(f) {
            Ok(r) => r,
            Err(e) => {
                problems.report(&f.path, &e);
                continue;
            }
        };
        loop {
            match r.fill_buf() {
                Ok([]) => break,
                Ok(buf) => {
                    out.write(buf)?;
                    let n = buf.len();
                    r.consume(n);
                }
                Err(e) => {
                    problems.corrupt(&f.path, &e);
                    break;
                }
            }
        }
    }
    Ok(())
}

/// `loghog grep`: exit 0 when a record was selected, 1 when none was, 2 on
/// an error (as grep(1)).
pub(crate) fn grep(args: &GrepArgs) -> Result<ExitCode> {
    let re = regex::bytes::RegexBuilder::new(&args.pattern)
        .case_insensitive(args.ignore_case)
        .multi_line(true)
        .build()
        .with_context(|| format!("bad pattern {:?}", args.pattern))?;
    let q = Query::new(&args.target, args.config.as_deref(), Some(&args.window))?;
    let streams = q.streams()?;
    let problems = Problems::default();
    let mut out = Out::new();
    let mut selected = 0u64;
    let result = (|| {
        for r in records(&q, streams, &problems) {
            // The record's last newline is not part of what is matched, so
            // `boom$` matches a record ending in "boom".
            let text = r.bytes.strip_suffix(b"\n").unwrap_or(&r.bytes);
            if re.is_match(text) != args.invert_match {
                selected += 1;
                if !args.count {
                    out.write(&r.bytes)?;
                }
            }
        }
        if args.count {
            out.write(format!("{selected}\n").as_bytes())?;
        }
        out.flush()
    })();
    let found = if selected > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    Ok(finish(result, &problems, found, ExitCode::from(2)))
}

/// `loghog tail`.
pub(crate) fn tail(args: &TailArgs) -> Result<ExitCode> {
    let q = Query::new(&args.target, args.config.as_deref(), None)?;
    let streams = if args.follow {
        // A facility with no file yet can still be followed.
        files::list_streams(&q.dir, &q.select)?
    } else {
        q.streams()?
    };
    let problems = Problems::default();
    let mut out = Out::new();
    let mut tails = Vec::new();
    let mut last: Vec<Record> = Vec::new();
    for s in &streams {
        let newest = s.files.iter().rev().find_map(follow::key);
        let mut live = LiveTail::new(
            &q.dir,
            &s.base,
            s.live.clone(),
            s.live_gzip,
            newest,
            host_filter(&q.host),
        );
        live.set_keep(args.lines);
        let mut recs = Vec::new();
        if let Err(e) = live.poll(&mut recs, &problems) {
            problems.report(&s.live, &e);
        }
        live.set_keep(usize::MAX);
        // Older files only as far back as needed for N records.
        for f in s.files.iter().rev().filter(|f| f.start.is_some()) {
            if recs.len() >= args.lines {
                break;
            }
            let keep = args.lines - recs.len();
            let mut older = merge::read_last(f, keep, &|r| q.host_ok(r), &problems);
            older.append(&mut recs);
            recs = older;
        }
        let from = recs.len().saturating_sub(args.lines);
        last.extend(recs.drain(from..));
        tails.push((s.base.clone(), live));
    }
    last.sort_by_key(|r| r.time);
    let from = last.len().saturating_sub(args.lines);
    let result = (|| {
        for r in &last[from..] {
            out.write(&r.bytes)?;
        }
        out.flush()?;
        if !args.follow {
            return Ok(());
        }
        loop {
            std::thread::sleep(POLL);
            // Hosts that send for the first time get files of their own.
            if let Ok(now) = files::list_streams(&q.dir, &q.select) {
                for s in now {
                    if !tails.iter().any(|(b, _)| *b == s.base) {
                        let want = host_filter(&q.host);
                        let t = LiveTail::new(&q.dir, &s.base, s.live, s.live_gzip, None, want);
                        tails.push((s.base, t));
                    }
                }
            }
            let mut fresh = Vec::new();
            for (_, t) in &mut tails {
                if let Err(e) = t.poll(&mut fresh, &problems) {
                    problems.report(t.path(), &e);
                }
            }
            fresh.sort_by_key(|r| r.time);
            for r in &fresh {
                out.write(&r.bytes)?;
            }
            out.flush()?;
        }
    })();
    Ok(finish(
        result,
        &problems,
        ExitCode::SUCCESS,
        ExitCode::FAILURE,
    ))
}
