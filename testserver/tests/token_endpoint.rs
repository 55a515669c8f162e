//! The token endpoint: both client authentication methods, both grants, and each rejection.

mod common;

use base64ct::{Base64, Encoding};
use common::*;
use dpop_testserver::{Config, Server};
use serde_json::json;

fn server() -> Server {
    Server::start(Config::default()).unwrap()
}

fn refresh_server() -> Server {
    let config = Config {
        issue_refresh_tokens: true,
        ..Config::default()
    };
    Server::start(config).unwrap()
}

#[test]
fn client_credentials_with_client_secret_post_issues_a_bound_token() {
    let server = server();
    let key = TestKey::es256();
    let form = format!(
        "{}&scope=read+write&audience=https%3A%2F%2Fapi&resource=x&other=1",
        client_credentials_form()
    );
    let reply = token_request(&server, &key, &form, &[]);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = reply.json();
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["scope"], "read write");
    assert!(body.get("refresh_token").is_none());
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["cnf"]["jkt"], key.thumbprint());
    assert_eq!(
        (&claims["sub"], &claims["client_id"]),
        (&json!(CLIENT_ID), &json!(CLIENT_ID))
    );
    assert_eq!(claims["scope"], "read write");
    assert_eq!(claims["iss"], server.base_url());
    // exp is the issue time rounded up plus the lifetime: at least 300 s away.
    let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
    assert!((300..=301).contains(&lifetime), "exp - iat = {lifetime}");
    assert!(claims["jti"].is_string());
    let stats = server.stats();
    assert_eq!(
        (
            stats.token_requests,
            stats.tokens_issued,
            stats.client_credentials_grants
        ),
        (1, 1, 1)
    );
}

#[test]
fn client_credentials_with_client_secret_basic_issues_a_token() {
    let config = Config {
        clients: vec![("my client:1".into(), "s&e:c+r%t é".into())],
        ..Config::default()
    };
    let server = Server::start(config).unwrap();
    let key = TestKey::ed25519();
    let credentials = Base64::encode_string(b"my+client%3A1:s%26e%3Ac%2Br%25t+%C3%A9");
    let authorization = format!("Basic {credentials}");
    let reply = token_request(
        &server,
        &key,
        "grant_type=client_credentials",
        &[("Authorization", &authorization)],
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.json().get("scope").is_none());
    assert_eq!(
        jwt_claims(reply.json()["access_token"].as_str().unwrap())["sub"],
        "my client:1"
    );
}

#[test]
fn client_library_proof_is_accepted() {
    let server = server();
    let key = dpop_core::Key::generate(dpop_core::Algorithm::Es384).unwrap();
    let proof = dpop_core::Proof::new("POST", &server.token_url())
        .sign(&key)
        .unwrap();
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("DPoP", proof.as_str()),
    ];
    let reply = send(&server, "POST", "/token", &headers, &client_credentials_form());
    assert_eq!(reply.status, 200, "{reply:?}");
    let claims = jwt_claims(reply.json()["access_token"].as_str().unwrap());
    assert_eq!(claims["cnf"]["jkt"], key.thumbprint());
}

#[test]
fn token_type_follows_the_config() {
    let config = Config {
        token_type: "Bearer".into(),
        token_ttl: 60,
        ..Config::default()
    };
    let server = Server::start(config).unwrap();
    let reply = token_request(&server, &TestKey::es256(), &client_credentials_form(), &[]);
    assert_eq!(
        (&reply.json()["token_type"], &reply.json()["expires_in"]),
        (&json!("Bearer"), &json!(60))
    );
}

#[test]
fn missing_proof_is_rejected() {
    let server = server();
    let headers = [("Content-Type", "application/x-www-form-urlencoded")];
    let reply = send(&server, "POST", "/token", &headers, &client_credentials_form());
    reply.assert_error(400, "invalid_dpop_proof", "missing DPoP header");
    let stats = server.stats();
    assert_eq!((stats.token_requests, stats.tokens_issued), (1, 0));
}

#[test]
fn proof_for_another_url_is_rejected() {
    let server = server();
    let key = TestKey::es256();
    for htu in [
        server.api_url(),
        server.token_url().replace("127.0.0.1", "localhost"),
    ] {
        let proof = jws(&key.header(), &claims("POST", &htu), &key);
        let headers = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("DPoP", proof.as_str()),
        ];
        let reply = send(&server, "POST", "/token", &headers, &client_credentials_form());
        reply.assert_error(400, "invalid_dpop_proof", "htu does not match the request URL");
    }
}

#[test]
fn proof_for_another_method_is_rejected() {
    let server = server();
    let key = TestKey::es256();
    let proof = jws(&key.header(), &claims("GET", &server.token_url()), &key);
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("DPoP", proof.as_str()),
    ];
    let reply = send(&server, "POST", "/token", &headers, &client_credentials_form());
    reply.assert_error(400, "invalid_dpop_proof", "htm does not match the request method");
}

#[test]
fn replayed_proof_is_rejected() {
    let server = server();
    let key = TestKey::es256();
    let proof = jws(&key.header(), &claims("POST", &server.token_url()), &key);
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("DPoP", proof.as_str()),
    ];
    assert_eq!(
        send(&server, "POST", "/token", &headers, &client_credentials_form()).status,
        200
    );
    let reply = send(&server, "POST", "/token", &headers, &client_credentials_form());
    reply.assert_error(400, "invalid_dpop_proof", "jti has been used before");
}

#[test]
fn wrong_secret_with_client_secret_post_is_rejected() {
    let server = server();
    let form = format!("grant_type=client_credentials&client_id={CLIENT_ID}&client_secret=wrong");
    let reply = token_request(&server, &TestKey::es256(), &form, &[]);
    reply.assert_error(401, "invalid_client", "client authentication failed");
    assert_eq!(server.stats().tokens_issued, 0);
}

#[test]
fn wrong_secret_with_client_secret_basic_is_rejected() {
    let server = server();
    let authorization = format!(
        "Basic {}",
        Base64::encode_string(format!("{CLIENT_ID}:wrong").as_bytes())
    );
    let reply = token_request(
        &server,
        &TestKey::es256(),
        "grant_type=client_credentials",
        &[("Authorization", &authorization)],
    );
    reply.assert_error(401, "invalid_client", "client authentication failed");
    assert_eq!(
        reply.header("www-authenticate"),
        Some(r#"Basic realm="dpop-test-server""#)
    );
}

#[test]
fn unknown_client_and_missing_authentication_are_rejected() {
    let server = server();
    let key = TestKey::es256();
    let form = "grant_type=client_credentials&client_id=nobody&client_secret=secret";
    token_request(&server, &key, form, &[]).assert_error(
        401,
        "invalid_client",
        "client authentication failed",
    );
    let reply = token_request(&server, &key, "grant_type=client_credentials", &[]);
    reply.assert_error(401, "invalid_client", "client authentication is missing");
}

#[test]
fn two_client_authentication_methods_are_rejected() {
    let server = server();
    let authorization = format!("Basic {}", Base64::encode_string(b"m2m.dpop:secret"));
    let reply = token_request(
        &server,
        &TestKey::es256(),
        &client_credentials_form(),
        &[("Authorization", &authorization)],
    );
    reply.assert_error(
        400,
        "invalid_request",
        "more than one client authentication method",
    );
}

#[test]
fn unsupported_grant_type_is_rejected() {
    let server = server();
    let form = format!("grant_type=password&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}");
    let reply = token_request(&server, &TestKey::es256(), &form, &[]);
    reply.assert_error(
        400,
        "unsupported_grant_type",
        "grant_type is not client_credentials, refresh_token, authorization_code, token-exchange or jwt-bearer",
    );
}

#[test]
fn form_problems_are_rejected() {
    let server = server();
    let key = TestKey::es256();
    let repeated = format!("{}&scope=a&scope=b", client_credentials_form());
    token_request(&server, &key, &repeated, &[]).assert_error(400, "invalid_request", "malformed form body");
    let proof = jws(&key.header(), &claims("POST", &server.token_url()), &key);
    let headers = [("Content-Type", "application/json"), ("DPoP", proof.as_str())];
    let reply = send(&server, "POST", "/token", &headers, "{}");
    reply.assert_error(
        400,
        "invalid_request",
        "Content-Type is not application/x-www-form-urlencoded",
    );
    let reply = send(&server, "GET", "/token", &[], "");
    assert_eq!((reply.status, reply.header("allow")), (405, Some("POST")));
}

#[test]
fn refresh_grant_with_the_same_key_issues_new_tokens_and_rotates() {
    let server = refresh_server();
    let key = TestKey::es256();
    let first = token_request(
        &server,
        &key,
        &format!("{}&scope=s1", client_credentials_form()),
        &[],
    )
    .json();
    let refresh_token = first["refresh_token"].as_str().unwrap();
    let form = format!(
        "grant_type=refresh_token&refresh_token={refresh_token}&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}"
    );
    let reply = token_request(&server, &key, &form, &[]);
    assert_eq!(reply.status, 200, "{reply:?}");
    let second = reply.json();
    assert_ne!(second["access_token"], first["access_token"]);
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(second["scope"], "s1");
    let token = second["access_token"].as_str().unwrap();
    assert_eq!(
        api_get(&server, token, &api_proof(&server, &key, token)).status,
        200
    );
    // The used refresh token is gone.
    let reply = token_request(&server, &key, &form, &[]);
    reply.assert_error(400, "invalid_grant", "refresh token is unknown or already used");
    let stats = server.stats();
    assert_eq!(
        (
            stats.client_credentials_grants,
            stats.refresh_grants,
            stats.tokens_issued
        ),
        (1, 1, 2)
    );
}

#[test]
fn refresh_token_bound_to_another_key_is_rejected() {
    let server = refresh_server();
    let first = token_request(&server, &TestKey::es256(), &client_credentials_form(), &[]).json();
    let refresh_token = first["refresh_token"].as_str().unwrap();
    let form = format!(
        "grant_type=refresh_token&refresh_token={refresh_token}&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}"
    );
    let reply = token_request(&server, &TestKey::es256(), &form, &[]);
    reply.assert_error(400, "invalid_grant", "refresh token is bound to another DPoP key");
    assert_eq!(server.stats().refresh_grants, 0);
}

#[test]
fn refresh_grant_needs_client_authentication() {
    let server = refresh_server();
    let key = TestKey::es256();
    let first = token_request(&server, &key, &client_credentials_form(), &[]).json();
    let form = format!(
        "grant_type=refresh_token&refresh_token={}",
        first["refresh_token"].as_str().unwrap()
    );
    token_request(&server, &key, &form, &[]).assert_error(
        401,
        "invalid_client",
        "client authentication is missing",
    );
}
