//! Fault modes: each misbehaviour of the token endpoint and the API, the token endpoint's endless
//! nonce demand, the connection counter, and checking recorded proofs.

mod common;

use common::*;
use dpop_testserver::{Config, Fault, Server};
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn with_token_fault(fault: Fault) -> Server {
    Server::start(Config {
        token_fault: Some(fault),
        ..Config::default()
    })
    .unwrap()
}

fn with_api_fault(fault: Fault) -> Server {
    Server::start(Config {
        api_fault: Some(fault),
        ..Config::default()
    })
    .unwrap()
}

/// A token request with a valid proof and client_secret_post.
fn token(server: &Server) -> Reply {
    token_request(server, &TestKey::es256(), &client_credentials_form(), &[])
}

/// The raw text of a keep-alive GET.
fn keep_alive_get(server: &Server, path: &str, headers: &[(&str, &str)]) -> String {
    let mut text = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n", authority(server));
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text + "\r\n"
}

/// Reads one response head, and its body as bytes (by Content-Length).
fn read_raw(stream: &mut impl Read) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "closed before a response");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "closed inside the body");
        body.extend_from_slice(&chunk[..n]);
    }
    (head, body)
}

#[test]
fn token_endpoint_500_issues_nothing() {
    let server = with_token_fault(Fault::Status500);
    token(&server).assert_error(500, "server_error", "the server failed (fault mode)");
    let stats = server.stats();
    assert_eq!((stats.token_requests, stats.tokens_issued), (1, 0));
    assert_eq!(stats.requests[0].status, 500);
}

#[test]
fn html_body_is_a_200_page() {
    let server = with_token_fault(Fault::HtmlBody);
    let reply = token(&server);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(reply.body.starts_with("<!DOCTYPE html>"), "{}", reply.body);
}

#[test]
fn no_access_token_answers_a_token_response_without_one() {
    let server = with_token_fault(Fault::NoAccessToken);
    let reply = token(&server);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"token_type": "DPoP", "expires_in": 300}));
    assert_eq!(server.stats().tokens_issued, 0);
}

#[test]
fn faults_that_do_not_fit_their_endpoint_are_refused() {
    for config in [
        Config {
            token_fault: Some(Fault::EndlessInvalidToken),
            ..Config::default()
        },
        Config {
            api_fault: Some(Fault::NoAccessToken),
            ..Config::default()
        },
    ] {
        let error = Server::start(config).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{error}");
    }
}

#[test]
fn the_token_fault_can_be_switched_while_the_server_runs() {
    let server = Server::start(Config::default()).unwrap();
    assert_eq!(token(&server).status, 200);
    server.set_token_fault(Some(Fault::Status500)).unwrap();
    token(&server).assert_error(500, "server_error", "the server failed (fault mode)");
    // Other endpoints are not affected, and the switch goes back.
    assert_eq!(
        send(&server, "GET", "/plain", &[], "").status,
        200,
        "other endpoints answer as usual"
    );
    server.set_token_fault(None).unwrap();
    assert_eq!(token(&server).status, 200);
    let stats = server.stats();
    assert_eq!((stats.token_requests, stats.tokens_issued), (3, 2));
    let statuses: Vec<u16> = stats
        .requests
        .iter()
        .filter(|r| r.path == "/token")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [200, 500, 200]);
    // A fault for another endpoint is refused, and changes nothing.
    let error = server
        .set_token_fault(Some(Fault::EndlessInvalidToken))
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{error}");
    assert_eq!(token(&server).status, 200);
}

#[test]
fn hang_records_the_request_and_never_answers() {
    let server = with_api_fault(Fault::Hang);
    let mut stream = connect(&server);
    stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    stream
        .write_all(request_text(&server, "GET", "/dpop/test", &[], "").as_bytes())
        .unwrap();
    let error = stream.read(&mut [0u8; 1]).expect_err("no answer");
    assert!(matches!(
        error.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ));
    let stats = server.stats();
    assert_eq!((stats.api_requests, stats.requests[0].status), (1, 0));
    let started = Instant::now();
    drop(server);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn reset_resets_the_connection_also_after_a_kept_alive_request() {
    let server = with_api_fault(Fault::Reset);
    let mut stream = connect(&server);
    stream
        .write_all(keep_alive_get(&server, "/plain", &[]).as_bytes())
        .unwrap();
    assert_eq!(read_reply(&mut stream).body, "hello");
    stream
        .write_all(keep_alive_get(&server, "/dpop/test", &[("DPoP", "x.y.z")]).as_bytes())
        .unwrap();
    let mut byte = [0u8; 1];
    let error = stream
        .read(&mut byte)
        .expect_err("a reset, not an answer or an end");
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}");
    let stats = server.stats();
    assert_eq!((stats.api_requests, stats.requests.len()), (1, 2));
    let reset = &stats.requests[1];
    assert_eq!((reset.path.as_str(), reset.status), ("/dpop/test", 0));
    assert_eq!(reset.header("dpop"), Some("x.y.z"), "the head is recorded");
}

#[test]
fn token_endpoint_reset_leaves_other_endpoints_alone() {
    let server = with_token_fault(Fault::Reset);
    assert_eq!(send(&server, "GET", "/plain", &[], "").body, "hello");
    let mut stream = connect(&server);
    let request = request_text(&server, "POST", "/token", &[], &client_credentials_form());
    stream.write_all(request.as_bytes()).unwrap();
    let error = stream.read(&mut [0u8; 1]).expect_err("a reset");
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}");
    assert_eq!(server.stats().token_requests, 1);
}

#[test]
fn huge_body_is_streamed_with_its_content_length() {
    const LEN: u64 = 200 << 20;
    let server = with_api_fault(Fault::HugeBody(LEN));
    let mut stream = connect(&server);
    stream
        .write_all(request_text(&server, "GET", "/dpop/test", &[], "").as_bytes())
        .unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    let mut head = Vec::new();
    let head_end = loop {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0);
        head.extend_from_slice(&buf[..n]);
        if let Some(pos) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
    };
    let text = String::from_utf8_lossy(&head[..head_end]).into_owned();
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.contains(&format!("Content-Length: {LEN}")), "{text}");
    let mut received = (head.len() - head_end - 4) as u64;
    while received < LEN {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {received} bytes");
        assert!(buf[..n].iter().all(|b| *b == b'x'));
        received += n as u64;
    }
    assert_eq!(received, LEN);
}

#[test]
fn trickle_sends_a_slice_every_tick() {
    let server = with_api_fault(Fault::Trickle {
        bytes: 300,
        per_second: 1000,
    });
    let mut stream = connect(&server);
    let started = Instant::now();
    stream
        .write_all(request_text(&server, "GET", "/dpop/test", &[], "").as_bytes())
        .unwrap();
    let (head, body) = read_raw(&mut stream);
    assert!(head.contains("Content-Length: 300"), "{head}");
    assert_eq!(body, vec![b'x'; 300]);
    // Three slices of 100 bytes, 100 ms apart.
    assert!(
        started.elapsed() >= Duration::from_millis(190),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn redirect_answers_302_with_the_location() {
    let server = with_api_fault(Fault::Redirect("http://127.0.0.1:9/elsewhere".into()));
    let reply = send(&server, "GET", "/dpop/test", &[], "");
    assert_eq!(reply.status, 302);
    assert_eq!(reply.header("location"), Some("http://127.0.0.1:9/elsewhere"));
}

#[test]
fn binary_body_has_every_byte_value() {
    let server = with_api_fault(Fault::BinaryBody);
    let mut stream = connect(&server);
    stream
        .write_all(request_text(&server, "GET", "/dpop/test", &[], "").as_bytes())
        .unwrap();
    let (head, body) = read_raw(&mut stream);
    assert!(head.contains("Content-Type: application/octet-stream"), "{head}");
    assert_eq!(body, Fault::BINARY_BODY);
}

#[test]
fn malformed_challenge_comes_with_a_nonce_and_no_oauth_error() {
    let server = with_api_fault(Fault::MalformedChallenge);
    let reply = send(&server, "GET", "/dpop/test", &[], "");
    assert_eq!((reply.status, reply.body.as_str()), (401, "unauthorized"));
    assert_eq!(reply.header("www-authenticate"), Some(Fault::MALFORMED_CHALLENGE));
    assert_eq!(reply.header("dpop-nonce"), Some(server.current_nonce().as_str()));
}

#[test]
fn nonce_on_200_volunteers_a_fresh_nonce_and_accepts_it() {
    let server = with_api_fault(Fault::NonceOn200);
    let key = TestKey::es256();
    let token = get_token(&server, &key);
    let reply = api_get(&server, &token, &api_proof(&server, &key, &token));
    assert_eq!(reply.status, 200, "{reply:?}");
    let nonce = reply.header("dpop-nonce").expect("a nonce on the 200").to_owned();
    let mut claims = api_claims(&server, &token);
    claims["nonce"] = json!(nonce);
    let reply = api_get(&server, &token, &jws(&key.header(), &claims, &key));
    assert_eq!(reply.status, 200, "{reply:?}");
    let next = reply.header("dpop-nonce").unwrap();
    assert_ne!(next, nonce, "each 200 brings a new nonce");
    let stats = server.stats();
    assert_eq!(stats.requests[0].nonce, None, "the token endpoint has no fault");
    assert_eq!(stats.requests[1].nonce.as_deref(), Some(nonce.as_str()));
    assert_eq!(stats.requests[2].nonce.as_deref(), Some(next));
}

#[test]
fn endless_invalid_token_refuses_every_valid_token() {
    let server = with_api_fault(Fault::EndlessInvalidToken);
    let key = TestKey::es256();
    for _ in 0..2 {
        let token = get_token(&server, &key);
        api_get(&server, &token, &api_proof(&server, &key, &token))
            .assert_challenge("invalid_token", "every access token is refused (fault mode)");
    }
    // The proof is still checked first.
    let token = get_token(&server, &key);
    api_get(&server, &token, &api_proof(&server, &TestKey::es256(), &token)).assert_challenge(
        "invalid_token",
        "the proof key does not match the token's cnf.jkt",
    );
    assert_eq!(server.stats().invalid_token_rejections, 3);
}

#[test]
fn token_endpoint_can_demand_a_fresh_nonce_every_time() {
    let server = Server::start(Config {
        token_nonce_every_request: true,
        ..Config::default()
    })
    .unwrap();
    let key = TestKey::es256();
    let mut nonce = server.current_nonce();
    for _ in 0..3 {
        let mut claims = claims("POST", &server.token_url());
        claims["nonce"] = json!(nonce);
        let proof = jws(&key.header(), &claims, &key);
        let headers = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("DPoP", proof.as_str()),
        ];
        let reply = send(&server, "POST", "/token", &headers, &client_credentials_form());
        reply.assert_error(
            400,
            "use_dpop_nonce",
            "a fresh nonce is required on every request",
        );
        let fresh = reply.header("dpop-nonce").unwrap().to_owned();
        assert_ne!(fresh, nonce);
        nonce = fresh;
    }
    let stats = server.stats();
    assert_eq!((stats.nonce_rejections_token, stats.tokens_issued), (3, 0));
}

#[test]
fn connections_are_counted() {
    let server = Server::start(Config::default()).unwrap();
    assert_eq!(server.stats().connections, 0);
    let mut stream = connect(&server);
    for _ in 0..2 {
        stream
            .write_all(keep_alive_get(&server, "/plain", &[]).as_bytes())
            .unwrap();
        read_reply(&mut stream);
    }
    let _idle = TcpStream::connect(authority(&server)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let stats = server.stats();
    assert_eq!((stats.connections, stats.requests.len()), (2, 2));
}

#[test]
fn recorded_proofs_can_be_checked_afterwards() {
    let server = with_api_fault(Fault::Status500);
    let key = TestKey::es256();
    let token = get_token(&server, &key);
    let reply = api_get(&server, &token, &api_proof(&server, &key, &token));
    assert_eq!(reply.status, 500, "the fault answers without checking");
    let stats = server.stats();
    let [token_request, api_request] = &stats.requests[..] else {
        panic!("two requests: {:?}", stats.requests)
    };
    let proof = token_request.verify_proof(&server.token_url(), 60).unwrap();
    assert_eq!(proof.jkt, key.thumbprint());
    assert_eq!(proof.claim("htm"), Some("POST"));
    let proof = api_request.verify_proof(&server.api_url(), 60).unwrap();
    assert_eq!(proof.claim("ath"), Some(b64(&sha256(&token)).as_str()));
    assert_eq!(
        api_request.verify_proof(&server.token_url(), 60).unwrap_err(),
        "htu does not match the request URL"
    );
}

fn sha256(text: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .to_vec()
}
