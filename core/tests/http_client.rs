//! The DPoP HTTP client against the strict local test server, over real loopback HTTP(S).

use dpop_core::{Algorithm, Client, ErrorKind, Key, ManualClock};
use dpop_testserver::{Config, Server};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const SECRET: &str = "s3cr3t-Zq8vK2mP9xL4";

fn config() -> Config {
    Config {
        clients: vec![("m2m.dpop".into(), SECRET.into())],
        ..Config::default()
    }
}

fn settings(server: &Server, extra: &str) -> String {
    format!(
        r#"{{"client_id":"m2m.dpop","client_secret":"{SECRET}","token_endpoint":"{}","scope":"api"{extra}}}"#,
        server.token_url()
    )
}

fn client_for(server: &Server) -> Client {
    client_with_clock(server).0
}

/// A client whose token cache tells time by a clock the test moves.
fn client_with_clock(server: &Server) -> (Client, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    let client = Client::with_clock(Arc::clone(&clock) as _);
    client.set_key(Arc::new(Key::generate(Algorithm::Es256).unwrap()));
    client.set_auth_token(&settings(server, "")).unwrap();
    (client, clock)
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).expect("a JSON body")
}

#[test]
fn token_is_fetched_once_and_reused() {
    let server = Server::start(config()).unwrap();
    let client = client_for(&server);
    for _ in 0..3 {
        let response = client.get(&server.api_url()).unwrap();
        assert_eq!(response.status(), 200, "{}", response.body_text());
    }
    let stats = server.stats();
    assert_eq!(stats.token_requests, 1);
    assert_eq!(stats.api_ok, 3);
    let body = json(client.get(&server.api_url()).unwrap().body());
    assert_eq!(body["token"]["client_id"], "m2m.dpop");
    assert_eq!(body["token"]["scope"], "api");
}

#[test]
fn every_key_algorithm_works_end_to_end() {
    let server = Server::start(config()).unwrap();
    for alg in [Algorithm::Es256, Algorithm::Es384, Algorithm::EdDsa] {
        let client = client_for(&server);
        let key = Arc::new(Key::generate(alg).unwrap());
        client.set_key(Arc::clone(&key));
        let response = client.get(&server.api_url()).unwrap();
        assert_eq!(response.status(), 200, "{alg:?}: {}", response.body_text());
        assert_eq!(json(response.body())["token"]["cnf"]["jkt"], key.thumbprint());
    }
}

#[test]
fn client_secret_basic_authenticates() {
    let server = Server::start(config()).unwrap();
    let client = client_for(&server);
    client
        .set_auth_token(&settings(&server, r#","auth_method":"client_secret_basic""#))
        .unwrap();
    assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
    let token_request = &server.stats().requests[0];
    let auth = token_request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.as_str())
        .unwrap();
    assert!(auth.starts_with("Basic "));
    assert!(!token_request.body.contains("client_secret"));
}

#[test]
fn proactive_refresh_replaces_a_token_before_it_expires() {
    let server = Server::start(Config {
        token_ttl: 2,
        ..config()
    })
    .unwrap();
    let (client, clock) = client_with_clock(&server);
    assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
    // Within the margin (capped at half the 2 s lifetime) but before expiry.
    clock.advance(Duration::from_millis(1300));
    assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
    let stats = server.stats();
    assert_eq!(stats.client_credentials_grants, 2);
    assert_eq!(
        stats.invalid_token_rejections, 0,
        "the old token was never sent expired"
    );
    assert_eq!(stats.api_ok, 2);
}

#[test]
fn refresh_token_grant_is_used_when_issued() {
    let server = Server::start(Config {
        token_ttl: 2,
        issue_refresh_tokens: true,
        ..config()
    })
    .unwrap();
    let (client, clock) = client_with_clock(&server);
    assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
    clock.advance(Duration::from_millis(1300));
    assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
    clock.advance(Duration::from_millis(1300));
    assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
    let stats = server.stats();
    assert_eq!(stats.client_credentials_grants, 1);
    assert_eq!(stats.refresh_grants, 2);
}

#[test]
fn authorization_server_nonce_demand_is_retried_once() {
    let server = Server::start(Config {
        require_nonce_token: true,
        ..config()
    })
    .unwrap();
    let client = client_for(&server);
    assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
    let stats = server.stats();
    assert_eq!(stats.token_requests, 2);
    assert_eq!(stats.nonce_rejections_token, 1);
    assert_eq!(stats.tokens_issued, 1);
    // The two token requests carried different proofs (a fresh jti for the retry).
    let proofs: Vec<&str> = stats
        .requests
        .iter()
        .filter(|r| r.path == "/token")
        .map(|r| header(&r.headers, "dpop"))
        .collect();
    assert_eq!(proofs.len(), 2);
    assert_ne!(proofs[0], proofs[1]);
}

#[test]
fn resource_server_nonce_demand_is_retried_once_then_the_nonce_is_reused() {
    let server = Server::start(Config {
        require_nonce_api: true,
        ..config()
    })
    .unwrap();
    let client = client_for(&server);
    assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
    let stats = server.stats();
    assert_eq!(stats.api_requests, 2);
    assert_eq!(stats.nonce_rejections_api, 1);
    // The nonce came back with the 200 too; the next requests carry it without a retry.
    for _ in 0..3 {
        assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
    }
    let stats = server.stats();
    assert_eq!(stats.api_requests, 5);
    assert_eq!(stats.nonce_rejections_api, 1);
    // The server moves on (it still takes the previous nonce): the 200 brings the new one,
    // and after another move only a client that learned it from that 200 passes first time.
    server.rotate_nonce();
    assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
    server.rotate_nonce();
    assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
    let stats = server.stats();
    assert_eq!(stats.api_requests, 7);
    assert_eq!(
        stats.nonce_rejections_api, 1,
        "no retry: the nonce from the 200 was used"
    );
}

#[test]
fn nonce_learned_from_a_successful_token_response_is_used_at_the_api() {
    // Same origin for AS and RS: the nonce from the token endpoint's answer serves the API.
    let server = Server::start(Config {
        require_nonce_token: true,
        require_nonce_api: true,
        ..config()
    })
    .unwrap();
    let client = client_for(&server);
    assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
    let stats = server.stats();
    assert_eq!(stats.nonce_rejections_api, 0);
    assert_eq!(stats.api_requests, 1);
}

#[test]
fn nonces_stay_with_their_origin() {
    // Found by the interop suite: oidc-provider without a nonceSecret refuses any proof with a
    // nonce, so a nonce learned from one server must never reach another; the test server now
    // refuses such proofs too.
    let with_nonces = Server::start(Config {
        require_nonce_token: true,
        require_nonce_api: true,
        ..config()
    })
    .unwrap();
    let without = Server::start(config()).unwrap();
    let client = client_for(&with_nonces);
    assert_eq!(client.get(&with_nonces.api_url()).unwrap().status(), 200);
    client.set_auth_token(&settings(&without, "")).unwrap();
    let response = client.get(&without.api_url()).unwrap();
    assert_eq!(response.status(), 200, "{}", response.body_text());
    let stats = without.stats();
    assert_eq!((stats.token_requests, stats.api_requests), (1, 1));
    assert!(stats
        .requests
        .iter()
        .all(|r| !jwt_payload(header(&r.headers, "dpop")).contains_key("nonce")));
    // And back: the first server's nonce is still known and used, without a new demand.
    client.set_auth_token(&settings(&with_nonces, "")).unwrap();
    assert_eq!(client.get(&with_nonces.api_url()).unwrap().status(), 200);
    let stats = with_nonces.stats();
    assert_eq!((stats.nonce_rejections_token, stats.nonce_rejections_api), (1, 0));
}

#[test]
fn a_server_that_always_wants_a_new_nonce_gets_one_retry_only() {
    let server = Server::start(Config {
        api_nonce_every_request: true,
        ..config()
    })
    .unwrap();
    let client = client_for(&server);
    let response = client.get(&server.api_url()).unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(server.stats().api_requests, 2);
}

#[test]
fn bearer_downgrade_is_refused_unless_accepted() {
    let server = Server::start(Config {
        token_type: "Bearer".into(),
        ..config()
    })
    .unwrap();
    let client = client_for(&server);
    let err = client.get(&server.api_url()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TokenBearer);
    assert!(err.message().contains("Bearer"), "{err}");
    client.set_accept_bearer(true);
    let response = client.get(&server.api_url()).unwrap();
    let last = server.stats().requests.last().cloned().unwrap();
    assert!(header(&last.headers, "authorization").starts_with("Bearer "));
    // The strict test server only takes DPoP tokens.
    assert_eq!(response.status(), 401);
}

#[test]
fn invalid_token_causes_exactly_one_refetch() {
    let server = Server::start(config()).unwrap();
    let client = client_for(&server);
    assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
    server.revoke_all_tokens();
    assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
    let stats = server.stats();
    assert_eq!(stats.token_requests, 2);
    assert_eq!(stats.invalid_token_rejections, 1);
}

#[test]
fn sixty_four_concurrent_first_calls_make_one_token_request() {
    let server = Server::start(config()).unwrap();
    let client = Arc::new(client_for(&server));
    let barrier = Arc::new(Barrier::new(64));
    let url = server.api_url();
    let threads: Vec<_> = (0..64)
        .map(|_| {
            let (client, barrier, url) = (Arc::clone(&client), Arc::clone(&barrier), url.clone());
            std::thread::spawn(move || {
                barrier.wait();
                client.get(&url).map(|r| r.status())
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap().unwrap(), 200);
    }
    let stats = server.stats();
    assert_eq!(stats.token_requests, 1);
    assert_eq!(stats.api_ok, 64);
}

#[test]
fn session_log_masks_every_secret_token_and_proof() {
    let server = Server::start(Config {
        issue_refresh_tokens: true,
        require_nonce_token: true,
        token_ttl: 2,
        ..config()
    })
    .unwrap();
    let dir = tempdir("session-log");
    let log = dir.join("session.log");
    let (client, clock) = client_with_clock(&server);
    client.set_session_log(Some(&log)).unwrap();
    assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
    clock.advance(Duration::from_millis(1300));
    let response = client
        .request(
            "POST",
            &format!("{}/dpop/echo", server.base_url()),
            &[("X-Trace", "t1")],
            b"{\"a\":1}",
        )
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("authorization: DPoP ****"), "{text}");
    assert!(text.contains("dpop: ****"));
    assert!(text.contains("client_secret=****"));
    assert!(text.contains("\"access_token\":\"****\""));
    assert!(text.contains("refresh_token=****"));
    assert!(text.contains("---- response 400"), "the nonce demand is logged");
    assert!(text.contains("x-trace: t1"));
    // Every secret value the server saw is absent from the log.
    let stats = server.stats();
    let mut secrets = vec![SECRET.to_string()];
    for r in &stats.requests {
        secrets.push(header(&r.headers, "dpop").to_string());
        let auth = header(&r.headers, "authorization");
        if let Some(token) = auth.strip_prefix("DPoP ") {
            secrets.push(token.to_string());
        }
        for pair in r.body.split('&') {
            if let Some(rt) = pair.strip_prefix("refresh_token=") {
                secrets.push(rt.to_string());
            }
        }
    }
    assert!(secrets.len() > 6);
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        assert!(
            !text.contains(secret.as_str()),
            "the log contains a secret: {secret}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_server_that_never_answers_times_out() {
    let server = Server::start(config()).unwrap();
    let client = client_for(&server);
    client
        .set_timeouts(Duration::from_secs(2), Duration::from_millis(300))
        .unwrap();
    let started = Instant::now();
    let err = client.get(&format!("{}/stall", server.base_url())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HttpTimeout, "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn https_with_a_private_ca_loaded_from_a_file() {
    let (ca_pem, cert_pem, key_pem) = private_ca();
    let server = Server::start(Config {
        tls: Some((cert_pem, key_pem)),
        ..config()
    })
    .unwrap();
    assert!(server.base_url().starts_with("https://"));
    let client = client_for(&server);
    let err = client.get(&server.api_url()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HttpTls, "an unknown CA is refused: {err}");
    let dir = tempdir("ca");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    client.set_ca_file(Some(&ca_file)).unwrap();
    let response = client.get(&server.api_url()).unwrap();
    assert_eq!(response.status(), 200, "{}", response.body_text());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn plain_http_is_refused_beyond_loopback() {
    let client = Client::new();
    client.set_key(Arc::new(Key::generate(Algorithm::Es256).unwrap()));
    let err = client.get("http://example.com/api").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HttpInsecure);
    let err = client.get("ftp://example.com/").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HttpUrl);
    client
        .set_auth_token(&format!(
            r#"{{"client_id":"a","client_secret":"{SECRET}","token_endpoint":"http://as.example/token"}}"#
        ))
        .unwrap();
    let err = client.get("https://127.0.0.1:9/api").unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::HttpInsecure,
        "the token endpoint is checked too: {err}"
    );
    assert!(!err.message().contains(SECRET));
}

#[test]
fn general_request_carries_method_headers_and_body() {
    let server = Server::start(config()).unwrap();
    let client = client_for(&server);
    let url = format!("{}/dpop/echo?page=2", server.base_url());
    let response = client
        .request(
            "PUT",
            &url,
            &[("X-Custom", "one"), ("Content-Type", "application/json")],
            br#"{"k":"v"}"#,
        )
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.body_text());
    let body = json(response.body());
    assert_eq!(body["method"], "PUT");
    assert_eq!(body["body"], r#"{"k":"v"}"#);
    assert_eq!(body["headers"]["x-custom"], "one");
    assert_eq!(body["proof"]["htm"], "PUT");
    assert_eq!(body["proof"]["htu"], format!("{}/dpop/echo", server.base_url()));
    assert!(response
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let err = client
        .request("GET", &url, &[("Authorization", "x")], b"")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = client.request("GET", &url, &[], b"body").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn host_provided_token_is_used_without_fetching() {
    let server = Server::start(config()).unwrap();
    let key = Arc::new(Key::generate(Algorithm::Es256).unwrap());
    let fetcher = client_for(&server);
    fetcher.set_key(Arc::clone(&key));
    assert_eq!(fetcher.get(&server.api_url()).unwrap().status(), 200);
    let token = header(&server.stats().requests.last().unwrap().headers, "authorization")
        .strip_prefix("DPoP ")
        .unwrap()
        .to_string();
    let client = Client::new();
    client.set_key(key);
    client.set_access_token(Some(&token), None).unwrap();
    assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
    assert_eq!(server.stats().token_requests, 1);
    assert!(client.token_info().unwrap().contains(r#""source":"host""#));
}

#[test]
fn token_endpoint_errors_are_reported_with_their_oauth_code() {
    let server = Server::start(config()).unwrap();
    let client = client_for(&server);
    client
        .set_auth_token(&format!(
            r#"{{"client_id":"m2m.dpop","client_secret":"wrong-secret-value","token_endpoint":"{}"}}"#,
            server.token_url()
        ))
        .unwrap();
    let err = client.get(&server.api_url()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TokenEndpoint);
    assert!(err.message().contains("invalid_client"), "{err}");
    assert!(!err.message().contains("wrong-secret-value"));
    let no_key = Client::new();
    no_key.set_auth_token(&settings(&server, "")).unwrap();
    assert_eq!(
        no_key.get(&server.api_url()).unwrap_err().kind(),
        ErrorKind::KeyNotLoaded
    );
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// The claims of a JWT (a proof), unverified.
fn jwt_payload(jwt: &str) -> serde_json::Map<String, serde_json::Value> {
    use base64ct::{Base64UrlUnpadded, Encoding};
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&Base64UrlUnpadded::decode_vec(payload).unwrap()).unwrap()
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dpop-{name}-{}-{:?}", std::process::id(), Instant::now()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A private CA and a server certificate for 127.0.0.1 and localhost, as PEM.
fn private_ca() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let cert = params.signed_by(&server_key, &ca).unwrap();
    (ca.pem(), cert.pem(), server_key.serialize_pem())
}

#[test]
fn the_request_timeout_bounds_the_token_request_and_the_retries() {
    // A token endpoint that accepts the connection and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}/token", silent.local_addr().unwrap());
    // Holds the accepted connection open (the thread ends with the test process).
    std::thread::spawn(move || {
        let _connections: Vec<_> = silent.incoming().take(1).collect();
        std::thread::sleep(Duration::from_secs(60));
    });
    let client = Client::new();
    client.set_key(Arc::new(Key::generate(Algorithm::Es256).unwrap()));
    client
        .set_auth_token(&format!(
            r#"{{"client_id":"m2m.dpop","client_secret":"{SECRET}","token_endpoint":"{endpoint}"}}"#
        ))
        .unwrap();
    // Per-step timeouts far longer than the total.
    client
        .set_timeouts(Duration::from_secs(20), Duration::from_secs(20))
        .unwrap();
    client.set_request_timeout(Duration::from_millis(300)).unwrap();
    let started = Instant::now();
    let err = client.get("http://127.0.0.1:9/api").unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::HttpTimeout, "{err}");
    assert!(err.message().contains("time limit (300 ms in all"), "{err}");
    assert!(
        took < Duration::from_secs(3),
        "bounded by the request timeout, not the read timeout: {took:?}"
    );
    assert_eq!(
        client.set_request_timeout(Duration::ZERO).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn a_post_without_a_body_sends_content_length_zero() {
    let server = Server::start(config()).unwrap();
    let client = client_for(&server);
    let url = format!("{}/dpop/echo", server.base_url());
    let response = client.request("POST", &url, &[], b"").unwrap();
    assert_eq!(response.status(), 200, "{}", response.body_text());
    let sent = server.stats().requests.last().unwrap().clone();
    assert_eq!(header(&sent.headers, "content-length"), "0");
    assert!(sent
        .headers
        .iter()
        .all(|(n, _)| !n.eq_ignore_ascii_case("transfer-encoding")));
    // A GET still carries no Content-Length.
    client.get(&server.api_url()).unwrap();
    let get = server.stats().requests.last().unwrap().clone();
    assert!(get
        .headers
        .iter()
        .all(|(n, _)| !n.eq_ignore_ascii_case("content-length")));
}

/// A server on 127.0.0.1 that answers one request with a response head holding a header
/// of `header_bytes` bytes.
fn long_header_server(header_bytes: usize) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let thread = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf);
        let head = format!(
            "HTTP/1.1 200 OK\r\nX-Long: {}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
            "a".repeat(header_bytes)
        );
        let _ = stream.write_all(head.as_bytes());
    });
    (url, thread)
}

#[test]
fn response_heads_up_to_the_limit_are_read_and_longer_ones_refused() {
    let client = Client::new();
    let (url, server) = long_header_server(40 * 1024);
    let r = client.get(&url).unwrap();
    assert_eq!((r.status(), r.body()), (200, &b"ok"[..]));
    assert_eq!(r.header("x-long").map(|v| v.len()), Some(40 * 1024));
    server.join().unwrap();

    let (url, server) = long_header_server(100 * 1024);
    let e = client.get(&url).unwrap_err();
    assert!(e.message().contains("response header is too big"), "{e:?}");
    server.join().unwrap();
}

/// A server on 127.0.0.1 that answers one HTTPS request (a certificate for 127.0.0.1 from a
/// CA of its own, written to `ca_file`) with `header_bytes` of one header and `body_bytes` of
/// body.
fn long_https_server(
    header_bytes: usize,
    body_bytes: usize,
    ca_file: &std::path::Path,
) -> (String, std::thread::JoinHandle<()>) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use std::io::{Read, Write};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    std::fs::write(ca_file, ca.pem()).unwrap();
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}/", listener.local_addr().unwrap());
    let thread = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let session = rustls::ServerConnection::new(Arc::new(config)).unwrap();
        let mut tls = rustls::StreamOwned::new(session, tcp);
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match tls.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\nX-Long: {}\r\nContent-Length: {body_bytes}\r\nConnection: close\r\n\r\n",
            "a".repeat(header_bytes)
        );
        let _ = tls.write_all(head.as_bytes());
        let _ = tls.write_all(&vec![b'b'; body_bytes]);
        let _ = tls.flush();
        tls.conn.send_close_notify();
        let _ = tls.flush();
    });
    (url, thread)
}

#[test]
fn https_response_heads_up_to_the_limit_and_large_bodies_are_read_and_longer_heads_refused() {
    let dir = std::env::temp_dir().join(format!("dpop-long-https-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");

    let client = Client::new();
    let (url, server) = long_https_server(40 * 1024, 3 << 20, &ca_file);
    client.set_ca_file(Some(&ca_file)).unwrap();
    let r = client.get(&url).unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.header("x-long").map(|v| v.len()), Some(40 * 1024));
    assert_eq!(r.body().len(), 3 << 20);
    assert!(r.body().iter().all(|&b| b == b'b'));
    server.join().unwrap();

    let client = Client::new();
    let (url, server) = long_https_server(100 * 1024, 2, &ca_file);
    client.set_ca_file(Some(&ca_file)).unwrap();
    let e = client.get(&url).unwrap_err();
    assert!(e.message().contains("response header is too big"), "{e:?}");
    server.join().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
