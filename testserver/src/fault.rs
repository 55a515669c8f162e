//! Misbehaviours an endpoint can be given ([`Config::token_fault`], [`Config::api_fault`]), for
//! testing how a client copes with a broken server.
//!
//! [`Config::token_fault`]: crate::Config::token_fault
//! [`Config::api_fault`]: crate::Config::api_fault

use crate::config::Config;
use crate::http::{Body, Response};
use crate::state::Shared;
use std::fmt;
use std::str::FromStr;

/// How one endpoint misbehaves. A request to it is counted and recorded as usual; the fault then
/// decides the answer. Faults that replace the answer do so before the endpoint looks at the
/// request (nothing is issued or checked); [`Fault::NonceOn200`] and
/// [`Fault::EndlessInvalidToken`] let the endpoint check the request first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 500 with an OAuth-style JSON error (`server_error`).
    Status500,
    /// 200 with an HTML page (`text/html`), as a captive portal or a misrouted proxy answers.
    HtmlBody,
    /// 200 with a JSON token response that has everything but `access_token`. Token endpoint only.
    NoAccessToken,
    /// The request is read and recorded (status 0) and never answered: the connection stays open
    /// until the server stops.
    Hang,
    /// The connection is reset (TCP RST) as soon as the request head has arrived, unanswered; the
    /// request is recorded (status 0) with the body unread. Over TLS the connection is closed
    /// instead (a TLS stream cannot leave input unread).
    Reset,
    /// 200 with `Content-Length` N and N filler bytes, made while they are written: a 200 MB body
    /// costs the server no memory.
    HugeBody(u64),
    /// 200 with a body of `bytes` filler bytes sent at `per_second` bytes per second (a tenth
    /// every 100 ms), so that every read gets data soon but the whole body takes long.
    Trickle {
        /// The body length.
        bytes: u64,
        /// The rate, at least 1.
        per_second: u64,
    },
    /// 302 Found to this `Location`.
    Redirect(String),
    /// 200 `application/octet-stream` with [`Fault::BINARY_BODY`]: NUL, CR, LF and bytes that
    /// are not UTF-8.
    BinaryBody,
    /// 401 with a `DPoP-Nonce` and a `WWW-Authenticate` that is cut off inside a quoted string
    /// ([`Fault::MALFORMED_CHALLENGE`]): no valid challenge, although its text contains
    /// `use_dpop_nonce`. The body is plain text, so it carries no OAuth error either.
    MalformedChallenge,
    /// The endpoint answers as usual, and every 2xx answer carries a fresh `DPoP-Nonce` although
    /// the server demands none (a client should use it in its next proof).
    NonceOn200,
    /// The API checks the request as usual, then refuses the token with 401 `invalid_token`, every
    /// time, whatever token comes. API only.
    EndlessInvalidToken,
}

impl Fault {
    /// The body of [`Fault::BinaryBody`]: every byte value once, in order.
    pub const BINARY_BODY: [u8; 256] = every_byte();

    /// The `WWW-Authenticate` value of [`Fault::MalformedChallenge`].
    pub const MALFORMED_CHALLENGE: &'static str = r#"DPoP error="use_dpop_nonce, algs=ES256"#;

    /// Whether answers under this fault carry a `DPoP-Nonce`.
    pub(crate) fn sends_nonce(&self) -> bool {
        matches!(self, Fault::NonceOn200 | Fault::MalformedChallenge)
    }

    /// The answer that replaces the endpoint's, for the faults that replace it.
    pub(crate) fn response(&self, shared: &Shared) -> Option<Response> {
        let config = &shared.config;
        Some(match self {
            Fault::Status500 => Response::error(500, "server_error", "the server failed (fault mode)"),
            Fault::HtmlBody => Response::text(200, HTML_PAGE).with_content_type("text/html; charset=utf-8"),
            Fault::NoAccessToken => Response::json(
                200,
                &serde_json::json!({"token_type": config.token_type, "expires_in": config.token_ttl}),
            ),
            Fault::HugeBody(len) => filler(*len, None),
            Fault::Trickle { bytes, per_second } => filler(*bytes, Some((*per_second).max(1))),
            Fault::Redirect(location) => Response::text(302, "").with_header("Location", location.clone()),
            Fault::BinaryBody => Response {
                status: 200,
                headers: vec![("Content-Type".into(), "application/octet-stream".into())],
                body: Body::Bytes(Fault::BINARY_BODY.to_vec()),
            },
            Fault::MalformedChallenge => Response::text(401, "unauthorized")
                .with_header("WWW-Authenticate", Fault::MALFORMED_CHALLENGE)
                .with_header("DPoP-Nonce", shared.current_nonce()),
            Fault::Hang | Fault::Reset | Fault::NonceOn200 | Fault::EndlessInvalidToken => return None,
        })
    }
}

/// The page of [`Fault::HtmlBody`].
const HTML_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\
                         <body><p>Please sign in to continue.</p></body></html>\n";

const fn every_byte() -> [u8; 256] {
    let mut bytes = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        bytes[i] = i as u8;
        i += 1;
    }
    bytes
}

fn filler(len: u64, per_second: Option<u64>) -> Response {
    Response {
        status: 200,
        headers: vec![("Content-Type".into(), "text/plain".into())],
        body: Body::Generated { len, per_second },
    }
}

/// The first `count` requests to an endpoint are answered with `status` (503 or 429) and
/// `Retry-After` ([`Config::token_retry_after`], [`Config::api_retry_after`]); later ones as
/// usual. The body is an OAuth-style JSON error (`temporarily_unavailable` for 503,
/// `slow_down` for 429); the endpoint looks at nothing and issues nothing.
///
/// [`Config::token_retry_after`]: crate::Config::token_retry_after
/// [`Config::api_retry_after`]: crate::Config::api_retry_after
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfter {
    /// 503 or 429.
    pub status: u16,
    /// The delay the header asks for, in seconds.
    pub seconds: u64,
    /// How many requests get this answer.
    pub count: u64,
    /// Whether the header is an HTTP-date (the server's now + `seconds`) rather than seconds.
    pub http_date: bool,
}

impl RetryAfter {
    /// The answer, with the server's clock.
    pub(crate) fn response(&self, shared: &Shared) -> Response {
        let value = if self.http_date {
            crate::clock::http_date(shared.clock.now().saturating_add(self.seconds))
        } else {
            self.seconds.to_string()
        };
        let error = if self.status == 429 {
            "slow_down"
        } else {
            "temporarily_unavailable"
        };
        Response::error(self.status, error, "the server is busy; retry later")
            .with_header("Retry-After", value)
    }
}

/// How [`RetryAfter`] is written on the command line.
pub const RETRY_AFTER_SYNTAX: &str = "STATUS:SECONDS:COUNT[:date] (STATUS 503 or 429)";

impl FromStr for RetryAfter {
    type Err = String;

    fn from_str(text: &str) -> Result<RetryAfter, String> {
        let bad = || format!("'{text}' is not {RETRY_AFTER_SYNTAX}");
        let parts: Vec<&str> = text.split(':').collect();
        let (numbers, http_date) = match parts[..] {
            [status, seconds, count] => ([status, seconds, count], false),
            [status, seconds, count, "date"] => ([status, seconds, count], true),
            _ => return Err(bad()),
        };
        let [status, seconds, count] = numbers.map(|n| n.parse::<u64>().map_err(|_| bad()));
        let retry = RetryAfter {
            status: u16::try_from(status?).map_err(|_| bad())?,
            seconds: seconds?,
            count: count?,
            http_date,
        };
        check_retry_after(Some(&retry))?;
        Ok(retry)
    }
}

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.status, self.seconds, self.count)?;
        if self.http_date {
            f.write_str(":date")?;
        }
        Ok(())
    }
}

fn check_retry_after(retry: Option<&RetryAfter>) -> Result<(), String> {
    match retry {
        Some(retry) if !matches!(retry.status, 429 | 503) => Err(format!(
            "a Retry-After status must be 503 or 429, not {}",
            retry.status
        )),
        _ => Ok(()),
    }
}

/// Refuses faults set on an endpoint they do not apply to.
pub(crate) fn check(config: &Config) -> Result<(), String> {
    check_token_fault(config.token_fault.as_ref())?;
    check_retry_after(config.token_retry_after.as_ref())?;
    check_retry_after(config.api_retry_after.as_ref())?;
    if config.api_fault == Some(Fault::NoAccessToken) {
        return Err("the no-access-token fault is for the token endpoint, not the API".into());
    }
    Ok(())
}

/// Refuses a fault that does not apply to the token endpoint.
pub(crate) fn check_token_fault(fault: Option<&Fault>) -> Result<(), String> {
    if fault == Some(&Fault::EndlessInvalidToken) {
        return Err("the endless invalid_token fault is for the API, not the token endpoint".into());
    }
    Ok(())
}

/// The names [`Fault`] is written with on the command line: [`FromStr`] reads them, [`Display`]
/// writes them.
///
/// [`Display`]: fmt::Display
pub const FAULT_SYNTAX: &str = "500 | html | no-access-token | hang | reset | huge:BYTES | \
                                trickle:BYTES:PER_SECOND | redirect:URL | binary | \
                                malformed-challenge | nonce-on-200 | invalid-token";

impl FromStr for Fault {
    type Err = String;

    fn from_str(text: &str) -> Result<Fault, String> {
        let number = |value: &str| {
            value
                .parse::<u64>()
                .map_err(|_| format!("'{value}' in fault '{text}' is not a number"))
        };
        let (name, argument) = text.split_once(':').unwrap_or((text, ""));
        let fault = match (name, argument) {
            ("500", "") => Fault::Status500,
            ("html", "") => Fault::HtmlBody,
            ("no-access-token", "") => Fault::NoAccessToken,
            ("hang", "") => Fault::Hang,
            ("reset", "") => Fault::Reset,
            ("huge", bytes) if !bytes.is_empty() => Fault::HugeBody(number(bytes)?),
            ("trickle", argument) if argument.contains(':') => {
                let (bytes, per_second) = argument.split_once(':').unwrap_or_default();
                let per_second = number(per_second)?;
                if per_second == 0 {
                    return Err(format!(
                        "fault '{text}': the rate must be at least 1 byte per second"
                    ));
                }
                Fault::Trickle {
                    bytes: number(bytes)?,
                    per_second,
                }
            }
            ("redirect", location) if !location.is_empty() => Fault::Redirect(location.to_owned()),
            ("binary", "") => Fault::BinaryBody,
            ("malformed-challenge", "") => Fault::MalformedChallenge,
            ("nonce-on-200", "") => Fault::NonceOn200,
            ("invalid-token", "") => Fault::EndlessInvalidToken,
            _ => return Err(format!("unknown fault '{text}' (one of: {FAULT_SYNTAX})")),
        };
        Ok(fault)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Status500 => f.write_str("500"),
            Fault::HtmlBody => f.write_str("html"),
            Fault::NoAccessToken => f.write_str("no-access-token"),
            Fault::Hang => f.write_str("hang"),
            Fault::Reset => f.write_str("reset"),
            Fault::HugeBody(bytes) => write!(f, "huge:{bytes}"),
            Fault::Trickle { bytes, per_second } => write!(f, "trickle:{bytes}:{per_second}"),
            Fault::Redirect(location) => write!(f, "redirect:{location}"),
            Fault::BinaryBody => f.write_str("binary"),
            Fault::MalformedChallenge => f.write_str("malformed-challenge"),
            Fault::NonceOn200 => f.write_str("nonce-on-200"),
            Fault::EndlessInvalidToken => f.write_str("invalid-token"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Fault;

    #[test]
    fn every_fault_reads_back_what_it_writes() {
        let faults = [
            Fault::Status500,
            Fault::HtmlBody,
            Fault::NoAccessToken,
            Fault::Hang,
            Fault::Reset,
            Fault::HugeBody(200 << 20),
            Fault::Trickle {
                bytes: 4096,
                per_second: 100,
            },
            Fault::Redirect("http://127.0.0.1:9/elsewhere?a=b:c".into()),
            Fault::BinaryBody,
            Fault::MalformedChallenge,
            Fault::NonceOn200,
            Fault::EndlessInvalidToken,
        ];
        for fault in faults {
            assert_eq!(fault.to_string().parse::<Fault>(), Ok(fault.clone()), "{fault}");
        }
    }

    #[test]
    fn retry_after_reads_back_what_it_writes_and_refuses_other_statuses() {
        use super::RetryAfter;
        for text in ["503:2:1", "429:0:3:date"] {
            assert_eq!(text.parse::<RetryAfter>().unwrap().to_string(), text);
        }
        for text in ["500:1:1", "503:1", "503:1:1:x", "503:a:1"] {
            assert!(text.parse::<RetryAfter>().is_err(), "{text}");
        }
    }

    #[test]
    fn malformed_fault_names_are_refused() {
        for text in [
            "",
            "huge",
            "huge:",
            "huge:x",
            "trickle:10",
            "trickle:10:0",
            "redirect:",
            "500:1",
            "nope",
        ] {
            assert!(text.parse::<Fault>().is_err(), "{text:?} parsed");
        }
        assert!(Fault::BINARY_BODY
            .iter()
            .enumerate()
            .all(|(i, b)| *b as usize == i));
    }
}
