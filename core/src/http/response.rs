//! A received HTTP response: status, headers and the whole body.

use std::borrow::Cow;
use std::fmt;

/// An HTTP response as libdpop received it.
#[derive(Clone)]
pub struct Response {
    pub(crate) status: u16,
    /// Header names are lower-case; repeated headers appear once per value, in order.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    /// What the proof sent with the request carried, for diagnostics.
    pub(crate) proof: Option<SentProof>,
    /// libdpop's explanation of a rejected proof (see [`Response::diagnostic`]).
    pub(crate) diagnostic: Option<String>,
}

/// The claims of the proof a request carried, as the client signed them.
#[derive(Clone, Debug)]
pub(crate) struct SentProof {
    pub(crate) alg: &'static str,
    pub(crate) iat: i64,
    /// The seconds added to this computer's clock for `iat` (the server's clock followed).
    pub(crate) correction: i64,
    pub(crate) nonce: Option<String>,
    /// The key that signed it (its thumbprint is read only when a proof is rejected).
    pub(crate) key: std::sync::Arc<crate::Key>,
}

impl Response {
    pub(crate) fn new(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Self {
        Self {
            status,
            headers,
            body,
            proof: None,
            diagnostic: None,
        }
    }

    /// When the server rejected the request's DPoP proof (`invalid_dpop_proof`): what the
    /// proof carried and what is probably wrong, from what the client knows (the URL signed,
    /// the server's clock, the algorithms it accepts, the nonce, the token's key binding).
    pub fn diagnostic(&self) -> Option<&str> {
        self.diagnostic.as_deref()
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The values of header `name` (case-insensitive), joined by `", "` when repeated.
    pub fn header(&self, name: &str) -> Option<String> {
        let mut values = self.header_values(name).peekable();
        values.peek()?;
        Some(values.collect::<Vec<_>>().join(", "))
    }

    /// Every value of header `name` (case-insensitive), in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All headers as `(lower-case name, value)` pairs.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// All headers as `Name: value` lines, each ended by CRLF.
    pub fn headers_text(&self) -> String {
        self.headers
            .iter()
            .map(|(n, v)| format!("{n}: {v}\r\n"))
            .collect()
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as text, invalid UTF-8 replaced.
    pub fn body_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl fmt::Debug for Response {
    /// Shows the status and header names only: bodies and values may carry tokens.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            )
            .field("body_len", &self.body.len())
            .finish()
    }
}
