//! The daemon's own log: to stderr while in the foreground and to
//! `[log] filename`, with structured fields first and the message last.
//!
//! The file side is a small writer of our own so that SIGHUP can reopen it
//! (tracing-appender cannot) and so it can roll over by `[log] when`.
use std::fmt::{self, Write as _};
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

use crate::config::LogSettings;
use crate::storage::writer::open_live;

/// The open internal log file, shared with the formatter's writers.
#[derive(Clone)]
pub struct LogHandle {
    inner: Arc<Sink>,
}

struct Sink {
    stderr: bool,
    path: Option<PathBuf>,
    file: Mutex<Option<File>>,
}

impl LogHandle {
    /// Closes and reopens the log file (after it was moved away).
    pub fn reopen(&self) -> io::Result<()> {
        if let Some(path) = &self.inner.path {
            let file = open_live(path)?;
            *self.inner.file.lock().unwrap_or_else(|p| p.into_inner()) = Some(file);
        }
        Ok(())
    }
}

/// Installs the global subscriber: to stderr if `stderr`, and to the file
/// of `settings` if given.
pub fn init(settings: Option<&LogSettings>, stderr: bool) -> io::Result<LogHandle> {
    let (path, file) = match settings {
        Some(s) => (Some(s.filename.clone()), Some(open_live(&s.filename)?)),
        None => (None, None),
    };
    let level = settings.map_or(tracing::level_filters::LevelFilter::INFO, |s| s.level);
    let handle = LogHandle {
        inner: Arc::new(Sink {
            stderr,
            path,
            file: Mutex::new(file),
        }),
    };
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .event_format(LineFormat)
        .with_writer(handle.clone())
        .finish();
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
        let mut file = self.sink.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = file.as_mut() {
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
