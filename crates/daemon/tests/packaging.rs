//! The files in `packaging/` stay valid: the default /etc/loghogd
//! configuration passes `--check-config` (with its commented examples
//! enabled too), the unit uses notify readiness and SIGHUP reload, and the
//! man page renders without warnings.
mod support;

use std::path::{Path, PathBuf};

use support::*;

fn packaging() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging")
}

#[test]
fn default_configuration_passes_check_config() {
    let conf = packaging().join("etc/loghogd/loghogd.conf");
    // The shipped file runs as `loghog`, which the package creates; here it
    // may not exist, so run as a user that does (the file is what is tested).
    let (code, out, err) = run_loghogd(&[
        "--check-config".as_ref(),
        "-c".as_ref(),
        conf.as_os_str(),
        "--user".as_ref(),
        "root".as_ref(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("configuration OK"), "{out}");
}

#[test]
fn commented_facility_examples_are_valid_when_enabled() {
    let text = std::fs::read_to_string(packaging().join("etc/loghogd/facilities.conf")).unwrap();
    // Enable every commented section and key (";[app]", ";key = value").
    let enabled: String = text
        .lines()
        .map(|l| match l.strip_prefix(';') {
            Some(rest) if rest.starts_with('[') || rest.contains(" = ") => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("facilities.conf"), &enabled).unwrap();
    std::fs::write(dir.path().join("loghogd.conf"), daemon_conf("")).unwrap();
    let conf = dir.path().join("loghogd.conf");
    let (code, out, err) =
        run_loghogd(&["--check-config".as_ref(), "-c".as_ref(), conf.as_os_str()]);
    assert_eq!(code, 0, "{enabled}\n{out}{err}");
    assert!(!err.contains("warning"), "{err}");
    assert!(enabled.matches("\n[").count() >= 5, "{enabled}");
}

#[test]
fn systemd_unit_waits_for_readiness_and_reloads_with_sighup() {
    let unit = std::fs::read_to_string(packaging().join("systemd/loghogd.service")).unwrap();
    let keys: Vec<&str> = unit.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(keys.contains(&"Type=notify"), "{unit}");
    assert!(
        keys.contains(&"ExecReload=/bin/kill -HUP $MAINPID"),
        "{unit}"
    );
    assert!(
        keys.iter()
            .any(|l| l.starts_with("ExecStart=/usr/sbin/loghogd ")),
        "{unit}"
    );
    // In the foreground: with -d systemd would lose the main process.
    assert!(
        !unit.contains(" -d") && !unit.contains("--daemon"),
        "{unit}"
    );
}

#[test]
fn man_page_renders_cleanly() {
    let page = packaging().join("man/loghogd.8");
    let Ok(out) = std::process::Command::new("groff")
        .args(["-ww", "-man", "-z"])
        .arg(&page)
        .output()
    else {
        eprintln!("note: groff not installed; man page not checked");
        return;
    };
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&page).unwrap();
    for option in [
        "\\-\\-daemon",
        "\\-\\-user",
        "\\-\\-check\\-config",
        "SIGHUP",
        "backup_count",
    ] {
        assert!(text.contains(option), "{option} not documented");
    }
}
