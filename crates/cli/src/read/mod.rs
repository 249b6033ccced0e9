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
mod parallel;
mod query;
mod record;
mod tail;
mod when;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use files::Stream;
use merge::{Problems, StreamRecords, merge};
use query::{Query, Target, Window};
use record::Record;

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

/// What `grep` selects: records the pattern matches, or with -v those it
/// does not.
#[derive(Debug, Clone)]
struct Pattern {
    re: regex::bytes::Regex,
    invert: bool,
}

impl Pattern {
    /// Whether `r` is selected. The record's last newline is not part of
    /// what is matched, so `boom$` matches a record ending in "boom".
    fn selects(&self, r: &Record) -> bool {
        let text = r.bytes.strip_suffix(b"\n").unwrap_or(&r.bytes);
        self.re.is_match(text) != self.invert
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
    let pattern = Pattern {
        re,
        invert: args.invert_match,
    };
    let q = Query::new(&args.target, args.config.as_deref(), Some(&args.window))?;
    let mut streams = q.streams()?;
    let problems = Problems::default();
    let mut out = Out::new();
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let mut selected = 0u64;
    let result = (|| {
        selected = if streams.len() == 1 && workers > 1 {
            // One stream, its files in order: each archive on a thread.
            let files = streams.pop().expect("one stream").files;
            let limits = parallel::Limits {
                workers,
                buffered: parallel::BUFFERED,
            };
            let search = parallel::Search {
                q: &q,
                pattern: &pattern,
                count_only: args.count,
            };
            search.run(&files, limits, &mut out.w, &problems)?
        } else {
            grep_merged(&q, streams, &pattern, args.count, &mut out.w, &problems)?
        };
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

/// `grep` of streams merged by time, on this thread: writes the selected
/// records (unless `count_only`) and returns how many there were.
fn grep_merged(
    q: &Query,
    streams: Vec<Stream>,
    pattern: &Pattern,
    count_only: bool,
    out: &mut impl Write,
    problems: &Problems,
) -> io::Result<u64> {
    let mut selected = 0;
    for r in records(q, streams, problems) {
        if pattern.selects(&r) {
            selected += 1;
            if !count_only {
                out.write_all(&r.bytes)?;
            }
        }
    }
    Ok(selected)
}

pub(crate) use tail::run as tail;
