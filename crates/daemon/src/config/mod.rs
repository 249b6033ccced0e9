//! Configuration: loghogd.conf, facilities.conf and the command line.
//!
//! Every loader collects all problems it finds instead of stopping at the
//! first, so `--check-config` can print them in one go; each problem carries
//! the file and line it came from.
pub mod args;
pub mod daemon;
pub mod facilities;
pub mod ini;
pub mod sample;
mod values;

use std::fmt;
use std::path::PathBuf;

pub use args::Args;
pub use daemon::{
    CompressFormat, CompressorSettings, DaemonConfig, LogSettings, MetricsSettings, ServerSettings,
    SettingLines,
};
pub use facilities::{Facilities, Facility};

/// A problem in a config file.
///
/// Display is `{path}:{line}: {message}`; line 0 means the whole file and
/// displays as `{path}: {message}`. Messages quote the offending value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the problem is in.
    pub path: PathBuf,
    /// 1-based line number, or 0 when the problem concerns the whole file.
    pub line: usize,
    /// What is wrong, quoting the offending value.
    pub message: String,
}

impl ConfigError {
    /// A problem at `line` of `path` (0 for the whole file).
    pub fn new(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Something suspicious but harmless in a config file, such as an unknown
/// key; same shape and Display as [`ConfigError`].
pub type ConfigWarning = ConfigError;

/// Parses a boolean the way RawConfigParser's `getboolean` does:
/// yes/no, true/false, on/off, 1/0, case-insensitive.
pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Some(true),
        "no" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_display_with_and_without_line() {
        let e = ConfigError::new("/etc/x.conf", 12, "bad value 'q'");
        assert_eq!(e.to_string(), "/etc/x.conf:12: bad value 'q'");
        let e = ConfigError::new("/etc/x.conf", 0, "cannot read");
        assert_eq!(e.to_string(), "/etc/x.conf: cannot read");
    }

    #[test]
    fn booleans() {
        for t in ["yes", "YES", "true", "True", "on", "1"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["no", "No", "false", "FALSE", "off", "0"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        for bad in ["", "2", "y", "nope"] {
            assert_eq!(parse_bool(bad), None, "{bad}");
        }
    }
}
