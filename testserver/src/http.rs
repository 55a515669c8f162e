//! A small HTTP/1.1 server connection: requests with `Content-Length` bodies, keep-alive, over
//! any [`Stream`] (plain TCP or a rustls stream).
//!
//! The socket under the stream has a short read timeout; a timed-out read only checks whether
//! the server is stopping and reads again, so a stopping server ends its connections quickly.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Largest request head (request line and headers) accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted.
const MAX_BODY: usize = 1024 * 1024;

/// One parsed request.
#[derive(Clone, Debug)]
pub struct Request {
    /// The method, as sent.
    pub method: String,
    /// The path of the request target, without query.
    pub path: String,
    /// The query of the request target, without '?'.
    pub query: Option<String>,
    /// The authority of an absolute-form request target.
    pub target_authority: Option<String>,
    /// Whether the request is HTTP/1.0 (else HTTP/1.1).
    pub http10: bool,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// Every value of the header `name` (case-insensitive), in order.
    pub fn header_values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let name = name.to_owned();
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, v)| v.as_str())
    }

    /// The first value of the header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).next()
    }

    /// Whether the client asked to keep the connection open after this request.
    fn keep_alive(&self) -> bool {
        let tokens = |token: &str| {
            self.header_values("connection")
                .flat_map(|v| v.split(','))
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        if self.http10 {
            tokens("keep-alive")
        } else {
            !tokens("close")
        }
    }
}

/// Filler for [`Body::Generated`], written from here rather than from a buffer of the body's size.
static FILLER: [u8; 64 * 1024] = [b'x'; 64 * 1024];

/// How often a trickled body sends its next slice.
const TRICKLE_TICK: Duration = Duration::from_millis(100);

/// A response body.
#[derive(Clone, Debug)]
pub enum Body {
    /// These bytes.
    Bytes(Vec<u8>),
    /// `len` filler bytes made while they are written, so that a huge body is never held in
    /// memory; at `per_second` bytes per second when given (a tenth every 100 ms).
    Generated {
        /// The body length.
        len: u64,
        /// The rate, if the body trickles.
        per_second: Option<u64>,
    },
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::Bytes(bytes) => bytes.len() as u64,
            Body::Generated { len, .. } => *len,
        }
    }
}

/// One response.
#[derive(Clone, Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header fields besides Content-Length and Connection.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, body: &serde_json::Value) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Body::Bytes(body.to_string().into_bytes()),
        }
    }

    /// A JSON `{"error", "error_description"}` response.
    pub fn error(status: u16, error: &str, description: &str) -> Response {
        Response::json(
            status,
            &serde_json::json!({"error": error, "error_description": description}),
        )
    }

    /// A plain text response.
    pub fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
            body: Body::Bytes(body.as_bytes().to_vec()),
        }
    }

    /// Replaces the `Content-Type`.
    pub fn with_content_type(mut self, content_type: &str) -> Response {
        self.headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case("content-type"));
        self.with_header("Content-Type", content_type)
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Adds a header field.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// What a handler does with a request.
pub enum Reply {
    /// Send this response.
    Send(Response),
    /// Close the connection without answering.
    Close,
}

/// The reason phrase of the statuses the server sends.
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// A connection's byte stream. Plain TCP can also show what has arrived without taking it, which
/// is how the server resets a connection: a socket closed with unread input sends a TCP RST.
pub trait Stream: Read + Write {
    /// Copies bytes that have arrived into `buf` without taking them; None if the stream cannot.
    fn peek(&mut self, buf: &mut [u8]) -> Option<io::Result<usize>> {
        let _ = buf;
        None
    }
}

impl Stream for TcpStream {
    fn peek(&mut self, buf: &mut [u8]) -> Option<io::Result<usize>> {
        Some(TcpStream::peek(self, buf))
    }
}

impl Stream for rustls::StreamOwned<rustls::ServerConnection, TcpStream> {}

/// Serves requests on one connection until the peer closes it, an error happens or `stop` is set.
/// `handle` sees each request; `on_bad` sees each malformed request's error response, and
/// returns it as it is to be sent. With
/// `resets`, each request's head is first looked at without being taken (plain TCP only): when
/// `resets` says so, the connection is dropped with the request unread, which resets it.
pub fn serve<S: Stream>(
    stream: S,
    stop: &AtomicBool,
    mut handle: impl FnMut(&Request) -> Reply,
    mut on_bad: impl FnMut(Response) -> Response,
    resets: Option<&dyn Fn(&Request) -> bool>,
) {
    let mut conn = Connection {
        stream,
        buf: Vec::new(),
        stop,
    };
    loop {
        if let Some(resets) = resets {
            if conn.buf.is_empty() && conn.peek_head().is_some_and(|head| resets(&head)) {
                return;
            }
        }
        let request = match conn.read_request() {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(Bad(response)) => {
                let response = on_bad(response);
                let _ = conn.write_response(&response, false, false);
                return;
            }
        };
        let keep_alive = request.keep_alive();
        match handle(&request) {
            Reply::Close => return,
            Reply::Send(response) => {
                let head_only = request.method == "HEAD";
                let keep = keep_alive && !stop.load(Ordering::Relaxed);
                if conn.write_response(&response, keep, head_only).is_err() || !keep {
                    return;
                }
            }
        }
    }
}

/// A malformed request, answered with this response before the connection closes.
struct Bad(Response);

fn bad(status: u16, description: &str) -> Bad {
    Bad(Response::error(status, "invalid_request", description))
}

struct Connection<'a, S> {
    stream: S,
    /// Bytes read but not yet consumed.
    buf: Vec<u8>,
    stop: &'a AtomicBool,
}

impl<S: Stream> Connection<'_, S> {
    /// Reads more bytes into `buf`; false at end of stream, on an error or when stopping.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return false;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return true;
                }
                Err(e) if is_retry(&e) => continue,
                Err(_) => return false,
            }
        }
    }

    /// The head of the next request as it has arrived, nothing taken from the stream; None when
    /// the stream cannot peek, ends, or the head is malformed or too large (the normal read then
    /// deals with it).
    fn peek_head(&mut self) -> Option<Request> {
        let mut peeked = vec![0u8; MAX_HEAD + 4];
        let mut seen = 0;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return None;
            }
            let n = match self.stream.peek(&mut peeked)? {
                Ok(0) => return None,
                Ok(n) => n,
                Err(e) if is_retry(&e) => continue,
                Err(_) => return None,
            };
            if let Some(end) = find(&peeked[..n], b"\r\n\r\n") {
                let head = std::str::from_utf8(&peeked[..end]).ok()?;
                return parse_head(head).ok();
            }
            if n > MAX_HEAD {
                return None;
            }
            if n == seen {
                // Part of the head is there: peek returns at once until more arrives.
                std::thread::sleep(Duration::from_millis(1));
            }
            seen = n;
        }
    }

    /// The next request; None when the connection ended cleanly between requests.
    fn read_request(&mut self) -> Result<Option<Request>, Bad> {
        let head_end = loop {
            if let Some(pos) = find(&self.buf, b"\r\n\r\n") {
                break pos;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(bad(431, "request head too large"));
            }
            if !self.fill() {
                return Ok(None);
            }
        };
        let head = std::str::from_utf8(&self.buf[..head_end])
            .map_err(|_| bad(400, "request head is not UTF-8"))?
            .to_owned();
        self.buf.drain(..head_end + 4);
        let mut request = parse_head(&head)?;

        if request.header("transfer-encoding").is_some() {
            return Err(Bad(Response::error(
                411,
                "invalid_request",
                "Transfer-Encoding request bodies are not supported; send Content-Length",
            )));
        }
        let length = content_length(&request)?;
        if length > MAX_BODY {
            return Err(bad(413, "request body too large"));
        }
        let expects_continue = request
            .header("expect")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"));
        if expects_continue && !request.http10 && length > self.buf.len() {
            let _ = self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
            let _ = self.stream.flush();
        }
        while self.buf.len() < length {
            if !self.fill() {
                return Ok(None);
            }
        }
        request.body = self.buf.drain(..length).collect();
        Ok(Some(request))
    }

    fn write_response(&mut self, response: &Response, keep_alive: bool, head_only: bool) -> io::Result<()> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", response.status, reason(response.status));
        for (name, value) in &response.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str(&format!("Content-Length: {}\r\n", response.body.len()));
        out.push_str(if keep_alive {
            "Connection: keep-alive\r\n\r\n"
        } else {
            "Connection: close\r\n\r\n"
        });
        let mut bytes = out.into_bytes();
        match &response.body {
            Body::Bytes(body) if !head_only => bytes.extend_from_slice(body),
            _ => {}
        }
        self.stream.write_all(&bytes)?;
        self.stream.flush()?;
        match response.body {
            Body::Generated { len, per_second } if !head_only => self.write_generated(len, per_second),
            _ => Ok(()),
        }
    }

    /// Writes `len` filler bytes, at `per_second` when given; stops early when the server stops.
    fn write_generated(&mut self, len: u64, per_second: Option<u64>) -> io::Result<()> {
        let slice = match per_second {
            Some(rate) => (rate / 10).max(1),
            None => FILLER.len() as u64,
        };
        let mut left = len;
        while left > 0 {
            let mut in_slice = left.min(slice);
            left -= in_slice;
            while in_slice > 0 {
                if self.stop.load(Ordering::Relaxed) {
                    return Err(io::Error::other("the server is stopping"));
                }
                let n = in_slice.min(FILLER.len() as u64) as usize;
                self.stream.write_all(&FILLER[..n])?;
                in_slice -= n as u64;
            }
            self.stream.flush()?;
            if per_second.is_some() && left > 0 {
                std::thread::sleep(TRICKLE_TICK);
            }
        }
        Ok(())
    }
}

/// The body length a request announces (0 without Content-Length).
fn content_length(request: &Request) -> Result<usize, Bad> {
    let mut lengths = request.header_values("content-length").flat_map(|v| v.split(','));
    let Some(first) = lengths.next().map(str::trim) else {
        return Ok(0);
    };
    if lengths.any(|other| other.trim() != first) {
        return Err(bad(400, "conflicting Content-Length headers"));
    }
    if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(400, "Content-Length is not a number"));
    }
    Ok(first.parse::<usize>().unwrap_or(usize::MAX))
}

/// Whether a read error is the socket's read timeout, not a failure.
pub fn is_retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses the request line and header fields.
fn parse_head(head: &str) -> Result<Request, Bad> {
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut words = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(bad(400, "malformed request line"));
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(bad(400, "unsupported HTTP version")),
    };
    if method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.!".contains(&b))
    {
        return Err(bad(400, "malformed method"));
    }
    let (target_authority, origin) = split_target(target)?;
    let (path, query) = match origin.split_once('?') {
        Some((path, query)) => (path, Some(query.to_owned())),
        None => (origin, None),
    };
    let mut headers = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            return Err(bad(400, "obsolete header line folding"));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad(400, "malformed header line"));
        };
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err(bad(400, "malformed header name"));
        }
        headers.push((name.to_owned(), value.trim_matches([' ', '\t']).to_owned()));
    }
    Ok(Request {
        method: method.to_owned(),
        path: path.to_owned(),
        query,
        target_authority,
        http10,
        headers,
        body: Vec::new(),
    })
}

/// Splits a request target into (authority of an absolute-form target, origin-form rest).
fn split_target(target: &str) -> Result<(Option<String>, &str), Bad> {
    if target.starts_with('/') {
        return Ok((None, target));
    }
    let lower = target.to_ascii_lowercase();
    let rest = ["http://", "https://"]
        .iter()
        .find(|prefix| lower.starts_with(**prefix))
        .map(|prefix| &target[prefix.len()..])
        .ok_or_else(|| bad(400, "malformed request target"))?;
    let path_start = rest.find(['/', '?']).unwrap_or(rest.len());
    let origin = &rest[path_start..];
    if !origin.starts_with('/') {
        return Err(bad(400, "absolute request target without a path"));
    }
    Ok((Some(rest[..path_start].to_owned()), origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(head: &str) -> Request {
        parse_head(head).unwrap_or_else(|_| panic!("{head} did not parse"))
    }

    #[test]
    fn parse_head_splits_path_query_and_headers() {
        let r = parse("GET /dpop/test?a=1&b HTTP/1.1\r\nHost: x\r\nX-A:  v  ");
        assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/dpop/test"));
        assert_eq!(r.query.as_deref(), Some("a=1&b"));
        assert_eq!(r.header("host"), Some("x"));
        assert_eq!(r.header("x-a"), Some("v"));
        assert!(r.keep_alive());
    }

    #[test]
    fn parse_head_accepts_absolute_form_and_rejects_garbage() {
        let r = parse("GET http://LOCALHOST:1/p?q HTTP/1.0\r\nConnection: keep-alive");
        assert_eq!(r.target_authority.as_deref(), Some("LOCALHOST:1"));
        assert_eq!(r.path, "/p");
        assert!(r.http10 && r.keep_alive());
        for head in [
            "GET /",
            "GET / HTTP/2",
            "GET x HTTP/1.1",
            "GET / HTTP/1.1\r\n folded",
            "GET / HTTP/1.1\r\nA b: c",
        ] {
            assert!(parse_head(head).is_err(), "{head:?} parsed");
        }
    }
}
