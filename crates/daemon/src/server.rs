//! The running daemon: wires listeners, router and writers together and
//! implements reload (SIGHUP) and shutdown as a protocol.
//!
//! Shutdown: stop accepting; every connection reads what its peer has
//! already sent and hands it over (for at most `shutdown_timeout`, then
//! what is still arriving is cut and counted); the writers write, sync and
//! close; then `run` returns.
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{DaemonConfig, Facilities};
use crate::ingest::Listeners;
use crate::ingest::limits::{Limits, Registry};
use crate::ingest::rejects::Rejects;
use crate::ingest::sessions::{MAX_SESSIONS, Sessions};
use crate::ingest::stream::{self, StreamContext};
use crate::ingest::udp;
use crate::logging::LogHandle;
use crate::metrics::Metrics;
use crate::replay::{MAX_NONCES, ReplayGuard};
use crate::router::Router;
use crate::storage::rotation::SystemClock;
use crate::storage::{Command, Storage, StorageSettings};

/// How long, after `shutdown_timeout` has cut the connections still
/// reading, they may take to hand what they read to the writers before
/// they are abandoned.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(7);
/// How often writers hand pending lines to the OS even below `flush_every`.
const TICK: Duration = Duration::from_secs(1);

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The runtime or a writer thread could not start.
    #[error("cannot start: {0}")]
    Start(#[from] std::io::Error),
    /// TLS listeners were bound but no TLS configuration was given.
    #[error("TLS listeners need a TLS configuration")]
    NoTlsConfig,
}

/// What `run` needs besides the configuration.
pub struct RunContext {
    /// The validated facilities.
    pub facilities: Facilities,
    /// Sockets bound before the runtime started.
    pub listeners: Listeners,
    /// Cancel to stop the daemon (signals do it too).
    pub shutdown: CancellationToken,
    /// The internal log, reopened on SIGHUP.
    pub log: Option<LogHandle>,
    /// The TLS configuration, when there are TLS listeners.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Called once every listener is serving.
    pub on_ready: Option<Box<dyn FnOnce() + Send>>,
}

/// Runs the daemon until `shutdown` is cancelled or SIGTERM/SIGINT arrives.
pub fn run(config: DaemonConfig, cx: RunContext) -> Result<(), RunError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("loghogd-io")
        .build()?;
    runtime.block_on(serve(config, cx))
}

async fn serve(config: DaemonConfig, cx: RunContext) -> Result<(), RunError> {
    let RunContext {
        facilities,
        listeners,
        shutdown,
        log,
        tls,
        on_ready,
    } = cx;
    let shards = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 4));
    let metrics = Metrics::new();
    metrics.add_apps(facilities.apps());
    let storage = Storage::start_with(
        &StorageSettings {
            shards,
            queue_batches: 256,
            workdir: config.workdir.clone(),
            format: config.compressor.format,
            level: config.compressor.level,
            max_open_files: config.server.max_open_files,
        },
        Arc::new(SystemClock),
        metrics.clone(),
    )?;
    // Before any listener serves: compress what a crash left uncompressed
    // and let overdue files rotate.
    let leftovers = storage
        .recover(
            &config.logdir,
            &facilities,
            config.compressor.compress_on_write,
        )
        .await?;
    if leftovers > 0 {
        tracing::info!(files = leftovers, "queued rotated files left uncompressed");
    }
    let rejects = Arc::new(Rejects::with_metrics(metrics.clone()));
    let replay = Arc::new(ReplayGuard::load(
        config.server.max_clock_skew,
        &config.workdir,
        MAX_NONCES,
    ));
    let node = match &config.cluster {
        Some(settings) => Some(crate::cluster::Node::start(settings.clone(), &shutdown).await?),
        None => None,
    };
    let router = Router::new(
        facilities,
        config.logdir.clone(),
        config.compressor.compress_on_write,
        config.server.max_message_size,
        storage.handle(),
        rejects.clone(),
    )
    .with_replay(replay.clone())
    .with_metrics(metrics.clone());
    let router = Arc::new(match &node {
        Some(node) => node.attach(router),
        None => router,
    });
    let listeners = match &node {
        Some(node) if !node.ingests() => {
            tracing::info!("archive role: client listeners are not served");
            // The metrics endpoint still serves.
            Listeners {
                metrics: listeners.metrics,
                ..Listeners::default()
            }
        }
        _ => listeners,
    };
    if let Some(node) = &node {
        let (stats, role) = (node.cluster.stats.clone(), node.cluster.settings.role);
        metrics.on_scrape(move |s| stats.export(role, s));
        node.start_archive(
            crate::cluster::archive::Target {
                router: router.clone(),
                logdir: config.logdir.clone(),
                gzip: config.compressor.compress_on_write,
                workdir: config.workdir.clone(),
            },
            &shutdown,
        );
    }
    let tracker = TaskTracker::new();
    crate::ingest::limits::raise_fd_limit(
        config.server.max_connections,
        config.server.max_open_files,
    );
    let connections = Registry::new(
        Limits {
            max_connections: config.server.max_connections.max(1),
            max_per_peer: config.server.max_connections_per_peer.max(1),
            max_buffered_bytes: config.server.max_buffered_bytes,
            state_per_connection: crate::ingest::limits::CONNECTION_STATE,
            shutdown_timeout: config.server.shutdown_timeout,
        },
        shutdown.clone(),
        rejects,
    );
    let sessions = config
        .server
        .acknowledgements
        .then(|| Sessions::load(&config.workdir, MAX_SESSIONS));
    let ctx = StreamContext {
        router: router.clone(),
        connections: connections.clone(),
        shutdown: shutdown.clone(),
        tracker: tracker.clone(),
        sessions: sessions.clone(),
    };
    for (proto, addr) in listeners.local_addrs() {
        tracing::info!(proto, addr = %addr, "listening");
    }
    metrics.listening("tcp", listeners.tcp.len());
    metrics.listening("udp", listeners.udp.len());
    metrics.listening("tls", listeners.tls.len());
    let queues = storage.handle();
    metrics.on_scrape(move |s| {
        s.writer_queue_depth.set(queues.queue_depth() as i64);
        let lost = queues.stats().records_lost.load(Ordering::Relaxed);
        s.records_lost.inner().store(lost, Ordering::Relaxed);
    });
    for l in listeners.metrics {
        let l = tokio::net::TcpListener::from_std(l)?;
        tokio::spawn(crate::metrics::http::serve(
            l,
            metrics.clone(),
            shutdown.clone(),
        ));
    }
    for l in listeners.tcp {
        let l = tokio::net::TcpListener::from_std(l)?;
        tracker.spawn(stream::accept_plain(l, ctx.clone()));
    }
    for s in listeners.udp {
        let s = UdpSocket::from_std(s)?;
        tracker.spawn(udp::serve_udp(s, router.clone(), shutdown.clone()));
    }
    if !listeners.tls.is_empty() {
        let Some(tls) = tls else {
            return Err(RunError::NoTlsConfig);
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        for l in listeners.tls {
            let l = tokio::net::TcpListener::from_std(l)?;
            tracker.spawn(stream::accept_tls(
                l,
                ctx.clone(),
                acceptor.clone(),
                config.server.handshake_timeout,
            ));
        }
    }
    crate::syslog::spawn(listeners.syslog, router.clone(), &ctx)?;
    let storage_handle = storage.handle();
    let ticker = tokio::spawn({
        let shutdown = shutdown.clone();
        let sessions = sessions.clone();
        let replay = replay.clone();
        async move {
            let mut every = tokio::time::interval(TICK);
            loop {
                tokio::select! {
                    _ = every.tick() => {
                        storage_handle.broadcast(|| Command::Tick);
                        // Kept current so that even a `kill -9` costs few
                        // duplicates on resend and few replays accepted.
                        let (s, r) = (sessions.clone(), replay.clone());
                        let _ = tokio::task::spawn_blocking(move || {
                            if let Some(s) = s {
                                s.save_if_changed();
                            }
                            r.save_if_changed();
                        })
                        .await;
                    }
                    () = shutdown.cancelled() => return,
                }
            }
        }
    });
    // Installed (and loghogd.conf read) before "started" and readiness: a
    // signal sent right after either is handled, never the default action,
    // and a change made after start is seen as one.
    let installed = install_signals(&config.path)?;
    let signals = tokio::spawn(handle_signals(
        installed,
        config.path.clone(),
        config.facilities_config.clone(),
        router.clone(),
        log,
        metrics.clone(),
        shutdown.clone(),
    ));
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "loghogd started");
    if let Some(ready) = on_ready {
        ready();
    }

    shutdown.cancelled().await;
    tracing::info!("stopping: finishing what clients have sent");
    tracker.close();
    let deadline = config.server.shutdown_timeout + SHUTDOWN_GRACE;
    let abandoned = tokio::time::timeout(deadline, tracker.wait())
        .await
        .is_err();
    connections.log_shutdown(abandoned);
    if let Some(node) = &node {
        node.stop(SHUTDOWN_GRACE).await;
    }
    ticker.abort();
    signals.abort();
    let stats = storage.handle();
    storage.shutdown().await;
    // Every connection has ended: the tables are final.
    let _ = tokio::task::spawn_blocking(move || {
        if let Some(s) = sessions {
            s.save_if_changed();
        }
        replay.save_if_changed();
    })
    .await;
    router.rejects().report_held_back();
    // The sum of every loss logged (rate-limited) with its reason since start.
    let lost = stats.stats().records_lost.load(Ordering::Relaxed);
    if lost > 0 {
        tracing::error!(
            records_lost = lost,
            "{lost} records were dropped since start (each drop is logged above by reason)"
        );
    }
    tracing::info!("loghogd stopped");
    Ok(())
}

/// The signals loghogd handles, and loghogd.conf as it was at start.
struct Installed {
    hup: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    started_config: Option<Vec<u8>>,
}

fn install_signals(config_path: &std::path::Path) -> std::io::Result<Installed> {
    use tokio::signal::unix::{SignalKind, signal};
    Ok(Installed {
        hup: signal(SignalKind::hangup())?,
        term: signal(SignalKind::terminate())?,
        int: signal(SignalKind::interrupt())?,
        started_config: std::fs::read(config_path).ok(),
    })
}

async fn handle_signals(
    installed: Installed,
    config_path: PathBuf,
    facilities_path: PathBuf,
    router: Arc<Router>,
    log: Option<LogHandle>,
    metrics: Metrics,
    shutdown: CancellationToken,
) {
    let Installed {
        mut hup,
        mut term,
        mut int,
        started_config,
    } = installed;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                reload(&facilities_path, &router, log.as_ref(), &metrics);
                if std::fs::read(&config_path).ok() != started_config {
                    tracing::warn!(path = %config_path.display(), "loghogd.conf changed; restart loghogd to apply it");
                }
            }
            _ = term.recv() => { tracing::info!(signal = "SIGTERM", "shutdown requested"); shutdown.cancel(); return; }
            _ = int.recv() => { tracing::info!(signal = "SIGINT", "shutdown requested"); shutdown.cancel(); return; }
        }
    }
}

/// SIGHUP: re-read facilities.conf (keeping the running one if the new one
/// is invalid) and reopen every file.
fn reload(
    facilities_path: &std::path::Path,
    router: &Router,
    log: Option<&LogHandle>,
    metrics: &Metrics,
) {
    if let Some(Err(e)) = log.map(LogHandle::reopen) {
        tracing::error!(error = %e, "cannot reopen the internal log");
    }
    match Facilities::load(facilities_path) {
        Ok((facilities, warnings)) => {
            for w in warnings {
                tracing::warn!("{w}");
            }
            metrics.add_apps(facilities.apps());
            metrics.reloaded(true);
            router.reload(facilities);
            tracing::info!(path = %facilities_path.display(), "facilities reloaded");
        }
        Err(errors) => {
            for e in &errors {
                tracing::error!("{e}");
            }
            metrics.reloaded(false);
            tracing::error!(
                errors = errors.len(),
                "facilities.conf is invalid; keeping the running configuration"
            );
        }
    }
    let facilities = router.facilities();
    router
        .storage()
        .broadcast(|| Command::Reopen(Some(facilities.clone())));
}
