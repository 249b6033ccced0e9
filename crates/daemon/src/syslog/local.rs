//! The local syslog socket (`syslog_socket`, like `/dev/log`): a unix
//! datagram socket bound before privileges are dropped, with its mode set
//! explicitly (the umask must not decide who may log).
//!
//! A socket file left by a crash is replaced; one that a live process still
//! serves (journald, rsyslog) is not: binding fails and says who to stop.
//! The file is removed when the daemon stops, if it is still ours.
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

/// The bound socket and the file that names it.
#[derive(Debug)]
pub struct LocalSocket {
    /// The socket, non-blocking.
    pub socket: UnixDatagram,
    /// Removes the file when dropped.
    pub file: SocketFile,
}

/// The socket's path; dropping it removes the file if it is still the one
/// this daemon bound (same device and inode).
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    id: (u64, u64),
}

impl SocketFile {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.file_type().is_socket() && (m.dev(), m.ino()) == self.id);
        if !ours {
            return;
        }
        if let Err(e) = std::fs::remove_file(&self.path) {
            // After dropping root, /dev is not ours to change: the next
            // start replaces the stale file.
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove the syslog socket");
        }
    }
}

/// Binds `path` with permission bits `mode`, replacing a stale socket file.
pub fn bind(path: &Path, mode: u32) -> io::Result<LocalSocket> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            let probe = UnixDatagram::unbound()?;
            if probe.connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "another process serves this socket (stop it first: for /dev/log, \
                     systemd-journald's socket units or rsyslog)",
                ));
            }
            std::fs::remove_file(path)?;
            tracing::info!(path = %path.display(), "replaced a stale syslog socket");
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a socket (not removed)",
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let socket = UnixDatagram::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    socket.set_nonblocking(true)?;
    // Bursts wait here while a batch is routed; capped by net.core.rmem_max.
    let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(8 << 20);
    let m = std::fs::symlink_metadata(path)?;
    Ok(LocalSocket {
        socket,
        file: SocketFile {
            path: path.to_path_buf(),
            id: (m.dev(), m.ino()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_is_set_and_the_file_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let s = bind(&path, 0o620).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o620);
        drop(s);
        assert!(!path.exists());
    }

    #[test]
    fn a_stale_socket_is_replaced_but_a_live_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let live = UnixDatagram::bind(&path).unwrap();
        let e = bind(&path, 0o666).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        drop(live); // the file stays: now stale
        assert!(path.exists());
        let s = bind(&path, 0o666).unwrap();
        let sender = UnixDatagram::unbound().unwrap();
        sender.send_to(b"x", &path).unwrap();
        let mut buf = [0u8; 4];
        s.socket.set_nonblocking(false).unwrap();
        s.socket
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        assert_eq!(s.socket.recv(&mut buf).unwrap(), 1);
    }

    #[test]
    fn a_regular_file_is_never_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, "keep").unwrap();
        assert!(bind(&path, 0o666).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep");
    }
}
