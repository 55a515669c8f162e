//! client_secret_jwt, private_key_jwt and public clients at the token endpoint, and every
//! assertion check.

mod common;

use common::*;
use dpop_testserver::{Client, ClientAuth, Config, Server, ASSERTION_TYPE};
use ring::hmac;
use serde_json::{json, Value};

/// How a test signs an assertion.
enum Signer<'a> {
    Secret(&'a str),
    Key(&'a TestKey),
}

fn assertion(signer: &Signer, claims: &Value) -> String {
    match signer {
        Signer::Key(key) => jws(&json!({"alg": key.alg(), "typ": "JWT"}), claims, key),
        Signer::Secret(secret) => {
            let header = json!({"alg": "HS256", "typ": "JWT"});
            let input = format!(
                "{}.{}",
                b64(header.to_string().as_bytes()),
                b64(claims.to_string().as_bytes())
            );
            let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
            format!("{input}.{}", b64(hmac::sign(&key, input.as_bytes()).as_ref()))
        }
    }
}

/// Valid assertion claims for `client_id` at `server`'s token endpoint.
fn assertion_claims(server: &Server, client_id: &str) -> Value {
    let now = now();
    json!({"iss": client_id, "sub": client_id, "aud": server.token_url(), "iat": now, "exp": now + 60, "jti": random_id()})
}

fn assertion_form(assertion: &str) -> String {
    format!(
        "grant_type=client_credentials&client_assertion_type={ASSERTION_TYPE}&client_assertion={assertion}"
    )
}

/// A client_credentials request with a proof of a fresh key and this assertion.
fn with_assertion(server: &Server, assertion: &str) -> Reply {
    token_request(server, &TestKey::es256(), &assertion_form(assertion), &[])
}

fn server_with(clients: Vec<Client>) -> Server {
    Server::start(Config {
        registered_clients: clients,
        ..Config::default()
    })
    .unwrap()
}

/// A server with `config` and a private_key_jwt client "k" with `key`.
fn key_server(key: &TestKey, config: Config) -> Server {
    Server::start(Config {
        registered_clients: vec![key_client("k", key)],
        ..config
    })
    .unwrap()
}

fn key_client(id: &str, key: &TestKey) -> Client {
    Client {
        id: id.into(),
        auth: ClientAuth::PrivateKeyJwt(key.jwk()),
    }
}

#[test]
fn client_secret_jwt_with_the_secret_of_a_secret_client_issues_a_token_and_is_recorded() {
    let server = server_with(vec![]);
    let claims = assertion_claims(&server, CLIENT_ID);
    let reply = with_assertion(&server, &assertion(&Signer::Secret(CLIENT_SECRET), &claims));
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        jwt_claims(reply.json()["access_token"].as_str().unwrap())["sub"],
        CLIENT_ID
    );
    let stats = server.stats();
    assert_eq!(stats.assertion_jtis, [claims["jti"].as_str().unwrap()]);
    assert_eq!(stats.assertion_auds, [json!(server.token_url())]);
    let remote = send(&server, "GET", "/stats", &[], "").json();
    assert_eq!(remote["assertion_jtis"], json!([claims["jti"]]));
    assert_eq!(remote["assertion_auds"], json!([server.token_url()]));
}

#[test]
fn a_client_registered_for_client_secret_jwt_can_use_no_other_method() {
    let server = server_with(vec![Client {
        id: "jwt.client".into(),
        auth: ClientAuth::SecretJwt("s3cret-of-32-bytes-or-more......".into()),
    }]);
    let mut claims = assertion_claims(&server, "jwt.client");
    claims["aud"] = json!(server.base_url());
    let signed = assertion(&Signer::Secret("s3cret-of-32-bytes-or-more......"), &claims);
    let form = format!("{}&client_id=jwt.client", assertion_form(&signed));
    assert_eq!(token_request(&server, &TestKey::es256(), &form, &[]).status, 200);
    let form =
        "grant_type=client_credentials&client_id=jwt.client&client_secret=s3cret-of-32-bytes-or-more......";
    token_request(&server, &TestKey::es256(), form, &[]).assert_error(
        401,
        "invalid_client",
        "client is registered for client_secret_jwt",
    );
}

#[test]
fn private_key_jwt_accepts_ec_ed25519_and_rsa_keys() {
    let keys = [
        TestKey::es256(),
        TestKey::es384(),
        TestKey::ed25519(),
        TestKey::rsa("PS256"),
        TestKey::rsa("RS256"),
    ];
    let clients = keys
        .iter()
        .enumerate()
        .map(|(i, key)| key_client(&format!("key.{i}"), key))
        .collect();
    let server = server_with(clients);
    for (i, key) in keys.iter().enumerate() {
        let id = format!("key.{i}");
        let reply = with_assertion(
            &server,
            &assertion(&Signer::Key(key), &assertion_claims(&server, &id)),
        );
        assert_eq!(reply.status, 200, "{}: {reply:?}", key.alg());
    }
    // A key registered with an alg accepts no other.
    let rsa = TestKey::rsa("PS256");
    let mut pinned = key_client("pinned", &rsa);
    let ClientAuth::PrivateKeyJwt(jwk) = &mut pinned.auth else {
        unreachable!()
    };
    jwk["alg"] = json!("PS256");
    let server = server_with(vec![pinned]);
    let claims = assertion_claims(&server, "pinned");
    with_assertion(&server, &assertion(&Signer::Key(&TestKey::rsa("RS256")), &claims)).assert_error(
        401,
        "invalid_client",
        "client_assertion alg does not fit the client's key",
    );
    let claims = assertion_claims(&server, "pinned");
    let reply = with_assertion(&server, &assertion(&Signer::Key(&rsa), &claims));
    assert_eq!(reply.status, 200);
}

#[test]
fn each_assertion_check_names_itself() {
    let key = TestKey::es256();
    let server = key_server(&key, Config::default());
    let signed = |change: &dyn Fn(&mut Value)| {
        let mut claims = assertion_claims(&server, "k");
        change(&mut claims);
        assertion(&Signer::Key(&key), &claims)
    };
    let now = now();
    let cases: Vec<(String, &str)> = vec![
        (
            signed(&|c| c["sub"] = json!("other")),
            "client_assertion iss and sub are not both the client_id",
        ),
        (
            signed(&|c| {
                c["iss"] = json!("nobody");
                c["sub"] = json!("nobody");
            }),
            "client_assertion iss is not a registered client",
        ),
        (
            signed(&|c| c["aud"] = json!("https://elsewhere")),
            "client_assertion aud is not the issuer or the token endpoint",
        ),
        (
            signed(&|c| c["aud"] = json!(["https://elsewhere"])),
            "client_assertion aud is not the issuer or the token endpoint",
        ),
        (
            signed(&|c| {
                c["iat"] = json!(now - 100);
                c["exp"] = json!(now - 1);
            }),
            "client_assertion has expired",
        ),
        (
            // iat set too: the claims' own iat may fall in the next second.
            signed(&|c| {
                c["iat"] = json!(now);
                c["exp"] = json!(now + 301);
            }),
            "client_assertion lifetime (exp - iat) is over 300 s",
        ),
        (
            signed(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            "client_assertion exp is missing",
        ),
        (
            signed(&|c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
            "client_assertion jti is missing",
        ),
        (
            assertion(&Signer::Key(&TestKey::es256()), &assertion_claims(&server, "k")),
            "client_assertion signature is invalid",
        ),
        (
            assertion(&Signer::Secret("x"), &assertion_claims(&server, "k")),
            "client_assertion alg does not fit the client's key",
        ),
        ("not.a-jwt".into(), "client_assertion is not a JWT"),
    ];
    for (assertion, description) in cases {
        with_assertion(&server, &assertion).assert_error(401, "invalid_client", description);
    }
    let good = signed(&|c| c["aud"] = json!(["https://elsewhere", server.base_url()]));
    let form = format!("{}&client_id=other", assertion_form(&good));
    token_request(&server, &key, &form, &[]).assert_error(
        401,
        "invalid_client",
        "client_id does not match the client_assertion",
    );
    let form = format!("grant_type=client_credentials&client_assertion_type=jwt&client_assertion={good}");
    token_request(&server, &key, &form, &[]).assert_error(
        401,
        "invalid_client",
        &format!("client_assertion_type is not {ASSERTION_TYPE}"),
    );
    let form = format!("{}&client_secret=x&client_id=k", assertion_form(&good));
    token_request(&server, &key, &form, &[]).assert_error(
        400,
        "invalid_request",
        "more than one client authentication method",
    );
    let fresh = signed(&|_| {});
    assert_eq!(with_assertion(&server, &fresh).status, 200);
    with_assertion(&server, &fresh).assert_error(
        401,
        "invalid_client",
        "client_assertion jti has been used before",
    );
}

#[test]
fn assertion_aud_issuer_only_accepts_the_issuer_as_one_string() {
    let key = TestKey::es256();
    let config = Config {
        assertion_aud_issuer_only: true,
        ..Config::default()
    };
    let server = key_server(&key, config);
    let base = server.base_url();
    for aud in [json!(server.token_url()), json!([base])] {
        let mut claims = assertion_claims(&server, "k");
        claims["aud"] = aud;
        with_assertion(&server, &assertion(&Signer::Key(&key), &claims)).assert_error(
            401,
            "invalid_client",
            "client_assertion aud is not the issuer (a single string)",
        );
    }
    let mut claims = assertion_claims(&server, "k");
    claims["aud"] = json!(base);
    assert_eq!(
        with_assertion(&server, &assertion(&Signer::Key(&key), &claims)).status,
        200
    );
}

#[test]
fn a_nonce_retry_needs_a_new_assertion_and_both_are_recorded() {
    let key = TestKey::es256();
    let config = Config {
        require_nonce_token: true,
        ..Config::default()
    };
    let server = key_server(&key, config);
    let first = assertion(&Signer::Key(&key), &assertion_claims(&server, "k"));
    let reply = with_assertion(&server, &first);
    assert_eq!(reply.json()["error"], "use_dpop_nonce");
    let nonce = reply.header("dpop-nonce").unwrap().to_owned();
    let retry = |assertion: &str| {
        let mut payload = claims("POST", &server.token_url());
        payload["nonce"] = json!(nonce);
        post_token(
            &server,
            &jws(&key.header(), &payload, &key),
            &assertion_form(assertion),
            &[],
        )
    };
    retry(&first).assert_error(401, "invalid_client", "client_assertion jti has been used before");
    let second = assertion(&Signer::Key(&key), &assertion_claims(&server, "k"));
    assert_eq!(retry(&second).status, 200);
    let jtis = server.stats().assertion_jtis;
    assert_eq!(jtis.len(), 3);
    assert_eq!(jtis[0], jtis[1]);
    assert_ne!(jtis[1], jtis[2]);
}

#[test]
fn assertion_times_follow_the_skewed_clock() {
    let server = Server::start(Config {
        clock_offset_secs: 300,
        iat_window: 600,
        ..Config::default()
    })
    .unwrap();
    let claims = assertion_claims(&server, CLIENT_ID);
    // Proof iat within the wide window; the assertion's exp (real now + 60) has passed.
    with_assertion(&server, &assertion(&Signer::Secret(CLIENT_SECRET), &claims)).assert_error(
        401,
        "invalid_client",
        "client_assertion has expired",
    );
}

#[test]
fn a_public_client_has_no_secret_and_no_client_credentials_grant() {
    let server = server_with(vec![Client {
        id: "spa".into(),
        auth: ClientAuth::None,
    }]);
    let key = TestKey::es256();
    token_request(&server, &key, "grant_type=client_credentials&client_id=spa", &[]).assert_error(
        400,
        "unauthorized_client",
        "client_credentials is for confidential clients",
    );
    token_request(
        &server,
        &key,
        "grant_type=client_credentials&client_id=spa&client_secret=x",
        &[],
    )
    .assert_error(401, "invalid_client", "client is public and has no secret");
    token_request(
        &server,
        &key,
        "grant_type=client_credentials&client_id=m2m.dpop",
        &[],
    )
    .assert_error(401, "invalid_client", "client authentication is missing");
}
