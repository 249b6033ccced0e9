//! What the certificate command tests share: the binaries, running one in a
//! directory, and its output for failure messages.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

pub const SERVER_CERT: &str = env!("CARGO_BIN_EXE_loghog-server-cert");
pub const CLIENT_CERT: &str = env!("CARGO_BIN_EXE_loghog-client-cert");

/// Runs `bin` with `args` in `dir` to completion.
pub fn run(bin: &str, dir: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run binary")
}

/// Exit status, stdout and stderr, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
