//! Retention against the real binary: after each rotation exactly the
//! newest `backup_count` backups of that file remain, and nothing else in
//! the directory (other facilities, names the daemon did not make) is touched.
mod support;

use std::io::Write;

use support::*;

/// Sends `body` and waits until it is the live file's last line.
fn send_and_wait(d: &Daemon, conn: &mut std::net::TcpStream, live: &str, body: &str) {
    conn.write_all(&frame("app", "", body)).unwrap();
    let path = d.log(live);
    let ok = poll(|| bodies(&read_lines(&path)).last().map(String::as_str) == Some(body));
    assert!(ok, "{body} not in {live}\n{}", d.output());
}

#[test]
fn exactly_backup_count_backups_remain_after_many_rotations() {
    // A line is 42 bytes plus the body: two 100-byte bodies pass 200 bytes,
    // so every record after the first rotates the file.
    let d = Daemon::start_with(
        &one_facility("app", "rotate = size\nmax_size = 200\nbackup_count = 2"),
        "\n[compressor]\nformat = gzip\nlevel = 1",
    );
    let mut conn = d.connect();
    let sent: Vec<String> = (0..6).map(|i| format!("{i}{}", "z".repeat(99))).collect();
    for body in &sent {
        send_and_wait(&d, &mut conn, "app/root.log", body);
    }
    let dir = d.log("app");
    let settled = |names: &[String]| {
        names.len() == 3
            && names[0] == "root.log"
            && names[1..]
                .iter()
                .all(|n| n.starts_with("root.log.") && n.ends_with(".gz"))
    };
    let ok = poll(|| settled(&file_names(&dir)));
    let names = file_names(&dir);
    assert!(ok, "{names:?}\n{}", d.output());
    // The two newest backups hold records 4 and 5; the live file record 6.
    let held: Vec<Vec<String>> = names[1..]
        .iter()
        .chain(std::iter::once(&names[0]))
        .map(|n| {
            let text = read_log(&dir.join(n));
            bodies(&text.lines().map(str::to_owned).collect::<Vec<_>>())
        })
        .collect();
    assert_eq!(
        held,
        [
            vec![sent[3].clone()],
            vec![sent[4].clone()],
            vec![sent[5].clone()]
        ]
    );
    // The log line follows the deletion: wait for it too.
    let logged = poll(|| d.count_output(&["deleted expired backup"]) == 3);
    assert!(logged, "{}", d.output());
}

#[test]
fn other_facilities_and_foreign_names_are_never_deleted() {
    let facilities = "\
[app]
rotate = size
max_size = 150
backup_count = 1

[app:web]
rotate = daily
backup_count = 1
";
    // Backups of another facility whose name starts alike, and names that
    // look like backups but were not made by the daemon.
    let foreign = [
        "root.log.bak",
        "root.log.2020",
        "root.log.1",
        "root.logs.2020-01-01-00-00-00-000000.gz",
        "web.log.2020-01-01-00-00-00-000000.gz",
        "web.log.2020-01-02-00-00-00-000000.gz",
        "x-root.log.2020-01-01-00-00-00-000000.gz",
    ];
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("facilities.conf"), facilities).unwrap();
    std::fs::write(
        dir.path().join("loghogd.conf"),
        daemon_conf("\n[compressor]\nformat = gzip\nlevel = 1"),
    )
    .unwrap();
    let app_dir = dir.path().join("logs/app");
    std::fs::create_dir_all(&app_dir).unwrap();
    for name in foreign {
        // Already-compressed names are not compressed again at start-up.
        std::fs::write(app_dir.join(name), name).unwrap();
    }
    let d = Daemon::start_in(dir);
    let mut conn = d.connect();
    // Each 123-byte line fits max_size alone (so the timer never rotates it
    // away before it is seen), and every line after the first rotates.
    for i in 0..4 {
        send_and_wait(
            &d,
            &mut conn,
            "app/root.log",
            &format!("{i}{}", "w".repeat(80)),
        );
    }
    let ok = poll(|| {
        let names = file_names(&app_dir);
        let ours = |n: &&String| n.starts_with("root.log.") && n.ends_with(".gz");
        names.len() == foreign.len() + 2 && names.iter().filter(ours).count() == 1
    });
    let names = file_names(&app_dir);
    assert!(ok, "{names:?}\n{}", d.output());
    for name in foreign {
        assert!(
            names.iter().any(|n| n == name),
            "{name} was deleted: {names:?}"
        );
    }
    assert_eq!(names.len(), foreign.len() + 2, "{names:?}");
}
