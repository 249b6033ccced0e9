//! The bytes of a log line and the name of the file it goes to.
//!
//! `{local time of receipt} - {hostname} - {body}\n`. The time is taken once
//! per batch of records read together, and its date-and-second prefix is
//! re-rendered only when the second changes: formatting costs a few byte
//! copies per record.
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Renders the receipt-time prefix of lines, caching the part that changes
/// once a second.
#[derive(Debug, Default)]
pub struct LineClock {
    second: i64,
    /// `YYYY-mm-dd HH:MM:SS.`
    prefix: Vec<u8>,
    /// `YYYY-mm-dd HH:MM:SS.ffffff` for the current batch.
    stamp: Vec<u8>,
}

impl LineClock {
    /// A clock with nothing cached yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the time of receipt for the next batch.
    pub fn tick(&mut self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        self.set(now.as_secs() as i64, now.subsec_micros());
    }

    /// Sets the time of receipt explicitly (seconds since the epoch and
    /// microseconds), rendered in the system time zone.
    pub fn set(&mut self, second: i64, micros: u32) {
        if self.prefix.is_empty() || second != self.second {
            self.second = second;
            self.prefix.clear();
            let rendered = jiff::Timestamp::from_second(second)
                .map(|t| {
                    t.to_zoned(jiff::tz::TimeZone::system())
                        .strftime("%Y-%m-%d %H:%M:%S.")
                        .to_string()
                })
                .unwrap_or_else(|_| "0000-00-00 00:00:00.".to_owned());
            self.prefix.extend_from_slice(rendered.as_bytes());
        }
        self.stamp.clear();
        self.stamp.extend_from_slice(&self.prefix);
        let mut digits = [b'0'; 6];
        let mut m = micros.min(999_999);
        for d in digits.iter_mut().rev() {
            *d = b'0' + (m % 10) as u8;
            m /= 10;
        }
        self.stamp.extend_from_slice(&digits);
    }

    /// Appends one whole line for a record to `out`.
    pub fn format_line(&self, out: &mut Vec<u8>, hostname: &str, body: &str) {
        out.reserve(self.stamp.len() + hostname.len() + body.len() + 7);
        out.extend_from_slice(&self.stamp);
        out.extend_from_slice(b" - ");
        out.extend_from_slice(hostname.as_bytes());
        out.extend_from_slice(b" - ");
        out.extend_from_slice(body.as_bytes());
        out.push(b'\n');
    }
}

/// A host name made safe for use in a file name: anything outside
/// `[A-Za-z0-9._-]` becomes `_`, as does a leading `.`; an empty name is `_`.
/// The result never contains `/` and never starts with `.`, so it cannot
/// name a parent directory or a hidden file.
pub fn sanitize_host(host: &str) -> String {
    if host.is_empty() {
        return "_".to_owned();
    }
    host.char_indices()
        .map(|(i, c)| match c {
            '.' if i == 0 => '_',
            'A'..='Z' | 'a'..='z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '_',
        })
        .collect()
}

/// The longest live file name: a rotated name adds at most 40 bytes
/// (`.{stamp}-999.bz2.tmp`) and must still fit the usual 255-byte limit.
pub const MAX_LIVE_NAME: usize = 255 - 40;

/// A host name too long for its file name is cut to a prefix, then `~` and
/// 16 hex digits of a hash of the whole name as sent: deterministic across
/// restarts, distinct per host, and `~` never appears in a sanitised name,
/// so a shortened name cannot collide with a name that was not shortened.
fn shorten_host(sanitized: String, original: &str, room: usize) -> String {
    if sanitized.len() <= room {
        return sanitized;
    }
    // FNV-1a: fixed, so the same host gets the same file after an upgrade.
    let hash = original.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    // The sanitised name is ASCII, so any cut is a char boundary.
    let keep = room.saturating_sub(17);
    format!("{}~{hash:016x}", &sanitized[..keep.min(sanitized.len())])
}

/// The live file of a facility: `{logdir}/{app}/{facility}.log`, with
/// `{host}-` in front when the facility has one file per host, and `.gz`
/// behind when live files are compressed as they are written. A host name
/// that would make the name longer than [`MAX_LIVE_NAME`] is shortened
/// (prefix + hash) so it still gets a file of its own.
pub fn live_path(
    logdir: &Path,
    app: &str,
    facility: &str,
    host: Option<&str>,
    gzip: bool,
) -> PathBuf {
    let ext = if gzip { ".log.gz" } else { ".log" };
    let mut name = String::with_capacity(facility.len() + 16);
    if let Some(host) = host {
        let room = MAX_LIVE_NAME.saturating_sub(facility.len() + ext.len() + 1);
        name.push_str(&shorten_host(sanitize_host(host), host, room));
        name.push('-');
    }
    name.push_str(facility);
    name.push_str(ext);
    logdir.join(app).join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_format_matches_the_original() {
        let mut clock = LineClock::new();
        clock.set(1_358_363_502, 12_042);
        let mut out = Vec::new();
        clock.format_line(&mut out, "athens", "INFO - Hello world!");
        let line = String::from_utf8(out).unwrap();
        let expected_time = jiff::Timestamp::from_second(1_358_363_502)
            .unwrap()
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string();
        assert_eq!(
            line,
            format!("{expected_time}.012042 - athens - INFO - Hello world!\n")
        );
    }

    #[test]
    fn microseconds_change_within_a_second() {
        let mut clock = LineClock::new();
        clock.set(100, 999_999);
        let mut a = Vec::new();
        clock.format_line(&mut a, "h", "b");
        clock.set(100, 5);
        let mut b = Vec::new();
        clock.format_line(&mut b, "h", "b");
        assert!(String::from_utf8(a).unwrap().contains(".999999 - h - b"));
        assert!(String::from_utf8(b).unwrap().contains(".000005 - h - b"));
    }

    #[test]
    fn hostile_host_names_stay_inside_the_app_directory() {
        for (host, want) in [
            ("athens", "athens"),
            ("sparta.example.com", "sparta.example.com"),
            ("../../etc/passwd", "_._.._etc_passwd"),
            ("/abs", "_abs"),
            (".hidden", "_hidden"),
            ("..", "_."),
            ("", "_"),
            ("a b\0c\nd", "a_b_c_d"),
            ("héllo", "h_llo"),
        ] {
            assert_eq!(sanitize_host(host), want, "{host:?}");
            let p = live_path(Path::new("/logs"), "app", "root", Some(host), false);
            assert_eq!(p.parent(), Some(Path::new("/logs/app")), "{host:?}");
        }
    }

    #[test]
    fn over_long_host_names_are_shortened_deterministically() {
        let d = Path::new("/l");
        let long_a = "a".repeat(100_000);
        let long_b = format!("{}b", "a".repeat(99_999));
        let a = live_path(d, "app", "root", Some(&long_a), true);
        let name = a.file_name().unwrap().to_str().unwrap();
        assert_eq!(name.len(), MAX_LIVE_NAME);
        assert!(name.starts_with("aaaa") && name.ends_with("-root.log.gz"));
        assert!(name.contains('~'));
        assert_eq!(a, live_path(d, "app", "root", Some(&long_a), true));
        // Same prefix, different host: a different file.
        assert_ne!(a, live_path(d, "app", "root", Some(&long_b), true));
        // A name that fits is left alone.
        let fits = "h".repeat(MAX_LIVE_NAME - "-root.log".len());
        let p = live_path(d, "app", "root", Some(&fits), false);
        assert_eq!(p.file_name().unwrap().len(), MAX_LIVE_NAME);
        assert!(!p.to_str().unwrap().contains('~'));
    }

    #[test]
    fn live_paths() {
        let d = Path::new("/l");
        assert_eq!(
            live_path(d, "a", "web.requests", None, false),
            Path::new("/l/a/web.requests.log")
        );
        assert_eq!(
            live_path(d, "a", "root", Some("athens"), true),
            Path::new("/l/a/athens-root.log.gz")
        );
    }
}
