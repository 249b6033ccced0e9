//! Start-up as root with `--user` (SPEC §6): the directories are created and
//! handed to the user before anything binds, and privileges are dropped
//! (supplementary groups, then group, then user) before any record is read.
//!
//! The order is fixed by `main`: directories → bind → fork → pid file →
//! drop privileges → runtime; this module owns the first and the fifth step.
use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use nix::unistd::{Gid, Uid, User, chown, geteuid};

use crate::config::DaemonConfig;
use crate::storage::open_live;
use crate::storage::state::STATE_FILE_NAME;

/// Why start-up as another user failed.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// The user named by `--user` / `[main] user` does not exist.
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    /// Looking the user up failed.
    #[error("cannot look up user {name:?}: {errno}")]
    Lookup {
        /// The user name.
        name: String,
        /// The error.
        errno: nix::errno::Errno,
    },
    /// A directory or file could not be created or handed over.
    #[error("{path}: {source}")]
    Path {
        /// The directory or file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// setgroups/setgid/setuid failed.
    #[error("cannot switch to user {name:?}: {source}")]
    Drop {
        /// The user name.
        name: String,
        /// The error.
        source: privdrop::PrivDropError,
    },
}

/// The user the daemon runs as after start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// The user name.
    pub name: String,
    /// Its uid.
    pub uid: Uid,
    /// Its primary group.
    pub gid: Gid,
}

/// The user to switch to: `Some` only when one is configured and we are
/// root (anyone else cannot switch; `main` warns that it is ignored).
pub fn resolve_user(name: Option<&str>) -> Result<Option<RunAs>, LifecycleError> {
    let Some(name) = name else { return Ok(None) };
    if !geteuid().is_root() {
        return Ok(None);
    }
    let user = User::from_name(name)
        .map_err(|errno| LifecycleError::Lookup {
            name: name.to_string(),
            errno,
        })?
        .ok_or_else(|| LifecycleError::UnknownUser(name.to_string()))?;
    Ok(Some(RunAs {
        name: name.to_string(),
        uid: user.uid,
        gid: user.gid,
    }))
}

/// Create workdir and logdir (0750), rundir (0755), the internal log's
/// directory and file, and, when switching users, give the user workdir,
/// logdir, rundir, the internal log and the state file (if any), so the
/// daemon can still rotate, reopen and remove its files after dropping
/// root. The log's and pid file's directories are handed over only when
/// this call created them: `/var/log` must stay root's.
pub fn prepare_directories(
    config: &DaemonConfig,
    user: Option<&RunAs>,
) -> Result<(), LifecycleError> {
    let mut owned = vec![
        config.workdir.clone(),
        config.logdir.clone(),
        config.rundir.clone(),
    ];
    let mut dirs = vec![
        (config.workdir.clone(), 0o750),
        (config.logdir.clone(), 0o750),
        (config.rundir.clone(), 0o755),
    ];
    dirs.extend(
        config
            .log
            .filename
            .parent()
            .map(|d| (d.to_path_buf(), 0o750)),
    );
    dirs.extend(config.pidfile.parent().map(|d| (d.to_path_buf(), 0o755)));
    for (dir, mode) in &dirs {
        if !dir.is_dir() {
            DirBuilder::new()
                .recursive(true)
                .mode(*mode)
                .create(dir)
                .map_err(|source| LifecycleError::Path {
                    path: dir.clone(),
                    source,
                })?;
            owned.push(dir.clone());
        }
    }
    open_live(&config.log.filename).map_err(|source| LifecycleError::Path {
        path: config.log.filename.clone(),
        source,
    })?;
    let Some(user) = user else { return Ok(()) };
    owned.push(config.log.filename.clone());
    let state = config.workdir.join(STATE_FILE_NAME);
    if state.exists() {
        owned.push(state);
    }
    owned.sort();
    owned.dedup();
    for path in owned {
        chown(&path, Some(user.uid), Some(user.gid)).map_err(|errno| LifecycleError::Path {
            path: path.clone(),
            source: errno.into(),
        })?;
    }
    Ok(())
}

/// Switch to `user` and its groups for good (setgroups, setgid, setuid).
pub fn drop_privileges(user: &RunAs) -> Result<(), LifecycleError> {
    privdrop::PrivDrop::default()
        .user(&user.name)
        .include_default_supplementary_groups()
        .apply()
        .map_err(|source| LifecycleError::Drop {
            name: user.name.clone(),
            source,
        })
}
