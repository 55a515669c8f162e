//! `WWW-Authenticate` parsing (RFC 9110 §11.6.1): several challenges per header, token and
//! quoted-string parameters, token68.

/// One challenge: an auth scheme and its parameters (names lower-cased).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub(crate) scheme: String,
    pub(crate) token68: Option<String>,
    pub(crate) params: Vec<(String, String)>,
}

impl Challenge {
    /// The value of parameter `name` (case-insensitive).
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn is_token68_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~+/".contains(c)
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !f(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        &self.s[start..self.pos]
    }

    fn quoted_string(&mut self) -> Option<String> {
        // At the opening quote.
        self.pos += 1;
        let mut out = String::new();
        loop {
            let c = self.peek()?;
            self.pos += c.len_utf8();
            match c {
                '"' => return Some(out),
                '\\' => {
                    let escaped = self.peek()?;
                    self.pos += escaped.len_utf8();
                    out.push(escaped);
                }
                _ => out.push(c),
            }
        }
    }

    /// After a scheme: does `name = value` follow (as opposed to a new challenge)?
    fn at_param(&self) -> bool {
        let mut probe = Cursor {
            s: self.s,
            pos: self.pos,
        };
        probe.skip_ws();
        if probe.take_while(is_tchar).is_empty() {
            return false;
        }
        probe.skip_ws();
        if probe.peek() != Some('=') {
            return false;
        }
        probe.pos += 1;
        probe.skip_ws();
        // `name=` followed by the end or a comma is token68 padding, not a parameter.
        !matches!(probe.peek(), None | Some(','))
    }
}

/// Parses every challenge of one `WWW-Authenticate` header value. Malformed parts end the
/// parse; the challenges read up to there are kept.
pub(crate) fn parse(value: &str) -> Vec<Challenge> {
    let mut cur = Cursor { s: value, pos: 0 };
    let mut out: Vec<Challenge> = Vec::new();
    loop {
        // Empty list elements are allowed.
        loop {
            cur.skip_ws();
            if cur.peek() == Some(',') {
                cur.pos += 1;
            } else {
                break;
            }
        }
        let scheme = cur.take_while(is_tchar);
        if scheme.is_empty() {
            return out;
        }
        let mut challenge = Challenge {
            scheme: scheme.to_string(),
            token68: None,
            params: Vec::new(),
        };
        cur.skip_ws();
        if !cur.at_param() {
            let start = cur.pos;
            let t68 = cur.take_while(is_token68_char);
            if !t68.is_empty() {
                cur.take_while(|c| c == '=');
                challenge.token68 = Some(value[start..cur.pos].to_string());
            }
        } else {
            while cur.at_param() {
                cur.skip_ws();
                let name = cur.take_while(is_tchar).to_ascii_lowercase();
                cur.skip_ws();
                cur.pos += 1; // '='
                cur.skip_ws();
                let val = if cur.peek() == Some('"') {
                    match cur.quoted_string() {
                        Some(v) => v,
                        None => {
                            out.push(challenge);
                            return out;
                        }
                    }
                } else {
                    cur.take_while(is_tchar).to_string()
                };
                challenge.params.push((name, val));
                cur.skip_ws();
                if cur.peek() == Some(',') {
                    // A comma separates parameters, or this challenge from the next one.
                    let after_comma = Cursor {
                        s: value,
                        pos: cur.pos + 1,
                    };
                    if after_comma.at_param() {
                        cur.pos += 1;
                    } else {
                        break;
                    }
                } else {
                    break;
                }
            }
        }
        out.push(challenge);
        cur.skip_ws();
        match cur.peek() {
            Some(',') => continue,
            _ => return out,
        }
    }
}

/// The first `DPoP` challenge among `headers`' values.
pub(crate) fn dpop_challenge<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Challenge> {
    values
        .into_iter()
        .flat_map(parse)
        .find(|c| c.scheme.eq_ignore_ascii_case("DPoP"))
}

/// The `error` parameter of the first `DPoP` challenge among `headers`' values.
pub(crate) fn dpop_error<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<String> {
    dpop_challenge(values).and_then(|c| c.param("error").map(str::to_string))
}

/// Whether any challenge (any scheme) among `values` reports `error="invalid_token"`.
pub(crate) fn any_error<'a>(values: impl IntoIterator<Item = &'a str>, error: &str) -> bool {
    values
        .into_iter()
        .flat_map(parse)
        .any(|c| c.param("error") == Some(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(c: &Challenge) -> Vec<(&str, &str)> {
        c.params.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
    }

    #[test]
    fn single_dpop_challenge_with_quoted_params() {
        let c = parse(
            r#"DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "DPoP");
        assert_eq!(c[0].param("error"), Some("use_dpop_nonce"));
        assert_eq!(
            c[0].param("ERROR_DESCRIPTION"),
            Some("Resource server requires nonce in DPoP proof")
        );
    }

    #[test]
    fn several_challenges_in_one_header() {
        let c = parse(
            r#"Bearer realm="api", error="invalid_token", DPoP algs="ES256 PS256", error="use_dpop_nonce",Basic realm="x, y""#,
        );
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].scheme, "Bearer");
        assert_eq!(params(&c[0]), [("realm", "api"), ("error", "invalid_token")]);
        assert_eq!(c[1].scheme, "DPoP");
        assert_eq!(
            params(&c[1]),
            [("algs", "ES256 PS256"), ("error", "use_dpop_nonce")]
        );
        assert_eq!(c[2].scheme, "Basic");
        assert_eq!(c[2].param("realm"), Some("x, y"));
    }

    #[test]
    fn escapes_token_values_token68_and_bare_schemes() {
        let c = parse(r#"Negotiate, DPoP error=use_dpop_nonce, Foo abc+/def==, Bar q="a\"b\\c""#);
        assert_eq!(c.len(), 4);
        assert_eq!(c[0].scheme, "Negotiate");
        assert!(c[0].params.is_empty() && c[0].token68.is_none());
        assert_eq!(c[1].param("error"), Some("use_dpop_nonce"));
        assert_eq!(c[2].token68.as_deref(), Some("abc+/def=="));
        assert_eq!(c[3].param("q"), Some(r#"a"b\c"#));
    }

    #[test]
    fn error_lookup_is_not_fooled_by_substrings() {
        // The words appear, but not as the DPoP challenge's error parameter.
        let v = r#"Bearer error="use_dpop_nonce", DPoP error_description="not use_dpop_nonce", error="invalid_token""#;
        assert_eq!(dpop_error([v]).as_deref(), Some("invalid_token"));
        assert_eq!(
            dpop_error([r#"Bearer error_description="DPoP error=\"use_dpop_nonce\"""#]),
            None
        );
        assert_eq!(
            dpop_error(["Basic realm=\"a\"", "dpop error=\"use_dpop_nonce\""]).as_deref(),
            Some("use_dpop_nonce")
        );
        assert!(any_error([v], "invalid_token"));
        assert!(!any_error(
            [r#"DPoP error_description="invalid_token""#],
            "invalid_token"
        ));
    }

    #[test]
    fn malformed_input_never_panics() {
        for v in [
            "",
            ",,,",
            "DPoP error=\"unterminated",
            "=",
            "DPoP ,=,",
            "DPoP a=b,,c=d",
            "é DPoP",
            "DPoP a = \"x\" , b = y",
        ] {
            let _ = parse(v);
        }
        let c = parse("DPoP a = \"x\" , b = y");
        assert_eq!(params(&c[0]), [("a", "x"), ("b", "y")]);
    }

    #[test]
    fn random_header_values_never_panic() {
        let alphabet = b"DPoP Bearer error=\"use_dpop_nonce\", \\=,\t;:abc\xc3\xa9";
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| alphabet[((state >> (i % 48)) as usize + i * 7) % alphabet.len()])
                .collect();
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse(&text);
            let _ = dpop_error([text.as_ref()]);
        }
    }
}
