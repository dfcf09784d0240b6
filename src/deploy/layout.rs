//! The versioned on-disk layout of a managed certificate:
//!
//! ```text
//! <output_dir>/versions/<version>/{privkey.pem, cert.pem, chain.pem, fullchain.pem}
//! <output_dir>/current -> versions/<version>
//! ```
//!
//! A new version is written completely (each file: temp file, fsync, rename; then the directory
//! is fsynced) before `current` is swapped with one atomic `rename` of a symlink. A crash at any
//! point therefore leaves `current` on the old version or on the new one, and the key and the
//! certificate in it always belong together. Keys are 0600 and directories 0700.

use std::path::{Path, PathBuf};

/// Why material could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    /// A filesystem operation failed.
    #[error(transparent)]
    Io(#[from] crate::durable::DurableError),
    /// The material is not what it must be.
    #[error("{0}")]
    Invalid(String),
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> DeployError + 'a {
    move |source| {
        DeployError::Io(crate::durable::DurableError {
            action,
            path: path.to_path_buf(),
            source,
        })
    }
}

/// The layout rooted at a certificate's output directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/current`: the directory servers should read.
    pub fn current(&self) -> PathBuf {
        self.root.join("current")
    }

    /// The version `current` points at, if any.
    pub fn current_version(&self) -> Option<String> {
        let target = std::fs::read_link(self.current()).ok()?;
        target.file_name()?.to_str().map(str::to_string)
    }

    pub fn version_dir(&self, version: &str) -> PathBuf {
        self.root.join("versions").join(version)
    }

    /// Reads a file of the current version (`cert.pem`, `privkey.pem`, ...).
    pub fn read_current(&self, file: &str) -> Option<String> {
        std::fs::read_to_string(self.current().join(file)).ok()
    }

    /// Creates `versions/<version>` (0700), and the root if needed.
    pub fn prepare(&self, version: &str) -> Result<PathBuf, DeployError> {
        let dir = self.version_dir(version);
        create_private_dir(&dir)?;
        Ok(dir)
    }

    /// Writes the private key of a version (0600), durably.
    pub fn write_key(&self, version: &str, pem: &str) -> Result<(), DeployError> {
        let dir = self.prepare(version)?;
        write_atomic(&dir.join("privkey.pem"), pem.as_bytes(), 0o600)?;
        Ok(sync_dir(&dir)?)
    }

    /// Writes the certificate files of a version next to its key, then makes it `current`.
    pub fn install(&self, version: &str, fullchain_pem: &str) -> Result<(), DeployError> {
        let dir = self.version_dir(version);
        if !dir.join("privkey.pem").exists() {
            return Err(DeployError::Invalid(format!(
                "{} has no privkey.pem: refusing to install a certificate without its key",
                dir.display()
            )));
        }
        let (leaf, chain) = split_chain(fullchain_pem)?;
        write_atomic(&dir.join("cert.pem"), leaf.as_bytes(), 0o644)?;
        write_atomic(&dir.join("chain.pem"), chain.as_bytes(), 0o644)?;
        write_atomic(&dir.join("fullchain.pem"), fullchain_pem.as_bytes(), 0o644)?;
        sync_dir(&dir)?;
        self.activate(version)
    }

    /// Points `current` at `version` with one atomic rename.
    pub fn activate(&self, version: &str) -> Result<(), DeployError> {
        let tmp = self.root.join(".current.tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(Path::new("versions").join(version), &tmp)
            .map_err(io("cannot create symlink", &tmp))?;
        std::fs::rename(&tmp, self.current()).map_err(io("cannot swap", &self.current()))?;
        Ok(sync_dir(&self.root)?)
    }
}

/// Splits a PEM chain into the leaf and the rest.
fn split_chain(fullchain: &str) -> Result<(String, String), DeployError> {
    const END: &str = "-----END CERTIFICATE-----";
    let Some(at) = fullchain.find(END) else {
        return Err(DeployError::Invalid(
            "the CA returned no PEM certificate".into(),
        ));
    };
    let cut = at + END.len();
    let leaf = format!("{}\n", fullchain[..cut].trim());
    let rest = fullchain[cut..].trim();
    let chain = if rest.is_empty() {
        String::new()
    } else {
        format!("{rest}\n")
    };
    Ok((leaf, chain))
}

pub use crate::durable::{Staged, create_private_dir, stage, sync_dir, write_atomic};

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const CHAIN: &str = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n";

    #[test]
    fn install_swaps_current_and_keeps_the_old_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(&dir.path().join("www"));
        layout.write_key("v1", "KEY1").expect("key");
        layout.install("v1", CHAIN).expect("install");
        assert_eq!(layout.current_version().as_deref(), Some("v1"));
        assert_eq!(layout.read_current("privkey.pem").as_deref(), Some("KEY1"));
        assert!(
            layout
                .read_current("cert.pem")
                .expect("cert")
                .contains("AAAA")
        );
        assert!(
            !layout
                .read_current("cert.pem")
                .expect("cert")
                .contains("BBBB")
        );
        assert!(
            layout
                .read_current("chain.pem")
                .expect("chain")
                .contains("BBBB")
        );
        let mode = std::fs::metadata(layout.current().join("privkey.pem"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        layout.write_key("v2", "KEY2").expect("key");
        // Until the new certificate is installed, `current` still serves the old pair.
        assert_eq!(layout.read_current("privkey.pem").as_deref(), Some("KEY1"));
        layout.install("v2", CHAIN).expect("install");
        assert_eq!(layout.read_current("privkey.pem").as_deref(), Some("KEY2"));
        assert!(layout.version_dir("v1").join("cert.pem").exists());
    }

    #[test]
    fn refuses_a_certificate_without_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path());
        layout.prepare("v1").expect("prepare");
        assert!(layout.install("v1", CHAIN).is_err());
        assert!(layout.current_version().is_none());
    }
}
