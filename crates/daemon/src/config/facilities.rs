//! facilities.conf: which applications may log, and how each facility's
//! file is rotated (SPEC §2).
//!
//! Module facilities are stored per app under their normalized name
//! (`web.requests`, never `root.web.requests`), so `resolve` can find the
//! longest configured prefix of a message's module with a few hash lookups
//! on borrowed slices of the module string: no allocation per record.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::ini::{self, Ini, Section};
use super::{ConfigError, ConfigWarning, parse_bool};
use crate::storage::schedule::Schedule;

/// Keys a facility section may contain.
const KNOWN_KEYS: &[&str] = &[
    "rotate",
    "backup_count",
    "max_size",
    "flush_every",
    "file_per_host",
    "secret",
    "fsync",
];

/// One facility: the settings of one log file (or one per host).
#[derive(Debug, Clone, PartialEq)]
pub struct Facility {
    /// The application (`app_id`) this facility belongs to.
    pub app: String,
    /// Display and file name: `root`, or the module path such as `web.requests`.
    pub name: String,
    /// When to rotate on a schedule; `None` when `rotate = size`.
    pub schedule: Option<Schedule>,
    /// How many rotated files to keep (at least 1).
    pub backup_count: u32,
    /// Rotate when the file reaches this many bytes.
    pub max_size: Option<u64>,
    /// Hand data to the OS after at most this many messages (at least 1).
    pub flush_every: u32,
    /// One file per sending host.
    pub file_per_host: bool,
    /// If set, every message must carry a valid HMAC-MD5 signature.
    pub secret: Option<String>,
    /// fdatasync each batch before accepting more for this file.
    pub fsync: bool,
}

/// One application's facilities.
#[derive(Debug, Clone, PartialEq)]
struct App {
    root: Arc<Facility>,
    /// Module facilities by normalized name (`web.requests`).
    modules: HashMap<String, Arc<Facility>>,
    /// The most parts any configured module name has; longer prefixes of a
    /// message's module cannot match, so they are not looked up.
    max_depth: usize,
}

/// The validated contents of facilities.conf.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facilities {
    apps: HashMap<String, App>,
}

/// The settings one section gives, before inheritance.
#[derive(Debug, Default)]
struct Settings {
    /// `Some(None)` is `rotate = size`; with the line of the key.
    rotate: Option<(Option<Schedule>, usize)>,
    /// Whether a `rotate` key was present (even with a bad value).
    has_rotate: bool,
    backup_count: Option<u32>,
    has_backup_count: bool,
    max_size: Option<u64>,
    flush_every: Option<u32>,
    file_per_host: Option<bool>,
    secret: Option<String>,
    fsync: Option<bool>,
}

/// A section header split into app and normalized module.
struct Header<'a> {
    section: &'a Section,
    app: &'a str,
    /// Normalized module path; empty for the root facility.
    module: String,
}

impl Facilities {
    /// Reads and validates `path`, collecting every error.
    pub fn load(path: &Path) -> Result<(Facilities, Vec<ConfigWarning>), Vec<ConfigError>> {
        let (ini, errors, warnings) = ini::read(path);
        Self::from_ini(path, &ini, errors, warnings)
    }

    /// Validates `text`, the content of `path`, collecting every error.
    pub fn parse(
        path: &Path,
        text: &str,
    ) -> Result<(Facilities, Vec<ConfigWarning>), Vec<ConfigError>> {
        let (ini, errors, warnings) = ini::parse(path, text);
        Self::from_ini(path, &ini, errors, warnings)
    }

    fn from_ini(
        path: &Path,
        ini: &Ini,
        mut errors: Vec<ConfigError>,
        mut warnings: Vec<ConfigWarning>,
    ) -> Result<(Facilities, Vec<ConfigWarning>), Vec<ConfigError>> {
        let mut headers: Vec<Header> = Vec::new();
        for section in &ini.sections {
            match split_header(&section.name) {
                Err(why) => errors.push(ConfigError::new(path, section.line, why)),
                Ok((app, module)) => {
                    if let Some(first) = headers.iter().find(|h| h.app == app && h.module == module)
                    {
                        errors.push(ConfigError::new(
                            path,
                            section.line,
                            format!(
                                "[{}] is the same facility as [{}] on line {}",
                                section.name, first.section.name, first.section.line
                            ),
                        ));
                        continue;
                    }
                    headers.push(Header {
                        section,
                        app,
                        module,
                    });
                }
            }
        }

        let settings: Vec<Settings> = headers
            .iter()
            .map(|h| read_settings(path, h.section, &mut errors, &mut warnings))
            .collect();

        let mut apps: HashMap<String, App> = HashMap::new();
        // Roots first, so modules can inherit from them.
        for (h, s) in headers
            .iter()
            .zip(&settings)
            .filter(|(h, _)| h.module.is_empty())
        {
            if let Some(f) = build(path, h, s, None, &mut errors) {
                apps.insert(
                    h.app.to_string(),
                    App {
                        root: Arc::new(f),
                        modules: HashMap::new(),
                        max_depth: 0,
                    },
                );
            }
        }
        for (h, s) in headers
            .iter()
            .zip(&settings)
            .filter(|(h, _)| !h.module.is_empty())
        {
            let Some(root_idx) = headers
                .iter()
                .position(|r| r.app == h.app && r.module.is_empty())
            else {
                errors.push(ConfigError::new(
                    path,
                    h.section.line,
                    format!(
                        "[{}] is a module of '{}', but there is no [{}] section for the app's root facility",
                        h.section.name, h.app, h.app
                    ),
                ));
                continue;
            };
            if let Some(f) = build(path, h, s, Some(&settings[root_idx]), &mut errors) {
                if let Some(app) = apps.get_mut(h.app) {
                    app.max_depth = app.max_depth.max(h.module.split('.').count());
                    app.modules.insert(h.module.clone(), Arc::new(f));
                }
            }
        }

        if !errors.is_empty() {
            errors.sort_by_key(|e| e.line);
            return Err(errors);
        }
        if apps.is_empty() {
            warnings.push(ConfigWarning::new(
                path,
                0,
                "no applications are configured: every message will be dropped",
            ));
        }
        warnings.sort_by_key(|w| w.line);
        Ok((Facilities { apps }, warnings))
    }

    /// The most specific configured facility for this app and module (SPEC
    /// §2 module resolution); `None` if the app is unknown. Allocates only
    /// when the module has empty parts (`a..b`, `.a`, `a.`).
    pub fn resolve(&self, app_id: &str, module: &str) -> Option<&Arc<Facility>> {
        let app = self.apps.get(app_id)?;
        if app.modules.is_empty() {
            return Some(&app.root);
        }
        let path = module
            .strip_prefix("root")
            .filter(|rest| rest.is_empty() || rest.starts_with('.'));
        let path = path.map_or(module, |rest| rest.strip_prefix('.').unwrap_or(rest));
        if path.is_empty() {
            return Some(&app.root);
        }
        if path.starts_with('.') || path.ends_with('.') || path.contains("..") {
            let normalized = normalize_module(module);
            return Some(app.longest_prefix(&normalized));
        }
        Some(app.longest_prefix(path))
    }

    /// The configured application names, in no particular order.
    pub fn apps(&self) -> impl Iterator<Item = &str> {
        self.apps.keys().map(String::as_str)
    }

    /// Every facility: each app's root and its module facilities.
    pub fn facilities(&self) -> impl Iterator<Item = &Arc<Facility>> {
        self.apps
            .values()
            .flat_map(|app| std::iter::once(&app.root).chain(app.modules.values()))
    }

    /// The facility configured for exactly this app and module name (`""`
    /// or `root` for the root), without prefix matching.
    pub fn get(&self, app_id: &str, module: &str) -> Option<&Arc<Facility>> {
        let app = self.apps.get(app_id)?;
        let normalized = normalize_module(module);
        if normalized.is_empty() {
            Some(&app.root)
        } else {
            app.modules.get(&normalized)
        }
    }
}

impl App {
    /// The facility for the longest configured prefix of `path` (a
    /// normalized module path without empty parts), else the root.
    fn longest_prefix(&self, path: &str) -> &Arc<Facility> {
        if path.is_empty() {
            return &self.root;
        }
        // Cut after at most max_depth parts: nothing longer is configured.
        let mut cut = path.len();
        for (parts, (i, _)) in path.match_indices('.').enumerate() {
            if parts + 1 >= self.max_depth {
                cut = i;
                break;
            }
        }
        let mut candidate = &path[..cut];
        loop {
            if let Some(f) = self.modules.get(candidate) {
                return f;
            }
            match candidate.rfind('.') {
                Some(dot) => candidate = &candidate[..dot],
                None => return &self.root,
            }
        }
    }
}

/// Splits a module name on `.`, drops empty parts and one leading `root`.
fn normalize_module(module: &str) -> String {
    let mut parts = module.split('.').filter(|p| !p.is_empty()).peekable();
    if parts.peek() == Some(&"root") {
        parts.next();
    }
    parts.collect::<Vec<_>>().join(".")
}

fn valid_name(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// `app`, `app:` or `app:module` → (app, normalized module).
fn split_header(name: &str) -> Result<(&str, String), String> {
    let (app, module) = name.split_once(':').unwrap_or((name, ""));
    if app.is_empty() {
        return Err(format!(
            "section [{name}] has no application name before ':'"
        ));
    }
    if !valid_name(app) {
        return Err(format!(
            "application name '{app}' in [{name}] may contain only letters, digits, '.', '_' and '-'"
        ));
    }
    // The app name is a directory under logdir: `.` and `..` must not be one.
    if app.starts_with('.') {
        return Err(format!(
            "application name '{app}' in [{name}] must not start with '.'"
        ));
    }
    if !valid_name(module) {
        return Err(format!(
            "module name '{module}' in [{name}] may contain only letters, digits, '.', '_' and '-'"
        ));
    }
    let normalized = normalize_module(module);
    if normalized.split('.').next() == Some("root") {
        return Err(format!(
            "module name '{module}' in [{name}]: 'root' may only appear once, at the start"
        ));
    }
    Ok((app, normalized))
}

fn read_settings(
    path: &Path,
    section: &Section,
    errors: &mut Vec<ConfigError>,
    warnings: &mut Vec<ConfigWarning>,
) -> Settings {
    let mut s = Settings::default();
    for entry in &section.entries {
        let v = entry.value.as_str();
        let name = &section.name;
        let mut bad = |why: String| {
            errors.push(ConfigError::new(
                path,
                entry.line,
                format!("[{name}] {}: {why}", entry.key),
            ));
        };
        match entry.key.as_str() {
            "rotate" => {
                s.has_rotate = true;
                if v.eq_ignore_ascii_case("size") {
                    s.rotate = Some((None, entry.line));
                } else {
                    match Schedule::parse(v) {
                        Ok(sched) => s.rotate = Some((Some(sched), entry.line)),
                        Err(why) => bad(why),
                    }
                }
            }
            "backup_count" => {
                s.has_backup_count = true;
                match v.parse::<u32>() {
                    Ok(n) if n > 0 => s.backup_count = Some(n),
                    _ => bad(format!("'{v}' is not a positive whole number of files")),
                }
            }
            "max_size" => match v.parse::<u64>() {
                Ok(n) if n > 0 => s.max_size = Some(n),
                _ => bad(format!("'{v}' is not a positive whole number of bytes")),
            },
            "flush_every" => match v.parse::<u32>() {
                Ok(n) if n > 0 => s.flush_every = Some(n),
                _ => bad(format!("'{v}' is not a positive whole number of messages")),
            },
            "file_per_host" | "fsync" => match parse_bool(v) {
                Some(b) if entry.key == "fsync" => s.fsync = Some(b),
                Some(b) => s.file_per_host = Some(b),
                None => bad(format!(
                    "'{v}' is not a boolean (yes/no, true/false, on/off, 1/0)"
                )),
            },
            "secret" => s.secret = Some(v.to_string()),
            other if !KNOWN_KEYS.contains(&other) => warnings.push(ConfigWarning::new(
                path,
                entry.line,
                format!("unknown key '{other}' in [{name}] is ignored"),
            )),
            _ => {}
        }
    }
    s
}

/// Builds one facility, applying inheritance from `root` (None for a root).
fn build(
    path: &Path,
    h: &Header,
    s: &Settings,
    root: Option<&Settings>,
    errors: &mut Vec<ConfigError>,
) -> Option<Facility> {
    let line = h.section.line;
    let name = &h.section.name;
    let before = errors.len();
    if !s.has_rotate {
        errors.push(ConfigError::new(
            path,
            line,
            format!("[{name}] is missing the required key 'rotate' (e.g. rotate = daily)"),
        ));
    }
    if !s.has_backup_count {
        errors.push(ConfigError::new(
            path,
            line,
            format!("[{name}] is missing the required key 'backup_count' (e.g. backup_count = 14)"),
        ));
    }
    let max_size = s.max_size.or(root.and_then(|r| r.max_size));
    if let Some((None, rotate_line)) = &s.rotate {
        if max_size.is_none() {
            errors.push(ConfigError::new(
                path,
                *rotate_line,
                format!("[{name}] rotate = size needs max_size (in bytes)"),
            ));
        }
    }
    let (Some((schedule, _)), Some(backup_count)) = (&s.rotate, s.backup_count) else {
        return None;
    };
    if errors.len() > before {
        return None;
    }
    let secret = s
        .secret
        .clone()
        .or_else(|| root.and_then(|r| r.secret.clone()))
        .filter(|x| !x.is_empty());
    Some(Facility {
        app: h.app.to_string(),
        name: if h.module.is_empty() {
            "root".to_string()
        } else {
            h.module.clone()
        },
        schedule: schedule.clone(),
        backup_count,
        max_size,
        flush_every: s
            .flush_every
            .or(root.and_then(|r| r.flush_every))
            .unwrap_or(1),
        file_per_host: s
            .file_per_host
            .or(root.and_then(|r| r.file_per_host))
            .unwrap_or(false),
        secret,
        fsync: s.fsync.or(root.and_then(|r| r.fsync)).unwrap_or(false),
    })
}
