//! README promises of the HTTP client that no other test checked, each against the local test
//! server (or a listener of its own) over loopback: a token endpoint that goes down during a
//! proactive refresh, no lock held during network I/O, plain http beyond loopback only when
//! allowed, the token request's optional parameters, TLS host names, and a session log that
//! appends. Time is a [`ManualClock`]: no test sleeps to let a token age.

use dpop_core::{Algorithm, Client, ErrorKind, Key, ManualClock};
use dpop_testserver::{Config, Fault, RecordedRequest, Server};
use std::io::Read;
use std::net::TcpListener;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

const SECRET: &str = "promises-secret-W4nB7q";

fn config() -> Config {
    Config {
        clients: vec![("m2m.dpop".into(), SECRET.into())],
        ..Config::default()
    }
}

fn settings(token_endpoint: &str, extra: &str) -> String {
    format!(
        r#"{{"client_id":"m2m.dpop","client_secret":"{SECRET}","token_endpoint":"{token_endpoint}","scope":"api"{extra}}}"#
    )
}

/// A client with a fresh key and token settings for `server`, telling time by a clock the test
/// moves.
fn client_with_clock(server: &Server) -> (Client, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    let client = Client::with_clock(Arc::clone(&clock) as _);
    client.set_key(Arc::new(Key::generate(Algorithm::Es256).unwrap()));
    client.set_auth_token(&settings(&server.token_url(), "")).unwrap();
    (client, clock)
}

/// The access token a recorded API request carried.
fn token_sent(request: &RecordedRequest) -> String {
    request
        .header("authorization")
        .and_then(|a| a.strip_prefix("DPoP "))
        .unwrap_or_else(|| panic!("{} {} carried no DPoP token", request.method, request.path))
        .to_string()
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "dpop-promises-{name}-{}-{:?}",
        std::process::id(),
        Instant::now()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_token_endpoint_down_during_a_proactive_refresh_keeps_the_token_retries_5_s_later_and_fails_at_expiry() {
    // 20 s tokens: due for refresh 10 s after they arrive (the 60 s margin is capped at half
    // the lifetime), expired after 20 s.
    let server = Server::start(Config {
        token_ttl: 20,
        ..config()
    })
    .unwrap();
    let (client, clock) = client_with_clock(&server);
    let api = server.api_url();
    let token_statuses = || -> Vec<u16> {
        let stats = server.stats();
        stats
            .requests
            .iter()
            .filter(|r| r.path == "/token")
            .map(|r| r.status)
            .collect()
    };
    let get_ok = |when: &str| {
        let response = client.get(&api).unwrap_or_else(|e| panic!("{when}: {e}"));
        assert_eq!(response.status(), 200, "{when}: {}", response.body_text());
    };

    get_ok("t = 0 s");
    assert_eq!(token_statuses(), [200]);
    server.set_token_fault(Some(Fault::Status500)).unwrap();

    // Due, still valid: the refresh fails, the token keeps serving.
    clock.advance(Duration::from_secs(11));
    get_ok("t = 11 s, the refresh fails");
    assert_eq!(token_statuses(), [200, 500], "one refresh attempt");
    // Not tried again for 5 s...
    clock.advance(Duration::from_millis(4_900));
    get_ok("t = 15.9 s");
    assert_eq!(
        token_statuses(),
        [200, 500],
        "no attempt within 5 s of the failure"
    );
    // ...and tried again exactly then.
    clock.advance(Duration::from_millis(100));
    get_ok("t = 16 s, the second refresh fails");
    assert_eq!(
        token_statuses(),
        [200, 500, 500],
        "the retry 5 s after the failure"
    );
    clock.advance(Duration::from_millis(3_900));
    get_ok("t = 19.9 s, the last moment of the token");
    assert_eq!(token_statuses(), [200, 500, 500]);

    // Expired: now the failure is the caller's, and nothing reaches the API.
    clock.advance(Duration::from_millis(100));
    let api_requests = server.stats().api_requests;
    let error = client
        .get(&api)
        .expect_err("t = 20 s: the token has expired and cannot be replaced");
    assert_eq!(error.kind(), ErrorKind::TokenEndpoint, "{error}");
    assert!(error.message().contains("500"), "{error}");
    assert_eq!(token_statuses(), [200, 500, 500, 500]);
    assert_eq!(
        server.stats().api_requests,
        api_requests,
        "no request with an expired token"
    );

    // The endpoint comes back: a new token at once.
    server.set_token_fault(None).unwrap();
    get_ok("t = 20 s, the endpoint is back");
    assert_eq!(token_statuses(), [200, 500, 500, 500, 200]);

    let stats = server.stats();
    let tokens: Vec<String> = stats
        .requests
        .iter()
        .filter(|r| r.path == "/dpop/test")
        .map(token_sent)
        .collect();
    assert_eq!(tokens.len(), 6);
    assert!(
        tokens[..5].iter().all(|t| *t == tokens[0]),
        "the first token served until it expired"
    );
    assert_ne!(tokens[5], tokens[0], "then a new one");
    assert_eq!(stats.invalid_token_rejections, 0);
}

#[test]
fn no_lock_is_held_while_other_requests_wait_on_the_network() {
    let server = Server::start(config()).unwrap();
    let (client, _) = client_with_clock(&server);
    // Long enough that a request stuck behind a lock would still be waiting when the fast one
    // is checked; short enough to end the hung requests soon after.
    client
        .set_timeouts(Duration::from_secs(2), Duration::from_secs(3))
        .unwrap();
    assert_eq!(
        client.get(&server.api_url()).unwrap().status(),
        200,
        "the token is there"
    );

    // Another origin that accepts a connection, reads the request and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}/api", silent.local_addr().unwrap());
    let (request_arrived, arrived) = mpsc::channel();
    let (test_done, done) = mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let (mut stream, _) = silent.accept().unwrap();
        let mut first = [0u8; 1];
        let _ = stream.read(&mut first);
        request_arrived.send(()).unwrap();
        let _ = done.recv_timeout(Duration::from_secs(30));
    });

    std::thread::scope(|s| {
        let elsewhere = s.spawn(|| client.get(&silent_url));
        arrived
            .recv_timeout(Duration::from_secs(10))
            .expect("the request reached the silent listener");
        // And one on the same origin as the fast request: /stall is read and never answered.
        let same_origin = s.spawn(|| client.get(&format!("{}/stall", server.base_url())));
        let waited = Instant::now();
        while !server.stats().requests.iter().any(|r| r.path == "/stall") {
            assert!(
                waited.elapsed() < Duration::from_secs(10),
                "/stall was never reached"
            );
            std::thread::sleep(Duration::from_millis(5));
        }

        // Both wait for an answer now; a third request on the same client goes through.
        let started = Instant::now();
        let response = client.get(&server.api_url()).unwrap();
        let took = started.elapsed();
        assert_eq!(response.status(), 200);
        assert!(
            !elsewhere.is_finished() && !same_origin.is_finished(),
            "the hung requests were still waiting when the other one finished"
        );
        assert!(
            took < Duration::from_secs(1),
            "the request took {took:?}: it waited for the hung ones"
        );

        for hung in [elsewhere, same_origin] {
            let error = hung.join().unwrap().expect_err("no answer ever came");
            assert_eq!(error.kind(), ErrorKind::HttpTimeout, "{error}");
        }
    });
    test_done.send(()).unwrap();
    holder.join().unwrap();
}

#[test]
fn plain_http_beyond_loopback_is_refused_unless_allowed() {
    // 192.0.2.1 (TEST-NET-1) never answers: allowed, a request fails to connect or times out.
    let url = "http://192.0.2.1/api";
    let client = Client::new();
    client.set_key(Arc::new(Key::generate(Algorithm::Es256).unwrap()));
    client
        .set_timeouts(Duration::from_millis(300), Duration::from_millis(300))
        .unwrap();
    client.set_request_timeout(Duration::from_secs(2)).unwrap();
    let reached =
        |error: &dpop_core::Error| matches!(error.kind(), ErrorKind::HttpConnect | ErrorKind::HttpTimeout);

    let error = client.get(url).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::HttpInsecure, "{error}");
    client.set_allow_insecure_http(true).unwrap();
    let error = client.get(url).unwrap_err();
    assert!(
        reached(&error),
        "allowed, the request goes out: {:?} {error}",
        error.kind()
    );

    // The token endpoint too.
    client.set_allow_insecure_http(false).unwrap();
    client
        .set_auth_token(&settings("http://192.0.2.1/token", ""))
        .unwrap();
    let error = client.get("https://127.0.0.1:9/api").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::HttpInsecure, "{error}");
    client.set_allow_insecure_http(true).unwrap();
    let error = client.get("https://127.0.0.1:9/api").unwrap_err();
    assert!(
        reached(&error),
        "allowed, the token request goes out: {:?} {error}",
        error.kind()
    );
    assert!(client.settings().allow_insecure_http);
}

#[test]
fn audience_resource_and_extra_params_are_sent_to_the_token_endpoint() {
    let server = Server::start(config()).unwrap();
    let (client, _) = client_with_clock(&server);
    let extra = r#","audience":"https://api.example/aud","resource":"https://rs.example/r?x=1","extra_params":{"tenant":"t 1&2=3","x":"y"}"#;
    client
        .set_auth_token(&settings(&server.token_url(), extra))
        .unwrap();
    assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
    let stats = server.stats();
    let token_request = stats.requests.iter().find(|r| r.path == "/token").unwrap();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(token_request.body.as_bytes())
        .into_owned()
        .collect();
    let value = |name: &str| -> Vec<&str> {
        form.iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(value("audience"), ["https://api.example/aud"], "{form:?}");
    assert_eq!(value("resource"), ["https://rs.example/r?x=1"], "{form:?}");
    assert_eq!(value("tenant"), ["t 1&2=3"], "{form:?}");
    assert_eq!(value("x"), ["y"], "{form:?}");
    assert_eq!(value("grant_type"), ["client_credentials"]);
    assert_eq!(value("scope"), ["api"]);
}

/// A private CA, and for each name list a certificate it signed, with its key; all PEM.
fn ca_and_certificates(names: &[&[&str]]) -> (String, Vec<(String, String)>) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let certificates = names
        .iter()
        .map(|names| {
            let key = KeyPair::generate().unwrap();
            let params =
                CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
            (params.signed_by(&key, &ca).unwrap().pem(), key.serialize_pem())
        })
        .collect();
    (ca.pem(), certificates)
}

#[test]
fn a_tls_certificate_for_another_host_name_is_refused() {
    let (ca, certificates) = ca_and_certificates(&[&["other.example"], &["127.0.0.1"]]);
    let [wrong_name, right_name] = [0, 1].map(|i| {
        Server::start(Config {
            tls: Some(certificates[i].clone()),
            ..config()
        })
        .unwrap()
    });
    let dir = tempdir("tls-name");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca).unwrap();

    // The same CA trusted; only the name differs.
    let (client, _) = client_with_clock(&right_name);
    client.set_ca_file(Some(&ca_file)).unwrap();
    let response = client.get(&right_name.api_url()).unwrap();
    assert_eq!(
        response.status(),
        200,
        "the CA is trusted: {}",
        response.body_text()
    );

    client
        .set_auth_token(&settings(&wrong_name.token_url(), ""))
        .unwrap();
    let error = client.get(&wrong_name.api_url()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::HttpTls, "{error}");
    // With a token of its own the client goes straight to the API: refused there too.
    let token = right_name
        .stats()
        .requests
        .iter()
        .find(|r| r.path == "/dpop/test")
        .map(token_sent)
        .unwrap();
    client.set_access_token(Some(&token), None).unwrap();
    let error = client.get(&wrong_name.api_url()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::HttpTls, "{error}");
    let stats = wrong_name.stats();
    assert!(stats.connections >= 2, "the client did connect");
    assert!(stats.requests.is_empty(), "no request got through the handshake");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_session_log_appends_to_an_existing_file() {
    let server = Server::start(config()).unwrap();
    let (client, _) = client_with_clock(&server);
    let dir = tempdir("log-append");
    let log = dir.join("session.log");
    let before = "---- an earlier session's entry\nwith its lines\n\n";
    std::fs::write(&log, before).unwrap();

    client.set_session_log(Some(&log)).unwrap();
    assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
    // Stopped and started again: still appended.
    client.set_session_log(None).unwrap();
    client.set_session_log(Some(&log)).unwrap();
    assert_eq!(
        client
            .get(&format!("{}/plain", server.base_url()))
            .unwrap()
            .status(),
        200
    );

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.starts_with(before), "the existing content is kept: {text}");
    let entries: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("---- ") && l.ends_with(" request"))
        .collect();
    assert_eq!(
        entries.len(),
        3,
        "the token request, the API request, then /plain: {text}"
    );
    let plain = text.find("/plain").expect("the second session's request");
    assert!(
        text.find("/dpop/test").is_some_and(|api| api < plain),
        "in order: {text}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
