//! The pid file (SPEC §6): created exclusively, so two daemons never both
//! believe they own it; a stale one, whose process is gone, is replaced;
//! removed on exit.
//!
//! "Gone" is decided with `kill(pid, 0)`: ESRCH means no such process. A
//! pid that was reused by an unrelated process looks alive, and start-up is
//! refused with the pid named, which is the safe way to be wrong.
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

/// Why the pid file could not be created.
#[derive(Debug, thiserror::Error)]
pub enum PidFileError {
    /// Another live process holds the pid file.
    #[error("{path}: loghogd is already running as pid {pid}")]
    Running {
        /// The pid file.
        path: PathBuf,
        /// The pid in it, alive.
        pid: i32,
    },
    /// The file could not be created, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The pid file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// A pid file this process created; removed when dropped.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    pid: u32,
}

impl PidFile {
    /// Create `path` exclusively (mode 0644) holding this process' pid.
    /// An existing file naming a dead process, or no pid at all, is stale
    /// and replaced; one naming a live process is an error.
    pub fn create(path: &Path) -> Result<PidFile, PidFileError> {
        let io_err = |source| PidFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let pid = std::process::id();
        // Two tries: the second after removing a stale file.
        for _ in 0..2 {
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(path)
            {
                Ok(mut f) => {
                    f.write_all(format!("{pid}\n").as_bytes())
                        .and_then(|()| f.sync_all())
                        .map_err(io_err)?;
                    return Ok(PidFile {
                        path: path.to_path_buf(),
                        pid,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let text = match std::fs::read_to_string(path) {
                        Ok(t) => t,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(io_err(e)),
                    };
                    if let Some(other) = text.trim().parse::<i32>().ok().filter(|p| *p > 0)
                        && alive(other)
                    {
                        return Err(PidFileError::Running {
                            path: path.to_path_buf(),
                            pid: other,
                        });
                    }
                    tracing::warn!(path = %path.display(), content = text.trim(), reason = "stale_pid_file", "replacing a stale pid file");
                    match std::fs::remove_file(path) {
                        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err(e)),
                        _ => {}
                    }
                }
                Err(e) => return Err(io_err(e)),
            }
        }
        Err(io_err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "pid file keeps reappearing",
        )))
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Only remove the file if it is still ours.
        let ours = std::fs::read_to_string(&self.path)
            .is_ok_and(|t| t.trim().parse::<u32>().ok() == Some(self.pid));
        if ours && let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove the pid file");
        }
    }
}

/// The pid of a live process named in the pid file at `path`, if any: a
/// daemon already running, found before anything is bound.
pub fn running(path: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(path).ok()?;
    let pid = text.trim().parse::<i32>().ok().filter(|p| *p > 0)?;
    (pid != std::process::id() as i32 && alive(pid)).then_some(pid)
}

/// Whether a process with this pid exists (EPERM: it does, owned by another user).
fn alive(pid: i32) -> bool {
    !matches!(kill(Pid::from_raw(pid), None), Err(Errno::ESRCH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_names_only_a_live_other_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loghogd.pid");
        assert_eq!(running(&path), None);
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        std::fs::write(&path, format!("{}\n", child.id())).unwrap();
        assert_eq!(running(&path), Some(child.id() as i32));
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(running(&path), None);
        std::fs::write(&path, "garbage\n").unwrap();
        assert_eq!(running(&path), None);
    }

    #[test]
    fn created_exclusively_and_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loghogd.pid");
        let pf = PidFile::create(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        // Held by a live process (this one): refused.
        match PidFile::create(&path) {
            Err(PidFileError::Running { pid, .. }) => assert_eq!(pid as u32, std::process::id()),
            other => panic!("{other:?}"),
        }
        drop(pf);
        assert!(!path.exists());
    }

    #[test]
    fn stale_or_garbage_pid_files_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loghogd.pid");
        // A child that has exited and been reaped: its pid is free.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        for stale in [format!("{dead}\n"), "garbage".to_string(), String::new()] {
            std::fs::write(&path, &stale).unwrap();
            let pf = PidFile::create(&path).unwrap();
            assert_eq!(
                std::fs::read_to_string(&path).unwrap().trim(),
                std::process::id().to_string()
            );
            drop(pf);
        }
    }

    #[test]
    fn someone_elses_file_is_not_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loghogd.pid");
        let pf = PidFile::create(&path).unwrap();
        std::fs::write(&path, "1\n").unwrap();
        drop(pf);
        assert!(path.exists());
    }
}
