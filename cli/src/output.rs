//! Writing results: stdout (a closed pipe, as in `dpop get URL | head`, is not an error), files
//! and help texts.

use crate::exit::{Exit, Failure};
use std::io::{ErrorKind, Write};

/// Writes `bytes` to stdout as they are.
pub fn stdout(bytes: &[u8]) -> Result<(), Failure> {
    stdout_parts(&[bytes])
}

/// Writes `text` and a newline to stdout (without a copy: the text may be a private key).
pub fn line(text: &str) -> Result<(), Failure> {
    stdout_parts(&[text.as_bytes(), b"\n"])
}

fn stdout_parts(parts: &[&[u8]]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    let written = parts
        .iter()
        .try_for_each(|part| out.write_all(part))
        .and_then(|()| out.flush());
    match written {
        Err(e) if e.kind() != ErrorKind::BrokenPipe => {
            Err(Failure::new(Exit::Other, format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

/// Writes `bytes` to a new or replaced file at `path`.
pub fn file(path: &str, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, bytes).map_err(|e| Failure::new(Exit::Other, format!("cannot write '{path}': {e}")))
}

/// Prints a help text to stdout; asking for help succeeds.
pub fn help(text: &str) -> Result<Exit, Failure> {
    stdout(text.as_bytes())?;
    Ok(Exit::Success)
}
