//! `--check-config` catches what would otherwise fail only at start, with
//! the `file:line` of the setting: a user that does not exist, a server
//! certificate not signed by `cacert`; warnings are shown beside errors.
//! A second loghogd says the first is running before it tries to bind.
mod support;

use std::path::{Path, PathBuf};

use support::*;

fn tls_data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tls")
        .join(rel)
}

fn check(dir: &Path, conf: &str) -> (i32, String, String) {
    std::fs::write(dir.join("facilities.conf"), GOLDEN_FACILITIES).unwrap();
    std::fs::write(dir.join("loghogd.conf"), conf).unwrap();
    let path = dir.join("loghogd.conf");
    run_loghogd(&["--check-config".as_ref(), "-c".as_ref(), path.as_os_str()])
}

fn line_of(conf: &str, key: &str) -> usize {
    conf.lines().position(|l| l.starts_with(key)).unwrap() + 1
}

#[test]
fn a_missing_user_is_reported_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let conf = daemon_conf("").replace("[main]\n", "[main]\nuser = no-such-user-lh\n");
    let (code, _, err) = check(dir.path(), &conf);
    let at = format!(
        "loghogd.conf:{}: [main] user: no such user 'no-such-user-lh'",
        line_of(&conf, "user")
    );
    assert!(err.contains(&at), "{err}");
    if nix::unistd::geteuid().is_root() {
        // Started as root it would drop to that user: fatal.
        assert_eq!(code, 78, "{err}");
        assert!(err.contains("error:"), "{err}");
    } else {
        assert_eq!(code, 0, "{err}");
        assert!(
            err.contains("warning:") && err.contains("fatal when started as root"),
            "{err}"
        );
    }
}

#[test]
fn a_server_certificate_from_another_ca_is_an_error_at_the_pemfile_line() {
    let dir = tempfile::tempdir().unwrap();
    let conf = daemon_conf(&format!(
        "listen_ipv4_ssl = 127.0.0.1:0\npemfile = {}\ncacert = {}\n",
        tls_data("ecdsa/localhost-server.pem").display(),
        tls_data("other/localhost-ca.cert").display()
    ));
    let (code, _, err) = check(dir.path(), &conf);
    assert_eq!(code, 78, "{err}");
    let at = format!(
        "loghogd.conf:{}: [server] pemfile:",
        line_of(&conf, "pemfile")
    );
    assert!(err.contains(&at), "{err}");
    assert!(err.contains("not signed by the CA"), "{err}");

    // The matching pair passes.
    let conf = conf.replace("other/localhost-ca.cert", "ecdsa/localhost-ca.cert");
    let (code, out, err) = check(dir.path(), &conf);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("configuration OK"), "{out}");
}

#[test]
fn warnings_are_shown_together_with_errors() {
    let dir = tempfile::tempdir().unwrap();
    let conf = daemon_conf("no_such_key = 1\nmax_connections = lots\n");
    let (code, _, err) = check(dir.path(), &conf);
    assert_eq!(code, 78, "{err}");
    assert!(
        err.contains("warning:") && err.contains("no_such_key"),
        "{err}"
    );
    assert!(err.contains("error:") && err.contains("'lots'"), "{err}");

    // The same in facilities.conf.
    let conf = daemon_conf("");
    std::fs::write(dir.path().join("loghogd.conf"), &conf).unwrap();
    std::fs::write(
        dir.path().join("facilities.conf"),
        "[app]\nrotate = daily\nbackup_count = 3\nno_such_facility_key = 1\n\n\
         [other]\nrotate = sometimes\nbackup_count = 3\n",
    )
    .unwrap();
    let path = dir.path().join("loghogd.conf");
    let (code, _, err) = run_loghogd(&["--check-config".as_ref(), "-c".as_ref(), path.as_os_str()]);
    assert_eq!(code, 78, "{err}");
    assert!(
        err.contains("warning:") && err.contains("no_such_facility_key"),
        "{err}"
    );
    assert!(err.contains("error:") && err.contains("sometimes"), "{err}");
}

#[test]
fn a_second_daemon_says_the_first_is_running_before_binding() {
    let first = Daemon::start(GOLDEN_FACILITIES);
    let conf = first.dir.path().join("loghogd.conf");
    // Both listen on port 0, so binding could not fail: only the pid file
    // can stop the second one.
    let (code, _, err) = run_loghogd(&["-c".as_ref(), conf.as_os_str()]);
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains(&format!("already running (pid {})", first.pid())),
        "{err}"
    );
    assert!(!err.contains("listening"), "{err}");
}
