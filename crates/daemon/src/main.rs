//! `loghogd`: parse the command line, load and check the configuration,
//! then start in the order of SPEC §6 (directories, bind, detach, pid file,
//! drop privileges) and hand over to the library. Exit codes: 0, 78 for configuration
//! errors, 70 for runtime failures.
use std::process::ExitCode;

use clap::Parser;
use loghog_daemon::config::{Args, DaemonConfig, Facilities, ini, sample};
use loghog_daemon::ingest::{Listeners, tls};
use loghog_daemon::pidfile::PidFile;
use loghog_daemon::{RunContext, daemonize, lifecycle, logging};
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
    let config = match DaemonConfig::load(&args) {
        Ok((config, w)) => {
            warnings.extend(w);
            Some(config)
        }
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
    let facilities = facilities_path.and_then(|path| match Facilities::load(&path) {
        Ok((f, w)) => {
            warnings.extend(w);
            Some(f)
        }
        Err(errors) => {
            problems.extend(errors);
            None
        }
    });
    for w in &warnings {
        eprintln!("loghogd: warning: {w}");
    }
    for p in &problems {
        eprintln!("loghogd: error: {p}");
    }
    let mut problems_tls = Vec::new();
    let tls = config.as_ref().and_then(|c| {
        if c.server.listen_ssl.is_empty() {
            return None;
        }
        let (Some(pem), Some(ca)) = (&c.server.pemfile, &c.server.cacert) else {
            return None; // DaemonConfig::load already reported it.
        };
        match tls::server_config(pem, ca) {
            Ok(tls) => Some(tls),
            Err(e) => {
                eprintln!("loghogd: error: {e}");
                problems_tls.push(e);
                None
            }
        }
    });
    let (Some(config), Some(facilities), true) = (config, facilities, problems_tls.is_empty())
    else {
        eprintln!(
            "loghogd: {} configuration error(s); not starting",
            problems.len() + problems_tls.len()
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
    match start(config, facilities, tls) {
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
) -> anyhow::Result<()> {
    // SPEC §6 and CRATES.md: directories → bind → fork → pid file → drop
    // privileges → runtime. No thread may exist before the fork.
    let user = lifecycle::resolve_user(config.user.as_deref())?;
    if let (Some(name), None) = (&config.user, &user) {
        eprintln!("loghogd: warning: not started as root; ignoring user {name:?}");
    }
    lifecycle::prepare_directories(&config, user.as_ref())?;
    let log = logging::init(Some(&config.log), !config.daemon)?;
    let listeners = Listeners::bind(&config.server.listen, &config.server.listen_ssl)?;
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
