//! Mutation fuzzing of the configuration decoders as property tests: the
//! INI reader and facilities.conf validation take arbitrary and mutated
//! text without panicking and point every error at a real line; cron
//! schedules never panic and every accepted one fires after any `now`.
use std::path::Path;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use loghog_daemon::config::Facilities;
use loghog_daemon::config::ini;
use loghog_daemon::storage::schedule::Schedule;
use proptest::prelude::*;

/// Lines a facilities.conf (or any INI) may hold, good and bad.
fn ini_line() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "[app]",
            "[app:web]",
            "[app:web.requests]",
            "[other:]",
            "[DEFAULT]",
            "[bad/name]",
            "rotate = daily",
            "rotate: 0 */2 * * 1-5",
            "rotate = size",
            "rotate = @reboot",
            "backup_count = 3",
            "backup_count = -1",
            "max_size = 0",
            "max_size = 1000",
            "flush_every = 0",
            "file_per_host = yes",
            "secret =",
            "secret = s3cr;t ; comment",
            "fsync = maybe",
            "  continued value",
            "; comment",
            "# comment",
            "",
        ])
        .prop_map(str::to_string),
        1 => "[ -~]{0,30}",
        1 => any::<String>().prop_map(|s| s.chars().take(30).collect()),
    ]
}

/// Lines that are an error wherever they appear.
const ALWAYS_BAD: &[&str] = &["just words", "[broken", "= novalue", "[]"];

fn error_lines_are_real(text: &str, lines: impl Iterator<Item = usize>) {
    let n = text
        .strip_prefix('\u{feff}')
        .unwrap_or(text)
        .lines()
        .count();
    for line in lines {
        assert!(
            (1..=n).contains(&line),
            "error at line {line} of a {n}-line text:\n{text}"
        );
    }
}

fn check(text: &str) {
    let path = Path::new("/t/facilities.conf");
    let (_, errors, warnings) = ini::parse(path, text);
    error_lines_are_real(text, errors.iter().chain(&warnings).map(|e| e.line));
    match Facilities::parse(path, text) {
        Ok((_, warnings)) => {
            // Only "no applications" concerns the whole file.
            error_lines_are_real(
                text,
                warnings.iter().filter(|w| w.line != 0).map(|w| w.line),
            );
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            error_lines_are_real(text, errors.iter().map(|e| e.line));
        }
    }
}

/// One field of a cron expression with values in `lo..=hi`: valid shapes
/// mostly, and near misses (out of range, croner extensions, bad syntax).
fn cron_field(lo: u32, hi: u32) -> impl Strategy<Value = String> {
    let n = move || lo..=hi;
    prop_oneof![
        4 => Just("*".to_string()),
        4 => n().prop_map(|a| a.to_string()),
        1 => (1u32..40).prop_map(|s| format!("*/{s}")),
        1 => (n(), n()).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
        1 => (n(), n(), 1u32..20).prop_map(|(a, b, s)| format!("{}-{}/{s}", a.min(b), a.max(b))),
        1 => (n(), n(), n()).prop_map(|(a, b, c)| format!("{a},{b},{c}")),
        1 => (0u32..100, 0u32..100).prop_map(|(a, b)| format!("{a}-{b}")),
        1 => prop::sample::select(vec![
            "MON", "sun", "jan", "Dec", "MON-FRI", "L", "?", "5#2", "15W", "-", "*/", "*/0",
            "1-", ",", "1,,2", "7", "3-1",
        ])
        .prop_map(str::to_string),
    ]
}

fn cron_expression() -> impl Strategy<Value = String> {
    (
        cron_field(0, 59),
        cron_field(0, 23),
        cron_field(1, 31),
        cron_field(1, 12),
        cron_field(0, 7),
    )
        .prop_map(|(m, h, dom, mon, dow)| format!("{m} {h} {dom} {mon} {dow}"))
}

fn time_zones() -> Vec<TimeZone> {
    let mut zones = vec![TimeZone::UTC, TimeZone::system()];
    // A zone with daylight saving time, when the system has the database.
    zones.extend(TimeZone::get("Europe/Berlin").ok());
    zones
}

/// 256 cases per property in the normal run; `PROPTEST_CASES` overrides.
fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 256;
    }
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_never_panics_the_ini_reader(text in any::<String>()) {
        check(&text);
    }

    #[test]
    fn every_bad_line_is_an_error_at_its_line(
        lines in prop::collection::vec(ini_line(), 0..20),
        bad in prop::collection::vec((any::<usize>(), prop::sample::select(ALWAYS_BAD)), 0..3),
        crlf in any::<bool>(),
    ) {
        let mut lines = lines;
        let mut bad_at = Vec::new();
        for (pos, line) in bad {
            let pos = pos % (lines.len() + 1);
            lines.insert(pos, line.to_string());
            bad_at.iter_mut().for_each(|p: &mut usize| if *p >= pos { *p += 1 });
            bad_at.push(pos);
        }
        let text = lines.join(if crlf { "\r\n" } else { "\n" });
        check(&text);
        let (_, errors, _) = ini::parse(Path::new("/t/f.conf"), &text);
        for pos in bad_at {
            prop_assert!(
                errors.iter().any(|e| e.line == pos + 1),
                "no error at line {} in {errors:#?}\n{text}",
                pos + 1
            );
        }
    }

    #[test]
    fn arbitrary_schedules_never_panic(spec in any::<String>()) {
        let _ = Schedule::parse(&spec);
    }

    #[test]
    fn accepted_schedules_fire_after_now(
        spec in cron_expression(),
        secs in 946_684_800i64..3_786_912_000,
        zone in any::<prop::sample::Index>(),
    ) {
        let Ok(schedule) = Schedule::parse(&spec) else {
            return Ok(());
        };
        let zones = time_zones();
        let tz = zones[zone.index(zones.len())].clone();
        let now = Timestamp::from_second(secs).expect("in range").to_zoned(tz);
        let next = schedule
            .next_after(&now)
            .unwrap_or_else(|| panic!("'{spec}' accepted but never fires after {now}"));
        prop_assert!(next > now, "'{spec}': {next} is not after {now}");
        let after = schedule.next_after(&next).expect("fires again");
        prop_assert!(after > next, "'{spec}': {after} is not after {next}");
    }
}

#[test]
fn the_cron_generator_mostly_makes_accepted_expressions() {
    // Guards the property above against testing nothing: most generated
    // expressions must be accepted.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = cron_expression();
    let accepted = (0..200)
        .filter(|_| {
            let spec = strategy.new_tree(&mut runner).expect("value").current();
            Schedule::parse(&spec).is_ok()
        })
        .count();
    assert!(accepted >= 40, "only {accepted} of 200 accepted");
}
