//! The fault matrix: the client against a test server whose token endpoint or API misbehaves,
//! one test per scenario. Besides its own outcome (a status or an error code), every scenario
//! checks
//! - how many requests each endpoint saw;
//! - that nothing reached another origin: a second server, the target of the redirects, counts
//!   the connections it accepted;
//! - that each call ended within a generous multiple of the configured timeouts;
//! - that every proof the server received is valid: signature, `htm`, `htu`, a `jti` never used
//!   before, `ath` of the token sent, the latest nonce the origin gave, and one key throughout
//!   (the access tokens' `cnf.jkt` included).
//!
//! The 200 MB body scenarios also bound the process's peak memory.

use base64ct::{Base64UrlUnpadded, Encoding};
use dpop_core::{ath, Algorithm, Client, ErrorKind, Key, Response};
use dpop_testserver::{Config, Fault, RecordedRequest, Server, Stats};
use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

const SECRET: &str = "fault-matrix-Xq3vR8pL";
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
const READ_TIMEOUT: Duration = Duration::from_millis(500);
/// The bodies of the 200 MB scenarios.
const HUGE: u64 = 200 << 20;
/// A body that would take 20 s to arrive, though each read gets data within 100 ms.
const TRICKLE: Fault = Fault::Trickle {
    bytes: 20_000,
    per_second: 1_000,
};

/// What one call may take: a generous multiple of the timeouts. A call that ends in a timeout
/// waits out one of them, and the other exchanges on loopback are quick. Not a speed claim: it
/// fails a client that waits for a hanging server or a trickling body past its timeouts.
fn call_budget() -> Duration {
    4 * (CONNECT_TIMEOUT + READ_TIMEOUT)
}

/// Scenarios run side by side holding this shared; those that measure the process's peak memory
/// hold it alone, so that no other scenario's allocations count.
static MEMORY_GATE: RwLock<()> = RwLock::new(());

enum Gate {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Alone(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

/// One scenario: the misbehaving server, the origin nothing may reach, and a client with short
/// timeouts and a fresh key.
struct Scenario {
    name: &'static str,
    client: Client,
    key: Arc<Key>,
    server: Server,
    elsewhere: Server,
    /// Last, so that it is released after the servers have stopped.
    _gate: Gate,
}

/// The server's settings before a scenario changes them.
fn base() -> Config {
    Config {
        clients: vec![("m2m.dpop".into(), SECRET.into())],
        ..Config::default()
    }
}

impl Scenario {
    /// Starts a scenario; `configure` gets the other origin (for redirects to it).
    fn start(name: &'static str, configure: impl FnOnce(&Server) -> Config) -> Scenario {
        let gate = Gate::Shared(MEMORY_GATE.read().unwrap_or_else(PoisonError::into_inner));
        Scenario::with_gate(name, gate, configure)
    }

    /// Starts a scenario that runs alone, for memory measurements.
    fn start_alone(name: &'static str, configure: impl FnOnce(&Server) -> Config) -> Scenario {
        let gate = Gate::Alone(MEMORY_GATE.write().unwrap_or_else(PoisonError::into_inner));
        Scenario::with_gate(name, gate, configure)
    }

    fn with_gate(name: &'static str, gate: Gate, configure: impl FnOnce(&Server) -> Config) -> Scenario {
        let elsewhere = Server::start(base()).unwrap();
        let server = Server::start(configure(&elsewhere)).unwrap();
        let key = Arc::new(Key::generate(Algorithm::Es256).unwrap());
        let client = Client::new();
        client.set_key(Arc::clone(&key));
        client
            .set_auth_token(&format!(
                r#"{{"client_id":"m2m.dpop","client_secret":"{SECRET}","token_endpoint":"{}","scope":"api"}}"#,
                server.token_url()
            ))
            .unwrap();
        client.set_timeouts(CONNECT_TIMEOUT, READ_TIMEOUT).unwrap();
        Scenario {
            name,
            client,
            key,
            server,
            elsewhere,
            _gate: gate,
        }
    }

    /// One `GET` of the API, which must end within [`call_budget`].
    fn call(&self) -> dpop_core::Result<Response> {
        let started = Instant::now();
        let outcome = self.client.get(&self.server.api_url());
        let took = started.elapsed();
        assert!(
            took < call_budget(),
            "{}: the call took {took:?}, beyond {:?} with timeouts of {CONNECT_TIMEOUT:?} / {READ_TIMEOUT:?}",
            self.name,
            call_budget()
        );
        outcome
    }

    /// A call that must fail with `kind`.
    fn call_fails(&self, kind: ErrorKind) -> dpop_core::Error {
        match self.call() {
            Ok(response) => panic!(
                "{}: expected {kind:?}, got a response {}: {}",
                self.name,
                response.status(),
                shown(&response)
            ),
            Err(error) => {
                assert_eq!(error.kind(), kind, "{}: {error}", self.name);
                error
            }
        }
    }

    /// A call that must return a response with `status`.
    fn call_answers(&self, status: u16) -> Response {
        match self.call() {
            Ok(response) => {
                assert_eq!(response.status(), status, "{}: {}", self.name, shown(&response));
                response
            }
            Err(error) => panic!("{}: expected a response {status}, got {error}", self.name),
        }
    }

    /// The checks every scenario ends with: requests per endpoint, nothing elsewhere, every
    /// proof valid. Returns the server's stats for the scenario's own checks.
    fn finish(&self, token_requests: u64, api_requests: u64) -> Stats {
        let name = self.name;
        let stats = self.server.stats();
        assert_eq!(
            (stats.token_requests, stats.api_requests),
            (token_requests, api_requests),
            "{name}: (token, API) requests"
        );
        assert_eq!(
            stats.requests.len() as u64,
            token_requests + api_requests,
            "{name}: requests to other paths: {:?}",
            paths(&stats.requests)
        );
        let elsewhere = self.elsewhere.stats();
        assert_eq!(
            (elsewhere.connections, elsewhere.requests.len()),
            (0, 0),
            "{name}: the other origin was contacted: {:?}",
            paths(&elsewhere.requests)
        );
        self.check_proofs(&stats.requests);
        stats
    }

    fn check_proofs(&self, requests: &[RecordedRequest]) {
        let name = self.name;
        let mut jtis = HashSet::new();
        let mut latest_nonce: Option<&str> = None;
        for (i, request) in requests.iter().enumerate() {
            let what = format!("{name}: request {i} ({} {})", request.method, request.path);
            let url = format!("{}{}", self.server.base_url(), request.path);
            let proof = request
                .verify_proof(&url, 60)
                .unwrap_or_else(|e| panic!("{what}: the proof is invalid: {e}"));
            assert!(jtis.insert(proof.jti.clone()), "{what}: the jti was used before");
            assert_eq!(proof.jkt, self.key.thumbprint(), "{what}: another key");
            assert_eq!(
                proof.claim("nonce"),
                latest_nonce,
                "{what}: not the latest nonce of the origin"
            );
            match request.path.as_str() {
                "/token" => {
                    assert_eq!(request.method, "POST", "{what}");
                    assert_eq!(proof.claim("ath"), None, "{what}: ath without a token");
                    assert_eq!(request.header("authorization"), None, "{what}");
                }
                "/dpop/test" => {
                    assert_eq!(request.method, "GET", "{what}");
                    let token = request
                        .header("authorization")
                        .and_then(|a| a.strip_prefix("DPoP "))
                        .unwrap_or_else(|| panic!("{what}: no DPoP Authorization"));
                    assert_eq!(proof.claim("ath"), Some(ath(token).as_str()), "{what}: ath");
                    assert_eq!(
                        jwt_claims(token)["cnf"]["jkt"],
                        self.key.thumbprint(),
                        "{what}: the token is bound to another key"
                    );
                }
                other => panic!("{what}: unexpected path {other}"),
            }
            if let Some(nonce) = &request.nonce {
                latest_nonce = Some(nonce);
            }
        }
    }
}

/// The start of a response body, for messages (a huge body must not flood them).
fn shown(response: &Response) -> String {
    let text = response.body_text();
    let start: String = text.chars().take(200).collect();
    if start.len() < text.len() {
        format!("{start}… ({} bytes)", response.body().len())
    } else {
        start
    }
}

fn paths(requests: &[RecordedRequest]) -> Vec<String> {
    requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// The claims of a JWT, unverified.
fn jwt_claims(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&Base64UrlUnpadded::decode_vec(payload).unwrap()).unwrap()
}

/// The API requests' access tokens, in order.
fn api_tokens(stats: &Stats) -> Vec<&str> {
    stats
        .requests
        .iter()
        .filter(|r| r.path == "/dpop/test")
        .filter_map(|r| r.header("authorization"))
        .collect()
}

/// Runs `f` and returns how much the process's peak resident memory grew meanwhile, in bytes;
/// None where that cannot be measured (only Linux can reset the peak).
fn peak_growth(f: impl FnOnce()) -> Option<u64> {
    fn peak() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line
            .trim_start_matches("VmHWM:")
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    }
    // Writing 5 resets the peak to the current size (Linux 4.0 and later).
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let before = peak().filter(|_| reset);
    f();
    Some(peak()?.saturating_sub(before?))
}

/// Far below the 200 MB of the huge bodies: the client's limit (16 MiB for the API, 1 MiB for
/// the token endpoint) with room for the allocator, and a lot less than the body.
const PEAK_GROWTH_LIMIT: u64 = 48 << 20;

fn assert_not_buffered(name: &str, growth: Option<u64>) {
    match growth {
        Some(growth) => assert!(
            growth < PEAK_GROWTH_LIMIT,
            "{name}: peak memory grew by {} MiB",
            growth >> 20
        ),
        None => eprintln!("{name}: peak memory not measured on this system"),
    }
}

// ---- the token endpoint ----

#[test]
fn token_endpoint_500_is_a_token_endpoint_error() {
    let s = Scenario::start("token endpoint 500", |_| Config {
        token_fault: Some(Fault::Status500),
        ..base()
    });
    let error = s.call_fails(ErrorKind::TokenEndpoint);
    assert!(error.message().contains("500 server_error"), "{error}");
    s.finish(1, 0);
}

#[test]
fn token_endpoint_html_page_is_not_a_token_response() {
    let s = Scenario::start("token endpoint HTML body", |_| Config {
        token_fault: Some(Fault::HtmlBody),
        ..base()
    });
    let error = s.call_fails(ErrorKind::TokenResponse);
    assert!(error.message().contains("not JSON"), "{error}");
    s.finish(1, 0);
}

#[test]
fn token_response_without_access_token_is_refused() {
    let s = Scenario::start("token response without access_token", |_| Config {
        token_fault: Some(Fault::NoAccessToken),
        ..base()
    });
    let error = s.call_fails(ErrorKind::TokenResponse);
    assert!(error.message().contains("access_token"), "{error}");
    s.finish(1, 0);
}

#[test]
fn token_type_bearer_is_refused() {
    let s = Scenario::start("token_type Bearer", |_| Config {
        token_type: "Bearer".into(),
        ..base()
    });
    s.call_fails(ErrorKind::TokenBearer);
    s.finish(1, 0);
}

#[test]
fn token_type_lower_case_dpop_is_a_dpop_token() {
    let s = Scenario::start("token_type dpop", |_| Config {
        token_type: "dpop".into(),
        ..base()
    });
    s.call_answers(200);
    // The API request's checks (Authorization: DPoP, ath, cnf.jkt) are in finish.
    s.finish(1, 1);
}

#[test]
fn token_endpoint_hang_times_out() {
    let s = Scenario::start("token endpoint hang", |_| Config {
        token_fault: Some(Fault::Hang),
        ..base()
    });
    s.call_fails(ErrorKind::HttpTimeout);
    s.finish(1, 0);
}

#[test]
fn token_endpoint_reset_is_an_io_error() {
    let s = Scenario::start("token endpoint connection reset", |_| Config {
        token_fault: Some(Fault::Reset),
        ..base()
    });
    s.call_fails(ErrorKind::HttpIo);
    s.finish(1, 0);
}

#[test]
fn token_endpoint_200_mb_body_is_cut_off_unbuffered() {
    let s = Scenario::start_alone("token endpoint 200 MB body", |_| Config {
        token_fault: Some(Fault::HugeBody(HUGE)),
        ..base()
    });
    let growth = peak_growth(|| {
        s.call_fails(ErrorKind::HttpBodyTooLarge);
    });
    assert_not_buffered(s.name, growth);
    s.finish(1, 0);
}

#[test]
fn token_endpoint_trickle_times_out() {
    let s = Scenario::start("token endpoint trickle", |_| Config {
        token_fault: Some(TRICKLE),
        ..base()
    });
    s.call_fails(ErrorKind::HttpTimeout);
    s.finish(1, 0);
}

#[test]
fn token_endpoint_redirect_is_not_followed() {
    let s = Scenario::start("token endpoint 302 to another origin", |elsewhere| Config {
        token_fault: Some(Fault::Redirect(elsewhere.token_url())),
        ..base()
    });
    let error = s.call_fails(ErrorKind::TokenEndpoint);
    assert!(error.message().contains("302"), "{error}");
    s.finish(1, 0);
}

#[test]
fn token_endpoint_binary_body_is_not_a_token_response() {
    let s = Scenario::start("token endpoint binary body", |_| Config {
        token_fault: Some(Fault::BinaryBody),
        ..base()
    });
    s.call_fails(ErrorKind::TokenResponse);
    s.finish(1, 0);
}

#[test]
fn token_endpoint_malformed_challenge_is_not_a_nonce_demand() {
    let s = Scenario::start("token endpoint malformed WWW-Authenticate", |_| Config {
        token_fault: Some(Fault::MalformedChallenge),
        ..base()
    });
    let error = s.call_fails(ErrorKind::TokenEndpoint);
    assert!(error.message().contains("401"), "{error}");
    s.finish(1, 0);
}

#[test]
fn token_endpoint_nonce_on_200_is_used_at_the_api() {
    let s = Scenario::start("token endpoint nonce on a 200", |_| Config {
        token_fault: Some(Fault::NonceOn200),
        ..base()
    });
    s.call_answers(200);
    let stats = s.finish(1, 1);
    // finish checked that the API proof carries it; it was the token response's.
    assert!(stats.requests[0].nonce.is_some());
}

#[test]
fn token_endpoint_nonce_demand_is_retried_once() {
    let s = Scenario::start("token endpoint demands a nonce once", |_| Config {
        require_nonce_token: true,
        ..base()
    });
    s.call_answers(200);
    let stats = s.finish(2, 1);
    assert_eq!((stats.nonce_rejections_token, stats.tokens_issued), (1, 1));
}

#[test]
fn token_endpoint_endless_nonce_demand_is_given_up_after_one_retry() {
    let s = Scenario::start("token endpoint demands a nonce endlessly", |_| Config {
        token_nonce_every_request: true,
        ..base()
    });
    s.call_fails(ErrorKind::NonceRejected);
    let stats = s.finish(2, 0);
    assert_eq!(stats.nonce_rejections_token, 2);
}

// ---- the API ----

#[test]
fn api_500_is_a_response() {
    let s = Scenario::start("API 500", |_| Config {
        api_fault: Some(Fault::Status500),
        ..base()
    });
    s.call_answers(500);
    s.finish(1, 1);
}

#[test]
fn api_html_page_is_a_response() {
    let s = Scenario::start("API HTML body", |_| Config {
        api_fault: Some(Fault::HtmlBody),
        ..base()
    });
    let response = s.call_answers(200);
    assert!(response.body_text().starts_with("<!DOCTYPE html>"));
    s.finish(1, 1);
}

#[test]
fn api_hang_times_out() {
    let s = Scenario::start("API hang", |_| Config {
        api_fault: Some(Fault::Hang),
        ..base()
    });
    s.call_fails(ErrorKind::HttpTimeout);
    s.finish(1, 1);
}

#[test]
fn api_reset_is_an_io_error() {
    let s = Scenario::start("API connection reset", |_| Config {
        api_fault: Some(Fault::Reset),
        ..base()
    });
    s.call_fails(ErrorKind::HttpIo);
    s.finish(1, 1);
}

#[test]
fn api_200_mb_body_is_cut_off_unbuffered() {
    let s = Scenario::start_alone("API 200 MB body", |_| Config {
        api_fault: Some(Fault::HugeBody(HUGE)),
        ..base()
    });
    assert_eq!(
        s.client.settings().max_response_size,
        16 << 20,
        "the default limit"
    );
    let growth = peak_growth(|| {
        s.call_fails(ErrorKind::HttpBodyTooLarge);
    });
    assert_not_buffered(s.name, growth);
    s.finish(1, 1);
}

#[test]
fn api_trickle_times_out() {
    let s = Scenario::start("API trickle", |_| Config {
        api_fault: Some(TRICKLE),
        ..base()
    });
    s.call_fails(ErrorKind::HttpTimeout);
    s.finish(1, 1);
}

#[test]
fn api_redirect_is_a_response_not_followed() {
    let s = Scenario::start("API 302 to another origin", |elsewhere| Config {
        api_fault: Some(Fault::Redirect(elsewhere.api_url())),
        ..base()
    });
    let response = s.call_answers(302);
    assert_eq!(response.header("location"), Some(s.elsewhere.api_url()));
    s.finish(1, 1);
}

#[test]
fn api_binary_body_is_returned_byte_for_byte() {
    let s = Scenario::start("API binary body", |_| Config {
        api_fault: Some(Fault::BinaryBody),
        ..base()
    });
    let response = s.call_answers(200);
    assert_eq!(response.body(), Fault::BINARY_BODY);
    s.finish(1, 1);
}

#[test]
fn api_malformed_challenge_is_neither_a_nonce_demand_nor_invalid_token() {
    let s = Scenario::start("API malformed WWW-Authenticate", |_| Config {
        api_fault: Some(Fault::MalformedChallenge),
        ..base()
    });
    let response = s.call_answers(401);
    assert_eq!(
        response.header("www-authenticate").as_deref(),
        Some(Fault::MALFORMED_CHALLENGE)
    );
    s.finish(1, 1);
}

#[test]
fn api_nonce_on_200_is_used_by_the_next_request() {
    let s = Scenario::start("API nonce on a 200", |_| Config {
        api_fault: Some(Fault::NonceOn200),
        ..base()
    });
    let first = s.call_answers(200);
    s.call_answers(200);
    let stats = s.finish(1, 2);
    let sent = first.header("dpop-nonce").expect("a nonce on the 200");
    let second = stats.requests[2].verify_proof(&s.server.api_url(), 60).unwrap();
    assert_eq!(second.claim("nonce"), Some(sent.as_str()));
}

#[test]
fn api_nonce_demand_is_retried_once() {
    let s = Scenario::start("API demands a nonce once", |_| Config {
        require_nonce_api: true,
        ..base()
    });
    s.call_answers(200);
    let stats = s.finish(1, 2);
    assert_eq!((stats.nonce_rejections_api, stats.api_ok), (1, 1));
}

#[test]
fn api_endless_nonce_demand_gets_one_retry_and_the_401_back() {
    let s = Scenario::start("API demands a nonce endlessly", |_| Config {
        api_nonce_every_request: true,
        ..base()
    });
    s.call_answers(401);
    let stats = s.finish(1, 2);
    assert_eq!(stats.nonce_rejections_api, 2);
}

#[test]
fn api_endless_invalid_token_gets_one_new_token_and_the_401_back() {
    let s = Scenario::start("API invalid_token endlessly", |_| Config {
        api_fault: Some(Fault::EndlessInvalidToken),
        ..base()
    });
    s.call_answers(401);
    let stats = s.finish(2, 2);
    assert_eq!((stats.tokens_issued, stats.invalid_token_rejections), (2, 2));
    let tokens = api_tokens(&stats);
    assert_ne!(tokens[0], tokens[1], "the retry carries the new token");
}
