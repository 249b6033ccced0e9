//! Detaching from the terminal (`--daemon`): double fork, setsid, stdio to
//! /dev/null, with a pipe that tells the waiting parent whether the daemon
//! came up, so `loghogd -d` exits 0 only once it is listening.
//!
//! The one module allowed `unsafe`: `fork` is unsafe because only the
//! calling thread survives in the child. It is called before any thread or
//! runtime exists (CRATES.md: bind, fork, pid file, drop privileges, runtime),
//! which is what makes it sound here. The only other call nix does not wrap,
//! `setpriority` for the archiver thread, lives here too, so that all
//! `unsafe` stays in one file.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;

use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, chdir, dup2_stderr, dup2_stdin, dup2_stdout, fork, pipe, setsid};

/// The first byte the daemon sends up the pipe when it is serving.
const READY: u8 = b'+';
/// The first byte before an error message.
const FAILED: u8 = b'!';

/// Why detaching failed (reported by the process still on the terminal).
#[derive(Debug, thiserror::Error)]
pub enum DaemonizeError {
    /// A system call of the detach sequence failed.
    #[error("cannot detach: {call} failed: {errno}")]
    Sys {
        /// The call: `pipe`, `fork`, `setsid`, ...
        call: &'static str,
        /// The error it returned.
        errno: nix::errno::Errno,
    },
    /// /dev/null could not be opened for the new stdio.
    #[error("cannot detach: /dev/null: {0}")]
    DevNull(std::io::Error),
}

fn sys(call: &'static str) -> impl Fn(nix::errno::Errno) -> DaemonizeError {
    move |errno| DaemonizeError::Sys { call, errno }
}

/// The detached daemon's end of the pipe to the waiting parent.
#[derive(Debug)]
pub struct Readiness {
    pipe: Option<File>,
}

impl Readiness {
    /// The daemon is serving: the parent exits 0.
    pub fn ready(&mut self) {
        if let Some(mut p) = self.pipe.take() {
            let _ = p.write_all(&[READY]);
        }
    }

    /// The daemon could not start: the parent prints `why` and exits
    /// non-zero. Does nothing once `ready` was sent.
    pub fn fail(&mut self, why: &str) {
        if let Some(mut p) = self.pipe.take() {
            let mut msg = vec![FAILED];
            msg.extend_from_slice(why.as_bytes());
            let _ = p.write_all(&msg);
        }
    }
}

/// Detach: returns in the daemon (a grandchild in a new session, cwd `/`,
/// stdio on /dev/null) with the pipe to report readiness on. The original
/// process does not return from here: it waits for the report and exits 0
/// once the daemon is serving, or prints the daemon's error to its stderr
/// and exits with `failure_code`.
///
/// Call only while the process has a single thread.
pub fn detach(failure_code: i32) -> Result<Readiness, DaemonizeError> {
    let (read_end, write_end) = pipe().map_err(sys("pipe"))?;
    // SAFETY: no other thread exists yet (the runtime and writers start
    // after this), so the child's copy of the address space is consistent.
    match unsafe { fork() }.map_err(sys("fork"))? {
        ForkResult::Parent { child } => {
            drop(write_end);
            // The middle child exits at once; reap it so it is no zombie.
            let _ = waitpid(child, None);
            match wait_for_report(read_end) {
                Ok(()) => std::process::exit(0),
                Err(why) => {
                    eprintln!("loghogd: {why}");
                    std::process::exit(failure_code)
                }
            }
        }
        ForkResult::Child => {}
    }
    drop(read_end);
    setsid().map_err(sys("setsid"))?;
    // SAFETY: still single-threaded, as above.
    match unsafe { fork() }.map_err(sys("fork"))? {
        // The session leader leaves, so the daemon can never regain a
        // controlling terminal. `_exit`: no atexit handlers or buffers of
        // the parent's state run twice.
        ForkResult::Parent { .. } => unsafe { libc::_exit(0) },
        ForkResult::Child => {}
    }
    chdir("/").map_err(sys("chdir"))?;
    let null = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(DaemonizeError::DevNull)?;
    dup2_stdin(&null).map_err(sys("dup2"))?;
    dup2_stdout(&null).map_err(sys("dup2"))?;
    dup2_stderr(&null).map_err(sys("dup2"))?;
    Ok(Readiness {
        pipe: Some(File::from(write_end)),
    })
}

/// Read the daemon's report; EOF with nothing said means it died.
fn wait_for_report(read_end: OwnedFd) -> Result<(), String> {
    let mut msg = Vec::new();
    let _ = File::from(read_end).read_to_end(&mut msg);
    match msg.split_first() {
        Some((&READY, _)) => Ok(()),
        Some((&FAILED, why)) => Err(String::from_utf8_lossy(why).into_owned()),
        _ => Err("the daemon exited before it was ready (see its log)".to_string()),
    }
}

/// Lower the calling thread's CPU (and, through it, I/O) priority to nice
/// 10, so compression yields to ingest. On Linux the nice value is per
/// thread. Best effort: a failure is logged and changes nothing else.
pub fn lower_thread_priority() {
    // SAFETY: setpriority only reads its integer arguments; `who = 0` is
    // the calling thread on Linux.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS as _, 0, 10) };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "cannot lower the archiver's priority");
    }
}
