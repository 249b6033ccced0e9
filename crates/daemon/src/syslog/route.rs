//! From a parsed syslog message to a line in a facility's file: the app is
//! the APP-NAME or TAG, the module the MSGID (else root), resolved like a
//! v1 message; the body is `{SEVERITY} - {message}` with the PROCID and
//! structured data kept in the message.
//!
//! Each listener task owns one [`SyslogRoute`], whose body buffer is reused
//! from record to record, so routing a message allocates nothing once warm.
use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use super::parse::{Record, parse};
use crate::router::{Batch, Router};

/// Who sent a message, for the bad-input log and as the fallback hostname.
#[derive(Debug, Clone, Copy)]
pub enum Peer<'a> {
    /// A UDP or TCP peer.
    Net(SocketAddr),
    /// A process on the local socket at this path.
    Local(&'a Path),
}

impl fmt::Display for Peer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Net(a) => write!(f, "{a}"),
            Peer::Local(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// Routes syslog messages for one listener task.
pub struct SyslogRoute {
    router: Arc<Router>,
    default_app: Option<Arc<str>>,
    /// The machine's name: the hostname of local-socket messages without one.
    local_host: Arc<str>,
    body: String,
    /// The last network peer's address as text, reused while it repeats.
    peer_ip: Option<(IpAddr, String)>,
}

impl Clone for SyslogRoute {
    fn clone(&self) -> Self {
        SyslogRoute::new(
            self.router.clone(),
            self.default_app.clone(),
            self.local_host.clone(),
        )
    }
}

impl SyslogRoute {
    /// A route into `router`; records of unknown apps go to `default_app`.
    pub fn new(
        router: Arc<Router>,
        default_app: Option<Arc<str>>,
        local_host: Arc<str>,
    ) -> SyslogRoute {
        SyslogRoute {
            router,
            default_app,
            local_host,
            body: String::new(),
            peer_ip: None,
        }
    }

    /// The router the lines go to.
    pub fn router(&self) -> &Arc<Router> {
        &self.router
    }

    /// Parses and routes one message into `batch`; a message that cannot
    /// be written is reported (rate-limited) and dropped, nothing else is.
    pub fn message(&mut self, batch: &mut Batch, peer: Peer<'_>, bytes: &[u8]) {
        let rejects = self.router.rejects();
        let record = match parse(bytes) {
            Ok(r) => r,
            Err(e) => {
                rejects.report(peer, e.reason(), &format_args!("{e}; message dropped"));
                return;
            }
        };
        if !record.had_pri {
            rejects.report(
                peer,
                "missing_pri",
                &"message without <PRI>: kept as user.notice (RFC 3164)",
            );
        }
        if record.was_lossy() {
            rejects.report(
                peer,
                "invalid_utf8",
                &"message is not UTF-8: kept with replacement characters",
            );
        }
        let app = record.app.unwrap_or("");
        let module = record.msgid.unwrap_or("root");
        let facilities = batch.facilities();
        let (facility, fallback) = match facilities.resolve(app, module) {
            Some(f) => (f.clone(), false),
            None => match self
                .default_app
                .as_deref()
                .and_then(|d| facilities.resolve(d, module))
            {
                Some(f) => (f.clone(), true),
                None => {
                    let why = if app.is_empty() {
                        "message without an app name (TAG or APP-NAME)".to_owned()
                    } else {
                        format!("unknown app {:?}", shown(app))
                    };
                    let default = if self.default_app.is_some() {
                        " and syslog_default_app is not in facilities.conf"
                    } else {
                        " (set [server] syslog_default_app to keep such records)"
                    };
                    rejects.report(
                        peer,
                        "unknown_app",
                        &format_args!("{why}{default}; dropped"),
                    );
                    return;
                }
            },
        };
        if facility.secret.is_some() {
            rejects.report(
                peer,
                "unsigned",
                &format_args!(
                    "app {:?} has a secret and syslog records cannot be signed; record dropped",
                    facility.app
                ),
            );
            return;
        }
        self.format_body(&record, fallback);
        let host = match (record.hostname, peer) {
            (Some(h), _) => h,
            (None, Peer::Local(_)) => &self.local_host,
            (None, Peer::Net(addr)) => {
                if self.peer_ip.as_ref().is_none_or(|(ip, _)| *ip != addr.ip()) {
                    self.peer_ip = Some((addr.ip(), addr.ip().to_string()));
                }
                self.peer_ip.as_ref().map_or("", |(_, s)| s)
            }
        };
        batch.push(&facility, host, &self.body);
    }

    /// `{SEVERITY} - [{procid}] {msgid} {sd} {msg}`; records in the default
    /// app keep their app name in front: `{app}[{procid}]: ...`.
    fn format_body(&mut self, r: &Record<'_>, fallback: bool) {
        let b = &mut self.body;
        b.clear();
        b.push_str(r.severity());
        b.push_str(" - ");
        let app = r.app.filter(|_| fallback);
        if let Some(app) = app {
            b.push_str(app);
        }
        if let Some(pid) = r.procid {
            let _ = write!(b, "[{pid}]");
        }
        if app.is_some() {
            b.push(':');
        }
        for part in [r.msgid, r.sd].into_iter().flatten() {
            if !b.ends_with(" - ") {
                b.push(' ');
            }
            b.push_str(part);
        }
        if !b.ends_with(" - ") {
            b.push(' ');
        }
        b.push_str(&r.msg);
    }
}

/// At most the first 64 characters of a name, for a log line.
fn shown(name: &str) -> &str {
    name.char_indices()
        .nth(64)
        .map_or(name, |(i, _)| &name[..i])
}
