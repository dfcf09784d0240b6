//! Durable file writes, shared by everything that must not leave half a file behind (issued
//! material, deploy targets, ACME accounts): write a temporary file beside the destination,
//! fsync it, rename it into place, fsync the directory. Private directories are created 0700.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// A file system operation failed, on this path.
#[derive(Debug, thiserror::Error)]
#[error("{action} {}: {source}", path.display())]
pub struct DurableError {
    pub action: &'static str,
    pub path: PathBuf,
    pub source: std::io::Error,
}

fn io<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> DurableError + 'a {
    move |source| DurableError {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `path` through a temporary file in the same directory: write, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), DurableError> {
    let staged = stage(path, bytes, mode)?;
    staged.commit()
}

/// A complete, fsynced temporary file beside its destination, not yet renamed into place.
/// Dropping it uncommitted removes it, so a full or read-only disk leaves no half files behind.
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    dest: PathBuf,
    done: bool,
}

impl Staged {
    pub fn tmp(&self) -> &Path {
        &self.tmp
    }

    /// Renames the staged file over its destination (atomic on POSIX file systems).
    pub fn commit(mut self) -> Result<(), DurableError> {
        std::fs::rename(&self.tmp, &self.dest)
            .map_err(io("cannot rename into place", &self.dest))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to a temporary file next to `path` (write, fsync), ready to [`Staged::commit`].
pub fn stage(path: &Path, bytes: &[u8], mode: u32) -> Result<Staged, DurableError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io("cannot create", &tmp))?;
    let staged = Staged {
        tmp,
        dest: path.to_path_buf(),
        done: false,
    };
    file.write_all(bytes)
        .map_err(io("cannot write", &staged.tmp))?;
    file.sync_all().map_err(io("cannot fsync", &staged.tmp))?;
    Ok(staged)
}

/// Creates a directory (and parents) with mode 0700 if it does not exist.
pub fn create_private_dir(dir: &Path) -> Result<(), DurableError> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io("cannot create", dir))
}

/// fsyncs a directory, making renames inside it durable.
pub fn sync_dir(dir: &Path) -> Result<(), DurableError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("cannot fsync directory", dir))
}
