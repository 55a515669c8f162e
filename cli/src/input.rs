//! Inputs named on the command line: files or `-` for stdin, and the secrets that must not be
//! typed as arguments (other users see a process's arguments in `ps` and /proc).

use crate::exit::{Exit, Failure};
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use zeroize::Zeroizing;

/// The password of an encrypted key.
pub const KEY_PASSWORD_VAR: &str = "DPOP_KEY_PASSWORD";
/// The client secret, when the token settings come from flags or a file without one.
pub const CLIENT_SECRET_VAR: &str = "DPOP_CLIENT_SECRET";

/// Set once stdin has been read: only one input can come from it.
static STDIN_TAKEN: AtomicBool = AtomicBool::new(false);

/// Reads `path` (`-`: stdin) whole; `what` names the input in messages, `exit` is the code
/// of a failure.
pub fn read(path: &str, what: &str, exit: Exit) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let mut data = Zeroizing::new(Vec::new());
    let outcome = if path == "-" {
        if STDIN_TAKEN.swap(true, Ordering::SeqCst) {
            return Err(Failure::usage(format!(
                "{what}: only one input can come from stdin ('-')"
            )));
        }
        std::io::stdin().lock().read_to_end(&mut data)
    } else {
        std::fs::File::open(path).and_then(|mut file| file.read_to_end(&mut data))
    };
    match outcome {
        Ok(_) => Ok(data),
        Err(e) if path == "-" => Err(Failure::new(exit, format!("cannot read {what} from stdin: {e}"))),
        Err(e) => Err(Failure::new(exit, format!("cannot read {what} '{path}': {e}"))),
    }
}

/// Reads a secret kept in a file: its first line, without the line end.
pub fn secret_file(path: &str, what: &str) -> Result<Zeroizing<String>, Failure> {
    let data = read(path, what, Exit::Usage)?;
    let text = std::str::from_utf8(&data)
        .map_err(|_| Failure::usage(format!("{what} in '{path}' is not UTF-8 text")))?;
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        return Err(Failure::usage(format!("{what} in '{path}' is empty")));
    }
    Ok(Zeroizing::new(line.to_string()))
}

/// An environment variable holding a secret; unset and empty both mean none.
pub fn secret_var(name: &str) -> Option<Zeroizing<String>> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.is_empty())
        .map(Zeroizing::new)
}

/// Warns that `option` put a secret where every user of the machine can read it.
pub fn warn_visible(option: &str, instead: &str) {
    eprintln!(
        "dpop: warning: {option} on the command line is visible to other users (ps, /proc); use {instead} instead"
    );
}

/// The key password: the first line of `--password-file`, else `DPOP_KEY_PASSWORD`.
pub fn key_password(password_file: Option<&str>) -> Result<Option<Zeroizing<String>>, Failure> {
    match password_file {
        Some(path) => secret_file(path, "the key password").map(Some),
        None => Ok(secret_var(KEY_PASSWORD_VAR)),
    }
}
