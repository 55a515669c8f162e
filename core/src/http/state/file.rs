//! The state file on disk: read with a size limit, written owner-only to a temporary file in
//! the same directory and renamed over the old one, deleted.

use crate::error::{Error, ErrorKind, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A saved state is a few kilobytes; anything over this is not one.
const MAX_STATE_FILE: u64 = 1 << 20;

fn io_error(what: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::new(ErrorKind::Io, format!("cannot {what} '{}': {e}", path.display()))
}

/// Reads the whole file, refusing one too large to be a saved state.
pub(super) fn read(path: &Path) -> Result<Vec<u8>> {
    let file = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::new(
            ErrorKind::Io,
            format!("there is no saved state at '{}'", path.display()),
        ),
        _ => io_error("open the saved state", path, &e),
    })?;
    let mut data = Vec::new();
    file.take(MAX_STATE_FILE + 1)
        .read_to_end(&mut data)
        .map_err(|e| io_error("read the saved state", path, &e))?;
    if data.len() as u64 > MAX_STATE_FILE {
        return Err(Error::new(
            ErrorKind::StateCorrupt,
            "the file is larger than 1 MiB and cannot be a saved state",
        ));
    }
    Ok(data)
}

/// Tells temporary files of one process apart.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replaces the file at `path` with `bytes` at once: a reader sees the old file or the new
/// one, never a part. The new file is created readable and writable by its owner only on Unix
/// (0600); on Windows it gets the directory's permissions, as the session log does (a user's
/// profile folders are that user's).
pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let Some(name) = path.file_name() else {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("the state path '{}' names no file", path.display()),
        ));
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(
        ".{}-{}.tmp",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let temp: PathBuf = dir.join(temp_name);
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&temp)
        .map_err(|e| io_error("create a file next to", path, &e))?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error("write the saved state", path, &e));
    drop(file);
    let renamed = written.and_then(|()| {
        std::fs::rename(&temp, path).map_err(|e| io_error("replace the saved state", path, &e))
    });
    if renamed.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    renamed?;
    // The rename lasts across a crash once the directory is on disk too.
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Deletes the file; one that is not there is fine.
pub(super) fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("delete the saved state", path, &e)),
    }
}
