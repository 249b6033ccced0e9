//! A `tracing_subscriber::Layer` that sends every event through a
//! [`Client`].
//!
//! The module is the event's target with `::` turned into `.`; the body is
//! `LEVEL - message key=value ...`, the event's own fields after its
//! message, so structured fields survive into the log file as text.
use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::Arc;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;

use crate::client::Client;
use crate::module_from_target;

/// A tracing layer over a LogHog [`Client`].
#[derive(Debug, Clone)]
pub struct LoghogLayer {
    client: Arc<Client>,
    level: Level,
}

impl LoghogLayer {
    /// A layer sending events at `TRACE` and above through `client`.
    pub fn new(client: Arc<Client>) -> Self {
        LoghogLayer {
            client,
            level: Level::TRACE,
        }
    }

    /// Only events at `level` or more severe are sent.
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// The client events go through.
    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }
}

thread_local! {
    static BODY: RefCell<(String, String)> = const { RefCell::new((String::new(), String::new())) };
}

/// Collects the message and the other fields separately, so the message
/// comes first whatever order the fields were declared in.
struct BodyVisitor<'a> {
    message: &'a mut String,
    fields: &'a mut String,
}

impl Visit for BodyVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

impl<S: Subscriber> tracing_subscriber::Layer<S> for LoghogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() > self.level || crate::sender::on_sender_thread() {
            return;
        }
        let module = module_from_target(meta.target());
        let format = |message: &mut String, fields: &mut String| {
            message.clear();
            fields.clear();
            let _ = write!(message, "{} - ", meta.level());
            event.record(&mut BodyVisitor {
                message: &mut *message,
                fields: &mut *fields,
            });
            message.push_str(fields);
        };
        BODY.with(|cell| match cell.try_borrow_mut() {
            Ok(mut bufs) => {
                let (message, fields) = &mut *bufs;
                format(message, fields);
                self.client.send(&module, message);
            }
            Err(_) => {
                let (mut message, mut fields) = (String::new(), String::new());
                format(&mut message, &mut fields);
                self.client.send(&module, &message);
            }
        });
    }
}
