//! Signing a user in (authorization code + PKCE + DPoP) against the strict local test server,
//! with the test acting as the browser: a small HTTP client that follows the authorization
//! endpoint's redirect to the client's loopback listener.

use dpop_core::{Algorithm, Client, ErrorKind, Key, ManualClock};
use dpop_testserver::{AuthorizationIss, ClientAuth, Config, Fault, IdTokenFault, RecordedRequest, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::Duration;

const PUBLIC: &str = "desktop.app";
const WAIT: Duration = Duration::from_secs(30);

fn config() -> Config {
    Config {
        registered_clients: vec![dpop_testserver::Client {
            id: PUBLIC.into(),
            auth: ClientAuth::None,
        }],
        clients: vec![("web.app".into(), "web-secret-Hk29xQ".into())],
        ..Config::default()
    }
}

fn settings(server: &Server, extra: &str) -> String {
    format!(
        r#"{{"grant_type":"authorization_code","client_id":"{PUBLIC}","issuer":"{}",
            "redirect_uri":"http://127.0.0.1:0/callback","scope":"api"{extra}}}"#,
        server.issuer()
    )
}

fn client_with(server: &Server, extra: &str) -> (Client, Arc<Key>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    let client = Client::with_clock(Arc::clone(&clock) as _);
    let key = Arc::new(Key::generate(Algorithm::Es256).unwrap());
    client.set_key(Arc::clone(&key));
    client.set_auth_token(&settings(server, extra)).unwrap();
    (client, key, clock)
}

/// What the test's browser got for one GET.
#[derive(Debug)]
struct Page {
    status: u16,
    location: Option<String>,
    body: String,
}

/// One GET over plain HTTP to 127.0.0.1, as a browser sends it.
fn browse(url: &str) -> Page {
    let parsed = url::Url::parse(url).unwrap();
    let port = parsed.port().unwrap();
    let target = match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_string(),
    };
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: test-browser\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let location = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("Location: ")
                .or_else(|| l.strip_prefix("location: "))
        })
        .map(str::to_string);
    Page {
        status,
        location,
        body: body.to_string(),
    }
}

/// The browser's part: the authorization endpoint, then its redirect to the listener.
fn browser(url: &str) -> Page {
    let authorization = browse(url);
    assert_eq!(authorization.status, 302, "{authorization:?}");
    browse(authorization.location.as_deref().unwrap())
}

/// Starts a sign-in, lets the browser run in another thread while this one waits: the wait's
/// outcome and the browser's last page.
fn sign_in(client: &Client) -> (dpop_core::Result<bool>, Page) {
    client.sign_in_start(false).unwrap();
    let url = client.sign_in_url().expect("a sign-in in progress");
    std::thread::scope(|s| {
        let page = s.spawn(move || browser(&url));
        let outcome = client.sign_in_wait(WAIT);
        (outcome, page.join().unwrap())
    })
}

fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

fn form_param(request: &RecordedRequest, name: &str) -> Option<String> {
    url::form_urlencoded::parse(request.body.as_bytes())
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

fn requests_to(server: &Server, path: &str) -> Vec<RecordedRequest> {
    server
        .stats()
        .requests
        .into_iter()
        .filter(|r| r.path == path)
        .collect()
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).expect("a JSON body")
}

fn sha256_b64(text: &str) -> String {
    use base64ct::Encoding;
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    base64ct::Base64UrlUnpadded::encode_string(digest.as_ref())
}

#[test]
fn a_public_client_signs_in_with_pkce_bound_to_its_key_and_calls_the_api() {
    let server = Server::start(config()).unwrap();
    let (client, key, _) = client_with(&server, "");
    client.sign_in_start(false).unwrap();
    let url = client.sign_in_url().unwrap();
    assert!(
        url.starts_with(&format!("{}/authorize?", server.base_url())),
        "{url}"
    );
    let param = |name: &str| query_param(&url, name);
    assert_eq!(param("response_type").as_deref(), Some("code"));
    assert_eq!(param("client_id").as_deref(), Some(PUBLIC));
    assert_eq!(param("scope").as_deref(), Some("api"));
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(
        param("dpop_jkt").as_deref(),
        Some(key.thumbprint()),
        "RFC 9449 §10"
    );
    assert!(param("state").unwrap().len() >= 22, "at least 128 bits");
    assert!(param("nonce").is_none(), "no nonce without openid");
    let redirect_uri = param("redirect_uri").unwrap();
    let port = url::Url::parse(&redirect_uri).unwrap().port().unwrap();
    assert_ne!(port, 0, "the port actually bound");
    assert_eq!(redirect_uri, format!("http://127.0.0.1:{port}/callback"));
    let page = std::thread::scope(|s| {
        let page = s.spawn(|| browser(&url));
        assert!(client.sign_in_wait(WAIT).unwrap());
        page.join().unwrap()
    });
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("You are signed in"), "{}", page.body);
    assert!(client.sign_in_url().is_none(), "the sign-in has ended");
    // The server checked PKCE and the key; the code grant carried the verifier.
    let grant = &requests_to(&server, "/token")[0];
    let verifier = form_param(grant, "code_verifier").unwrap();
    assert!((43..=128).contains(&verifier.len()));
    assert_eq!(sha256_b64(&verifier), param("code_challenge").unwrap());
    assert_eq!(form_param(grant, "redirect_uri"), Some(redirect_uri));
    assert_eq!(form_param(grant, "client_id").as_deref(), Some(PUBLIC));
    assert!(form_param(grant, "scope").is_none());
    let response = client.get(&server.api_url()).unwrap();
    assert_eq!(response.status(), 200, "{}", response.body_text());
    let body = json(response.body());
    assert_eq!(body["token"]["cnf"]["jkt"], key.thumbprint());
    assert_eq!(body["token"]["client_id"], PUBLIC);
    let stats = server.stats();
    assert_eq!(stats.authorization_requests, 1);
    assert_eq!(stats.authorization_code_grants, 1);
    assert_eq!(stats.token_requests, 1, "the signed-in token serves the API");
    let info: serde_json::Value = serde_json::from_str(&client.token_info().unwrap()).unwrap();
    assert_eq!(info["refresh_token"], true);
    assert!(
        !client.sign_in_wait(Duration::ZERO).unwrap(),
        "no sign-in in progress any more"
    );
}

#[test]
fn a_request_before_signing_in_or_after_the_refresh_token_is_refused_needs_the_user() {
    let server = Server::start(config()).unwrap();
    let (client, _, clock) = client_with(&server, "");
    let e = client.get(&server.api_url()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SignInRequired, "{e:?}");
    assert_eq!(server.stats().token_requests, 0, "nothing to ask the server");
    let (outcome, _) = sign_in(&client);
    assert!(outcome.unwrap());
    server.revoke_refresh_tokens();
    clock.advance(Duration::from_secs(600));
    let e = client.get(&server.api_url()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SignInRequired, "{e:?}");
    assert!(e.message().contains("invalid_grant"), "{}", e.message());
    assert_eq!(server.stats().refresh_grants, 0);
}

#[test]
fn an_expired_token_is_refreshed_with_the_refresh_token_without_the_user() {
    let server = Server::start(Config {
        token_ttl: 120,
        ..config()
    })
    .unwrap();
    let (client, key, clock) = client_with(&server, "");
    assert!(sign_in(&client).0.unwrap());
    assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
    clock.advance(Duration::from_secs(121));
    let response = client.get(&server.api_url()).unwrap();
    assert_eq!(response.status(), 200, "{}", response.body_text());
    assert_eq!(json(response.body())["token"]["cnf"]["jkt"], key.thumbprint());
    let stats = server.stats();
    assert_eq!(stats.refresh_grants, 1);
    assert_eq!(stats.authorization_requests, 1, "no new sign-in");
    let refresh = requests_to(&server, "/token").pop().unwrap();
    assert_eq!(
        form_param(&refresh, "grant_type").as_deref(),
        Some("refresh_token")
    );
    assert_eq!(form_param(&refresh, "client_id").as_deref(), Some(PUBLIC));
}

#[test]
fn par_forced_by_the_settings_pushes_the_request_with_a_proof_and_a_nonce_retry() {
    let server = Server::start(Config {
        require_nonce_token: true,
        ..config()
    })
    .unwrap();
    let (client, key, _) = client_with(&server, r#","par":true"#);
    client.sign_in_start(false).unwrap();
    let url = client.sign_in_url().unwrap();
    let names: Vec<String> = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .map(|(n, _)| n.into_owned())
        .collect();
    assert_eq!(names, ["client_id", "request_uri"], "{url}");
    let pushes = requests_to(&server, "/par");
    assert_eq!(pushes.len(), 2, "the first push met the nonce demand");
    assert_eq!(pushes[0].status, 400);
    assert_eq!(pushes[1].status, 201);
    let proof = pushes[1]
        .verify_proof(&format!("{}/par", server.base_url()), 60)
        .expect("a valid DPoP proof on the PAR request (RFC 9449 §10.1)");
    assert_eq!(proof.jkt, key.thumbprint());
    assert_eq!(proof.claim("nonce"), Some(server.current_nonce().as_str()));
    assert_eq!(
        form_param(&pushes[1], "dpop_jkt").as_deref(),
        Some(key.thumbprint())
    );
    let outcome = std::thread::scope(|s| {
        s.spawn(|| browser(&url));
        client.sign_in_wait(WAIT)
    });
    assert!(outcome.unwrap());
    assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
    assert_eq!(server.stats().par_requests, 2);
}

#[test]
fn par_required_by_the_metadata_is_used_by_a_confidential_client() {
    let server = Server::start(Config {
        require_par: true,
        ..config()
    })
    .unwrap();
    let client = Client::new();
    client.set_key(Arc::new(Key::generate(Algorithm::EdDsa).unwrap()));
    client
        .set_auth_token(&format!(
            r#"{{"grant_type":"authorization_code","client_id":"web.app","client_secret":"web-secret-Hk29xQ",
                "auth_method":"client_secret_basic","issuer":"{}","redirect_uri":"http://127.0.0.1:0/callback"}}"#,
            server.issuer()
        ))
        .unwrap();
    let (outcome, page) = sign_in(&client);
    assert!(outcome.unwrap(), "{page:?}");
    let push = &requests_to(&server, "/par")[0];
    assert!(push.header("authorization").unwrap().starts_with("Basic "));
    assert_eq!(server.stats().par_requests, 1);
    assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
}

#[test]
fn a_redirect_with_another_state_is_ignored_and_the_right_one_is_taken() {
    let server = Server::start(config()).unwrap();
    let (client, _, _) = client_with(&server, "");
    client.sign_in_start(false).unwrap();
    let url = client.sign_in_url().unwrap();
    let redirect_uri = query_param(&url, "redirect_uri").unwrap();
    let (forged, favicon, real) = std::thread::scope(|s| {
        let pages = s.spawn(|| {
            let forged = browse(&format!("{redirect_uri}?code=forged-code&state=another-state"));
            let favicon = browse(&redirect_uri.replace("/callback", "/favicon.ico"));
            (forged, favicon, browser(&url))
        });
        assert!(client.sign_in_wait(WAIT).unwrap());
        pages.join().unwrap()
    });
    assert_eq!(forged.status, 400);
    assert!(forged.body.contains("does not belong to the sign-in in progress"));
    assert_eq!(favicon.status, 404);
    assert_eq!(real.status, 200);
    assert_eq!(server.stats().authorization_code_grants, 1);
    assert_eq!(server.stats().token_requests, 1, "the forged code was never sent");
}

#[test]
fn access_denied_ends_the_sign_in_with_the_servers_error() {
    let server = Server::start(Config {
        deny_authorization: true,
        ..config()
    })
    .unwrap();
    let (client, _, _) = client_with(&server, "");
    let (outcome, page) = sign_in(&client);
    let e = outcome.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SignIn);
    assert_eq!(
        e.message(),
        "the authorization server refused the sign-in: access_denied (the user denied the request)"
    );
    assert_eq!(page.status, 400);
    assert!(page.body.contains("access_denied"), "{}", page.body);
    assert!(client.sign_in_url().is_none());
    assert_eq!(server.stats().token_requests, 0);
}

#[test]
fn a_wrong_or_missing_iss_ends_the_sign_in_and_the_code_is_never_exchanged() {
    let wrong = Server::start(Config {
        authorization_iss: AuthorizationIss::Wrong,
        ..config()
    })
    .unwrap();
    let (client, _, _) = client_with(&wrong, "");
    let e = sign_in(&client).0.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SignIn);
    assert!(
        e.message().contains("'https://other-issuer.example' instead of"),
        "{}",
        e.message()
    );
    assert_eq!(wrong.stats().token_requests, 0);
    // Promised by the metadata, then left out: refused.
    let omitted = Server::start(Config {
        authorization_iss: AuthorizationIss::Omitted,
        ..config()
    })
    .unwrap();
    let (client, _, _) = client_with(&omitted, "");
    let e = sign_in(&client).0.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SignIn);
    assert!(e.message().contains("has no 'iss'"), "{}", e.message());
    // Neither promised nor sent: accepted.
    let silent = Server::start(Config {
        authorization_iss: AuthorizationIss::Omitted,
        advertise_iss_parameter: false,
        ..config()
    })
    .unwrap();
    let (client, _, _) = client_with(&silent, "");
    assert!(sign_in(&client).0.unwrap());
}

#[test]
fn openid_sends_a_nonce_and_checks_the_id_token() {
    let server = Server::start(config()).unwrap();
    let (client, _, _) = client_with(&server, r#","scope":"openid api""#);
    let (outcome, _) = sign_in(&client);
    assert!(outcome.unwrap());
    let authorize = &requests_to(&server, "/authorize")[0];
    assert!(authorize.body.is_empty());
    for (fault, kind, says) in [
        (IdTokenFault::WrongNonce, ErrorKind::SignIn, "another nonce"),
        (
            IdTokenFault::WrongAudience,
            ErrorKind::SignIn,
            "is not for this client",
        ),
        (IdTokenFault::WrongIssuer, ErrorKind::SignIn, "names the issuer"),
        (IdTokenFault::Missing, ErrorKind::TokenResponse, "has no id_token"),
    ] {
        let broken = Server::start(Config {
            id_token_fault: Some(fault),
            ..config()
        })
        .unwrap();
        let (client, _, _) = client_with(&broken, r#","scope":"openid api""#);
        let (outcome, page) = sign_in(&client);
        let e = outcome.unwrap_err();
        assert_eq!(e.kind(), kind, "{fault:?}: {e:?}");
        assert!(e.message().contains(says), "{fault:?}: {}", e.message());
        assert_eq!(page.status, 400, "the browser is told too");
        let later = client.get(&broken.api_url()).unwrap_err();
        assert_eq!(
            later.kind(),
            ErrorKind::SignInRequired,
            "the tokens were not kept"
        );
    }
}

#[test]
fn a_cancel_from_another_thread_ends_the_wait_and_closes_the_listener() {
    let server = Server::start(config()).unwrap();
    let (client, _, _) = client_with(&server, "");
    client.sign_in_start(false).unwrap();
    let redirect_uri = query_param(&client.sign_in_url().unwrap(), "redirect_uri").unwrap();
    let port = url::Url::parse(&redirect_uri).unwrap().port().unwrap();
    let both = Barrier::new(2);
    let outcome = std::thread::scope(|s| {
        s.spawn(|| {
            both.wait();
            client.sign_in_cancel();
        });
        both.wait();
        // Cancelled while waiting, or before the wait began: either way the wait says so, far
        // sooner than its timeout (which would give Pending).
        client.sign_in_wait(Duration::from_secs(120))
    });
    assert_eq!(outcome.unwrap_err().kind(), ErrorKind::Cancelled);
    assert!(client.sign_in_url().is_none());
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the listener is closed"
    );
    assert!(
        !client.sign_in_wait(Duration::ZERO).unwrap(),
        "nothing in progress"
    );
    client.sign_in_cancel();
}

/// How long a cancelled exchange may take to stop: far below the timeouts the two tests below
/// set (a minute), so an exchange that ran to a timeout fails. Not a speed claim.
const PROMPTLY: Duration = Duration::from_secs(10);

fn long_timeouts(client: &Client) {
    client
        .set_timeouts(Duration::from_secs(60), Duration::from_secs(60))
        .unwrap();
    client.set_request_timeout(Duration::from_secs(120)).unwrap();
}

/// Polls until `condition` holds, failing after a minute.
fn until(what: &str, condition: impl Fn() -> bool) {
    let give_up = std::time::Instant::now() + WAIT * 2;
    while !condition() {
        assert!(std::time::Instant::now() < give_up, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_cancel_stops_a_code_exchange_that_hangs_and_keeps_no_token() {
    let server = Server::start(config()).unwrap();
    let (client, _, _) = client_with(&server, "");
    long_timeouts(&client);
    client.sign_in_start(false).unwrap();
    let url = client.sign_in_url().unwrap();
    server.set_token_fault(Some(Fault::Hang)).unwrap();
    let (outcome, page, took) = std::thread::scope(|s| {
        let page = s.spawn(move || browser(&url));
        let wait = s.spawn(|| client.sign_in_wait(WAIT * 4));
        until("the token endpoint holds the code exchange", || {
            requests_to(&server, "/token").iter().any(|r| r.status == 0)
        });
        let cancelled_at = std::time::Instant::now();
        client.sign_in_cancel();
        let outcome = wait.join().unwrap();
        let took = cancelled_at.elapsed();
        (outcome, page.join().unwrap(), took)
    });
    assert_eq!(outcome.unwrap_err().kind(), ErrorKind::Cancelled);
    assert!(took < PROMPTLY, "the exchange stopped {took:?} after the cancel");
    assert_eq!(page.status, 400, "the browser is told: {page:?}");
    assert!(page.body.contains("cancelled"), "{}", page.body);
    server.set_token_fault(None).unwrap();
    let e = client.get(&server.api_url()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SignInRequired, "no token was kept: {e:?}");
    assert!(client.sign_in_url().is_none(), "the sign-in has ended");
}

#[test]
fn a_cancel_stops_a_start_whose_metadata_endpoint_hangs() {
    // An issuer that accepts connections and never answers.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://127.0.0.1:{}", hung.local_addr().unwrap().port());
    let (accepted, connections) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in hung.incoming().flatten() {
            let _ = accepted.send(stream);
        }
    });
    let client = Client::new();
    client.set_key(Arc::new(Key::generate(Algorithm::Es256).unwrap()));
    client
        .set_auth_token(&format!(
            r#"{{"grant_type":"authorization_code","client_id":"{PUBLIC}","issuer":"{issuer}",
                "redirect_uri":"http://127.0.0.1:0/callback","scope":"api"}}"#
        ))
        .unwrap();
    long_timeouts(&client);
    let (outcome, took) = std::thread::scope(|s| {
        let start = s.spawn(|| client.sign_in_start(false));
        // Held open (not dropped) until the start has returned.
        let _held = connections
            .recv_timeout(WAIT)
            .expect("the start connects to the issuer");
        // The connection is accepted before the request is written: give the start a moment
        // to be reading, though a cancel before that stops it as well.
        std::thread::sleep(Duration::from_millis(100));
        let cancelled_at = std::time::Instant::now();
        client.sign_in_cancel();
        let outcome = start.join().unwrap();
        (outcome, cancelled_at.elapsed())
    });
    assert_eq!(outcome.unwrap_err().kind(), ErrorKind::Cancelled);
    assert!(took < PROMPTLY, "the start stopped {took:?} after the cancel");
    assert!(client.sign_in_url().is_none(), "no sign-in was started");
    // A cancel with nothing in progress does not stop the next start.
    client.sign_in_cancel();
    let server = Server::start(config()).unwrap();
    client.set_auth_token(&settings(&server, "")).unwrap();
    client.sign_in_start(false).unwrap();
    assert!(client.sign_in_url().is_some());
}

#[test]
fn a_wait_that_runs_out_is_pending_and_the_sign_in_goes_on() {
    let server = Server::start(config()).unwrap();
    let (client, _, _) = client_with(&server, "");
    client.sign_in_start(false).unwrap();
    for timeout in [Duration::ZERO, Duration::from_millis(50)] {
        let e = client.sign_in_wait(timeout).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Pending, "{e:?}");
    }
    let url = client.sign_in_url().expect("still in progress");
    let outcome = std::thread::scope(|s| {
        s.spawn(|| browser(&url));
        // A UI host polls with short waits between its events.
        loop {
            match client.sign_in_wait(Duration::from_millis(30)) {
                Err(e) if e.kind() == ErrorKind::Pending => continue,
                other => break other,
            }
        }
    });
    assert!(outcome.unwrap());
    assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
}

#[test]
fn the_sign_in_timeout_ends_a_sign_in_the_browser_never_finishes() {
    let server = Server::start(config()).unwrap();
    let (client, _, _) = client_with(&server, r#","sign_in_timeout":1"#);
    client.sign_in_start(false).unwrap();
    let e = client.sign_in_wait(WAIT).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SignIn);
    assert!(e.message().contains("sign_in_timeout"), "{}", e.message());
    assert!(client.sign_in_url().is_none());
}

#[test]
fn new_settings_during_a_sign_in_drop_its_tokens() {
    let server = Server::start(config()).unwrap();
    let (client, _, _) = client_with(&server, "");
    client.sign_in_start(false).unwrap();
    let url = client.sign_in_url().unwrap();
    client.set_key(Arc::new(Key::generate(Algorithm::Es256).unwrap()));
    let outcome = std::thread::scope(|s| {
        s.spawn(|| browser(&url));
        client.sign_in_wait(WAIT)
    });
    let e = outcome.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TokenConfig);
    assert!(
        e.message().contains("changed during the sign-in"),
        "{}",
        e.message()
    );
    assert_eq!(
        client.get(&server.api_url()).unwrap_err().kind(),
        ErrorKind::SignInRequired
    );
}

#[test]
fn signing_in_needs_the_authorization_code_settings_and_a_key() {
    let server = Server::start(config()).unwrap();
    let client = Client::new();
    assert_eq!(
        client.sign_in_start(false).unwrap_err().kind(),
        ErrorKind::TokenConfig
    );
    client
        .set_auth_token(&format!(
            r#"{{"client_id":"web.app","client_secret":"web-secret-Hk29xQ","token_endpoint":"{}"}}"#,
            server.token_url()
        ))
        .unwrap();
    let e = client.sign_in_start(false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TokenConfig);
    assert!(e.message().contains("client_credentials"), "{}", e.message());
    client.set_auth_token(&settings(&server, "")).unwrap();
    assert_eq!(
        client.sign_in_start(false).unwrap_err().kind(),
        ErrorKind::KeyNotLoaded
    );
    assert!(client.sign_in_url().is_none());
    assert!(!client.sign_in_wait(Duration::ZERO).unwrap());
}

#[test]
fn no_code_verifier_state_nonce_or_token_reaches_the_session_log_or_an_error() {
    let server = Server::start(Config {
        token_ttl: 60,
        ..config()
    })
    .unwrap();
    let log = std::env::temp_dir().join(format!("dpop-sign-in-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let (client, _, clock) = client_with(&server, r#","scope":"openid api","par":true"#);
    client.set_session_log(Some(&log)).unwrap();
    assert!(sign_in(&client).0.unwrap());
    assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
    clock.advance(Duration::from_secs(61));
    assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
    client.set_session_log(None).unwrap();
    let push = &requests_to(&server, "/par")[0];
    let tokens = requests_to(&server, "/token");
    let api = requests_to(&server, "/dpop/test");
    let mut secrets = vec![
        form_param(push, "state").unwrap(),
        form_param(push, "nonce").unwrap(),
        form_param(&tokens[0], "code").unwrap(),
        form_param(&tokens[0], "code_verifier").unwrap(),
        form_param(&tokens[1], "refresh_token").unwrap(),
    ];
    for request in &api {
        let authorization = request.header("authorization").unwrap();
        secrets.push(authorization.strip_prefix("DPoP ").unwrap().to_string());
    }
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::remove_file(&log).unwrap();
    assert!(
        text.contains("POST http://127.0.0.1:") && text.contains("/par"),
        "the PAR request is logged"
    );
    assert!(
        text.contains("grant_type=authorization_code"),
        "the code grant is logged"
    );
    for secret in &secrets {
        assert!(secret.len() >= 16, "{secret}");
        assert!(
            !text.contains(secret.as_str()),
            "a secret in the session log:\n{text}"
        );
    }
    // An error after a redirect names no secret either.
    let denied = Server::start(Config {
        deny_authorization: true,
        authorization_iss: AuthorizationIss::Wrong,
        ..config()
    })
    .unwrap();
    let (client, _, _) = client_with(&denied, "");
    client.sign_in_start(false).unwrap();
    let url = client.sign_in_url().unwrap();
    let state = query_param(&url, "state").unwrap();
    let outcome = std::thread::scope(|s| {
        s.spawn(|| browser(&url));
        client.sign_in_wait(WAIT)
    });
    let message = outcome.unwrap_err().message().to_string();
    assert!(!message.contains(&state) && !message.contains(&url), "{message}");
}

/// `DPOP_BROWSER` is read by every sign-in that opens the browser: the one test that does so.
#[cfg(unix)]
#[test]
fn the_browser_is_the_program_named_by_dpop_browser_and_a_launch_failure_leaves_the_url() {
    use std::os::unix::fs::PermissionsExt;
    let server = Server::start(config()).unwrap();
    let dir = std::env::temp_dir().join(format!("dpop-browser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let seen = dir.join("url.txt");
    let program = dir.join("browser.sh");
    std::fs::write(
        &program,
        format!(
            "#!/bin/sh\n[ $# -eq 1 ] || exit 9\nprintf '%s' \"$1\" > '{}.tmp' && mv '{0}.tmp' '{0}'\n",
            seen.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::env::set_var("DPOP_BROWSER", &program);
    let (client, _, _) = client_with(&server, "");
    client.sign_in_start(true).unwrap();
    let url = client.sign_in_url().unwrap();
    let outcome = std::thread::scope(|s| {
        s.spawn(|| {
            // The program got the URL as its only argument (it writes it once it has run).
            while !seen.exists() {
                std::thread::sleep(Duration::from_millis(10));
            }
            assert_eq!(std::fs::read_to_string(&seen).unwrap(), url);
            browser(&url)
        });
        client.sign_in_wait(WAIT)
    });
    assert!(outcome.unwrap());
    // A program that cannot run: the error says to open the URL by hand, which is still there.
    std::env::set_var("DPOP_BROWSER", dir.join("no-such-browser"));
    let (client, _, _) = client_with(&server, "");
    let e = client.sign_in_start(true).unwrap_err();
    std::env::remove_var("DPOP_BROWSER");
    assert_eq!(e.kind(), ErrorKind::SignIn);
    assert!(
        e.message().contains("could not open the browser"),
        "{}",
        e.message()
    );
    assert!(e.message().contains("by hand"), "{}", e.message());
    let url = client
        .sign_in_url()
        .expect("the sign-in waits for a browser opened by hand");
    assert!(!e.message().contains(&query_param(&url, "state").unwrap()));
    let outcome = std::thread::scope(|s| {
        s.spawn(|| browser(&url));
        client.sign_in_wait(WAIT)
    });
    assert!(outcome.unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}
