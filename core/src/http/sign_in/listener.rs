//! The one-shot loopback listener of a sign-in (RFC 8252 §7.3): 127.0.0.1 only, non-blocking,
//! so that a wait can stop at any slice; several connections at once, since browsers open
//! spare ones that never send a request; every read bounded in size and time, so that a slow
//! or huge request can neither hang nor exhaust it.

use crate::error::{Error, ErrorKind, Result};
use std::io::{ErrorKind as IoKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// The largest request head read (browsers send a few hundred bytes to a few KiB).
const MAX_HEAD: usize = 16 * 1024;
/// The most connections held open at once; a new one beyond pushes out the oldest.
const MAX_CONNECTIONS: usize = 16;
/// How long a connection may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long writing an answer may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// The listener and the connections it has accepted.
pub(crate) struct Listener {
    socket: TcpListener,
    port: u16,
    connections: Vec<Connection>,
}

struct Connection {
    stream: TcpStream,
    /// May hold the code: wiped on drop.
    head: Zeroizing<Vec<u8>>,
    opened: Instant,
}

/// A request the listener read whole, for the caller to answer.
pub(crate) struct Request {
    stream: TcpStream,
    /// The query holds the code: wiped on drop.
    pub(crate) query: Zeroizing<String>,
}

impl Listener {
    /// Listens on 127.0.0.1:`port` (0: a free port the system picks).
    pub(crate) fn bind(port: u16) -> Result<Self> {
        let fail = |e: std::io::Error| {
            Error::new(
                ErrorKind::SignIn,
                format!(
                    "cannot listen on 127.0.0.1:{port} for the browser's redirect: {e}{}",
                    if port != 0 {
                        " (another program may use the port; give port 0 in redirect_uri for any free \
                         port, if the authorization server allows it)"
                    } else {
                        ""
                    }
                ),
            )
        };
        let socket = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).map_err(fail)?;
        socket.set_nonblocking(true).map_err(fail)?;
        let port = socket.local_addr().map_err(fail)?.port();
        Ok(Self {
            socket,
            port,
            connections: Vec::new(),
        })
    }

    /// The port bound.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// One round without blocking: accepts the connections waiting, reads what they have
    /// sent, answers requests that are not for `path` (404, or 405 for another method than
    /// GET) and bad ones, and returns the first complete GET of `path`. `None` when there is
    /// none yet.
    pub(crate) fn poll(&mut self, path: &str) -> Option<Request> {
        while let Ok((stream, _)) = self.socket.accept() {
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            if self.connections.len() >= MAX_CONNECTIONS {
                self.connections.remove(0);
            }
            self.connections.push(Connection {
                stream,
                head: Zeroizing::new(Vec::new()),
                opened: Instant::now(),
            });
        }
        let mut found = None;
        let mut i = 0;
        while i < self.connections.len() {
            match self.connections[i].read_head() {
                Progress::Waiting if self.connections[i].opened.elapsed() < HEAD_TIMEOUT => {
                    i += 1;
                    continue;
                }
                Progress::Waiting | Progress::Closed => {
                    self.connections.swap_remove(i);
                }
                Progress::TooLarge => {
                    let connection = self.connections.swap_remove(i);
                    answer(
                        connection.stream,
                        431,
                        "Request too large",
                        "The request is too large.",
                    );
                }
                Progress::Head(end) => {
                    let connection = self.connections.swap_remove(i);
                    match parse(&connection.head[..end]) {
                        Some((method, target)) => {
                            let (request_path, query) = target.split_once('?').unwrap_or((&target, ""));
                            if request_path != path {
                                answer(connection.stream, 404, "Not found", "There is nothing here.");
                            } else if method != "GET" {
                                answer(
                                    connection.stream,
                                    405,
                                    "Not allowed",
                                    "Only GET is answered here.",
                                );
                            } else if found.is_none() {
                                found = Some(Request {
                                    query: Zeroizing::new(query.to_string()),
                                    stream: connection.stream,
                                });
                            } else {
                                // A second redirect in the same round waits for the next one.
                                answer(connection.stream, 409, "Try again", "Reload this page.");
                            }
                        }
                        None => answer(connection.stream, 400, "Bad request", "The request is not HTTP."),
                    }
                }
            }
        }
        found
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        for connection in &self.connections {
            let _ = connection.stream.shutdown(Shutdown::Both);
        }
    }
}

enum Progress {
    /// No complete head yet.
    Waiting,
    /// The head ends at this offset.
    Head(usize),
    TooLarge,
    Closed,
}

impl Connection {
    fn read_head(&mut self) -> Progress {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = find_end(&self.head) {
                return Progress::Head(end);
            }
            if self.head.len() > MAX_HEAD {
                return Progress::TooLarge;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Progress::Closed,
                Ok(n) => self.head.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == IoKind::WouldBlock => return Progress::Waiting,
                Err(e) if e.kind() == IoKind::Interrupted => {}
                Err(_) => return Progress::Closed,
            }
        }
    }
}

/// Where the head ends (before its blank line).
fn find_end(head: &[u8]) -> Option<usize> {
    head.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| head.windows(2).position(|w| w == b"\n\n"))
}

/// The method and the origin-form target of a request head.
fn parse(head: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(head).ok()?;
    let line = text.lines().next()?;
    let mut words = line.split(' ');
    let (method, target, version) = (words.next()?, words.next()?, words.next()?);
    if words.next().is_some() || !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return None;
    }
    Some((method.to_string(), target.to_string()))
}

impl Request {
    /// Answers the browser with a small page and closes the connection.
    pub(crate) fn answer(self, status: u16, title: &str, text: &str) {
        answer(self.stream, status, title, text);
    }
}

/// Writes a small HTML page and closes the connection, within [`WRITE_TIMEOUT`]; a browser
/// that has gone away is no error.
fn answer(stream: TcpStream, status: u16, title: &str, text: &str) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;margin:3em\"><h1>{title}</h1><p>{text}</p></body></html>\n",
        title = html_escape(title),
        text = html_escape(text)
    );
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nX-Content-Type-Options: nosniff\r\n\
         Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let mut stream = stream;
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(port: u16, request: &[u8]) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(request).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    /// Polls until a request for `path` arrives (the test's client runs in another thread).
    fn next(listener: &mut Listener, path: &str) -> Request {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(r) = listener.poll(path) {
                return r;
            }
            assert!(Instant::now() < until, "no request arrived");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn other_paths_get_404_and_the_redirect_path_is_handed_over() {
        let mut listener = Listener::bind(0).unwrap();
        let port = listener.port();
        std::thread::scope(|s| {
            let idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let favicon = s.spawn(move || get(port, b"GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n"));
            let post = s.spawn(move || get(port, b"POST /cb HTTP/1.1\r\nHost: x\r\n\r\n"));
            let redirect = s.spawn(move || get(port, b"GET /cb?code=c&state=s HTTP/1.1\r\nHost: x\r\n\r\n"));
            let request = next(&mut listener, "/cb");
            assert_eq!(request.query.as_str(), "code=c&state=s");
            request.answer(200, "Signed in", "You can <close> this window.");
            let page = redirect.join().unwrap();
            assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
            assert!(page.contains("Referrer-Policy: no-referrer"));
            assert!(page.contains("You can &lt;close&gt; this window."));
            // The others were answered in the same or a later round.
            while !favicon.is_finished() || !post.is_finished() {
                listener.poll("/cb");
                std::thread::sleep(Duration::from_millis(5));
            }
            assert!(favicon.join().unwrap().starts_with("HTTP/1.1 404 "));
            assert!(post.join().unwrap().starts_with("HTTP/1.1 405 "));
            drop(idle);
        });
    }

    #[test]
    fn a_huge_head_is_refused_and_garbage_is_answered_400() {
        let mut listener = Listener::bind(0).unwrap();
        let port = listener.port();
        std::thread::scope(|s| {
            let huge = s.spawn(move || {
                let mut request = b"GET /cb?".to_vec();
                request.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
                get(port, &request)
            });
            let garbage = s.spawn(move || get(port, b"\x16\x03\x01 hello\r\n\r\n"));
            while !huge.is_finished() || !garbage.is_finished() {
                assert!(listener.poll("/cb").is_none());
                std::thread::sleep(Duration::from_millis(5));
            }
            assert!(huge.join().unwrap().starts_with("HTTP/1.1 431 "));
            assert!(garbage.join().unwrap().starts_with("HTTP/1.1 400 "));
        });
    }

    #[test]
    fn a_used_port_is_a_sign_in_error() {
        let taken = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = taken.local_addr().unwrap().port();
        let e = Listener::bind(port).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::SignIn);
        assert!(
            e.message().contains(&format!("127.0.0.1:{port}")),
            "{}",
            e.message()
        );
    }
}
