//! A `log::Log` that sends every enabled record through a [`Client`].
//!
//! The module is the record's target with `::` turned into `.`; the body is
//! `LEVEL - message` unless a format function is set (the 0.7 examples use
//! Python's `%(levelname)s - %(message)s`). Formatting reuses a per-thread
//! string, so logging allocates nothing per record.
use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use log::{LevelFilter, Log, Metadata, Record, SetLoggerError};

use crate::client::Client;
use crate::module_from_target;

/// Writes a record's body into the string it is given (already empty).
pub type FormatFn = dyn Fn(&Record<'_>, &mut String) + Send + Sync;

/// A `log` backend over a LogHog [`Client`].
pub struct LoghogLogger {
    client: Arc<Client>,
    level: LevelFilter,
    format: Box<FormatFn>,
}

impl std::fmt::Debug for LoghogLogger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoghogLogger")
            .field("client", &self.client)
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

thread_local! {
    static BODY: RefCell<String> = const { RefCell::new(String::new()) };
}

impl LoghogLogger {
    /// A logger sending records at `Trace` and above through `client`.
    pub fn new(client: Arc<Client>) -> Self {
        LoghogLogger {
            client,
            level: LevelFilter::Trace,
            format: Box::new(default_format),
        }
    }

    /// Only records at `level` or more severe are sent.
    pub fn level(mut self, level: LevelFilter) -> Self {
        self.level = level;
        self
    }

    /// Formats bodies with `format` instead of `LEVEL - message`.
    pub fn format(
        mut self,
        format: impl Fn(&Record<'_>, &mut String) + Send + Sync + 'static,
    ) -> Self {
        self.format = Box::new(format);
        self
    }

    /// The client records go through (keep a clone to flush at exit).
    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }

    /// Installs this logger as the process's `log` backend and sets the
    /// global max level to its level.
    pub fn init(self) -> Result<(), SetLoggerError> {
        let level = self.level;
        log::set_boxed_logger(Box::new(self))?;
        log::set_max_level(level);
        Ok(())
    }
}

/// `LEVEL - message`.
pub fn default_format(record: &Record<'_>, out: &mut String) {
    let _ = write!(out, "{} - {}", record.level(), record.args());
}

impl Log for LoghogLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) || crate::sender::on_sender_thread() {
            return;
        }
        let module = module_from_target(record.target());
        BODY.with(|cell| match cell.try_borrow_mut() {
            Ok(mut body) => {
                body.clear();
                (self.format)(record, &mut body);
                self.client.send(&module, &body);
            }
            // A format function that logs: format into a fresh string.
            Err(_) => {
                let mut body = String::new();
                (self.format)(record, &mut body);
                self.client.send(&module, &body);
            }
        });
    }

    fn flush(&self) {
        let _ = self.client.flush(Duration::from_secs(5));
    }
}
