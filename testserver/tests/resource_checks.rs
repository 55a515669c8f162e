//! The API (`/dpop/*`): a valid request passes, and each check of RFC 9449 §4.3 and §7 rejects
//! a request that breaks it, naming the check.

mod common;

use common::*;
use dpop_testserver::{Config, Server};
use serde_json::json;

fn server() -> Server {
    Server::start(Config::default()).unwrap()
}

/// A server, a key and a token bound to it.
fn setup() -> (Server, TestKey, String) {
    let server = server();
    let key = TestKey::es256();
    let token = get_token(&server, &key);
    (server, key, token)
}

#[test]
fn api_accepts_client_library_proof_and_echoes_request() {
    let server = server();
    let key = dpop_core::Key::generate(dpop_core::Algorithm::Es256).unwrap();
    let token_proof = dpop_core::Proof::new("POST", &server.token_url())
        .sign(&key)
        .unwrap();
    let reply = send(
        &server,
        "POST",
        "/token",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("DPoP", &token_proof),
        ],
        &client_credentials_form(),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    let token = reply.json()["access_token"].as_str().unwrap().to_owned();

    let url = format!("{}/dpop/echo?a=1&b=two", server.base_url());
    let proof = dpop_core::Proof::new("PUT", &url)
        .access_token(Some(&token))
        .sign(&key)
        .unwrap();
    let authorization = format!("DPoP {token}");
    let headers = [
        ("Authorization", authorization.as_str()),
        ("DPoP", &proof),
        ("X-Test", "yes"),
    ];
    let reply = send(&server, "PUT", "/dpop/echo?a=1&b=two", &headers, "payload");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let body = reply.json();
    assert_eq!(body["ok"], true);
    assert_eq!(body["method"], "PUT");
    assert_eq!(body["path"], "/dpop/echo");
    assert_eq!(body["query"], "a=1&b=two");
    assert_eq!(body["body"], "payload");
    assert_eq!(body["headers"]["x-test"], "yes");
    assert!(body["headers"].get("authorization").is_none() && body["headers"].get("dpop").is_none());
    assert_eq!(body["token"]["cnf"]["jkt"], key.thumbprint());
    assert_eq!(body["token"]["client_id"], CLIENT_ID);
    assert_eq!(body["proof"]["htu"], format!("{}/dpop/echo", server.base_url()));
    assert_eq!(body["proof"]["ath"], dpop_core::ath(&token));
    assert!(
        reply.header("dpop-nonce").is_none(),
        "no nonce outside nonce mode"
    );
    let stats = server.stats();
    assert_eq!((stats.api_requests, stats.api_ok), (1, 1));
}

#[test]
fn api_accepts_es384_and_eddsa_proofs() {
    let server = server();
    for key in [TestKey::es384(), TestKey::ed25519()] {
        let token = get_token(&server, &key);
        let reply = api_get(&server, &token, &api_proof(&server, &key, &token));
        assert_eq!(reply.status, 200, "{} {reply:?}", key.alg());
    }
}

#[test]
fn api_accepts_lowercase_scheme_name_and_normalised_htu() {
    let (server, key, token) = setup();
    let mut claims = api_claims(&server, &token);
    claims["htu"] = json!(server.api_url().replace("http://", "HTTP://"));
    let proof = jws(&key.header(), &claims, &key);
    let authorization = format!("dpop {token}");
    let reply = send(
        &server,
        "GET",
        "/dpop/test",
        &[("Authorization", &authorization), ("DPoP", &proof)],
        "",
    );
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[test]
fn api_computes_htu_from_the_host_header() {
    let (server, key, token) = setup();
    let host = authority(&server).replace("127.0.0.1", "localhost");
    let mut claims = api_claims(&server, &token);
    claims["htu"] = json!(format!("http://{host}/dpop/test"));
    let proof = jws(&key.header(), &claims, &key);
    let authorization = format!("DPoP {token}");
    let headers = [
        ("Host", host.as_str()),
        ("Authorization", &authorization),
        ("DPoP", &proof),
    ];
    assert_eq!(send(&server, "GET", "/dpop/test", &headers, "").status, 200);
    // The same proof sent with the IP address as Host does not match.
    let proof = jws(&key.header(), &claims, &key);
    api_get(&server, &token, &proof)
        .assert_challenge("invalid_dpop_proof", "htu does not match the request URL");
}

#[test]
fn bad_signature_is_rejected() {
    let (server, key, token) = setup();
    let other = TestKey::es256();
    // Header names `key`, signature made by `other`.
    let input = format!(
        "{}.{}",
        b64(key.header().to_string().as_bytes()),
        b64(api_claims(&server, &token).to_string().as_bytes())
    );
    let proof = format!("{input}.{}", b64(&other.sign(input.as_bytes())));
    api_get(&server, &token, &proof).assert_challenge("invalid_dpop_proof", "signature is invalid");
}

#[test]
fn changed_payload_is_rejected() {
    let (server, key, token) = setup();
    let proof = api_proof(&server, &key, &token);
    let parts: Vec<&str> = proof.split('.').collect();
    let mut claims = api_claims(&server, &token);
    claims["htm"] = json!("GET");
    let forged = format!("{}.{}.{}", parts[0], b64(claims.to_string().as_bytes()), parts[2]);
    api_get(&server, &token, &forged).assert_challenge("invalid_dpop_proof", "signature is invalid");
}

#[test]
fn wrong_typ_is_rejected() {
    let (server, key, token) = setup();
    for typ in [json!("JWT"), json!("DPoP+JWT"), json!(null)] {
        let mut header = key.header();
        header["typ"] = typ;
        let proof = jws(&header, &api_claims(&server, &token), &key);
        api_get(&server, &token, &proof).assert_challenge("invalid_dpop_proof", "typ is not dpop+jwt");
    }
}

#[test]
fn alg_none_is_rejected() {
    let (server, key, token) = setup();
    let mut header = key.header();
    header["alg"] = json!("none");
    let payload = api_claims(&server, &token);
    let proof = format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    );
    api_get(&server, &token, &proof).assert_challenge(
        "invalid_dpop_proof",
        "alg is not one of ES256 ES384 EdDSA Ed25519 PS256 RS256",
    );
}

#[test]
fn alg_hs256_is_rejected() {
    let (server, key, token) = setup();
    let mut header = key.header();
    header["alg"] = json!("HS256");
    let proof = jws(&header, &api_claims(&server, &token), &key);
    api_get(&server, &token, &proof).assert_challenge(
        "invalid_dpop_proof",
        "alg is not one of ES256 ES384 EdDSA Ed25519 PS256 RS256",
    );
}

#[test]
fn alg_not_matching_jwk_is_rejected() {
    let (server, key, token) = setup();
    for alg in ["ES384", "EdDSA", "Ed25519"] {
        let mut header = key.header();
        header["alg"] = json!(alg);
        let proof = jws(&header, &api_claims(&server, &token), &key);
        api_get(&server, &token, &proof).assert_challenge("invalid_dpop_proof", "jwk does not match alg");
    }
}

#[test]
fn ed25519_alg_name_of_rfc_9864_is_accepted_like_eddsa() {
    // Found by the interop suite: oauth4webapi signs Ed25519 proofs with `"alg":"Ed25519"`
    // (RFC 9864), which oidc-provider accepts by default; the server refused it.
    let server = server();
    let key = TestKey::ed25519();
    let mut header = key.header();
    header["alg"] = json!("Ed25519");
    let token_proof = jws(&header, &claims("POST", &server.token_url()), &key);
    let reply = send(
        &server,
        "POST",
        "/token",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("DPoP", &token_proof),
        ],
        &client_credentials_form(),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    let token = reply.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(jwt_claims(&token)["cnf"]["jkt"], key.thumbprint());
    let reply = api_get(&server, &token, &jws(&header, &api_claims(&server, &token), &key));
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["token"]["cnf"]["jkt"], key.thumbprint());
}

#[test]
fn missing_jwk_is_rejected() {
    let (server, key, token) = setup();
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "kid": "k1"});
    let proof = jws(&header, &api_claims(&server, &token), &key);
    api_get(&server, &token, &proof).assert_challenge("invalid_dpop_proof", "jwk is missing");
}

#[test]
fn private_jwk_is_rejected() {
    let server = server();
    let key = TestKey::ed25519();
    let token = get_token(&server, &key);
    let header = json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": key.private_jwk()});
    let proof = jws(&header, &api_claims(&server, &token), &key);
    api_get(&server, &token, &proof)
        .assert_challenge("invalid_dpop_proof", "jwk contains private key material");
}

#[test]
fn malformed_jws_is_rejected() {
    let (server, _key, token) = setup();
    for proof in ["abc", "a.b", "a.b.c.d", "a.b.c"] {
        let reply = api_get(&server, &token, proof);
        assert_eq!(reply.json()["error"], "invalid_dpop_proof", "{proof}: {reply:?}");
    }
    let reply = api_get(&server, &token, "a.b");
    reply.assert_challenge(
        "invalid_dpop_proof",
        "DPoP proof is not a compact JWS with three parts",
    );
}

#[test]
fn htm_mismatch_is_rejected() {
    let (server, key, token) = setup();
    let mut claims = api_claims(&server, &token);
    claims["htm"] = json!("POST");
    let proof = jws(&key.header(), &claims, &key);
    api_get(&server, &token, &proof)
        .assert_challenge("invalid_dpop_proof", "htm does not match the request method");
}

#[test]
fn htu_mismatch_is_rejected() {
    let (server, key, token) = setup();
    let api = server.api_url();
    let wrong = [
        format!("{}/dpop/other", server.base_url()),
        format!("{api}?a=1"),
        api.replace("http://", "https://"),
        api.replace("/dpop/test", "/DPOP/test"),
    ];
    for htu in wrong {
        let mut claims = api_claims(&server, &token);
        claims["htu"] = json!(htu);
        let proof = jws(&key.header(), &claims, &key);
        let reply = api_get(&server, &token, &proof);
        reply.assert_challenge("invalid_dpop_proof", "htu does not match the request URL");
    }
}

#[test]
fn iat_too_old_is_rejected() {
    let (server, key, token) = setup();
    let mut claims = api_claims(&server, &token);
    claims["iat"] = json!(now() - 120);
    let proof = jws(&key.header(), &claims, &key);
    api_get(&server, &token, &proof).assert_challenge("invalid_dpop_proof", "iat is too old");
}

#[test]
fn iat_in_the_future_is_rejected() {
    let (server, key, token) = setup();
    let mut claims = api_claims(&server, &token);
    claims["iat"] = json!(now() + 120);
    let proof = jws(&key.header(), &claims, &key);
    api_get(&server, &token, &proof).assert_challenge("invalid_dpop_proof", "iat is in the future");
}

#[test]
fn iat_window_is_configurable() {
    let config = Config {
        iat_window: 300,
        ..Config::default()
    };
    let server = Server::start(config).unwrap();
    let key = TestKey::es256();
    let token = get_token(&server, &key);
    let mut claims = api_claims(&server, &token);
    claims["iat"] = json!(now() - 120);
    assert_eq!(
        api_get(&server, &token, &jws(&key.header(), &claims, &key)).status,
        200
    );
}

#[test]
fn missing_jti_is_rejected() {
    let (server, key, token) = setup();
    let mut claims = api_claims(&server, &token);
    claims.as_object_mut().unwrap().remove("jti");
    let proof = jws(&key.header(), &claims, &key);
    api_get(&server, &token, &proof).assert_challenge("invalid_dpop_proof", "jti is missing");
}

#[test]
fn replayed_jti_is_rejected() {
    let (server, key, token) = setup();
    let proof = api_proof(&server, &key, &token);
    assert_eq!(api_get(&server, &token, &proof).status, 200);
    api_get(&server, &token, &proof).assert_challenge("invalid_dpop_proof", "jti has been used before");
}

#[test]
fn missing_ath_is_rejected() {
    let (server, key, token) = setup();
    let proof = jws(&key.header(), &claims("GET", &server.api_url()), &key);
    api_get(&server, &token, &proof).assert_challenge("invalid_dpop_proof", "ath is missing");
}

#[test]
fn wrong_ath_is_rejected() {
    let (server, key, token) = setup();
    let mut claims = api_claims(&server, &token);
    claims["ath"] = json!(b64(b"not the hash of the token, 32 b"));
    let proof = jws(&key.header(), &claims, &key);
    api_get(&server, &token, &proof)
        .assert_challenge("invalid_dpop_proof", "ath does not match the access token");
}

#[test]
fn expired_token_is_rejected() {
    let config = Config {
        token_ttl: 0,
        ..Config::default()
    };
    let server = Server::start(config).unwrap();
    let key = TestKey::es256();
    let token = get_token(&server, &key);
    let proof = api_proof(&server, &key, &token);
    api_get(&server, &token, &proof).assert_challenge("invalid_token", "access token has expired");
    assert_eq!(server.stats().invalid_token_rejections, 1);
}

#[test]
fn revoked_token_is_rejected_and_new_tokens_work() {
    let (server, key, token) = setup();
    server.revoke_all_tokens();
    let proof = api_proof(&server, &key, &token);
    api_get(&server, &token, &proof).assert_challenge("invalid_token", "access token has been revoked");
    let fresh = get_token(&server, &key);
    assert_eq!(
        api_get(&server, &fresh, &api_proof(&server, &key, &fresh)).status,
        200
    );
}

#[test]
fn forged_token_is_rejected() {
    let (server, key, token) = setup();
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = jwt_claims(&token);
    claims["exp"] = json!(now() + 99_999);
    let forged = format!("{}.{}.{}", parts[0], b64(claims.to_string().as_bytes()), parts[2]);
    let proof = api_proof(&server, &key, &forged);
    api_get(&server, &forged, &proof).assert_challenge("invalid_token", "access token signature is invalid");
    // A token from another server instance is no better.
    let other = Server::start(Config::default()).unwrap();
    let foreign = get_token(&other, &key);
    let proof = api_proof(&server, &key, &foreign);
    api_get(&server, &foreign, &proof).assert_challenge("invalid_token", "access token signature is invalid");
}

#[test]
fn token_bound_to_another_key_is_rejected() {
    let (server, _key_a, token) = setup();
    let key_b = TestKey::es256();
    let proof = api_proof(&server, &key_b, &token);
    api_get(&server, &token, &proof).assert_challenge(
        "invalid_token",
        "the proof key does not match the token's cnf.jkt",
    );
}

#[test]
fn two_dpop_headers_are_rejected() {
    let (server, key, token) = setup();
    let (one, two) = (api_proof(&server, &key, &token), api_proof(&server, &key, &token));
    let authorization = format!("DPoP {token}");
    let headers = [
        ("Authorization", authorization.as_str()),
        ("DPoP", &one),
        ("DPoP", &two),
    ];
    let reply = send(&server, "GET", "/dpop/test", &headers, "");
    reply.assert_challenge("invalid_dpop_proof", "more than one DPoP header");
    let folded = format!("{one}, {two}");
    api_get(&server, &token, &folded).assert_challenge("invalid_dpop_proof", "more than one DPoP header");
}

#[test]
fn missing_dpop_header_is_rejected() {
    let (server, _key, token) = setup();
    let authorization = format!("DPoP {token}");
    let reply = send(
        &server,
        "GET",
        "/dpop/test",
        &[("Authorization", &authorization)],
        "",
    );
    reply.assert_challenge("invalid_dpop_proof", "missing DPoP header");
}

#[test]
fn bearer_scheme_is_rejected_with_two_challenges() {
    let (server, key, token) = setup();
    let proof = api_proof(&server, &key, &token);
    let authorization = format!("Bearer {token}");
    let reply = send(
        &server,
        "GET",
        "/dpop/test",
        &[("Authorization", &authorization), ("DPoP", &proof)],
        "",
    );
    reply.assert_challenge(
        "invalid_token",
        "Authorization scheme is Bearer, DPoP is required",
    );
    let challenge = reply.header("www-authenticate").unwrap();
    assert!(
        challenge.ends_with(r#", Bearer realm="dpop-test-server""#),
        "{challenge}"
    );
}

#[test]
fn missing_authorization_gets_a_bare_challenge() {
    let server = server();
    let reply = send(&server, "GET", "/dpop/test", &[], "");
    reply.assert_error(401, "invalid_token", "missing Authorization header");
    assert_eq!(
        reply.header("www-authenticate"),
        Some(format!(r#"DPoP algs="{ALL_ALGS}""#).as_str())
    );
}

#[test]
fn every_api_request_is_counted_and_recorded() {
    let (server, key, token) = setup();
    api_get(&server, &token, "bad");
    api_get(&server, &token, &api_proof(&server, &key, &token));
    let stats = server.stats();
    assert_eq!((stats.api_requests, stats.api_ok), (2, 1));
    let statuses: Vec<(&str, u16)> = stats
        .requests
        .iter()
        .map(|r| (r.path.as_str(), r.status))
        .collect();
    assert_eq!(
        statuses,
        [("/token", 200), ("/dpop/test", 401), ("/dpop/test", 200)]
    );
    assert!(stats.requests[2].header("dpop").is_some());
}
