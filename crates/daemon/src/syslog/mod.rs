//! Syslog in: RFC 3164 and RFC 5424 messages over UDP, TCP (RFC 6587
//! framing) and a local unix datagram socket, routed into the facilities
//! of facilities.conf like v1 messages.
//!
//! Sockets are bound by [`SyslogListeners::bind`] before privileges are
//! dropped (so port 514 and `/dev/log` work with `user = loghog`), and
//! served by [`spawn`] once the runtime runs. Datagrams are dropped and
//! counted when the writers are full; TCP pushes back, as for v1.
pub mod datagram;
pub mod framing;
pub mod local;
pub mod parse;
pub mod route;
pub mod tcp;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::syslog::SyslogSettings;
use crate::ingest::stream::StreamContext;
use crate::ingest::{BindError, Listeners};
use crate::router::Router;
use route::SyslogRoute;

/// A syslog socket that could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum SyslogBindError {
    /// A UDP or TCP address.
    #[error("syslog: {0}")]
    Net(#[from] BindError),
    /// The local socket.
    #[error("cannot bind the syslog socket {path}: {source}")]
    Local {
        /// The socket path.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
}

/// The bound syslog sockets, not yet handed to the runtime.
#[derive(Debug, Default)]
pub struct SyslogListeners {
    /// TCP listeners, one per `listen_syslog` address.
    pub tcp: Vec<std::net::TcpListener>,
    /// UDP sockets, on the TCP listeners' ports.
    pub udp: Vec<std::net::UdpSocket>,
    /// The local socket.
    pub local: Option<local::LocalSocket>,
    /// Records of unknown apps go here (`syslog_default_app`).
    pub default_app: Option<String>,
}

impl SyslogListeners {
    /// Binds what `settings` asks for (nothing if syslog is off).
    pub fn bind(settings: &SyslogSettings) -> Result<SyslogListeners, SyslogBindError> {
        let net = Listeners::bind(&settings.listen, &[])?;
        let local = match &settings.socket {
            Some(path) => Some(local::bind(path, settings.socket_mode).map_err(|source| {
                SyslogBindError::Local {
                    path: path.clone(),
                    source,
                }
            })?),
            None => None,
        };
        Ok(SyslogListeners {
            tcp: net.tcp,
            udp: net.udp,
            local,
            default_app: settings.default_app.clone(),
        })
    }

    /// The addresses bound, as `(proto, address)`.
    pub fn local_addrs(&self) -> Vec<(&'static str, SocketAddr)> {
        let tcp = self.tcp.iter().filter_map(|l| l.local_addr().ok());
        let udp = self.udp.iter().filter_map(|s| s.local_addr().ok());
        tcp.map(|a| ("syslog-tcp", a))
            .chain(udp.map(|a| ("syslog-udp", a)))
            .collect()
    }
}

/// Serves every syslog socket in tasks tracked by `ctx.tracker` (so
/// shutdown waits for them), TCP connections counted with the v1 ones.
pub fn spawn(
    listeners: SyslogListeners,
    router: Arc<Router>,
    ctx: &StreamContext,
) -> std::io::Result<()> {
    for (proto, addr) in listeners.local_addrs() {
        tracing::info!(proto, addr = %addr, "listening");
    }
    let facilities = router.batch();
    if let Some(app) = &listeners.default_app
        && facilities.facilities().resolve(app, "root").is_none()
    {
        tracing::warn!(app = %app, "syslog_default_app is not in facilities.conf; records of unknown apps are dropped until it is");
    }
    let local_host: Arc<str> = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".to_owned())
        .into();
    let route = SyslogRoute::new(router, listeners.default_app.map(Arc::from), local_host);
    for l in listeners.tcp {
        let l = tokio::net::TcpListener::from_std(l)?;
        ctx.tracker
            .spawn(tcp::accept(l, ctx.clone(), route.clone()));
    }
    for s in listeners.udp {
        let s = tokio::net::UdpSocket::from_std(s)?;
        ctx.tracker
            .spawn(datagram::serve_udp(s, route.clone(), ctx.shutdown.clone()));
    }
    if let Some(local) = listeners.local {
        tracing::info!(proto = "syslog-unix", path = %local.file.path().display(), "listening");
        let s = tokio::net::UnixDatagram::from_std(local.socket)?;
        ctx.tracker.spawn(datagram::serve_local(
            s,
            local.file,
            route,
            ctx.shutdown.clone(),
        ));
    }
    Ok(())
}
