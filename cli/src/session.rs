//! `--session-log` and `--verbose`: both are the core's session log, which masks credentials,
//! tokens, proofs and the client secret. `--verbose` copies what the log gained during the
//! command to stderr; without `--session-log` the log is a private temporary file, removed at
//! the end.

use crate::exit::{Exit, Failure};
use dpop_core::Client;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The part of a session log that `--verbose` prints.
pub struct Capture {
    path: PathBuf,
    /// Where this command's records start.
    from: u64,
    temporary: bool,
}

/// Starts the session log the options ask for; the capture `--verbose` prints at the end.
pub fn start(client: &Client, session_log: Option<&str>, verbose: bool) -> Result<Option<Capture>, Failure> {
    let capture = match (session_log, verbose) {
        (None, false) => return Ok(None),
        (Some(path), _) => Capture {
            path: PathBuf::from(path),
            from: std::fs::metadata(path).map_or(0, |m| m.len()),
            temporary: false,
        },
        (None, true) => Capture {
            path: temporary_file()?,
            from: 0,
            temporary: true,
        },
    };
    client
        .set_session_log(Some(&capture.path))
        .map_err(|e| Failure::new(Exit::Other, e.message()))?;
    Ok(verbose.then_some(capture))
}

impl Capture {
    /// Stops the log and copies this command's records to stderr.
    pub fn print(&self, client: &Client) {
        // Closing the log first: every record is complete.
        let _ = client.set_session_log(None);
        let mut text = Vec::new();
        let read = std::fs::File::open(&self.path).and_then(|mut file| {
            file.seek(SeekFrom::Start(self.from))?;
            file.read_to_end(&mut text)
        });
        let mut stderr = std::io::stderr().lock();
        let _ = match read {
            Ok(_) => stderr.write_all(&text),
            Err(e) => writeln!(stderr, "dpop: cannot read the session log back: {e}"),
        };
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A new file in the temporary directory, readable by its owner only. Created here with
/// `create_new`, so that no file or link planted under the name is ever written to.
fn temporary_file() -> Result<PathBuf, Failure> {
    let dir = std::env::temp_dir();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut last_error = None;
    for attempt in 0..16u32 {
        let path = dir.join(format!(
            "dpop-verbose-{}-{nanos:x}-{attempt}.log",
            std::process::id()
        ));
        match create_private(&path) {
            Ok(()) => return Ok(path),
            Err(e) => last_error = Some(e),
        }
    }
    let e = last_error.expect("at least one attempt was made");
    Err(Failure::new(
        Exit::Other,
        format!(
            "cannot create a temporary session log in '{}': {e}",
            dir.display()
        ),
    ))
}

fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop)
}
