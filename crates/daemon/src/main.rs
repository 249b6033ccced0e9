//! `loghogd`: parse the command line, load and check the configuration,
//! bind, then hand over to the library. Exit codes: 0, 78 for configuration
//! errors, 70 for runtime failures.
use std::process::ExitCode;

use clap::Parser;
use loghog_daemon::config::{Args, DaemonConfig, Facilities, ini, sample};
use loghog_daemon::ingest::{Listeners, tls};
use loghog_daemon::{RunContext, logging};
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
/// option, else `[main] facilities_config` read as it stands.
fn facilities_path_fallback(args: &Args) -> Option<std::path::PathBuf> {
    if let Some(path) = &args.facilities_config {
        return Some(path.clone());
    }
    let (ini, _, _) = ini::read(&args.config);
    let value = &ini.section("main")?.get("facilities_config")?.value;
    let base = args.config.parent().unwrap_or(std::path::Path::new("."));
    Some(base.join(value))
}

fn start(
    config: DaemonConfig,
    facilities: Facilities,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
) -> anyhow::Result<()> {
    let log = logging::init(Some(&config.log), true)?;
    let listeners = Listeners::bind(&config.server.listen, &config.server.listen_ssl)?;
    loghog_daemon::run(
        config,
        RunContext {
            facilities,
            listeners,
            shutdown: CancellationToken::new(),
            log: Some(log),
            tls,
            on_ready: None,
        },
    )?;
    Ok(())
}
