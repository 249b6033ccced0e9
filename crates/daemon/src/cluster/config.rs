//! `[cluster]` in loghogd.conf: which role this node plays in a NATS
//! JetStream cluster and how it reaches NATS.
//!
//! The section is absent by default, and then nothing of the cluster code
//! runs. Parsed straight from the INI entries so that every problem carries
//! the file, the line and the value, and all of them are reported together.
use std::path::{Path, PathBuf};

use super::creds::Credentials;
use crate::config::ConfigError;
use crate::config::ini::{Entry, Ini};

/// Default `[cluster] stream`.
pub const DEFAULT_STREAM: &str = "LOGHOG";
/// Default `[cluster] replicas`.
pub const DEFAULT_REPLICAS: usize = 3;

/// The keys `[cluster]` may hold (unknown ones are warned about).
pub const KEYS: &[&str] = &[
    "nats",
    "role",
    "stream",
    "replicas",
    "nats_creds",
    "nats_ca",
    "name",
    "apps",
];

/// What a node does in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Accepts clients and publishes their records to the stream.
    Ingest,
    /// Consumes the stream and writes the files.
    Archive,
    /// Both in one process (records still go through the stream).
    Both,
}

impl Role {
    /// Whether this node accepts clients and publishes.
    pub fn ingests(self) -> bool {
        matches!(self, Role::Ingest | Role::Both)
    }

    /// Whether this node consumes the stream and writes files.
    pub fn archives(self) -> bool {
        matches!(self, Role::Archive | Role::Both)
    }

    /// The name used in the config and in log lines.
    pub fn name(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Archive => "archive",
            Role::Both => "both",
        }
    }
}

/// The validated `[cluster]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSettings {
    /// NATS server URLs (`nats://host:4222`, `tls://host:4222`); the client
    /// picks one and fails over to the others.
    pub nats: Vec<String>,
    /// This node's role.
    pub role: Role,
    /// The JetStream stream (created when missing); subjects are
    /// `{stream}.{app}`.
    pub stream: String,
    /// Replicas of a stream this node creates (1-5).
    pub replicas: usize,
    /// A NATS credentials file (JWT + NKey seed), read with the
    /// configuration (before privileges are dropped).
    pub nats_creds: Option<Credentials>,
    /// A CA file to verify the NATS servers' certificates, absolute.
    pub nats_ca: Option<PathBuf>,
    /// This node's name: the NATS connection name and part of every
    /// message id, so it must differ between ingest nodes.
    pub name: String,
    /// Archive nodes: the apps this node writes (empty: all apps).
    pub apps: Vec<String>,
}

/// Reads `[cluster]` from `ini` (the file at `path`; relative paths are
/// taken from `base`). `Ok(None)` when the section is absent.
pub fn read(
    ini: &Ini,
    path: &Path,
    base: &Path,
) -> Result<Option<ClusterSettings>, Vec<ConfigError>> {
    let Some(section) = ini.section("cluster") else {
        return Ok(None);
    };
    let mut errors = Vec::new();
    let mut bad = |entry: &Entry, why: String| {
        errors.push(ConfigError::new(
            path,
            entry.line,
            format!("[cluster] {}: {why}", entry.key),
        ));
    };

    let mut nats = Vec::new();
    match section.get("nats") {
        None => {}
        Some(e) => {
            for url in e.value.split(',').map(str::trim).filter(|u| !u.is_empty()) {
                match check_url(url) {
                    Ok(()) => nats.push(url.to_string()),
                    Err(why) => bad(e, why),
                }
            }
            if nats.is_empty() && e.value.split(',').all(|u| u.trim().is_empty()) {
                bad(e, "no server URL given".to_string());
            }
        }
    }
    let role = match section.get("role") {
        None => None,
        Some(e) => match e.value.to_ascii_lowercase().as_str() {
            "ingest" => Some(Role::Ingest),
            "archive" => Some(Role::Archive),
            "both" => Some(Role::Both),
            _ => {
                bad(
                    e,
                    format!("'{}' is not one of ingest, archive, both", e.value),
                );
                Some(Role::Ingest)
            }
        },
    };
    let stream = match section.get("stream") {
        None => DEFAULT_STREAM.to_string(),
        Some(e) => {
            if valid_token(&e.value) {
                e.value.clone()
            } else {
                bad(
                    e,
                    format!(
                        "'{}' is not a stream name (letters, digits, '_' and '-' only)",
                        e.value
                    ),
                );
                DEFAULT_STREAM.to_string()
            }
        }
    };
    let replicas = match section.get("replicas") {
        None => DEFAULT_REPLICAS,
        Some(e) => match e.value.parse::<usize>() {
            Ok(n @ 1..=5) => n,
            _ => {
                bad(
                    e,
                    format!("'{}' is not a replica count from 1 to 5", e.value),
                );
                DEFAULT_REPLICAS
            }
        },
    };
    let mut file = |key: &str| -> Option<PathBuf> {
        let e = section.get(key)?;
        if e.value.is_empty() {
            return None;
        }
        let p = base.join(&e.value);
        if !p.is_file() {
            bad(e, format!("'{}' is not a readable file", p.display()));
        }
        Some(p)
    };
    let nats_ca = file("nats_ca");
    let nats_creds = match section.get("nats_creds") {
        Some(e) if !e.value.is_empty() => match Credentials::read(&base.join(&e.value)) {
            Ok(c) => Some(c),
            Err(why) => {
                bad(e, why);
                None
            }
        },
        _ => None,
    };
    let name = match section.get("name") {
        Some(e) if !valid_token(&e.value) => {
            bad(
                e,
                format!(
                    "'{}' is not a node name (letters, digits, '_' and '-' only)",
                    e.value
                ),
            );
            String::new()
        }
        Some(e) => e.value.clone(),
        None => default_name(),
    };
    let mut apps = Vec::new();
    if let Some(e) = section.get("apps") {
        for app in e.value.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            if app
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                && !app.starts_with('.')
                && !app.ends_with('.')
                && !app.contains("..")
            {
                if !apps.iter().any(|a| a == app) {
                    apps.push(app.to_string());
                }
            } else {
                bad(e, format!("'{app}' is not an app name"));
            }
        }
    }
    let role = match role {
        Some(r) => r,
        None => {
            errors.push(ConfigError::new(
                path,
                section.line,
                "[cluster] role is required (ingest, archive or both)",
            ));
            Role::Ingest
        }
    };
    if let Some(e) = section.get("apps").filter(|_| !role.archives()) {
        errors.push(ConfigError::new(
            path,
            e.line,
            format!(
                "[cluster] apps: '{}' is set but role = {} does not archive",
                e.value,
                role.name()
            ),
        ));
    }
    if nats.is_empty() && section.get("nats").is_none() {
        errors.push(ConfigError::new(
            path,
            section.line,
            "[cluster] nats is required (comma-separated NATS server URLs)",
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Some(ClusterSettings {
        nats,
        role,
        stream,
        replicas,
        nats_creds,
        nats_ca,
        name,
        apps,
    }))
}

/// A URL the NATS client takes: `nats://`, `tls://` or a bare `host:port`.
fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("nats://")
        .or_else(|| url.strip_prefix("tls://"))
        .unwrap_or(url);
    if rest.contains("://") {
        return Err(format!("'{url}' is not a nats:// or tls:// URL"));
    }
    let hostport = rest.rsplit('@').next().unwrap_or(rest);
    let ok = match hostport.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0),
        None => !hostport.is_empty(),
    };
    if ok
        && !hostport.contains(char::is_whitespace)
        && url.parse::<async_nats::ServerAddr>().is_ok()
    {
        Ok(())
    } else {
        Err(format!("'{url}' is not a NATS server URL (host:port)"))
    }
}

/// A NATS stream or durable name: no `.`, `*`, `>`, whitespace or path
/// characters.
fn valid_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

/// The host name, reduced to what a node name may hold.
fn default_name() -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    let name: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() {
        "loghogd".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Option<ClusterSettings>, Vec<String>> {
        let path = Path::new("/etc/loghogd/loghogd.conf");
        let (ini, errors, _) = crate::config::ini::parse(path, text);
        assert!(errors.is_empty(), "{errors:?}");
        read(&ini, path, Path::new("/etc/loghogd"))
            .map_err(|e| e.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn absent_section_means_standalone() {
        assert_eq!(parse("[main]\ndaemon = no\n").unwrap(), None);
    }

    #[test]
    fn defaults_and_every_key() {
        let c =
            parse("[cluster]\nnats = nats://a:4222, tls://b:4222\nrole = ingest\nname = in-1\n")
                .unwrap()
                .unwrap();
        assert_eq!(c.nats, ["nats://a:4222", "tls://b:4222"]);
        assert_eq!(c.role, Role::Ingest);
        assert_eq!(c.stream, "LOGHOG");
        assert_eq!(c.replicas, 3);
        assert_eq!(c.name, "in-1");
        assert!(c.apps.is_empty() && c.nats_creds.is_none() && c.nats_ca.is_none());

        let c = parse(
            "[cluster]\nnats = 127.0.0.1:4222\nrole = Archive\nstream = LOGS_2\nreplicas = 1\napps = web, db.main, web\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.role, Role::Archive);
        assert!(c.role.archives() && !c.role.ingests());
        assert_eq!((c.stream.as_str(), c.replicas), ("LOGS_2", 1));
        assert_eq!(c.apps, ["web", "db.main"]);
        assert!(!c.name.is_empty(), "the host name is the default name");
    }

    #[test]
    fn errors_name_file_line_and_value() {
        let errors = parse(
            "[cluster]\nnats = http://x:1, ok:4222, bad:port\nrole = leader\nstream = a.b\nreplicas = 7\nnats_ca = missing-ca.pem\nname = a b\n",
        )
        .unwrap_err();
        let want = [
            "/etc/loghogd/loghogd.conf:2: [cluster] nats: 'http://x:1' is not a nats:// or tls:// URL",
            "/etc/loghogd/loghogd.conf:2: [cluster] nats: 'bad:port' is not a NATS server URL (host:port)",
            "/etc/loghogd/loghogd.conf:3: [cluster] role: 'leader' is not one of ingest, archive, both",
            "/etc/loghogd/loghogd.conf:4: [cluster] stream: 'a.b' is not a stream name (letters, digits, '_' and '-' only)",
            "/etc/loghogd/loghogd.conf:5: [cluster] replicas: '7' is not a replica count from 1 to 5",
            "/etc/loghogd/loghogd.conf:6: [cluster] nats_ca: '/etc/loghogd/missing-ca.pem' is not a readable file",
            "/etc/loghogd/loghogd.conf:7: [cluster] name: 'a b' is not a node name (letters, digits, '_' and '-' only)",
        ];
        assert_eq!(errors, want);
    }

    #[test]
    fn role_and_nats_are_required_and_apps_only_archive() {
        let errors = parse("[cluster]\napps = web\n").unwrap_err();
        assert_eq!(
            errors,
            [
                "/etc/loghogd/loghogd.conf:1: [cluster] role is required (ingest, archive or both)",
                "/etc/loghogd/loghogd.conf:2: [cluster] apps: 'web' is set but role = ingest does not archive",
                "/etc/loghogd/loghogd.conf:1: [cluster] nats is required (comma-separated NATS server URLs)",
            ]
        );
        let errors = parse("[cluster]\nnats = ,\nrole = both\napps = web, ../x\n").unwrap_err();
        assert_eq!(
            errors,
            [
                "/etc/loghogd/loghogd.conf:2: [cluster] nats: no server URL given",
                "/etc/loghogd/loghogd.conf:4: [cluster] apps: '../x' is not an app name",
            ]
        );
    }
}
