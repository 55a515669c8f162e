//! RSA proofs, a skewed clock with its `Date` header, per-endpoint algorithm lists, a public
//! base URL (a gateway), terse errors and the key-mismatch answer.

mod common;

use common::*;
use dpop_testserver::{Config, Server};
use serde_json::json;

fn start(config: Config) -> Server {
    Server::start(config).unwrap()
}

/// Seconds since the epoch of an IMF-fixdate, by comparing it with the server's own format.
fn date_secs(date: &str) -> u64 {
    let months = "JanFebMarAprMayJunJulAugSepOctNovDec";
    let parts: Vec<&str> = date.split([' ', ':']).collect();
    let [_, day, month, year, h, m, s, "GMT"] = parts[..] else {
        panic!("not an IMF-fixdate: {date}")
    };
    let (day, year): (u64, i64) = (day.parse().unwrap(), year.parse().unwrap());
    let month = (months.find(month).unwrap() / 3 + 1) as i64;
    // Days from civil (H. Hinnant).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe - 719_468) as u64;
    days * 86_400
        + h.parse::<u64>().unwrap() * 3600
        + m.parse::<u64>().unwrap() * 60
        + s.parse::<u64>().unwrap()
}

#[test]
fn rsa_proofs_get_tokens_bound_to_the_rfc_7638_thumbprint_and_reach_the_api() {
    let server = start(Config::default());
    for alg in ["PS256", "RS256"] {
        let key = TestKey::rsa(alg);
        assert_eq!(key.jwk()["kty"], "RSA");
        let token = get_token(&server, &key);
        assert_eq!(jwt_claims(&token)["cnf"]["jkt"], key.thumbprint(), "{alg}");
        let reply = api_get(&server, &token, &api_proof(&server, &key, &token));
        assert_eq!(reply.status, 200, "{alg}: {reply:?}");
        assert_eq!(reply.json()["proof"]["htm"], "GET");
    }
}

#[test]
fn rsa_proof_with_the_other_padding_or_a_short_modulus_is_refused() {
    let server = start(Config::default());
    let key = TestKey::rsa("PS256");
    let mut header = key.header();
    header["alg"] = json!("RS256");
    let proof = jws(&header, &claims("POST", &server.token_url()), &key);
    post_token(&server, &proof, &client_credentials_form(), &[]).assert_error(
        400,
        "invalid_dpop_proof",
        "signature is invalid",
    );
    let mut header = key.header();
    header["jwk"]["n"] = json!(b64(&[0xc1; 128]));
    let proof = jws(&header, &claims("POST", &server.token_url()), &key);
    post_token(&server, &proof, &client_credentials_form(), &[]).assert_error(
        400,
        "invalid_dpop_proof",
        "jwk is not a valid public key",
    );
}

#[test]
fn every_answer_has_a_date_header_of_the_real_time_by_default() {
    let server = start(Config::default());
    for path in ["/plain", "/nowhere", "/dpop/test"] {
        let reply = send(&server, "GET", path, &[], "");
        let date = date_secs(reply.header("date").expect("a Date header"));
        assert!(date.abs_diff(now()) <= 2, "{path}: {date} vs {}", now());
    }
    // A malformed request's answer carries one too.
    let mut stream = connect(&server);
    std::io::Write::write_all(&mut stream, b"GET / HTTP/9\r\n\r\n").unwrap();
    let reply = read_reply(&mut stream);
    assert_eq!(reply.status, 400);
    assert!(reply.header("date").is_some());
}

#[test]
fn a_skewed_clock_shows_in_date_in_the_iat_check_and_in_token_times() {
    let server = start(Config {
        clock_offset_secs: 300,
        ..Config::default()
    });
    let key = TestKey::es256();
    let reply = token_request(&server, &key, &client_credentials_form(), &[]);
    reply.assert_error(400, "invalid_dpop_proof", "iat is too old");
    let date = date_secs(reply.header("date").unwrap());
    assert!(date.abs_diff(now() + 300) <= 2, "{date}");

    // A proof made with the server's time (as a client that read Date does) is accepted.
    let mut payload = claims("POST", &server.token_url());
    payload["iat"] = json!(date);
    let proof = jws(&key.header(), &payload, &key);
    let reply = post_token(&server, &proof, &client_credentials_form(), &[]);
    assert_eq!(reply.status, 200, "{reply:?}");
    let token = reply.json()["access_token"].as_str().unwrap().to_owned();
    let iat = jwt_claims(&token)["iat"].as_u64().unwrap();
    assert!(iat.abs_diff(now() + 300) <= 2, "{iat}");

    let behind = start(Config {
        clock_offset_secs: -300,
        ..Config::default()
    });
    token_request(&behind, &key, &client_credentials_form(), &[]).assert_error(
        400,
        "invalid_dpop_proof",
        "iat is in the future",
    );
}

#[test]
fn the_api_refuses_algs_outside_its_list_and_names_them_in_algs() {
    let server = start(Config {
        api_algs: vec!["ES256".into(), "PS256".into()],
        ..Config::default()
    });
    let key = TestKey::es384();
    let token = get_token(&server, &key);
    let reply = api_get(&server, &token, &api_proof(&server, &key, &token));
    reply.assert_error(401, "invalid_dpop_proof", "alg is not one of ES256 PS256");
    assert_eq!(
        reply.header("www-authenticate"),
        Some(
            r#"DPoP error="invalid_dpop_proof", error_description="alg is not one of ES256 PS256", algs="ES256 PS256""#
        )
    );
    let key = TestKey::rsa("PS256");
    let token = get_token(&server, &key);
    assert_eq!(
        api_get(&server, &token, &api_proof(&server, &key, &token)).status,
        200
    );
}

#[test]
fn the_token_endpoint_refuses_algs_outside_dpop_signing_alg_values_supported() {
    let server = start(Config {
        dpop_signing_alg_values_supported: vec!["ES256".into()],
        ..Config::default()
    });
    token_request(&server, &TestKey::ed25519(), &client_credentials_form(), &[]).assert_error(
        400,
        "invalid_dpop_proof",
        "alg is not one of ES256",
    );
    get_token(&server, &TestKey::es256());
}

#[test]
fn terse_errors_leave_out_the_description() {
    let server = start(Config {
        terse_errors: true,
        ..Config::default()
    });
    let key = TestKey::es256();
    let reply = send(
        &server,
        "POST",
        "/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "",
    );
    assert_eq!(
        (reply.status, reply.json()),
        (400, json!({"error": "invalid_dpop_proof"}))
    );
    let token = get_token(&server, &key);
    let mut payload = api_claims(&server, &token);
    payload["ath"] = json!("wrong");
    let reply = api_get(&server, &token, &jws(&key.header(), &payload, &key));
    assert_eq!(
        (reply.status, reply.json()),
        (401, json!({"error": "invalid_dpop_proof"}))
    );
    assert_eq!(
        reply.header("www-authenticate"),
        Some(format!(r#"DPoP error="invalid_dpop_proof", algs="{ALL_ALGS}""#).as_str())
    );
}

#[test]
fn behind_a_gateway_the_htu_must_be_the_public_url() {
    let server = start(Config {
        public_base_url: Some("https://Gateway.example/".into()),
        ..Config::default()
    });
    let key = TestKey::es256();
    token_request(&server, &key, &client_credentials_form(), &[]).assert_error(
        400,
        "invalid_dpop_proof",
        "htu does not match the request URL",
    );
    let proof = jws(
        &key.header(),
        &claims("POST", "https://gateway.example/token"),
        &key,
    );
    let reply = post_token(&server, &proof, &client_credentials_form(), &[]);
    assert_eq!(reply.status, 200, "{reply:?}");
    let token = reply.json()["access_token"].as_str().unwrap().to_owned();
    let mut payload = api_claims(&server, &token);
    api_get(&server, &token, &jws(&key.header(), &payload, &key))
        .assert_challenge("invalid_dpop_proof", "htu does not match the request URL");
    payload["htu"] = json!("https://gateway.example/dpop/test");
    payload["jti"] = json!(random_id());
    assert_eq!(
        api_get(&server, &token, &jws(&key.header(), &payload, &key)).status,
        200
    );
}

#[test]
fn a_token_bound_to_another_key_is_refused_naming_the_cnf_jkt() {
    let server = start(Config::default());
    let token = get_token(&server, &TestKey::es256());
    let other = TestKey::rsa("RS256");
    api_get(&server, &token, &api_proof(&server, &other, &token)).assert_challenge(
        "invalid_token",
        "the proof key does not match the token's cnf.jkt",
    );
}
