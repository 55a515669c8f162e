//! What the browser brings back to the redirect URI (RFC 6749 §4.1.2): judged against the
//! sign-in in progress. A `state` that is not this sign-in's is ignored (it is not its answer;
//! the wait goes on); with the right `state`, `iss` is checked (RFC 9207), then the
//! authorization server's `error` or the `code` ends the sign-in.

use super::{constant_time_eq, printable};
use crate::error::{Error, ErrorKind};
use zeroize::Zeroizing;

/// What the sign-in expects of its redirect.
pub(crate) struct Expected<'a> {
    pub(crate) state: &'a str,
    /// The issuer the settings name, against which `iss` is checked; `None`: not checked.
    pub(crate) issuer: Option<&'a str>,
    /// Whether the metadata says `authorization_response_iss_parameter_supported`: `iss` is
    /// then required.
    pub(crate) iss_required: bool,
    /// Strings an error text must not show.
    pub(crate) secrets: &'a [&'a str],
}

/// The verdict on one request to the redirect path.
pub(crate) enum Verdict {
    /// Not this sign-in's answer: the browser gets an error page, and the wait goes on.
    Ignore(&'static str),
    /// The sign-in ends with this error.
    Fail(Error),
    /// The authorization code, to exchange.
    Code(Zeroizing<String>),
}

/// Judges the query of a request to the redirect path.
pub(crate) fn judge(query: &str, expected: &Expected<'_>) -> Verdict {
    let mut params: Vec<(Zeroizing<String>, Zeroizing<String>)> = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        params.push((
            Zeroizing::new(name.into_owned()),
            Zeroizing::new(value.into_owned()),
        ));
    }
    let get = |name: &str| -> Result<Option<&str>, ()> {
        let mut found = params.iter().filter(|(n, _)| n.as_str() == name);
        let first = found.next().map(|(_, v)| v.as_str());
        // RFC 6749 §3.1: a parameter must not be repeated.
        if found.next().is_some() {
            return Err(());
        }
        Ok(first)
    };
    match get("state") {
        Ok(Some(state)) if constant_time_eq(state.as_bytes(), expected.state.as_bytes()) => {}
        _ => return Verdict::Ignore("This answer does not belong to the sign-in in progress."),
    }
    let fail = |message: String| Verdict::Fail(Error::new(ErrorKind::SignIn, message));
    let Ok(iss) = get("iss") else {
        return fail("the redirect repeats the parameter 'iss'".into());
    };
    match (iss, expected.issuer) {
        (Some(iss), Some(issuer)) if iss != issuer => {
            return fail(format!(
                "the redirect names the issuer '{}' instead of '{issuer}' (RFC 9207): the answer may \
                 come from another authorization server (a mix-up attack), or the settings name the \
                 wrong issuer",
                printable(iss, 200, expected.secrets)
            ))
        }
        (None, _) if expected.iss_required => {
            return fail(
                "the redirect has no 'iss', which the authorization server's metadata promises \
                 (authorization_response_iss_parameter_supported, RFC 9207)"
                    .into(),
            )
        }
        _ => {}
    }
    let (Ok(error), Ok(description), Ok(code)) = (get("error"), get("error_description"), get("code")) else {
        return fail("the redirect repeats a parameter".into());
    };
    if let Some(error) = error {
        let description = description
            .map(|d| format!(" ({})", printable(d, 300, expected.secrets)))
            .unwrap_or_default();
        return fail(format!(
            "the authorization server refused the sign-in: {}{description}",
            printable(error, 100, expected.secrets)
        ));
    }
    match code {
        Some(code) if !code.is_empty() => Verdict::Code(Zeroizing::new(code.to_string())),
        _ => fail("the redirect has neither 'code' nor 'error'".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: &str = "st-4f9c";

    fn expected(iss_required: bool) -> Expected<'static> {
        Expected {
            state: STATE,
            issuer: Some("https://as.example"),
            iss_required,
            secrets: &[STATE, "verifier-x"],
        }
    }

    fn failure(query: &str, iss_required: bool) -> String {
        match judge(query, &expected(iss_required)) {
            Verdict::Fail(e) => {
                assert_eq!(e.kind(), ErrorKind::SignIn);
                e.message().to_string()
            }
            Verdict::Ignore(_) => panic!("{query} was ignored"),
            Verdict::Code(_) => panic!("{query} gave a code"),
        }
    }

    #[test]
    fn a_code_with_the_right_state_and_issuer_is_taken() {
        let v = judge(
            "code=c-1&state=st-4f9c&iss=https%3A%2F%2Fas.example",
            &expected(true),
        );
        assert!(matches!(v, Verdict::Code(c) if c.as_str() == "c-1"));
        let v = judge("state=st-4f9c&code=c-2", &expected(false));
        assert!(matches!(v, Verdict::Code(c) if c.as_str() == "c-2"));
    }

    #[test]
    fn another_state_is_ignored() {
        for query in [
            "code=c&state=other",
            "code=c",
            "code=c&state=st-4f9c&state=st-4f9c",
            "",
        ] {
            assert!(
                matches!(judge(query, &expected(false)), Verdict::Ignore(_)),
                "{query}"
            );
        }
    }

    #[test]
    fn errors_and_issuer_mismatches_end_the_sign_in_without_secrets() {
        let m = failure(
            "error=access_denied&error_description=The+user+said+no+%E2%9C%8B+st-4f9c&state=st-4f9c",
            false,
        );
        assert_eq!(
            m,
            "the authorization server refused the sign-in: access_denied (The user said no ? ****)"
        );
        let m = failure("code=c&state=st-4f9c&iss=https%3A%2F%2Fevil.example", false);
        assert!(
            m.contains("'https://evil.example' instead of 'https://as.example'"),
            "{m}"
        );
        assert!(failure("code=c&state=st-4f9c", true).contains("has no 'iss'"));
        assert!(failure("state=st-4f9c", false).contains("neither 'code' nor 'error'"));
        assert!(failure("state=st-4f9c&code=a&code=b", false).contains("repeats"));
        let long = format!("error={}&state=st-4f9c", "x".repeat(500));
        assert!(failure(&long, false).ends_with("..."));
    }
}
