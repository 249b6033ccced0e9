//! The daemon's own log: to stderr while in the foreground and to
//! `[log] filename`, with structured fields first and the message last.
//!
//! The file side is a small writer of our own so that SIGHUP can reopen it
//! (tracing-appender cannot) and so it can roll over by `[log] when` and
//! `backup_count` exactly as Python's TimedRotatingFileHandler did (same
//! schedule, same suffixes), so existing log tooling keeps working.
use std::fmt::{self, Write as _};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp, Zoned};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;

use crate::config::LogSettings;
use crate::storage::open_live;

/// The open internal log file, shared with the formatter's writers.
#[derive(Clone)]
pub struct LogHandle {
    inner: Arc<Sink>,
}

struct Sink {
    stderr: bool,
    path: Option<PathBuf>,
    file: Mutex<Open>,
}

/// The open file and when it rolls over next.
struct Open {
    file: Option<File>,
    roll: Option<Rollover>,
}

impl LogHandle {
    /// Closes and reopens the log file (after it was moved away).
    pub fn reopen(&self) -> io::Result<()> {
        if let Some(path) = &self.inner.path {
            let file = open_live(path)?;
            self.inner
                .file
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .file = Some(file);
        }
        Ok(())
    }
}

/// Installs the global subscriber: to stderr if `stderr`, and to the file
/// of `settings` if given.
pub fn init(settings: Option<&LogSettings>, stderr: bool) -> io::Result<LogHandle> {
    let (path, file, roll) = match settings {
        Some(s) => {
            let file = open_live(&s.filename)?;
            let roll = When::parse(&s.when).map(|when| {
                let modified = file
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| Timestamp::try_from(t).ok())
                    .unwrap_or_else(Timestamp::now);
                Rollover::new(when, s.backup_count, modified)
            });
            (Some(s.filename.clone()), Some(file), roll)
        }
        None => (None, None, None),
    };
    let level = settings.map_or(tracing::level_filters::LevelFilter::INFO, |s| s.level);
    let handle = LogHandle {
        inner: Arc::new(Sink {
            stderr,
            path,
            file: Mutex::new(Open { file, roll }),
        }),
    };
    // The NATS client library logs every failed connect and every event
    // itself, unlimited; the cluster code logs the same events rate-limited
    // with a reason. Its own lines are kept for DEBUG and TRACE.
    let library = if level >= tracing::level_filters::LevelFilter::DEBUG {
        level
    } else {
        tracing::level_filters::LevelFilter::OFF
    };
    let targets = tracing_subscriber::filter::Targets::new()
        .with_default(level)
        .with_target("async_nats", library);
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .event_format(LineFormat)
        .with_writer(handle.clone())
        .finish()
        .with(targets);
    // A second init (tests in one process) keeps the first subscriber.
    let _ = tracing::subscriber::set_global_default(subscriber);
    Ok(handle)
}

/// One formatted event, written to every sink when dropped.
pub struct LineWriter<'a> {
    sink: &'a Sink,
    buf: Vec<u8>,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter<'_> {
    fn drop(&mut self) {
        if self.sink.stderr {
            let _ = io::stderr().lock().write_all(&self.buf);
        }
        let mut guard = self.sink.file.lock().unwrap_or_else(|p| p.into_inner());
        let open = &mut *guard;
        if let (Some(path), Some(roll)) = (&self.sink.path, open.roll.as_mut()) {
            let now = Timestamp::now();
            if roll.due(now) {
                // Close before renaming; a failure is reported where it can
                // be seen (stderr) and the old file is kept on.
                let old = open.file.take();
                match roll.roll_over(path, now).and_then(|()| open_live(path)) {
                    Ok(f) => open.file = Some(f),
                    Err(e) => {
                        open.file = old;
                        if self.sink.stderr {
                            let _ = writeln!(
                                io::stderr(),
                                "loghogd: cannot rotate the internal log {}: {e}",
                                path.display()
                            );
                        }
                    }
                }
            }
        }
        if let Some(f) = open.file.as_mut() {
            let _ = f.write_all(&self.buf);
        }
    }
}

impl<'a> MakeWriter<'a> for LogHandle {
    type Writer = LineWriter<'a>;
    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            sink: &self.inner,
            buf: Vec::with_capacity(256),
        }
    }
}

/// `2026-11-24 05:11:30.123 WARN peer=127.0.0.1:5 reason=bad_signature: message`
struct LineFormat;

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let now = jiff::Zoned::now();
        let mut v = Fields::default();
        event.record(&mut v);
        writeln!(
            writer,
            "{} {} {}{}",
            now.strftime("%Y-%m-%d %H:%M:%S%.3f"),
            event.metadata().level(),
            v.fields,
            v.message
        )
    }
}

#[derive(Default)]
struct Fields {
    fields: String,
    message: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else if value.is_empty() || value.contains([' ', '"', '=']) {
            let _ = write!(self.fields, "{}={:?} ", field.name(), value);
        } else {
            let _ = write!(self.fields, "{}={} ", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, "{}={:?} ", field.name(), value);
        }
    }
}

/// `[log] when`: Python's TimedRotatingFileHandler intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// `S`: every second.
    Seconds,
    /// `M`: every minute.
    Minutes,
    /// `H`: every hour.
    Hours,
    /// `D`: every 24 hours from the file's start.
    Days,
    /// `MIDNIGHT`: at local midnight.
    Midnight,
    /// `W0`-`W6`: at the local midnight that ends that weekday (0 Monday).
    Weekday(i8),
}

impl When {
    /// Parses the (already validated, upper-case) `when` value.
    pub fn parse(when: &str) -> Option<When> {
        Some(match when.to_ascii_uppercase().as_str() {
            "S" => When::Seconds,
            "M" => When::Minutes,
            "H" => When::Hours,
            "D" => When::Days,
            "MIDNIGHT" => When::Midnight,
            w => {
                let d: i8 = w.strip_prefix('W')?.parse().ok()?;
                if !(0..=6).contains(&d) {
                    return None;
                }
                When::Weekday(d)
            }
        })
    }

    /// The rotated file's suffix, as Python's `strftime` patterns.
    fn suffix_format(self) -> &'static str {
        match self {
            When::Seconds => "%Y-%m-%d_%H-%M-%S",
            When::Minutes => "%Y-%m-%d_%H-%M",
            When::Hours => "%Y-%m-%d_%H",
            When::Days | When::Midnight | When::Weekday(_) => "%Y-%m-%d",
        }
    }

    /// Python's `computeRollover(t)`: fixed intervals count from `t`;
    /// MIDNIGHT is the next local midnight; `Wd` the local midnight that
    /// ends the next day `d` (today's, if today is `d`).
    fn next_after(self, t: &Zoned) -> Zoned {
        let fixed = |secs: i64| t.saturating_add(SignedDuration::from_secs(secs));
        match self {
            When::Seconds => fixed(1),
            When::Minutes => fixed(60),
            When::Hours => fixed(3600),
            When::Days => fixed(86_400),
            When::Midnight => next_midnight(t, 0),
            When::Weekday(d) => {
                let today = t.weekday().to_monday_zero_offset();
                next_midnight(t, i64::from((d - today).rem_euclid(7)))
            }
        }
    }

    /// The start of the period that ends at `rollover`: the time the
    /// rotated file's suffix shows (Python: `rolloverAt - interval`).
    fn period_start(self, rollover: &Zoned) -> Zoned {
        let back = |secs: i64| rollover.saturating_sub(SignedDuration::from_secs(secs));
        let days_back = |n: i64| {
            rollover
                .date()
                .checked_sub(jiff::Span::new().days(n))
                .ok()
                .and_then(|d| d.to_zoned(rollover.time_zone().clone()).ok())
                .unwrap_or_else(|| rollover.clone())
        };
        match self {
            When::Seconds => back(1),
            When::Minutes => back(60),
            When::Hours => back(3600),
            When::Days => back(86_400),
            When::Midnight => days_back(1),
            When::Weekday(_) => days_back(7),
        }
    }
}

/// Local midnight `extra_days` after the next one.
fn next_midnight(t: &Zoned, extra_days: i64) -> Zoned {
    t.date()
        .checked_add(jiff::Span::new().days(1 + extra_days))
        .ok()
        .and_then(|d| d.to_zoned(t.time_zone().clone()).ok())
        .unwrap_or_else(|| t.saturating_add(SignedDuration::from_hours(24 * (1 + extra_days))))
}

/// When the internal log rolls over next, and how many old ones to keep.
#[derive(Debug, Clone)]
pub struct Rollover {
    when: When,
    backup_count: u32,
    next: Zoned,
}

impl Rollover {
    /// The schedule for a file last modified (or created) at `since`.
    pub fn new(when: When, backup_count: u32, since: Timestamp) -> Rollover {
        let since = since.to_zoned(jiff::tz::TimeZone::system());
        Rollover {
            when,
            backup_count,
            next: when.next_after(&since),
        }
    }

    /// Whether the file must roll over before a line written at `now`.
    pub fn due(&self, now: Timestamp) -> bool {
        now >= self.next.timestamp()
    }

    /// Rename `path` to `{path}.{suffix}` (replacing a file of that name,
    /// as Python did), delete all but the newest `backup_count` such files
    /// (0 keeps all), and schedule the next rollover after `now`. The caller
    /// has closed `path` and opens it again.
    pub fn roll_over(&mut self, path: &Path, now: Timestamp) -> io::Result<()> {
        let label = self
            .when
            .period_start(&self.next)
            .strftime(self.when.suffix_format())
            .to_string();
        let mut target = path.as_os_str().to_owned();
        target.push(".");
        target.push(&label);
        match std::fs::rename(path, &target) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let now = now.to_zoned(self.next.time_zone().clone());
        let mut next = self.when.next_after(&now);
        while next <= now {
            next = self.when.next_after(&next);
        }
        self.next = next;
        if self.backup_count > 0 {
            for old in self.expired(path)? {
                let _ = std::fs::remove_file(old);
            }
        }
        Ok(())
    }

    /// Rotated internal logs beyond `backup_count`, oldest first.
    fn expired(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let (Some(dir), Some(base)) = (path.parent(), path.file_name().and_then(|n| n.to_str()))
        else {
            return Ok(Vec::new());
        };
        let prefix = format!("{base}.");
        let format = self.when.suffix_format();
        let mut found: Vec<String> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| {
                name.strip_prefix(&prefix).is_some_and(|suffix| {
                    let full = if format == "%Y-%m-%d" {
                        format!("{suffix}_00-00-00")
                    } else if format == "%Y-%m-%d_%H" {
                        format!("{suffix}-00-00")
                    } else if format == "%Y-%m-%d_%H-%M" {
                        format!("{suffix}-00")
                    } else {
                        suffix.to_string()
                    };
                    jiff::civil::DateTime::strptime("%Y-%m-%d_%H-%M-%S", &full).is_ok()
                })
            })
            .collect();
        // Fixed-width stamps: name order is time order.
        found.sort();
        let excess = found.len().saturating_sub(self.backup_count as usize);
        Ok(found[..excess].iter().map(|n| dir.join(n)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(s: &str) -> Zoned {
        jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", s)
            .unwrap()
            .to_zoned(jiff::tz::TimeZone::system())
            .unwrap()
    }

    #[test]
    fn when_values() {
        assert_eq!(When::parse("midnight"), Some(When::Midnight));
        assert_eq!(When::parse("W6"), Some(When::Weekday(6)));
        assert_eq!(When::parse("W7"), None);
        assert_eq!(When::parse("X"), None);
    }

    #[test]
    fn schedules_follow_python() {
        // 2026-11-24 is a Tuesday.
        let t = local("2026-11-24 10:15:30");
        let fmt = |z: Zoned| z.strftime("%Y-%m-%d %H:%M:%S").to_string();
        assert_eq!(fmt(When::Seconds.next_after(&t)), "2026-11-24 10:15:31");
        assert_eq!(fmt(When::Hours.next_after(&t)), "2026-11-24 11:15:30");
        assert_eq!(fmt(When::Days.next_after(&t)), "2026-11-25 10:15:30");
        assert_eq!(fmt(When::Midnight.next_after(&t)), "2026-11-25 00:00:00");
        // W1 (Tuesday) today: the midnight ending today. W0: next Monday's end.
        assert_eq!(fmt(When::Weekday(1).next_after(&t)), "2026-11-25 00:00:00");
        assert_eq!(fmt(When::Weekday(0).next_after(&t)), "2026-12-01 00:00:00");
        assert_eq!(fmt(When::Weekday(3).next_after(&t)), "2026-11-27 00:00:00");
    }

    #[test]
    fn roll_over_renames_with_the_period_and_keeps_backup_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loghogd.log");
        let start = local("2026-11-24 10:00:00");
        let mut roll = Rollover::new(When::Minutes, 2, start.timestamp());
        std::fs::write(dir.path().join("loghogd.log.keep-me"), "x").unwrap();
        for minute in 1..=4 {
            let now = local(&format!("2026-11-24 10:{minute:02}:30"));
            std::fs::write(&path, format!("minute {minute}")).unwrap();
            assert!(roll.due(now.timestamp()));
            roll.roll_over(&path, now.timestamp()).unwrap();
            assert!(!roll.due(now.timestamp()));
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "loghogd.log.2026-11-24_10-02",
                "loghogd.log.2026-11-24_10-03",
                "loghogd.log.keep-me"
            ]
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("loghogd.log.2026-11-24_10-03")).unwrap(),
            "minute 4"
        );
    }

    #[test]
    fn midnight_names_the_day_that_ended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.log");
        std::fs::write(&path, "day").unwrap();
        let mut roll = Rollover::new(When::Midnight, 0, local("2026-11-24 23:59:00").timestamp());
        let now = local("2026-11-26 08:00:00");
        assert!(roll.due(now.timestamp()));
        roll.roll_over(&path, now.timestamp()).unwrap();
        assert!(dir.path().join("d.log.2026-11-24").exists());
        assert!(!roll.due(local("2026-11-26 23:59:59").timestamp()));
        assert!(roll.due(local("2026-11-27 00:00:00").timestamp()));
    }
}
