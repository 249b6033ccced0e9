//! `loghog tail`: the last N records of a facility, reading back through
//! its archives only as far as needed, and with `-f` the followers
//! (`follow.rs`) polled until interrupted.
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use super::follow::{self, LiveTail};
use super::merge::{self, Problems};
use super::query::{Query, host_filter};
use super::record::Record;
use super::{Out, TailArgs, files, finish};

/// How often `tail -f` looks for new lines and rotations.
const POLL: Duration = Duration::from_millis(200);

/// `loghog tail`.
pub(crate) fn run(args: &TailArgs) -> Result<ExitCode> {
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
    // Merge hosts' or facilities' records by time; one stream keeps its
    // file order (lines from several connections need not be in time order).
    if streams.len() > 1 {
        last.sort_by_key(|r| r.time);
    }
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
            if tails.len() > 1 {
                fresh.sort_by_key(|r| r.time);
            }
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
