//! `[cluster] nats_creds`: the NATS credentials file (a user JWT and the
//! user's NKey seed), read and checked with the configuration.
//!
//! It is read then, as the user loghogd starts as, because that is before
//! privileges are dropped: a file only root may read (as a secret should
//! be) still serves a node that runs as `user = loghog`. The text is kept
//! in memory and never printed.
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A credentials file's path and contents.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    path: PathBuf,
    text: String,
    /// Its permission bits when read.
    mode: u32,
}

impl Credentials {
    /// Reads `path` and checks that the NATS client can take it (a
    /// decorated user JWT and a user seed). The error says what is wrong,
    /// for a `file:line: [cluster] nats_creds:` prefix.
    pub fn read(path: &Path) -> Result<Credentials, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("'{}' cannot be read: {e}", path.display()))?;
        // The parser the connection uses: what passes here connects.
        async_nats::ConnectOptions::with_credentials(&text).map_err(|e| {
            format!(
                "'{}' is not a NATS credentials file ({e}); it holds a user JWT and \
                 the user's seed, as `nsc generate creds` writes it",
                path.display()
            )
        })?;
        let mode = std::fs::metadata(path).map_or(0, |m| m.permissions().mode() & 0o7777);
        Ok(Credentials {
            path: path.to_path_buf(),
            text,
            mode,
        })
    }

    /// The file's permission bits, when users other than its owner may
    /// read it (it holds a secret seed).
    pub fn readable_by_others(&self) -> Option<u32> {
        (self.mode & 0o044 != 0).then_some(self.mode)
    }

    /// Where the credentials were read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The NATS connection options that sign in with these credentials.
    pub fn connect_options(&self) -> std::io::Result<async_nats::ConnectOptions> {
        async_nats::ConnectOptions::with_credentials(&self.text)
    }
}

impl std::fmt::Debug for Credentials {
    // The seed is a secret: a debug print shows where it came from only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_jwt_and_seed_is_refused_and_debug_hides_the_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.creds");
        let e = Credentials::read(&path).unwrap_err();
        assert!(e.contains("cannot be read"), "{e}");
        std::fs::write(&path, "just some text\n").unwrap();
        let e = Credentials::read(&path).unwrap_err();
        assert!(e.contains("is not a NATS credentials file"), "{e}");

        let seed = nkeys::KeyPair::new_user().seed().unwrap();
        std::fs::write(
            &path,
            format!(
                "-----BEGIN NATS USER JWT-----\neyJ0eXAi.eyJqdGki.c2ln\n------END NATS USER JWT------\n\n\
                 -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let c = Credentials::read(&path).unwrap();
        assert_eq!(c.readable_by_others(), None);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(
            Credentials::read(&path).unwrap().readable_by_others(),
            Some(0o640)
        );
        assert_eq!(c.path(), path);
        assert!(c.connect_options().is_ok());
        assert!(!format!("{c:?}").contains(&seed), "{c:?}");
    }
}
