//! Rotation schedules: the named ones (`daily`, `hourly`, ...) and 5-field
//! Vixie cron expressions.
//!
//! We check the syntax ourselves (so only plain Vixie syntax gets in, and
//! messages quote the value) and let `croner` do the time arithmetic on
//! `jiff::Zoned`, which gets daylight saving time right: a job in the
//! spring-forward gap runs once at the end of the gap, a fixed-time job in
//! the fall-back overlap runs once, an hourly job runs in both halves.

use std::str::FromStr;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::Zoned;

/// A parsed rotation schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// The normalized 5-field expression (names mapped, single spaces).
    expression: String,
    cron: Cron,
}

/// The named schedules of SPEC §2 and their cron equivalents.
const NAMED: &[(&str, &str)] = &[
    ("hourly", "0 * * * *"),
    ("daily", "0 0 * * *"),
    ("midnight", "0 0 * * *"),
    ("weekly", "0 0 * * 1"),
    ("monthly", "0 0 1 * *"),
    ("yearly", "0 0 1 1 *"),
    ("annually", "0 0 1 1 *"),
];

/// Per field: name, lowest and highest value, names accepted for values.
const FIELDS: [(&str, u32, u32, &[&str]); 5] = [
    ("minute", 0, 59, &[]),
    ("hour", 0, 23, &[]),
    ("day-of-month", 1, 31, &[]),
    (
        "month",
        1,
        12,
        &[
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ],
    ),
    // Index 0 and 7 are both Sunday; names map to 0-6.
    (
        "day-of-week",
        0,
        7,
        &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    ),
];

impl Schedule {
    /// Parses a named schedule (hourly, daily, midnight, weekly, monthly,
    /// yearly, annually, also with a leading `@`) or a 5-field cron
    /// expression. Refuses `@reboot`, seconds and year fields, croner's
    /// non-Vixie extensions and garbage, with a message quoting the value.
    pub fn parse(spec: &str) -> Result<Schedule, String> {
        let trimmed = spec.trim();
        let lower = trimmed.to_ascii_lowercase();
        let bare = lower.strip_prefix('@').unwrap_or(&lower);
        if bare == "reboot" {
            return Err(format!(
                "'{trimmed}' is not supported: a rotation schedule must be a time"
            ));
        }
        if let Some((_, expr)) = NAMED.iter().find(|(name, _)| *name == bare) {
            return Self::from_checked(expr.to_string(), trimmed);
        }
        if trimmed.starts_with('@') {
            return Err(format!(
                "unknown schedule '{trimmed}' (expected hourly, daily, midnight, weekly, \
                 monthly, yearly, annually, size or a 5-field cron expression)"
            ));
        }
        let fields: Vec<&str> = trimmed.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "'{trimmed}' is not a schedule: expected hourly, daily, midnight, weekly, \
                 monthly, yearly, annually, size or a cron expression with 5 fields \
                 (minute hour day-of-month month day-of-week), found {} field(s)",
                fields.len()
            ));
        }
        for (field, (name, lo, hi, names)) in fields.iter().zip(FIELDS) {
            check_field(field, lo, hi, names)
                .map_err(|why| format!("bad {name} field '{field}' in '{trimmed}': {why}"))?;
        }
        Self::from_checked(fields.join(" "), trimmed)
    }

    fn from_checked(expression: String, original: &str) -> Result<Schedule, String> {
        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .dom_and_dow(false)
            .build();
        let cron = parser
            .parse(&expression)
            .map_err(|e| format!("'{original}' is not a valid cron expression: {e}"))?;
        let schedule = Schedule { expression, cron };
        // A pattern such as `0 0 30 2 *` parses but never fires; catching it
        // here beats a file that silently never rotates.
        let probe = Zoned::from_str("2000-01-01T00:00:00+00:00[UTC]")
            .map_err(|e| format!("internal error building a probe time: {e}"))?;
        if schedule.next_after(&probe).is_none() {
            return Err(format!("'{original}' never fires"));
        }
        Ok(schedule)
    }

    /// The first firing strictly after `t`, in `t`'s time zone (DST-correct).
    /// `None` if it never fires.
    pub fn next_after(&self, t: &Zoned) -> Option<Zoned> {
        self.cron.find_next_occurrence(t, false).ok()
    }

    /// The normalized 5-field expression (`daily` gives `0 0 * * *`).
    pub fn expression(&self) -> &str {
        &self.expression
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.expression)
    }
}

/// Checks one field: a comma-separated list of `*`, `*/n`, `a`, `a-b`,
/// `a-b/n`, where `a`/`b` are numbers in range or (month, day-of-week) names.
fn check_field(field: &str, lo: u32, hi: u32, names: &[&str]) -> Result<(), String> {
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        if let Some(step) = step {
            let n = step
                .parse::<u32>()
                .map_err(|_| format!("step '{step}' is not a number"))?;
            if n == 0 || n > hi.max(1) {
                return Err(format!("step '{step}' is out of range 1-{}", hi.max(1)));
            }
        }
        if range == "*" {
            continue;
        }
        match range.split_once('-') {
            Some((a, b)) => {
                let a = value(a, lo, hi, names)?;
                let b = value(b, lo, hi, names)?;
                if a > b {
                    return Err(format!("range '{range}' runs backwards"));
                }
            }
            None => {
                value(range, lo, hi, names)?;
                if step.is_some() {
                    return Err(format!("'{item}': a step needs '*' or a range before it"));
                }
            }
        }
    }
    Ok(())
}

fn value(text: &str, lo: u32, hi: u32, names: &[&str]) -> Result<u32, String> {
    if let Ok(n) = text.parse::<u32>() {
        if n < lo || n > hi {
            return Err(format!("'{text}' is out of range {lo}-{hi}"));
        }
        return Ok(n);
    }
    let upper = text.to_ascii_uppercase();
    match names.iter().position(|n| *n == upper) {
        // Month names count from 1, weekday names from 0 (= lo).
        Some(i) => Ok(lo + i as u32),
        None if text.is_empty() => Err("empty value".to_string()),
        None => Err(format!("'{text}' is not a number in range {lo}-{hi}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use jiff::tz::TimeZone;

    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).expect("tzdb knows the zone")
    }

    /// The earlier instant of a wall clock time in `tz`.
    fn at(tz: &TimeZone, y: i16, m: i8, d: i8, hh: i8, mm: i8) -> Zoned {
        tz.to_ambiguous_zoned(date(y, m, d).at(hh, mm, 0, 0))
            .earlier()
            .expect("valid time")
    }

    /// Every firing in (from, until].
    fn firings(s: &Schedule, from: &Zoned, until: &Zoned) -> Vec<Zoned> {
        let mut out = Vec::new();
        let mut t = from.clone();
        while let Some(next) = s.next_after(&t) {
            if next.timestamp() > until.timestamp() {
                break;
            }
            assert!(next.timestamp() > t.timestamp(), "not strictly after");
            out.push(next.clone());
            t = next;
        }
        out
    }

    #[test]
    fn named_schedules_map_to_cron() {
        for (name, expr) in [
            ("hourly", "0 * * * *"),
            ("daily", "0 0 * * *"),
            ("midnight", "0 0 * * *"),
            ("weekly", "0 0 * * 1"),
            ("monthly", "0 0 1 * *"),
            ("yearly", "0 0 1 1 *"),
            ("annually", "0 0 1 1 *"),
            ("Daily", "0 0 * * *"),
            ("@hourly", "0 * * * *"),
        ] {
            let s = Schedule::parse(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(s.expression(), expr, "{name}");
        }
    }

    #[test]
    fn cron_expressions_are_normalized() {
        let s = Schedule::parse("  */15   *  * *\t1-5 ").expect("valid");
        assert_eq!(s.expression(), "*/15 * * * 1-5");
        for ok in [
            "55 22 * * *",
            "33 12 * * 1-5",
            "0 0 1,15 * *",
            "0-30/10 * * jan-mar mon",
            "0 0 * * 7",
            "0 0 * * 0-7/2",
            "0 0 29 2 *",
        ] {
            assert!(Schedule::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refusals_quote_the_value() {
        for bad in [
            "@reboot",
            "reboot",
            "@every",
            "*/15 * * *",
            "0 0 0 * * *",
            "0 0 * * * 2030",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "* * * * 8",
            "*/0 * * * *",
            "5-1 * * * *",
            "5/2 * * * *",
            "? * * * *",
            "0 0 L * *",
            "0 0 * * 1#2",
            "0 0 30 2 *",
            "",
            "sometimes",
        ] {
            let err = Schedule::parse(bad).expect_err(bad);
            assert!(err.contains(&format!("'{}'", bad.trim())), "{bad}: {err}");
        }
    }

    #[test]
    fn next_after_is_strictly_after() {
        let ny = tz("America/New_York");
        let s = Schedule::parse("daily").expect("valid");
        let midnight = at(&ny, 2026, 3, 1, 0, 0);
        assert_eq!(s.next_after(&midnight), Some(at(&ny, 2026, 3, 2, 0, 0)));
        let just_before = midnight
            .checked_sub(jiff::SignedDuration::from_nanos(1))
            .expect("t");
        assert_eq!(s.next_after(&just_before), Some(midnight));
    }

    #[test]
    fn day_of_month_and_day_of_week_combine_with_or() {
        let utc = tz("UTC");
        // 2026-11-01 is a Sunday. `0 0 13 * 5`: the 13th or any Friday.
        let s = Schedule::parse("0 0 13 * 5").expect("valid");
        let got: Vec<_> = firings(
            &s,
            &at(&utc, 2026, 11, 1, 0, 0),
            &at(&utc, 2026, 11, 16, 0, 0),
        )
        .iter()
        .map(|z| z.day())
        .collect();
        assert_eq!(got, vec![6, 13]);
        // 7 is Sunday, like 0.
        let sun = Schedule::parse("0 0 * * 7").expect("valid");
        let next = sun.next_after(&at(&utc, 2026, 11, 2, 0, 0)).expect("fires");
        assert_eq!(
            (next.day(), next.weekday()),
            (8, jiff::civil::Weekday::Sunday)
        );
        // A day-of-week range through 7 ends on Sunday; names work too.
        let weekend = Schedule::parse("0 0 * * 5-7").expect("valid");
        let got: Vec<_> = firings(
            &weekend,
            &at(&utc, 2026, 11, 2, 0, 0),
            &at(&utc, 2026, 11, 9, 0, 0),
        )
        .iter()
        .map(|z| z.day())
        .collect();
        assert_eq!(got, vec![6, 7, 8]);
        let named = Schedule::parse("0 12 * feb mon").expect("valid");
        let next = named
            .next_after(&at(&utc, 2026, 11, 2, 0, 0))
            .expect("fires");
        assert_eq!(
            (next.year(), next.month(), next.day(), next.hour()),
            (2027, 2, 1, 12)
        );
        // Every 15 minutes.
        let quarter = Schedule::parse("*/15 * * * *").expect("valid");
        let got: Vec<_> = firings(
            &quarter,
            &at(&utc, 2026, 11, 2, 0, 0),
            &at(&utc, 2026, 11, 2, 1, 0),
        )
        .iter()
        .map(|z| (z.hour(), z.minute()))
        .collect();
        assert_eq!(got, vec![(0, 15), (0, 30), (0, 45), (1, 0)]);
        // Weekly is Monday midnight.
        let weekly = Schedule::parse("weekly").expect("valid");
        let next = weekly
            .next_after(&at(&utc, 2026, 11, 1, 12, 0))
            .expect("fires");
        assert_eq!((next.day(), next.hour()), (2, 0));
    }

    #[test]
    fn spring_forward_gap_fires_once_at_three() {
        // 2026-03-08 02:00 EST -> 03:00 EDT in New York.
        let ny = tz("America/New_York");
        let s = Schedule::parse("30 2 * * *").expect("valid");
        let got = firings(&s, &at(&ny, 2026, 3, 7, 12, 0), &at(&ny, 2026, 3, 9, 12, 0));
        let wall: Vec<_> = got
            .iter()
            .map(|z| (z.day(), z.hour(), z.minute()))
            .collect();
        assert_eq!(wall, vec![(8, 3, 0), (9, 2, 30)]);
    }

    #[test]
    fn fall_back_overlap_fixed_time_fires_once() {
        // 2026-10-25 03:00 CEST -> 02:00 CET in Berlin: 02:30 happens twice.
        let berlin = tz("Europe/Berlin");
        let s = Schedule::parse("30 2 * * *").expect("valid");
        let got = firings(
            &s,
            &at(&berlin, 2026, 10, 24, 12, 0),
            &at(&berlin, 2026, 10, 26, 12, 0),
        );
        let wall: Vec<_> = got
            .iter()
            .map(|z| (z.day(), z.hour(), z.minute()))
            .collect();
        assert_eq!(wall, vec![(25, 2, 30), (26, 2, 30)]);
    }

    #[test]
    fn fall_back_overlap_hourly_fires_in_both_halves() {
        // 2026-11-01 02:00 EDT -> 01:00 EST in New York.
        let ny = tz("America/New_York");
        let s = Schedule::parse("0 * * * *").expect("valid");
        let got = firings(
            &s,
            &at(&ny, 2026, 11, 1, 0, 30),
            &at(&ny, 2026, 11, 1, 3, 30),
        );
        let wall: Vec<_> = got
            .iter()
            .map(|z| (z.hour(), z.offset().seconds() / 3600))
            .collect();
        assert_eq!(wall, vec![(1, -4), (1, -5), (2, -5), (3, -5)]);
    }
}
