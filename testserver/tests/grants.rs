//! Token exchange, JWT bearer, and DPoP-bound rotating refresh tokens (also for public clients
//! and with nonces).

mod common;

use common::*;
use dpop_testserver::{Client, ClientAuth, Config, Server, ACCESS_TOKEN_TYPE, JWT_BEARER, TOKEN_EXCHANGE};
use serde_json::json;

const AUTH: &str = "client_id=m2m.dpop&client_secret=secret";

fn grant(server: &Server, key: &TestKey, form: &str) -> Reply {
    token_request(server, key, &format!("{form}&{AUTH}"), &[])
}

#[test]
fn token_exchange_issues_a_bound_access_token_and_names_its_type() {
    let server = Server::start(Config::default()).unwrap();
    let key = TestKey::es256();
    let form = format!(
        "grant_type={TOKEN_EXCHANGE}&subject_token=abc&subject_token_type={ACCESS_TOKEN_TYPE}\
         &actor_token=def&actor_token_type={ACCESS_TOKEN_TYPE}&requested_token_type={ACCESS_TOKEN_TYPE}"
    );
    let reply = grant(&server, &key, &form);
    assert_eq!(reply.status, 200, "{reply:?}");
    let body = reply.json();
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN_TYPE);
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(token)["cnf"]["jkt"], key.thumbprint());
    assert_eq!(server.stats().token_exchange_grants, 1);
    assert_eq!(
        send(&server, "GET", "/stats", &[], "").json()["token_exchange_grants"],
        1
    );
}

#[test]
fn token_exchange_names_each_missing_parameter() {
    let server = Server::start(Config::default()).unwrap();
    let key = TestKey::es256();
    let subject = format!("subject_token=abc&subject_token_type={ACCESS_TOKEN_TYPE}");
    let cases = [
        (
            format!("subject_token_type={ACCESS_TOKEN_TYPE}"),
            "subject_token is missing",
        ),
        ("subject_token=abc".to_owned(), "subject_token_type is missing"),
        (
            format!("{subject}&actor_token=def"),
            "actor_token_type is missing",
        ),
        (
            format!("{subject}&requested_token_type=urn:x"),
            "requested_token_type is not urn:ietf:params:oauth:token-type:access_token",
        ),
    ];
    for (params, description) in cases {
        grant(&server, &key, &format!("grant_type={TOKEN_EXCHANGE}&{params}")).assert_error(
            400,
            "invalid_request",
            description,
        );
    }
    assert_eq!(server.stats().token_exchange_grants, 0);
}

#[test]
fn jwt_bearer_accepts_the_configured_assertion_or_one_signed_by_the_configured_key() {
    let issuer_key = TestKey::es256();
    let server = Server::start(Config {
        jwt_bearer_assertion: Some("opaque-assertion".into()),
        jwt_bearer_jwk: Some(issuer_key.jwk()),
        ..Config::default()
    })
    .unwrap();
    let key = TestKey::ed25519();
    let bearer = |assertion: &str| {
        grant(
            &server,
            &key,
            &format!("grant_type={JWT_BEARER}&assertion={assertion}"),
        )
    };
    assert_eq!(bearer("opaque-assertion").status, 200);
    let header = json!({"alg": "ES256", "typ": "JWT"});
    let signed = jws(&header, &json!({"sub": "user", "exp": now() + 60}), &issuer_key);
    let reply = bearer(&signed);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        jwt_claims(reply.json()["access_token"].as_str().unwrap())["cnf"]["jkt"],
        key.thumbprint()
    );
    let expired = jws(&header, &json!({"sub": "user", "exp": now() - 1}), &issuer_key);
    let foreign = jws(&header, &json!({"sub": "user"}), &TestKey::es256());
    for assertion in [expired.as_str(), foreign.as_str(), "other"] {
        bearer(assertion).assert_error(400, "invalid_grant", "assertion is not accepted");
    }
    grant(&server, &key, &format!("grant_type={JWT_BEARER}")).assert_error(
        400,
        "invalid_request",
        "assertion is missing",
    );
    assert_eq!(server.stats().jwt_bearer_grants, 2);
}

fn refresh_form(refresh_token: &str, client: &str) -> String {
    format!("grant_type=refresh_token&refresh_token={refresh_token}&{client}")
}

#[test]
fn refresh_tokens_rotate_and_stay_bound_to_their_key() {
    let server = Server::start(Config::default()).unwrap();
    let key = TestKey::rsa("PS256");
    let first = server.issue_refresh_token(CLIENT_ID, &key.thumbprint());
    token_request(&server, &TestKey::es256(), &refresh_form(&first, AUTH), &[]).assert_error(
        400,
        "invalid_grant",
        "refresh token is bound to another DPoP key",
    );
    let reply = token_request(&server, &key, &refresh_form(&first, AUTH), &[]);
    assert_eq!(reply.status, 200, "{reply:?}");
    let second = reply.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    token_request(&server, &key, &refresh_form(&first, AUTH), &[]).assert_error(
        400,
        "invalid_grant",
        "refresh token is unknown or already used",
    );
    assert_eq!(
        token_request(&server, &key, &refresh_form(&second, AUTH), &[]).status,
        200
    );
    assert_eq!(server.stats().refresh_grants, 2);
}

#[test]
fn without_rotation_a_refresh_token_stays_valid_and_none_is_issued() {
    let server = Server::start(Config {
        rotate_refresh_tokens: false,
        ..Config::default()
    })
    .unwrap();
    let key = TestKey::es256();
    let refresh_token = server.issue_refresh_token(CLIENT_ID, &key.thumbprint());
    for _ in 0..2 {
        let reply = token_request(&server, &key, &refresh_form(&refresh_token, AUTH), &[]);
        assert_eq!(reply.status, 200, "{reply:?}");
        assert!(reply.json().get("refresh_token").is_none());
    }
}

#[test]
fn a_public_client_refreshes_with_nonces_and_a_nonce_demand_leaves_the_token_alone() {
    let server = Server::start(Config {
        registered_clients: vec![Client {
            id: "spa".into(),
            auth: ClientAuth::None,
        }],
        require_nonce_token: true,
        ..Config::default()
    })
    .unwrap();
    let key = TestKey::es256();
    let refresh_token = server.issue_refresh_token("spa", &key.thumbprint());
    let form = refresh_form(&refresh_token, "client_id=spa");
    let reply = token_request(&server, &key, &form, &[]);
    assert_eq!(reply.json()["error"], "use_dpop_nonce");
    let mut payload = claims("POST", &server.token_url());
    payload["nonce"] = json!(reply.header("dpop-nonce").unwrap());
    let reply = post_token(&server, &jws(&key.header(), &payload, &key), &form, &[]);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.json()["refresh_token"].is_string());
    // A confidential client cannot use the public client's token.
    let other = server.issue_refresh_token("spa", &key.thumbprint());
    payload["jti"] = json!(random_id());
    let proof = jws(&key.header(), &payload, &key);
    post_token(&server, &proof, &refresh_form(&other, AUTH), &[]).assert_error(
        400,
        "invalid_grant",
        "refresh token was issued to another client",
    );
}
