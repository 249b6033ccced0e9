//! `--since`/`--until` values: `2026-11-30 14:00[:05[.123]]`, a date alone,
//! `14:00` today, ISO 8601 (with or without an offset), and `1h`/`30m`/`2d`
//! (ago, optionally with the word).
//!
//! Everything becomes a local civil time, because that is what the lines
//! and the rotated names carry: comparing civil times needs no time zone
//! lookup per record.
use anyhow::{Result, bail};
use jiff::civil::{Date, DateTime, Time};
use jiff::{SignedDuration, Timestamp, Zoned, tz::TimeZone};

/// Parses `s` relative to `now` (a local time).
pub fn parse_time(s: &str, now: &Zoned) -> Result<DateTime> {
    let t = s.trim();
    if let Some(d) = parse_relative(t) {
        let then = now.timestamp().checked_sub(d)?;
        return Ok(then.to_zoned(now.time_zone().clone()).datetime());
    }
    // An instant with an offset or `Z`: converted to local time.
    if let Ok(ts) = t.parse::<Timestamp>() {
        return Ok(ts.to_zoned(now.time_zone().clone()).datetime());
    }
    if let Ok(z) = t.parse::<Zoned>() {
        return Ok(z.with_time_zone(now.time_zone().clone()).datetime());
    }
    // `2026-11-30 14:00`, `2026-11-30T14:00:05.5`: local already.
    if let Ok(dt) = t.parse::<DateTime>() {
        return Ok(dt);
    }
    if let Ok(d) = t.parse::<Date>() {
        return Ok(d.to_datetime(Time::midnight()));
    }
    if let Ok(tm) = t.parse::<Time>() {
        return Ok(now.date().to_datetime(tm));
    }
    bail!(
        "cannot read the time {s:?}: use `2026-11-30 14:00`, `14:00` (today), \
         ISO 8601 (`2026-11-30T14:00:00+01:00`) or an age such as `30m`, `1h`, `2d`"
    )
}

/// `90s`, `30m`, `1h`, `2d`, `1w`, optionally followed by ` ago`.
fn parse_relative(s: &str) -> Option<SignedDuration> {
    let s = s.strip_suffix("ago").map_or(s, str::trim_end);
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().ok()?;
    let secs = match unit.trim() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 7 * 86_400,
        _ => return None,
    };
    Some(SignedDuration::from_secs(n.checked_mul(secs)?))
}

/// Now, in the system's time zone (as the daemon stamps lines).
pub fn now() -> Zoned {
    Zoned::now().with_time_zone(TimeZone::system())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Zoned {
        "2026-11-30T15:30:00[UTC]".parse().unwrap()
    }

    fn at(s: &str) -> String {
        parse_time(s, &now()).unwrap().to_string()
    }

    #[test]
    fn every_documented_form_is_read() {
        assert_eq!(at("2026-11-30 14:00"), "2026-11-30T14:00:00");
        assert_eq!(at("2026-11-29 14:00:05.25"), "2026-11-29T14:00:05.25");
        assert_eq!(at("2026-11-28"), "2026-11-28T00:00:00");
        assert_eq!(at("14:00"), "2026-11-30T14:00:00");
        assert_eq!(at("2026-11-30T14:00:00"), "2026-11-30T14:00:00");
        assert_eq!(at("2026-11-30T14:00:00+01:00"), "2026-11-30T13:00:00");
        assert_eq!(at("2026-11-30T14:00:00Z"), "2026-11-30T14:00:00");
        assert_eq!(at("1h"), "2026-11-30T14:30:00");
        assert_eq!(at("30m"), "2026-11-30T15:00:00");
        assert_eq!(at("2d"), "2026-11-28T15:30:00");
        assert_eq!(at("2 days ago"), "2026-11-28T15:30:00");
    }

    #[test]
    fn nonsense_is_refused_with_the_forms_named() {
        for bad in ["yesterday", "1y", "", "14:00 tomorrow"] {
            let e = parse_time(bad, &now()).unwrap_err().to_string();
            assert!(e.contains("30m"), "{bad}: {e}");
        }
    }
}
