//! Opening the system browser with the authorization URL (RFC 8252 §4.1: the user's own
//! browser, never an embedded one): the program named by `DPOP_BROWSER` (headless setups and
//! tests), else `xdg-open`, `open` (macOS) or `rundll32 url.dll,FileProtocolHandler` (Windows).
//! Run directly with the URL as one argument, never through a shell.

use crate::error::{Error, ErrorKind, Result};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable naming the program that opens the URL instead of the browser.
pub(crate) const BROWSER_VARIABLE: &str = "DPOP_BROWSER";

/// How long a system launcher (which hands the URL to the browser and exits) is waited for,
/// so that its failure can be reported.
const LAUNCHER_WAIT: Duration = Duration::from_secs(5);

/// Opens `url` in the browser.
pub(crate) fn open(url: &str) -> Result<()> {
    let configured = std::env::var_os(BROWSER_VARIABLE).filter(|v| !v.is_empty());
    let (mut command, name, launcher) = match &configured {
        Some(program) => (
            Command::new(program),
            format!("{BROWSER_VARIABLE}={}", program.to_string_lossy()),
            false,
        ),
        None => system_launcher(),
    };
    command.arg(url).stdin(Stdio::null()).stdout(Stdio::null());
    #[cfg(unix)]
    if !runnable(command.get_program()) {
        return Err(failed(&name, "there is no such program to run"));
    }
    let child = command.spawn().map_err(|e| failed(&name, &e.to_string()))?;
    if launcher {
        wait_for_launcher(child, &name)
    } else {
        // The host's program may run as long as it likes (a test's browser stand-in does the
        // whole redirect); it is reaped when it ends.
        reap(child);
        Ok(())
    }
}

#[cfg(windows)]
fn system_launcher() -> (Command, String, bool) {
    let mut command = Command::new("rundll32");
    command.arg("url.dll,FileProtocolHandler");
    (command, "rundll32 url.dll,FileProtocolHandler".into(), true)
}

#[cfg(target_os = "macos")]
fn system_launcher() -> (Command, String, bool) {
    (Command::new("open"), "open".into(), true)
}

#[cfg(not(any(windows, target_os = "macos")))]
fn system_launcher() -> (Command, String, bool) {
    (Command::new("xdg-open"), "xdg-open".into(), true)
}

/// A launcher that exits with a failure, within [`LAUNCHER_WAIT`], did not open the browser.
/// (`rundll32` reports nothing through its exit status.)
fn wait_for_launcher(mut child: Child, name: &str) -> Result<()> {
    let until = Instant::now() + LAUNCHER_WAIT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() || cfg!(windows) => return Ok(()),
            Ok(Some(status)) => return Err(failed(name, &format!("it exited with {status}"))),
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                reap(child);
                return Ok(());
            }
            Err(e) => return Err(failed(name, &e.to_string())),
        }
    }
}

/// Whether `program` names an executable file, as `execvp` finds it: the path itself when it
/// has a `/`, else in the directories of `PATH`. (A spawn reports a missing program by itself,
/// except where the child's exec error cannot reach the parent, as under valgrind.)
#[cfg(unix)]
fn runnable(program: &std::ffi::OsStr) -> bool {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;
    let executable = |path: &Path| {
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let path = Path::new(program);
    if program.as_encoded_bytes().contains(&b'/') {
        return executable(path);
    }
    std::env::var_os("PATH")
        .is_some_and(|dirs| std::env::split_paths(&dirs).any(|dir| executable(&dir.join(path))))
}

fn reap(mut child: Child) {
    let _ = std::thread::Builder::new()
        .name("dpop-browser-reaper".into())
        .spawn(move || child.wait());
}

/// The URL is never part of the message: it holds the sign-in's `state` (the host reads it
/// with the sign-in URL function).
fn failed(name: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::SignIn,
        format!(
            "could not open the browser with {name}: {why}. The sign-in is waiting: open its URL \
             (the sign-in URL) in a browser by hand, or set {BROWSER_VARIABLE} to a program that \
             opens URLs"
        ),
    )
}
