//! The command line: --check-config, --gen-config, exit codes, and
//! configuration errors that name the file, the line and the value.
mod support;

use std::ffi::OsStr;

use support::*;

fn write_confs(dir: &std::path::Path, loghogd: &str, facilities: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("facilities.conf"), facilities).unwrap();
    let conf = dir.join("loghogd.conf");
    std::fs::write(&conf, loghogd).unwrap();
    conf
}

#[test]
fn check_config_accepts_a_good_pair_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_confs(dir.path(), &daemon_conf(""), GOLDEN_FACILITIES);
    let (code, out, err) = run_loghogd(&[
        OsStr::new("-c"),
        conf.as_os_str(),
        OsStr::new("--check-config"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("configuration OK"), "{out}");
}

#[test]
fn check_config_lists_every_problem_with_file_line_and_value_and_exits_78() {
    let dir = tempfile::tempdir().unwrap();
    let loghogd = daemon_conf("max_connections = lots\n").replace("level = DEBUG", "level = LOUD");
    let facilities = "\
[app]
rotate = every tuesday
backup_count = -3

[orphan:web]
rotate = daily
backup_count = 1
";
    let conf = write_confs(dir.path(), &loghogd, facilities);
    let (code, _, err) = run_loghogd(&[
        OsStr::new("-c"),
        conf.as_os_str(),
        OsStr::new("--check-config"),
    ]);
    assert_eq!(code, 78, "{err}");
    for (file, value) in [
        ("loghogd.conf:", "lots"),
        ("loghogd.conf:", "LOUD"),
        ("facilities.conf:2:", "every tuesday"),
        ("facilities.conf:3:", "-3"),
        ("facilities.conf:5:", "orphan"),
    ] {
        assert!(
            err.lines().any(|l| l.contains(file) && l.contains(value)),
            "no line with {file} and {value} in:\n{err}"
        );
    }
    // Starting for real refuses the same way.
    let (code, _, err) = run_loghogd(&[OsStr::new("-c"), conf.as_os_str()]);
    assert_eq!(code, 78, "{err}");
}

#[test]
fn a_missing_config_file_is_a_configuration_error() {
    let (code, _, err) = run_loghogd(&[OsStr::new("-c"), OsStr::new("/nonexistent/loghogd.conf")]);
    assert_eq!(code, 78);
    assert!(err.contains("/nonexistent/loghogd.conf"), "{err}");
}

#[test]
fn gen_config_prints_a_sample_that_passes_check_config() {
    let (code, sample, _) = run_loghogd(&[OsStr::new("--gen-config")]);
    assert_eq!(code, 0);
    assert!(sample.contains("[server]") && sample.contains("listen_ipv4"));
    let dir = tempfile::tempdir().unwrap();
    let conf = write_confs(dir.path(), &sample, GOLDEN_FACILITIES);
    // The sample names /etc/loghogd/facilities.conf; point -F at ours.
    let fac = dir.path().join("facilities.conf");
    let (code, out, err) = run_loghogd(&[
        OsStr::new("-c"),
        conf.as_os_str(),
        OsStr::new("-F"),
        fac.as_os_str(),
        OsStr::new("--check-config"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn unknown_keys_are_warned_about_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_confs(
        dir.path(),
        &daemon_conf("listen_ipv9 = 1.2.3.4\n"),
        "[app]\nrotate = daily\nbackup_count = 1\ncolour = blue\n",
    );
    let (code, _, err) = run_loghogd(&[
        OsStr::new("-c"),
        conf.as_os_str(),
        OsStr::new("--check-config"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("listen_ipv9"), "{err}");
    assert!(err.contains("colour"), "{err}");
}

#[test]
fn a_port_already_in_use_is_a_runtime_failure() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let conf = write_confs(
        dir.path(),
        &daemon_conf("").replace("127.0.0.1:0", &format!("127.0.0.1:{port}")),
        GOLDEN_FACILITIES,
    );
    let (code, _, err) = run_loghogd(&[OsStr::new("-c"), conf.as_os_str()]);
    assert_eq!(code, 70, "{err}");
    assert!(err.contains(&port.to_string()), "{err}");
}

#[test]
fn help_lists_the_options() {
    let (code, out, _) = run_loghogd(&[OsStr::new("--help")]);
    assert_eq!(code, 0);
    for opt in [
        "--config",
        "--facilities-config",
        "--check-config",
        "--daemon",
        "--gen-config",
        "--user",
    ] {
        assert!(out.contains(opt), "{opt} missing from:\n{out}");
    }
}
