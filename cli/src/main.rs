//! `dpop`: OAuth 2.0 DPoP (RFC 9449) from the command line, over dpop-core. See `dpop --help`
//! and cli/README.md.
#![forbid(unsafe_code)]

mod args;
mod auth;
mod exit;
mod help;
mod input;
mod keys;
mod output;
mod request;
mod session;

use exit::{Exit, Failure};
use std::ffi::OsString;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let command = args.next();
    let rest: Vec<OsString> = args.collect();
    let outcome = match command.as_ref().and_then(|c| c.to_str()) {
        Some("keygen") => keys::keygen(rest),
        Some("thumbprint") => keys::thumbprint(rest),
        Some("jwk") => keys::jwk(rest),
        Some("proof") => keys::proof(rest),
        Some(command @ ("get" | "post" | "request")) => request::run(command, rest),
        Some("-h" | "--help" | "help") => output::help(help::MAIN),
        Some("-V" | "--version") => {
            output::line(concat!("dpop ", env!("CARGO_PKG_VERSION"))).map(|()| Exit::Success)
        }
        Some(other) => Err(Failure::usage(format!("unknown command '{other}'"))),
        None if command.is_some() => Err(Failure::usage("the command is not valid UTF-8")),
        None => Err(Failure::usage("no command given")),
    };
    match outcome {
        Ok(exit) => exit.into(),
        Err(failure) => {
            // One line, whatever the message holds (it may quote a server's text).
            let message: String = failure
                .message
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            let known = ["keygen", "thumbprint", "jwk", "proof", "get", "post", "request"];
            match command.as_ref().and_then(|c| c.to_str()) {
                _ if !failure.see_help => eprintln!("dpop: {message}"),
                Some(command) if known.contains(&command) => {
                    eprintln!("dpop {command}: {message} (see 'dpop {command} --help')")
                }
                _ => eprintln!("dpop: {message} (see 'dpop --help')"),
            }
            failure.exit.into()
        }
    }
}
