//! facilities.conf: which applications may log, and how each facility's
//! file is rotated (SPEC §2).
//!
//! Module facilities are stored per app under their normalized name
//! (`web.requests`, never `root.web.requests`), so `resolve` can find the
//! longest configured prefix of a message's module with a few hash lookups
//! on borrowed slices of the module string: no allocation per record.
//! The file means what it meant to the original (Python): `[DEFAULT]` keys
//! apply to every section that does not set them, `max_size = 0` and
//! `flush_every = 0` are accepted, and an empty `secret =` turns signing off.

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
    "max_hosts",
    "secret",
    "fsync",
    "signature",
    "replay_protection",
];

/// Default `max_hosts`: distinct hosts with a file of their own per
/// `file_per_host` facility.
pub const DEFAULT_MAX_HOSTS: u32 = 1000;

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
    /// Rotate when the file reaches this many bytes; `None` (or `max_size =
    /// 0` in the file, as the original read it) is no size limit.
    pub max_size: Option<u64>,
    /// Hand data to the OS after at most this many messages (at least 1;
    /// `flush_every = 0` in the file means 1, as in the original).
    pub flush_every: u32,
    /// One file per sending host.
    pub file_per_host: bool,
    /// With `file_per_host`: at most this many hosts get a file of their
    /// own; records of further hosts go to the facility's shared file.
    pub max_hosts: u32,
    /// If set, every message must carry a valid HMAC-MD5 signature. An
    /// empty `secret =` turns signing off, also in a module whose root has
    /// a secret (the original's meaning).
    pub secret: Option<String>,
    /// fdatasync each batch before accepting more for this file.
    pub fsync: bool,
    /// `signature = sha256`: refuse HMAC-MD5 signatures (`weak_signature`).
    pub require_sha256: bool,
    /// `replay_protection = yes`: refuse signed records seen before, stale
    /// ones, and ones without the protection fields (see `replay.rs`).
    pub replay_protection: bool,
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
    /// `Some(0)` is an explicit "no size limit" that overrides the root's.
    max_size: Option<u64>,
    flush_every: Option<u32>,
    max_hosts: Option<u32>,
    file_per_host: Option<bool>,
    /// `Some("")` is an explicit "no signing" that overrides the root's.
    secret: Option<String>,
    fsync: Option<bool>,
    require_sha256: Option<bool>,
    replay_protection: Option<bool>,
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
        let (facilities, warnings) = Self::load_with_warnings(path);
        facilities.map(|f| (f, warnings))
    }

    /// Like [`Facilities::load`], but the warnings come back also when there
    /// are errors, so that `--check-config` can show them together.
    pub fn load_with_warnings(
        path: &Path,
    ) -> (Result<Facilities, Vec<ConfigError>>, Vec<ConfigWarning>) {
        let (ini, errors, warnings) = ini::read(path);
        Self::from_ini_with_warnings(path, &ini, errors, warnings)
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
        errors: Vec<ConfigError>,
        warnings: Vec<ConfigWarning>,
    ) -> Result<(Facilities, Vec<ConfigWarning>), Vec<ConfigError>> {
        let (facilities, warnings) = Self::from_ini_with_warnings(path, ini, errors, warnings);
        facilities.map(|f| (f, warnings))
    }

    fn from_ini_with_warnings(
        path: &Path,
        ini: &Ini,
        mut errors: Vec<ConfigError>,
        mut warnings: Vec<ConfigWarning>,
    ) -> (Result<Facilities, Vec<ConfigError>>, Vec<ConfigWarning>) {
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

        if let Some(defaults) = &ini.defaults {
            for entry in defaults
                .entries
                .iter()
                .filter(|e| !KNOWN_KEYS.contains(&e.key.as_str()))
            {
                warnings.push(ConfigWarning::new(
                    path,
                    entry.line,
                    format!("unknown key '{}' in [DEFAULT] is ignored", entry.key),
                ));
            }
        }
        let settings: Vec<Settings> = headers
            .iter()
            .map(|h| read_settings(path, h.section, &mut errors, &mut warnings))
            .collect();
        // A bad value in [DEFAULT] is found once per section that sees it;
        // report it once.
        let mut seen = std::collections::HashSet::new();
        errors.retain(|e| seen.insert((e.line, e.message.clone())));

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
            // The app is missing here only if its root section had errors.
            let built = build(path, h, s, Some(&settings[root_idx]), &mut errors);
            if let (Some(f), Some(app)) = (built, apps.get_mut(h.app)) {
                app.max_depth = app.max_depth.max(h.module.split('.').count());
                app.modules.insert(h.module.clone(), Arc::new(f));
            }
        }

        warnings.sort_by_key(|w| w.line);
        if !errors.is_empty() {
            errors.sort_by_key(|e| e.line);
            return (Err(errors), warnings);
        }
        if apps.is_empty() {
            warnings.push(ConfigWarning::new(
                path,
                0,
                "no applications are configured: every message will be dropped",
            ));
        }
        (Ok(Facilities { apps }), warnings)
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
        // A value from [DEFAULT] is blamed on [DEFAULT], where it is written.
        let name = if entry.inherited {
            ini::DEFAULT_SECTION
        } else {
            section.name.as_str()
        };
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
            // 0 was accepted by the original and meant "no size limit".
            "max_size" => match v.parse::<u64>() {
                Ok(n) => s.max_size = Some(n),
                _ => bad(format!(
                    "'{v}' is not a whole number of bytes (0 for no limit)"
                )),
            },
            // 0 was accepted by the original; it hands every write to the
            // OS at once, which is what 1 means.
            "flush_every" => match v.parse::<u32>() {
                Ok(n) => s.flush_every = Some(n.max(1)),
                _ => bad(format!("'{v}' is not a whole number of messages")),
            },
            "max_hosts" => match v.parse::<u32>() {
                Ok(n) if n > 0 => s.max_hosts = Some(n),
                _ => bad(format!("'{v}' is not a positive whole number of hosts")),
            },
            "file_per_host" | "fsync" => match parse_bool(v) {
                Some(b) if entry.key == "fsync" => s.fsync = Some(b),
                Some(b) => s.file_per_host = Some(b),
                None => bad(format!(
                    "'{v}' is not a boolean (yes/no, true/false, on/off, 1/0)"
                )),
            },
            "signature" => match v.to_ascii_lowercase().as_str() {
                "sha256" => s.require_sha256 = Some(true),
                "md5" | "any" => s.require_sha256 = Some(false),
                _ => bad(format!(
                    "'{v}' is not a signature policy (sha256: only HMAC-SHA256; any: MD5 too)"
                )),
            },
            "replay_protection" => match parse_bool(v) {
                Some(b) => s.replay_protection = Some(b),
                None => bad(format!(
                    "'{v}' is not a boolean (yes/no, true/false, on/off, 1/0)"
                )),
            },
            // Kept even when empty: `secret =` in a module section turns
            // signing off there instead of inheriting the root's secret.
            "secret" => s.secret = Some(v.to_string()),
            // Unknown keys from [DEFAULT] were warned about once already.
            other if !KNOWN_KEYS.contains(&other) && !entry.inherited => {
                warnings.push(ConfigWarning::new(
                    path,
                    entry.line,
                    format!("unknown key '{other}' in [{name}] is ignored"),
                ))
            }
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
    let max_size = s
        .max_size
        .or(root.and_then(|r| r.max_size))
        .filter(|&n| n > 0);
    if let (Some((None, rotate_line)), None) = (&s.rotate, max_size) {
        errors.push(ConfigError::new(
            path,
            *rotate_line,
            format!("[{name}] rotate = size needs a max_size above 0 (in bytes)"),
        ));
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
    let replay_protection = s
        .replay_protection
        .or(root.and_then(|r| r.replay_protection))
        .unwrap_or(false);
    if replay_protection && secret.is_none() {
        errors.push(ConfigError::new(
            path,
            line,
            format!("[{name}] replay_protection = yes needs a secret (only signed records can be protected)"),
        ));
        return None;
    }
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
        max_hosts: s
            .max_hosts
            .or(root.and_then(|r| r.max_hosts))
            .unwrap_or(DEFAULT_MAX_HOSTS),
        secret,
        fsync: s.fsync.or(root.and_then(|r| r.fsync)).unwrap_or(false),
        require_sha256: s
            .require_sha256
            .or(root.and_then(|r| r.require_sha256))
            .unwrap_or(false),
        replay_protection,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/etc/loghogd/facilities.conf";

    fn ok(text: &str) -> Facilities {
        let (f, warnings) =
            Facilities::parse(Path::new(PATH), text).unwrap_or_else(|e| panic!("{e:#?}"));
        assert!(warnings.is_empty(), "{warnings:#?}");
        f
    }

    fn errors(text: &str) -> Vec<String> {
        match Facilities::parse(Path::new(PATH), text) {
            Ok(f) => panic!("expected errors, got {f:#?}"),
            Err(e) => e.iter().map(ToString::to_string).collect(),
        }
    }

    fn name<'a>(f: &'a Facilities, app: &str, module: &str) -> Option<&'a str> {
        f.resolve(app, module).map(|x| x.name.as_str())
    }

    #[test]
    fn readme_example_with_inline_comment() {
        let f = ok("[my-first-app]\nrotate = daily ; At midnight\nbackup_count = 14\n");
        let root = f.resolve("my-first-app", "").expect("configured");
        assert_eq!(root.app, "my-first-app");
        assert_eq!(root.name, "root");
        assert_eq!(
            root.schedule.as_ref().map(Schedule::expression),
            Some("0 0 * * *")
        );
        assert_eq!(root.backup_count, 14);
        assert_eq!(root.max_size, None);
        assert_eq!(root.flush_every, 1);
        assert!(!root.file_per_host);
        assert_eq!(root.max_hosts, DEFAULT_MAX_HOSTS);
        assert_eq!(root.secret, None);
        assert!(!root.fsync);
        assert_eq!(f.apps().collect::<Vec<_>>(), vec!["my-first-app"]);
    }

    #[test]
    fn every_key_and_colon_syntax() {
        let f = ok(
            "[a]\nROTATE: 55 22 * * *\nBackup_Count: 3\nmax_size: 1000\nflush_every = 10\n\
                    file_per_host = on\nsecret = s3cr;t\nfsync = yes\n",
        );
        let a = f.resolve("a", "root").expect("configured");
        assert_eq!(
            a.schedule.as_ref().map(Schedule::expression),
            Some("55 22 * * *")
        );
        assert_eq!(a.backup_count, 3);
        assert_eq!(a.max_size, Some(1000));
        assert_eq!(a.flush_every, 10);
        assert!(a.file_per_host);
        assert_eq!(a.secret.as_deref(), Some("s3cr;t"));
        assert!(a.fsync);
    }

    #[test]
    fn inheritance_from_the_root_section() {
        let f = ok(
            "[app]\nrotate = size\nbackup_count = 5\nmax_size = 100\nflush_every = 7\n\
                    file_per_host = yes\nmax_hosts = 20\nsecret = root-secret\nfsync = yes\n\
                    [app:web]\nrotate = hourly\nbackup_count = 2\n\
                    [app:cron]\nrotate = size\nbackup_count = 9\nmax_size = 50\nflush_every = 1\n\
                    file_per_host = no\nmax_hosts = 3\nsecret = own\nfsync = no\n",
        );
        let web = f.resolve("app", "web").expect("configured");
        assert_eq!(web.name, "web");
        // rotate and backup_count are not inherited ...
        assert_eq!(
            web.schedule.as_ref().map(Schedule::expression),
            Some("0 * * * *")
        );
        assert_eq!(web.backup_count, 2);
        // ... the rest is.
        assert_eq!(web.max_size, Some(100));
        assert_eq!(web.flush_every, 7);
        assert!(web.file_per_host);
        assert_eq!(web.max_hosts, 20);
        assert_eq!(web.secret.as_deref(), Some("root-secret"));
        assert!(web.fsync);
        // Own values win over inherited ones.
        let cron = f.resolve("app", "cron").expect("configured");
        assert_eq!(cron.schedule, None);
        assert_eq!(
            (cron.backup_count, cron.max_size, cron.flush_every),
            (9, Some(50), 1)
        );
        assert!(!cron.file_per_host && !cron.fsync);
        assert_eq!(cron.max_hosts, 3);
        assert_eq!(cron.secret.as_deref(), Some("own"));
    }

    #[test]
    fn empty_secret_turns_signing_off_instead_of_inheriting() {
        // The original read `secret =` as "" and signed only with a
        // non-empty secret, so a module could opt out of its app's secret.
        let f = ok("[app]\nrotate = daily\nbackup_count = 1\nsecret = top\n\
                    [app:web]\nrotate = daily\nbackup_count = 1\nsecret =\n\
                    [app:web.deep]\nrotate = daily\nbackup_count = 1\n\
                    [app:cron]\nrotate = daily\nbackup_count = 1\n\
                    [free]\nrotate = daily\nbackup_count = 1\nsecret = \"\"\n");
        let secret = |app: &str, module: &str| {
            f.resolve(app, module)
                .and_then(|x| x.secret.clone())
                .unwrap_or_else(|| "<none>".into())
        };
        assert_eq!(secret("app", ""), "top");
        assert_eq!(secret("app", "web"), "<none>");
        // A module facility inherits from the root section only, not from
        // a shorter module.
        assert_eq!(secret("app", "web.deep"), "top");
        assert_eq!(secret("app", "cron"), "top");
        assert_eq!(secret("free", ""), "<none>");
    }

    #[test]
    fn zero_max_size_and_flush_every_are_accepted() {
        let f = ok(
            "[app]\nrotate = daily\nbackup_count = 1\nmax_size = 500\nflush_every = 0\n\
                    [app:web]\nrotate = hourly\nbackup_count = 1\nmax_size = 0\n\
                    [app:cron]\nrotate = hourly\nbackup_count = 1\n",
        );
        let root = f.resolve("app", "").expect("root");
        assert_eq!((root.max_size, root.flush_every), (Some(500), 1));
        // An explicit 0 is "no size limit", overriding the root's limit.
        let web = f.resolve("app", "web").expect("web");
        assert_eq!((web.max_size, web.flush_every), (None, 1));
        assert_eq!(f.resolve("app", "cron").and_then(|x| x.max_size), Some(500));
        // Size rotation still needs a real limit.
        let e = errors("[app]\nrotate = size\nbackup_count = 1\nmax_size = 0\n");
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(
            e[0].contains(":2: ") && e[0].contains("max_size"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn default_section_applies_to_every_facility() {
        let f = ok(
            "[DEFAULT]\nrotate = weekly\nbackup_count = 7\nsecret = d\nfile_per_host = yes\n\
                    [app]\nsecret = root-only\nmax_size = 99\n\
                    [app:web]\nbackup_count = 2\n\
                    [other]\nrotate = hourly\nsecret =\n",
        );
        assert_eq!(f.apps().count(), 2, "[DEFAULT] is not an app");
        let root = f.resolve("app", "").expect("root");
        assert_eq!(
            root.schedule.as_ref().map(Schedule::expression),
            Some("0 0 * * 1")
        );
        assert_eq!(root.backup_count, 7);
        assert_eq!(root.secret.as_deref(), Some("root-only"));
        assert!(root.file_per_host);
        // As in RawConfigParser, a module sees [DEFAULT]'s value before its
        // root's: its secret is the default one, its max_size the root's.
        let web = f.resolve("app", "web").expect("web");
        assert_eq!(web.backup_count, 2);
        assert_eq!(web.secret.as_deref(), Some("d"));
        assert_eq!(web.max_size, Some(99));
        let other = f.resolve("other", "").expect("other");
        assert_eq!(other.secret, None);
        assert_eq!(other.backup_count, 7);
    }

    #[test]
    fn default_section_problems_are_reported_once_at_their_line() {
        let e =
            errors("[DEFAULT]\nbackup_count = many\n[a]\nrotate = daily\n[b]\nrotate = daily\n");
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(
            e[0].contains(":2: ") && e[0].contains("[DEFAULT]") && e[0].contains("'many'"),
            "{}",
            e[0]
        );
        let (_, w) = Facilities::parse(
            Path::new(PATH),
            "[DEFAULT]\nrotation = x\n[a]\nrotate = daily\nbackup_count = 1\n[b]\nrotate = daily\nbackup_count = 1\n",
        )
        .expect("valid");
        assert_eq!(w.len(), 1, "{w:#?}");
        assert!(w[0].to_string().contains(":2: ") && w[0].message.contains("[DEFAULT]"));
    }

    #[test]
    fn rotate_and_backup_count_are_required_and_not_inherited() {
        let e = errors("[app]\nrotate = daily\nbackup_count = 3\n[app:web]\nflush_every = 2\n");
        assert_eq!(e.len(), 2, "{e:#?}");
        assert!(
            e[0].starts_with(&format!("{PATH}:4: ")) && e[0].contains("'rotate'"),
            "{}",
            e[0]
        );
        assert!(
            e[1].starts_with(&format!("{PATH}:4: ")) && e[1].contains("'backup_count'"),
            "{}",
            e[1]
        );
    }

    #[test]
    fn size_rotation_needs_max_size_possibly_inherited() {
        let e = errors("[app]\nrotate = size\nbackup_count = 3\n");
        assert_eq!(e.len(), 1);
        assert!(
            e[0].contains(":2: ") && e[0].contains("max_size"),
            "{}",
            e[0]
        );
        let f = ok(
            "[app]\nrotate = daily\nbackup_count = 3\nmax_size = 10\n[app:x]\nrotate = SIZE\nbackup_count = 1\n",
        );
        assert_eq!(f.resolve("app", "x").and_then(|x| x.max_size), Some(10));
    }

    #[test]
    fn module_without_root_is_an_error() {
        let e = errors(
            "[other]\nrotate = daily\nbackup_count = 1\n[app:web]\nrotate = daily\nbackup_count = 1\n",
        );
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(
            e[0].starts_with(&format!("{PATH}:4: "))
                && e[0].contains("[app:web]")
                && e[0].contains("[app]"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn all_bad_values_are_collected() {
        let text = "[a]\nrotate = @reboot\nbackup_count = 0\nmax_size = -5\nflush_every = -1\n\
                    file_per_host = perhaps\nfsync = 2\n[b]\nrotate = 61 * * * *\nbackup_count = many\n\
                    [bad/name]\n[c:web requests]\n[:x]\n[.hidden]\n[a:root.root]\n";
        let e = errors(text);
        let expect = [
            (2, "'@reboot'"),
            (3, "'0'"),
            (4, "'-5'"),
            (5, "'-1'"),
            (6, "'perhaps'"),
            (7, "'2'"),
            (9, "'61'"),
            (10, "'many'"),
            (11, "'bad/name'"),
            (12, "'web requests'"),
            (13, "[:x]"),
            (14, "'.hidden'"),
            (15, "'root.root'"),
        ];
        for (line, value) in expect {
            let prefix = format!("{PATH}:{line}: ");
            assert!(
                e.iter()
                    .any(|m| m.starts_with(&prefix) && m.contains(value)),
                "no error at line {line} quoting {value} in {e:#?}"
            );
        }
        assert_eq!(e.len(), expect.len(), "{e:#?}");
    }

    #[test]
    fn same_facility_under_two_headers_is_an_error() {
        let e = errors(
            "[app]\nrotate = daily\nbackup_count = 1\n[app:]\nrotate = daily\nbackup_count = 1\n",
        );
        assert_eq!(e.len(), 1);
        assert!(
            e[0].contains(":4: ") && e[0].contains("[app:]") && e[0].contains("line 1"),
            "{}",
            e[0]
        );
        let e = errors(
            "[app]\nrotate = daily\nbackup_count = 1\n[app:web]\nrotate = daily\nbackup_count = 1\n\
                        [app:root.web]\nrotate = daily\nbackup_count = 1\n",
        );
        assert_eq!(e.len(), 1);
        assert!(
            e[0].contains(":7: ") && e[0].contains("[app:root.web]"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn app_colon_and_root_prefix_are_normalized() {
        let f = ok(
            "[app:]\nrotate = daily\nbackup_count = 1\n[app:root.web.]\nrotate = daily\nbackup_count = 2\n",
        );
        assert_eq!(name(&f, "app", ""), Some("root"));
        assert_eq!(name(&f, "app", "web"), Some("web"));
        assert_eq!(f.get("app", "root.web").map(|x| x.backup_count), Some(2));
        assert_eq!(f.get("app", "root").map(|x| x.name.as_str()), Some("root"));
        assert!(f.get("app", "web.x").is_none());
    }

    #[test]
    fn resolve_picks_the_longest_configured_prefix() {
        let f = ok("[app]\nrotate = daily\nbackup_count = 1\n\
                    [app:web]\nrotate = daily\nbackup_count = 1\n\
                    [app:web.requests]\nrotate = daily\nbackup_count = 1\n\
                    [app:a.b.c]\nrotate = daily\nbackup_count = 1\n\
                    [solo]\nrotate = daily\nbackup_count = 1\n");
        for (module, want) in [
            ("", "root"),
            ("root", "root"),
            ("root.", "root"),
            (".", "root"),
            ("...", "root"),
            ("other", "root"),
            ("rootx", "root"),
            ("webx", "root"),
            ("web", "web"),
            ("root.web", "web"),
            ("web.does-not-exist", "web"),
            ("web.requests", "web.requests"),
            ("root.web.requests.deep.er", "web.requests"),
            ("web..requests", "web.requests"),
            (".web.requests.", "web.requests"),
            ("web.requestsx", "web"),
            ("a", "root"),
            ("a.b", "root"),
            ("a.b.c", "a.b.c"),
            ("a.b.c.d.e.f", "a.b.c"),
            ("root.root.web", "root"),
        ] {
            assert_eq!(name(&f, "app", module), Some(want), "module {module:?}");
        }
        assert_eq!(name(&f, "solo", "web.requests"), Some("root"));
        assert_eq!(name(&f, "unknown", ""), None);
        assert_eq!(name(&f, "App", ""), None, "app ids are case-sensitive");
        let resolved = f.resolve("app", "web.x").expect("configured");
        assert_eq!(resolved.app, "app");
        let mut all: Vec<String> = f
            .facilities()
            .map(|x| format!("{}:{}", x.app, x.name))
            .collect();
        all.sort();
        assert_eq!(
            all,
            [
                "app:a.b.c",
                "app:root",
                "app:web",
                "app:web.requests",
                "solo:root"
            ]
        );
        let mut apps: Vec<&str> = f.apps().collect();
        apps.sort();
        assert_eq!(apps, ["app", "solo"]);
    }

    #[test]
    fn resolve_returns_the_shared_facility() {
        let f = ok(
            "[app]\nrotate = daily\nbackup_count = 1\n[app:web]\nrotate = daily\nbackup_count = 1\n",
        );
        let a = f.resolve("app", "web.a").expect("configured");
        let b = f.resolve("app", "root.web.b").expect("configured");
        assert!(Arc::ptr_eq(a, b));
    }

    #[test]
    fn warnings_for_unknown_keys_and_no_apps() {
        let (_, w) = Facilities::parse(
            Path::new(PATH),
            "[app]\nrotate = daily\nbackup_count = 1\nrotation = x\n",
        )
        .expect("valid");
        assert_eq!(w.len(), 1);
        assert!(
            w[0].to_string().starts_with(&format!("{PATH}:4: "))
                && w[0].message.contains("'rotation'")
                && w[0].message.contains("[app]")
        );
        let (f, w) = Facilities::parse(Path::new(PATH), "; nothing\n").expect("valid");
        assert_eq!(f.apps().count(), 0);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn ini_errors_are_reported_too() {
        let e = errors("rotate = daily\n[app]\nrotate = daily\nbackup_count = 1\noops\n");
        assert_eq!(e.len(), 2, "{e:#?}");
        assert!(e[0].contains(":1: ") && e[1].contains(":5: "));
    }

    #[test]
    fn load_reads_a_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("facilities.conf");
        std::fs::write(&path, "[app]\nrotate = weekly\nbackup_count = 4\n").expect("write");
        let (f, _) = Facilities::load(&path).expect("valid");
        assert_eq!(f.resolve("app", "x").map(|x| x.backup_count), Some(4));
        let e = Facilities::load(&dir.path().join("missing.conf")).expect_err("missing");
        assert_eq!(e[0].line, 0);
    }
}
