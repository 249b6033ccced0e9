//! `loghogd`: parse the command line, load and check the configuration,
//! then start in the order of SPEC §6 (directories, bind, detach, pid file,
//! drop privileges) and hand over to the library. Exit codes: 0, 78 for configuration
//! errors, 70 for runtime failures.
use std::process::ExitCode;

use clap::Parser;
use loghog_daemon::config::{Args, ConfigError, DaemonConfig, Facilities, ini, sample};
use loghog_daemon::ingest::Listeners;
use loghog_daemon::pidfile::{self, PidFile};
use loghog_daemon::{RunContext, daemonize, lifecycle, logging, preflight};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

const EX_CONFIG: u8 = 78;
const EX_SOFTWARE: u8 = 70;

fn main() -> ExitCode {
    let args = Args::parse();
    if args.gen_config {
        print!("{}", sample::sample_config());
        return ExitCode::SUCCESS;
    }
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let (config, w) = DaemonConfig::load_with_warnings(&args);
    warnings.extend(w);
    let config = match config {
        Ok(config) => Some(config),
        Err(errors) => {
            problems.extend(errors);
            None
        }
    };
    // Even when loghogd.conf is broken, facilities.conf is checked too, so
    // that --check-config lists every problem at once.
    let facilities_path = match &config {
        Some(c) => Some(c.facilities_config.clone()),
        None => facilities_path_fallback(&args),
    };
    let facilities = facilities_path.and_then(|path| {
        let (facilities, w) = Facilities::load_with_warnings(&path);
        warnings.extend(w);
        facilities.map_err(|errors| problems.extend(errors)).ok()
    });
    let preflight = config.as_ref().map(preflight::check).unwrap_or_default();
    warnings.extend(preflight.warnings);
    problems.extend(preflight.errors);
    // For --check-config an unusable TLS file is an error like any other; at
    // start-up it disables only the ssl listeners (see preflight).
    let tls_error = preflight.tls_error;
    if args.check_config {
        problems.extend(tls_error.clone());
    }
    for w in &warnings {
        eprintln!("loghogd: warning: {w}");
    }
    for p in &problems {
        eprintln!("loghogd: error: {p}");
    }
    let (Some(mut config), Some(facilities), true) = (config, facilities, problems.is_empty())
    else {
        eprintln!(
            "loghogd: {} configuration error(s); not starting",
            problems.len()
        );
        return ExitCode::from(EX_CONFIG);
    };
    if args.check_config {
        println!(
            "loghogd: configuration OK ({} and {})",
            config.path.display(),
            config.facilities_config.display()
        );
        return ExitCode::SUCCESS;
    }
    if let Some(e) = &tls_error {
        eprintln!("loghogd: error: {e}");
        eprintln!("loghogd: starting without the ssl listeners; the plain listeners serve");
        config.server.listen_ssl.clear();
    }
    let tls = preflight.tls;
    match start(config, facilities, tls, tls_error) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loghogd: {e:#}");
            ExitCode::from(EX_SOFTWARE)
        }
    }
}

/// Where facilities.conf is when loghogd.conf did not validate: the -F
/// option, else `[main] facilities_config` read as it stands; both relative
/// to loghogd.conf's directory, as when it validates.
fn facilities_path_fallback(args: &Args) -> Option<std::path::PathBuf> {
    let base = args.config.parent().unwrap_or(std::path::Path::new("."));
    if let Some(path) = &args.facilities_config {
        return Some(base.join(path));
    }
    let (ini, _, _) = ini::read(&args.config);
    let value = &ini.section("main")?.get("facilities_config")?.value;
    Some(base.join(value))
}

fn start(
    config: DaemonConfig,
    facilities: Facilities,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    tls_error: Option<ConfigError>,
) -> anyhow::Result<()> {
    // Before binding: a second loghogd would otherwise fail on "address in
    // use", which does not say that the first one is still running.
    if let Some(pid) = pidfile::running(&config.pidfile) {
        anyhow::bail!(
            "already running (pid {pid}); its pid file is {}: stop that loghogd \
             first, or give this one another pidfile and other ports",
            config.pidfile.display()
        );
    }
    // SPEC §6 and CRATES.md: directories → bind → fork → pid file → drop
    // privileges → runtime. No thread may exist before the fork.
    let user = lifecycle::resolve_user(config.user.as_deref())?;
    if let (Some(name), None) = (&config.user, &user) {
        eprintln!("loghogd: warning: not started as root; ignoring user {name:?}");
    }
    lifecycle::prepare_directories(&config, user.as_ref())?;
    let log = logging::init(Some(&config.log), !config.daemon)?;
    if let Some(e) = &tls_error {
        tracing::error!(
            reason = "tls_config",
            "ssl listeners not started, plain listeners serve: {e}"
        );
    }
    let mut listeners = Listeners::bind(&config.server.listen, &config.server.listen_ssl)?;
    listeners.metrics = loghog_daemon::metrics::http::bind(&config.metrics.listen)?;
    let readiness = if config.daemon {
        Some(daemonize::detach(i32::from(EX_SOFTWARE))?)
    } else {
        None
    };
    let readiness = Arc::new(Mutex::new(readiness));
    let result = serve(
        config,
        facilities,
        tls,
        listeners,
        log,
        user,
        readiness.clone(),
    );
    if let Err(e) = &result {
        tracing::error!(error = %format!("{e:#}"), "loghogd failed");
        if let Some(r) = readiness.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            r.fail(&format!("{e:#}"));
        }
    }
    result
}

fn serve(
    config: DaemonConfig,
    facilities: Facilities,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    listeners: Listeners,
    log: logging::LogHandle,
    user: Option<lifecycle::RunAs>,
    readiness: Arc<Mutex<Option<daemonize::Readiness>>>,
) -> anyhow::Result<()> {
    let pidfile = PidFile::create(&config.pidfile)?;
    if let Some(user) = &user {
        lifecycle::drop_privileges(user)?;
        tracing::info!(user = %user.name, uid = user.uid.as_raw(), "dropped privileges");
    }
    let on_ready = move || {
        if let Some(r) = readiness.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            r.ready();
        }
        // Type=notify under systemd; a no-op without NOTIFY_SOCKET.
        if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
            tracing::warn!(error = %e, "cannot notify systemd");
        }
    };
    loghog_daemon::run(
        config,
        RunContext {
            facilities,
            listeners,
            shutdown: CancellationToken::new(),
            log: Some(log),
            tls,
            on_ready: Some(Box::new(on_ready)),
        },
    )?;
    drop(pidfile);
    Ok(())
}
