//! What would fail only once loghogd starts, checked while the configuration
//! is validated: the configured user exists and the TLS files work. The
//! results carry the `file:line` of the setting, so `--check-config` reports
//! them like any other configuration error.
//!
//! TLS problems are errors for `--check-config`, but at start-up they disable
//! only the ssl listeners: a bad certificate must not silence every app that
//! logs over plain TCP or UDP.

use std::sync::Arc;

use nix::unistd::{User, geteuid};

use crate::config::{ConfigError, DaemonConfig};
use crate::ingest::tls::{self, PemRole};

/// The outcome of the checks.
#[derive(Debug, Default)]
pub struct Preflight {
    /// Problems that stop loghogd from starting.
    pub errors: Vec<ConfigError>,
    /// Problems that would not stop it (reported all the same).
    pub warnings: Vec<ConfigError>,
    /// The ssl listeners' configuration, when there are ssl listeners and
    /// their files work.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Why the ssl listeners cannot be configured, with `file:line`.
    pub tls_error: Option<ConfigError>,
}

/// Runs every check on a loaded configuration.
pub fn check(config: &DaemonConfig) -> Preflight {
    let mut out = Preflight::default();
    if let Some(problem) = check_user(config) {
        if geteuid().is_root() {
            out.errors.push(problem);
        } else {
            // Not root: the user is ignored at start (with a warning), but
            // the same file would fail under the service manager.
            out.warnings.push(ConfigError {
                message: format!("{} (fatal when started as root)", problem.message),
                ..problem
            });
        }
    }
    match check_tls(config) {
        Ok(tls) => out.tls = tls,
        Err(e) => out.tls_error = Some(e),
    }
    out
}

/// The configured user must exist: it is looked up only after the sockets
/// are bound, too late for a configuration error.
fn check_user(config: &DaemonConfig) -> Option<ConfigError> {
    let name = config.user.as_deref()?;
    let line = config.lines.user;
    let setting = if line == 0 { "--user" } else { "[main] user" };
    let message = match User::from_name(name) {
        Ok(Some(_)) => return None,
        Ok(None) => format!(
            "{setting}: no such user '{name}'; create it (the Debian package does: \
             `useradd --system --user-group {name}`) or remove the setting"
        ),
        Err(errno) => format!("{setting}: cannot look up user '{name}': {errno}"),
    };
    Some(ConfigError::new(&config.path, line, message))
}

/// Loads the TLS files when ssl addresses are configured.
fn check_tls(config: &DaemonConfig) -> Result<Option<Arc<rustls::ServerConfig>>, ConfigError> {
    let server = &config.server;
    if server.listen_ssl.is_empty() {
        return Ok(None);
    }
    // DaemonConfig::load already reported missing pemfile or cacert.
    let (Some(pem), Some(ca)) = (&server.pemfile, &server.cacert) else {
        return Ok(None);
    };
    tls::server_config(pem, ca).map(Some).map_err(|e| {
        let (key, line) = match e.role() {
            PemRole::Pemfile => ("pemfile", config.lines.pemfile),
            PemRole::Cacert => ("cacert", config.lines.cacert),
        };
        ConfigError::new(&config.path, line, format!("[server] {key}: {e}"))
    })
}
