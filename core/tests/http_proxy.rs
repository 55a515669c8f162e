//! The HTTP client through an HTTP proxy on loopback: a small tunnelling proxy that counts
//! what passes through it.

use dpop_core::{Algorithm, Client, Key};
use dpop_testserver::{Config, Server};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

/// A proxy that tunnels `CONNECT host:port` and forwards absolute-form requests, counting
/// the connections it handled and keeping their first lines.
struct Proxy {
    port: u16,
    connections: Arc<AtomicUsize>,
    first_lines: Arc<parking_lot::Mutex<Vec<String>>>,
}

impl Proxy {
    fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let first_lines = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let (count, lines) = (Arc::clone(&connections), Arc::clone(&first_lines));
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                let lines = Arc::clone(&lines);
                thread::spawn(move || {
                    let _ = serve(client, &lines);
                });
            }
        });
        Proxy {
            port,
            connections,
            first_lines,
        }
    }
}

fn serve(client: TcpStream, lines: &parking_lot::Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let first = head.lines().next().unwrap_or("").to_string();
    lines.lock().push(first.clone());
    let mut parts = first.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut client = client;
    let upstream = if method == "CONNECT" {
        let upstream = TcpStream::connect(target)?;
        client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
        upstream
    } else {
        // Absolute form: http://host:port/path
        let authority = target
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or("");
        let mut upstream = TcpStream::connect(authority)?;
        upstream.write_all(head.as_bytes())?;
        upstream
    };
    let buffered = reader.buffer().to_vec();
    let mut to_upstream = upstream.try_clone()?;
    to_upstream.write_all(&buffered)?;
    let mut from_client = reader.into_inner();
    let forward = thread::spawn(move || std::io::copy(&mut from_client, &mut to_upstream));
    let mut from_upstream = upstream;
    std::io::copy(&mut from_upstream, &mut client)?;
    let _ = forward.join();
    Ok(())
}

fn client_for(server: &Server, proxy: &Proxy) -> Client {
    let client = Client::new();
    client.set_key(Arc::new(Key::generate(Algorithm::Es256).unwrap()));
    client
        .set_auth_token(&format!(
            r#"{{"client_id":"m2m.dpop","client_secret":"secret","token_endpoint":"{}"}}"#,
            server.token_url()
        ))
        .unwrap();
    client
        .set_proxy(Some(&format!("http://127.0.0.1:{}", proxy.port)))
        .unwrap();
    client
}

#[test]
fn plain_http_to_loopback_never_crosses_a_proxy_unless_insecure_http_is_allowed() {
    let server = Server::start(Config::default()).unwrap();
    let proxy = Proxy::start();
    let client = client_for(&server, &proxy);
    assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
    assert_eq!(
        proxy.connections.load(Ordering::SeqCst),
        0,
        "the token and the secret went to the loopback server directly, not in clear through the proxy"
    );
    assert_eq!(server.stats().api_ok, 1);
}

#[test]
fn requests_and_token_requests_go_through_the_proxy() {
    let server = Server::start(Config::default()).unwrap();
    let proxy = Proxy::start();
    let client = client_for(&server, &proxy);
    // The test server speaks plain http: the host must allow that through the proxy.
    client.set_allow_insecure_http(true).unwrap();
    let response = client.get(&server.api_url()).unwrap();
    assert_eq!(response.status(), 200, "{}", response.body_text());
    assert!(proxy.connections.load(Ordering::SeqCst) >= 1);
    let lines = proxy.first_lines.lock().clone();
    let host = server.base_url().trim_start_matches("http://").to_string();
    assert!(
        lines.iter().all(|l| l.contains(&host)),
        "every request went to the server: {lines:?}"
    );
    // The proof's htu is the server's URL, not the proxy's: the server accepted it.
    assert_eq!(server.stats().api_ok, 1);
    // Back to direct connections.
    client.set_proxy(None).unwrap();
    let before = proxy.connections.load(Ordering::SeqCst);
    assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
    assert_eq!(proxy.connections.load(Ordering::SeqCst), before);
}

#[test]
fn an_unreachable_proxy_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client = Client::new();
    client
        .set_proxy(Some(&format!("http://127.0.0.1:{port}")))
        .unwrap();
    client.set_allow_insecure_http(true).unwrap();
    let err = client.get("http://127.0.0.1:9/plain").unwrap_err();
    assert_eq!(err.kind(), dpop_core::ErrorKind::HttpConnect, "{err}");
}
