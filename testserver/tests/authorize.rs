//! The authorization endpoint, PAR and the authorization_code grant: PKCE S256, `dpop_jkt` and
//! the PAR proof's key binding the code, single-use codes, the RFC 8252 loopback redirect rule,
//! `iss` in redirects, denial, and ID tokens.

mod common;

use common::*;
use dpop_testserver::{AuthorizationIss, Client, ClientAuth, Config, IdTokenFault, Server};
use ring::digest::{digest, SHA256};

const PUBLIC: &str = "desktop.app";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const REDIRECT: &str = "http://127.0.0.1:50123/callback";

fn config() -> Config {
    Config {
        registered_clients: vec![Client {
            id: PUBLIC.into(),
            auth: ClientAuth::None,
        }],
        ..Config::default()
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn challenge(verifier: &str) -> String {
    b64(digest(&SHA256, verifier.as_bytes()).as_ref())
}

/// The query of an authorization request by the public client, with `extra` appended.
fn query(key: &TestKey, extra: &str) -> String {
    format!(
        "response_type=code&client_id={PUBLIC}&redirect_uri={}&state=st-1&code_challenge={}\
         &code_challenge_method=S256&dpop_jkt={}{extra}",
        encode(REDIRECT),
        challenge(VERIFIER),
        key.thumbprint()
    )
}

fn authorize(server: &Server, query: &str) -> Reply {
    send(server, "GET", &format!("/authorize?{query}"), &[], "")
}

/// The parameters of a redirect's Location, which must go to `REDIRECT`.
fn redirect_params(reply: &Reply) -> Vec<(String, String)> {
    assert_eq!(reply.status, 302, "{reply:?}");
    let location = reply.header("location").unwrap();
    let (base, query) = location.split_once('?').unwrap();
    assert_eq!(base, REDIRECT);
    query
        .split('&')
        .map(|pair| {
            let (n, v) = pair.split_once('=').unwrap();
            let decode = |s: &str| {
                let mut out = Vec::new();
                let bytes = s.as_bytes();
                let mut i = 0;
                while i < bytes.len() {
                    if bytes[i] == b'%' {
                        out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                        i += 3;
                    } else {
                        out.push(bytes[i]);
                        i += 1;
                    }
                }
                String::from_utf8(out).unwrap()
            };
            (decode(n), decode(v))
        })
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

fn code(server: &Server, query: &str) -> String {
    let params = redirect_params(&authorize(server, query));
    param(&params, "code").expect("a code").to_owned()
}

fn code_grant(server: &Server, key: &TestKey, code: &str, verifier: &str, redirect: &str) -> Reply {
    let form = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}&client_id={PUBLIC}",
        encode(redirect)
    );
    token_request(server, key, &form, &[])
}

#[test]
fn a_code_with_its_verifier_and_key_gives_bound_access_and_refresh_tokens() {
    let server = Server::start(config()).unwrap();
    let key = TestKey::es256();
    let params = redirect_params(&authorize(&server, &query(&key, "&scope=api")));
    assert_eq!(param(&params, "state"), Some("st-1"));
    assert_eq!(param(&params, "iss"), Some(server.issuer().as_str()), "RFC 9207");
    let code = param(&params, "code").unwrap();
    let reply = code_grant(&server, &key, code, VERIFIER, REDIRECT);
    assert_eq!(reply.status, 200, "{reply:?}");
    let body = reply.json();
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["cnf"]["jkt"],
        key.thumbprint()
    );
    assert_eq!(body["scope"], "api");
    let refresh = body["refresh_token"].as_str().expect("a refresh token");
    let again = token_request(
        &server,
        &key,
        &format!("grant_type=refresh_token&refresh_token={refresh}&client_id={PUBLIC}"),
        &[],
    );
    assert_eq!(
        again.status, 200,
        "the public client's refresh token works with its key: {again:?}"
    );
    let stats = server.stats();
    assert_eq!(
        (stats.authorization_requests, stats.authorization_code_grants),
        (1, 1)
    );
    let json = send(&server, "GET", "/stats", &[], "").json();
    assert_eq!(json["authorization_code_grants"], 1);
    assert_eq!(json["authorization_requests"], 1);
}

#[test]
fn a_code_is_refused_with_a_wrong_verifier_key_or_redirect_and_is_used_up_by_any_attempt() {
    let server = Server::start(config()).unwrap();
    let key = TestKey::es256();
    let code1 = code(&server, &query(&key, ""));
    let other_verifier = "x".repeat(43);
    code_grant(&server, &key, &code1, &other_verifier, REDIRECT).assert_error(
        400,
        "invalid_grant",
        "code_verifier does not match the code_challenge (PKCE)",
    );
    code_grant(&server, &key, &code1, VERIFIER, REDIRECT).assert_error(
        400,
        "invalid_grant",
        "code is unknown or already used",
    );
    let code2 = code(&server, &query(&key, ""));
    code_grant(&server, &TestKey::es256(), &code2, VERIFIER, REDIRECT).assert_error(
        400,
        "invalid_grant",
        "the DPoP proof's key is not the one the code is bound to (dpop_jkt)",
    );
    let code3 = code(&server, &query(&key, ""));
    code_grant(&server, &key, &code3, VERIFIER, "http://127.0.0.1:50124/callback").assert_error(
        400,
        "invalid_grant",
        "redirect_uri is not the one of the authorization request",
    );
    let code4 = code(&server, &query(&key, ""));
    code_grant(&server, &key, &code4, "short", REDIRECT).assert_error(
        400,
        "invalid_grant",
        "code_verifier is not 43 to 128 unreserved characters (RFC 7636 §4.1)",
    );
    assert_eq!(server.stats().authorization_code_grants, 0);
}

#[test]
fn requests_without_s256_pkce_or_with_a_bad_client_or_redirect_are_refused() {
    let server = Server::start(config()).unwrap();
    let key = TestKey::es256();
    let plain = query(&key, "").replace("code_challenge_method=S256", "code_challenge_method=plain");
    let params = redirect_params(&authorize(&server, &plain));
    assert_eq!(param(&params, "error"), Some("invalid_request"));
    assert_eq!(
        param(&params, "error_description"),
        Some("code_challenge_method is not S256")
    );
    assert_eq!(param(&params, "state"), Some("st-1"));
    let no_pkce = format!(
        "response_type=code&client_id={PUBLIC}&redirect_uri={}&state=s",
        encode(REDIRECT)
    );
    let params = redirect_params(&authorize(&server, &no_pkce));
    assert_eq!(
        param(&params, "error_description"),
        Some("code_challenge is required (PKCE)")
    );
    // Never redirected: an unknown client, an unregistered redirect URI.
    let unknown = query(&key, "").replace(PUBLIC, "nobody");
    assert_eq!(authorize(&server, &unknown).status, 400);
    let elsewhere = query(&key, "").replace(&encode(REDIRECT), &encode("http://127.0.0.1:50123/other"));
    let reply = authorize(&server, &elsewhere);
    assert_eq!(reply.status, 400);
    assert!(reply.header("location").is_none());
}

#[test]
fn a_denied_request_and_the_iss_modes() {
    let denied = Server::start(Config {
        deny_authorization: true,
        authorization_iss: AuthorizationIss::Wrong,
        ..config()
    })
    .unwrap();
    let key = TestKey::es256();
    let params = redirect_params(&authorize(&denied, &query(&key, "")));
    assert_eq!(param(&params, "error"), Some("access_denied"));
    assert_eq!(param(&params, "state"), Some("st-1"));
    assert_eq!(param(&params, "iss"), Some("https://other-issuer.example"));
    let omitted = Server::start(Config {
        authorization_iss: AuthorizationIss::Omitted,
        advertise_iss_parameter: false,
        ..config()
    })
    .unwrap();
    let params = redirect_params(&authorize(&omitted, &query(&key, "")));
    assert!(param(&params, "iss").is_none() && param(&params, "code").is_some());
    let metadata = send(
        &omitted,
        "GET",
        "/.well-known/oauth-authorization-server",
        &[],
        "",
    )
    .json();
    assert_eq!(metadata["authorization_response_iss_parameter_supported"], false);
    assert_eq!(
        metadata["authorization_endpoint"],
        format!("{}/authorize", omitted.base_url())
    );
    assert_eq!(metadata["code_challenge_methods_supported"][0], "S256");
}

#[test]
fn par_binds_the_code_to_the_proofs_key_and_can_be_required() {
    let server = Server::start(Config {
        require_par: true,
        ..config()
    })
    .unwrap();
    let key = TestKey::es256();
    let direct = redirect_params(&authorize(&server, &query(&key, "")));
    assert_eq!(
        param(&direct, "error_description"),
        Some("pushed authorization requests are required (RFC 9126)")
    );
    // Without dpop_jkt: the PAR request's proof binds the code (RFC 9449 §10.1).
    let form = query(&key, "").replace(&format!("&dpop_jkt={}", key.thumbprint()), "");
    let par_url = format!("{}/par", server.base_url());
    let proof = jws(&key.header(), &claims("POST", &par_url), &key);
    let pushed = send(
        &server,
        "POST",
        "/par",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("DPoP", &proof),
        ],
        &form,
    );
    assert_eq!(pushed.status, 201, "{pushed:?}");
    let request_uri = pushed.json()["request_uri"].as_str().unwrap().to_owned();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));
    let by_reference = format!("client_id={PUBLIC}&request_uri={}", encode(&request_uri));
    let code = code(&server, &by_reference);
    assert_eq!(
        authorize(&server, &by_reference).status,
        400,
        "a request_uri is used once"
    );
    code_grant(&server, &TestKey::es256(), &code, VERIFIER, REDIRECT).assert_error(
        400,
        "invalid_grant",
        "the DPoP proof's key is not the one the code is bound to (dpop_jkt)",
    );
    // A dpop_jkt that is not the proof's key is refused at once.
    let other = TestKey::es256();
    let proof = jws(&key.header(), &claims("POST", &par_url), &key);
    let mismatch = send(
        &server,
        "POST",
        "/par",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("DPoP", &proof),
        ],
        &query(&other, ""),
    );
    mismatch.assert_error(
        400,
        "invalid_dpop_proof",
        "dpop_jkt does not match the key of the DPoP proof",
    );
    assert_eq!(server.stats().par_requests, 2);
}

#[test]
fn an_openid_code_grant_carries_an_id_token_with_the_nonce_unless_broken() {
    let server = Server::start(config()).unwrap();
    let key = TestKey::es256();
    let code1 = code(&server, &query(&key, "&scope=openid%20api&nonce=n-77"));
    let body = code_grant(&server, &key, &code1, VERIFIER, REDIRECT).json();
    let claims = jwt_claims(body["id_token"].as_str().expect("an id_token"));
    assert_eq!(claims["nonce"], "n-77");
    assert_eq!(claims["aud"], PUBLIC);
    assert_eq!(claims["iss"], server.issuer());
    let broken = Server::start(Config {
        id_token_fault: Some(IdTokenFault::WrongNonce),
        ..config()
    })
    .unwrap();
    let code2 = code(&broken, &query(&key, "&scope=openid&nonce=n-77"));
    let body = code_grant(&broken, &key, &code2, VERIFIER, REDIRECT).json();
    assert_ne!(jwt_claims(body["id_token"].as_str().unwrap())["nonce"], "n-77");
}
