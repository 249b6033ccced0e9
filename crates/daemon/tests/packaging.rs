//! The files in `packaging/` stay valid: the default /etc/loghogd
//! configuration passes `--check-config` (with its commented examples
//! enabled too) and listens with TLS as the package promises, the unit
//! starts on a fresh machine (no path it needs is missing) with notify
//! readiness and SIGHUP reload, and every man page renders without warnings
//! and documents every option of its command.
mod support;

use std::path::{Path, PathBuf};

use support::*;

fn packaging() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging")
}

fn read(rel: &str) -> String {
    let path = packaging().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The packaged /etc/loghogd in a temp dir, with the certificates the
/// package makes at install (test ones here), and the user running the test
/// standing in for `loghog`, which only the package creates.
fn installed_etc() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let me = nix::unistd::User::from_uid(nix::unistd::getuid())
        .unwrap()
        .expect("the test's user has a name")
        .name;
    let conf = read("etc/loghogd/loghogd.conf");
    assert!(conf.contains("\nuser = loghog\n"), "{conf}");
    let conf = conf.replace("\nuser = loghog\n", &format!("\nuser = {me}\n"));
    std::fs::write(dir.path().join("loghogd.conf"), conf).unwrap();
    std::fs::write(
        dir.path().join("facilities.conf"),
        read("etc/loghogd/facilities.conf"),
    )
    .unwrap();
    let tls = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tls/ecdsa");
    std::fs::create_dir(dir.path().join("certs")).unwrap();
    for (from, to) in [
        ("localhost-server.pem", "loghog-server.pem"),
        ("localhost-ca.cert", "loghog-ca.cert"),
    ] {
        std::fs::copy(tls.join(from), dir.path().join("certs").join(to)).unwrap();
    }
    dir
}

#[test]
fn default_configuration_passes_check_config() {
    let dir = installed_etc();
    let conf = dir.path().join("loghogd.conf");
    let (code, out, err) =
        run_loghogd(&["--check-config".as_ref(), "-c".as_ref(), conf.as_os_str()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("configuration OK"), "{out}");
}

/// As the original's package did: plain and TLS on localhost, the TLS
/// listener on the certificates postinst makes in /etc/loghogd/certs.
#[test]
fn default_configuration_listens_on_localhost_with_tls() {
    let conf = read("etc/loghogd/loghogd.conf");
    let keys: Vec<&str> = conf
        .lines()
        .filter(|l| !l.starts_with(';') && !l.starts_with('#'))
        .collect();
    for line in [
        "listen_ipv4 = 127.0.0.1",
        "default_port = 5566",
        "listen_ipv4_ssl = 127.0.0.1",
        "default_port_ssl = 5577",
        "pemfile = certs/loghog-server.pem",
        "cacert = certs/loghog-ca.cert",
        "user = loghog",
    ] {
        assert!(keys.contains(&line), "{line:?} missing from\n{conf}");
    }
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
    let unit = read("systemd/loghogd.service");
    let keys: Vec<&str> = unit.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(keys.contains(&"Type=notify"), "{unit}");
    assert!(
        keys.contains(&"ExecReload=/bin/kill -HUP $MAINPID"),
        "{unit}"
    );
    // --foreground: an old loghogd.conf with "daemon = yes" must not make
    // it detach, or systemd would lose the main process.
    assert!(
        keys.contains(&"ExecStart=/usr/sbin/loghogd --foreground -c /etc/loghogd/loghogd.conf"),
        "{unit}"
    );
    assert!(
        !unit.contains(" -d") && !unit.contains("--daemon"),
        "{unit}"
    );
    // loghogd checks its configuration itself (exit 78); a separate
    // check-config run would only double the start time.
    assert!(
        !keys.iter().any(|l| l.starts_with("ExecStartPre=")),
        "{unit}"
    );
}

/// Regression (issue 9): the unit listed ReadWritePaths that nothing
/// created, so on a fresh machine, and after every reboot for /run, it
/// failed with 226/NAMESPACE. Every path the unit names must be optional
/// ("-") or made by systemd itself; the state and log directories come from
/// tmpfiles.d (and postinst), owned by loghog.
#[test]
fn systemd_unit_starts_on_a_fresh_machine() {
    let unit = read("systemd/loghogd.service");
    let keys: Vec<&str> = unit.lines().filter(|l| !l.starts_with('#')).collect();
    for key in ["ReadWritePaths=", "ReadOnlyPaths=", "InaccessiblePaths="] {
        for line in keys.iter().filter(|l| l.starts_with(key)) {
            for path in line[key.len()..].split_whitespace() {
                assert!(path.starts_with('-'), "{path} may not exist: {line}");
            }
        }
    }
    assert!(keys.contains(&"RuntimeDirectory=loghogd"), "{unit}");
    // Without User=, systemd would chown these trees to root at every
    // start, after which loghogd (running as loghog) cannot write the
    // per-app files any more.
    if !keys.iter().any(|l| l.starts_with("User=")) {
        for key in ["StateDirectory=", "LogsDirectory="] {
            assert!(!keys.iter().any(|l| l.starts_with(key)), "{key}: {unit}");
        }
    }
    let tmpfiles = read("tmpfiles.d/loghogd.conf");
    for dir in ["/var/lib/loghogd", "/var/log/loghogd"] {
        assert!(
            tmpfiles
                .lines()
                .any(|l| l == format!("d {dir} 0750 loghog loghog -")),
            "{dir} missing from\n{tmpfiles}"
        );
    }
    let sysusers = read("sysusers.d/loghogd.conf");
    assert!(
        sysusers
            .lines()
            .any(|l| l.starts_with("u loghog ")
                && l.ends_with(" /var/lib/loghogd /usr/sbin/nologin")),
        "{sysusers}"
    );
}

/// `--long` options declared with clap in `files` (relative to crates/),
/// as they appear in a man page: `\\-\\-name`. An option is a field under
/// an `#[arg(...long...)]` attribute, named by `long = "..."` or the field.
fn clap_long_options(files: &[&str]) -> Vec<String> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut options = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(crates.join(file)).unwrap();
        let mut long: Option<Option<String>> = None;
        for line in text.lines().map(str::trim) {
            if line.starts_with("#[arg(") {
                long = line.contains("long").then(|| {
                    line.split_once("long = \"")
                        .map(|(_, rest)| rest.split('"').next().unwrap().to_owned())
                });
            } else if let Some(name) = long.as_ref().filter(|_| !line.starts_with("///")) {
                let field = line
                    .trim_start_matches("pub(crate) ")
                    .trim_start_matches("pub ");
                let field = field.split(':').next().unwrap().trim().replace('_', "-");
                let name = name.clone().unwrap_or(field);
                options.push(format!("\\-\\-{}", name.replace('-', "\\-")));
                long = None;
            }
        }
    }
    assert!(!options.is_empty(), "no options found in {files:?}");
    options
}

#[test]
fn man_pages_render_cleanly_and_document_every_option() {
    let pages: [(&str, Vec<String>); 4] = [
        ("man/loghogd.8", {
            let mut documented = clap_long_options(&["daemon/src/config/args.rs"]);
            documented.extend(["SIGHUP", "backup_count", "[metrics]"].map(String::from));
            documented
        }),
        (
            "man/loghog.1",
            clap_long_options(&[
                "cli/src/main.rs",
                "cli/src/send.rs",
                "cli/src/bench.rs",
                "cli/src/read/mod.rs",
                "cli/src/read/query.rs",
                "cli/src/status/mod.rs",
            ]),
        ),
        (
            "man/loghog-server-cert.1",
            clap_long_options(&["cli/src/bin/loghog-server-cert.rs"]),
        ),
        (
            "man/loghog-client-cert.1",
            clap_long_options(&["cli/src/bin/loghog-client-cert.rs"]),
        ),
    ];
    for (page, documented) in &pages {
        let text = read(page);
        for option in documented {
            assert!(
                text.contains(option.as_str()),
                "{option} not documented in {page}"
            );
        }
        // Every page refers to the others that exist.
        for (other, _) in &pages {
            let name = other.trim_start_matches("man/").replace('-', "\\-");
            let (name, section) = name.rsplit_once('.').unwrap();
            if other != page {
                assert!(
                    text.contains(&format!(".BR {name} ({section})")),
                    "{page} does not refer to {name}({section})"
                );
            }
        }
    }
    if !have_tool("groff") {
        eprintln!("note: groff not installed; man pages not rendered");
        return;
    }
    for (page, _) in &pages {
        let out = std::process::Command::new("groff")
            .args(["-ww", "-man", "-z"])
            .arg(packaging().join(page))
            .output()
            .unwrap();
        assert!(out.status.success(), "{page}");
        assert!(
            out.stderr.is_empty(),
            "{page}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
