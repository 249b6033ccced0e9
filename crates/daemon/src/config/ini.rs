//! A small INI reader in the dialect of Python 2's RawConfigParser.
//!
//! Written by hand because the crates available either treat ` #` as a
//! comment, cut values at any `;`, or cannot read `key: value`. Every entry
//! keeps its line number so later validation can point at it. Parsing never
//! stops at a bad line: all of them are reported.
//!
//! Choices where we differ from (or pin down) RawConfigParser:
//! * a section that appears twice is merged into one (as RawConfigParser
//!   does); a key set twice keeps the last value and yields a warning;
//! * an inline comment starts at the first `;` that follows whitespace
//!   (Python only looked at the first `;`);
//! * a line whose first non-blank character is `;` or `#` is a comment even
//!   when indented (Python would append it to the previous value).
//!
//! `[DEFAULT]` (exact case, as Python) is not a section of its own: after
//! parsing, each of its keys is copied into every section that does not set
//! that key, marked `inherited`, so callers see Python's view of a section.

use std::path::{Path, PathBuf};

use super::{ConfigError, ConfigWarning};

/// One `key = value` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key, lowercased.
    pub key: String,
    /// The value, trimmed, inline comment removed; continuation lines are
    /// joined with `\n`.
    pub value: String,
    /// The line the key is on.
    pub line: usize,
    /// Whether the entry was copied from `[DEFAULT]` (its line is there).
    pub inherited: bool,
}

/// One `[section]` with its entries in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The name between the brackets, trimmed; case-sensitive.
    pub name: String,
    /// The line of the (first) header.
    pub line: usize,
    /// The entries, in the order their keys first appeared.
    pub entries: Vec<Entry>,
}

impl Section {
    /// The entry for `key` (lowercase), if present.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

/// The name of the section whose keys every other section sees (Python's
/// `DEFAULTSECT`, case-sensitive).
pub const DEFAULT_SECTION: &str = "DEFAULT";

/// A parsed file: its sections in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ini {
    /// The file the text came from (used in messages).
    pub path: PathBuf,
    /// The sections in the order they first appeared, `[DEFAULT]` excluded
    /// (its keys are already copied into each of them).
    pub sections: Vec<Section>,
    /// The `[DEFAULT]` section as written, if the file has one.
    pub defaults: Option<Section>,
}

impl Ini {
    /// The section called `name`, if present.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }
}

/// Reads and parses `path`; an unreadable file is one error for the whole
/// file and an empty [`Ini`].
pub fn read(path: &Path) -> (Ini, Vec<ConfigError>, Vec<ConfigWarning>) {
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => parse(path, &text),
            Err(e) => (
                empty(path),
                vec![ConfigError::new(
                    path,
                    0,
                    format!("not valid UTF-8 text: {}", e.utf8_error()),
                )],
                Vec::new(),
            ),
        },
        Err(e) => (
            empty(path),
            vec![ConfigError::new(path, 0, format!("cannot read: {e}"))],
            Vec::new(),
        ),
    }
}

fn empty(path: &Path) -> Ini {
    Ini {
        path: path.to_path_buf(),
        sections: Vec::new(),
        defaults: None,
    }
}

/// Parses `text` (the content of `path`), returning what could be read plus
/// every error and warning found.
pub fn parse(path: &Path, text: &str) -> (Ini, Vec<ConfigError>, Vec<ConfigWarning>) {
    let mut ini = empty(path);
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    // Index of the current section, and of the entry a continuation line
    // extends (None right after a header or a bad line).
    let mut current: Option<usize> = None;
    let mut last_entry: Option<usize> = None;

    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (idx, raw) in text.lines().enumerate() {
        let line_no = idx + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with(';') || trimmed.starts_with('#') {
            continue;
        }
        let indented = raw.starts_with(|c: char| c.is_whitespace());
        if let (true, Some(s), Some(e)) = (indented, current, last_entry) {
            let entry = &mut ini.sections[s].entries[e];
            entry.value.push('\n');
            entry.value.push_str(trimmed);
            continue;
        }

        if let Some(after_bracket) = trimmed.strip_prefix('[') {
            last_entry = None;
            let Some(close) = after_bracket.find(']') else {
                errors.push(ConfigError::new(
                    path,
                    line_no,
                    format!("section header '{trimmed}' has no closing ']'"),
                ));
                current = None;
                continue;
            };
            let name = after_bracket[..close].trim();
            let rest = after_bracket[close + 1..].trim();
            if !rest.is_empty() && !rest.starts_with(';') && !rest.starts_with('#') {
                errors.push(ConfigError::new(
                    path,
                    line_no,
                    format!("unexpected text '{rest}' after section header '[{name}]'"),
                ));
            }
            if name.is_empty() {
                errors.push(ConfigError::new(
                    path,
                    line_no,
                    format!("empty section name in '{trimmed}'"),
                ));
                current = None;
                continue;
            }
            current = Some(match ini.sections.iter().position(|s| s.name == name) {
                Some(existing) => existing,
                None => {
                    ini.sections.push(Section {
                        name: name.to_string(),
                        line: line_no,
                        entries: Vec::new(),
                    });
                    ini.sections.len() - 1
                }
            });
            continue;
        }

        let Some(sep) = trimmed.find(['=', ':']) else {
            errors.push(ConfigError::new(
                path,
                line_no,
                format!("expected 'key = value' or a '[section]' header, found '{trimmed}'"),
            ));
            last_entry = None;
            continue;
        };
        let Some(s) = current else {
            errors.push(ConfigError::new(
                path,
                line_no,
                format!("'{trimmed}' is outside any [section]"),
            ));
            last_entry = None;
            continue;
        };
        let key = trimmed[..sep].trim().to_lowercase();
        if key.is_empty() {
            errors.push(ConfigError::new(
                path,
                line_no,
                format!(
                    "missing key before '{}' in '{trimmed}'",
                    &trimmed[sep..=sep]
                ),
            ));
            last_entry = None;
            continue;
        }
        let value = clean_value(&trimmed[sep + 1..]);
        let section = &mut ini.sections[s];
        last_entry = Some(match section.entries.iter().position(|e| e.key == key) {
            Some(existing) => {
                let entry = &mut section.entries[existing];
                warnings.push(ConfigWarning::new(
                    path,
                    line_no,
                    format!(
                        "key '{key}' in [{}] was already set on line {}; the last value is used",
                        section.name, entry.line
                    ),
                ));
                entry.value = value;
                entry.line = line_no;
                existing
            }
            None => {
                section.entries.push(Entry {
                    key,
                    value,
                    line: line_no,
                    inherited: false,
                });
                section.entries.len() - 1
            }
        });
    }
    apply_defaults(&mut ini);
    (ini, errors, warnings)
}

/// Moves `[DEFAULT]` out of the section list and copies each of its keys
/// into every section that does not set it (RawConfigParser's lookup order:
/// the section's own value, then the default).
fn apply_defaults(ini: &mut Ini) {
    let Some(pos) = ini.sections.iter().position(|s| s.name == DEFAULT_SECTION) else {
        return;
    };
    let defaults = ini.sections.remove(pos);
    for section in &mut ini.sections {
        for d in &defaults.entries {
            if section.get(&d.key).is_none() {
                section.entries.push(Entry {
                    inherited: true,
                    ..d.clone()
                });
            }
        }
    }
    ini.defaults = Some(defaults);
}

/// Strips an inline comment (a `;` after whitespace) and surrounding blanks;
/// `""` stands for the empty string, as in RawConfigParser.
fn clean_value(raw: &str) -> String {
    let mut end = raw.len();
    let mut prev_ws = false;
    for (i, c) in raw.char_indices() {
        if c == ';' && prev_ws {
            end = i;
            break;
        }
        prev_ws = c.is_whitespace();
    }
    let value = raw[..end].trim();
    if value == "\"\"" {
        String::new()
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Ini {
        let (ini, errors, warnings) = parse(Path::new("/t/f.conf"), text);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(warnings.is_empty(), "{warnings:?}");
        ini
    }

    fn value<'a>(ini: &'a Ini, section: &str, key: &str) -> &'a str {
        &ini.section(section)
            .unwrap_or_else(|| panic!("no section {section}"))
            .get(key)
            .unwrap_or_else(|| panic!("no key {key}"))
            .value
    }

    #[test]
    fn sections_keys_and_both_separators() {
        let ini = ok("[a]\nrotate = daily\nbackup_count: 14\n\n[b:web.x]\nk=v\n");
        assert_eq!(ini.sections.len(), 2);
        assert_eq!(value(&ini, "a", "rotate"), "daily");
        assert_eq!(value(&ini, "a", "backup_count"), "14");
        assert_eq!(value(&ini, "b:web.x", "k"), "v");
        assert_eq!(ini.section("a").map(|s| s.line), Some(1));
        assert_eq!(
            ini.section("a")
                .and_then(|s| s.get("backup_count"))
                .map(|e| e.line),
            Some(3)
        );
    }

    #[test]
    fn first_separator_splits() {
        let ini = ok("[s]\nurl: http://x:1/a=b\nk = a:b\n");
        assert_eq!(value(&ini, "s", "url"), "http://x:1/a=b");
        assert_eq!(value(&ini, "s", "k"), "a:b");
    }

    #[test]
    fn keys_are_case_insensitive_sections_are_not() {
        let ini = ok("[App]\nROTATE = Daily\nBackup_Count=3\n");
        assert_eq!(value(&ini, "App", "rotate"), "Daily");
        assert_eq!(value(&ini, "App", "backup_count"), "3");
        assert!(ini.section("app").is_none());
    }

    #[test]
    fn comments() {
        let text = "# full\n; full\n[s]\n  ; indented comment\nrotate = daily ; At midnight\n\
                    secret = a#b # not a comment\nx = a;b\ny = a\t; tab comment\nz = ; all comment\n";
        let ini = ok(text);
        assert_eq!(value(&ini, "s", "rotate"), "daily");
        assert_eq!(value(&ini, "s", "secret"), "a#b # not a comment");
        assert_eq!(value(&ini, "s", "x"), "a;b");
        assert_eq!(value(&ini, "s", "y"), "a");
        assert_eq!(value(&ini, "s", "z"), "");
    }

    #[test]
    fn header_comment_and_empty_values() {
        let ini = ok("[s] ; trailing\nk =\nq = \"\"\n");
        assert_eq!(value(&ini, "s", "k"), "");
        assert_eq!(value(&ini, "s", "q"), "");
    }

    #[test]
    fn continuation_lines() {
        let ini = ok("[s]\nk = one\n  two\n\n\tthree ; kept as Python does\nj = x\n");
        assert_eq!(
            value(&ini, "s", "k"),
            "one\ntwo\nthree ; kept as Python does"
        );
        assert_eq!(value(&ini, "s", "j"), "x");
    }

    #[test]
    fn crlf_and_bom() {
        let ini = ok("\u{feff}[s]\r\nk = v\r\n");
        assert_eq!(value(&ini, "s", "k"), "v");
    }

    #[test]
    fn duplicate_sections_merge_and_duplicate_keys_warn() {
        let (ini, errors, warnings) = parse(
            Path::new("/t/f.conf"),
            "[s]\na = 1\n[t]\nb = 2\n[s]\nc = 3\na = 4\n",
        );
        assert!(errors.is_empty());
        assert_eq!(ini.sections.len(), 2);
        assert_eq!(value(&ini, "s", "a"), "4");
        assert_eq!(value(&ini, "s", "c"), "3");
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].line, 7);
        assert!(warnings[0].message.contains("'a'"), "{}", warnings[0]);
        assert!(warnings[0].message.contains("line 2"), "{}", warnings[0]);
    }

    #[test]
    fn every_bad_line_is_reported_with_its_line() {
        let text = "k = outside\n[s]\njust words\n[broken\n[]\n= novalue\n[ok] junk\ngood = 1\n";
        let (ini, errors, _) = parse(Path::new("/t/f.conf"), text);
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![1, 3, 4, 5, 6, 7], "{errors:#?}");
        assert!(errors[0].to_string().starts_with("/t/f.conf:1: "));
        assert!(errors[0].message.contains("k = outside"));
        assert!(errors[1].message.contains("just words"));
        assert!(errors[2].message.contains("[broken"));
        assert!(errors[5].message.contains("junk"));
        // What could be read is still there.
        assert_eq!(value(&ini, "ok", "good"), "1");
    }

    #[test]
    fn default_section_keys_are_seen_by_every_section() {
        let ini = ok("[a]\nk = own\n[DEFAULT]\nk = dflt\nshared = 1\n[b]\nx = y\n[default]\n");
        // [DEFAULT] is not a section; lowercase [default] is an ordinary one.
        let names: Vec<&str> = ini.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "default"]);
        // A section's own value wins, even when [DEFAULT] comes later.
        assert_eq!(value(&ini, "a", "k"), "own");
        assert_eq!(value(&ini, "b", "k"), "dflt");
        assert_eq!(value(&ini, "default", "shared"), "1");
        let a = ini.section("a").expect("a");
        assert!(!a.get("k").expect("k").inherited);
        let shared = a.get("shared").expect("shared");
        assert!(shared.inherited);
        assert_eq!(shared.line, 5, "an inherited key points at [DEFAULT]");
        let defaults = ini.defaults.as_ref().expect("defaults kept");
        assert_eq!((defaults.line, defaults.entries.len()), (3, 2));
    }

    #[test]
    fn no_default_section_changes_nothing() {
        let ini = ok("[a]\nk = v\n");
        assert!(ini.defaults.is_none());
        assert_eq!(ini.sections[0].entries.len(), 1);
    }

    #[test]
    fn read_reports_missing_file() {
        let (_, errors, _) = read(Path::new("/nonexistent/loghog/x.conf"));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 0);
        assert!(
            errors[0]
                .to_string()
                .starts_with("/nonexistent/loghog/x.conf: cannot read")
        );
    }
}
