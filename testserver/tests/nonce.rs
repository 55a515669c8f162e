//! Server-provided DPoP nonces (RFC 9449 §8, §9) at the token endpoint and the API.

mod common;

use common::*;
use dpop_testserver::{Config, Server};
use serde_json::json;

fn nonce_server() -> Server {
    let config = Config {
        require_nonce_token: true,
        require_nonce_api: true,
        ..Config::default()
    };
    Server::start(config).unwrap()
}

fn token_request_with_nonce(server: &Server, key: &TestKey, nonce: Option<&str>) -> Reply {
    let mut claims = claims("POST", &server.token_url());
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    let proof = jws(&key.header(), &claims, key);
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("DPoP", proof.as_str()),
    ];
    send(server, "POST", "/token", &headers, &client_credentials_form())
}

fn api_with_nonce(server: &Server, key: &TestKey, token: &str, nonce: Option<&str>) -> Reply {
    let mut claims = api_claims(server, token);
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    api_get(server, token, &jws(&key.header(), &claims, key))
}

/// A token from a nonce-demanding token endpoint.
fn nonce_token(server: &Server, key: &TestKey) -> String {
    let reply = token_request_with_nonce(server, key, Some(&server.current_nonce()));
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json()["access_token"].as_str().unwrap().to_owned()
}

#[test]
fn token_endpoint_demands_a_nonce_then_accepts_it() {
    let server = nonce_server();
    let key = TestKey::es256();
    let reply = token_request_with_nonce(&server, &key, None);
    reply.assert_error(400, "use_dpop_nonce", "nonce is missing");
    let nonce = reply
        .header("dpop-nonce")
        .expect("a DPoP-Nonce header")
        .to_owned();
    assert_eq!(nonce, server.current_nonce());

    let reply = token_request_with_nonce(&server, &key, Some(&nonce));
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("dpop-nonce"), Some(nonce.as_str()));
    let stats = server.stats();
    assert_eq!(
        (
            stats.token_requests,
            stats.nonce_rejections_token,
            stats.tokens_issued
        ),
        (2, 1, 1)
    );
}

#[test]
fn token_endpoint_rejects_a_stale_nonce() {
    let server = nonce_server();
    let stale = server.current_nonce();
    server.rotate_nonce();
    server.rotate_nonce();
    let reply = token_request_with_nonce(&server, &TestKey::es256(), Some(&stale));
    reply.assert_error(400, "use_dpop_nonce", "nonce is stale");
    assert_eq!(reply.header("dpop-nonce"), Some(server.current_nonce().as_str()));
}

#[test]
fn api_demands_a_nonce_then_accepts_it_and_sends_it_on_success() {
    let server = nonce_server();
    let key = TestKey::es256();
    let token = nonce_token(&server, &key);
    let reply = api_with_nonce(&server, &key, &token, None);
    reply.assert_challenge("use_dpop_nonce", "nonce is missing");
    let nonce = reply
        .header("dpop-nonce")
        .expect("a DPoP-Nonce header")
        .to_owned();

    let reply = api_with_nonce(&server, &key, &token, Some(&nonce));
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("dpop-nonce"), Some(nonce.as_str()));
    assert_eq!(reply.json()["proof"]["nonce"], nonce.as_str());
    let stats = server.stats();
    assert_eq!(
        (stats.api_requests, stats.nonce_rejections_api, stats.api_ok),
        (2, 1, 1)
    );
}

#[test]
fn api_rejects_a_stale_nonce_and_accepts_the_previous_one() {
    let server = nonce_server();
    let key = TestKey::es256();
    let token = nonce_token(&server, &key);
    let stale = server.current_nonce();
    let previous = server.rotate_nonce();
    let current = server.rotate_nonce();
    api_with_nonce(&server, &key, &token, Some(&stale)).assert_challenge("use_dpop_nonce", "nonce is stale");
    assert_eq!(api_with_nonce(&server, &key, &token, Some(&previous)).status, 200);
    assert_eq!(api_with_nonce(&server, &key, &token, Some(&current)).status, 200);
}

#[test]
fn api_nonce_every_request_rejects_every_request_with_a_fresh_nonce() {
    let config = Config {
        api_nonce_every_request: true,
        ..Config::default()
    };
    let server = Server::start(config).unwrap();
    let key = TestKey::es256();
    let token = get_token(&server, &key);
    let mut nonce: Option<String> = None;
    for _ in 0..3 {
        let reply = api_with_nonce(&server, &key, &token, nonce.as_deref());
        reply.assert_challenge("use_dpop_nonce", "a fresh nonce is required on every request");
        let fresh = reply.header("dpop-nonce").unwrap().to_owned();
        assert_ne!(Some(&fresh), nonce.as_ref());
        nonce = Some(fresh);
    }
    assert_eq!(server.stats().nonce_rejections_api, 3);
}

#[test]
fn proof_checks_come_before_the_nonce_demand() {
    let server = nonce_server();
    let key = TestKey::es256();
    let token = nonce_token(&server, &key);
    let mut claims = api_claims(&server, &token);
    claims["htm"] = json!("DELETE");
    let reply = api_get(&server, &token, &jws(&key.header(), &claims, &key));
    reply.assert_challenge("invalid_dpop_proof", "htm does not match the request method");
    assert_eq!(reply.header("dpop-nonce"), Some(server.current_nonce().as_str()));
}

#[test]
fn a_server_that_issues_no_nonces_refuses_a_proof_with_one() {
    // Like oidc-provider without a nonceSecret: such a nonce came from another origin, which
    // is a client bug (RFC 9449 §8) that an accepting server would hide.
    let server = Server::start(Config::default()).unwrap();
    let key = TestKey::es256();
    let description = "nonce was not issued by this server (it issues none)";
    token_request_with_nonce(&server, &key, Some("from-another-origin")).assert_error(
        400,
        "invalid_dpop_proof",
        description,
    );
    let token = get_token(&server, &key);
    api_with_nonce(&server, &key, &token, Some("from-another-origin"))
        .assert_challenge("invalid_dpop_proof", description);
    assert_eq!(api_with_nonce(&server, &key, &token, None).status, 200);
}

#[test]
fn a_nonce_of_the_api_is_taken_at_the_token_endpoint_of_the_same_origin() {
    let server = Server::start(Config {
        require_nonce_api: true,
        ..Config::default()
    })
    .unwrap();
    let reply = token_request_with_nonce(&server, &TestKey::es256(), Some(&server.current_nonce()));
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[test]
fn the_nonce_rotates_after_every_n_requests_and_stats_count_without_recording() {
    let server = Server::start(Config {
        require_nonce_token: true,
        require_nonce_api: true,
        rotate_nonce_every: 3,
        record_requests: false,
        ..Config::default()
    })
    .unwrap();
    let key = TestKey::es256();
    let first = server.current_nonce();
    let token = nonce_token(&server, &key); // request 1
    assert_eq!(server.current_nonce(), first);
    assert_eq!(api_with_nonce(&server, &key, &token, Some(&first)).status, 200); // 2
    assert_eq!(server.current_nonce(), first);
    assert_eq!(api_with_nonce(&server, &key, &token, Some(&first)).status, 200); // 3: rotates
    let second = server.current_nonce();
    assert_ne!(second, first);
    // The nonce before stays good until the next rotation.
    assert_eq!(api_with_nonce(&server, &key, &token, Some(&first)).status, 200); // 4
    assert_eq!(api_with_nonce(&server, &key, &token, Some(&second)).status, 200); // 5
    api_with_nonce(&server, &key, &token, Some(&second)); // 6: rotates
    assert_ne!(server.current_nonce(), second);
    let reply = api_with_nonce(&server, &key, &token, Some(&first)); // 7
    reply.assert_challenge("use_dpop_nonce", "nonce is stale");

    let stats = server.stats();
    assert_eq!(
        (stats.token_requests, stats.api_requests, stats.api_ok),
        (1, 6, 5)
    );
    assert!(stats.requests.is_empty(), "requests were recorded");
    let reply = send(&server, "GET", "/stats", &[], "");
    assert_eq!(reply.status, 200, "{reply:?}");
    let json = reply.json();
    assert_eq!(
        (
            &json["token_requests"],
            &json["api_requests"],
            &json["api_ok"],
            &json["nonce_rejections_api"]
        ),
        (&json!(1), &json!(6), &json!(5), &json!(1))
    );
    assert!(json.get("requests").is_none());
}
