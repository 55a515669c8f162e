//! A small command-line parser: each command lists its options, the parser checks the command
//! line against that list and hands back the values by name.
//!
//! Accepted forms, as in most Unix tools: `--name value`, `--name=value`, `-x value`, `-xvalue`,
//! grouped short flags (`-iv`), `--` to end the options, and `-` as an operand (stdin).
//! Written by hand: a dozen lines of what a parser crate would bring, no dependency to audit.

use crate::exit::Failure;
use std::ffi::OsString;

/// One option a command accepts.
pub struct Opt {
    /// The long name, without `--`.
    pub long: &'static str,
    /// The short letter, if any.
    pub short: Option<char>,
    /// Whether it takes a value.
    pub value: bool,
    /// Whether it may be given more than once (`-H`).
    pub repeat: bool,
}

/// An option with a value.
pub const fn value(long: &'static str) -> Opt {
    Opt {
        long,
        short: None,
        value: true,
        repeat: false,
    }
}

/// An option without a value.
pub const fn flag(long: &'static str) -> Opt {
    Opt {
        long,
        short: None,
        value: false,
        repeat: false,
    }
}

impl Opt {
    /// The same option with a short letter.
    pub const fn short(mut self, letter: char) -> Opt {
        self.short = Some(letter);
        self
    }

    /// The same option, allowed more than once.
    pub const fn repeatable(mut self) -> Opt {
        self.repeat = true;
        self
    }
}

/// A parsed command line: the options given, in order, and the operands.
#[derive(Debug, Default)]
pub struct Args {
    /// `(long name, value)`; flags carry an empty value.
    given: Vec<(&'static str, String)>,
    /// The arguments that are not options, in order.
    pub operands: Vec<String>,
    /// Whether `-h`/`--help` was given.
    pub help: bool,
}

impl Args {
    /// The value of option `long`, if given.
    pub fn value(&self, long: &str) -> Option<&str> {
        self.given
            .iter()
            .find(|(name, _)| *name == long)
            .map(|(_, value)| value.as_str())
    }

    /// Every value of a repeatable option, in order.
    pub fn values<'a>(&'a self, long: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.given
            .iter()
            .filter(move |(name, _)| *name == long)
            .map(|(_, value)| value.as_str())
    }

    /// Whether option `long` was given.
    pub fn flag(&self, long: &str) -> bool {
        self.given.iter().any(|(name, _)| *name == long)
    }

    /// The value of an option the command cannot do without.
    pub fn required(&self, long: &str) -> Result<&str, Failure> {
        self.value(long)
            .ok_or_else(|| Failure::usage(format!("--{long} is required")))
    }
}

/// Parses `args` (the arguments after the command name) against `opts`.
///
/// Error messages name the option but never repeat a value: a value may be a secret typed in
/// the wrong place.
pub fn parse(opts: &[Opt], args: impl IntoIterator<Item = OsString>) -> Result<Args, Failure> {
    let mut parsed = Args::default();
    let mut args = args.into_iter();
    let mut options_ended = false;
    while let Some(arg) = args.next() {
        let arg = arg
            .into_string()
            .map_err(|_| Failure::usage("an argument is not valid UTF-8"))?;
        if options_ended || arg == "-" || !arg.starts_with('-') {
            parsed.operands.push(arg);
        } else if arg == "--" {
            options_ended = true;
        } else if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (long, None),
            };
            if name == "help" {
                parsed.help = true;
                continue;
            }
            let opt = opts
                .iter()
                .find(|o| o.long == name)
                .ok_or_else(|| Failure::usage(format!("unknown option '--{name}'")))?;
            let value = match (opt.value, inline) {
                (true, Some(value)) => value,
                (true, None) => next_value(&mut args, &format!("--{name}"))?,
                (false, None) => String::new(),
                (false, Some(_)) => return Err(Failure::usage(format!("--{name} takes no value"))),
            };
            parsed.add(opt, value)?;
        } else {
            // Short options: flags may be grouped; one taking a value takes the rest of the
            // argument, or the next argument.
            let letters = &arg[1..];
            for (at, letter) in letters.char_indices() {
                if letter == 'h' {
                    parsed.help = true;
                    continue;
                }
                let opt = opts
                    .iter()
                    .find(|o| o.short == Some(letter))
                    .ok_or_else(|| Failure::usage(format!("unknown option '-{letter}'")))?;
                if opt.value {
                    let rest = &letters[at + letter.len_utf8()..];
                    let value = if rest.is_empty() {
                        next_value(&mut args, &format!("-{letter}"))?
                    } else {
                        rest.to_string()
                    };
                    parsed.add(opt, value)?;
                    break;
                }
                parsed.add(opt, String::new())?;
            }
        }
    }
    Ok(parsed)
}

impl Args {
    fn add(&mut self, opt: &Opt, value: String) -> Result<(), Failure> {
        if !opt.repeat && self.flag(opt.long) {
            return Err(Failure::usage(format!("--{} is given more than once", opt.long)));
        }
        self.given.push((opt.long, value));
        Ok(())
    }
}

fn next_value(args: &mut impl Iterator<Item = OsString>, shown: &str) -> Result<String, Failure> {
    args.next()
        .ok_or_else(|| Failure::usage(format!("{shown} needs a value")))?
        .into_string()
        .map_err(|_| Failure::usage(format!("the value of {shown} is not valid UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTS: [Opt; 4] = [
        value("header").short('H').repeatable(),
        flag("include").short('i'),
        flag("verbose").short('v'),
        value("out").short('o'),
    ];

    fn parse_strs(args: &[&str]) -> Result<Args, Failure> {
        parse(&OPTS, args.iter().map(OsString::from))
    }

    #[test]
    fn every_usual_form_is_understood() {
        let args = parse_strs(&[
            "-H",
            "A: 1",
            "-HB: 2",
            "--header=C: 3",
            "-iv",
            "-ofile",
            "url",
            "-",
            "--",
            "-x",
        ])
        .unwrap();
        assert_eq!(
            args.values("header").collect::<Vec<_>>(),
            ["A: 1", "B: 2", "C: 3"]
        );
        assert!(args.flag("include") && args.flag("verbose"));
        assert_eq!(args.value("out"), Some("file"));
        assert_eq!(args.operands, ["url", "-", "-x"]);
        assert!(parse_strs(&["url", "--help"]).unwrap().help);
        assert!(parse_strs(&["-h"]).unwrap().help);
    }

    #[test]
    fn mistakes_are_named_without_their_values() {
        let message = |args: &[&str]| parse_strs(args).err().unwrap().message;
        assert_eq!(message(&["--nope"]), "unknown option '--nope'");
        assert_eq!(message(&["-x"]), "unknown option '-x'");
        assert_eq!(message(&["-o"]), "-o needs a value");
        assert_eq!(message(&["--include=s3cret"]), "--include takes no value");
        assert_eq!(
            message(&["-o", "a", "--out", "b"]),
            "--out is given more than once"
        );
    }
}
